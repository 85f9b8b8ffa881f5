// Per-thread scratch buffers for the conv2d drivers: 64-byte aligned, grown on demand, kept for
// the thread's lifetime (pool workers are persistent, so steady-state calls allocate nothing).
// Slot keeps independent buffers of one thread apart.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tf::cpu {

template <int Slot, typename T>
T* conv_scratch(size_t count) {
    thread_local std::vector<T> buffer;
    const size_t pad = 64 / sizeof(T);
    if (buffer.size() < count + pad) buffer.resize(count + pad);
    const uintptr_t p = reinterpret_cast<uintptr_t>(buffer.data());
    return reinterpret_cast<T*>((p + 63) / 64 * 64);
}

}  // namespace tf::cpu
