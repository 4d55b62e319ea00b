#!/usr/bin/env python3
"""Writes the compute-core test vectors (test/vectors/*.json).

Every expected value comes either from the fixtures written by the real restic / ghostsnap
(test/fixtures, a copy of shared/fixtures) or from an implementation that is
independent of both cores: hashlib, the `blake3` package (the BLAKE3 team's Rust code),
`cryptography` (OpenSSL), `argon2-cffi` (the reference C code), `zstandard` (libzstd), zlib,
and the reference chunkers in ref_chunkers.py, which are first checked against the fixtures.

    python3 -m venv /tmp/vgen && /tmp/vgen/bin/pip install blake3 argon2-cffi zstandard cryptography
    PYTHONDONTWRITEBYTECODE=1 /tmp/vgen/bin/python test/vectors/generate/make_vectors.py
"""
import hashlib
import json
import struct
import sys
import zlib
from pathlib import Path

import argon2.low_level as a2
import blake3
import zstandard
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.poly1305 import Poly1305

from inputs import described, generate
from ref_chunkers import RABIN_MIN, fastcdc_chunks, rabin_chunks

HERE = Path(__file__).resolve().parent
OUT = HERE.parent
FIX = HERE.parents[1] / "fixtures"


def load(rel: str) -> dict:
    return json.loads((FIX / rel).read_text())


def write(name: str, doc: dict) -> None:
    (OUT / name).write_text(json.dumps(doc, indent=1) + "\n")
    print("wrote", name, file=sys.stderr)


def b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pat(n: int, mul: int = 1, add: int = 0) -> bytes:
    return bytes((i * mul + add) & 0xFF for i in range(n))


# ---- hashes ----------------------------------------------------------------------------------

def hashes() -> None:
    specs = [{"kind": "utf8", "text": ""}, {"kind": "utf8", "text": "abc"}, {"kind": "utf8", "text": "has xattr\n"}]
    specs += [{"kind": "pattern251", "length": n} for n in (1, 63, 64, 65, 1023, 1024, 1025, 2048, 2049, 3072, 8193, 65536, 100003)]
    specs += [{"kind": "sha256ctr", "seed": "hash-vector", "length": 1 << 20}, {"kind": "zeros", "length": 524288}]
    vectors = []
    for s in specs:
        data = generate(s)
        v = {"input": described(s), "sha256": sha(data), "blake3": b3(data)}
        if len(data) >= 3:
            # Split points for the array form of hash(): the parts are hashed as their concatenation.
            v["split_at"] = [1, len(data) // 2]
        vectors.append(v)
    fx = load("ghostsnap/crypto-vectors.json")["blake3"]
    for f in fx:
        assert b3(f["input_utf8"].encode()) == f["output_hex"]
    write("hashes.json", {
        "_source": "sha256: hashlib; blake3: the blake3 package; the blake3 of '' and 'has xattr\\n' are also in fixtures/ghostsnap/crypto-vectors.json",
        "vectors": vectors,
    })


# ---- restic seal -----------------------------------------------------------------------------

def clamp_r(r: bytes) -> bytes:
    b = bytearray(r)
    for i in (3, 7, 11, 15):
        b[i] &= 0x0F
    for i in (4, 8, 12):
        b[i] &= 0xFC
    return bytes(b)


def restic_seal(key: bytes, iv: bytes, pt: bytes) -> bytes:
    enc, mk, mr = key[:32], key[32:48], key[48:]
    ct = Cipher(algorithms.AES(enc), modes.CTR(iv)).encryptor().update(pt)
    s = Cipher(algorithms.AES(mk), modes.ECB()).encryptor().update(iv)
    tag = Poly1305.generate_tag(clamp_r(mr) + s, ct)
    return iv + ct + tag


def restic_seal_vectors() -> None:
    cv = load("restic/crypto-vectors.json")
    sv = cv["seal"]
    mkey = bytes.fromhex(sv["master_key"]["encrypt_hex"] + sv["master_key"]["mac_k_hex"] + sv["master_key"]["mac_r_hex"])
    vectors = [
        {"name": "fixture seal", "source": "fixtures/restic/crypto-vectors.json seal", "key_hex": mkey.hex(),
         "iv_hex": sv["iv_hex"], "plaintext_hex": sv["plaintext_hex"], "sealed_hex": sv["stored_hex"]},
        {"name": "fixture seal of the empty string", "source": "fixtures/restic/crypto-vectors.json seal",
         "key_hex": mkey.hex(), "iv_hex": sv["iv_hex"], "plaintext_hex": "", "sealed_hex": sv["empty_plaintext_stored_hex"]},
    ]
    for i, b in enumerate(cv["pack_v2"]["blobs"]):
        if b["type_byte"] != 0:
            continue
        stored = bytes.fromhex(b["stored_hex"])
        vectors.append({"name": f"fixture pack_v2 blob {i}", "source": "fixtures/restic/crypto-vectors.json pack_v2",
                        "key_hex": mkey.hex(), "iv_hex": stored[:16].hex(), "plaintext_hex": b["plaintext_hex"],
                        "sealed_hex": b["stored_hex"]})
    cfg = cv["config"]
    vectors.append({"name": "fixture config", "source": "fixtures/restic/crypto-vectors.json config", "key_hex": mkey.hex(),
                    "iv_hex": cfg["iv_hex"], "plaintext_hex": cfg["plaintext_utf8"].encode().hex(), "sealed_hex": cfg["stored_hex"]})
    for v in vectors:
        assert restic_seal(bytes.fromhex(v["key_hex"]), bytes.fromhex(v["iv_hex"]), bytes.fromhex(v["plaintext_hex"])).hex() == v["sealed_hex"], v["name"]
    key2 = pat(64, 7, 3)
    for n in (1, 15, 16, 17, 31, 32, 33, 64, 255, 1000, 4097):
        iv = pat(16, 13, n)
        pt = pat(n, 31, 5)
        vectors.append({"name": f"cryptography {n} bytes", "source": "python cryptography (AES-CTR, AES-ECB, Poly1305)",
                        "key_hex": key2.hex(), "iv_hex": iv.hex(), "plaintext_hex": pt.hex(),
                        "sealed_hex": restic_seal(key2, iv, pt).hex()})
    # Largest clamped r and an all-ones ciphertext: every Poly1305 limb and carry at its maximum.
    key_max = pat(48, 3, 9) + b"\xff" * 16
    for n in (64, 1007):
        iv = pat(16, 5, n)
        pt = Cipher(algorithms.AES(key_max[:32]), modes.CTR(iv)).encryptor().update(b"\xff" * n)
        sealed = restic_seal(key_max, iv, pt)
        assert sealed[16:-16] == b"\xff" * n
        vectors.append({"name": f"max r, all-ones ciphertext, {n} bytes", "source": "python cryptography",
                        "key_hex": key_max.hex(), "iv_hex": iv.hex(), "plaintext_hex": pt.hex(), "sealed_hex": sealed.hex()})
    # IV ff..ff: the 128-bit CTR counter wraps to 00..00 within the message.
    ivw = b"\xff" * 16
    ptw = pat(100, 3, 1)
    vectors.append({"name": "counter wraps at 2^128", "source": "python cryptography", "key_hex": key2.hex(),
                    "iv_hex": ivw.hex(), "plaintext_hex": ptw.hex(), "sealed_hex": restic_seal(key2, ivw, ptw).hex()})
    good = bytes.fromhex(sv["stored_hex"])
    flipped = bytearray(good)
    flipped[20] ^= 1
    tag_flipped = bytearray(good)
    tag_flipped[-1] ^= 0x80
    zero_iv = restic_seal(mkey, b"\x00" * 16, b"abc")
    failures = [
        {"name": "ciphertext bit flipped", "key_hex": mkey.hex(), "box_hex": bytes(flipped).hex(), "code": "EAUTH"},
        {"name": "tag bit flipped", "key_hex": mkey.hex(), "box_hex": bytes(tag_flipped).hex(), "code": "EAUTH"},
        {"name": "wrong key", "key_hex": key2.hex(), "box_hex": good.hex(), "code": "EAUTH"},
        {"name": "shorter than iv and tag", "key_hex": mkey.hex(), "box_hex": good[:31].hex(), "code": "EAUTH"},
        {"name": "all-zero IV (restic: nonce is invalid)", "key_hex": mkey.hex(), "box_hex": zero_iv.hex(), "code": "EAUTH"},
    ]
    write("restic-seal.json", {
        "_source": "fixtures/restic/crypto-vectors.json (accepted by restic 0.14) and python cryptography",
        "vectors": vectors, "open_failures": failures,
        "invalid": [{"name": "key of 63 bytes", "key_length": 63, "code": "EINVAL"},
                    {"name": "IV of 12 bytes", "key_length": 64, "iv_length": 12, "code": "EINVAL"}],
    })


# ---- ChaCha20 / ChaCha20-Poly1305 ----------------------------------------------------------------

def chacha_xor(key: bytes, nonce: bytes, counter: int, data: bytes) -> bytes:
    full_nonce = struct.pack("<I", counter) + nonce
    return Cipher(algorithms.ChaCha20(key, full_nonce), mode=None).encryptor().update(data)


def chacha_vectors() -> None:
    gv = load("ghostsnap/crypto-vectors.json")
    a = gv["aead"]
    kf = gv["key_file"]
    aead = [{"name": "fixture aead", "source": "fixtures/ghostsnap/crypto-vectors.json aead", "key_hex": a["key_hex"],
             "nonce_hex": a["nonce_hex"], "plaintext_hex": a["plaintext_utf8"].encode().hex(), "sealed_hex": a["sealed_hex"]}]
    ek = bytes.fromhex(kf["encrypted_key_hex"])
    aead.append({"name": "fixture key file unwrap", "source": "fixtures/ghostsnap/crypto-vectors.json key_file",
                 "key_hex": kf["kek_hex"], "nonce_hex": ek[:12].hex(), "plaintext_hex": kf["data_key_hex"], "sealed_hex": ek.hex()})
    for ex in gv["object_examples"]:
        sealed = bytes.fromhex(ex["sealed_hex"])
        pt = ex["plaintext_utf8"].encode() if "plaintext_utf8" in ex else bytes.fromhex(ex["plaintext_hex"])
        aead.append({"name": f"fixture object {ex['source']}", "source": "fixtures/ghostsnap/crypto-vectors.json object_examples",
                     "key_hex": kf["data_key_hex"], "nonce_hex": sealed[:12].hex(), "plaintext_hex": pt.hex(), "sealed_hex": sealed.hex()})
    key = pat(32, 11, 1)
    for n in (0, 1, 15, 16, 17, 63, 64, 65, 255, 1000, 4103):
        nonce = pat(12, 5, n)
        pt = pat(n, 17, 9)
        aead.append({"name": f"cryptography {n} bytes", "source": "python cryptography ChaCha20Poly1305",
                     "key_hex": key.hex(), "nonce_hex": nonce.hex(), "plaintext_hex": pt.hex(),
                     "sealed_hex": (nonce + ChaCha20Poly1305(key).encrypt(nonce, pt, None)).hex()})
    for v in aead:
        k = bytes.fromhex(v["key_hex"])
        s = bytes.fromhex(v["sealed_hex"])
        assert ChaCha20Poly1305(k).decrypt(s[:12], s[12:], None).hex() == v["plaintext_hex"], v["name"]
    xor = []
    for counter, n in ((0, 0), (0, 1), (0, 64), (1, 100), (7, 1000), (123456789, 129), (2**32 - 1, 64), (2**32 - 2, 128)):
        nonce = pat(12, 3, counter & 0xFF)
        data = pat(n, 29, 7)
        xor.append({"key_hex": key.hex(), "nonce_hex": nonce.hex(), "counter": counter, "data_hex": data.hex(),
                    "out_hex": chacha_xor(key, nonce, counter, data).hex()})
    s0 = bytes.fromhex(aead[0]["sealed_hex"])
    bad = bytearray(s0)
    bad[15] ^= 4
    failures = [
        {"name": "ciphertext bit flipped", "key_hex": aead[0]["key_hex"], "box_hex": bytes(bad).hex(), "code": "EAUTH"},
        {"name": "wrong key", "key_hex": key.hex(), "box_hex": s0.hex(), "code": "EAUTH"},
        {"name": "shorter than nonce and tag", "key_hex": aead[0]["key_hex"], "box_hex": s0[:27].hex(), "code": "EAUTH"},
    ]
    write("chacha.json", {
        "_source": "fixtures/ghostsnap/crypto-vectors.json (written or accepted by ghostsnap) and python cryptography (OpenSSL); sealed = nonce || ciphertext || tag",
        "aead": aead, "xor": xor, "open_failures": failures,
        "xor_invalid": [{"name": "counter + blocks past 2^32", "counter": 2**32 - 1, "length": 65, "code": "EINVAL"},
                        {"name": "counter not below 2^32", "counter": 2**32, "length": 1, "code": "EINVAL"},
                        {"name": "nonce of 8 bytes", "counter": 0, "length": 1, "nonce_length": 8, "code": "EINVAL"}],
    })


# ---- KDFs --------------------------------------------------------------------------------------

def kdf_vectors() -> None:
    cv = load("restic/crypto-vectors.json")["key_file_synthetic"]
    scr = [{"name": "fixture key_file_synthetic", "source": "fixtures/restic/crypto-vectors.json",
            "password_hex": cv["password_utf8"].encode().hex(), "salt_hex": cv["salt_hex"], "N": cv["N"], "r": cv["r"],
            "p": cv["p"], "length": 64, "output_hex": cv["scrypt_output_hex"]}]
    for pw, salt, n, r, p, ln in ((b"", b"", 16, 1, 1, 64), (b"password", b"NaCl", 1024, 8, 16, 64),
                                  (b"pw", pat(64), 256, 2, 3, 32), (b"x" * 100, b"s", 2, 1, 1, 17)):
        scr.append({"name": f"hashlib N={n} r={r} p={p}", "source": "python hashlib.scrypt", "password_hex": pw.hex(),
                    "salt_hex": salt.hex(), "N": n, "r": r, "p": p, "length": ln,
                    "output_hex": hashlib.scrypt(pw, salt=salt, n=n, r=r, p=p, dklen=ln, maxmem=2**30).hex()})
    assert scr[0]["output_hex"] == hashlib.scrypt(bytes.fromhex(scr[0]["password_hex"]), salt=bytes.fromhex(scr[0]["salt_hex"]),
                                                   n=16384, r=8, p=1, dklen=64, maxmem=2**30).hex()
    gk = load("ghostsnap/crypto-vectors.json")["kdf"]
    arg = []
    for k in gk:
        arg.append({"name": f"fixture {k['source'][:40]}", "source": "fixtures/ghostsnap/crypto-vectors.json kdf",
                    "password_hex": k["password"].encode().hex(), "salt_hex": k["salt_hex"], "iterations": k["iterations"],
                    "memoryKiB": k["memory_kib"], "parallelism": k["parallelism"], "length": k["output_len"], "output_hex": k["output_hex"]})
    for pw, salt, t, m, p, ln in ((b"password", b"somesalt", 1, 64, 1, 32), (b"pw", pat(16), 3, 256, 2, 16),
                                  (b"", pat(8, 3), 2, 32, 4, 64), (b"long output", pat(32), 1, 128, 1, 100)):
        arg.append({"name": f"argon2-cffi t={t} m={m} p={p} len={ln}", "source": "argon2-cffi (reference C implementation)",
                    "password_hex": pw.hex(), "salt_hex": salt.hex(), "iterations": t, "memoryKiB": m, "parallelism": p, "length": ln,
                    "output_hex": a2.hash_secret_raw(pw, salt, time_cost=t, memory_cost=m, parallelism=p, hash_len=ln, type=a2.Type.ID, version=19).hex()})
    for v in arg:
        assert a2.hash_secret_raw(bytes.fromhex(v["password_hex"]), bytes.fromhex(v["salt_hex"]), time_cost=v["iterations"],
                                  memory_cost=v["memoryKiB"], parallelism=v["parallelism"], hash_len=v["length"],
                                  type=a2.Type.ID, version=19).hex() == v["output_hex"], v["name"]
    write("kdf.json", {"_source": "fixtures (restic scrypt key file, ghostsnap argon2id key file), hashlib.scrypt, argon2-cffi",
                       "scrypt": scr, "argon2id": arg})


# ---- compression -----------------------------------------------------------------------------------

def compression_vectors() -> None:
    cv = load("restic/crypto-vectors.json")
    frames = []
    b = cv["pack_v2"]["blobs"][2]
    frames.append({"name": "restic pack_v2 blob frame", "source": "fixtures/restic/crypto-vectors.json",
                   "frame_hex": b["zstd_frame_hex"], "plaintext_hex": b["plaintext_hex"]})
    up = bytes.fromhex(cv["unpacked_v2"]["plaintext_hex(0x02 || zstd frame)"])
    frames.append({"name": "restic unpacked v2 file frame", "source": "fixtures/restic/crypto-vectors.json",
                   "frame_hex": up[1:].hex(), "plaintext_hex": cv["unpacked_v2"]["json_utf8"].encode().hex()})
    hello = b"hello restic, second version\n"
    # formats/restic.md §4.3: the frame restic 0.14 wrote for this blob: magic, descriptor 0x00
    # (no content size, not single-segment), window byte 0x00, one raw last block of 29 bytes.
    frames.append({"name": "restic frame without content size (restic.md §4.3)", "source": "formats/restic.md §4.3",
                   "frame_hex": "28b52ffd" + "00" + "00" + "e90000" + hello.hex(), "plaintext_hex": hello.hex()})
    text_spec = {"kind": "text", "seed": "zstd-vector", "length": 20000}
    rnd_spec = {"kind": "sha256ctr", "seed": "zstd-vector", "length": 3000}
    text = generate(text_spec)
    rnd = generate(rnd_spec)
    for name, spec, kw in (
        ("zstandard level 3 with content size", text_spec, {"level": 3}),
        ("zstandard level 19, checksum, no content size", text_spec, {"level": 19, "write_checksum": True, "write_content_size": False}),
        ("zstandard level 1, no content size, incompressible", rnd_spec, {"level": 1, "write_content_size": False}),
    ):
        frames.append({"name": name, "source": f"python zstandard {zstandard.__version__}",
                       "frame_hex": zstandard.ZstdCompressor(**kw).compress(generate(spec)).hex(), "plaintext": described(spec)})
    frames.append({"name": "zstandard empty input", "source": "python zstandard",
                   "frame_hex": zstandard.ZstdCompressor(level=3).compress(b"").hex(), "plaintext_hex": ""})
    two = zstandard.ZstdCompressor(level=3).compress(text[:700]) + zstandard.ZstdCompressor(level=3, write_content_size=False).compress(text[700:1500])
    frames.append({"name": "two concatenated frames", "source": "python zstandard", "frame_hex": two.hex(), "plaintext_hex": text[:1500].hex()})
    for f in frames:
        expect = bytes.fromhex(f["plaintext_hex"]) if "plaintext_hex" in f else generate(f["plaintext"]["spec"])
        out = b""
        data = bytes.fromhex(f["frame_hex"])
        while data:
            d = zstandard.ZstdDecompressor().decompressobj()
            out += d.decompress(data)
            data = d.unused_data
        assert out == expect, f["name"]
    streams = []
    for name, data, lvl in (("zlib level 6", text[:5000], 6), ("zlib level 0 (stored)", rnd[:700], 0),
                            ("zlib level 9", text[:4000], 9), ("zlib empty", b"", 6)):
        streams.append({"name": name, "source": "python zlib", "stream_hex": zlib.compress(data, lvl).hex(), "plaintext_hex": data.hex()})
    small = text[:3000]
    good_z = zstandard.ZstdCompressor(level=3).compress(small)
    good_l = zlib.compress(small, 6)
    failures = [
        {"name": "zstd truncated", "codec": "zstd", "data_hex": good_z[:-5].hex(), "expectedLength": len(small), "code": "ECORRUPT"},
        {"name": "zstd truncated, unknown length", "codec": "zstd", "data_hex": good_z[:-5].hex(), "expectedLength": -1, "code": "ECORRUPT"},
        {"name": "zstd expected length too short", "codec": "zstd", "data_hex": good_z.hex(), "expectedLength": len(small) - 1, "code": "ECORRUPT"},
        {"name": "zstd expected length too long", "codec": "zstd", "data_hex": good_z.hex(), "expectedLength": len(small) + 1, "code": "ECORRUPT"},
        {"name": "zstd over maxLength", "codec": "zstd", "data_hex": good_z.hex(), "expectedLength": -1, "maxLength": 1000, "code": "ECORRUPT"},
        {"name": "zstd garbage", "codec": "zstd", "data_hex": b"not a zstd frame at all".hex(), "expectedLength": -1, "code": "ECORRUPT"},
        {"name": "zstd empty input", "codec": "zstd", "data_hex": "", "expectedLength": 0, "code": "ECORRUPT"},
        {"name": "zlib truncated", "codec": "zlib", "data_hex": good_l[:-6].hex(), "expectedLength": 3000, "code": "ECORRUPT"},
        {"name": "zlib expected length too short", "codec": "zlib", "data_hex": good_l.hex(), "expectedLength": 2999, "code": "ECORRUPT"},
        {"name": "zlib expected length too long", "codec": "zlib", "data_hex": good_l.hex(), "expectedLength": 3001, "code": "ECORRUPT"},
        {"name": "zlib over maxLength", "codec": "zlib", "data_hex": good_l.hex(), "expectedLength": -1, "maxLength": 2000, "code": "ECORRUPT"},
        {"name": "zlib bad header", "codec": "zlib", "data_hex": b"\x78\x00garbage".hex(), "expectedLength": -1, "code": "ECORRUPT"},
        {"name": "raw deflate is not zlib", "codec": "zlib", "data_hex": good_l[2:-4].hex(), "expectedLength": 3000, "code": "ECORRUPT"},
    ]
    round_trips = [described(s) for s in (
        {"kind": "utf8", "text": ""}, {"kind": "utf8", "text": "a"}, {"kind": "text", "seed": "rt", "length": 100000},
        {"kind": "sha256ctr", "seed": "rt", "length": 70000}, {"kind": "zeros", "length": 1 << 20},
        {"kind": "concat", "parts": [{"kind": "sha256ctr", "seed": "rt2", "length": 4096}, {"kind": "sha256ctr", "seed": "rt2", "length": 4096}]},
    )]
    write("compression.json", {
        "_source": "zstd frames from the restic fixtures / restic.md and python zstandard (libzstd); zlib streams from python zlib. Compare decompressed bytes only.",
        "zstd_frames": frames, "zlib_streams": streams, "failures": failures, "round_trips": round_trips,
        "invalid": [{"name": "zstd level 23", "spec": {"kind": "zstd", "level": 23}}, {"name": "zstd level 0", "spec": {"kind": "zstd", "level": 0}},
                    {"name": "zstd level -1", "spec": {"kind": "zstd", "level": -1}}, {"name": "zlib level 10", "spec": {"kind": "zlib", "level": 10}},
                    {"name": "zlib level -2", "spec": {"kind": "zlib", "level": -2}}, {"name": "unknown kind", "spec": {"kind": "lz4", "level": 1}}],
    })


# ---- chunkers --------------------------------------------------------------------------------------

def fixture_restic_input(name: str, fx: dict) -> dict:
    specs = {
        "sha256ctr-12MiB": {"kind": "sha256ctr", "seed": "bolt-chunker-vector", "length": 12582912},
        "xorshift32-nibbles-9MiB": {"kind": "xorshift32_nibbles", "length": 9437184},
        "mixed-15MiB": {"kind": "concat", "parts": [
            {"kind": "sha256ctr", "seed": "bolt-mixed-head", "length": 3145728},
            {"kind": "fill", "byte": 0x5A, "length": 10485760},
            {"kind": "sha256ctr", "seed": "bolt-mixed-tail", "length": 2097929}]},
        "zeros-1100000": {"kind": "zeros", "length": 1100000},
        "fixture-big.bin": {"kind": "sha256ctr", "seed": "bolt-fixture-big", "length": 5242880},
    }
    d = described(specs[name])
    meta = next(i for i in fx["inputs"] if i["name"] == name)
    assert d["sha256"] == meta["sha256"] and d["length"] == meta["length"], name
    return d


def restic_chunker_vectors() -> None:
    fx = load("restic/chunker-vectors.json")
    inputs = {}
    vectors = []
    for r in fx["results"]:
        if r["input"] not in inputs:
            inputs[r["input"]] = fixture_restic_input(r["input"], fx)
        lengths = [c["length"] for c in r["chunks"]]
        if r["input"] in ("zeros-1100000", "fixture-big.bin"):
            assert rabin_chunks(generate(inputs[r["input"]]["spec"]), r["polynomial"]) == lengths, r
        vectors.append({"name": f"{r['input']} / {r['polynomial']}", "source": "restic 0.14 (fixtures/restic/chunker-vectors.json)",
                        "polynomial": r["polynomial"], "input": inputs[r["input"]], "lengths": lengths,
                        "ids": [c["id"] for c in r["chunks"]]})
    # formats/restic.md §10.6: 5 MiB of sha256ctr("restic-spec") under 25219e99d1bc4b.
    spec_input = {"kind": "sha256ctr", "seed": "restic-spec", "length": 5 * 1024 * 1024}
    assert generate({"kind": "sha256ctr", "seed": "restic-spec", "length": 64}).hex().startswith("7db7d77245ca4796")
    spec_lengths = [932603, 3694573, 615704]
    assert rabin_chunks(generate(spec_input), "25219e99d1bc4b") == spec_lengths
    vectors.append({"name": "restic.md §10.6 example", "source": "formats/restic.md §10.6", "polynomial": "25219e99d1bc4b",
                    "input": described(spec_input), "lengths": spec_lengths})
    edge = [
        ("shorter than MinSize", {"kind": "sha256ctr", "seed": "rabin-edge", "length": 100}),
        ("one byte", {"kind": "fill", "byte": 7, "length": 1}),
        ("exactly MinSize", {"kind": "sha256ctr", "seed": "rabin-edge", "length": RABIN_MIN}),
        ("MinSize + 1", {"kind": "sha256ctr", "seed": "rabin-edge", "length": RABIN_MIN + 1}),
        ("MinSize - 64 (the unhashed prefix)", {"kind": "sha256ctr", "seed": "rabin-edge", "length": RABIN_MIN - 64}),
        ("zeros 2 MiB + 1", {"kind": "zeros", "length": 2 * 1024 * 1024 + 1}),
        ("0xff run of 9 MiB", {"kind": "fill", "byte": 0xFF, "length": 9 * 1024 * 1024}),
        ("random 3 MiB", {"kind": "sha256ctr", "seed": "rabin-edge-3", "length": 3 * 1024 * 1024}),
        ("text 2 MiB", {"kind": "text", "seed": "rabin-edge-text", "length": 2 * 1024 * 1024}),
    ]
    for name, spec in edge:
        data = generate(spec)
        for pol in ("3da3358b4dc173", "2e971b4527edad"):
            lengths = rabin_chunks(data, pol)
            pos = 0
            ids = []
            for n in lengths:
                ids.append(sha(data[pos:pos + n]))
                pos += n
            vectors.append({"name": f"{name} / {pol}", "source": "ref_chunkers.py (checked against the restic fixtures)",
                            "polynomial": pol, "input": described(spec), "lengths": lengths, "ids": ids})
    write("restic-chunker.json", {
        "_source": "restic 0.14 chunk lists (fixtures/restic/chunker-vectors.json), formats/restic.md §10.6, and the reference chunker in generate/ref_chunkers.py for edge cases",
        "vectors": vectors,
        "invalid_polynomials": ["", "0x3da3358b4dc173", "3da3358b4dc17", "13da3358b4dc173", "xyz", "1"],
    })


def ghostsnap_chunker_vectors() -> None:
    fx = load("ghostsnap/chunker-vectors.json")
    vectors = []
    default = {"minSize": 1048576, "avgSize": 4194304, "maxSize": 16777216}
    for v in fx["vectors"]:
        spec = {"kind": {"random": "sha256ctr", "text": "text", "zeros": "zeros"}[v["generator"]], "length": v["length"]}
        if v["generator"] != "zeros":
            spec["seed"] = v["seed"]
        d = described(spec)
        assert d["sha256"] == v["sha256"], v["name"]
        vectors.append({"name": v["name"], "source": "ghostsnap (fixtures/ghostsnap/chunker-vectors.json)", "params": default,
                        "input": d, "lengths": v["chunk_lengths"], "ids": v["chunk_ids_blake3"]})
    v = fx["vectors"][1]
    assert fastcdc_chunks(generate(vectors[1]["input"]["spec"]), 1048576, 4194304, 16777216) == v["chunk_lengths"]
    small = {"minSize": 2048, "avgSize": 8192, "maxSize": 65536}
    edge = [
        (small, "shorter than min", {"kind": "sha256ctr", "seed": "cdc-edge", "length": 1000}),
        (small, "exactly min", {"kind": "sha256ctr", "seed": "cdc-edge", "length": 2048}),
        (small, "min + 1", {"kind": "sha256ctr", "seed": "cdc-edge", "length": 2049}),
        (small, "between min and avg", {"kind": "sha256ctr", "seed": "cdc-edge", "length": 5000}),
        (small, "zeros over max", {"kind": "zeros", "length": 200000}),
        (small, "random 1 MiB", {"kind": "sha256ctr", "seed": "cdc-edge-rnd", "length": 1 << 20}),
        (small, "text 300 KiB", {"kind": "text", "seed": "cdc-edge-text", "length": 300 * 1024}),
        (small, "exactly max of zeros", {"kind": "zeros", "length": 65536}),
        (small, "max + 1 of zeros", {"kind": "zeros", "length": 65537}),
        ({"minSize": 64, "avgSize": 256, "maxSize": 1024}, "smallest sizes, random", {"kind": "sha256ctr", "seed": "cdc-tiny", "length": 50000}),
        ({"minSize": 1001, "avgSize": 4096, "maxSize": 16384}, "odd min", {"kind": "sha256ctr", "seed": "cdc-odd", "length": 200000}),
        ({"minSize": 8192, "avgSize": 65536, "maxSize": 262144}, "avg 64 KiB, text", {"kind": "text", "seed": "cdc-64k", "length": 1 << 20}),
        ({"minSize": 4000, "avgSize": 10000, "maxSize": 30001}, "sizes not powers of two", {"kind": "sha256ctr", "seed": "cdc-npot", "length": 300000}),
        ({"minSize": 16384, "avgSize": 16384, "maxSize": 16384}, "min = avg = max", {"kind": "sha256ctr", "seed": "cdc-eq", "length": 100000}),
    ]
    for params, name, spec in edge:
        data = generate(spec)
        lengths = fastcdc_chunks(data, params["minSize"], params["avgSize"], params["maxSize"])
        ids = []
        pos = 0
        for n in lengths:
            ids.append(b3(data[pos:pos + n]))
            pos += n
        vectors.append({"name": name, "source": "ref_chunkers.py (checked against the ghostsnap fixtures)", "params": params,
                        "input": described(spec), "lengths": lengths, "ids": ids})
    write("ghostsnap-chunker.json", {
        "_source": "ghostsnap chunk lists (fixtures/ghostsnap/chunker-vectors.json) and the reference FastCDC in generate/ref_chunkers.py for other sizes",
        "vectors": vectors,
        "invalid_params": [
            {"minSize": 63, "avgSize": 256, "maxSize": 1024}, {"minSize": 64, "avgSize": 255, "maxSize": 1024},
            {"minSize": 64, "avgSize": 256, "maxSize": 1023}, {"minSize": 1048577, "avgSize": 4194304, "maxSize": 16777216},
            {"minSize": 1048576, "avgSize": 4194305, "maxSize": 16777216}, {"minSize": 1048576, "avgSize": 4194304, "maxSize": 16777217},
            {"minSize": 4096, "avgSize": 2048, "maxSize": 65536}, {"minSize": 2048, "avgSize": 65536, "maxSize": 8192},
            {"minSize": 2048.5, "avgSize": 8192, "maxSize": 65536},
        ],
    })


# ---- BlobSet ---------------------------------------------------------------------------------------

def blobset_vectors() -> None:
    def hid(i: int) -> str:
        return hashlib.sha256(f"blob-{i}".encode()).hexdigest()

    zero = "00" * 32
    same_prefix = ["abcdef01" + f"{i:056x}" for i in range(1, 40)]
    scenarios = []
    ops = []
    model = set()

    def resolve(arg):
        if isinstance(arg, dict):
            return [hid(i) for i in range(arg["from"], arg["from"] + arg["count"] * arg.get("step", 1), arg.get("step", 1))]
        return arg

    def op(name, arg):
        ids = resolve(arg)
        if name == "add":
            r = ids not in model
            model.add(ids)
        elif name == "has":
            r = ids in model
        elif name == "delete":
            r = ids in model
            model.discard(ids)
        elif name == "addMany":
            r = len([x for x in dict.fromkeys(ids) if x not in model])
            model.update(ids)
        elif name == "deleteEach":
            r = len([x for x in ids if x in model])
            model.difference_update(ids)
        elif name == "hasEach":
            r = len([x for x in ids if x in model])
        ops.append([name, arg, r, len(model)])

    op("has", zero)
    op("add", zero)
    op("add", zero)
    op("has", zero)
    op("delete", zero)
    op("delete", zero)
    op("has", zero)
    for x in same_prefix:
        op("add", x)
    for x in same_prefix[::3]:
        op("delete", x)
    for x in same_prefix:
        op("has", x)
    op("addMany", [hid(i) for i in range(10)] + [hid(3), same_prefix[1]])
    op("addMany", [])
    op("has", hid(9))
    op("has", hid(10))
    scenarios.append({"name": "basic, colliding prefixes, addMany with duplicates", "ops": ops})

    ops = []
    model = set()
    op("addMany", {"gen": "sha256(blob-i)", "from": 0, "count": 5000})
    op("deleteEach", {"gen": "sha256(blob-i)", "from": 0, "count": 2500, "step": 2})
    op("hasEach", {"gen": "sha256(blob-i)", "from": 0, "count": 5000})
    op("addMany", {"gen": "sha256(blob-i)", "from": 2500, "count": 5000})
    op("hasEach", {"gen": "sha256(blob-i)", "from": 0, "count": 8000})
    op("deleteEach", {"gen": "sha256(blob-i)", "from": 1, "count": 4000, "step": 2})
    op("hasEach", {"gen": "sha256(blob-i)", "from": 0, "count": 8000})
    scenarios.append({"name": "growth past several resizes, then deletions", "ops": ops})
    write("blobset.json", {"_source": "python set() model", "scenarios": scenarios,
                           "id_generator": "sha256(blob-i): SHA-256 of the ASCII text 'blob-<i>' for i = from, from+step, ... (count ids, step 1 by default); deleteEach/hasEach call delete/has on each and count the true results"})


# ---- processFiles -----------------------------------------------------------------------------------

def chunk_stream(data: bytes, chunker: dict, offset: int):
    rest = data[offset:]
    if chunker["kind"] == "rabin":
        return rabin_chunks(rest, chunker["polynomial"])
    return fastcdc_chunks(rest, chunker["minSize"], chunker["avgSize"], chunker["maxSize"])


def pipeline_vectors() -> None:
    cases = []
    restic = {"kind": "rabin", "polynomial": "3da3358b4dc173"}
    cdc = {"kind": "fastcdc", "minSize": 2048, "avgSize": 8192, "maxSize": 65536}
    restic_key = pat(64, 5, 77).hex()
    chacha_key = pat(32, 9, 1).hex()
    part = {"kind": "sha256ctr", "seed": "pipe-repeat", "length": 70000}
    files = {
        "r3m": {"kind": "sha256ctr", "seed": "pipe-r3", "length": 3 * 1024 * 1024 + 12345},
        "rtext": {"kind": "text", "seed": "pipe-rtext", "length": 1536 * 1024},
        "small": {"kind": "utf8", "text": "hello restic\n"},
        "empty": {"kind": "utf8", "text": ""},
        "cdc": {"kind": "text", "seed": "pipe-cdc", "length": 200 * 1024},
        "repeat": {"kind": "concat", "parts": [part, {"kind": "zeros", "length": 5}, part, part]},
        "zeros": {"kind": "zeros", "length": 300000},
    }
    data = {k: generate(v) for k, v in files.items()}

    def case(name, params, reqs, known_ids):
        # No caller set (known_ids None): the call still encodes each chunk once, using its own set.
        known = set() if known_ids is None else set(known_ids)
        expected = []
        for r in reqs:
            if r["file"] == "missing":
                expected.append({"error": "EIO_READ"})
                continue
            d = data[r["file"]]
            hfn = sha if params["hash"] == "sha256" else b3
            lengths = chunk_stream(d, params["chunker"], r["offset"]) if r["offset"] < len(d) else []
            chunks = []
            encoded = []
            pos = r["offset"]
            for n in lengths:
                cid = hfn(d[pos:pos + n])
                if cid not in known:
                    encoded.append(len(chunks))
                    known.add(cid)
                chunks.append({"length": n, "id": cid})
                pos += n
                if r["maxBytes"] > 0 and pos - r["offset"] >= r["maxBytes"]:
                    break
            expected.append({"chunks": chunks, "encoded": encoded, "nextOffset": pos, "eof": pos >= len(d)})
        cases.append({"name": name, "params": params, "known": None if known_ids is None else list(known_ids),
                      "requests": reqs, "expected": expected})

    def segments(file, chunker, max_bytes):
        """Requests that walk `file` in segments, each starting at the previous nextOffset."""
        d = data[file]
        reqs = []
        off = 0
        while True:
            reqs.append({"file": file, "offset": off, "maxBytes": max_bytes})
            lengths = chunk_stream(d, chunker, off)
            pos = off
            for n in lengths:
                pos += n
                if pos - off >= max_bytes:
                    break
            if pos >= len(d):
                return reqs
            off = pos

    rp = {"chunker": restic, "hash": "sha256", "compression": {"kind": "zstd", "level": 3, "onlyIfSmaller": True},
          "seal": {"kind": "restic", "key_hex": restic_key}}
    case("restic: whole files, known set shared across files", rp,
         [{"file": f, "offset": 0, "maxBytes": 0} for f in ("r3m", "rtext", "small", "empty", "small")], [])
    case("restic: without a known set a call still encodes each chunk once", {**rp, "compression": {"kind": "none"}},
         [{"file": "small", "offset": 0, "maxBytes": 0}, {"file": "repeat", "offset": 0, "maxBytes": 0},
          {"file": "small", "offset": 0, "maxBytes": 0}], None)
    first = sha(data["r3m"][:chunk_stream(data["r3m"], restic, 0)[0]])
    case("restic: segments of at least 1 MiB, first chunk already known", rp, segments("r3m", restic, 1 << 20), [first])
    case("restic: segment boundary exactly at end of file", rp,
         [{"file": "r3m", "offset": 0, "maxBytes": len(data["r3m"])}], [])
    case("restic: offset at end of file", rp, [{"file": "small", "offset": 13, "maxBytes": 0}], [])
    case("restic: missing file among good ones", rp,
         [{"file": "small", "offset": 0, "maxBytes": 0}, {"file": "missing", "offset": 0, "maxBytes": 0},
          {"file": "rtext", "offset": 0, "maxBytes": 0}], [])
    gp = {"chunker": cdc, "hash": "blake3", "compression": {"kind": "zlib", "level": 6},
          "seal": {"kind": "chacha20poly1305", "key_hex": chacha_key}}
    case("fastcdc: repeated content is encoded once", gp,
         [{"file": f, "offset": 0, "maxBytes": 0} for f in ("repeat", "cdc", "zeros", "empty")], [])
    case("fastcdc: segments of at least 64 KiB", gp, segments("cdc", cdc, 65536), [])
    case("fastcdc: no compression, no seal", {**gp, "compression": {"kind": "none"}, "seal": {"kind": "none"}},
         [{"file": "zeros", "offset": 0, "maxBytes": 0}], [])
    write("pipeline.json", {
        "_source": "chunk lists from generate/ref_chunkers.py (checked against the fixtures), ids from hashlib / blake3; the dedup model of types.ts PipelineParams.known",
        "files": {k: described(v) for k, v in files.items()},
        "cases": cases,
    })


def main() -> None:
    hashes()
    restic_seal_vectors()
    chacha_vectors()
    kdf_vectors()
    compression_vectors()
    restic_chunker_vectors()
    ghostsnap_chunker_vectors()
    blobset_vectors()
    pipeline_vectors()


if __name__ == "__main__":
    main()
