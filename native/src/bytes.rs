//! Byte results handed to JavaScript. Large results become external Buffers over the Rust
//! allocation (no copy) and are reported to V8 as external memory: without that report V8 does
//! not count them toward its GC heuristics, finished outputs pile up for gigabytes, and every new
//! output lands on fresh pages. Small results are copied into an ordinary Buffer.

use napi::bindgen_prelude::{ToNapiValue, TypeName, ValueType};
use napi::{check_status, sys, Result};
use std::ffi::c_void;
use std::ptr;

/// Below this size a copy costs less than an external buffer's finalizer.
const COPY_LIMIT: usize = 64 * 1024;

#[derive(Default)]
pub struct Bytes(pub Vec<u8>);

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(v)
    }
}

impl TypeName for Bytes {
    fn type_name() -> &'static str {
        "Buffer"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

unsafe extern "C" fn release(env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
    // SAFETY: hint is the Box<Vec<u8>> leaked in to_napi_value; V8 calls this finalizer once.
    let v = unsafe { Box::from_raw(hint.cast::<Vec<u8>>()) };
    let size = v.capacity() as i64;
    drop(v);
    let mut total = 0i64;
    // SAFETY: env is the live environment passed to this finalizer.
    unsafe { sys::napi_adjust_external_memory(env, -size, &mut total) };
}

impl ToNapiValue for Bytes {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        let mut v = val.0;
        let len = v.len();
        let mut out = ptr::null_mut();
        if len <= COPY_LIMIT {
            // SAFETY: v is readable for len bytes; node copies them into a new Buffer.
            check_status!(unsafe { sys::napi_create_buffer_copy(env, len, v.as_ptr().cast(), ptr::null_mut(), &mut out) })?;
            return Ok(out);
        }
        let data = v.as_mut_ptr();
        let size = v.capacity() as i64;
        let hint = Box::into_raw(Box::new(v));
        // SAFETY: data stays valid until `release` frees the boxed Vec that owns it.
        let status = unsafe { sys::napi_create_external_buffer(env, len, data.cast(), Some(release), hint.cast(), &mut out) };
        if status != sys::Status::napi_ok {
            // SAFETY: the external buffer was not created, so the box is still ours.
            let v = unsafe { Box::from_raw(hint) };
            // Runtimes that forbid external buffers get a copy.
            // SAFETY: v is readable for len bytes.
            check_status!(unsafe { sys::napi_create_buffer_copy(env, len, v.as_ptr().cast(), ptr::null_mut(), &mut out) })?;
            return Ok(out);
        }
        let mut total = 0i64;
        // SAFETY: env is the live environment of this call.
        check_status!(unsafe { sys::napi_adjust_external_memory(env, size, &mut total) })?;
        Ok(out)
    }
}

/// A Buffer allocated by the JavaScript engine and filled in place: the result type of the
/// synchronous calls. Unlike external buffers, these are freed by V8's GC itself, so a
/// synchronous loop that never yields to the event loop (where napi finalizers run) does not
/// accumulate memory.
pub struct JsBuffer(sys::napi_value);

impl TypeName for JsBuffer {
    fn type_name() -> &'static str {
        "Buffer"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for JsBuffer {
    unsafe fn to_napi_value(_env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        Ok(val.0)
    }
}

impl JsBuffer {
    /// A new Buffer of `len` bytes written by `fill` (the bytes start uninitialised).
    pub fn fill<E: Into<napi::Error>>(
        env: &napi::Env,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> std::result::Result<(), E>,
    ) -> Result<JsBuffer> {
        let mut data: *mut c_void = ptr::null_mut();
        let mut out = ptr::null_mut();
        // SAFETY: env is the live environment of the current call; data/out are out-params.
        check_status!(unsafe { sys::napi_create_buffer(env.raw(), len, &mut data, &mut out) })?;
        let slice: &mut [u8] = if len == 0 || data.is_null() {
            &mut []
        } else {
            // SAFETY: node just allocated len writable bytes at data; the Buffer keeps them alive
            // for this call, and nothing else references them yet.
            unsafe { std::slice::from_raw_parts_mut(data.cast::<u8>(), len) }
        };
        fill(slice).map_err(Into::into)?;
        Ok(JsBuffer(out))
    }

    pub fn copy(env: &napi::Env, bytes: &[u8]) -> Result<JsBuffer> {
        JsBuffer::fill(env, bytes.len(), |out| {
            out.copy_from_slice(bytes);
            Ok::<(), napi::Error>(())
        })
    }
}

/// Little-endian u32s of a packed argument from JavaScript (a trailing partial number is ignored;
/// callers check the lengths).
pub fn le_u32s(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bytes.chunks_exact(4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
}

/// Little-endian f64s of a packed argument from JavaScript.
pub fn le_f64s(bytes: &[u8]) -> impl Iterator<Item = f64> + '_ {
    bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
}
