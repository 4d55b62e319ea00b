//! The two sealed-box formats and the raw ChaCha20 primitives.
//!
//! restic (formats/restic.md §2.2): iv(16) || AES-256-CTR(ct) || Poly1305-AES(ct) — the MAC
//! covers the ciphertext only. ghostsnap (formats/ghostsnap.md §4): nonce(12) || RFC 8439
//! ChaCha20-Poly1305 with empty AAD (ct || tag). Both are computed in cache-sized pieces so the
//! cipher and the MAC pass over the same bytes while they are hot.

use crate::error::{Code, CoreErr, CoreResult};
use crate::pool;
use aes::cipher::{BlockCipherEncrypt, KeyInit, KeyIvInit, StreamCipher, StreamCipherSeek};
use crate::bytes::{Bytes, JsBuffer};
use napi::bindgen_prelude::{Buffer, Object, Uint8Array};
use napi::{Env, Result};
use napi_derive::napi;
use poly1305::universal_hash::UniversalHash;
use poly1305::Poly1305;
use subtle::ConstantTimeEq;

const PIECE: usize = 16 * 1024;
pub const RESTIC_OVERHEAD: usize = 32;
pub const CHACHA_OVERHEAD: usize = 28;

type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

#[derive(Clone)]
pub struct ResticKey {
    encrypt: [u8; 32],
    mac_k: [u8; 16],
    mac_r: [u8; 16],
}

impl ResticKey {
    pub fn from_bytes(key: &[u8]) -> CoreResult<Self> {
        if key.len() != 64 {
            return Err(CoreErr::inval(format!("restic key must be 64 bytes, got {}", key.len())));
        }
        let mut k = ResticKey { encrypt: [0; 32], mac_k: [0; 16], mac_r: [0; 16] };
        k.encrypt.copy_from_slice(&key[0..32]);
        k.mac_k.copy_from_slice(&key[32..48]);
        k.mac_r.copy_from_slice(&key[48..64]);
        Ok(k)
    }

    /// Poly1305 one-time key r || AES-128(mac.k, iv); the poly1305 crate clamps r.
    fn mac(&self, iv: &[u8; 16]) -> Poly1305 {
        let aes = aes::Aes128::new(&self.mac_k.into());
        let mut s = aes::Block::from(*iv);
        aes.encrypt_block(&mut s);
        let mut otk = [0u8; 32];
        otk[..16].copy_from_slice(&self.mac_r);
        otk[16..].copy_from_slice(&s);
        Poly1305::new(&otk.into())
    }

    fn ctr(&self, iv: &[u8; 16]) -> Aes256Ctr {
        Aes256Ctr::new(&self.encrypt.into(), &(*iv).into())
    }

    /// Writes iv || ct || tag into `out` (plaintext.len() + 32 bytes).
    pub fn seal_into(&self, iv: &[u8; 16], plaintext: &[u8], out: &mut [u8]) {
        let n = plaintext.len();
        debug_assert_eq!(out.len(), n + RESTIC_OVERHEAD);
        out[..16].copy_from_slice(iv);
        let mut ctr = self.ctr(iv);
        let mut mac = self.mac(iv);
        let (ct, tag_out) = out[16..].split_at_mut(n);
        let mut pos = 0;
        while n - pos >= PIECE {
            ctr.apply_keystream_b2b(&plaintext[pos..pos + PIECE], &mut ct[pos..pos + PIECE]);
            mac_blocks(&mut mac, &ct[pos..pos + PIECE]);
            pos += PIECE;
        }
        ctr.apply_keystream_b2b(&plaintext[pos..], &mut ct[pos..]);
        tag_out.copy_from_slice(&mac_unpadded_tail(mac, &ct[pos..]));
    }

    /// Plaintext length of a sealed box, or EAUTH when it cannot be one.
    pub fn opened_len(sealed_len: usize) -> CoreResult<usize> {
        sealed_len
            .checked_sub(RESTIC_OVERHEAD)
            .ok_or_else(|| CoreErr::new(Code::Auth, format!("sealed box of {sealed_len} bytes is too short")))
    }

    /// The plaintext length of a sealed box, and the cipher and MAC its IV sets up; EAUTH for a
    /// box too short or with an all-zero IV.
    fn opening(&self, sealed: &[u8]) -> CoreResult<(usize, Aes256Ctr, Poly1305)> {
        let n = ResticKey::opened_len(sealed.len())?;
        let iv: [u8; 16] = sealed[..16].try_into().expect("16 bytes");
        if iv == [0u8; 16] {
            return Err(CoreErr::new(Code::Auth, "sealed box has an all-zero IV"));
        }
        Ok((n, self.ctr(&iv), self.mac(&iv)))
    }

    /// Authenticates and decrypts into `out` (sealed.len() - 32 bytes). On EAUTH `out` holds
    /// garbage and must be dropped.
    pub fn open_into(&self, sealed: &[u8], out: &mut [u8]) -> CoreResult<()> {
        let (n, mut ctr, mut mac) = self.opening(sealed)?;
        debug_assert_eq!(out.len(), n);
        let (ct, tag) = sealed[16..].split_at(n);
        // Decrypt while authenticating; the caller drops the output when the tag does not match.
        let mut pos = 0;
        while n - pos >= PIECE {
            mac_blocks(&mut mac, &ct[pos..pos + PIECE]);
            ctr.apply_keystream_b2b(&ct[pos..pos + PIECE], &mut out[pos..pos + PIECE]);
            pos += PIECE;
        }
        let expected = mac_unpadded_tail(mac, &ct[pos..]);
        if !bool::from(expected.as_slice().ct_eq(tag)) {
            return Err(CoreErr::new(Code::Auth, "MAC verification failed (wrong key or corrupt data)"));
        }
        ctr.apply_keystream_b2b(&ct[pos..], &mut out[pos..]);
        Ok(())
    }

    /// Authenticates `sealed` and decrypts it where it lies; the plaintext is then
    /// `sealed[16..len - 16]`. On EAUTH part of it may be decrypted already: it must be dropped.
    pub fn open_in_place(&self, sealed: &mut [u8]) -> CoreResult<std::ops::Range<usize>> {
        let (n, mut ctr, mut mac) = self.opening(sealed)?;
        let (ct, tag) = sealed[16..].split_at_mut(n);
        // Each piece is authenticated before it is decrypted over, while it is in the cache.
        let mut pos = 0;
        while n - pos >= PIECE {
            mac_blocks(&mut mac, &ct[pos..pos + PIECE]);
            ctr.apply_keystream(&mut ct[pos..pos + PIECE]);
            pos += PIECE;
        }
        let expected = mac_unpadded_tail(mac, &ct[pos..]);
        if !bool::from(expected.as_slice().ct_eq(tag)) {
            return Err(CoreErr::new(Code::Auth, "MAC verification failed (wrong key or corrupt data)"));
        }
        ctr.apply_keystream(&mut ct[pos..]);
        Ok(16..16 + n)
    }
}

/// Feeds whole 16-byte blocks (the caller passes a multiple of 16 bytes).
fn mac_blocks(mac: &mut Poly1305, data: &[u8]) {
    let (blocks, rest) = poly1305::Block::slice_as_chunks(data);
    debug_assert!(rest.is_empty());
    mac.update(blocks);
}

fn mac_unpadded_tail(mut mac: Poly1305, data: &[u8]) -> [u8; 16] {
    let (blocks, _) = poly1305::Block::slice_as_chunks(data);
    mac.update(blocks);
    mac.compute_unpadded(&data[blocks.len() * 16..]).into()
}

/// RFC 8439 ChaCha20-Poly1305 with empty AAD, incremental in both directions.
pub struct ChaChaPoly {
    cipher: chacha20::ChaCha20,
    mac: Poly1305,
    pending: [u8; 16],
    pending_len: usize,
    length: u64,
}

impl ChaChaPoly {
    pub fn new(key: &[u8], nonce: &[u8]) -> CoreResult<Self> {
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| CoreErr::inval(format!("ChaCha20-Poly1305 key must be 32 bytes, got {}", key.len())))?;
        let nonce: [u8; 12] = nonce
            .try_into()
            .map_err(|_| CoreErr::inval(format!("ChaCha20-Poly1305 nonce must be 12 bytes, got {}", nonce.len())))?;
        let mut cipher = chacha20::ChaCha20::new(&key.into(), &nonce.into());
        let mut otk = [0u8; 64];
        cipher.apply_keystream(&mut otk); // block 0 gives the Poly1305 key; data starts at block 1
        let mac = Poly1305::new(&<[u8; 32]>::try_from(&otk[..32]).expect("32 bytes").into());
        Ok(ChaChaPoly { cipher, mac, pending: [0; 16], pending_len: 0, length: 0 })
    }

    fn absorb(&mut self, mut ct: &[u8]) {
        self.length += ct.len() as u64;
        if self.pending_len > 0 {
            let take = (16 - self.pending_len).min(ct.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&ct[..take]);
            self.pending_len += take;
            ct = &ct[take..];
            if self.pending_len < 16 {
                return;
            }
            self.mac.update(&[self.pending.into()]);
            self.pending_len = 0;
        }
        let (blocks, rest) = poly1305::Block::slice_as_chunks(ct);
        self.mac.update(blocks);
        self.pending[..rest.len()].copy_from_slice(rest);
        self.pending_len = rest.len();
    }

    fn check_room(&self, n: usize) -> CoreResult<()> {
        // 2^32 blocks of 64 bytes minus the Poly1305 key block.
        if self.length + n as u64 > ((1u64 << 32) - 1) * 64 {
            return Err(CoreErr::inval("ChaCha20-Poly1305 message longer than 256 GiB"));
        }
        Ok(())
    }

    pub fn seal_update(&mut self, input: &[u8], out: &mut [u8]) -> CoreResult<()> {
        self.check_room(input.len())?;
        for (i, o) in input.chunks(PIECE).zip(out.chunks_mut(PIECE)) {
            self.cipher.apply_keystream_b2b(i, o);
            self.absorb(o);
        }
        Ok(())
    }

    pub fn open_update(&mut self, input: &[u8], out: &mut [u8]) -> CoreResult<()> {
        self.check_room(input.len())?;
        for (i, o) in input.chunks(PIECE).zip(out.chunks_mut(PIECE)) {
            self.absorb(i);
            self.cipher.apply_keystream_b2b(i, o);
        }
        Ok(())
    }

    pub fn tag(mut self) -> [u8; 16] {
        if self.pending_len > 0 {
            self.mac.update_padded(&self.pending[..self.pending_len]);
        }
        let mut lengths = [0u8; 16];
        lengths[8..].copy_from_slice(&self.length.to_le_bytes());
        self.mac.update(&[lengths.into()]);
        self.mac.finalize().into()
    }
}

fn chacha_seal_into(key: &[u8], nonce: &[u8; 12], plaintext: &[u8], out: &mut [u8]) -> CoreResult<()> {
    let mut st = ChaChaPoly::new(key, nonce)?;
    let n = plaintext.len();
    out[..12].copy_from_slice(nonce);
    let (ct, tag_out) = out[12..].split_at_mut(n);
    st.seal_update(plaintext, ct)?;
    tag_out.copy_from_slice(&st.tag());
    Ok(())
}

fn chacha_opened_len(sealed_len: usize) -> CoreResult<usize> {
    sealed_len
        .checked_sub(CHACHA_OVERHEAD)
        .ok_or_else(|| CoreErr::new(Code::Auth, format!("sealed box of {sealed_len} bytes is too short")))
}

fn chacha_open_into(key: &[u8], sealed: &[u8], out: &mut [u8]) -> CoreResult<()> {
    let n = chacha_opened_len(sealed.len())?;
    let mut st = ChaChaPoly::new(key, &sealed[..12])?;
    st.open_update(&sealed[12..12 + n], out)?;
    if !bool::from(st.tag().ct_eq(&sealed[12 + n..])) {
        return Err(CoreErr::new(Code::Auth, "tag verification failed (wrong key or corrupt data)"));
    }
    Ok(())
}

#[napi(object)]
pub struct SealSpecJs {
    pub kind: String,
    pub key: Option<Uint8Array>,
}

#[derive(Clone)]
pub enum Sealer {
    None,
    Restic(ResticKey),
    ChaCha([u8; 32]),
}

impl Sealer {
    pub fn from_js(spec: &SealSpecJs) -> CoreResult<Self> {
        let key = || spec.key.as_deref().ok_or_else(|| CoreErr::inval(format!("seal {:?} needs a key", spec.kind)));
        match spec.kind.as_str() {
            "none" => Ok(Sealer::None),
            "restic" => Ok(Sealer::Restic(ResticKey::from_bytes(key()?)?)),
            "chacha20poly1305" => {
                let k = key()?;
                let k: [u8; 32] = k
                    .try_into()
                    .map_err(|_| CoreErr::inval(format!("ChaCha20-Poly1305 key must be 32 bytes, got {}", k.len())))?;
                Ok(Sealer::ChaCha(k))
            }
            other => Err(CoreErr::inval(format!("unknown seal {other:?}"))),
        }
    }

    pub fn sealed_len(&self, plaintext_len: usize) -> usize {
        plaintext_len
            + match self {
                Sealer::None => 0,
                Sealer::Restic(_) => RESTIC_OVERHEAD,
                Sealer::ChaCha(_) => CHACHA_OVERHEAD,
            }
    }

    pub fn opened_len(&self, sealed_len: usize) -> CoreResult<usize> {
        match self {
            Sealer::None => Ok(sealed_len),
            Sealer::Restic(_) => ResticKey::opened_len(sealed_len),
            Sealer::ChaCha(_) => chacha_opened_len(sealed_len),
        }
    }

    /// Seals into `out` (sealed_len bytes) with a fresh random IV/nonce, or with `iv` (vectors).
    pub fn seal_into(&self, plaintext: &[u8], iv: Option<&[u8]>, out: &mut [u8]) -> CoreResult<()> {
        match self {
            Sealer::None => out.copy_from_slice(plaintext),
            Sealer::Restic(key) => {
                let iv: [u8; 16] = match iv {
                    Some(v) => v.try_into().map_err(|_| CoreErr::inval(format!("restic IV must be 16 bytes, got {}", v.len())))?,
                    None => random_array()?,
                };
                if iv == [0u8; 16] {
                    return Err(CoreErr::inval("restic IV must not be all zero (restic refuses to open such a box)"));
                }
                key.seal_into(&iv, plaintext, out);
            }
            Sealer::ChaCha(key) => {
                let nonce: [u8; 12] = match iv {
                    Some(v) => v.try_into().map_err(|_| CoreErr::inval(format!("nonce must be 12 bytes, got {}", v.len())))?,
                    None => random_array()?,
                };
                chacha_seal_into(key, &nonce, plaintext, out)?;
            }
        }
        Ok(())
    }

    pub fn seal(&self, plaintext: &[u8], iv: Option<&[u8]>) -> CoreResult<Vec<u8>> {
        let mut out = vec![0u8; self.sealed_len(plaintext.len())];
        self.seal_into(plaintext, iv, &mut out)?;
        Ok(out)
    }

    /// Opens into `out` (opened_len bytes); on error `out` holds garbage.
    pub fn open_into(&self, sealed: &[u8], out: &mut [u8]) -> CoreResult<()> {
        match self {
            Sealer::None => {
                out.copy_from_slice(sealed);
                Ok(())
            }
            Sealer::Restic(key) => key.open_into(sealed, out),
            Sealer::ChaCha(key) => chacha_open_into(key, sealed, out),
        }
    }

    /// Opens `sealed` where it lies, giving the plaintext's range in it, when the seal allows
    /// (restic's AES-CTR, or none); None when it does not (then open_into). On error part of
    /// `sealed` may be decrypted already.
    pub fn open_in_place(&self, sealed: &mut [u8]) -> Option<CoreResult<std::ops::Range<usize>>> {
        match self {
            Sealer::None => Some(Ok(0..sealed.len())),
            Sealer::Restic(key) => Some(key.open_in_place(sealed)),
            Sealer::ChaCha(_) => None,
        }
    }

    pub fn open(&self, sealed: &[u8]) -> CoreResult<Vec<u8>> {
        let mut out = vec![0u8; self.opened_len(sealed.len())?];
        self.open_into(sealed, &mut out)?;
        Ok(out)
    }
}

pub fn random_fill(buf: &mut [u8]) -> CoreResult<()> {
    getrandom::fill(buf).map_err(|e| CoreErr::inval(format!("CSPRNG failed: {e}")))
}

fn random_array<const N: usize>() -> CoreResult<[u8; N]> {
    let mut a = [0u8; N];
    loop {
        random_fill(&mut a)?;
        // restic refuses an all-zero IV; never emit one.
        if a.iter().any(|&b| b != 0) {
            return Ok(a);
        }
    }
}

#[napi(js_name = "seal", catch_unwind)]
pub fn seal_sync(env: &Env, spec: SealSpecJs, plaintext: &[u8], iv: Option<&[u8]>) -> Result<JsBuffer> {
    let sealer = Sealer::from_js(&spec)?;
    JsBuffer::fill(env, sealer.sealed_len(plaintext.len()), |out| sealer.seal_into(plaintext, iv, out))
}

#[napi(js_name = "open", catch_unwind)]
pub fn open_sync(env: &Env, spec: SealSpecJs, sealed: &[u8]) -> Result<JsBuffer> {
    let sealer = Sealer::from_js(&spec)?;
    JsBuffer::fill(env, sealer.opened_len(sealed.len())?, |out| sealer.open_into(sealed, out))
}

#[napi(js_name = "sealAsync", catch_unwind)]
pub fn seal_async<'env>(env: &'env Env, spec: SealSpecJs, plaintext: Uint8Array) -> Result<Object<'env>> {
    let sealer = Sealer::from_js(&spec)?;
    pool::spawn(env, move || Ok(Bytes::from(sealer.seal(&plaintext, None)?)))
}

#[napi(js_name = "openAsync", catch_unwind)]
pub fn open_async<'env>(env: &'env Env, spec: SealSpecJs, sealed: Uint8Array) -> Result<Object<'env>> {
    let sealer = Sealer::from_js(&spec)?;
    pool::spawn(env, move || Ok(Bytes::from(sealer.open(&sealed)?)))
}

/// The RFC 8439 block function, used for the one block the chacha20 crate will not produce
/// (counter 2^32 - 1, which the contract allows).
fn chacha20_block(key: &[u8; 32], counter: u32, nonce: &[u8; 12]) -> [u8; 64] {
    fn quarter(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
        s[a] = s[a].wrapping_add(s[b]);
        s[d] = (s[d] ^ s[a]).rotate_left(16);
        s[c] = s[c].wrapping_add(s[d]);
        s[b] = (s[b] ^ s[c]).rotate_left(12);
        s[a] = s[a].wrapping_add(s[b]);
        s[d] = (s[d] ^ s[a]).rotate_left(8);
        s[c] = s[c].wrapping_add(s[d]);
        s[b] = (s[b] ^ s[c]).rotate_left(7);
    }
    let word = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes"));
    let mut init = [0u32; 16];
    init[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
    for i in 0..8 {
        init[4 + i] = word(&key[4 * i..4 * i + 4]);
    }
    init[12] = counter;
    for i in 0..3 {
        init[13 + i] = word(&nonce[4 * i..4 * i + 4]);
    }
    let mut st = init;
    for _ in 0..10 {
        quarter(&mut st, 0, 4, 8, 12);
        quarter(&mut st, 1, 5, 9, 13);
        quarter(&mut st, 2, 6, 10, 14);
        quarter(&mut st, 3, 7, 11, 15);
        quarter(&mut st, 0, 5, 10, 15);
        quarter(&mut st, 1, 6, 11, 12);
        quarter(&mut st, 2, 7, 8, 13);
        quarter(&mut st, 3, 4, 9, 14);
    }
    let mut out = [0u8; 64];
    for i in 0..16 {
        out[4 * i..4 * i + 4].copy_from_slice(&st[i].wrapping_add(init[i]).to_le_bytes());
    }
    out
}

/// Raw ChaCha20 (IETF) keystream XOR from 64-byte block `counter`; the last usable block is
/// 2^32 - 1, data needing a block past it is EINVAL.
fn chacha20_xor_into(key: &[u8], nonce: &[u8], counter: f64, data: &[u8], out: &mut [u8]) -> CoreResult<()> {
    let key: [u8; 32] = key.try_into().map_err(|_| CoreErr::inval(format!("ChaCha20 key must be 32 bytes, got {}", key.len())))?;
    let nonce: [u8; 12] =
        nonce.try_into().map_err(|_| CoreErr::inval(format!("ChaCha20 nonce must be 12 bytes, got {}", nonce.len())))?;
    if !(counter >= 0.0 && counter <= u32::MAX as f64 && counter.fract() == 0.0) {
        return Err(CoreErr::inval(format!("ChaCha20 block counter {counter} is not in 0..2^32")));
    }
    let counter = counter as u64;
    if counter + (data.len() as u64).div_ceil(64) > 1u64 << 32 {
        return Err(CoreErr::inval("ChaCha20 data would need a block counter past 2^32 - 1"));
    }
    // Everything before the very last block goes through the crate.
    let last_block_at = ((u32::MAX as u64 - counter) * 64).min(data.len() as u64) as usize;
    if last_block_at > 0 {
        let mut cipher = chacha20::ChaCha20::new(&key.into(), &nonce.into());
        cipher.try_seek(counter * 64).map_err(|e| CoreErr::inval(format!("ChaCha20: {e}")))?;
        cipher
            .try_apply_keystream_b2b(&data[..last_block_at], &mut out[..last_block_at])
            .map_err(|e| CoreErr::inval(format!("ChaCha20: {e}")))?;
    }
    if last_block_at < data.len() {
        let ks = chacha20_block(&key, u32::MAX, &nonce);
        for (i, (o, d)) in out[last_block_at..].iter_mut().zip(&data[last_block_at..]).enumerate() {
            *o = d ^ ks[i];
        }
    }
    Ok(())
}

#[napi(js_name = "chacha20Xor", catch_unwind)]
pub fn chacha20_xor(env: &Env, key: &[u8], nonce: &[u8], counter: f64, data: &[u8]) -> Result<JsBuffer> {
    JsBuffer::fill(env, data.len(), |out| chacha20_xor_into(key, nonce, counter, data, out))
}

#[napi(js_name = "randomBytes", catch_unwind)]
pub fn random_bytes(env: &Env, length: u32) -> Result<JsBuffer> {
    JsBuffer::fill(env, length as usize, random_fill)
}

enum StreamMode {
    Seal,
    Open,
}

/// Incremental ChaCha20-Poly1305 for data bigger than memory (the AeadStream of the contract).
#[napi]
pub struct NativeAeadStream {
    mode: StreamMode,
    state: Option<ChaChaPoly>,
}

#[napi]
impl NativeAeadStream {
    #[napi(constructor, catch_unwind)]
    pub fn new(mode: String, key: &[u8], nonce: &[u8]) -> Result<Self> {
        let mode = match mode.as_str() {
            "seal" => StreamMode::Seal,
            "open" => StreamMode::Open,
            other => return Err(CoreErr::inval(format!("unknown stream mode {other:?}")).into()),
        };
        Ok(NativeAeadStream { mode, state: Some(ChaChaPoly::new(key, nonce)?) })
    }

    #[napi(catch_unwind)]
    pub fn update(&mut self, env: &Env, data: &[u8]) -> Result<JsBuffer> {
        let st = self.state.as_mut().ok_or_else(|| CoreErr::inval("AeadStream already finished"))?;
        JsBuffer::fill(env, data.len(), |out| match self.mode {
            StreamMode::Seal => st.seal_update(data, out),
            StreamMode::Open => st.open_update(data, out),
        })
    }

    /// Like update(), into a caller-owned buffer: a long stream then makes no garbage per piece.
    #[napi(js_name = "updateInto", catch_unwind)]
    pub fn update_into(&mut self, data: &[u8], mut out: Buffer) -> Result<()> {
        let st = self.state.as_mut().ok_or_else(|| CoreErr::inval("AeadStream already finished"))?;
        let out: &mut [u8] = &mut out;
        if out.len() < data.len() {
            return Err(CoreErr::inval(format!("updateInto: output holds {} bytes, the piece has {}", out.len(), data.len())).into());
        }
        let out = &mut out[..data.len()];
        match self.mode {
            StreamMode::Seal => st.seal_update(data, out),
            StreamMode::Open => st.open_update(data, out),
        }?;
        Ok(())
    }

    #[napi(js_name = "final", catch_unwind)]
    pub fn finish(&mut self, env: &Env, tag: Option<&[u8]>) -> Result<JsBuffer> {
        let st = self.state.take().ok_or_else(|| CoreErr::inval("AeadStream already finished"))?;
        let computed = st.tag();
        match self.mode {
            StreamMode::Seal => JsBuffer::copy(env, &computed),
            StreamMode::Open => {
                let tag = tag.ok_or_else(|| CoreErr::inval("AeadStream open: final() needs the tag"))?;
                if tag.len() != 16 || !bool::from(computed.ct_eq(tag)) {
                    return Err(CoreErr::new(Code::Auth, "tag verification failed (wrong key or corrupt data)").into());
                }
                JsBuffer::copy(env, &[])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_in_place_gives_what_opening_into_a_buffer_gives() {
        let sealer = Sealer::Restic(ResticKey::from_bytes(&(0..64).collect::<Vec<u8>>()).unwrap());
        for len in [0usize, 1, 15, 16, 17, PIECE - 1, PIECE, PIECE + 1, 3 * PIECE + 5] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let sealed = sealer.seal(&plain, None).unwrap();
            let mut in_place = sealed.clone();
            let range = sealer.open_in_place(&mut in_place).unwrap().unwrap();
            assert_eq!(&in_place[range], &plain[..], "length {len}");
            assert_eq!(sealer.open(&sealed).unwrap(), plain);
            for at in [0, 16, sealed.len() / 2, sealed.len() - 1] {
                let mut tampered = sealed.clone();
                tampered[at] ^= 1;
                let err = sealer.open_in_place(&mut tampered).unwrap().unwrap_err();
                assert!(matches!(err.code, Code::Auth), "length {len}, byte {at}");
            }
        }
        let mut short = [1u8; 31];
        assert!(sealer.open_in_place(&mut short).unwrap().is_err());
        let mut zero_iv = sealer.seal(b"x", None).unwrap();
        zero_iv[..16].fill(0);
        assert!(sealer.open_in_place(&mut zero_iv).unwrap().is_err());
        assert!(Sealer::ChaCha([0; 32]).open_in_place(&mut [0u8; 40]).is_none());
        assert_eq!(Sealer::None.open_in_place(&mut [5u8; 9]).unwrap().unwrap(), 0..9);
    }
}
