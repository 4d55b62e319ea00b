//! decodeBlobs: open, decompress and hash-check the blobs of one pack range, optionally
//! writing each plaintext straight to its target files. One blob failing does not stop the rest.

use crate::compress::{decompress, zstd_decompress_exact_into, Codec};
use crate::error::{Code, CoreErr, CoreResult, ErrorInfo};
use crate::hash::HashAlgo;
use crate::pool;
use crate::seal::{SealSpecJs, Sealer};
use crate::bytes::Bytes;
use napi::bindgen_prelude::{Object, Uint8Array};
use napi::{Env, Result};
use napi_derive::napi;
use crate::paths::{bytes_of, display, to_path, JsPath};
use std::borrow::Cow;
use std::os::unix::fs::FileExt;

/// Bound of a compressed blob whose plaintext length is unknown (chunks are at most 16 MiB).
const UNKNOWN_RAW_MAX: usize = 64 << 20;

#[napi(object)]
pub struct BlobTargetJs {
    pub fd: i32,
    pub position: f64,
}

#[napi(object)]
pub struct DecodeBlobJs {
    pub offset: f64,
    pub length: f64,
    pub raw_length: f64,
    pub compressed: bool,
    pub id: Uint8Array,
    pub targets: Option<Vec<BlobTargetJs>>,
}

/// A byte range of a file, read by the core itself (a local pack): no buffer crosses from JS.
#[napi(object)]
pub struct DecodeFileJs {
    pub path: JsPath,
    pub offset: f64,
    pub length: f64,
}

#[napi(object)]
pub struct DecodeRequestJs {
    /// The bytes the blob offsets refer to; or else `file`.
    pub data: Option<Uint8Array>,
    pub file: Option<DecodeFileJs>,
    pub blobs: Vec<DecodeBlobJs>,
    pub seal: SealSpecJs,
    pub codec: String,
    pub hash: String,
}

#[napi(object, object_from_js = false)]
pub struct DecodeResultJs {
    pub plaintexts: Vec<Option<Bytes>>,
    pub errors: Vec<Option<ErrorInfo>>,
}

struct Decoder {
    sealer: Sealer,
    codec: Codec,
    hash: HashAlgo,
}

/// Reads `file`'s range; a file that ends early gives what it has (the blobs beyond its end then
/// fail one by one, as with a short download).
fn read_range(file: &DecodeFileJs) -> CoreResult<Vec<u8>> {
    let name = display(bytes_of(&file.path));
    let valid = |v: f64| v >= 0.0 && v.fract() == 0.0 && v <= (1u64 << 53) as f64;
    if !valid(file.offset) || !valid(file.length) || file.length > (1u64 << 31) as f64 {
        return Err(CoreErr::inval(format!("bad range {}+{} of {name}", file.offset, file.length)));
    }
    let f = std::fs::File::open(to_path(&file.path)).map_err(|e| CoreErr::new(Code::IoRead, format!("cannot open {name}: {e}")).with_subject(name.clone()))?;
    let mut buf = vec![0u8; file.length as usize];
    let mut filled = 0;
    while filled < buf.len() {
        match f.read_at(&mut buf[filled..], file.offset as u64 + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(CoreErr::new(Code::IoRead, format!("cannot read {name}: {e}")).with_subject(name)),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

fn pwrite_all(fd: i32, mut data: &[u8], mut pos: u64) -> std::io::Result<()> {
    while !data.is_empty() {
        // SAFETY: data is a live slice of data.len() bytes; pwrite does not retain the pointer.
        let n = unsafe { libc::pwrite(fd, data.as_ptr().cast(), data.len(), pos as libc::off_t) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "pwrite wrote nothing"));
        }
        data = &data[n as usize..];
        pos += n as u64;
    }
    Ok(())
}

/// Buffers one decode job reuses from blob to blob when the plaintexts go to files: allocating
/// (and faulting in) fresh megabytes per blob cost more than the copy they hold.
#[derive(Default)]
struct Scratch {
    opened: Vec<u8>,
    plain: Vec<u8>,
}

impl Decoder {
    fn one(&self, data: &[u8], blob: &DecodeBlobJs, scratch: &mut Scratch) -> CoreResult<Option<Vec<u8>>> {
        let subject = hex(&blob.id);
        let tag = |e: CoreErr| if e.subject.is_none() { e.with_subject(subject.clone()) } else { e };
        let (offset, length, raw) = (blob.offset, blob.length, blob.raw_length);
        let valid = |v: f64| v >= 0.0 && v.fract() == 0.0;
        if !valid(offset) || !valid(length) || !valid(raw) || offset + length > data.len() as f64 {
            return Err(tag(CoreErr::inval(format!(
                "blob range {offset}+{length} is outside the {} bytes given",
                data.len()
            ))));
        }
        if blob.id.len() != 32 {
            return Err(tag(CoreErr::inval(format!("a blob id is 32 bytes, got {}", blob.id.len()))));
        }
        // Plaintexts handed to JavaScript must be owned; those written to files need not be.
        let to_files = blob.targets.is_some();
        let Scratch { opened: open_buf, plain: plain_buf } = scratch;
        let sealed = &data[offset as usize..(offset + length) as usize];
        // Unsealed blobs (ghostsnap opens the whole pack data section first) are read in place.
        let opened: Cow<[u8]> = match self.sealer {
            Sealer::None => Cow::Borrowed(sealed),
            _ if to_files => {
                let n = self.sealer.opened_len(sealed.len()).map_err(tag)?;
                if open_buf.len() < n {
                    open_buf.resize(n, 0);
                }
                self.sealer.open_into(sealed, &mut open_buf[..n]).map_err(tag)?;
                Cow::Borrowed(&open_buf[..n])
            }
            _ => Cow::Owned(self.sealer.open(sealed).map_err(tag)?),
        };
        let plain: Cow<[u8]> = if blob.compressed {
            if to_files && raw > 0.0 && matches!(self.codec, Codec::Zstd) {
                zstd_decompress_exact_into(&opened, raw as usize, plain_buf).map_err(tag)?;
                Cow::Borrowed(&plain_buf[..])
            } else if raw > 0.0 {
                Cow::Owned(decompress(self.codec, &opened, raw as i64, None).map_err(tag)?)
            } else {
                Cow::Owned(decompress(self.codec, &opened, -1, Some(UNKNOWN_RAW_MAX)).map_err(tag)?)
            }
        } else {
            if raw > 0.0 && opened.len() as f64 != raw {
                return Err(tag(CoreErr::new(
                    Code::Corrupt,
                    format!("blob is {} bytes, expected {raw}", opened.len()),
                )));
            }
            opened
        };
        if self.hash.digest(&plain)[..] != blob.id[..] {
            return Err(tag(CoreErr::new(Code::Hash, format!("plaintext does not hash to {subject}"))));
        }
        match &blob.targets {
            Some(targets) => {
                for t in targets {
                    if !(t.position >= 0.0 && t.position.fract() == 0.0) {
                        return Err(tag(CoreErr::inval(format!("bad target position {}", t.position))));
                    }
                    pwrite_all(t.fd, &plain, t.position as u64).map_err(|e| {
                        CoreErr::new(Code::Io, format!("cannot write blob {subject} to fd {} at {}: {e}", t.fd, t.position))
                            .with_subject(format!("fd {}", t.fd))
                    })?;
                }
                Ok(None)
            }
            None => Ok(Some(plain.into_owned())),
        }
    }
}

#[napi(js_name = "decodeBlobs", catch_unwind)]
pub fn decode_blobs<'env>(env: &'env Env, request: DecodeRequestJs) -> Result<Object<'env>> {
    let decoder = Decoder {
        sealer: Sealer::from_js(&request.seal)?,
        codec: Codec::parse(&request.codec)?,
        hash: HashAlgo::parse(&request.hash)?,
    };
    let DecodeRequestJs { data, file, blobs, .. } = request;
    if data.is_none() == file.is_none() {
        return Err(CoreErr::inval("decodeBlobs needs either data or file").into());
    }
    pool::spawn(env, move || {
        let mut result = DecodeResultJs { plaintexts: Vec::with_capacity(blobs.len()), errors: Vec::with_capacity(blobs.len()) };
        let read;
        let bytes: &[u8] = match (&data, &file) {
            (Some(d), _) => d,
            (None, Some(f)) => match read_range(f) {
                Ok(buf) => {
                    read = buf;
                    &read
                }
                Err(e) => {
                    for _ in &blobs {
                        result.plaintexts.push(None);
                        result.errors.push(Some(e.info()));
                    }
                    return Ok(result);
                }
            },
            (None, None) => unreachable!("checked above"),
        };
        let mut scratch = Scratch::default();
        for blob in &blobs {
            match decoder.one(bytes, blob, &mut scratch) {
                Ok(p) => {
                    result.plaintexts.push(p.map(Bytes::from));
                    result.errors.push(None);
                }
                Err(e) => {
                    result.plaintexts.push(None);
                    result.errors.push(Some(e.info()));
                }
            }
        }
        Ok(result)
    })
}
