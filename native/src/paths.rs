//! Paths from JavaScript: a string, or a Buffer of raw bytes for names that are not UTF-8.

use crate::error::{CoreErr, CoreResult};
use napi::bindgen_prelude::Uint8Array;
use napi::Either;
use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub type JsPath = Either<String, Uint8Array>;

pub fn bytes_of(p: &JsPath) -> &[u8] {
    match p {
        Either::A(s) => s.as_bytes(),
        Either::B(b) => b,
    }
}

/// A path's raw bytes as a Path (Unix paths are bytes, not text).
pub fn path_of(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

pub fn to_cstring(bytes: &[u8]) -> CoreResult<CString> {
    CString::new(bytes).map_err(|_| {
        CoreErr::inval(format!("path contains a NUL byte: {}", String::from_utf8_lossy(bytes))).with_subject(String::from_utf8_lossy(bytes))
    })
}

/// How a path is named in error messages and `subject`.
pub fn display(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
