//! Password key derivation: scrypt (restic key files) and Argon2id (ghostsnap key files).
//! Always asynchronous: they are slow on purpose.

use crate::error::{CoreErr, CoreResult};
use crate::pool;
use crate::bytes::Bytes;
use napi::bindgen_prelude::{Object, Uint8Array};
use napi::{Env, Result};
use napi_derive::napi;

fn scrypt_derive(password: &[u8], salt: &[u8], n: u32, r: u32, p: u32, length: u32) -> CoreResult<Vec<u8>> {
    let mut out = vec![0u8; length as usize];
    // Each thread holds its own 128·N·r bytes (32 MiB for restic's keys): four at most.
    let threads = std::thread::available_parallelism().map(|t| t.get()).unwrap_or(2).min(4);
    crate::scrypt::derive(password, salt, n, r, p, &mut out, threads)?;
    Ok(out)
}

#[napi(js_name = "scrypt", catch_unwind)]
pub fn scrypt_async<'env>(
    env: &'env Env,
    password: Uint8Array,
    salt: Uint8Array,
    n: u32,
    r: u32,
    p: u32,
    length: u32,
) -> Result<Object<'env>> {
    pool::spawn(env, move || Ok(Bytes::from(scrypt_derive(&password, &salt, n, r, p, length)?)))
}

fn argon2id_derive(password: &[u8], salt: &[u8], t: u32, m: u32, p: u32, length: u32) -> CoreResult<Vec<u8>> {
    let params = argon2::Params::new(m, t, p, Some(length as usize))
        .map_err(|e| CoreErr::inval(format!("argon2id parameters t={t} m={m} p={p} len={length}: {e}")))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = vec![0u8; length as usize];
    a.hash_password_into(password, salt, &mut out).map_err(|e| CoreErr::inval(format!("argon2id: {e}")))?;
    Ok(out)
}

#[napi(js_name = "argon2id", catch_unwind)]
pub fn argon2id_async<'env>(
    env: &'env Env,
    password: Uint8Array,
    salt: Uint8Array,
    iterations: u32,
    memory_kib: u32,
    parallelism: u32,
    length: u32,
) -> Result<Object<'env>> {
    pool::spawn(env, move || Ok(Bytes::from(argon2id_derive(&password, &salt, iterations, memory_kib, parallelism, length)?)))
}
