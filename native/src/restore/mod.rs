//! The regular files of a restic restore, written by the core (formats/restic.md §7, §8).
//!
//! The walk (src/formats/restic/restore-source.ts) hands each directory's tree id here. The core
//! reads the tree from its local pack (or is given it, read from remote storage by the walk),
//! keeps the directory's plain regular files as a group and gives the walk back the other nodes
//! (directories, symlinks, special and hard-linked files, names it must refuse) as a tree of
//! their own. Windows of groups are then planned pack by pack and written in batches on the
//! core's threads (each batch's range read here, or fetched by the walk): each file is created,
//! written and given its metadata here, so a restore of 56k files builds no JavaScript object
//! per file.
//!
//! What it does not model goes to the walk unchanged: a tree the strict parser below refuses
//! (unknown keys, escaped names, odd times) comes back whole, and a tree it cannot read makes
//! the walk read it the ordinary way (which also tries the blob's other locations).

use crate::bytes::{le_u32s, Bytes};
use crate::compress::Codec;
use crate::decode::{hex, pwrite_all, DecodeBuffers, Decoder, RangeReader, Scratch};
use std::borrow::Cow;
use crate::dircompare::read_tree_blob;
use crate::error::{Code, CoreErr, CoreResult};
use crate::beneath::{remove_at, Beneath, Place};
use crate::fs::{create_for_writing, finish_by_fd, Metadata};
use std::ffi::CString;
use crate::hash::HashAlgo;
use crate::paths::{bytes_of, path_of, JsPath};
use crate::pool;
use crate::seal::{SealSpecJs, Sealer, RESTIC_OVERHEAD};
use napi::bindgen_prelude::{Object, Uint8Array};
use napi::{Env, Result};
use napi_derive::napi;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

mod tree;

use tree::{split_tree, FileRecord};

type Id = [u8; 32];

/// Blobs closer than this are read in one range (as restore-source.ts, MERGE_GAP)…
const MERGE_GAP: u64 = 256 * 1024;
/// …and a range spans at most this much of its pack.
const MAX_SPAN: u64 = 32 << 20;
/// Files in one group at most (a window holds a few thousand files: src/engine/restorer.ts).
const GROUP_FILES: usize = 1024;
/// Files one batch writes: a pack of small files makes several batches, so the last packs of a
/// window do not run their files one after another on one thread while the others idle.
const FILES_PER_BATCH: usize = 128;
/// One index row: id (32 bytes), pack number (u32), offset (f64), length and uncompressed
/// length (u32 each), little-endian.
const INDEX_ROW: usize = 52;

/// create_for_writing's answer when a directory stands where a file is restored: it is removed
/// with all it holds (as by the engine's restorer) and the file created again. Anything else at
/// the name create_for_writing unlinks itself.
const DIRECTORY_IN_THE_WAY: i32 = libc::EISDIR;

#[derive(Clone, Copy)]
struct BlobAt {
    pack: u32,
    offset: u64,
    length: u32,
    uncompressed: u32,
}

impl BlobAt {
    fn raw_length(self) -> u64 {
        if self.uncompressed > 0 {
            u64::from(self.uncompressed)
        } else {
            u64::from(self.length).saturating_sub(RESTIC_OVERHEAD as u64)
        }
    }
}

/// The first location of each id in `rows` (INDEX_ROW bytes each).
fn index_of(rows: &[u8], packs: usize) -> CoreResult<HashMap<Id, BlobAt>> {
    if rows.len() % INDEX_ROW != 0 {
        return Err(CoreErr::inval(format!("index rows are {INDEX_ROW} bytes each, got {} bytes", rows.len())));
    }
    let mut map = HashMap::with_capacity(rows.len() / INDEX_ROW);
    for row in rows.chunks_exact(INDEX_ROW) {
        let u32_at = |at: usize| u32::from_le_bytes([row[at], row[at + 1], row[at + 2], row[at + 3]]);
        let mut offset = [0u8; 8];
        offset.copy_from_slice(&row[36..44]);
        let offset = f64::from_le_bytes(offset);
        let pack = u32_at(32);
        if pack as usize >= packs || !(offset >= 0.0 && offset.fract() == 0.0 && offset < (1u64 << 53) as f64) {
            return Err(CoreErr::inval(format!("bad index row: pack {pack} of {packs}, offset {offset}")));
        }
        let mut id = [0u8; 32];
        id.copy_from_slice(&row[..32]);
        map.entry(id).or_insert(BlobAt { pack, offset: offset as u64, length: u32_at(44), uncompressed: u32_at(48) });
    }
    Ok(map)
}

/// A directory's plain regular files.
struct Group {
    dir: Vec<u8>,
    display: String,
    files: Vec<FileRecord>,
}

#[napi(object, object_from_js = false)]
pub struct RestoreDirJs {
    /// The groups of the directory's files (GROUP_FILES at most each), in order.
    pub groups: Vec<RestoreGroupJs>,
    /// The nodes the walk handles, as a tree blob's JSON; absent when there are none.
    pub rest: Option<Bytes>,
    /// When asked for (an include filter picks files by name): the group's file names, one
    /// after the other, and where each ends (u32 little-endian), in the group's order.
    pub names: Option<Bytes>,
    pub ends: Option<Bytes>,
}

#[napi(object, object_from_js = false)]
pub struct RestoreGroupJs {
    pub id: u32,
    pub files: u32,
    pub bytes: f64,
}

#[napi(object, object_from_js = false)]
pub struct KeptFilesJs {
    pub files: u32,
    pub bytes: f64,
}

#[napi(object, object_from_js = false)]
pub struct RestoreProblemJs {
    pub path: String,
    pub error: String,
}

/// Files finished (written completely and closed, their metadata set or its problems reported),
/// bytes written (or checked) and problems of one step of a window.
#[napi(object, object_from_js = false)]
#[derive(Default)]
pub struct RestoreStepJs {
    /// planWindow only: its id and batches (runBatch 0..batches); 0 batches: nothing to run…
    pub window: u32,
    pub batches: u32,
    /// …and, without local pack files, each batch's range to fetch: pack number (u32), offset
    /// and length (f64 each), little-endian.
    pub ranges: Option<Bytes>,
    pub files: u32,
    pub bytes: f64,
    pub problems: Vec<RestoreProblemJs>,
}

impl RestoreStepJs {
    fn problem(&mut self, path: String, error: String) {
        self.problems.push(RestoreProblemJs { path, error });
    }
}

enum Fd {
    Unopened,
    Open(i32),
    /// Could not be created (its failure says why), or finished.
    Gone,
}

struct FileState {
    dir: usize,
    record: FileRecord,
    /// Bytes whose blobs are still to be processed; the file is finished when it reaches 0.
    remaining: AtomicU64,
    fd: Mutex<Fd>,
    /// The first failure; then the file is closed without metadata and reported.
    failed: OnceLock<String>,
}

impl Drop for FileState {
    fn drop(&mut self) {
        if let Fd::Open(fd) = *self.fd.get_mut().unwrap_or_else(|e| e.into_inner()) {
            // SAFETY: the descriptor was opened for this file and is closed exactly once: an
            // abandoned window (an interrupted restore) is dropped with its files still open.
            unsafe { libc::close(fd) };
        }
    }
}

struct Use {
    file: usize,
    position: u64,
    length: u64,
}

struct PlannedBlob {
    id: Id,
    at: BlobAt,
    uses: Vec<Use>,
}

struct Batch {
    pack: u32,
    start: u64,
    end: u64,
    blobs: Vec<PlannedBlob>,
}

struct WindowDir {
    path: Vec<u8>,
    display: String,
}

struct Window {
    dirs: Vec<WindowDir>,
    files: Vec<FileState>,
    batches: Vec<Mutex<Option<Batch>>>,
    /// Batches not run yet: the window is let go after its last one.
    left: AtomicUsize,
}

impl Window {
    fn path(&self, file: &FileState) -> Vec<u8> {
        let dir = &self.dirs[file.dir].path;
        let mut path = Vec::with_capacity(dir.len() + 1 + file.record.name.len());
        path.extend_from_slice(dir);
        path.push(b'/');
        path.extend_from_slice(&file.record.name);
        path
    }

    fn display(&self, file: &FileState) -> String {
        format!("{}/{}", self.dirs[file.dir].display, String::from_utf8_lossy(&file.record.name))
    }
}

#[derive(Default)]
struct State {
    next: u32,
    groups: HashMap<u32, Group>,
    windows: HashMap<u32, Arc<Window>>,
}

impl State {
    fn id(&mut self) -> u32 {
        self.next = self.next.checked_add(1).unwrap_or(1);
        self.next
    }
}

struct Shared {
    sealer: Sealer,
    data: HashMap<Id, BlobAt>,
    trees: HashMap<Id, BlobAt>,
    /// Local pack files and their ids (hex), by the index's pack number.
    packs: Vec<Vec<u8>>,
    pack_ids: Vec<String>,
    owner: bool,
    verify_only: bool,
    /// The restore target files are created beneath (absent for a verify-only run).
    root: Option<Vec<u8>>,
    state: Mutex<State>,
}

/// The restore target, opened by a job (a window's plan, a batch) when it first creates a file.
struct TargetDir<'a> {
    root: Option<&'a [u8]>,
    open: Option<std::result::Result<Beneath, String>>,
}

impl<'a> TargetDir<'a> {
    fn new(root: Option<&'a [u8]>) -> Self {
        TargetDir { root, open: None }
    }

    fn get(&mut self) -> std::result::Result<&mut Beneath, String> {
        let root = self.root;
        let open = self.open.get_or_insert_with(|| match root {
            Some(r) => Beneath::open(r).map_err(|e| e.to_string()),
            None => Err("this restore has no target to write to".to_string()),
        });
        open.as_mut().map_err(|e| e.clone())
    }
}

/// Opens `path` for writing beneath the target, never through a symlink; a directory in the way
/// is removed, never followed, and the file created again.
fn create_file(target: &mut TargetDir<'_>, path: &[u8]) -> std::result::Result<i32, String> {
    let beneath = target.get().map_err(|e| format!("cannot create file: {e}"))?;
    let mut created = create_for_writing(beneath, path);
    if created.fd < 0 && created.errno == DIRECTORY_IN_THE_WAY {
        let mut name = CString::default();
        let removed = match beneath.place(path, &mut name) {
            Ok(Place::In(dir, n)) => remove_at(dir, n),
            Ok(Place::Root(_)) => Err(std::io::Error::from_raw_os_error(libc::EISDIR)),
            Err(e) => Err(e),
        };
        if let Err(e) = removed {
            return Err(format!("cannot create file: {e}"));
        }
        created = create_for_writing(beneath, path);
    }
    if created.fd >= 0 {
        Ok(created.fd)
    } else {
        Err(format!("cannot create file: {}", created.message.unwrap_or_else(|| "unknown error".into())))
    }
}

/// How many files, and their bytes.
fn totals(files: &[FileRecord]) -> (u32, f64) {
    (files.len() as u32, files.iter().map(|f| f.size as f64).sum())
}

/// Per pack, its blobs by offset (and id: a damaged index may put two at one offset).
type PackPlan = BTreeMap<u32, BTreeMap<(u64, Id), PlannedBlob>>;

/// Each pack's blobs in ranges read at once: close enough together (MERGE_GAP, MAX_SPAN) and
/// writing at most FILES_PER_BATCH files.
fn cut_batches(by_pack: PackPlan) -> Vec<Batch> {
    let mut batches = Vec::new();
    for (pack, blobs) in by_pack {
        let mut current: Option<(Batch, std::collections::HashSet<usize>)> = None;
        for blob in blobs.into_values() {
            let (start, end) = (blob.at.offset, blob.at.offset + u64::from(blob.at.length));
            if let Some((batch, touched)) = &current {
                if start.saturating_sub(batch.end) > MERGE_GAP || end - batch.start > MAX_SPAN || touched.len() >= FILES_PER_BATCH {
                    batches.extend(current.take().map(|(b, _)| b));
                }
            }
            let (batch, touched) = current.get_or_insert_with(|| (Batch { pack, start, end, blobs: Vec::new() }, Default::default()));
            batch.end = batch.end.max(end);
            touched.extend(blob.uses.iter().map(|u| u.file));
            batch.blobs.push(blob);
        }
        batches.extend(current.map(|(b, _)| b));
    }
    batches
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read_directory(&self, tree: Id, dir: Vec<u8>, display: String, given: Option<&[u8]>, with_names: bool) -> CoreResult<RestoreDirJs> {
        let read;
        let plain = match given {
            Some(plain) => plain,
            None => {
                let at = self.trees.get(&tree).ok_or_else(|| CoreErr::new(Code::Corrupt, format!("tree blob {} is not in the index", hex(&tree))))?;
                let file = self.packs.get(at.pack as usize).ok_or_else(|| CoreErr::inval("this restore reads no local pack files: the tree's plaintext must be given"))?;
                read = read_tree_blob(&self.sealer, file, at.offset, at.length as usize, at.uncompressed as usize, &tree)?;
                &read[..]
            }
        };
        let Some((mut files, rest)) = split_tree(plain) else {
            return Ok(RestoreDirJs { groups: Vec::new(), rest: Some(Bytes(plain.to_vec())), names: None, ends: None });
        };
        let rest = rest.map(Bytes);
        let (names, ends) = if with_names && !files.is_empty() {
            let mut names = Vec::new();
            let mut ends = Vec::with_capacity(4 * files.len());
            for f in &files {
                names.extend_from_slice(&f.name);
                ends.extend_from_slice(&(names.len() as u32).to_le_bytes());
            }
            (Some(Bytes(names)), Some(Bytes(ends)))
        } else {
            (None, None)
        };
        // A directory of many files is several groups, so that windows stay near their size.
        let mut groups = Vec::new();
        let mut state = self.state();
        while !files.is_empty() {
            let rest_of_dir = files.split_off(files.len().min(GROUP_FILES));
            let (count, bytes) = totals(&files);
            let id = state.id();
            state.groups.insert(id, Group { dir: dir.clone(), display: display.clone(), files });
            groups.push(RestoreGroupJs { id, files: count, bytes });
            files = rest_of_dir;
        }
        Ok(RestoreDirJs { groups, rest, names, ends })
    }

    /// Keeps the files of `group` whose byte in `keep` is not 0 (an include filter's choice);
    /// a group left empty is let go.
    fn keep_files(&self, group: u32, keep: &[u8]) -> CoreResult<KeptFilesJs> {
        let mut state = self.state();
        let Some(g) = state.groups.get_mut(&group) else {
            return Err(CoreErr::inval(format!("no restore group {group}")));
        };
        if keep.len() != g.files.len() {
            return Err(CoreErr::inval(format!("group {group} has {} files, {} choices given", g.files.len(), keep.len())));
        }
        let mut k = 0;
        g.files.retain(|_| {
            k += 1;
            keep[k - 1] != 0
        });
        let (files, bytes) = totals(&g.files);
        if files == 0 {
            state.groups.remove(&group);
        }
        Ok(KeptFilesJs { files, bytes })
    }

    /// The files of `groups` planned by pack range; those with nothing to read (empty, or all
    /// their blobs missing from the index) created and finished right away.
    fn plan_window(&self, groups: &[u32]) -> RestoreStepJs {
        let groups: Vec<Group> = {
            let mut state = self.state();
            groups.iter().filter_map(|g| state.groups.remove(g)).collect()
        };
        let mut step = RestoreStepJs::default();
        let mut dirs = Vec::with_capacity(groups.len());
        let mut files = Vec::new();
        let mut by_pack = BTreeMap::new();
        for Group { dir, display, files: records } in groups {
            if let Some(error) = self.refusal(&dir) {
                for record in &records {
                    step.problem(format!("{display}/{}", String::from_utf8_lossy(&record.name)), error.clone());
                }
                continue;
            }
            dirs.push(WindowDir { path: dir, display });
            for record in records {
                let file = self.plan_file(dirs.len() - 1, files.len(), record, &mut by_pack);
                files.push(file);
            }
        }
        let batches = cut_batches(by_pack);
        let window = Window { dirs, left: AtomicUsize::new(batches.len()), batches: batches.into_iter().map(|b| Mutex::new(Some(b))).collect(), files };
        let mut target = TargetDir::new(self.root.as_deref());
        for file in &window.files {
            if file.remaining.load(Ordering::Relaxed) == 0 {
                // Empty files are created here; one whose blobs are all missing is not (fd_of).
                if !self.verify_only {
                    self.fd_of(&window, file, &mut target);
                }
                self.finish(&window, file, &mut step);
            }
        }
        step.batches = window.batches.len() as u32;
        if self.packs.is_empty() {
            let mut ranges = Vec::with_capacity(window.batches.len() * 20);
            for batch in &window.batches {
                if let Some(b) = &*batch.lock().unwrap_or_else(|e| e.into_inner()) {
                    ranges.extend_from_slice(&b.pack.to_le_bytes());
                    ranges.extend_from_slice(&(b.start as f64).to_le_bytes());
                    ranges.extend_from_slice(&((b.end - b.start) as f64).to_le_bytes());
                }
            }
            step.ranges = Some(Bytes(ranges));
        }
        if step.batches > 0 {
            let mut state = self.state();
            step.window = state.id();
            state.windows.insert(step.window, Arc::new(window));
        }
        step
    }

    /// Why no file may be written in `dir`: never through a symlink or into something that is
    /// not a directory (the engine's restorer, safeParent). None when it is a directory, and
    /// always when nothing is written.
    fn refusal(&self, dir: &[u8]) -> Option<String> {
        if self.verify_only {
            return None;
        }
        // The original paths' root ("/") is held as an empty path.
        match std::fs::symlink_metadata(path_of(if dir.is_empty() { b"/" } else { dir })) {
            Ok(m) if m.is_dir() => None,
            Ok(_) => Some(format!("parent {} is not a directory (a symlink or file is in the way); not restored", String::from_utf8_lossy(dir))),
            Err(e) => Some(format!("parent directory missing: {e}")),
        }
    }

    /// File `k` of a window (in its directory `dir`), its blobs' uses added to those of their packs.
    fn plan_file(&self, dir: usize, k: usize, mut record: FileRecord, by_pack: &mut PackPlan) -> FileState {
        let failed = OnceLock::new();
        let mut position = 0u64;
        for id in std::mem::take(&mut record.content) {
            let Some(&at) = self.data.get(&id) else {
                let _ = failed.set(format!("data blob {}… is not in the index", &hex(&id)[..16]));
                continue;
            };
            let length = at.raw_length();
            // An empty blob has nothing to write: a use of it would finish the file twice.
            if length > 0 {
                let blob = by_pack.entry(at.pack).or_default().entry((at.offset, id)).or_insert_with(|| PlannedBlob { id, at, uses: Vec::new() });
                blob.uses.push(Use { file: k, position, length });
            }
            position += length;
        }
        if position != record.size {
            let _ = failed.set(format!("chunks add up to {position} bytes, the backup says {}", record.size));
        }
        // What is left is what the located blobs hold: a file whose blobs do not add up to its
        // size still finishes (and is reported) once they are written.
        FileState { dir, record, remaining: AtomicU64::new(position), fd: Mutex::new(Fd::Unopened), failed }
    }

    /// The file's descriptor, created on first use; None when it could not be.
    fn fd_of(&self, window: &Window, file: &FileState, target: &mut TargetDir<'_>) -> Option<i32> {
        let mut fd = file.fd.lock().unwrap_or_else(|e| e.into_inner());
        match *fd {
            Fd::Open(n) => Some(n),
            Fd::Gone => None,
            // A file known not to be restorable before anything was written to it is not
            // created: whatever stands at its path (an earlier restore's copy) stays as it was.
            Fd::Unopened if file.failed.get().is_some() => None,
            Fd::Unopened => match create_file(target, &window.path(file)) {
                Ok(n) => {
                    *fd = Fd::Open(n);
                    Some(n)
                }
                Err(e) => {
                    let _ = file.failed.set(e);
                    *fd = Fd::Gone;
                    None
                }
            },
        }
    }

    /// Closes a file whose every byte is processed: with its metadata when nothing failed. Called
    /// once per file: by the plan for a file with no use, else by the use that takes `remaining`
    /// to 0 (every use has a length: see plan_file).
    fn finish(&self, window: &Window, file: &FileState, step: &mut RestoreStepJs) {
        let fd = match std::mem::replace(&mut *file.fd.lock().unwrap_or_else(|e| e.into_inner()), Fd::Gone) {
            Fd::Open(n) => n,
            _ => -1,
        };
        if let Some(error) = file.failed.get() {
            if fd >= 0 {
                // SAFETY: the descriptor was taken out of the file's slot above; closed once.
                unsafe { libc::close(fd) };
            }
            step.problem(window.display(file), error.clone());
            return;
        }
        step.files += 1;
        if self.verify_only {
            return;
        }
        let r = &file.record;
        let meta = Metadata {
            owner: self.owner.then_some((r.uid, r.gid)),
            mode: Some(r.mode),
            kind: Some(libc::S_IFREG),
            xattrs: r.xattrs.iter().map(|(n, v)| (&n[..], &v[..])).collect(),
            times: Ok([r.atime, r.mtime]),
        };
        for problem in finish_by_fd(&meta, fd) {
            step.problem(window.display(file), problem);
        }
    }

    /// One use of a blob processed (written, or failed with `error`): the file finished when it
    /// was its last.
    fn used(&self, window: &Window, u: &Use, outcome: std::result::Result<&[u8], &str>, step: &mut RestoreStepJs, target: &mut TargetDir<'_>) {
        let file = &window.files[u.file];
        match outcome {
            Ok(plain) => {
                if self.verify_only {
                    step.bytes += u.length as f64;
                } else if let Some(fd) = self.fd_of(window, file, target) {
                    match pwrite_all(fd, plain, u.position) {
                        Ok(()) => step.bytes += u.length as f64,
                        Err(e) => {
                            let _ = file.failed.set(format!("cannot write: {e}"));
                        }
                    }
                }
            }
            Err(error) => {
                let _ = file.failed.set(error.to_string());
            }
        }
        if file.remaining.fetch_sub(u.length, Ordering::AcqRel) == u.length {
            self.finish(window, file, step);
        }
    }

    fn run_batch(&self, window_id: u32, k: u32, fetched: Fetched) -> CoreResult<RestoreStepJs> {
        let window = self.state().windows.get(&window_id).cloned().ok_or_else(|| CoreErr::inval(format!("no restore window {window_id}")))?;
        let batch = window
            .batches
            .get(k as usize)
            .and_then(|b| b.lock().unwrap_or_else(|e| e.into_inner()).take())
            .ok_or_else(|| CoreErr::inval(format!("window {window_id} has no batch {k} to run")))?;
        let mut step = RestoreStepJs::default();
        let decoder = Decoder { sealer: &self.sealer, codec: Codec::Zstd, hash: HashAlgo::Sha256 };
        let DecodeBuffers { read, mut scratch } = DecodeBuffers::take();
        let pack = batch.pack as usize;
        let span = batch.end - batch.start;
        let mut source = match fetched {
            Fetched::Local => match self.packs.get(pack) {
                Some(file) => RangeReader::open_path(file, batch.start as f64, span as f64, read).map(BatchBytes::File),
                None => Err(CoreErr::inval("this restore reads no local pack files: the batch's bytes must be given")),
            },
            Fetched::Data(data) => Ok(BatchBytes::Data(data)),
            Fetched::Failed(error) => Err(CoreErr::new(Code::IoRead, error)),
        };
        let mut target = TargetDir::new(self.root.as_deref());
        for blob in &batch.blobs {
            let plain = match &mut source {
                Ok(bytes) => bytes.plaintext(&decoder, blob, blob.at.offset - batch.start, &mut scratch),
                Err(e) => Err(e.clone()),
            };
            match plain {
                Ok(plain) => blob.uses.iter().for_each(|u| self.used(&window, u, Ok(&plain), &mut step, &mut target)),
                Err(e) => {
                    let error = format!("pack {}…: {}", &self.pack_ids[pack][..12.min(self.pack_ids[pack].len())], e.message);
                    blob.uses.iter().for_each(|u| self.used(&window, u, Err(&error), &mut step, &mut target));
                }
            }
        }
        let read = match source {
            Ok(BatchBytes::File(reader)) => reader.into_buf(),
            _ => Vec::new(),
        };
        DecodeBuffers { read, scratch }.keep();
        if window.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.state().windows.remove(&window_id);
        }
        Ok(step)
    }
}

/// Where a batch's bytes come from: the local pack file, or what JavaScript fetched (or failed to).
enum Fetched {
    Local,
    Data(Uint8Array),
    Failed(String),
}

enum BatchBytes {
    File(RangeReader),
    /// The batch's range, fetched: offsets are relative to its start.
    Data(Uint8Array),
}

impl BatchBytes {
    /// The plaintext of `blob`, which lies at `offset` of the batch's range: opened where it lies
    /// in a pack read here, into the scratch when it is JavaScript's.
    fn plaintext<'a>(&'a mut self, decoder: &Decoder<&Sealer>, blob: &PlannedBlob, offset: u64, scratch: &'a mut Scratch) -> CoreResult<Cow<'a, [u8]>> {
        let length = u64::from(blob.at.length);
        let (raw, compressed) = (blob.at.raw_length() as f64, blob.at.uncompressed > 0);
        match self {
            BatchBytes::File(reader) => {
                let sealed = reader.get_mut(offset, length, offset + length)?;
                decoder.plaintext_in_place(sealed, &blob.id, raw, compressed, scratch)
            }
            BatchBytes::Data(data) => {
                let sealed = data
                    .get(offset as usize..(offset + length) as usize)
                    .ok_or_else(|| CoreErr::new(Code::IoRead, format!("blob range {offset}+{length} is outside the {} bytes fetched", data.len())))?;
                decoder.plaintext(sealed, &blob.id, raw, compressed, true, scratch)
            }
        }
    }
}

/// The core's side of a restic restore (see the module comment).
#[napi]
pub struct NativeRestore {
    shared: Arc<Shared>,
}

#[napi]
impl NativeRestore {
    /// Packs are numbered as in the index rows (`data`, `trees`: INDEX_ROW bytes per blob):
    /// `packIds[i]`, and `packs[i]` its local file when the repository is local (else the walk
    /// gives each tree's plaintext and each batch's bytes). `owner`: set owners (as root).
    #[napi(constructor, catch_unwind)]
    pub fn new(pack_ids: Vec<String>, packs: Option<Vec<JsPath>>, data: Uint8Array, trees: Uint8Array, seal: SealSpecJs, owner: bool, verify_only: bool, root: Option<JsPath>) -> Result<Self> {
        let packs: Vec<Vec<u8>> = packs.unwrap_or_default().iter().map(|p| bytes_of(p).to_vec()).collect();
        if !packs.is_empty() && packs.len() != pack_ids.len() {
            return Err(CoreErr::inval("one pack file per pack id, or none").into());
        }
        let shared = Shared {
            sealer: Sealer::from_js(&seal)?,
            data: index_of(&data, pack_ids.len())?,
            trees: index_of(&trees, pack_ids.len())?,
            packs,
            pack_ids,
            owner,
            verify_only,
            root: root.as_ref().map(|r| bytes_of(r).to_vec()),
            state: Mutex::default(),
        };
        Ok(NativeRestore { shared: Arc::new(shared) })
    }

    /// Reads the tree `tree` (32 bytes) of the directory restored at `dir` (`display` in
    /// messages), or takes its `plaintext` (read and checked by the walk): its plain files
    /// become groups (`withNames`: their names come back too), the rest comes back for the walk.
    #[napi(js_name = "readDirectory", catch_unwind)]
    pub fn read_directory<'env>(&self, env: &'env Env, tree: Uint8Array, dir: JsPath, display: String, plaintext: Option<Uint8Array>, with_names: Option<bool>) -> Result<Object<'env>> {
        let tree: Id = tree.as_ref().try_into().map_err(|_| CoreErr::inval("a tree id is 32 bytes"))?;
        let dir = bytes_of(&dir).to_vec();
        let shared = self.shared.clone();
        pool::spawn(env, move || shared.read_directory(tree, dir, display, plaintext.as_deref(), with_names == Some(true)))
    }

    /// Keeps the files of a group an include filter chose (one byte per file, in the order of
    /// readDirectory's names): how many are left, and their bytes.
    #[napi(js_name = "keepFiles", catch_unwind)]
    pub fn keep_files(&self, group: u32, keep: Uint8Array) -> Result<KeptFilesJs> {
        Ok(self.shared.keep_files(group, &keep)?)
    }

    /// Plans the files of `groups` (u32 little-endian each) as one window.
    #[napi(js_name = "planWindow", catch_unwind)]
    pub fn plan_window<'env>(&self, env: &'env Env, groups: Uint8Array) -> Result<Object<'env>> {
        let groups: Vec<u32> = le_u32s(&groups).map(|g| g as u32).collect();
        let shared = self.shared.clone();
        pool::spawn(env, move || Ok(shared.plan_window(&groups)))
    }

    /// Reads, checks and writes batch `batch` of window `window`; each batch runs once. Without
    /// local pack files, `data` is the batch's range as planWindow's `ranges` gives it, or
    /// `failure` says why it could not be fetched (its files then fail with that).
    #[napi(js_name = "runBatch", catch_unwind)]
    pub fn run_batch<'env>(&self, env: &'env Env, window: u32, batch: u32, data: Option<Uint8Array>, failure: Option<String>) -> Result<Object<'env>> {
        let fetched = match (data, failure) {
            (_, Some(error)) => Fetched::Failed(error),
            (Some(data), None) => Fetched::Data(data),
            (None, None) => Fetched::Local,
        };
        let shared = self.shared.clone();
        pool::spawn(env, move || shared.run_batch(window, batch, fetched))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_close_ranges_of_one_pack_writing_few_files() {
        let blob = |pack: u32, offset: u64, length: u32, file: usize| PlannedBlob { id: [file as u8; 32], at: BlobAt { pack, offset, length, uncompressed: 0 }, uses: vec![Use { file, position: 0, length: u64::from(length) }] };
        let mut plan = PackPlan::new();
        let mut add = |b: PlannedBlob| {
            plan.entry(b.at.pack).or_default().insert((b.at.offset, b.id), b);
        };
        // Pack 0: two blobs a gap apart (one range), then one beyond MERGE_GAP (a second).
        add(blob(0, 0, 1000, 0));
        add(blob(0, 1000 + MERGE_GAP, 1000, 1));
        add(blob(0, 2000 + 2 * MERGE_GAP + 1, 1000, 2));
        // Pack 1: 300 adjacent blobs of as many files, cut every FILES_PER_BATCH files.
        for f in 0..300 {
            add(blob(1, f as u64 * 100, 100, 3 + f));
        }
        let batches = cut_batches(plan);
        let shape: Vec<(u32, u64, u64, usize)> = batches.iter().map(|b| (b.pack, b.start, b.end, b.blobs.len())).collect();
        assert_eq!(
            shape,
            vec![(0, 0, 2000 + MERGE_GAP, 2), (0, 2000 + 2 * MERGE_GAP + 1, 3000 + 2 * MERGE_GAP + 1, 1), (1, 0, 12_800, 128), (1, 12_800, 25_600, 128), (1, 25_600, 30_000, 44)]
        );
    }
}
