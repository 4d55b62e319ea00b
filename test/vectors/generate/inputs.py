"""Deterministic test inputs, described by JSON specs so vectors never store big inputs.

The TypeScript twin is test/core/inputs.ts; every vector records the SHA-256 of its input so the
two generators are checked against each other.
"""
import hashlib
import struct

TEXT_TABLE = bytes(b"abcd \n"[i % 6] for i in range(256))


def sha256ctr(seed: str, n: int) -> bytes:
    s = seed.encode()
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(s + struct.pack("<Q", i)).digest()
        i += 1
    return bytes(out[:n])


def xorshift32_nibbles(n: int) -> bytes:
    x = 0x12345678
    out = bytearray(n)
    for i in range(n):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[i] = x & 0x0F
    return bytes(out)


def generate(spec: dict) -> bytes:
    kind = spec["kind"]
    if kind == "sha256ctr":
        return sha256ctr(spec["seed"], spec["length"])
    if kind == "text":
        return sha256ctr(spec["seed"], spec["length"]).translate(TEXT_TABLE)
    if kind == "zeros":
        return bytes(spec["length"])
    if kind == "fill":
        return bytes([spec["byte"]]) * spec["length"]
    if kind == "pattern251":
        return bytes(i % 251 for i in range(spec["length"]))
    if kind == "xorshift32_nibbles":
        return xorshift32_nibbles(spec["length"])
    if kind == "utf8":
        return spec["text"].encode()
    if kind == "hex":
        return bytes.fromhex(spec["hex"])
    if kind == "concat":
        return b"".join(generate(p) for p in spec["parts"])
    raise ValueError(f"unknown input kind {kind}")


def described(spec: dict) -> dict:
    """The spec plus the length and SHA-256 of what it generates."""
    data = generate(spec)
    return {"spec": spec, "length": len(data), "sha256": hashlib.sha256(data).hexdigest()}
