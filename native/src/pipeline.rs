//! processFiles: the streaming backup pipeline. Per file: read through a refillable buffer
//! (never the whole file) piece by piece, cutting chunks and hashing them as each piece arrives,
//! then compress + seal the chunks not yet in the dedup set. Per-file failures are returned,
//! not thrown.

use crate::blobset::{NativeBlobSet, SharedIds};
use crate::packwriter::NativePackWriter;
use crate::chunker::{Chunker, ChunkerSpecJs, CutScan};
use crate::compress::{zstd_compress_into, CompressionSpecJs, Compressor};
use crate::error::{Code, CoreErr, CoreResult, ErrorInfo};
use crate::hash::{HashAlgo, Hasher};
use crate::paths::{display, path_of};
use napi::bindgen_prelude::Uint8Array;
use crate::bytes::{le_f64s, le_u32s, Bytes};
use crate::pool;
use crate::seal::{SealSpecJs, Sealer};
use napi::bindgen_prelude::Object;
use napi::{Env, Result};
use napi_derive::napi;
use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex, OnceLock};

/// Bytes read ahead beyond one maximal chunk. Compaction moves the undecided tail (about half an
/// average chunk) per refill. A long file holds two such buffers; 2 MiB instead of 8 lowered the
/// peak of a backup of three large files (0.75 GB) by 20 MB at the same speed.
const READ_AHEAD: usize = 2 << 20;
/// A window is read in pieces of this size, each cut (and for files read on one thread, hashed)
/// while the cache holds it: read whole (10 MiB), cut, then hashed, a window had left the cache
/// by the time it was hashed (SHA-256 here: ~1.8 GB/s from the cache, ~1.1 from memory).
const READ_PIECE: usize = 256 << 10;
/// Files at least this long (from the requested offset) are read and cut on one thread while a
/// second thread encodes (see segment_overlapped for which of them hashes); shorter ones are not
/// worth the extra thread.
const OVERLAP_MIN: u64 = 64 << 20;
/// New chunks in one window worth encoding on several threads (thread start-up is ~20 µs).
const PARALLEL_ENCODE_MIN: usize = 1 << 20;

/// The files of one processFiles call, packed like its results (napi objects per file cost the
/// JavaScript thread ~5 µs each): the paths' bytes one after the other, where each ends (u32),
/// and each file's offset and maxBytes (f64, f64).
#[napi(object)]
pub struct FileRequestsJs {
    pub paths: Uint8Array,
    pub ends: Uint8Array,
    pub ranges: Uint8Array,
}

#[napi(object)]
pub struct PipelineParamsJs {
    pub chunker: ChunkerSpecJs,
    pub hash: String,
    pub compression: CompressionSpecJs,
    pub seal: SealSpecJs,
}

/// One new blob of a segment (what the segment hands back in `FilesResultJs`).
struct EncodedBlob {
    chunk_index: u32,
    compressed: bool,
    /// Empty when the blob went to the pack writer instead.
    data: Vec<u8>,
    /// Written to the pack writer (its sealed length).
    stored_length: Option<u32>,
}

/// The results of one processFiles call, packed: a few buffers instead of objects per file, chunk
/// and blob (building those through napi cost the JavaScript thread ~15 µs per small file).
/// Little-endian numbers; src/native/native-core.ts (`fileResults`) unpacks them.
#[napi(object, object_from_js = false)]
pub struct FilesResultJs {
    /// Per file: chunk count, blob count (u32, u32).
    pub counts: Bytes,
    /// Per chunk, files in order: its length (u32).
    pub lengths: Bytes,
    /// Per chunk: its id (32 bytes).
    pub ids: Bytes,
    /// Per blob: its chunk's index within the file, flags (1 = compressed, 2 = stored by the pack
    /// writer), its sealed length there (u32 each).
    pub blobs: Bytes,
    /// Per blob not stored by the pack writer, in order: its bytes.
    pub data: Vec<Bytes>,
    /// Per file: the offset after its last chunk (f64).
    pub next_offsets: Bytes,
    /// Per file: 1 when its end was reached.
    pub eofs: Bytes,
    /// Per file: why it could not be read (its chunks are then not its content, but its blobs
    /// must be stored all the same).
    pub errors: Vec<Option<ErrorInfo>>,
}

#[derive(Default)]
struct FilesResult {
    counts: Vec<u8>,
    lengths: Vec<u8>,
    ids: Vec<u8>,
    blobs: Vec<u8>,
    data: Vec<Bytes>,
    next_offsets: Vec<u8>,
    eofs: Vec<u8>,
    errors: Vec<Option<ErrorInfo>>,
}

impl FilesResult {
    fn push(&mut self, seg: Segment, error: Option<ErrorInfo>, failed_at: u64) {
        // A failed file's chunks come too: the blobs it encoded take their ids and lengths.
        self.counts.extend_from_slice(&(seg.lengths.len() as u32).to_le_bytes());
        self.counts.extend_from_slice(&(seg.blobs.len() as u32).to_le_bytes());
        for l in &seg.lengths {
            self.lengths.extend_from_slice(&l.to_le_bytes());
        }
        self.ids.extend_from_slice(&seg.ids);
        for b in seg.blobs {
            let flags = u32::from(b.compressed) | if b.stored_length.is_some() { 2 } else { 0 };
            for n in [b.chunk_index, flags, b.stored_length.unwrap_or(0)] {
                self.blobs.extend_from_slice(&n.to_le_bytes());
            }
            if b.stored_length.is_none() {
                self.data.push(b.data.into());
            }
        }
        let (next, eof) = if error.is_some() { (failed_at as f64, false) } else { (seg.next_offset as f64, seg.eof) };
        self.next_offsets.extend_from_slice(&next.to_le_bytes());
        self.eofs.push(u8::from(eof));
        self.errors.push(error);
    }

    fn into_js(self) -> FilesResultJs {
        FilesResultJs {
            counts: self.counts.into(),
            lengths: self.lengths.into(),
            ids: self.ids.into(),
            blobs: self.blobs.into(),
            data: self.data,
            next_offsets: self.next_offsets.into(),
            eofs: self.eofs.into(),
            errors: self.errors,
        }
    }
}

pub struct Pipeline {
    pub chunker: Chunker,
    pub hash: HashAlgo,
    pub compressor: Compressor,
    pub sealer: Sealer,
    pub known: SharedIds,
    /// When set, new blobs are appended to its packs instead of being returned.
    pub writer: Option<NativePackWriter>,
}

/// What one request produced, in chunk order.
#[derive(Default)]
struct Segment {
    lengths: Vec<u32>,
    ids: Vec<u8>,
    blobs: Vec<EncodedBlob>,
    next_offset: u64,
    eof: bool,
}

/// Read buffers (one maximal chunk + READ_AHEAD) kept for reuse: allocating and faulting in
/// tens of MiB per file would cost more than reading a small file.
static SPARE_BUFFERS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
const SPARE_KEEP: usize = 8;

fn take_buffer(cap: usize) -> Vec<u8> {
    let mut spare = SPARE_BUFFERS.lock().unwrap_or_else(|e| e.into_inner());
    match spare.iter().position(|b| b.len() >= cap) {
        Some(i) => spare.swap_remove(i),
        None => vec![0u8; cap],
    }
}

/// One sealed blob in a pooled buffer: its first `len` bytes.
struct Encoded {
    compressed: bool,
    data: Vec<u8>,
    len: usize,
}

/// Buffers chunks are compressed and sealed into, kept for reuse: a fresh one per chunk (most
/// are 0.5-8 MiB) was a page fault per 4 KiB written, ~4% of a first backup's CPU.
struct BufferPool {
    kept: Mutex<Vec<Vec<u8>>>,
    /// Buffers kept at most.
    most: usize,
}

/// Buffers whose capacity grew beyond this for an unusually large chunk are not kept.
const POOLED_BUFFER_MAX: usize = 4 << 20;

impl BufferPool {
    const fn new(most: usize) -> Self {
        BufferPool { kept: Mutex::new(Vec::new()), most }
    }

    fn take(&self) -> Vec<u8> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default()
    }

    /// A buffer of at least `len` bytes; its length only grows (zeroing once what it adds), and
    /// the caller overwrites what it uses.
    fn take_len(&self, len: usize) -> Vec<u8> {
        let mut buf = self.take();
        if buf.len() < len {
            buf.resize(len, 0);
        }
        buf
    }

    fn give_back(&self, buf: Vec<u8>) {
        if buf.capacity() > POOLED_BUFFER_MAX {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() < self.most {
            kept.push(buf);
        }
    }
}

/// Compressed chunks, held only while each is sealed (written in their capacity: only what the
/// frame fills is touched). Most of the gain: first backup -0.3 CPU-s with 4 kept, +4 MB peak.
static PAYLOAD_BUFFERS: BufferPool = BufferPool::new(4);
/// Sealed blobs, held from encoding until stored in chunk order. Few kept: keeping 8 saved
/// little more time and raised the first backup's peak by ~10 MB.
static SEALED_BUFFERS: BufferPool = BufferPool::new(2);

/// What a kept buffer stays faulted in for: enough for most files without a page fault, while
/// a buffer a long file filled does not hold its 16 MiB for the rest of the run.
const SPARE_RESIDENT: usize = 1 << 20;

/// `touched`: how far this use wrote into the buffer (pages beyond it are not resident, as the
/// previous use's tail was released). Releasing only what was touched matters: a madvise call
/// costs a TLB flush on every core even for a range without pages, ~20 µs in a VM, which for
/// small files was more than reading them.
fn give_back(mut buf: Vec<u8>, touched: usize) {
    let mut spare = SPARE_BUFFERS.lock().unwrap_or_else(|e| e.into_inner());
    if spare.len() < SPARE_KEEP {
        trim_for_keeping(&mut buf, touched);
        spare.push(buf);
    }
}

/// Returns the pages of `buf` from SPARE_RESIDENT up to `touched` to the kernel (they read as
/// zeros when touched again, which a read buffer does not care about). Whole pages inside `buf`
/// only: a page the buffer shares with another allocation is never released.
fn trim_for_keeping(buf: &mut [u8], touched: usize) {
    const PAGE: usize = 4096;
    if touched <= SPARE_RESIDENT {
        return;
    }
    let base = buf.as_mut_ptr() as usize;
    let from = (base + SPARE_RESIDENT).div_ceil(PAGE) * PAGE;
    let to = ((base + touched.min(buf.len())).div_ceil(PAGE) * PAGE).min((base + buf.len()) / PAGE * PAGE);
    if to > from {
        // SAFETY: [from, to) lies inside `buf`, which we borrow mutably; MADV_DONTNEED on private
        // anonymous pages only replaces their contents with zeros.
        unsafe { libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_DONTNEED) };
    }
}

fn open_for_read(path: &std::path::Path) -> std::io::Result<File> {
    // O_NOATIME keeps backups from dirtying inodes; only the owner (or root) may use it.
    match std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOATIME).open(path) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => std::fs::File::open(path),
        other => other,
    }
}

/// One chunk cut from a window: its position and length there, and its id when the cutter
/// hashed it.
type Cut = (usize, usize, Option<[u8; 32]>);

/// Reads one file through a window buffer, decides its cut points and hashes the chunks.
struct Cutter<'a> {
    chunker: &'a Chunker,
    /// The current chunk's scan (where it stands in `chunker`'s search for a boundary)…
    scan: CutScan,
    /// …its hash so far, of its first `hashed` bytes (those certainly in it); None while the
    /// chunks are hashed by take_chunks instead.
    hasher: Option<Hasher>,
    algo: HashAlgo,
    hashed: usize,
    file: File,
    name: &'a str,
    /// File position of the next byte to read.
    file_pos: u64,
    eof: bool,
    offset: u64,
    max_bytes: u64,
    /// File position after the last chunk cut.
    next_offset: u64,
    stop: bool,
    /// A read that failed after chunks were cut in the same window: reported by the next call,
    /// once those chunks are stored.
    failed: Option<CoreErr>,
}

impl Cutter<'_> {
    fn io_err(&self, what: &str, e: std::io::Error) -> CoreErr {
        CoreErr::new(Code::IoRead, format!("cannot {what} {}: {e}", self.name)).with_subject(self.name.to_string())
    }

    fn pread(&self, buf: &mut [u8], pos: u64) -> CoreResult<usize> {
        loop {
            match self.file.read_at(buf, pos) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_err("read", e)),
                Ok(n) => return Ok(n),
            }
        }
    }

    /// Moves the undecided chunk (less than one maximal chunk) to the front of `buf`, then reads
    /// until `buf` is full or the file ends, cutting and hashing each piece as it arrives. The
    /// chunks cut are pushed to `cuts` as positions in `buf`: the caller stores them before the
    /// next call moves what they point at.
    ///
    /// `hash_here`: hash the chunks piece by piece (else take_chunks hashes them); the current
    /// chunk is then hashed from its start, whatever was done before.
    fn fill_and_cut(&mut self, buf: &mut [u8], start: &mut usize, end: &mut usize, cuts: &mut Vec<Cut>, hash_here: bool) -> CoreResult<()> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        if hash_here != self.hasher.is_some() {
            self.hasher = hash_here.then(|| Hasher::new(self.algo));
            self.hashed = 0;
        }
        if *start > 0 {
            buf.copy_within(*start..*end, 0);
            *end -= *start;
            *start = 0;
        }
        while !self.stop && !self.eof && *end < buf.len() {
            let to = (*end + READ_PIECE).min(buf.len());
            let n = match self.pread(&mut buf[*end..to], self.file_pos) {
                Ok(n) => n,
                Err(e) if cuts.is_empty() => return Err(e),
                Err(e) => {
                    self.failed = Some(e);
                    return Ok(());
                }
            };
            self.eof = n == 0;
            *end += n;
            self.file_pos += n as u64;
            self.cut(buf, start, *end, cuts);
        }
        Ok(())
    }

    /// Cuts every chunk that buf[start..end] decides and hashes what it holds of the next one.
    fn cut(&mut self, buf: &[u8], start: &mut usize, end: usize, cuts: &mut Vec<Cut>) {
        while !self.stop && *start < end {
            match self.chunker.find(&buf[*start..end], &mut self.scan, self.eof) {
                Ok(len) => {
                    let id = self.hasher.as_mut().map(|h| {
                        h.update(&buf[*start + self.hashed..*start + len]);
                        h.finish_reset()
                    });
                    cuts.push((*start, len, id));
                    *start += len;
                    self.hashed = 0;
                    self.scan = self.chunker.new_scan();
                    self.next_offset += len as u64;
                    self.stop = self.max_bytes > 0 && self.next_offset - self.offset >= self.max_bytes;
                }
                Err(certain) => {
                    if let Some(h) = self.hasher.as_mut().filter(|_| certain > self.hashed) {
                        h.update(&buf[*start + self.hashed..*start + certain]);
                        self.hashed = certain;
                    }
                    return;
                }
            }
        }
    }

    fn done(&self, start: usize, end: usize) -> bool {
        self.failed.is_none() && (self.stop || (self.eof && start == end))
    }

    /// Whether no byte follows the last chunk.
    fn at_eof(&self, start: usize, end: usize) -> CoreResult<bool> {
        Ok(start == end && (self.eof || self.pread(&mut [0u8; 1], self.next_offset)? == 0))
    }
}

impl Pipeline {
    /// Compresses (unless that does not pay) and seals one chunk into a buffer from the pool.
    fn encode(&self, chunk: &[u8]) -> CoreResult<Encoded> {
        let payload = match self.compressor {
            Compressor::Zstd { level, only_if_smaller } => {
                let mut buf = PAYLOAD_BUFFERS.take();
                let compressed = zstd_compress_into(chunk, level, &mut buf);
                let len = buf.len();
                if compressed.is_err() || (only_if_smaller && len >= chunk.len()) {
                    PAYLOAD_BUFFERS.give_back(buf);
                    compressed?;
                    None
                } else {
                    Some((buf, len))
                }
            }
            ref other => other.compress(chunk)?.map(|v| {
                let len = v.len();
                (v, len)
            }),
        };
        let plain = match &payload {
            Some((buf, len)) => &buf[..*len],
            None => chunk,
        };
        let len = self.sealer.sealed_len(plain.len());
        let mut data = SEALED_BUFFERS.take_len(len);
        let sealed = self.sealer.seal_into(plain, None, &mut data[..len]);
        let compressed = payload.is_some();
        if let Some((buf, _)) = payload {
            PAYLOAD_BUFFERS.give_back(buf);
        }
        sealed?;
        Ok(Encoded { compressed, data, len })
    }

    /// Records one chunk in the segment; true when its id is new to `known` (then it must be stored).
    fn note_chunk(&self, id: [u8; 32], len: usize, seg: &mut Segment) -> (u32, bool) {
        let index = seg.lengths.len() as u32;
        seg.lengths.push(len as u32);
        seg.ids.extend_from_slice(&id);
        let fresh = self.known.lock().insert(id);
        (index, fresh)
    }

    fn store(&self, id: [u8; 32], index: u32, raw_len: usize, encoded: Encoded, seg: &mut Segment) -> CoreResult<()> {
        let Encoded { compressed, data, len } = encoded;
        if let Some(writer) = &self.writer {
            let appended = writer.append(id, &data[..len], if compressed { raw_len as u32 } else { 0 });
            SEALED_BUFFERS.give_back(data);
            appended?;
            seg.blobs.push(EncodedBlob { chunk_index: index, compressed, data: Vec::new(), stored_length: Some(len as u32) });
        } else {
            let exact = data[..len].to_vec();
            SEALED_BUFFERS.give_back(data);
            seg.blobs.push(EncodedBlob { chunk_index: index, compressed, data: exact, stored_length: None });
        }
        Ok(())
    }

    /// Encodes the chunks of one window (hashed here unless the cutter did) that are new to
    /// `known`, on several threads when there are several: compression is the slow step (zlib-6
    /// ~60 MB/s, zstd-1 + sealing ~400 MB/s), and a large file is read one window after the
    /// other, so one thread would hold a single core while the others wait. Blobs are stored in
    /// chunk order all the same. Returns how many of them were new.
    fn take_chunks(&self, buf: &[u8], cuts: &[Cut], seg: &mut Segment) -> CoreResult<usize> {
        // Ids the cutter did not make: on several threads for a large window.
        let window: usize = cuts.iter().filter(|c| c.2.is_none()).map(|&(_, len, _)| len).sum();
        let hash_threads = if window >= PARALLEL_ENCODE_MIN && cuts.len() > 1 { encode_threads() } else { 1 };
        let ids = parallel_map(cuts, hash_threads, |&(at, len, id)| id.unwrap_or_else(|| self.hash.digest(&buf[at..at + len])));
        let mut fresh = Vec::new();
        for (&(at, len, _), id) in cuts.iter().zip(ids) {
            let (index, new) = self.note_chunk(id, len, seg);
            if new {
                fresh.push((id, index, at, len));
            }
        }
        let bytes: usize = fresh.iter().map(|&(_, _, _, len)| len).sum();
        let threads = if bytes >= PARALLEL_ENCODE_MIN { encode_threads() } else { 1 };
        // A few chunks per thread at a time, each group stored before the next is encoded: the
        // encoded copies held at once stay a few chunks, not a window's worth.
        for group in fresh.chunks(2 * threads) {
            let encoded = parallel_map(group, threads, |&(_, _, at, len)| self.encode(&buf[at..at + len]));
            for (&(id, index, _, len), result) in group.iter().zip(encoded) {
                self.store(id, index, len, result?, seg)?;
            }
        }
        Ok(fresh.len())
    }

    /// The segment read so far and the error that stopped it, if any.
    fn segment(&self, path: &std::path::Path, name: &str, offset: u64, max_bytes: u64) -> (Segment, Option<CoreErr>) {
        let _active = ActiveSegment::enter();
        let file = match open_for_read(path) {
            Ok(file) => file,
            Err(e) => return (Segment::default(), Some(CoreErr::new(Code::IoRead, format!("cannot open {name}: {e}")).with_subject(name))),
        };
        // SAFETY: posix_fadvise only reads its integer arguments (a read-ahead hint; failure is harmless).
        unsafe { libc::posix_fadvise(file.as_raw_fd(), offset as libc::off_t, 0, libc::POSIX_FADV_SEQUENTIAL) };
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let long = size.saturating_sub(offset) >= OVERLAP_MIN && (max_bytes == 0 || max_bytes >= OVERLAP_MIN);
        let mut cutter = Cutter {
            chunker: &self.chunker,
            scan: self.chunker.new_scan(),
            hasher: None,
            algo: self.hash,
            hashed: 0,
            file,
            name,
            file_pos: offset,
            eof: false,
            offset,
            max_bytes,
            next_offset: offset,
            stop: false,
            failed: None,
        };
        let cap = self.chunker.max_size() + READ_AHEAD;
        if long {
            self.segment_overlapped(&mut cutter, cap)
        } else {
            self.segment_serial(&mut cutter, cap)
        }
    }

    fn segment_serial(&self, cutter: &mut Cutter, cap: usize) -> (Segment, Option<CoreErr>) {
        let mut buf = take_buffer(cap);
        let mut seg = Segment::default();
        let mut touched = 0;
        let result = (|| {
            let (mut start, mut end) = (0usize, 0usize);
            let mut cuts = Vec::new();
            loop {
                cuts.clear();
                let filled = cutter.fill_and_cut(&mut buf[..cap], &mut start, &mut end, &mut cuts, true);
                touched = touched.max(end);
                filled?;
                self.take_chunks(&buf, &cuts, &mut seg)?;
                if cutter.done(start, end) {
                    break;
                }
            }
            seg.next_offset = cutter.next_offset;
            seg.eof = cutter.at_eof(start, end)?;
            Ok(())
        })();
        // A read that failed part-way may have filled more than `touched` says.
        give_back(buf, if result.is_err() { cap } else { touched });
        (seg, result.err())
    }

    /// For long files: this thread reads, cuts and (mostly) hashes while a helper thread
    /// deduplicates and encodes the previous window's chunks (two buffers alternate between
    /// them), so the two halves of the work overlap.
    fn segment_overlapped(&self, cutter: &mut Cutter, cap: usize) -> (Segment, Option<CoreErr>) {
        let (batch_tx, batch_rx) = mpsc::sync_channel::<(Vec<u8>, Vec<Cut>)>(1);
        let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
        free_tx.send(take_buffer(cap)).expect("receiver is alive");
        // Whether the helper's last window held nothing new: it then has time to hash.
        let nothing_new = AtomicBool::new(false);
        let nothing_new = &nothing_new;
        std::thread::scope(|scope| {
            let helper = scope.spawn(move || {
                pool::lower_priority();
                let mut seg = Segment::default();
                let mut failure = None;
                for (buf, cuts) in batch_rx {
                    if failure.is_none() {
                        match self.take_chunks(&buf, &cuts, &mut seg) {
                            Ok(fresh) => nothing_new.store(fresh == 0, Ordering::Relaxed),
                            Err(e) => failure = Some(e),
                        }
                    }
                    // The cutter may be gone already; the buffer is then returned by it.
                    let _ = free_tx.send(buf);
                }
                (seg, failure)
            });

            let mut buf = take_buffer(cap);
            let (mut start, mut end) = (0usize, 0usize);
            let cut_result = (|| -> CoreResult<bool> {
                loop {
                    let mut cuts = Vec::new();
                    // Hashed here, piece by piece while the cache holds them, unless this file
                    // is all there is to do and the helper has no encoding left to do: it then
                    // hashes on every core (a long, unchanged file ~1.2-1.4 GB/s, against ~0.8
                    // on this thread).
                    let helper_hashes = nothing_new.load(Ordering::Relaxed) && ACTIVE_SEGMENTS.load(Ordering::Relaxed) <= 1;
                    cutter.fill_and_cut(&mut buf[..cap], &mut start, &mut end, &mut cuts, !helper_hashes)?;
                    let done = cutter.done(start, end);
                    // Hand this window over and go on in a free buffer with the undecided tail.
                    let Ok(mut next) = free_rx.recv() else { return Ok(false) };
                    next[..end - start].copy_from_slice(&buf[start..end]);
                    end -= start;
                    start = 0;
                    let window = std::mem::replace(&mut buf, next);
                    if batch_tx.send((window, cuts)).is_err() {
                        return Ok(false);
                    }
                    if done {
                        return cutter.at_eof(start, end);
                    }
                }
            })();
            drop(batch_tx);
            let (seg, failure) = helper.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            // Long files fill their buffers.
            give_back(buf, cap);
            while let Ok(b) = free_rx.try_recv() {
                give_back(b, cap);
            }
            match (cut_result, failure) {
                (Err(e), _) | (_, Some(e)) => (seg, Some(e)),
                (Ok(eof), None) => (Segment { next_offset: cutter.next_offset, eof, ..seg }, None),
            }
        })
    }

    /// Reads one file (segment) into `out`. Chunks encoded before a failure are handed over with
    /// it: their ids are already in `known` (a concurrent call may rely on them), so the caller
    /// must store them.
    fn run(&self, path: &[u8], offset: u64, max_bytes: u64, out: &mut FilesResult) {
        let name = display(path);
        let (seg, failure) = self.segment(path_of(path), &name, offset, max_bytes);
        out.push(seg, failure.map(|e| e.info()), offset);
    }
}

/// Threads that encode one long file's chunks together (BOLT_CORE_THREADS caps it too). Worked
/// out once: available_parallelism reads the cgroup files under /proc and /sys on every call
/// (6% of a first backup's CPU when it was asked per file).
fn encode_threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let cap = std::env::var("BOLT_CORE_THREADS").ok().and_then(|v| v.parse::<usize>().ok()).filter(|&n| n > 0).unwrap_or(cores);
        cores.min(cap).clamp(1, 8)
    })
}

/// File segments being read, across calls.
static ACTIVE_SEGMENTS: AtomicUsize = AtomicUsize::new(0);

struct ActiveSegment;

impl ActiveSegment {
    fn enter() -> Self {
        ACTIVE_SEGMENTS.fetch_add(1, Ordering::Relaxed);
        ActiveSegment
    }
}

impl Drop for ActiveSegment {
    fn drop(&mut self) {
        ACTIVE_SEGMENTS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Encoder threads running beside the calls' own threads, across all calls: with several files
/// in flight the calls keep the cores busy already, and each extra thread holds a chunk, its
/// encoded copy and a compression context. At most cores - 1 at a time.
static EXTRA_ENCODERS: AtomicUsize = AtomicUsize::new(0);

struct ExtraEncoders(usize);

impl ExtraEncoders {
    fn claim(wanted: usize) -> Self {
        if wanted == 0 {
            return ExtraEncoders(0);
        }
        let limit = encode_threads().saturating_sub(1);
        let mut got = 0;
        let _ = EXTRA_ENCODERS.fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
            got = wanted.min(limit.saturating_sub(used));
            Some(used + got)
        });
        ExtraEncoders(got)
    }
}

impl Drop for ExtraEncoders {
    fn drop(&mut self) {
        EXTRA_ENCODERS.fetch_sub(self.0, Ordering::AcqRel);
    }
}

/// `f` over `items` on this thread and up to `threads - 1` extra ones; results in item order.
fn parallel_map<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let extra = ExtraEncoders::claim(threads.min(items.len()).saturating_sub(1));
    let threads = 1 + extra.0;
    if threads <= 1 {
        return items.iter().map(&f).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { return done };
            done.push((i, f(item)));
        }
    };
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads)
            .map(|_| {
                scope.spawn(|| {
                    pool::lower_priority();
                    work()
                })
            })
            .collect();
        let mut all = work();
        for helper in helpers {
            all.extend(helper.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        all
    });
    results.sort_unstable_by_key(|&(i, _)| i);
    results.into_iter().map(|(_, r)| r).collect()
}

fn whole(v: f64, what: &str) -> CoreResult<u64> {
    if v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_991.0 {
        Ok(v as u64)
    } else {
        Err(CoreErr::inval(format!("{what} must be a non-negative integer, got {v}")))
    }
}

#[napi(js_name = "processFiles", catch_unwind)]
pub fn process_files<'env>(
    env: &'env Env,
    requests: FileRequestsJs,
    params: PipelineParamsJs,
    known: Option<&NativeBlobSet>,
    writer: Option<&NativePackWriter>,
) -> Result<Object<'env>> {
    let pipeline = Pipeline {
        chunker: Chunker::from_js(&params.chunker)?,
        hash: HashAlgo::parse(&params.hash)?,
        compressor: Compressor::from_js(&params.compression)?,
        sealer: Sealer::from_js(&params.seal)?,
        known: known.map(|k| k.ids.clone()).unwrap_or_default(),
        writer: writer.map(NativePackWriter::share),
    };
    let ends: Vec<usize> = le_u32s(&requests.ends).collect();
    let ranges: Vec<f64> = le_f64s(&requests.ranges).collect();
    if ranges.len() != 2 * ends.len() || ends.windows(2).any(|w| w[0] > w[1]) || ends.last().is_some_and(|&e| e > requests.paths.len()) {
        return Err(CoreErr::inval("processFiles: paths, ends and ranges do not describe the same files").into());
    }
    let mut jobs = Vec::with_capacity(ends.len());
    let mut start = 0;
    for (i, &end) in ends.iter().enumerate() {
        jobs.push((start..end, whole(ranges[2 * i], "offset")?, whole(ranges[2 * i + 1], "maxBytes")?));
        start = end;
    }
    let paths = requests.paths;
    pool::spawn(env, move || {
        let mut out = FilesResult::default();
        for (path, offset, max) in &jobs {
            pipeline.run(&paths[path.clone()], *offset, *max, &mut out);
        }
        Ok(out.into_js())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 4096;

    /// Whether each whole page inside `buf` is resident (mincore).
    fn resident(buf: &[u8]) -> Vec<bool> {
        let start = (buf.as_ptr() as usize).div_ceil(PAGE) * PAGE;
        let end = (buf.as_ptr() as usize + buf.len()) / PAGE * PAGE;
        let mut pages = vec![0u8; (end - start) / PAGE];
        // SAFETY: [start, end) lies inside `buf`; mincore writes one byte per page into `pages`.
        let rc = unsafe { libc::mincore(start as *mut libc::c_void, end - start, pages.as_mut_ptr()) };
        assert_eq!(rc, 0);
        pages.iter().map(|p| p & 1 == 1).collect()
    }

    #[test]
    fn a_kept_buffer_gives_back_only_what_a_use_touched_beyond_the_resident_part() {
        let cap = 4 * SPARE_RESIDENT;
        let mut buf = vec![0u8; cap];
        let keep = SPARE_RESIDENT / PAGE;

        buf.fill(7);
        trim_for_keeping(&mut buf, cap);
        let pages = resident(&buf);
        assert!(pages[..keep - 1].iter().all(|&r| r), "the resident part stays");
        assert!(pages[keep + 1..].iter().all(|&r| !r), "the rest is given back");
        assert_eq!(buf[0], 7);

        // A small file: nothing to give back, what it read stays.
        buf[..1000].fill(9);
        trim_for_keeping(&mut buf, 1000);
        assert_eq!(buf[999], 9);
        assert!(resident(&buf)[..keep - 1].iter().all(|&r| r));

        // A file of twice the resident part: the pages it touched beyond that go again.
        buf[..2 * SPARE_RESIDENT].fill(5);
        assert!(resident(&buf)[keep + 1..2 * keep - 1].iter().all(|&r| r));
        trim_for_keeping(&mut buf, 2 * SPARE_RESIDENT);
        assert!(resident(&buf)[keep + 1..].iter().all(|&r| !r));
        assert_eq!((buf[SPARE_RESIDENT - 1], buf[2 * SPARE_RESIDENT - 1]), (5, 0));
        // Given-back pages read as zeros (read last: a read maps the zero page, which mincore
        // counts as resident). The buffer's last page may be shared with the allocator's next
        // block and is kept.
        assert_eq!(buf[cap - 2 * PAGE], 0);

        // A buffer that ends inside a page: the bytes after it on that page are not its to give.
        let mut big = vec![3u8; cap];
        let end = 2 * SPARE_RESIDENT + 100;
        trim_for_keeping(&mut big[..end], end);
        assert!(big[end..].iter().all(|&b| b == 3));
        assert_eq!(big[end - 200], 0);
    }
}
