#!/usr/bin/env bash
# Compiles every portable CPU kernel source with an aarch64 cross compiler (the x86-only
# *_avx2.cpp / *_avx512.cpp units are excluded, as CMake does on aarch64), so a change that
# breaks the aarch64 build fails here. Installs Debian's cross compiler when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
cxx=aarch64-linux-gnu-g++
if ! command -v "$cxx" >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++-aarch64-linux-gnu >/dev/null
  else
    echo "aarch64 build check skipped: $cxx not installed and cannot install it here"
    exit 0
  fi
fi
out=$(mktemp -d)
count=0
for src in $(find csrc/cpu -name '*.cpp' | grep -v -E '_(avx2|avx512)\.cpp$' | sort); do
  "$cxx" -std=c++17 -O2 -Wall -Wextra -Werror -Icsrc/include -Icsrc/cpu -c "$src" -o "$out/$(basename "$src").o"
  count=$((count + 1))
done
echo "aarch64 build check: $count portable CPU sources compile with $cxx"
