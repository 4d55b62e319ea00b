//! restic packs assembled in the core (formats/restic.md §5): the file pipeline appends each new
//! sealed blob straight to the open pack's file, so encoded data never crosses into JavaScript.
//! A pack is closed when it reaches the target size — sealed header and its length appended,
//! SHA-256 of the whole file computed on the way — and handed to JavaScript as a finished file
//! to publish under `data/<id>` and to index. One writer holds one blob type (v2 keeps data and
//! tree blobs in separate packs).

use crate::bytes::Bytes;
use crate::compress::zstd_compress;
use crate::error::{Code, CoreErr, CoreResult, ErrorInfo};
use crate::pool;
use crate::seal::{SealSpecJs, Sealer};
use napi::bindgen_prelude::{Buffer, Object};
use napi::{Env, Result};
use napi_derive::napi;
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, TryLockError};
use std::thread::JoinHandle;

const ENTRY_PLAIN: usize = 37;
const ENTRY_COMPRESSED: usize = 41;

struct Entry {
    id: [u8; 32],
    offset: u32,
    length: u32,
    uncompressed_length: u32,
}

struct OpenPack {
    file: File,
    path: PathBuf,
    size: u64,
    entries: Vec<Entry>,
}

pub(crate) struct State {
    dir: PathBuf,
    target: u64,
    tree: bool,
    /// Drop each finished pack's pages from the page cache once synced and hashed.
    drop_cached: bool,
    sealer: Arc<Sealer>,
    open: Option<OpenPack>,
    finished: Vec<FinishedPackJs>,
    /// Complete packs whose data is being made durable on a thread of their own.
    syncing: VecDeque<JoinHandle<CoreResult<FinishedPackJs>>>,
    /// A write failed: the writer refuses further blobs (their ids are already "known").
    failure: Option<CoreErr>,
    /// Whether `failure` is set, readable without the lock (see NativePackWriter::failure).
    failed: Arc<AtomicBool>,
    sequence: u64,
}

#[napi(object, object_from_js = false)]
pub struct PackBlobJs {
    pub id: Bytes,
    pub offset: u32,
    pub length: u32,
    pub uncompressed_length: u32,
}

#[napi(object, object_from_js = false)]
pub struct FinishedPackJs {
    /// The complete pack file, to publish as data/<id[0:2]>/<id>.
    pub path: String,
    /// SHA-256 of the file (the pack id).
    pub id: Bytes,
    pub size: f64,
    pub blobs: Vec<PackBlobJs>,
}

#[napi]
pub struct NativePackWriter {
    pub(crate) state: Arc<Mutex<State>>,
    /// The state's seal, for blobs encoded here (encodeAndAdd) outside the writer's lock.
    sealer: Arc<Sealer>,
    failed: Arc<AtomicBool>,
    /// take_finished calls in a row that found the writer busy (see there).
    missed: Arc<AtomicU32>,
}

fn io(what: &str, path: &std::path::Path, e: std::io::Error) -> CoreErr {
    CoreErr::new(Code::Io, format!("{what} {}: {e}", path.display())).with_subject(path.display().to_string())
}

impl State {
    fn open_pack(&mut self) -> CoreResult<&mut OpenPack> {
        if self.open.is_none() {
            self.sequence += 1;
            let path = self.dir.join(format!("pack-{}-{}-{}.tmp", std::process::id(), self.sequence, rand_suffix()?));
            // Readable too: the pack id is hashed from the file once it is complete.
            let file = OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(&path).map_err(|e| io("cannot create", &path, e))?;
            self.open = Some(OpenPack { file, path, size: 0, entries: Vec::new() });
        }
        Ok(self.open.as_mut().expect("just opened"))
    }

    fn append(&mut self, id: [u8; 32], sealed: &[u8], uncompressed_length: u32) -> CoreResult<()> {
        // A pack whose sync failed stops the writer as a failed write does.
        let _ = self.collect(Collect::Done);
        if let Some(e) = &self.failure {
            return Err(CoreErr::new(e.code, format!("pack writer stopped earlier: {}", e.message)));
        }
        let target = self.target;
        let result = (|| -> CoreResult<bool> {
            let pack = self.open_pack()?;
            pack.file.write_all(sealed).map_err(|e| io("cannot write", &pack.path, e))?;
            pack.entries.push(Entry { id, offset: pack.size as u32, length: sealed.len() as u32, uncompressed_length });
            pack.size += sealed.len() as u64;
            Ok(pack.size >= target)
        })();
        match result {
            Ok(true) => self.close_open(),
            Ok(false) => Ok(()),
            Err(e) => {
                self.fail(&e);
                Err(e)
            }
        }
    }

    /// Seals and appends the header; the pack reaches `finished` once synced (see `collect`).
    fn close_open(&mut self) -> CoreResult<()> {
        let Some(mut pack) = self.open.take() else { return Ok(()) };
        let result = (|| -> CoreResult<()> {
            let mut header = Vec::with_capacity(pack.entries.len() * ENTRY_COMPRESSED);
            for e in &pack.entries {
                let kind = u8::from(self.tree) + if e.uncompressed_length > 0 { 2 } else { 0 };
                header.push(kind);
                header.extend_from_slice(&e.length.to_le_bytes());
                if e.uncompressed_length > 0 {
                    header.extend_from_slice(&e.uncompressed_length.to_le_bytes());
                }
                header.extend_from_slice(&e.id);
            }
            debug_assert!(header.len() >= pack.entries.len() * ENTRY_PLAIN);
            let sealed = self.sealer.seal(&header, None)?;
            let length = (sealed.len() as u32).to_le_bytes();
            for part in [&sealed[..], &length[..]] {
                pack.file.write_all(part).map_err(|e| io("cannot write", &pack.path, e))?;
            }
            pack.size += (sealed.len() + length.len()) as u64;
            Ok(())
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&pack.path);
            self.fail(&e);
            return Err(e);
        }
        // The pack's fsync (~10 ms) runs beside the next pack's appends instead of holding the
        // writer: it is published (taken) only once durable, which keeps the commit order.
        if self.syncing.len() >= MAX_SYNCING {
            self.collect(Collect::Oldest)?;
        }
        let drop_cached = self.drop_cached;
        let spawned = std::thread::Builder::new().name("bolt-pack-sync".into()).spawn(move || {
            // Hashing here, from the page cache, keeps 1 ns per byte off the threads that append.
            let id = pack.file.sync_data().map_err(|e| io("cannot sync", &pack.path, e)).and_then(|()| hash_file(&pack.file, pack.size, &pack.path));
            let id = match id {
                Ok(id) => {
                    if drop_cached {
                        drop_from_page_cache(&pack.file);
                    }
                    id
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&pack.path);
                    return Err(e);
                }
            };
            Ok(FinishedPackJs {
                path: pack.path.to_string_lossy().into_owned(),
                id: id.to_vec().into(),
                size: pack.size as f64,
                blobs: pack
                    .entries
                    .iter()
                    .map(|e| PackBlobJs { id: e.id.to_vec().into(), offset: e.offset, length: e.length, uncompressed_length: e.uncompressed_length })
                    .collect(),
            })
        });
        match spawned {
            Ok(handle) => {
                self.syncing.push_back(handle);
                Ok(())
            }
            Err(e) => {
                let e = CoreErr::new(Code::Io, format!("cannot start a thread to sync a pack: {e}"));
                self.fail(&e);
                Err(e)
            }
        }
    }

    /// Records the writer's (first) failure.
    fn fail(&mut self, e: &CoreErr) {
        self.failure = Some(e.clone());
        self.failed.store(true, Ordering::Release);
    }

    /// Moves synced packs to `finished`; a failed sync becomes the writer's failure.
    fn collect(&mut self, how: Collect) -> CoreResult<()> {
        let mut first_error = None;
        let mut waited = false;
        while let Some(handle) = self.syncing.front() {
            let wait = match how {
                Collect::Done => false,
                Collect::Oldest => !waited,
                Collect::All => true,
            };
            if !wait && !handle.is_finished() {
                break;
            }
            let handle = self.syncing.pop_front().expect("front exists");
            waited = true;
            match handle.join() {
                Ok(Ok(done)) => self.finished.push(done),
                Ok(Err(e)) => {
                    if self.failure.is_none() {
                        self.fail(&e);
                    }
                    first_error.get_or_insert(e);
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// SHA-256 of a file's first `size` bytes (all of it; a shorter file is an error).
fn hash_file(file: &File, size: u64, path: &std::path::Path) -> CoreResult<[u8; 32]> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 19];
    let mut at = 0u64;
    while at < size {
        let want = buf.len().min((size - at) as usize);
        match file.read_at(&mut buf[..want], at) {
            Ok(0) => return Err(CoreErr::new(Code::Io, format!("pack {} is shorter than written ({at} of {size} bytes)", path.display()))),
            Ok(n) => {
                hasher.update(&buf[..n]);
                at += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io("cannot read back", path, e)),
        }
    }
    Ok(hasher.finalize().into())
}

/// Asks the kernel to let go of a synced file's cached pages (advice only: failure is harmless).
fn drop_from_page_cache(file: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: posix_fadvise only reads the descriptor, which `file` keeps open for the call.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
    }
}

#[derive(Clone, Copy)]
enum Collect {
    /// Those whose sync has ended.
    Done,
    /// The oldest, waiting for it, and any ended after it.
    Oldest,
    /// All, waiting for each.
    All,
}

/// Packs being synced at once; a writer producing faster than the disk syncs waits.
const MAX_SYNCING: usize = 4;
/// take_finished calls in a row that find the writer busy before one waits for it.
const MAX_MISSED: u32 = 8;

fn rand_suffix() -> CoreResult<String> {
    let mut b = [0u8; 6];
    crate::seal::random_fill(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

impl NativePackWriter {
    /// Another handle on the same writer (for the pipeline's worker threads).
    pub(crate) fn share(&self) -> NativePackWriter {
        NativePackWriter { state: Arc::clone(&self.state), sealer: Arc::clone(&self.sealer), failed: Arc::clone(&self.failed), missed: Arc::clone(&self.missed) }
    }

    /// From the file pipeline's worker threads.
    pub(crate) fn append(&self, id: [u8; 32], sealed: &[u8], uncompressed_length: u32) -> CoreResult<()> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).append(id, sealed, uncompressed_length)
    }
}

#[napi]
impl NativePackWriter {
    /// Packs of one blob type ("data" or "tree") of about `targetSize` bytes, written as temporary
    /// files in `dir` (the repository's own temporary folder when it is local, so that publishing
    /// is a rename).
    #[napi(constructor)]
    pub fn new(dir: String, blob_type: String, target_size: u32, seal: SealSpecJs, drop_cached: bool) -> Result<Self> {
        let tree = match blob_type.as_str() {
            "data" => false,
            "tree" => true,
            other => return Err(CoreErr::inval(format!("unknown blob type {other:?}")).into()),
        };
        let sealer = Arc::new(Sealer::from_js(&seal)?);
        if !matches!(*sealer, Sealer::Restic(_)) {
            return Err(CoreErr::inval("the pack writer writes restic packs: seal must be \"restic\"").into());
        }
        let failed = Arc::new(AtomicBool::new(false));
        Ok(NativePackWriter {
            sealer: Arc::clone(&sealer),
            failed: Arc::clone(&failed),
            missed: Arc::new(AtomicU32::new(0)),
            state: Arc::new(Mutex::new(State {
                dir: PathBuf::from(dir),
                target: u64::from(target_size.max(1)),
                tree,
                drop_cached,
                sealer,
                open: None,
                finished: Vec::new(),
                syncing: VecDeque::new(),
                failure: None,
                failed,
                sequence: 0,
            })),
        })
    }

    /// Appends one sealed blob (trees, repacked blobs); `uncompressedLength` 0 = not compressed.
    #[napi]
    pub fn add(&self, id: Buffer, sealed: Buffer, uncompressed_length: u32) -> Result<()> {
        let id: [u8; 32] = id.as_ref().try_into().map_err(|_| CoreErr::inval("blob id must be 32 bytes"))?;
        Ok(self.append(id, &sealed, uncompressed_length)?)
    }

    /// Compresses (zstd at `zstdLevel`, when given), seals and appends one blob on a core thread.
    /// Trees arrive one at a time from the walk: done there, each took two round trips to the
    /// core and a write under the writer's lock on the JavaScript thread.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn encode_and_add<'env>(&self, env: &'env Env, id: Buffer, plaintext: Buffer, zstd_level: Option<i32>) -> Result<Object<'env>> {
        let id: [u8; 32] = id.as_ref().try_into().map_err(|_| CoreErr::inval("blob id must be 32 bytes"))?;
        let writer = self.share();
        pool::spawn(env, move || {
            let compressed = zstd_level.map(|level| zstd_compress(&plaintext, level)).transpose()?;
            let sealed = writer.sealer.seal(compressed.as_deref().unwrap_or(&plaintext), None)?;
            writer.append(id, &sealed, if compressed.is_some() { plaintext.len() as u32 } else { 0 })
        })
    }

    /// Closes the open pack (end of the run), even when it is below the target size, and waits
    /// until every pack is synced.
    #[napi]
    pub fn close(&self) -> Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let closed = state.close_open();
        let synced = state.collect(Collect::All);
        closed?;
        Ok(synced?)
    }

    /// Packs completed (written and synced) since the last call. It does not wait for the writer:
    /// the core's threads hold it through each append (a write of up to a chunk), and JavaScript
    /// asks after every batch of files, so while one appends this takes nothing and a later call
    /// takes them; `wait` (at the end, after close()), or MAX_MISSED busy calls in a row (a slow
    /// disk keeps the writer busy: packs must not wait for the end of the backup to be stored),
    /// waits for it. Waiting each time held the JavaScript thread, which is what a first backup's
    /// small files wait for.
    #[napi]
    pub fn take_finished(&self, wait: Option<bool>) -> Vec<FinishedPackJs> {
        let mut state = match self.state.try_lock() {
            Ok(state) => state,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) if wait == Some(true) || self.missed.fetch_add(1, Ordering::Relaxed) + 1 >= MAX_MISSED => {
                self.state.lock().unwrap_or_else(|e| e.into_inner())
            }
            Err(TryLockError::WouldBlock) => return Vec::new(),
        };
        self.missed.store(0, Ordering::Relaxed);
        // A failed sync is reported by failure(), which the caller checks first.
        let _ = state.collect(Collect::Done);
        std::mem::take(&mut state.finished)
    }

    /// Why the writer stopped, if it did (a full disk, a vanished folder); the writer's lock is
    /// taken only when it did (see take_finished).
    #[napi]
    pub fn failure(&self) -> Option<ErrorInfo> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        self.state.lock().unwrap_or_else(|e| e.into_inner()).failure.as_ref().map(|e| e.info())
    }

    /// Removes the temporary files of the open pack and of packs not taken (after a failure).
    #[napi]
    pub fn discard(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let _ = s.collect(Collect::All);
        if let Some(p) = s.open.take() {
            let _ = std::fs::remove_file(&p.path);
        }
        for f in s.finished.drain(..) {
            let _ = std::fs::remove_file(&f.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    fn writer() -> NativePackWriter {
        let failed = Arc::new(AtomicBool::new(false));
        let state = State {
            dir: std::env::temp_dir(),
            target: 1 << 20,
            tree: false,
            drop_cached: false,
            sealer: Arc::new(Sealer::None),
            open: None,
            finished: Vec::new(),
            syncing: VecDeque::new(),
            failure: None,
            failed: Arc::clone(&failed),
            sequence: 0,
        };
        NativePackWriter { sealer: Arc::clone(&state.sealer), state: Arc::new(Mutex::new(state)), failed, missed: Arc::new(AtomicU32::new(0)) }
    }

    fn pack(name: &str) -> FinishedPackJs {
        FinishedPackJs { path: name.into(), id: vec![0u8; 32].into(), size: 1.0, blobs: Vec::new() }
    }

    /// Runs `ask` on another thread with a finished pack "a" waiting while the writer is busy (a
    /// core thread appending holds its lock); `ask` signals once it got its answers without the
    /// lock, and the lock is released only then. Returns what `ask` returned.
    fn asked_while_busy<T: Send + 'static>(ask: impl FnOnce(NativePackWriter, mpsc::Sender<()>) -> T + Send + 'static) -> T {
        let w = writer();
        w.state.lock().unwrap().finished.push(pack("a"));
        let appending = w.state.lock().unwrap();
        let other = w.share();
        let (tx, rx) = mpsc::channel();
        let asker = std::thread::spawn(move || ask(other, tx));
        rx.recv_timeout(Duration::from_secs(10)).expect("answered while the lock was held");
        std::thread::sleep(Duration::from_millis(50));
        drop(appending);
        asker.join().unwrap()
    }

    #[test]
    fn asking_for_finished_packs_does_not_wait_for_an_append_unless_told_to() {
        let taken = asked_while_busy(|other, answered| {
            assert!(other.take_finished(None).is_empty());
            assert!(other.failure().is_none());
            answered.send(()).unwrap();
            let taken: Vec<String> = other.take_finished(Some(true)).into_iter().map(|p| p.path).collect();
            (taken, other.take_finished(None).len())
        });
        assert_eq!(taken, (vec!["a".to_string()], 0));
    }

    #[test]
    fn a_writer_busy_call_after_call_is_waited_for_in_the_end() {
        let taken = asked_while_busy(|other, answered| {
            for _ in 1..MAX_MISSED {
                assert!(other.take_finished(None).is_empty());
            }
            answered.send(()).unwrap();
            other.take_finished(None).into_iter().map(|p| p.path).collect::<Vec<_>>()
        });
        assert_eq!(taken, vec!["a".to_string()]);
    }

    #[test]
    fn a_failure_is_reported_through_the_flag() {
        let w = writer();
        assert!(w.failure().is_none());
        w.state.lock().unwrap().fail(&CoreErr::new(Code::Io, "cannot write: disk full"));
        assert_eq!(w.failure().map(|e| e.message), Some("cannot write: disk full".to_string()));
        assert_eq!(w.share().failure().map(|e| e.message), Some("cannot write: disk full".to_string()));
    }
}
