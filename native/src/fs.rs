//! Filesystem metadata that Node's API lacks or rounds: lstat with nanosecond times and
//! allocated size, sorted raw directory listings, l*xattr, utimensat without following
//! symlinks, mknod.

use crate::beneath::{remove_at, Beneath, Place};
use crate::error::{Code, CoreErr, CoreResult, ErrorInfo};
use crate::paths::{bytes_of, display, to_cstring, JsPath};
use crate::pool;
use crate::bytes::Bytes;
use napi::bindgen_prelude::{Object, Uint8Array};
use napi::{Env, Result};
use napi_derive::napi;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

#[napi(object, object_from_js = false)]
pub struct EntryStatJs {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: f64,
    pub allocated: f64,
    pub ino: f64,
    pub dev: f64,
    pub nlink: f64,
    pub rdev: f64,
    pub atime_sec: f64,
    pub atime_nsec: u32,
    pub mtime_sec: f64,
    pub mtime_nsec: u32,
    pub ctime_sec: f64,
    pub ctime_nsec: u32,
}

/// Numbers per entry in `DirListingJs::stats`: where the entry's name ends in `names`, then
/// the fields of EntryStatJs in their order (mode -1 when lstat failed).
pub const STAT_FIELDS: usize = 16;

/// What an entry has besides its name and stat; listed only for entries that have any of it.
#[napi(object, object_from_js = false)]
pub struct DirExtraJs {
    pub index: u32,
    pub error: Option<ErrorInfo>,
    /// With `xattrs`: the entry's extended attributes when it has some (not read for symlinks).
    pub xattrs: Option<Vec<XattrJs>>,
    /// Why `xattrs` could not be read (the listing itself is fine).
    pub xattr_error: Option<ErrorInfo>,
    /// With `linkTargets`: a symlink's target, raw bytes.
    pub link_target: Option<Bytes>,
}

/// What readDirs reads besides the stat of each entry.
#[napi(object)]
#[derive(Clone, Copy, Default)]
pub struct ReadDirsOptionsJs {
    pub xattrs: Option<bool>,
    pub link_targets: Option<bool>,
}

/// A directory's entries in raw name order, packed: building one JavaScript object per entry
/// and per stat field through napi costs more than the lstat calls themselves, so the names go
/// in one buffer and the numbers in one array of f64 (STAT_FIELDS per entry).
#[napi(object, object_from_js = false)]
pub struct DirListingJs {
    pub path: JsPath,
    pub names: Bytes,
    /// Little-endian f64 values, STAT_FIELDS per entry.
    pub stats: Bytes,
    pub extras: Vec<DirExtraJs>,
    pub error: Option<ErrorInfo>,
}

#[derive(Default)]
pub(crate) struct PackedListing {
    pub names: Vec<u8>,
    pub stats: Vec<u8>,
    pub extras: Vec<DirExtraJs>,
}

impl PackedListing {
    fn push_numbers(&mut self, values: &[f64; STAT_FIELDS]) {
        for v in values {
            self.stats.extend_from_slice(&v.to_le_bytes());
        }
    }
}

#[napi(object, object_from_js = false)]
pub struct XattrJs {
    pub name: Bytes,
    pub value: Bytes,
}

fn os_err(what: &str, path: &[u8], e: io::Error) -> CoreErr {
    let name = display(path);
    let code = match e.raw_os_error() {
        Some(libc::ENOTSUP) => Code::Unsupported,
        _ => Code::IoRead,
    };
    CoreErr::new(code, format!("{what} {name}: {e}")).with_subject(name)
}

fn write_err(what: &str, path: &[u8], e: io::Error) -> CoreErr {
    let name = display(path);
    let code = match e.raw_os_error() {
        Some(libc::ENOTSUP) => Code::Unsupported,
        Some(libc::EINVAL) => Code::Inval,
        _ => Code::Io,
    };
    CoreErr::new(code, format!("{what} {name}: {e}")).with_subject(name)
}

fn stat_js(st: &libc::stat) -> EntryStatJs {
    EntryStatJs {
        mode: st.st_mode,
        uid: st.st_uid,
        gid: st.st_gid,
        size: st.st_size as f64,
        allocated: st.st_blocks as f64 * 512.0,
        ino: st.st_ino as f64,
        dev: st.st_dev as f64,
        nlink: st.st_nlink as f64,
        rdev: st.st_rdev as f64,
        atime_sec: st.st_atime as f64,
        atime_nsec: st.st_atime_nsec as u32,
        mtime_sec: st.st_mtime as f64,
        mtime_nsec: st.st_mtime_nsec as u32,
        ctime_sec: st.st_ctime as f64,
        ctime_nsec: st.st_ctime_nsec as u32,
    }
}

fn lstat_c(path: &CStr) -> io::Result<libc::stat> {
    // SAFETY: an all-zero libc::stat is a valid value of this plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: path is NUL-terminated and st is a valid, writable stat buffer.
    if unsafe { libc::lstat(path.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

pub fn lstat_path(path: &[u8]) -> CoreResult<EntryStatJs> {
    let c = to_cstring(path)?;
    lstat_c(&c).map(|st| stat_js(&st)).map_err(|e| os_err("cannot lstat", path, e))
}

#[napi(js_name = "lstat", catch_unwind)]
pub fn lstat_sync(path: JsPath) -> Result<EntryStatJs> {
    Ok(lstat_path(bytes_of(&path))?)
}

/// Closes the directory stream however the listing ends.
struct Dir(*mut libc::DIR);

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: self.0 came from a successful fdopendir and is closed exactly once, here.
        unsafe { libc::closedir(self.0) };
    }
}

fn stat_numbers(name_end: usize, st: Option<&libc::stat>) -> [f64; STAT_FIELDS] {
    let mut v = [0f64; STAT_FIELDS];
    v[0] = name_end as f64;
    match st {
        None => v[1] = -1.0,
        Some(st) => {
            let s = stat_js(st);
            v[1..].copy_from_slice(&[
                s.mode as f64,
                s.uid as f64,
                s.gid as f64,
                s.size,
                s.allocated,
                s.ino,
                s.dev,
                s.nlink,
                s.rdev,
                s.atime_sec,
                s.atime_nsec as f64,
                s.mtime_sec,
                s.mtime_nsec as f64,
                s.ctime_sec,
                s.ctime_nsec as f64,
            ]);
        }
    }
    v
}

/// One entry of a directory as the core read it: what `readDirs` packs for JavaScript and what
/// the tree comparison checks against a previous backup.
pub(crate) struct ListedEntry {
    pub name: Vec<u8>,
    /// None when lstat failed (`error` says why).
    pub stat: Option<libc::stat>,
    pub error: Option<CoreErr>,
    /// Read only when asked for and never for symlinks; empty when the entry has none.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    pub xattr_error: Option<CoreErr>,
    pub link_target: Option<Vec<u8>>,
}

/// The entries of `path` in raw name order, each lstat'ed (and with xattrs and symlink targets
/// when asked for). Fails only when the directory itself cannot be read.
pub(crate) fn scan_dir(path: &[u8], options: ReadDirsOptionsJs) -> CoreResult<Vec<ListedEntry>> {
    let c = to_cstring(path)?;
    // SAFETY: c is NUL-terminated; the returned fd is owned by the DIR stream below.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(os_err("cannot open directory", path, io::Error::last_os_error()));
    }
    // SAFETY: fd is an open directory descriptor; on success the stream takes ownership of it.
    let dirp = unsafe { libc::fdopendir(fd) };
    if dirp.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so fd is still ours to close.
        unsafe { libc::close(fd) };
        return Err(os_err("cannot open directory", path, e));
    }
    let dir = Dir(dirp);
    let mut names: Vec<Vec<u8>> = Vec::new();
    loop {
        // SAFETY: errno is thread-local; clearing it tells end-of-stream from failure below.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: dir.0 is an open stream used only by this thread.
        let ent = unsafe { libc::readdir(dir.0) };
        if ent.is_null() {
            let e = io::Error::last_os_error();
            if e.raw_os_error().unwrap_or(0) != 0 {
                return Err(os_err("cannot read directory", path, e));
            }
            break;
        }
        // SAFETY: d_name of a live dirent is a NUL-terminated name valid until the next readdir.
        let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) }.to_bytes();
        if name != b"." && name != b".." {
            names.push(name.to_vec());
        }
    }
    names.sort_unstable();
    // SAFETY: dir.0 is open; dirfd only reads its descriptor.
    let dfd = unsafe { libc::dirfd(dir.0) };
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let full = || {
            let mut full = path.to_vec();
            if full.last() != Some(&b'/') {
                full.push(b'/');
            }
            full.extend_from_slice(&name);
            full
        };
        let cname = CString::new(name.clone()).expect("directory entries have no NUL");
        // SAFETY: an all-zero libc::stat is a valid value of this plain C struct.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: dfd is open, cname is NUL-terminated and st is writable.
        let rc = unsafe { libc::fstatat(dfd, cname.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
        let mut entry = ListedEntry { name: Vec::new(), stat: None, error: None, xattrs: Vec::new(), xattr_error: None, link_target: None };
        if rc == 0 {
            let is_link = st.st_mode & libc::S_IFMT == libc::S_IFLNK;
            if is_link && options.link_targets.unwrap_or(false) {
                match read_link_at(dfd, &cname) {
                    Ok(target) => entry.link_target = Some(target),
                    Err(e) => entry.error = Some(os_err("cannot read symlink", &full(), e)),
                }
            }
            if !is_link && options.xattrs.unwrap_or(false) {
                match get_xattrs(&full()) {
                    Ok(list) => entry.xattrs = list,
                    Err(e) => entry.xattr_error = Some(e),
                }
            }
            entry.stat = Some(st);
        } else {
            entry.error = Some(os_err("cannot lstat", &full(), io::Error::last_os_error()));
        }
        entry.name = name;
        out.push(entry);
    }
    Ok(out)
}

fn list_dir(path: &[u8], options: ReadDirsOptionsJs) -> CoreResult<PackedListing> {
    Ok(pack_listing(scan_dir(path, options)?))
}

/// Entries as readDirs hands them to JavaScript.
pub(crate) fn pack_listing(entries: Vec<ListedEntry>) -> PackedListing {
    let mut out = PackedListing {
        names: Vec::with_capacity(entries.iter().map(|e| e.name.len()).sum()),
        stats: Vec::with_capacity(entries.len() * STAT_FIELDS * 8),
        extras: Vec::new(),
    };
    for (index, e) in entries.into_iter().enumerate() {
        out.names.extend_from_slice(&e.name);
        let numbers = stat_numbers(out.names.len(), e.stat.as_ref());
        out.push_numbers(&numbers);
        let extra = DirExtraJs {
            index: index as u32,
            error: e.error.map(|x| x.info()),
            xattrs: (!e.xattrs.is_empty())
                .then(|| e.xattrs.into_iter().map(|(name, value)| XattrJs { name: name.into(), value: value.into() }).collect()),
            xattr_error: e.xattr_error.map(|x| x.info()),
            link_target: e.link_target.map(Bytes::from),
        };
        if extra.error.is_some() || extra.xattrs.is_some() || extra.xattr_error.is_some() || extra.link_target.is_some() {
            out.extras.push(extra);
        }
    }
    out
}

/// readlinkat with a growing buffer: the target's raw bytes.
fn read_link_at(dfd: libc::c_int, name: &CStr) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: dfd is an open directory, name is NUL-terminated, buf is writable for its length.
        let n = unsafe { libc::readlinkat(dfd, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if (n as usize) < buf.len() {
            buf.truncate(n as usize);
            return Ok(buf);
        }
        buf.resize(buf.len() * 4, 0);
    }
}

#[napi(js_name = "readDirs", catch_unwind)]
pub fn read_dirs<'env>(env: &'env Env, paths: Vec<JsPath>, options: Option<ReadDirsOptionsJs>) -> Result<Object<'env>> {
    let options = options.unwrap_or_default();
    pool::spawn(env, move || {
        Ok(paths
            .into_iter()
            .map(|p| match list_dir(bytes_of(&p), options) {
                Ok(l) => DirListingJs { path: p, names: l.names.into(), stats: l.stats.into(), extras: l.extras, error: None },
                Err(e) => DirListingJs { path: p, names: Vec::new().into(), stats: Vec::new().into(), extras: Vec::new(), error: Some(e.info()) },
            })
            .collect::<Vec<_>>())
    })
}

/// Calls a list/get xattr function with a growing buffer until the value fits.
fn sized_call(mut call: impl FnMut(&mut [u8]) -> isize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    loop {
        let n = call(&mut buf);
        if n >= 0 {
            buf.truncate(n as usize);
            return Ok(buf);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ERANGE) {
            return Err(e);
        }
        let needed = call(&mut []);
        if needed < 0 {
            return Err(io::Error::last_os_error());
        }
        buf = vec![0u8; (needed as usize).max(buf.len() * 2)];
    }
}

fn get_xattrs(path: &[u8]) -> CoreResult<Vec<(Vec<u8>, Vec<u8>)>> {
    let c = to_cstring(path)?;
    let list = sized_call(|buf| {
        // SAFETY: c is NUL-terminated; buf is writable for buf.len() bytes (0 asks for the size).
        unsafe { libc::llistxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) }
    });
    let list = match list {
        Ok(l) => l,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTSUP)) => return Ok(Vec::new()),
        Err(e) => return Err(os_err("cannot list xattrs of", path, e)),
    };
    let mut out = Vec::new();
    for name in list.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let cname = CString::new(name).expect("split at NUL");
        let value = sized_call(|buf| {
            // SAFETY: both names are NUL-terminated; buf is writable for buf.len() bytes.
            unsafe { libc::lgetxattr(c.as_ptr(), cname.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) }
        });
        match value {
            Ok(v) => out.push((name.to_vec(), v)),
            // Removed between list and get: it is simply not there any more.
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => {}
            Err(e) => return Err(os_err("cannot read xattr of", path, e)),
        }
    }
    Ok(out)
}

#[napi(js_name = "getXattrs", catch_unwind)]
pub fn get_xattrs_async<'env>(env: &'env Env, path: JsPath) -> Result<Object<'env>> {
    pool::spawn(env, move || {
        Ok(get_xattrs(bytes_of(&path))?.into_iter().map(|(name, value)| XattrJs { name: name.into(), value: value.into() }).collect::<Vec<_>>())
    })
}

#[napi(js_name = "setXattr", catch_unwind)]
pub fn set_xattr_async<'env>(env: &'env Env, path: JsPath, name: Uint8Array, value: Uint8Array) -> Result<Object<'env>> {
    pool::spawn(env, move || {
        let p = bytes_of(&path);
        let c = to_cstring(p)?;
        let cname = CString::new(name.to_vec()).map_err(|_| CoreErr::inval("xattr name contains a NUL byte"))?;
        // SAFETY: c and cname are NUL-terminated; value is readable for value.len() bytes.
        let rc = unsafe { libc::lsetxattr(c.as_ptr(), cname.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
        if rc != 0 {
            return Err(write_err("cannot set xattr on", p, io::Error::last_os_error()));
        }
        Ok(())
    })
}

fn timespec(sec: f64, nsec: f64) -> CoreResult<libc::timespec> {
    if sec.fract() != 0.0 || !(0.0..1e9).contains(&nsec) || nsec.fract() != 0.0 {
        return Err(CoreErr::inval(format!("bad time {sec}s {nsec}ns")));
    }
    Ok(libc::timespec { tv_sec: sec as libc::time_t, tv_nsec: nsec as libc::c_long })
}

/// An io error of `what` on a restore target's entry, as the restore reports it.
fn target_err(what: &str, path: &[u8], e: io::Error) -> CoreErr {
    if e.kind() == io::ErrorKind::InvalidInput || e.kind() == io::ErrorKind::NotADirectory {
        // Already names the path (Beneath's own errors).
        return CoreErr::new(Code::Io, format!("{what}: {e}"));
    }
    write_err(what, path, e)
}

fn rc_result(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `act` on a core thread with the restore target `root` opened and `path` (below it); a failure
/// names `what` and the path.
fn beneath_target<'env>(env: &'env Env, root: JsPath, path: JsPath, what: &'static str, act: impl FnOnce(&mut Beneath, &[u8]) -> io::Result<()> + Send + 'static) -> Result<Object<'env>> {
    pool::spawn(env, move || {
        let p = bytes_of(&path);
        Beneath::open(bytes_of(&root)).and_then(|mut target| act(&mut target, p)).map_err(|e| target_err(what, p, e))
    })
}

/// Sets atime and mtime of `path`, beneath the restore target `root`, not following a symlink.
#[napi(js_name = "setTimes", catch_unwind)]
pub fn set_times_async<'env>(
    env: &'env Env,
    root: JsPath,
    path: JsPath,
    atime_sec: f64,
    atime_nsec: f64,
    mtime_sec: f64,
    mtime_nsec: f64,
) -> Result<Object<'env>> {
    let times = [timespec(atime_sec, atime_nsec)?, timespec(mtime_sec, mtime_nsec)?];
    beneath_target(env, root, path, "cannot set times of", move |target, p| {
        let mut name = CString::default();
        rc_result(match target.place(p, &mut name)? {
            // SAFETY: n is NUL-terminated and dir open; times points to two valid timespecs.
            Place::In(dir, n) => unsafe { libc::utimensat(dir, n.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) },
            Place::Root(fd) => {
                let link = CString::new(format!("/proc/self/fd/{fd}")).expect("digits have no NUL byte");
                // SAFETY: link is NUL-terminated; times points to two valid timespecs.
                unsafe { libc::utimensat(libc::AT_FDCWD, link.as_ptr(), times.as_ptr(), 0) }
            }
        })
    })
}

/// mknod(2) of `path` beneath the restore target `root`.
#[napi(js_name = "mknod", catch_unwind)]
pub fn mknod_async<'env>(env: &'env Env, root: JsPath, path: JsPath, mode: u32, rdev: f64) -> Result<Object<'env>> {
    beneath_target(env, root, path, "cannot mknod", move |target, p| {
        let mut name = CString::default();
        match target.place(p, &mut name)? {
            // SAFETY: name is NUL-terminated; mknodat only reads its arguments.
            Place::In(dir, n) => rc_result(unsafe { libc::mknodat(dir, n.as_ptr(), mode as libc::mode_t, rdev as libc::dev_t) }),
            Place::Root(_) => Err(io::Error::from_raw_os_error(libc::EEXIST)),
        }
    })
}

/// Removes what stands at `path` beneath the restore target `root` (with `directories`, a
/// directory with all it holds; without, a directory there fails with EISDIR), never following
/// a symlink; nothing there is fine.
#[napi(js_name = "removeEntry", catch_unwind)]
pub fn remove_entry<'env>(env: &'env Env, root: JsPath, path: JsPath, directories: bool) -> Result<Object<'env>> {
    beneath_target(env, root, path, "cannot remove", move |target, p| {
        let mut name = CString::default();
        match target.place(p, &mut name)? {
            Place::In(dir, n) if directories => remove_at(dir, n),
            // SAFETY: n is NUL-terminated and dir open; unlinkat only reads its arguments.
            Place::In(dir, n) => match rc_result(unsafe { libc::unlinkat(dir, n.as_ptr(), 0) }) {
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
                done => done,
            },
            Place::Root(_) => Err(io::Error::new(io::ErrorKind::InvalidInput, "the restore target itself is not removed")),
        }
    })
}

/// A hard link at `path` to `existing`, both beneath the restore target `root`; neither is
/// followed if it is a symlink.
#[napi(js_name = "linkEntry", catch_unwind)]
pub fn link_entry<'env>(env: &'env Env, root: JsPath, existing: JsPath, path: JsPath) -> Result<Object<'env>> {
    beneath_target(env, root, path, "cannot create hard link", move |target, p| {
        let mut from_name = CString::default();
        let from = match target.place(bytes_of(&existing), &mut from_name)? {
            // The parent's descriptor is the target's cache: keep it open past the next place().
            Place::In(dir, _) => dup_fd(dir)?,
            Place::Root(_) => return Err(io::Error::from_raw_os_error(libc::EPERM)),
        };
        let mut name = CString::default();
        match target.place(p, &mut name)? {
            // SAFETY: both names are NUL-terminated and both descriptors open; linkat only reads them.
            Place::In(dir, n) => rc_result(unsafe { libc::linkat(from.as_raw_fd(), from_name.as_ptr(), dir, n.as_ptr(), 0) }),
            Place::Root(_) => Err(io::Error::from_raw_os_error(libc::EEXIST)),
        }
    })
}

fn dup_fd(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC only reads its arguments.
    let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if copy < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: copy was just made and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

#[napi(object)]
pub struct FinishXattrJs {
    pub name: Uint8Array,
    pub value: Uint8Array,
}

/// The metadata of one restored entry, applied by finishFiles.
#[napi(object)]
pub struct FinishRequestJs {
    pub path: JsPath,
    /// Open descriptor of the file: metadata is set through it, then it is closed. -1: by path,
    /// never following a symlink.
    pub fd: i32,
    /// Owner to set; both absent: left as created.
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// chmod bits; absent: left alone (symlinks have none).
    pub mode: Option<u32>,
    /// The entry's type as restored (S_IFMT bits): set by path only if that is still what is there.
    pub kind: Option<u32>,
    pub xattrs: Vec<FinishXattrJs>,
    pub atime_sec: f64,
    pub atime_nsec: f64,
    pub mtime_sec: f64,
    pub mtime_nsec: f64,
}

fn check(rc: libc::c_int, what: &str, problems: &mut Vec<String>) {
    if rc != 0 {
        problems.push(format!("{what}: {}", io::Error::last_os_error()));
    }
}

/// What finish_one sets on a restored entry.
pub(crate) struct Metadata<'a> {
    /// (uid, gid); None: left as created.
    pub owner: Option<(u32, u32)>,
    /// chmod bits; None: left alone (symlinks have none).
    pub mode: Option<u32>,
    /// S_IFMT bits the entry must have when set by path (None: any but a symlink, or a symlink without `mode`).
    pub kind: Option<u32>,
    pub xattrs: Vec<(&'a [u8], &'a [u8])>,
    /// atime, mtime.
    pub times: CoreResult<[libc::timespec; 2]>,
}

/// What a request asks to set.
pub(crate) fn metadata_of(r: &FinishRequestJs) -> Metadata<'_> {
    Metadata {
        owner: r.uid.zip(r.gid),
        mode: r.mode,
        kind: r.kind,
        xattrs: r.xattrs.iter().map(|x| (&x.name[..], &x.value[..])).collect(),
        times: timespec(r.atime_sec, r.atime_nsec).and_then(|a| Ok([a, timespec(r.mtime_sec, r.mtime_nsec)?])),
    }
}

/// Applies one entry's metadata through `fd` (then closed) when it is >= 0, else by its path
/// beneath `target`; the problems found, each as "cannot …: reason".
pub(crate) fn finish_one(target: &mut Beneath, r: &FinishRequestJs, fd: i32) -> Vec<String> {
    let meta = metadata_of(r);
    if fd >= 0 {
        finish_by_fd(&meta, fd)
    } else {
        finish_by_path(target, bytes_of(&r.path), &meta)
    }
}

/// finish_one's work through a file's open descriptor (then closed), for entries the core
/// restores itself (src/restore) as for requests.
pub(crate) fn finish_by_fd(r: &Metadata<'_>, fd: i32) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some((uid, gid)) = r.owner {
        // SAFETY: fchown only reads its arguments.
        check(unsafe { libc::fchown(fd, uid, gid) }, "cannot set owner", &mut problems);
    }
    if let Some(mode) = r.mode {
        // SAFETY: as above.
        check(unsafe { libc::fchmod(fd, mode as libc::mode_t) }, "cannot set mode", &mut problems);
    }
    for &(xname, value) in &r.xattrs {
        let Ok(name) = CString::new(xname) else {
            problems.push("cannot set extended attribute: its name contains a NUL byte".to_string());
            continue;
        };
        // SAFETY: name is NUL-terminated; value is readable for value.len() bytes.
        let rc = unsafe { libc::fsetxattr(fd, name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
        check(rc, &format!("cannot set extended attribute {}", String::from_utf8_lossy(xname)), &mut problems);
    }
    match &r.times {
        // SAFETY: times points to two valid timespecs.
        Ok(times) => check(unsafe { libc::futimens(fd, times.as_ptr()) }, "cannot set times", &mut problems),
        Err(e) => problems.push(format!("cannot set times: {e}")),
    }
    // SAFETY: the caller hands the descriptor over; it is closed exactly once, here.
    check(unsafe { libc::close(fd) }, "cannot close (the data may not all be written)", &mut problems);
    problems
}

/// The same for an entry already in place (a directory, a symlink, a special file), reached
/// beneath the target and never followed. An entry with a mode (not a symlink) is opened with
/// O_PATH | O_NOFOLLOW and changed through that descriptor (its /proc/self/fd link for what has
/// no call taking an O_PATH descriptor), so a symlink swapped into its place is refused, not
/// followed; a symlink is changed by name from its parent's descriptor, without following it.
fn finish_by_path(target: &mut Beneath, path: &[u8], r: &Metadata<'_>) -> Vec<String> {
    let mut name = CString::default();
    let expected = r.kind.unwrap_or(if r.mode.is_some() { 0 } else { libc::S_IFLNK });
    match target.place(path, &mut name) {
        Err(e) => vec![format!("cannot set metadata: {e}")],
        Ok(Place::Root(fd)) => finish_through(fd, r),
        Ok(Place::In(dir, n)) if expected == libc::S_IFDIR => match open_at_nofollow(dir, n, libc::O_RDONLY | libc::O_DIRECTORY) {
            // A directory through a descriptor of its own: no /proc needed.
            // finish_by_fd closes the descriptor it is given.
            Ok(fd) => finish_by_fd(r, fd.into_raw_fd()),
            Err(e) => vec![format!("cannot set metadata: {}", in_its_place(e, "directory"))],
        },
        Ok(Place::In(dir, n)) => match open_entry(dir, n, expected) {
            Ok(fd) if expected == libc::S_IFLNK => finish_symlink(fd.as_raw_fd(), dir, n, r),
            Ok(fd) => finish_through(fd.as_raw_fd(), r),
            Err(e) => vec![format!("cannot set metadata: {e}")],
        },
    }
}

/// ELOOP/ENOTDIR from an O_NOFOLLOW | O_DIRECTORY open: something else stands where `what` was restored.
fn in_its_place(e: io::Error, what: &str) -> io::Error {
    match e.raw_os_error() {
        Some(libc::ELOOP) | Some(libc::ENOTDIR) => io::Error::new(io::ErrorKind::Other, format!("the {what} restored here was replaced by something else (not changed)")),
        _ => e,
    }
}

fn open_at_nofollow(dir: RawFd, name: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: name is NUL-terminated; openat only reads its arguments.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Each extended attribute set by `set` (name, value): the problems.
fn set_xattrs(r: &Metadata<'_>, problems: &mut Vec<String>, set: impl Fn(&CStr, &[u8]) -> libc::c_int) {
    for &(xname, value) in &r.xattrs {
        let Ok(xattr) = CString::new(xname) else {
            problems.push("cannot set extended attribute: its name contains a NUL byte".to_string());
            continue;
        };
        check(set(&xattr, value), &format!("cannot set extended attribute {}", String::from_utf8_lossy(xname)), problems);
    }
}

/// An entry through its O_PATH descriptor: the owner with fchownat(AT_EMPTY_PATH), the rest
/// through /proc/self/fd/<fd>, which leads to the inode opened whatever its name is now.
fn finish_through(fd: RawFd, r: &Metadata<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    let link = CString::new(format!("/proc/self/fd/{fd}")).expect("digits have no NUL byte");
    if let Some((uid, gid)) = r.owner {
        // SAFETY: fd is open; the empty name is NUL-terminated; fchownat only reads its arguments.
        check(unsafe { libc::fchownat(fd, c"".as_ptr(), uid, gid, libc::AT_EMPTY_PATH) }, "cannot set owner", &mut problems);
    }
    if let Some(mode) = r.mode {
        // SAFETY: link is NUL-terminated; chmod only reads its arguments.
        check(unsafe { libc::chmod(link.as_ptr(), mode as libc::mode_t) }, "cannot set mode", &mut problems);
    }
    // SAFETY: link and the name are NUL-terminated; value is readable for its length.
    set_xattrs(r, &mut problems, |name, value| unsafe { libc::setxattr(link.as_ptr(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0) });
    match &r.times {
        // SAFETY: times points to two valid timespecs; link is NUL-terminated.
        Ok(times) => check(unsafe { libc::utimensat(libc::AT_FDCWD, link.as_ptr(), times.as_ptr(), 0) }, "cannot set times", &mut problems),
        Err(e) => problems.push(format!("cannot set times: {e}")),
    }
    problems
}

/// A symlink (`fd`, its O_PATH descriptor, checked to be one): the owner through it; times and
/// extended attributes by name from its pinned parent, never following the name (no call takes
/// an O_PATH descriptor of a symlink for those).
fn finish_symlink(fd: RawFd, dir: RawFd, name: &CStr, r: &Metadata<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some((uid, gid)) = r.owner {
        // SAFETY: fd is open; the empty name is NUL-terminated; fchownat only reads its arguments.
        check(unsafe { libc::fchownat(fd, c"".as_ptr(), uid, gid, libc::AT_EMPTY_PATH) }, "cannot set owner", &mut problems);
    }
    if !r.xattrs.is_empty() {
        let mut path = format!("/proc/self/fd/{dir}/").into_bytes();
        path.extend_from_slice(name.to_bytes());
        match CString::new(path) {
            // SAFETY: link and the name are NUL-terminated; value is readable for its length.
            Ok(link) => set_xattrs(r, &mut problems, |x, value| unsafe { libc::lsetxattr(link.as_ptr(), x.as_ptr(), value.as_ptr().cast(), value.len(), 0) }),
            Err(_) => problems.push("cannot set extended attributes: the name contains a NUL byte".to_string()),
        }
    }
    match &r.times {
        // SAFETY: times points to two valid timespecs; name is NUL-terminated and dir open.
        Ok(times) => check(unsafe { libc::utimensat(dir, name.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) }, "cannot set times", &mut problems),
        Err(e) => problems.push(format!("cannot set times: {e}")),
    }
    problems
}

/// An entry opened O_PATH | O_NOFOLLOW and checked to be of type `expected` (S_IFMT bits; 0:
/// anything but a symlink): what was swapped into its place is refused, not changed.
fn open_entry(dir: RawFd, name: &CStr, expected: u32) -> io::Result<OwnedFd> {
    let owned = open_at_nofollow(dir, name, libc::O_PATH)?;
    // SAFETY: an all-zero stat is a valid value for fstat to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: the descriptor is open and st writable.
    if unsafe { libc::fstat(owned.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let found = st.st_mode & libc::S_IFMT;
    if (expected == 0 && found == libc::S_IFLNK) || (expected != 0 && found != expected) {
        let what = if found == libc::S_IFLNK { "a symlink" } else { "something of another type" };
        return Err(io::Error::new(io::ErrorKind::Other, format!("{what} is in its place (not changed)")));
    }
    Ok(owned)
}

/// Sets owner, mode, extended attributes and times of many restored entries beneath the restore
/// target `root` in one crossing (closing the files given by descriptor): per entry, the
/// problems found (empty when none).
#[napi(js_name = "finishFiles", catch_unwind)]
pub fn finish_files<'env>(env: &'env Env, root: JsPath, requests: Vec<FinishRequestJs>) -> Result<Object<'env>> {
    pool::spawn(env, move || {
        // Opened for the first entry set by path: the descriptors handed over are closed whatever happens.
        let mut target: Option<io::Result<Beneath>> = None;
        Ok(requests
            .iter()
            .map(|r| {
                if r.fd >= 0 {
                    return finish_by_fd(&metadata_of(r), r.fd);
                }
                match target.get_or_insert_with(|| Beneath::open(bytes_of(&root))) {
                    Ok(beneath) => finish_one(beneath, r, r.fd),
                    Err(e) => vec![format!("cannot set metadata: {e}")],
                }
            })
            .collect::<Vec<Vec<String>>>())
    })
}

#[napi(object, object_from_js = false)]
pub struct CreatedFileJs {
    /// The descriptor, or -1 with errno and message set.
    pub fd: i32,
    pub errno: i32,
    pub message: Option<String>,
}

/// Creates files for writing beneath the restore target `root` (see create_for_writing), mode
/// 0600 until their metadata is set: one crossing for many files.
#[napi(js_name = "createFiles", catch_unwind)]
pub fn create_files<'env>(env: &'env Env, root: JsPath, paths: Vec<JsPath>) -> Result<Object<'env>> {
    pool::spawn(env, move || {
        let mut target = Beneath::open(bytes_of(&root)).map_err(|e| CoreErr::new(Code::Io, e.to_string()))?;
        Ok(paths.iter().map(|p| create_for_writing(&mut target, bytes_of(p))).collect::<Vec<_>>())
    })
}

fn created_err(e: io::Error) -> CreatedFileJs {
    CreatedFileJs { fd: -1, errno: e.raw_os_error().unwrap_or(if e.kind() == io::ErrorKind::NotADirectory { libc::ENOTDIR } else { libc::EINVAL }), message: Some(e.to_string()) }
}

/// Creates one file for writing beneath `target`, mode 0600, always a new inode (O_EXCL): what
/// stands at its name is unlinked first, never opened. A device node or a hard link to a file
/// elsewhere placed there would otherwise be written into. A directory there fails with EISDIR,
/// a parent that is not a real directory beneath the target with ENOTDIR.
pub(crate) fn create_for_writing(target: &mut Beneath, path: &[u8]) -> CreatedFileJs {
    let mut name = CString::default();
    let (dir, n) = match target.place(path, &mut name) {
        Ok(Place::In(dir, n)) => (dir, n),
        Ok(Place::Root(_)) => return created_err(io::Error::from_raw_os_error(libc::EISDIR)),
        Err(e) => return created_err(e),
    };
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    for first in [true, false] {
        // SAFETY: n is NUL-terminated and dir open; openat only reads its arguments.
        let fd = unsafe { libc::openat(dir, n.as_ptr(), flags, 0o600 as libc::c_uint) };
        if fd >= 0 {
            return CreatedFileJs { fd, errno: 0, message: None };
        }
        let e = io::Error::last_os_error();
        if !first || e.raw_os_error() != Some(libc::EEXIST) {
            return created_err(e);
        }
        // SAFETY: as above; unlinkat removes a non-directory entry (EISDIR for a directory).
        if unsafe { libc::unlinkat(dir, n.as_ptr(), 0) } != 0 {
            return created_err(io::Error::last_os_error());
        }
    }
    created_err(io::Error::from_raw_os_error(libc::EEXIST))
}

#[napi(object, object_from_js = false)]
pub struct MadeEntryJs {
    /// 0 when made; else the errno and its message.
    pub errno: i32,
    pub message: Option<String>,
}

fn made_err(e: io::Error) -> MadeEntryJs {
    let created = created_err(e);
    MadeEntryJs { errno: created.errno, message: created.message }
}

/// Makes one directory (mode 0700) or, with `target`, one symlink, by name from its parent
/// opened beneath the restore target: a symlink or a non-directory on the way fails the entry
/// (ENOTDIR) instead of being followed out of the restore.
fn make_entry(beneath: &mut Beneath, path: &[u8], target: Option<&[u8]>) -> std::result::Result<(), MadeEntryJs> {
    let target = target.map(to_cstring).transpose().map_err(|e| MadeEntryJs { errno: libc::EINVAL, message: Some(e.to_string()) })?;
    let mut name = CString::default();
    let (dir, n) = match beneath.place(path, &mut name).map_err(made_err)? {
        Place::In(dir, n) => (dir, n),
        Place::Root(_) => return Err(made_err(io::Error::from_raw_os_error(libc::EEXIST))),
    };
    // SAFETY: n and target are NUL-terminated; dir is an open directory.
    let rc = unsafe {
        match &target {
            None => libc::mkdirat(dir, n.as_ptr(), 0o700),
            Some(t) => libc::symlinkat(t.as_ptr(), dir, n.as_ptr()),
        }
    };
    rc_result(rc).map_err(made_err)
}

/// Makes directories (mode 0700, or with `targets` symlinks) in order beneath the restore
/// target `root`, one crossing for many: per path errno 0 or why not. Never through a symlink.
#[napi(js_name = "makeEntries", catch_unwind)]
pub fn make_entries<'env>(env: &'env Env, root: JsPath, paths: Vec<JsPath>, targets: Option<Vec<Uint8Array>>) -> Result<Object<'env>> {
    if targets.as_ref().is_some_and(|t| t.len() != paths.len()) {
        return Err(CoreErr::inval("makeEntries: one link target per path").into());
    }
    pool::spawn(env, move || {
        let mut beneath = Beneath::open(bytes_of(&root)).map_err(|e| CoreErr::new(Code::Io, e.to_string()))?;
        Ok(paths
            .iter()
            .enumerate()
            .map(|(i, p)| make_entry(&mut beneath, bytes_of(p), targets.as_ref().map(|t| &t[i][..])).err().unwrap_or(MadeEntryJs { errno: 0, message: None }))
            .collect::<Vec<_>>())
    })
}
