//! One-shot codecs: zstd frames (restic) and zlib streams (ghostsnap).

use crate::error::{Code, CoreErr, CoreResult};
use crate::pool;
use flate2::{Compression, FlushDecompress, Status};
use crate::bytes::{Bytes, JsBuffer};
use napi::bindgen_prelude::{Object, Uint8Array};
use napi::{Env, Result};
use napi_derive::napi;
use std::cell::RefCell;
use std::io::Read;

/// Output bound of a streaming decode when the caller gives none: the largest Buffer Node allows.
const DEFAULT_MAX_LENGTH: usize = (1 << 31) - 1;
/// restic's readers expect windows of at most 8 MiB (formats/restic.md §4.3).
const MAX_ZSTD_WINDOW_LOG: i32 = 23;

#[derive(Clone, Copy, Debug)]
pub enum Codec {
    Zstd,
    Zlib,
}

impl Codec {
    pub fn parse(name: &str) -> CoreResult<Self> {
        match name {
            "zstd" => Ok(Codec::Zstd),
            "zlib" => Ok(Codec::Zlib),
            other => Err(CoreErr::inval(format!("unknown codec {other:?}"))),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Compressor {
    None,
    Zstd { level: i32, only_if_smaller: bool },
    Zlib { level: u32 },
}

#[napi(object)]
pub struct CompressionSpecJs {
    pub kind: String,
    pub level: Option<i32>,
    pub only_if_smaller: Option<bool>,
}

impl Compressor {
    pub fn from_js(spec: &CompressionSpecJs) -> CoreResult<Self> {
        match spec.kind.as_str() {
            "none" => Ok(Compressor::None),
            "zstd" => {
                let level = spec.level.ok_or_else(|| CoreErr::inval("zstd needs a level"))?;
                if !(1..=22).contains(&level) {
                    return Err(CoreErr::inval(format!("zstd level {level} is not in 1..22")));
                }
                Ok(Compressor::Zstd { level, only_if_smaller: spec.only_if_smaller.unwrap_or(false) })
            }
            "zlib" => {
                let level = spec.level.ok_or_else(|| CoreErr::inval("zlib needs a level"))?;
                if !(0..=9).contains(&level) {
                    return Err(CoreErr::inval(format!("zlib level {level} is not in 0..9")));
                }
                Ok(Compressor::Zlib { level: level as u32 })
            }
            other => Err(CoreErr::inval(format!("unknown compression {other:?}"))),
        }
    }

    /// Compressed bytes, or None when the spec is `none` or the zstd frame would not be smaller
    /// than the input under `onlyIfSmaller`.
    pub fn compress(&self, data: &[u8]) -> CoreResult<Option<Vec<u8>>> {
        match *self {
            Compressor::None => Ok(None),
            Compressor::Zstd { level, only_if_smaller } => {
                let frame = zstd_compress(data, level)?;
                if only_if_smaller && frame.len() >= data.len() {
                    Ok(None)
                } else {
                    Ok(Some(frame))
                }
            }
            Compressor::Zlib { level } => Ok(Some(zlib_compress(data, level)?)),
        }
    }

    /// The codec's output even when it is larger (the `compress()` call of the contract).
    fn compress_always(&self, data: &[u8]) -> CoreResult<Vec<u8>> {
        match *self {
            Compressor::None => Ok(data.to_vec()),
            Compressor::Zstd { level, .. } => zstd_compress(data, level),
            Compressor::Zlib { level } => zlib_compress(data, level),
        }
    }
}

thread_local! {
    static ZSTD_CCTX: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static ZSTD_DCTX: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

fn zstd_err(e: std::io::Error) -> CoreErr {
    CoreErr::new(Code::Corrupt, format!("zstd: {e}"))
}

pub fn zstd_compress(data: &[u8], level: i32) -> CoreResult<Vec<u8>> {
    with_zstd_cctx(level, |cctx| cctx.compress(data))
}

/// Replaces the contents of `out` with the frame, in its capacity (grown when short): only the
/// frame's pages of a fresh buffer are touched.
pub fn zstd_compress_into(data: &[u8], level: i32, out: &mut Vec<u8>) -> CoreResult<()> {
    out.clear();
    out.reserve(zstd::zstd_safe::compress_bound(data.len()));
    with_zstd_cctx(level, |cctx| cctx.compress_to_buffer(data, out)).map(|_| ())
}

/// Runs `f` with this thread's compression context set up for `level`.
fn with_zstd_cctx<T>(level: i32, f: impl FnOnce(&mut zstd::bulk::Compressor<'static>) -> std::io::Result<T>) -> CoreResult<T> {
    ZSTD_CCTX.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Compressor::new(level).map_err(|e| CoreErr::inval(format!("zstd: {e}")))?);
        }
        let cctx = slot.as_mut().expect("compressor just created");
        let setup = cctx
            .set_compression_level(level)
            .and_then(|_| cctx.set_parameter(zstd::zstd_safe::CParameter::WindowLog(0)))
            .and_then(|_| {
                if level >= 20 {
                    cctx.set_parameter(zstd::zstd_safe::CParameter::WindowLog(MAX_ZSTD_WINDOW_LOG as u32))
                } else {
                    Ok(())
                }
            });
        setup.map_err(|e| CoreErr::inval(format!("zstd: {e}")))?;
        f(cctx).map_err(|e| CoreErr::inval(format!("zstd: {e}")))
    })
}

pub fn zlib_compress(data: &[u8], level: u32) -> CoreResult<Vec<u8>> {
    let mut c = flate2::Compress::new(Compression::new(level), true);
    // deflate's worst case is a few bytes per 16 KiB stored block beyond the input.
    let mut out = Vec::with_capacity(data.len() + data.len() / 1000 + 64);
    loop {
        let consumed = c.total_in() as usize;
        let status = c
            .compress_vec(&data[consumed..], &mut out, flate2::FlushCompress::Finish)
            .map_err(|e| CoreErr::inval(format!("zlib: {e}")))?;
        match status {
            Status::StreamEnd => return Ok(out),
            Status::Ok | Status::BufError => out.reserve(out.capacity().max(4096)),
        }
    }
}

/// `expected >= 0`: exactly that many bytes or ECORRUPT. `expected < 0`: streaming, at most
/// `max` bytes.
pub fn decompress(codec: Codec, data: &[u8], expected: i64, max: Option<usize>) -> CoreResult<Vec<u8>> {
    if data.is_empty() {
        return Err(CoreErr::new(Code::Corrupt, "empty compressed stream"));
    }
    match codec {
        Codec::Zstd if expected >= 0 => zstd_decompress_exact(data, expected as usize),
        Codec::Zstd => zstd_decompress_stream(data, max.unwrap_or(DEFAULT_MAX_LENGTH)),
        Codec::Zlib if expected >= 0 => zlib_decompress(data, expected as usize, true),
        Codec::Zlib => zlib_decompress(data, max.unwrap_or(DEFAULT_MAX_LENGTH), false),
    }
}

fn zstd_decompress_exact(data: &[u8], expected: usize) -> CoreResult<Vec<u8>> {
    let mut out = Vec::new();
    zstd_decompress_exact_into(data, expected, &mut out)?;
    Ok(out)
}

/// A zstd frame of known plaintext length into `out` (replacing its contents), reusing its
/// capacity: a caller decoding many blobs in a row then faults its buffer in once.
pub fn zstd_decompress_exact_into(data: &[u8], expected: usize, out: &mut Vec<u8>) -> CoreResult<()> {
    if data.is_empty() {
        return Err(CoreErr::new(Code::Corrupt, "empty compressed stream"));
    }
    ZSTD_DCTX.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new().map_err(zstd_err)?);
        }
        let dctx = slot.as_mut().expect("decompressor just created");
        out.clear();
        out.reserve(expected);
        let n = dctx.decompress_to_buffer(data, out).map_err(|e| {
            CoreErr::new(Code::Corrupt, format!("zstd: {e} (expected {expected} bytes)"))
        })?;
        if n != expected {
            return Err(CoreErr::new(Code::Corrupt, format!("zstd: decoded {n} bytes, expected {expected}")));
        }
        Ok(())
    })
}

fn zstd_decompress_stream(data: &[u8], max: usize) -> CoreResult<Vec<u8>> {
    let decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(zstd_err)?;
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(max).min(64 << 20));
    let n = decoder.take(max as u64 + 1).read_to_end(&mut out).map_err(zstd_err)?;
    if n > max {
        return Err(CoreErr::new(Code::Corrupt, format!("zstd: output exceeds maxLength {max}")));
    }
    Ok(out)
}

/// With `exact`, `limit` is the required length; otherwise it is the bound.
fn zlib_decompress(data: &[u8], limit: usize, exact: bool) -> CoreResult<Vec<u8>> {
    let mut d = flate2::Decompress::new(true);
    let corrupt = |why: String| CoreErr::new(Code::Corrupt, format!("zlib: {why}"));
    let first = if exact { limit + 1 } else { data.len().saturating_mul(4).min(limit + 1).max(1024) };
    let mut out = Vec::with_capacity(first);
    loop {
        let (before_in, before_out) = (d.total_in(), d.total_out());
        let status = d
            .decompress_vec(&data[before_in as usize..], &mut out, FlushDecompress::Finish)
            .map_err(|e| corrupt(e.to_string()))?;
        if out.len() > limit {
            return Err(corrupt(if exact {
                format!("stream is longer than the expected {limit} bytes")
            } else {
                format!("output exceeds maxLength {limit}")
            }));
        }
        if status == Status::StreamEnd {
            break;
        }
        if out.len() == out.capacity() {
            out.reserve(out.capacity().min(limit + 1 - out.len()).max(1));
        } else if d.total_in() == before_in && d.total_out() == before_out {
            return Err(corrupt("truncated stream".into()));
        }
    }
    if exact && out.len() != limit {
        return Err(corrupt(format!("decoded {} bytes, expected {limit}", out.len())));
    }
    Ok(out)
}

#[napi(js_name = "compress", catch_unwind)]
pub fn compress_sync(env: &Env, spec: CompressionSpecJs, data: &[u8]) -> Result<JsBuffer> {
    let c = Compressor::from_js(&spec)?;
    JsBuffer::copy(env, &c.compress_always(data)?)
}

#[napi(js_name = "compressAsync", catch_unwind)]
pub fn compress_async<'env>(env: &'env Env, spec: CompressionSpecJs, data: Uint8Array) -> Result<Object<'env>> {
    let c = Compressor::from_js(&spec)?;
    pool::spawn(env, move || Ok(Bytes::from(c.compress_always(&data)?)))
}

fn expected_len(expected: f64) -> CoreResult<i64> {
    if expected.fract() != 0.0 || !(-1.0..=9_007_199_254_740_991.0).contains(&expected) {
        return Err(CoreErr::inval(format!("expectedLength must be an integer >= -1, got {expected}")));
    }
    Ok(expected as i64)
}

fn max_len(max: Option<f64>) -> CoreResult<Option<usize>> {
    match max {
        None => Ok(None),
        Some(m) if m >= 0.0 && m.fract() == 0.0 => Ok(Some(m as usize)),
        Some(m) => Err(CoreErr::inval(format!("bad maxLength {m}"))),
    }
}

#[napi(js_name = "decompress", catch_unwind)]
pub fn decompress_sync(env: &Env, codec: String, data: &[u8], expected: f64, max: Option<f64>) -> Result<JsBuffer> {
    let codec = Codec::parse(&codec)?;
    JsBuffer::copy(env, &decompress(codec, data, expected_len(expected)?, max_len(max)?)?)
}

#[napi(js_name = "decompressAsync", catch_unwind)]
pub fn decompress_async<'env>(
    env: &'env Env,
    codec: String,
    data: Uint8Array,
    expected: f64,
    max: Option<f64>,
) -> Result<Object<'env>> {
    let codec = Codec::parse(&codec)?;
    let expected = expected_len(expected)?;
    let max = max_len(max)?;
    pool::spawn(env, move || Ok(Bytes::from(decompress(codec, &data, expected, max)?)))
}
