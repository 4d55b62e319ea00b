//! Restore paths resolved beneath the restore's target. A restore runs as root into directories
//! that others may write in (a container's volume): checking a parent with lstat and then
//! using its path leaves a window in which a directory can be swapped for a symlink, and every
//! path-based call after it (open, mkdir, chown, rm -r) would follow it out of the target.
//! Here each entry's parent is opened from a descriptor of the target with openat2
//! (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS; a walk with O_NOFOLLOW per component where openat2 is
//! missing), and the entry is then reached by name from that descriptor, never followed.

use crate::paths::{display, to_cstring};
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The target directory of a restore and the parent last resolved in it (a restore's entries
/// come mostly directory by directory).
pub(crate) struct Beneath {
    /// Absolute, without a trailing slash ("" for "/").
    root: Vec<u8>,
    root_fd: OwnedFd,
    last: Option<(Vec<u8>, OwnedFd)>,
}

/// Where an entry is: in a parent directory (by name), or the target itself.
pub(crate) enum Place<'a> {
    In(RawFd, &'a CStr),
    Root(RawFd),
}

/// An error for an entry whose parent is not a real directory beneath the target: ENOTDIR,
/// which the restore does not take for something in the entry's own place that it may remove.
fn not_beneath(path: &[u8], why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotADirectory, format!("{}: {why}", display(path)))
}

fn open_at(dir: RawFd, name: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: name is NUL-terminated; openat only reads its arguments.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

const DIR_FLAGS: libc::c_int = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW;

/// `rel` (relative, no "." or ".." components) opened as a directory beneath `root`, no symlink followed.
fn open_dir_beneath(root: RawFd, rel: &[u8]) -> io::Result<OwnedFd> {
    let c = CString::new(rel).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: open_how is plain integers; all zero is its empty value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (DIR_FLAGS | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: c is NUL-terminated and `how` a valid open_how of the size passed; the syscall only reads them.
    let fd = unsafe { libc::syscall(libc::SYS_openat2, root, c.as_ptr(), &how as *const libc::open_how, std::mem::size_of::<libc::open_how>()) };
    if fd >= 0 {
        // SAFETY: fd was just opened and is owned by nobody else.
        return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
    }
    let e = io::Error::last_os_error();
    // Kernels before 5.6, and sandboxes that filter the call: one component at a time.
    if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) {
        return open_dir_by_components(root, rel);
    }
    Err(e)
}

/// open_dir_beneath without openat2: each component opened from the last with O_NOFOLLOW.
fn open_dir_by_components(root: RawFd, rel: &[u8]) -> io::Result<OwnedFd> {
    let mut dir: Option<OwnedFd> = None;
    for part in rel.split(|&b| b == b'/').filter(|p| !p.is_empty()) {
        if part == b"." || part == b".." {
            return Err(io::Error::from_raw_os_error(libc::EXDEV));
        }
        let name = CString::new(part).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let at = dir.as_ref().map_or(root, |d| d.as_raw_fd());
        dir = Some(open_at(at, &name, DIR_FLAGS)?);
    }
    dir.map_or_else(|| open_at(root, c".", DIR_FLAGS), Ok)
}

impl Beneath {
    /// The target, opened as given (following symlinks in its own path: the user names it).
    pub(crate) fn open(root: &[u8]) -> io::Result<Beneath> {
        let trimmed = match root.iter().rposition(|&b| b != b'/') {
            Some(end) => &root[..=end],
            None => &root[..0],
        };
        if root.first() != Some(&b'/') {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("the restore target {} is not an absolute path", display(root))));
        }
        let c = to_cstring(if trimmed.is_empty() { b"/" } else { trimmed }).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        // SAFETY: c is NUL-terminated; open only reads its arguments.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("cannot open the restore target {}: {e}", display(root))));
        }
        // SAFETY: fd was just opened and is owned by nobody else.
        Ok(Beneath { root: trimmed.to_vec(), root_fd: unsafe { OwnedFd::from_raw_fd(fd) }, last: None })
    }

    /// Resolves `path` (absolute, below the target) to its parent's descriptor and its name in
    /// `name`, or to the target itself. No symlink is followed between the target and the entry.
    pub(crate) fn place<'n>(&mut self, path: &[u8], name: &'n mut CString) -> io::Result<Place<'n>> {
        let rel = match path.strip_prefix(&self.root[..]) {
            Some(rest) if rest.is_empty() => return Ok(Place::Root(self.root_fd.as_raw_fd())),
            Some(rest) if rest[0] == b'/' => &rest[rest.iter().position(|&b| b != b'/').unwrap_or(rest.len())..],
            _ => return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} is outside the restore target", display(path)))),
        };
        let (parent, base) = match rel.iter().rposition(|&b| b == b'/') {
            Some(i) => (&rel[..i], &rel[i + 1..]),
            None => (&rel[..0], rel),
        };
        if base.is_empty() || base == b"." || base == b".." || parent.split(|&b| b == b'/').any(|p| p == b"." || p == b"..") {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} names no entry beneath the restore target", display(path))));
        }
        *name = CString::new(base).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("{} contains a NUL byte", display(path))))?;
        if parent.is_empty() {
            return Ok(Place::In(self.root_fd.as_raw_fd(), name.as_c_str()));
        }
        if self.last.as_ref().map_or(true, |(p, _)| p[..] != *parent) {
            self.last = None;
            let fd = open_dir_beneath(self.root_fd.as_raw_fd(), parent).map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) | Some(libc::ENOTDIR) | Some(libc::EXDEV) => not_beneath(&path[..path.len() - base.len() - 1], "not a directory beneath the restore target (a symlink or a file is in the way); not followed"),
                _ => e,
            })?;
            self.last = Some((parent.to_vec(), fd));
        }
        Ok(Place::In(self.last.as_ref().map_or(-1, |(_, fd)| fd.as_raw_fd()), name.as_c_str()))
    }
}

/// Directories below one removed, at most: deeper (built to exhaust the stack) is refused.
const REMOVE_DEPTH: usize = 256;

/// Removes what stands at `name` in `dir` (a directory with everything in it), never following a
/// symlink: each directory below is opened by name with O_NOFOLLOW from its parent's descriptor,
/// and one on another file system (a mount point) is refused. Nothing there is not an error.
pub(crate) fn remove_at(dir: RawFd, name: &CStr) -> io::Result<()> {
    remove_below(dir, name, 0, None)
}

fn remove_below(dir: RawFd, name: &CStr, depth: usize, device: Option<libc::dev_t>) -> io::Result<()> {
    // SAFETY: name is NUL-terminated; unlinkat only reads its arguments.
    if unsafe { libc::unlinkat(dir, name.as_ptr(), 0) } == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOENT) => return Ok(()),
        Some(libc::EISDIR) | Some(libc::EPERM) => {}
        _ => return Err(e),
    }
    if depth > REMOVE_DEPTH {
        return Err(io::Error::new(io::ErrorKind::Other, format!("more than {REMOVE_DEPTH} directories deep: not removed")));
    }
    let sub = open_at(dir, name, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW).map_err(|_| e)?;
    // SAFETY: an all-zero stat is a valid value for fstat to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: the descriptor is open and st writable.
    if unsafe { libc::fstat(sub.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if device.is_some_and(|d| d != st.st_dev) {
        return Err(io::Error::new(io::ErrorKind::Other, format!("{} is on another file system (a mount point): not removed", name.to_string_lossy())));
    }
    for entry in entries(&sub)? {
        remove_below(sub.as_raw_fd(), &entry, depth + 1, Some(st.st_dev))?;
    }
    // SAFETY: as above, with AT_REMOVEDIR.
    if unsafe { libc::unlinkat(dir, name.as_ptr(), libc::AT_REMOVEDIR) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The names in the open directory `dir`, but "." and "..".
fn entries(dir: &OwnedFd) -> io::Result<Vec<CString>> {
    // fdopendir takes its descriptor over: a close-on-exec duplicate keeps `dir` ours.
    // SAFETY: F_DUPFD_CLOEXEC only reads its arguments.
    let listing_fd = unsafe { libc::fcntl(dir.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    if listing_fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: listing_fd is an open directory descriptor that fdopendir takes over.
    let stream = unsafe { libc::fdopendir(listing_fd) };
    if stream.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so listing_fd is still ours to close.
        unsafe { libc::close(listing_fd) };
        return Err(e);
    }
    let mut names = Vec::new();
    let result = loop {
        // readdir tells the end from an error only through errno.
        // SAFETY: __errno_location returns this thread's errno, writable.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: stream is a valid DIR* until closedir below; the entry is read before the next call.
        let entry = unsafe { libc::readdir64(stream) };
        if entry.is_null() {
            let e = io::Error::last_os_error();
            break if e.raw_os_error() == Some(0) { Ok(()) } else { Err(e) };
        }
        // SAFETY: d_name of a returned entry is NUL-terminated.
        let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            names.push(name.to_owned());
        }
    };
    // SAFETY: stream came from fdopendir and is closed once, here.
    unsafe { libc::closedir(stream) };
    result.map(|()| names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("bolt-beneath-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A fresh folder holding `target` (with the directories `inside` made in it) and an empty
    /// `outside`; also the target's path as bytes.
    fn target_and_outside(name: &str, inside: &str) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
        let d = tmp(name);
        let target = d.join("target");
        std::fs::create_dir_all(target.join(inside)).unwrap();
        std::fs::create_dir_all(d.join("outside")).unwrap();
        let t = target.as_os_str().as_encoded_bytes().to_vec();
        (d, target, t)
    }

    #[test]
    fn resolves_parents_beneath_the_target_and_refuses_symlinks_on_the_way() {
        let (d, target, t) = target_and_outside("place", "a/b");
        symlink(d.join("outside"), target.join("a/link")).unwrap();
        let mut b = Beneath::open(&t).unwrap();
        let mut name = CString::default();
        let at = |rel: &str| [&t[..], rel.as_bytes()].concat();
        assert!(matches!(b.place(&at("/a/b/f"), &mut name).unwrap(), Place::In(fd, n) if fd >= 0 && n.to_bytes() == b"f"));
        assert!(matches!(b.place(&at(""), &mut name).unwrap(), Place::Root(_)));
        assert!(matches!(b.place(&at("/top"), &mut name).unwrap(), Place::In(_, n) if n.to_bytes() == b"top"));
        let e = b.place(&at("/a/link/f"), &mut name).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::NotADirectory, "{e}");
        assert!(e.to_string().contains("a/link"), "{e}");
        assert_eq!(b.place(b"/elsewhere/f", &mut name).err().unwrap().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(b.place(&at("/a/../f"), &mut name).err().unwrap().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(b.place(&at("/a/.."), &mut name).err().unwrap().kind(), io::ErrorKind::InvalidInput);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn an_entry_is_made_in_the_parent_resolved_even_if_its_path_now_leads_elsewhere() {
        let (d, target, t) = target_and_outside("pinned", "dir");
        let at = |rel: &str| [&t[..], rel.as_bytes()].concat();
        let close = |fd: i32| {
            assert!(fd >= 0);
            // SAFETY: fd was opened by create_for_writing and is closed once, here.
            unsafe { libc::close(fd) };
        };
        let mut b = Beneath::open(&t).unwrap();
        close(crate::fs::create_for_writing(&mut b, &at("/dir/one")).fd);
        // The parent swapped for a symlink out of the target after it was resolved: the next
        // entry still goes into the directory resolved (now "moved"), by its descriptor.
        std::fs::rename(target.join("dir"), target.join("moved")).unwrap();
        symlink(d.join("outside"), target.join("dir")).unwrap();
        close(crate::fs::create_for_writing(&mut b, &at("/dir/two")).fd);
        assert!(target.join("moved/two").exists());
        // Resolved afresh, the path is refused.
        let mut fresh = Beneath::open(&t).unwrap();
        assert_eq!(crate::fs::create_for_writing(&mut fresh, &at("/dir/three")).errno, libc::ENOTDIR);
        assert_eq!(std::fs::read_dir(d.join("outside")).unwrap().count(), 0);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn the_component_walk_refuses_what_openat2_refuses() {
        let d = tmp("walk");
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        std::fs::write(d.join("a/file"), b"x").unwrap();
        symlink("b", d.join("a/link")).unwrap();
        symlink(d.join("a"), d.join("up")).unwrap();
        let root = open_at(libc::AT_FDCWD, &CString::new(d.as_os_str().as_encoded_bytes()).unwrap(), DIR_FLAGS).unwrap();
        for good in ["a", "a/b", "a//b/"] {
            assert!(open_dir_by_components(root.as_raw_fd(), good.as_bytes()).is_ok(), "{good}");
            assert!(open_dir_beneath(root.as_raw_fd(), good.as_bytes()).is_ok(), "{good}");
        }
        for bad in ["a/link", "a/file", "up/b", "missing/b", "../x", "a/../../x"] {
            assert!(open_dir_by_components(root.as_raw_fd(), bad.as_bytes()).is_err(), "{bad}");
            assert!(open_dir_beneath(root.as_raw_fd(), bad.as_bytes()).is_err(), "{bad}");
        }
        // ".." that stays beneath is resolved by openat2; the walk refuses any (place() never passes one).
        assert!(open_dir_by_components(root.as_raw_fd(), b"a/../a").is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn removes_a_tree_without_following_its_symlinks() {
        let d = tmp("remove");
        std::fs::create_dir_all(d.join("victim/x/y")).unwrap();
        std::fs::write(d.join("victim/x/y/f"), b"x").unwrap();
        std::fs::create_dir_all(d.join("keep")).unwrap();
        std::fs::write(d.join("keep/precious"), b"p").unwrap();
        symlink(d.join("keep"), d.join("victim/x/to-keep")).unwrap();
        let dir = open_at(libc::AT_FDCWD, &CString::new(d.as_os_str().as_encoded_bytes()).unwrap(), libc::O_RDONLY | libc::O_DIRECTORY).unwrap();
        remove_at(dir.as_raw_fd(), c"victim").unwrap();
        assert!(!d.join("victim").exists());
        assert_eq!(std::fs::read(d.join("keep/precious")).unwrap(), b"p");
        remove_at(dir.as_raw_fd(), c"missing").unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn refuses_a_tree_deeper_than_its_limit_and_removes_one_at_it() {
        let d = tmp("deep");
        let dir = open_at(libc::AT_FDCWD, &CString::new(d.as_os_str().as_encoded_bytes()).unwrap(), libc::O_RDONLY | libc::O_DIRECTORY).unwrap();
        let nest = |top: &str, levels: usize| {
            // Built by descriptor: the path would pass PATH_MAX.
            let mut at = dir.try_clone().unwrap();
            let mut name = CString::new(top).unwrap();
            for _ in 0..=levels {
                // SAFETY: name is NUL-terminated and at open.
                assert_eq!(unsafe { libc::mkdirat(at.as_raw_fd(), name.as_ptr(), 0o700) }, 0);
                at = open_at(at.as_raw_fd(), &name, libc::O_RDONLY | libc::O_DIRECTORY).unwrap();
                name = CString::new("x").unwrap();
            }
        };
        nest("ok", REMOVE_DEPTH);
        remove_at(dir.as_raw_fd(), c"ok").unwrap();
        assert!(!d.join("ok").exists());
        nest("deep", REMOVE_DEPTH + 1);
        let e = remove_at(dir.as_raw_fd(), c"deep").err().unwrap();
        assert!(e.to_string().contains("deep"), "{e}");
        assert!(d.join("deep").exists());
        std::process::Command::new("rm").arg("-rf").arg(&d).status().unwrap();
    }
}
