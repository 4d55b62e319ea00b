//! BTRFS subvolumes and snapshots through the kernel's ioctls (no btrfs-progs): which filesystem a
//! path is on, which subvolume holds it, the subvolumes nested in one, read-only snapshots
//! (BTRFS_IOC_SNAP_CREATE_V2), their deletion (BTRFS_IOC_SNAP_DESTROY_V2, or the v1 call on
//! kernels before 5.7) and the subvolumes in a directory. Layouts: <linux/btrfs.h>.

use crate::bytes::Bytes;
use crate::error::{Code, CoreErr, CoreResult};
use crate::paths::{bytes_of, display, to_cstring, JsPath};
use crate::pool;
use napi::bindgen_prelude::Object;
use napi::{Env, Result};
use napi_derive::napi;
use std::ffi::CStr;
use std::io;

const BTRFS_SUPER_MAGIC: i64 = 0x9123_683e;
const ZFS_SUPER_MAGIC: i64 = 0x2fc1_2fc1;
/// Every subvolume's root directory has this inode number (BTRFS_FIRST_FREE_OBJECTID).
const SUBVOLUME_ROOT_INO: u64 = 256;

const BTRFS_SUBVOL_RDONLY: u64 = 1 << 1;
const BTRFS_IOC_SNAP_CREATE_V2: libc::c_ulong = 0x5000_9417;
const BTRFS_IOC_SNAP_DESTROY: libc::c_ulong = 0x5000_940f;
const BTRFS_IOC_SNAP_DESTROY_V2: libc::c_ulong = 0x5000_943f;
const BTRFS_IOC_SUBVOL_GETFLAGS: libc::c_ulong = 0x8008_9419;
const BTRFS_IOC_INO_LOOKUP: libc::c_ulong = 0xd000_9412;
const BTRFS_IOC_INO_LOOKUP_USER: libc::c_ulong = 0xd000_943e;
const BTRFS_IOC_GET_SUBVOL_ROOTREF: libc::c_ulong = 0xd000_943d;

/// struct btrfs_ioctl_vol_args_v2 (4096 bytes).
#[repr(C)]
struct VolArgsV2 {
    fd: i64,
    transid: u64,
    flags: u64,
    unused: [u64; 4],
    name: [u8; 4040],
}

/// struct btrfs_ioctl_vol_args (4096 bytes).
#[repr(C)]
struct VolArgs {
    fd: i64,
    name: [u8; 4088],
}

/// struct btrfs_ioctl_ino_lookup_args (4096 bytes).
#[repr(C)]
struct InoLookupArgs {
    treeid: u64,
    objectid: u64,
    name: [u8; 4080],
}

/// struct btrfs_ioctl_ino_lookup_user_args (4096 bytes).
#[repr(C)]
struct InoLookupUserArgs {
    dirid: u64,
    treeid: u64,
    name: [u8; 256],
    path: [u8; 3824],
}

#[repr(C)]
#[derive(Clone, Copy)]
struct RootRef {
    treeid: u64,
    dirid: u64,
}

/// struct btrfs_ioctl_get_subvol_rootref_args (4096 bytes).
#[repr(C)]
struct RootRefArgs {
    min_treeid: u64,
    rootref: [RootRef; 255],
    num_items: u8,
    align: [u8; 7],
}

const _: () = assert!(std::mem::size_of::<VolArgsV2>() == 4096);
const _: () = assert!(std::mem::size_of::<VolArgs>() == 4096);
const _: () = assert!(std::mem::size_of::<InoLookupArgs>() == 4096);
const _: () = assert!(std::mem::size_of::<InoLookupUserArgs>() == 4096);
const _: () = assert!(std::mem::size_of::<RootRefArgs>() == 4096);

/// An open descriptor, closed on drop.
struct Fd(libc::c_int);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: self.0 came from a successful open and is closed exactly once, here.
        unsafe { libc::close(self.0) };
    }
}

fn os_err(what: &str, path: &[u8], e: io::Error) -> CoreErr {
    let name = display(path);
    let code = match e.raw_os_error() {
        Some(libc::ENOTTY) | Some(libc::EOPNOTSUPP) => Code::Unsupported,
        Some(libc::EINVAL) => Code::Inval,
        _ => Code::Io,
    };
    CoreErr::new(code, format!("{what} {name}: {e}")).with_subject(name)
}

fn open_dir(path: &[u8]) -> CoreResult<Fd> {
    let c = to_cstring(path)?;
    // SAFETY: c is NUL-terminated; the descriptor is owned by the returned Fd.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(os_err("cannot open directory", path, io::Error::last_os_error()));
    }
    Ok(Fd(fd))
}

fn fstat(fd: &Fd, path: &[u8]) -> CoreResult<libc::stat> {
    // SAFETY: an all-zero libc::stat is a valid value of this plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open and st is a writable stat buffer.
    if unsafe { libc::fstat(fd.0, &mut st) } != 0 {
        return Err(os_err("cannot stat", path, io::Error::last_os_error()));
    }
    Ok(st)
}

fn statfs_magic(path: &[u8]) -> CoreResult<i64> {
    let c = to_cstring(path)?;
    // SAFETY: an all-zero libc::statfs is a valid value of this plain C struct.
    let mut sf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is NUL-terminated and sf is a writable statfs buffer.
    if unsafe { libc::statfs(c.as_ptr(), &mut sf) } != 0 {
        return Err(os_err("cannot statfs", path, io::Error::last_os_error()));
    }
    Ok(sf.f_type as i64)
}

fn require_btrfs(path: &[u8]) -> CoreResult<()> {
    if statfs_magic(path)? != BTRFS_SUPER_MAGIC {
        let name = display(path);
        return Err(CoreErr::new(Code::Unsupported, format!("{name} is not on a btrfs filesystem")).with_subject(name));
    }
    Ok(())
}

/// Copies `name` into a fixed, NUL-terminated name field.
fn fill_name(field: &mut [u8], name: &[u8]) -> CoreResult<()> {
    if name.is_empty() || name.len() >= field.len() || name.contains(&0) || name.contains(&b'/') || name == b"." || name == b".." {
        return Err(CoreErr::inval(format!("bad subvolume name {:?}", display(name))));
    }
    field[..name.len()].copy_from_slice(name);
    Ok(())
}

fn c_field(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

fn parent_and_name(path: &[u8]) -> CoreResult<(Vec<u8>, Vec<u8>)> {
    let trimmed = path.strip_suffix(b"/").unwrap_or(path);
    let slash = trimmed.iter().rposition(|&b| b == b'/').ok_or_else(|| CoreErr::inval(format!("expected an absolute path: {}", display(path))))?;
    let parent = if slash == 0 { b"/".to_vec() } else { trimmed[..slash].to_vec() };
    Ok((parent, trimmed[slash + 1..].to_vec()))
}

fn subvolume_id(fd: &Fd, path: &[u8]) -> CoreResult<u64> {
    // SAFETY: an all-zero InoLookupArgs is valid (plain integers and bytes).
    let mut args: InoLookupArgs = unsafe { std::mem::zeroed() };
    args.objectid = SUBVOLUME_ROOT_INO;
    // SAFETY: fd is open on btrfs; args is a writable buffer of the size this ioctl number encodes.
    if unsafe { libc::ioctl(fd.0, BTRFS_IOC_INO_LOOKUP, &mut args) } != 0 {
        return Err(os_err("cannot look up the subvolume of", path, io::Error::last_os_error()));
    }
    Ok(args.treeid)
}

fn read_only(fd: &Fd, path: &[u8]) -> CoreResult<bool> {
    let mut flags: u64 = 0;
    // SAFETY: fd is open on a subvolume root; flags is a writable u64 as the ioctl expects.
    if unsafe { libc::ioctl(fd.0, BTRFS_IOC_SUBVOL_GETFLAGS, &mut flags) } != 0 {
        return Err(os_err("cannot read the flags of subvolume", path, io::Error::last_os_error()));
    }
    Ok(flags & BTRFS_SUBVOL_RDONLY != 0)
}

#[napi(object, object_from_js = false)]
pub struct FilesystemTypeJs {
    pub magic: f64,
    pub name: String,
}

/// The filesystem a path is on, by statfs magic.
#[napi(js_name = "filesystemType", catch_unwind)]
pub fn filesystem_type(path: JsPath) -> Result<FilesystemTypeJs> {
    let magic = statfs_magic(bytes_of(&path))?;
    let name = match magic {
        BTRFS_SUPER_MAGIC => "btrfs",
        ZFS_SUPER_MAGIC => "zfs",
        _ => "other",
    };
    Ok(FilesystemTypeJs { magic: magic as f64, name: name.to_string() })
}

#[napi(object, object_from_js = false)]
pub struct SubvolumeJs {
    pub id: f64,
    /// The subvolume's root directory (the topmost directory of `path` on the same device).
    pub root: Bytes,
    pub read_only: bool,
}

fn lstat_bytes(path: &[u8]) -> CoreResult<libc::stat> {
    let c = to_cstring(path)?;
    // SAFETY: an all-zero libc::stat is a valid value of this plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: c is NUL-terminated and st is a writable stat buffer.
    if unsafe { libc::lstat(c.as_ptr(), &mut st) } != 0 {
        return Err(os_err("cannot lstat", path, io::Error::last_os_error()));
    }
    Ok(st)
}

/// The subvolume holding an absolute path: its id, root directory and read-only flag.
#[napi(js_name = "btrfsSubvolume", catch_unwind)]
pub fn btrfs_subvolume(path: JsPath) -> Result<SubvolumeJs> {
    let p = bytes_of(&path);
    if p.first() != Some(&b'/') {
        return Err(CoreErr::inval(format!("expected an absolute path: {}", display(p))).into());
    }
    require_btrfs(p)?;
    // Each subvolume has its own device number: walk up while the parent shares it. The root is
    // where the walk stops (its inode is 256); a directory that is not is a mount of a subdirectory.
    let mut root = p.strip_suffix(b"/").filter(|r| !r.is_empty()).unwrap_or(p).to_vec();
    let mut st = lstat_bytes(&root)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        root = parent_and_name(&root)?.0;
        st = lstat_bytes(&root)?;
    }
    while st.st_ino != SUBVOLUME_ROOT_INO && root != b"/" {
        let parent = parent_and_name(&root)?.0;
        let pst = lstat_bytes(&parent)?;
        if pst.st_dev != st.st_dev {
            break;
        }
        root = parent;
        st = pst;
    }
    let fd = open_dir(&root)?;
    let id = subvolume_id(&fd, &root)?;
    let ro = if fstat(&fd, &root)?.st_ino == SUBVOLUME_ROOT_INO { read_only(&fd, &root)? } else { false };
    Ok(SubvolumeJs { id: id as f64, root: root.into(), read_only: ro })
}

#[napi(object, object_from_js = false)]
pub struct ChildSubvolumeJs {
    pub id: f64,
    pub path: Bytes,
}

/// Subvolumes whose roots lie directly inside the subvolume rooted at `root` (one level).
#[napi(js_name = "btrfsChildSubvolumes", catch_unwind)]
pub fn btrfs_child_subvolumes(root: JsPath) -> Result<Vec<ChildSubvolumeJs>> {
    let p = bytes_of(&root);
    require_btrfs(p)?;
    let fd = open_dir(p)?;
    if fstat(&fd, p)?.st_ino != SUBVOLUME_ROOT_INO {
        return Err(CoreErr::inval(format!("{} is not the root of a subvolume", display(p))).into());
    }
    let mut refs: Vec<RootRef> = Vec::new();
    // SAFETY: an all-zero RootRefArgs is valid (plain integers).
    let mut args: Box<RootRefArgs> = Box::new(unsafe { std::mem::zeroed() });
    loop {
        // SAFETY: fd is a subvolume root on btrfs; args is a writable buffer of the encoded size.
        let rc = unsafe { libc::ioctl(fd.0, BTRFS_IOC_GET_SUBVOL_ROOTREF, &mut *args as *mut RootRefArgs) };
        let more = rc != 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EOVERFLOW);
        if rc != 0 && !more {
            return Err(os_err("cannot list the subvolumes inside", p, io::Error::last_os_error()).into());
        }
        refs.extend_from_slice(&args.rootref[..args.num_items as usize]);
        if !more {
            break;
        }
        // The kernel left min_treeid at the next id to ask for.
        args.num_items = 0;
    }
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        // SAFETY: an all-zero InoLookupUserArgs is valid (plain integers and bytes).
        let mut look: Box<InoLookupUserArgs> = Box::new(unsafe { std::mem::zeroed() });
        look.dirid = r.dirid;
        look.treeid = r.treeid;
        // SAFETY: fd is the subvolume root that holds dirid; look is a writable buffer of the encoded size.
        if unsafe { libc::ioctl(fd.0, BTRFS_IOC_INO_LOOKUP_USER, &mut *look as *mut InoLookupUserArgs) } != 0 {
            let e = io::Error::last_os_error();
            // Deleted meanwhile: not there any more.
            if e.raw_os_error() == Some(libc::ENOENT) {
                continue;
            }
            return Err(os_err("cannot resolve a subvolume inside", p, e).into());
        }
        let mut full = p.strip_suffix(b"/").unwrap_or(p).to_vec();
        full.push(b'/');
        full.extend_from_slice(c_field(&look.path));
        if full.last() != Some(&b'/') {
            full.push(b'/');
        }
        full.extend_from_slice(c_field(&look.name));
        out.push(ChildSubvolumeJs { id: r.treeid as f64, path: full.into() });
    }
    Ok(out)
}

fn create_snapshot(source: &[u8], dest_dir: &[u8], name: &[u8], ro: bool) -> CoreResult<()> {
    require_btrfs(source)?;
    let src = open_dir(source)?;
    if fstat(&src, source)?.st_ino != SUBVOLUME_ROOT_INO {
        return Err(CoreErr::inval(format!("{} is not the root of a subvolume", display(source))).with_subject(display(source)));
    }
    let dst = open_dir(dest_dir)?;
    // SAFETY: an all-zero VolArgsV2 is valid (plain integers and bytes).
    let mut args: Box<VolArgsV2> = Box::new(unsafe { std::mem::zeroed() });
    args.fd = src.0 as i64;
    args.flags = if ro { BTRFS_SUBVOL_RDONLY } else { 0 };
    fill_name(&mut args.name, name)?;
    // SAFETY: dst is a directory on btrfs, args a writable buffer of the encoded size naming src's open fd.
    if unsafe { libc::ioctl(dst.0, BTRFS_IOC_SNAP_CREATE_V2, &mut *args as *mut VolArgsV2) } != 0 {
        let mut target = dest_dir.to_vec();
        target.push(b'/');
        target.extend_from_slice(name);
        return Err(os_err(&format!("cannot snapshot {} as", display(source)), &target, io::Error::last_os_error()));
    }
    Ok(())
}

/// Snapshots the subvolume rooted at `source` as `destDir/name` (read-only when asked).
#[napi(js_name = "btrfsCreateSnapshot", catch_unwind)]
pub fn btrfs_create_snapshot<'env>(env: &'env Env, source: JsPath, dest_dir: JsPath, name: JsPath, read_only: bool) -> Result<Object<'env>> {
    pool::spawn(env, move || create_snapshot(bytes_of(&source), bytes_of(&dest_dir), bytes_of(&name), read_only))
}

/// Deletes the subvolume (snapshot) rooted at `path`. Synchronous, so it can run while the
/// process exits.
#[napi(js_name = "btrfsDeleteSubvolume", catch_unwind)]
pub fn btrfs_delete_subvolume(path: JsPath) -> Result<()> {
    let p = bytes_of(&path);
    require_btrfs(p)?;
    if lstat_bytes(p)?.st_ino != SUBVOLUME_ROOT_INO {
        return Err(CoreErr::inval(format!("{} is not a subvolume", display(p))).with_subject(display(p)).into());
    }
    let (parent, name) = parent_and_name(p)?;
    let dir = open_dir(&parent)?;
    // SAFETY: an all-zero VolArgsV2 is valid (plain integers and bytes).
    let mut v2: Box<VolArgsV2> = Box::new(unsafe { std::mem::zeroed() });
    fill_name(&mut v2.name, &name)?;
    // SAFETY: dir is the parent directory on btrfs; v2 is a writable buffer of the encoded size.
    if unsafe { libc::ioctl(dir.0, BTRFS_IOC_SNAP_DESTROY_V2, &mut *v2 as *mut VolArgsV2) } == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::ENOTTY) {
        return Err(os_err("cannot delete subvolume", p, e).into());
    }
    // SAFETY: an all-zero VolArgs is valid (plain integers and bytes).
    let mut v1: Box<VolArgs> = Box::new(unsafe { std::mem::zeroed() });
    fill_name(&mut v1.name, &name)?;
    // SAFETY: as above, with the v1 argument layout this ioctl number encodes.
    if unsafe { libc::ioctl(dir.0, BTRFS_IOC_SNAP_DESTROY, &mut *v1 as *mut VolArgs) } != 0 {
        return Err(os_err("cannot delete subvolume", p, io::Error::last_os_error()).into());
    }
    Ok(())
}

#[napi(object, object_from_js = false)]
pub struct ListedSubvolumeJs {
    pub name: Bytes,
    pub id: f64,
    pub read_only: bool,
}

/// The entries of `dir` that are subvolumes (snapshots), sorted by name.
#[napi(js_name = "btrfsListSubvolumes", catch_unwind)]
pub fn btrfs_list_subvolumes(dir: JsPath) -> Result<Vec<ListedSubvolumeJs>> {
    let d = bytes_of(&dir);
    require_btrfs(d)?;
    let c = to_cstring(d)?;
    // SAFETY: c is NUL-terminated; the stream is closed below on every path.
    let dirp = unsafe { libc::opendir(c.as_ptr()) };
    if dirp.is_null() {
        return Err(os_err("cannot open directory", d, io::Error::last_os_error()).into());
    }
    let mut names: Vec<Vec<u8>> = Vec::new();
    loop {
        // SAFETY: dirp is an open stream used only by this thread.
        let ent = unsafe { libc::readdir(dirp) };
        if ent.is_null() {
            break;
        }
        // SAFETY: d_name of a live dirent is NUL-terminated and valid until the next readdir.
        let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) }.to_bytes();
        if name != b"." && name != b".." {
            names.push(name.to_vec());
        }
    }
    // SAFETY: dirp came from opendir above and is closed exactly once.
    unsafe { libc::closedir(dirp) };
    names.sort_unstable();
    let mut out = Vec::new();
    for name in names {
        let mut full = d.strip_suffix(b"/").unwrap_or(d).to_vec();
        full.push(b'/');
        full.extend_from_slice(&name);
        let Ok(st) = lstat_bytes(&full) else { continue };
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR || st.st_ino != SUBVOLUME_ROOT_INO {
            continue;
        }
        let sub = open_dir(&full)?;
        out.push(ListedSubvolumeJs { name: name.into(), id: subvolume_id(&sub, &full)? as f64, read_only: read_only(&sub, &full)? });
    }
    Ok(out)
}
