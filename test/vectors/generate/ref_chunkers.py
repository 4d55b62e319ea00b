"""Reference chunkers in plain Python integers, written from the format specifications
(formats/restic.md §10, formats/ghostsnap.md §6). They are independent of the TypeScript and
Rust cores and are checked against the chunk lists the real restic and ghostsnap wrote
(fixtures/*/chunker-vectors.json) before any vector is produced with them.
"""
import hashlib
import math

# ---- restic Rabin -----------------------------------------------------------------------------

RABIN_WINDOW = 64
RABIN_MIN = 512 * 1024
RABIN_MAX = 8 * 1024 * 1024
RABIN_MASK = 0xFFFFF


def _deg(x: int) -> int:
    return x.bit_length() - 1


def _pmod(a: int, p: int) -> int:
    dp = _deg(p)
    while a and _deg(a) >= dp:
        a ^= p << (_deg(a) - dp)
    return a


def rabin_chunks(data: bytes, pol_hex: str) -> list:
    p = int(pol_hex, 16)
    k = _deg(p)
    shift = k - 8
    out_t = []
    mod_t = []
    for b in range(256):
        h = _pmod(b, p)
        for _ in range(RABIN_WINDOW - 1):
            h = _pmod(h << 8, p)
        out_t.append(h)
        mod_t.append(_pmod(b << k, p) ^ (b << k))
    lengths = []
    start = 0
    n = len(data)
    while start < n:
        window = bytearray(RABIN_WINDOW)
        window[0] = 1
        wpos = 1
        digest = 1
        count = min(RABIN_MIN - RABIN_WINDOW, n - start)
        i = start + count
        cut = None
        while i < n:
            b = data[i]
            out = window[wpos]
            window[wpos] = b
            wpos = (wpos + 1) % RABIN_WINDOW
            digest ^= out_t[out]
            idx = digest >> shift
            digest = ((digest << 8) | b) ^ mod_t[idx]
            count += 1
            i += 1
            if count >= RABIN_MIN and ((digest & RABIN_MASK) == 0 or count >= RABIN_MAX):
                cut = count
                break
        if cut is None:
            cut = n - start
        lengths.append(cut)
        start += cut
    return lengths


# ---- ghostsnap FastCDC 2020 (fastcdc crate v2020, normalisation level 1) ---------------------

U64 = (1 << 64) - 1
MASKS = [
    0, 0, 0, 0, 0,
    0x0000000001804110, 0x0000000001803110, 0x0000000018035100, 0x0000001800035300,
    0x0000019000353000, 0x0000590003530000, 0x0000d90003530000, 0x0000d90103530000,
    0x0000d90303530000, 0x0000d90313530000, 0x0000d90f03530000, 0x0000d90303537000,
    0x0000d90703537000, 0x0000d90707537000, 0x0000d91707537000, 0x0000d91747537000,
    0x0000d91767537000, 0x0000d93767537000, 0x0000d93777537000, 0x0000d93777577000,
    0x0000db3777577000,
]
GEAR = [int.from_bytes(hashlib.md5(bytes([i]) * 64).digest()[:8], "big") for i in range(256)]
GEAR_LS = [(g << 1) & U64 for g in GEAR]


def _cut(src: bytes, pos: int, n: int, mn: int, avg: int, mx: int, ms: int, ml: int) -> int:
    if n <= mn:
        return n
    remaining = mx if n > mx else n
    center = n if n < avg else avg
    ms_ls = (ms << 1) & U64
    ml_ls = (ml << 1) & U64
    index = mn // 2
    h = 0
    while index < center // 2:
        a = index * 2
        h = ((h << 2) + GEAR_LS[src[pos + a]]) & U64
        if h & ms_ls == 0:
            return a
        h = (h + GEAR[src[pos + a + 1]]) & U64
        if h & ms == 0:
            return a + 1
        index += 1
    while index < remaining // 2:
        a = index * 2
        h = ((h << 2) + GEAR_LS[src[pos + a]]) & U64
        if h & ml_ls == 0:
            return a
        h = (h + GEAR[src[pos + a + 1]]) & U64
        if h & ml == 0:
            return a + 1
        index += 1
    return remaining


def fastcdc_chunks(data: bytes, mn: int, avg: int, mx: int) -> list:
    bits = round(math.log2(avg))
    ms = MASKS[bits + 1]
    ml = MASKS[bits - 1]
    lengths = []
    pos = 0
    while pos < len(data):
        c = _cut(data, pos, len(data) - pos, mn, avg, mx, ms, ml)
        lengths.append(c)
        pos += c
    return lengths
