//! scrypt (RFC 7914), the KDF of restic key files, paid by every command that opens a repository.
//!
//! The p lanes run on up to `threads` scoped threads, each with one V reused from lane to lane:
//! the scrypt crate's parallel mode allocated a fresh 128·N·r bytes per lane (32 MiB for restic's
//! N and r), so opening a key faulted in p times that. On x86_64 Salsa20/8 works on the state's
//! four diagonals at once (SSE2, with AVX-512VL's rotate when the CPU has it); elsewhere the
//! scrypt crate does the work.

use crate::error::{CoreErr, CoreResult};

/// Derives `out.len()` bytes from the password and salt. `n` is a power of two > 1.
pub(crate) fn derive(password: &[u8], salt: &[u8], n: u32, r: u32, p: u32, out: &mut [u8], threads: usize) -> CoreResult<()> {
    if n < 2 || !n.is_power_of_two() {
        return Err(CoreErr::inval(format!("scrypt N must be a power of two > 1, got {n}")));
    }
    if r == 0 || p == 0 || out.is_empty() {
        return Err(CoreErr::inval(format!("scrypt r and p must be > 0 and the output not empty (r={r} p={p} length={})", out.len())));
    }
    imp::derive(password, salt, n as usize, r as usize, p as usize, out, threads)
}

#[cfg(not(target_arch = "x86_64"))]
mod imp {
    use crate::error::{CoreErr, CoreResult};

    pub(super) fn derive(password: &[u8], salt: &[u8], n: usize, r: usize, p: usize, out: &mut [u8], _threads: usize) -> CoreResult<()> {
        let params = scrypt::Params::new(n.trailing_zeros() as u8, r as u32, p as u32)
            .map_err(|e| CoreErr::inval(format!("scrypt parameters N={n} r={r} p={p}: {e}")))?;
        scrypt::scrypt(password, salt, &params, out).map_err(|e| CoreErr::inval(format!("scrypt: {e}")))
    }
}

#[cfg(target_arch = "x86_64")]
mod imp {
    use crate::error::{CoreErr, CoreResult};
    use core::arch::x86_64::*;

    /// One 64-byte Salsa20 block, its words stored by diagonal (see ORDER).
    type Block = [__m128i; 4];

    /// Word i of a stored block is word ORDER[i] of the Salsa20 state: the diagonals (0,5,10,15),
    /// (4,9,14,3), (8,13,2,7), (12,1,6,11), so that each step of the four column (then row)
    /// quarter-rounds is one vector operation. Xor and add are word by word, so BlockMix and
    /// ROMix work on blocks in this order unchanged; only the first and last step convert.
    const ORDER: [usize; 16] = [0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12, 1, 6, 11];

    pub(super) fn derive(password: &[u8], salt: &[u8], n: usize, r: usize, p: usize, out: &mut [u8], threads: usize) -> CoreResult<()> {
        let rol = std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512vl");
        derive_with(password, salt, n, r, p, out, threads, rol)
    }

    /// `rol`: the CPU has AVX-512F and AVX-512VL.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn derive_with(password: &[u8], salt: &[u8], n: usize, r: usize, p: usize, out: &mut [u8], threads: usize, rol: bool) -> CoreResult<()> {
        let lane_len = 128 * r;
        let v_len = n.checked_mul(2 * r).ok_or_else(|| CoreErr::inval(format!("scrypt parameters N={n} r={r} are too large")))?;
        let mut b = vec![0u8; p * lane_len];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, 1, &mut b);
        let threads = threads.clamp(1, p);
        let mut groups: Vec<Vec<&mut [u8]>> = (0..threads).map(|_| Vec::new()).collect();
        for (k, lane) in b.chunks_exact_mut(lane_len).enumerate() {
            groups[k % threads].push(lane);
        }
        let run = move |lanes: Vec<&mut [u8]>| -> CoreResult<()> {
            let mut v: Vec<Block> = Vec::new();
            v.try_reserve_exact(v_len)
                .map_err(|_| CoreErr::inval(format!("scrypt N={n} r={r} needs {} MiB, which could not be allocated", (v_len * 64) >> 20)))?;
            for lane in lanes {
                if rol {
                    // SAFETY: the CPU has AVX-512F and AVX-512VL (the caller checked).
                    unsafe { avx512::romix(lane, &mut v, n, r) };
                } else {
                    // SAFETY: SSE2 is part of the x86_64 baseline.
                    unsafe { sse2::romix(lane, &mut v, n, r) };
                }
            }
            Ok(())
        };
        let mut groups = groups.into_iter();
        let own = groups.next().unwrap_or_default();
        std::thread::scope(|s| {
            let others: Vec<_> = groups.map(|g| s.spawn(move || run(g))).collect();
            let mut result = run(own);
            for h in others {
                let theirs = h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                result = result.and(theirs);
            }
            result
        })?;
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, &b, 1, out);
        Ok(())
    }

    /// ROMix and its parts, compiled once per rotate instruction.
    macro_rules! romix_with {
        ($module:ident, $features:literal, $rotl:expr) => {
            mod $module {
                use super::*;

                #[inline]
                #[target_feature(enable = $features)]
                fn rotl<const L: i32, const R: i32>(x: __m128i) -> __m128i {
                    ($rotl)(x)
                }

                #[inline]
                #[target_feature(enable = $features)]
                fn xor(x: &Block, y: &Block) -> Block {
                    [_mm_xor_si128(x[0], y[0]), _mm_xor_si128(x[1], y[1]), _mm_xor_si128(x[2], y[2]), _mm_xor_si128(x[3], y[3])]
                }

                /// Salsa20/8 of a block stored by diagonal.
                #[inline]
                #[target_feature(enable = $features)]
                fn salsa8(input: &Block) -> Block {
                    let [mut a, mut b, mut c, mut d] = *input;
                    for _ in 0..4 {
                        // Columns: a, b, c, d hold each column's y0, y1, y2, y3.
                        b = _mm_xor_si128(b, rotl::<7, 25>(_mm_add_epi32(a, d)));
                        c = _mm_xor_si128(c, rotl::<9, 23>(_mm_add_epi32(b, a)));
                        d = _mm_xor_si128(d, rotl::<13, 19>(_mm_add_epi32(c, b)));
                        a = _mm_xor_si128(a, rotl::<18, 14>(_mm_add_epi32(d, c)));
                        // Rows: rotated so that d, c, b hold each row's y1, y2, y3.
                        let (mut y1, mut y2, mut y3) = (_mm_shuffle_epi32::<0x39>(d), _mm_shuffle_epi32::<0x4E>(c), _mm_shuffle_epi32::<0x93>(b));
                        y1 = _mm_xor_si128(y1, rotl::<7, 25>(_mm_add_epi32(a, y3)));
                        y2 = _mm_xor_si128(y2, rotl::<9, 23>(_mm_add_epi32(y1, a)));
                        y3 = _mm_xor_si128(y3, rotl::<13, 19>(_mm_add_epi32(y2, y1)));
                        a = _mm_xor_si128(a, rotl::<18, 14>(_mm_add_epi32(y3, y2)));
                        b = _mm_shuffle_epi32::<0x39>(y3);
                        c = _mm_shuffle_epi32::<0x4E>(y2);
                        d = _mm_shuffle_epi32::<0x93>(y1);
                    }
                    [_mm_add_epi32(a, input[0]), _mm_add_epi32(b, input[1]), _mm_add_epi32(c, input[2]), _mm_add_epi32(d, input[3])]
                }

                /// BlockMix: the 2r blocks of `input` chained through Salsa20/8 into `out`, even
                /// results first.
                #[inline]
                #[target_feature(enable = $features)]
                fn block_mix(input: &[Block], out: &mut [Block]) {
                    let r = input.len() / 2;
                    let mut x = input[2 * r - 1];
                    for (i, block) in input.iter().enumerate() {
                        x = salsa8(&xor(&x, block));
                        out[(i % 2) * r + i / 2] = x;
                    }
                }

                /// ROMix of one lane (128·r bytes) in place, with `v` as its scratch.
                #[target_feature(enable = $features)]
                pub(super) fn romix(lane: &mut [u8], v: &mut Vec<Block>, n: usize, r: usize) {
                    let two_r = 2 * r;
                    let word = |b: &[u8], i: usize| {
                        let o = 4 * ORDER[i];
                        i32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
                    };
                    let mut x: Vec<Block> = lane
                        .chunks_exact(64)
                        .map(|b| {
                            [
                                _mm_set_epi32(word(b, 3), word(b, 2), word(b, 1), word(b, 0)),
                                _mm_set_epi32(word(b, 7), word(b, 6), word(b, 5), word(b, 4)),
                                _mm_set_epi32(word(b, 11), word(b, 10), word(b, 9), word(b, 8)),
                                _mm_set_epi32(word(b, 15), word(b, 14), word(b, 13), word(b, 12)),
                            ]
                        })
                        .collect();
                    let mut t = x.clone();
                    v.clear();
                    for _ in 0..n {
                        v.extend_from_slice(&x);
                        block_mix(&v[v.len() - two_r..], &mut x);
                    }
                    for _ in 0..n {
                        // Integerify: the first word of the last block (ORDER keeps word 0 first).
                        let j = (_mm_cvtsi128_si32(x[two_r - 1][0]) as u32 as usize) & (n - 1);
                        // All of V[j] is xor-ed in before the Salsa20 chain starts: loaded inside
                        // the chain, each block waited for memory in turn (a quarter slower).
                        for ((ti, xi), vi) in t.iter_mut().zip(&x).zip(&v[j * two_r..(j + 1) * two_r]) {
                            *ti = xor(xi, vi);
                        }
                        block_mix(&t, &mut x);
                    }
                    for (bytes, block) in lane.chunks_exact_mut(64).zip(&x) {
                        for (q, &vector) in block.iter().enumerate() {
                            let words = [
                                _mm_cvtsi128_si32(vector),
                                _mm_cvtsi128_si32(_mm_shuffle_epi32::<0x55>(vector)),
                                _mm_cvtsi128_si32(_mm_shuffle_epi32::<0xAA>(vector)),
                                _mm_cvtsi128_si32(_mm_shuffle_epi32::<0xFF>(vector)),
                            ];
                            for (k, w) in words.iter().enumerate() {
                                let o = 4 * ORDER[4 * q + k];
                                bytes[o..o + 4].copy_from_slice(&w.to_le_bytes());
                            }
                        }
                    }
                }
            }
        };
    }

    romix_with!(sse2, "sse2", |x| _mm_or_si128(_mm_slli_epi32::<L>(x), _mm_srli_epi32::<R>(x)));
    romix_with!(avx512, "avx512f,avx512vl", |x| _mm_rol_epi32::<L>(x));
}

#[cfg(test)]
mod tests {
    use super::derive;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn rfc7914_vectors() {
        let mut out = [0u8; 64];
        derive(b"", b"", 16, 1, 1, &mut out, 2).unwrap();
        assert_eq!(hex(&out), "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906");
        derive(b"password", b"NaCl", 1024, 8, 16, &mut out, 2).unwrap();
        assert_eq!(hex(&out), "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
    }

    #[test]
    fn same_as_the_scrypt_crate_for_any_threads_and_shape() {
        for (n, r, p, len) in [(2u32, 1u32, 1u32, 1usize), (64, 3, 5, 33), (256, 8, 7, 64), (32, 16, 2, 100)] {
            let params = scrypt::Params::new(n.trailing_zeros() as u8, r, p).unwrap();
            let mut expected = vec![0u8; len];
            scrypt::scrypt(b"pw", b"some salt", &params, &mut expected).unwrap();
            for threads in [1, 2, 3, 16] {
                let mut out = vec![0u8; len];
                derive(b"pw", b"some salt", n, r, p, &mut out, threads).unwrap();
                assert_eq!(out, expected, "N={n} r={r} p={p} threads={threads}");
            }
            #[cfg(target_arch = "x86_64")]
            {
                // The SSE2 rotate, which CPUs with AVX-512VL never reach through `derive`.
                let mut out = vec![0u8; len];
                super::imp::derive_with(b"pw", b"some salt", n as usize, r as usize, p as usize, &mut out, 2, false).unwrap();
                assert_eq!(out, expected, "SSE2: N={n} r={r} p={p}");
            }
        }
    }

    #[test]
    fn refuses_bad_parameters() {
        let mut out = [0u8; 32];
        assert!(derive(b"pw", b"s", 3, 8, 1, &mut out, 1).is_err());
        assert!(derive(b"pw", b"s", 1, 8, 1, &mut out, 1).is_err());
        assert!(derive(b"pw", b"s", 16, 0, 1, &mut out, 1).is_err());
        assert!(derive(b"pw", b"s", 16, 8, 0, &mut out, 1).is_err());
        assert!(derive(b"pw", b"s", 16, 8, 1, &mut [], 1).is_err());
    }
}
