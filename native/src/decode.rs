//! decodeBlobs: open, decompress and hash-check the blobs of one pack range, optionally
//! writing each plaintext straight to its target files. One blob failing does not stop the rest.

use crate::compress::{decompress, zstd_decompress_exact_into, Codec};
use crate::error::{Code, CoreErr, CoreResult, ErrorInfo};
use crate::hash::HashAlgo;
use crate::pool;
use crate::seal::{SealSpecJs, Sealer};
use crate::bytes::{le_f64s, le_u32s, Bytes};
use napi::bindgen_prelude::{Object, Uint8Array};
use napi::{Env, Result};
use napi_derive::napi;
use crate::beneath::Beneath;
use crate::fs::{create_for_writing, finish_by_fd, metadata_of, FinishRequestJs};
use crate::paths::{bytes_of, display, path_of, JsPath};
use std::borrow::Cow;
use std::os::unix::fs::FileExt;

/// Bound of a compressed blob whose plaintext length is unknown (chunks are at most 16 MiB).
const UNKNOWN_RAW_MAX: usize = 64 << 20;

/// One blob of a request, unpacked from `DecodeBlobsJs`.
pub(crate) struct BlobSpec {
    pub offset: f64,
    pub length: f64,
    pub raw_length: f64,
    pub compressed: bool,
    pub id: Vec<u8>,
    /// (fd, position) per target, as JavaScript numbers (checked when used); None: the
    /// plaintext is returned instead.
    pub targets: Option<Vec<(f64, f64)>>,
}

/// The blobs of one decodeBlobs call, packed: a napi object per blob and target cost the
/// JavaScript thread a property read per field (a 56k-file restore's thread 1.77 -> 1.68 CPU-s
/// packed). Little-endian:
/// `places` offset, length, rawLength (f64 each) per blob; `flags` one byte per blob (1 =
/// compressed, 2 = has targets); `ids` the ids one after the other and `idEnds` where each ends
/// (u32); `targetCounts` per blob (u32) and `targets` fd and position (f64, f64) per target.
#[napi(object)]
pub struct DecodeBlobsJs {
    pub places: Uint8Array,
    pub flags: Uint8Array,
    pub ids: Uint8Array,
    pub id_ends: Uint8Array,
    pub target_counts: Uint8Array,
    pub targets: Uint8Array,
}

impl DecodeBlobsJs {
    fn unpack(&self) -> CoreResult<Vec<BlobSpec>> {
        let n = self.flags.len();
        let bad = || CoreErr::inval("decodeBlobs: the packed blob fields do not describe the same blobs");
        if self.places.len() != 24 * n || self.id_ends.len() != 4 * n || self.target_counts.len() != 4 * n {
            return Err(bad());
        }
        let places: Vec<f64> = le_f64s(&self.places).collect();
        let targets: Vec<f64> = le_f64s(&self.targets).collect();
        let (mut id_at, mut target_at) = (0usize, 0usize);
        let mut blobs = Vec::with_capacity(n);
        for (i, (id_end, count)) in le_u32s(&self.id_ends).zip(le_u32s(&self.target_counts)).enumerate() {
            let flags = self.flags[i];
            if id_end < id_at || id_end > self.ids.len() {
                return Err(bad());
            }
            let blob_targets = if flags & 2 != 0 {
                let end = target_at.checked_add(2 * count).filter(|&e| e <= targets.len()).ok_or_else(bad)?;
                let list = targets[target_at..end].chunks_exact(2).map(|t| (t[0], t[1])).collect();
                target_at = end;
                Some(list)
            } else {
                None
            };
            blobs.push(BlobSpec {
                offset: places[3 * i],
                length: places[3 * i + 1],
                raw_length: places[3 * i + 2],
                compressed: flags & 1 != 0,
                id: self.ids[id_at..id_end].to_vec(),
                targets: blob_targets,
            });
            id_at = id_end;
        }
        Ok(blobs)
    }
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
    pub blobs: DecodeBlobsJs,
    /// Files the job creates, writes (targets whose fd is `LOCAL_FILE_BASE + index`) and
    /// finishes itself: one crossing for what took three (createFiles, decodeBlobs, finishFiles).
    pub files: Option<Vec<FinishRequestJs>>,
    /// The restore target `files` are created beneath (required with them).
    pub root: Option<JsPath>,
    pub seal: SealSpecJs,
    pub codec: String,
    pub hash: String,
}

#[napi(object, object_from_js = false)]
pub struct DecodeResultJs {
    pub plaintexts: Vec<Option<Bytes>>,
    pub errors: Vec<Option<ErrorInfo>>,
    /// Per request file: how its creation and finishing went.
    pub files: Vec<LocalFileResultJs>,
}

/// A file the job created: errno 0 and the problems of setting its metadata (empty when none)
/// once all its blobs were written; closed without metadata when one of them failed (that
/// blob's error says why). errno set: not created, nothing written.
#[napi(object, object_from_js = false)]
pub struct LocalFileResultJs {
    pub errno: i32,
    pub message: Option<String>,
    pub problems: Vec<String>,
}

/// Target fds from this value on name the request's `files` (fd - LOCAL_FILE_BASE): far above
/// any descriptor, and negative fds stay invalid.
const LOCAL_FILE_BASE: f64 = (1u64 << 40) as f64;

/// Creates the request's files and points the targets naming them at their descriptors
/// (dropping targets of files that could not be created). Per blob, the files it writes.
fn create_local_files(mut target: Option<&mut Beneath>, files: &[FinishRequestJs], blobs: &mut [BlobSpec], results: &mut Vec<LocalFileResultJs>) -> (Vec<i32>, Vec<Vec<usize>>) {
    let mut fds = Vec::with_capacity(files.len());
    for f in files {
        let Some(target) = target.as_deref_mut() else { break };
        let created = create_for_writing(target, bytes_of(&f.path));
        fds.push(created.fd);
        results.push(LocalFileResultJs { errno: created.errno, message: created.message, problems: Vec::new() });
    }
    let mut writes = Vec::with_capacity(blobs.len());
    for blob in blobs.iter_mut() {
        let mut mine = Vec::new();
        if let Some(targets) = blob.targets.as_mut() {
            targets.retain_mut(|(fd, _)| {
                if *fd < LOCAL_FILE_BASE {
                    return true;
                }
                let k = *fd - LOCAL_FILE_BASE;
                if k.fract() != 0.0 || k >= fds.len() as f64 {
                    *fd = f64::NAN; // refused as a bad target fd
                    return true;
                }
                let k = k as usize;
                mine.push(k);
                *fd = fds[k] as f64;
                fds[k] >= 0
            });
        }
        writes.push(mine);
    }
    (fds, writes)
}

pub(crate) struct Decoder<S: std::ops::Deref<Target = Sealer> = Box<Sealer>> {
    pub sealer: S,
    pub codec: Codec,
    pub hash: HashAlgo,
}

/// A local file's range is read in pieces of this size (or one blob, when larger) into a buffer
/// the job reuses: reading a whole 16 MiB pack range at once held that much per job, and with
/// four jobs and the allocator keeping freed blocks, ~100 MB more resident during a restore.
/// 1 MiB pieces restored /usr ~0.1 s faster than 4 MiB ones (each job zero-fills and faults in
/// less; 512 KiB was no different).
const READ_PIECE: usize = 1 << 20;

/// The range of a local file that blob offsets refer to, read piece by piece. A file that ends
/// early fails the blobs past its end only (as with a short download); a read error fails the
/// blobs of that piece.
pub(crate) struct RangeReader {
    file: std::fs::File,
    name: String,
    start: u64,
    len: u64,
    /// Reused from piece to piece; only `buf[..filled]` holds data.
    buf: Vec<u8>,
    filled: usize,
    /// Range offset of buf[0].
    buf_at: u64,
}

impl RangeReader {
    fn open(file: &DecodeFileJs, buf: Vec<u8>) -> CoreResult<Self> {
        Self::open_path(bytes_of(&file.path), file.offset, file.length, buf)
    }

    /// `length` bytes of the file at `path` from `offset`, read through `buf`.
    pub(crate) fn open_path(path: &[u8], offset: f64, length: f64, buf: Vec<u8>) -> CoreResult<Self> {
        let name = display(path);
        if !whole_number(offset) || !whole_number(length) || length > (1u64 << 31) as f64 {
            return Err(CoreErr::inval(format!("bad range {offset}+{length} of {name}")));
        }
        let f = std::fs::File::open(path_of(path)).map_err(|e| CoreErr::new(Code::IoRead, format!("cannot open {name}: {e}")).with_subject(name.clone()))?;
        Ok(RangeReader { file: f, name, start: offset as u64, len: length as u64, buf, filled: 0, buf_at: 0 })
    }

    /// The buffer, for the next reader.
    pub(crate) fn into_buf(self) -> Vec<u8> {
        self.buf
    }

    /// Bytes `offset..offset+length` of the range (`end` is their sum, checked by the caller).
    pub(crate) fn get(&mut self, offset: u64, length: u64, end: u64) -> CoreResult<&[u8]> {
        let at = self.fill(offset, length, end)?;
        Ok(&self.buf[at..at + length as usize])
    }

    /// As get, to be opened where it lies.
    pub(crate) fn get_mut(&mut self, offset: u64, length: u64, end: u64) -> CoreResult<&mut [u8]> {
        let at = self.fill(offset, length, end)?;
        Ok(&mut self.buf[at..at + length as usize])
    }

    /// Reads the piece holding `offset..end` unless the buffer holds it; its position in the buffer.
    fn fill(&mut self, offset: u64, length: u64, end: u64) -> CoreResult<usize> {
        if !(offset >= self.buf_at && end <= self.buf_at + self.filled as u64) {
            let want = (length as usize).max(READ_PIECE.min((self.len - offset) as usize));
            if self.buf.len() < want {
                self.buf.resize(want, 0);
            }
            self.buf_at = offset;
            self.filled = 0;
            while self.filled < want {
                match self.file.read_at(&mut self.buf[self.filled..want], self.start + offset + self.filled as u64) {
                    Ok(0) => break,
                    Ok(n) => self.filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.filled = 0;
                        return Err(CoreErr::new(Code::IoRead, format!("cannot read {}: {e}", self.name)).with_subject(self.name.clone()));
                    }
                }
            }
            if (self.filled as u64) < length {
                return Err(CoreErr::inval(format!("blob range {offset}+{length} is outside the {} bytes the file has", offset + self.filled as u64)));
            }
        }
        Ok((offset - self.buf_at) as usize)
    }
}

fn whole_number(v: f64) -> bool {
    v >= 0.0 && v.fract() == 0.0 && v <= (1u64 << 53) as f64
}

/// What the blob offsets of one request refer to: bytes from JavaScript, or a local file's range.
enum BlobBytes<'a> {
    Data(&'a [u8]),
    File(RangeReader),
}

impl BlobBytes<'_> {
    /// The sealed bytes of `blob`, after checking its range against what the request gave.
    fn sealed(&mut self, blob: &BlobSpec) -> CoreResult<&[u8]> {
        let (offset, length) = (blob.offset, blob.length);
        let given = match self {
            BlobBytes::Data(d) => d.len() as u64,
            BlobBytes::File(r) => r.len,
        };
        let end = if whole_number(offset) && whole_number(length) { (offset as u64).checked_add(length as u64).filter(|&e| e <= given) } else { None };
        let Some(end) = end else {
            return Err(CoreErr::inval(format!("blob range {offset}+{length} is outside the {given} bytes given")));
        };
        match self {
            BlobBytes::Data(d) => Ok(&d[offset as usize..end as usize]),
            BlobBytes::File(r) => r.get(offset as u64, length as u64, end),
        }
    }
}

pub(crate) fn hex(id: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    id.iter().flat_map(|&b| [DIGITS[usize::from(b >> 4)] as char, DIGITS[usize::from(b & 15)] as char]).collect()
}

pub(crate) fn pwrite_all(fd: i32, mut data: &[u8], mut pos: u64) -> std::io::Result<()> {
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
pub(crate) struct Scratch {
    opened: Vec<u8>,
    plain: Vec<u8>,
}

/// A job's read buffer and scratch, kept by its core thread for the next job. Fresh ones per
/// job (a restore runs ~5k) were zeroed and faulted in every time, and given back to the kernel
/// after: ~2 % of a restore's CPU in page faults, page clearing and memset.
#[derive(Default)]
pub(crate) struct DecodeBuffers {
    pub read: Vec<u8>,
    pub scratch: Scratch,
}

/// Buffers up to the largest blob restic's chunker makes (8 MiB, plus its seal) are kept. Kept
/// only up to a read piece (1 MiB), every job with a larger blob faulted its buffers in afresh:
/// a restore of the bench corpus faulted ~150k pages instead of ~80k, and on a VM that hands
/// freed memory back to its host (virtio-balloon free page reporting) each such fault costs the
/// host a page too. The restore's peak RSS rose ~7 MiB for it; a restore reads into `read` and
/// opens there (Decoder::plaintext_in_place), so `opened` stays empty on that path.
const KEPT_BUFFER_MAX: usize = 9 << 20;

thread_local! {
    static KEPT_DECODE_BUFFERS: std::cell::RefCell<DecodeBuffers> = std::cell::RefCell::default();
}

impl DecodeBuffers {
    pub(crate) fn take() -> Self {
        KEPT_DECODE_BUFFERS.with(|kept| std::mem::take(&mut *kept.borrow_mut()))
    }

    pub(crate) fn keep(self) {
        let small = |v: Vec<u8>| if v.capacity() <= KEPT_BUFFER_MAX { v } else { Vec::new() };
        let kept = DecodeBuffers { read: small(self.read), scratch: Scratch { opened: small(self.scratch.opened), plain: small(self.scratch.plain) } };
        KEPT_DECODE_BUFFERS.with(|slot| *slot.borrow_mut() = kept);
    }
}

impl<S: std::ops::Deref<Target = Sealer>> Decoder<S> {
    /// Opens, decompresses and checks one blob whose sealed bytes are `sealed`.
    fn sealed(&self, sealed: &[u8], blob: &BlobSpec, scratch: &mut Scratch) -> CoreResult<Option<Vec<u8>>> {
        let tag = |e: CoreErr| if e.subject.is_none() { e.with_subject(hex(&blob.id)) } else { e };
        // Plaintexts handed to JavaScript must be owned; those written to files need not be.
        let plain = self.plaintext(sealed, &blob.id, blob.raw_length, blob.compressed, blob.targets.is_some(), scratch)?;
        match &blob.targets {
            Some(targets) => {
                for &(fd, position) in targets {
                    if !(position >= 0.0 && position.fract() == 0.0) {
                        return Err(tag(CoreErr::inval(format!("bad target position {position}"))));
                    }
                    if !(fd >= 0.0 && fd.fract() == 0.0 && fd <= i32::MAX as f64) {
                        return Err(tag(CoreErr::inval(format!("bad target fd {fd}"))));
                    }
                    let fd = fd as i32;
                    pwrite_all(fd, &plain, position as u64).map_err(|e| {
                        CoreErr::new(Code::Io, format!("cannot write blob {} to fd {fd} at {position}: {e}", hex(&blob.id))).with_subject(format!("fd {fd}"))
                    })?;
                }
                Ok(None)
            }
            None => Ok(Some(plain.into_owned())),
        }
    }

    /// Opens, decompresses and hash-checks one blob whose sealed bytes are `sealed`. With
    /// `borrowed`, the plaintext may be left in `scratch` (it is written out, not kept).
    pub(crate) fn plaintext<'a>(&self, sealed: &'a [u8], id: &[u8], raw: f64, compressed: bool, borrowed: bool, scratch: &'a mut Scratch) -> CoreResult<Cow<'a, [u8]>> {
        let tag = |e: CoreErr| if e.subject.is_none() { e.with_subject(hex(id)) } else { e };
        check_blob(id, raw).map_err(tag)?;
        let to_files = borrowed;
        let Scratch { opened: open_buf, plain: plain_buf } = scratch;
        // Unsealed blobs (ghostsnap opens the whole pack data section first) are read in place.
        let opened: Cow<[u8]> = match *self.sealer {
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
        self.checked(opened, id, raw, compressed, to_files, plain_buf).map_err(tag)
    }

    /// As plaintext for a blob written to files, opened where it lies when the seal allows: one
    /// buffer and one pass over the blob fewer than opening it into the scratch.
    pub(crate) fn plaintext_in_place<'a>(&self, sealed: &'a mut [u8], id: &[u8], raw: f64, compressed: bool, scratch: &'a mut Scratch) -> CoreResult<Cow<'a, [u8]>> {
        let tag = |e: CoreErr| if e.subject.is_none() { e.with_subject(hex(id)) } else { e };
        check_blob(id, raw).map_err(tag)?;
        match self.sealer.open_in_place(sealed) {
            Some(range) => {
                let range = range.map_err(tag)?;
                let opened: &'a [u8] = &sealed[range];
                self.checked(Cow::Borrowed(opened), id, raw, compressed, true, &mut scratch.plain).map_err(tag)
            }
            None => self.plaintext(sealed, id, raw, compressed, true, scratch),
        }
    }

    /// The plaintext of an opened blob, decompressed (into `plain_buf` for files) and checked
    /// against its id.
    fn checked<'a>(&self, opened: Cow<'a, [u8]>, id: &[u8], raw: f64, compressed: bool, to_files: bool, plain_buf: &'a mut Vec<u8>) -> CoreResult<Cow<'a, [u8]>> {
        let plain: Cow<[u8]> = if compressed {
            if to_files && raw > 0.0 && matches!(self.codec, Codec::Zstd) {
                zstd_decompress_exact_into(&opened, raw as usize, plain_buf)?;
                Cow::Borrowed(&plain_buf[..])
            } else if raw > 0.0 {
                Cow::Owned(decompress(self.codec, &opened, raw as i64, None)?)
            } else {
                Cow::Owned(decompress(self.codec, &opened, -1, Some(UNKNOWN_RAW_MAX))?)
            }
        } else {
            if raw > 0.0 && opened.len() as f64 != raw {
                return Err(CoreErr::new(Code::Corrupt, format!("blob is {} bytes, expected {raw}", opened.len())));
            }
            opened
        };
        if self.hash.digest(&plain)[..] != id[..] {
            return Err(CoreErr::new(Code::Hash, format!("plaintext does not hash to {}", hex(id))));
        }
        Ok(plain)
    }
}

/// The checks every blob's request passes before its bytes are looked at. The id's hex is made
/// only when something failed: formatted for every blob it was 0.5 % of a restore's CPU.
fn check_blob(id: &[u8], raw: f64) -> CoreResult<()> {
    if !(raw >= 0.0 && raw.fract() == 0.0) {
        return Err(CoreErr::inval(format!("bad raw length {raw}")));
    }
    if id.len() != 32 {
        return Err(CoreErr::inval(format!("a blob id is 32 bytes, got {}", id.len())));
    }
    Ok(())
}

#[napi(js_name = "decodeBlobs", catch_unwind)]
pub fn decode_blobs<'env>(env: &'env Env, request: DecodeRequestJs) -> Result<Object<'env>> {
    let decoder = Decoder {
        sealer: Box::new(Sealer::from_js(&request.seal)?),
        codec: Codec::parse(&request.codec)?,
        hash: HashAlgo::parse(&request.hash)?,
    };
    let mut blobs = request.blobs.unpack()?;
    let DecodeRequestJs { data, file, files, root, .. } = request;
    if data.is_none() == file.is_none() {
        return Err(CoreErr::inval("decodeBlobs needs either data or file").into());
    }
    let files = files.unwrap_or_default();
    if !files.is_empty() && root.is_none() {
        return Err(CoreErr::inval("decodeBlobs: files need the restore target (root)").into());
    }
    pool::spawn(env, move || {
        let mut result = DecodeResultJs { plaintexts: Vec::with_capacity(blobs.len()), errors: Vec::with_capacity(blobs.len()), files: Vec::with_capacity(files.len()) };
        let mut target = match &root {
            Some(root) if !files.is_empty() => Some(Beneath::open(bytes_of(root)).map_err(|e| CoreErr::new(Code::Io, e.to_string()))?),
            _ => None,
        };
        let (fds, writes) = create_local_files(target.as_mut(), &files, &mut blobs, &mut result.files);
        let mut failed = vec![false; files.len()];
        let DecodeBuffers { mut read, mut scratch } = DecodeBuffers::take();
        let mut bytes = match (&data, &file) {
            (Some(d), _) => Ok(BlobBytes::Data(d)),
            (None, Some(f)) => RangeReader::open(f, std::mem::take(&mut read)).map(BlobBytes::File),
            (None, None) => unreachable!("checked above"),
        };
        match &mut bytes {
            Err(e) => {
                for _ in &blobs {
                    result.plaintexts.push(None);
                    result.errors.push(Some(e.info()));
                }
                failed.fill(true);
            }
            Ok(bytes) => {
                for (blob, writes) in blobs.iter().zip(&writes) {
                    let outcome = match bytes.sealed(blob) {
                        Ok(sealed) => decoder.sealed(sealed, blob, &mut scratch),
                        Err(e) if e.subject.is_some() => Err(e),
                        Err(e) => Err(e.with_subject(hex(&blob.id))),
                    };
                    match outcome {
                        Ok(p) => {
                            result.plaintexts.push(p.map(Bytes::from));
                            result.errors.push(None);
                        }
                        Err(e) => {
                            result.plaintexts.push(None);
                            result.errors.push(Some(e.info()));
                            for &k in writes {
                                failed[k] = true;
                            }
                        }
                    }
                }
            }
        }
        if let Ok(BlobBytes::File(reader)) = bytes {
            read = reader.buf;
        }
        DecodeBuffers { read, scratch }.keep();
        for (k, request) in files.iter().enumerate() {
            let fd = fds[k];
            if fd < 0 {
                continue;
            }
            if failed[k] {
                // SAFETY: fd was opened by this job and is closed exactly once, here.
                unsafe { libc::close(fd) };
            } else {
                result.files[k].problems = finish_by_fd(&metadata_of(request), fd);
            }
        }
        Ok(result)
    })
}
