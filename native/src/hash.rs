//! Content hashes: SHA-256 (restic ids; SHA-NI picked at run time by sha2) and BLAKE3
//! (ghostsnap ids; SSE4.1/AVX2/AVX-512 picked at run time by blake3).

use crate::error::{CoreErr, CoreResult};
use crate::pool;
use crate::bytes::{Bytes, JsBuffer};
use napi::bindgen_prelude::{Object, Uint8Array};
use napi::{Env, Result};
use napi_derive::napi;
use sha2::Digest;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlgo {
    Sha256,
    Blake3,
}

impl HashAlgo {
    pub fn parse(name: &str) -> CoreResult<Self> {
        match name {
            "sha256" => Ok(HashAlgo::Sha256),
            "blake3" => Ok(HashAlgo::Blake3),
            other => Err(CoreErr::inval(format!("unknown hash algorithm {other:?}"))),
        }
    }

    pub fn digest(self, data: &[u8]) -> [u8; 32] {
        match self {
            HashAlgo::Sha256 => sha2::Sha256::digest(data).into(),
            HashAlgo::Blake3 => *blake3::hash(data).as_bytes(),
        }
    }

    pub fn digest_parts<T: AsRef<[u8]>>(self, parts: &[T]) -> [u8; 32] {
        let mut h = Hasher::new(self);
        for p in parts {
            h.update(p.as_ref());
        }
        h.finish_reset()
    }
}

/// A hash fed piece by piece.
#[derive(Clone)]
pub enum Hasher {
    Sha256(sha2::Sha256),
    Blake3(Box<blake3::Hasher>),
}

impl Hasher {
    pub fn new(algo: HashAlgo) -> Self {
        match algo {
            HashAlgo::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            HashAlgo::Blake3 => Hasher::Blake3(Box::new(blake3::Hasher::new())),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Blake3(h) => {
                h.update(data);
            }
        }
    }

    /// The digest, and the hasher reset for the next input.
    pub fn finish_reset(&mut self) -> [u8; 32] {
        match self {
            Hasher::Sha256(h) => h.finalize_reset().into(),
            Hasher::Blake3(h) => {
                let id = *h.finalize().as_bytes();
                h.reset();
                id
            }
        }
    }
}

#[napi(js_name = "hash", catch_unwind)]
pub fn hash_sync(env: &Env, algo: String, parts: Vec<&[u8]>) -> Result<JsBuffer> {
    let algo = HashAlgo::parse(&algo)?;
    JsBuffer::copy(env, &algo.digest_parts(&parts))
}

#[napi(js_name = "hashAsync", catch_unwind)]
pub fn hash_async<'env>(env: &'env Env, algo: String, parts: Vec<Uint8Array>) -> Result<Object<'env>> {
    let algo = HashAlgo::parse(&algo)?;
    pool::spawn(env, move || Ok(Bytes::from(algo.digest_parts(&parts).to_vec())))
}
