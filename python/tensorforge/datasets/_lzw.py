"""A decoder for Unix `compress` (.Z, LZW) streams, which the Debian bible-kjv-text package stores its text in."""

CLEAR = 256


def _round_up_to_group(posbits, start, n_bits):
    """compress writes codes in groups of 8 counted from `start`, where the current code width began; when the
    width changes (or the table is cleared) the rest of the group is padding."""
    group = n_bits << 3
    return start + -(-(posbits - start) // group) * group


def decompress(data):
    """The bytes that `compress` turned into `data` (which starts with the 3-byte header 1f 9d flags)."""
    if len(data) < 3 or data[0] != 0x1F or data[1] != 0x9D:
        raise ValueError("not a .Z (LZW compress) stream: bad magic bytes")
    maxbits, block_mode = data[2] & 0x1F, bool(data[2] & 0x80)
    if not 10 <= maxbits <= 16 or not block_mode:  # ncompress itself cannot read back 9-bit or -C streams
        raise ValueError(f"unsupported .Z stream: {maxbits}-bit codes{'' if block_mode else ' without block mode'}")
    maxmaxcode = 1 << maxbits
    buf = bytes(data) + b"\0\0\0"
    table = [bytes([i]) for i in range(256)] + [b""]  # code 256 is CLEAR
    n_bits, maxcode = 9, (1 << 9) - 1
    posbits = start = 24
    oldcode, finchar = -1, b""
    out = []
    while True:
        if len(table) > maxcode and n_bits < maxbits:
            posbits = start = _round_up_to_group(posbits, start, n_bits)
            n_bits += 1
            maxcode = maxmaxcode if n_bits == maxbits else (1 << n_bits) - 1
        if posbits + n_bits > len(data) * 8:
            break
        i = posbits >> 3
        code = (int.from_bytes(buf[i:i + 3], "little") >> (posbits & 7)) & ((1 << n_bits) - 1)
        posbits += n_bits
        if oldcode == -1:
            if code > 255:
                raise ValueError(f"corrupt .Z stream: first code {code} is not a literal")
            finchar = table[code]
            out.append(finchar)
            oldcode = code
            continue
        if code == CLEAR:  # start over: the next code is a literal again
            del table[257:]
            oldcode = -1
            posbits = start = _round_up_to_group(posbits, start, n_bits)
            n_bits, maxcode = 9, (1 << 9) - 1
            continue
        if code < len(table):
            entry = table[code]
        elif code == len(table):  # the string being defined right now (the KwKwK case)
            entry = table[oldcode] + finchar
        else:
            raise ValueError(f"corrupt .Z stream: code {code} is not yet defined")
        out.append(entry)
        finchar = entry[:1]
        if len(table) < maxmaxcode:
            table.append(table[oldcode] + finchar)
        oldcode = code
    return b"".join(out)
