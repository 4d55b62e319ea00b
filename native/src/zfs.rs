//! ZFS snapshots through libzfs_core (lzc_snapshot, lzc_destroy_snaps), loaded at run time with
//! dlopen so the addon neither links against nor requires ZFS. Hosts without the library (or
//! without /dev/zfs) get EUNSUPPORTED with the reason. $BOLT_AGENT_LIBZFS_CORE names the library
//! file when it is not where the dynamic loader looks.

use crate::error::{Code, CoreErr, CoreResult};
use crate::pool;
use napi::bindgen_prelude::Object;
use napi::{Env, Result};
use napi_derive::napi;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::sync::OnceLock;

#[repr(C)]
struct NvList {
    _opaque: [u8; 0],
}
#[repr(C)]
struct NvPair {
    _opaque: [u8; 0],
}

type InitFn = unsafe extern "C" fn() -> c_int;
type SnapshotFn = unsafe extern "C" fn(*mut NvList, *mut NvList, *mut *mut NvList) -> c_int;
type DestroySnapsFn = unsafe extern "C" fn(*mut NvList, c_int, *mut *mut NvList) -> c_int;
type NvlistAllocFn = unsafe extern "C" fn(*mut *mut NvList, c_uint, c_int) -> c_int;
type NvlistAddBooleanFn = unsafe extern "C" fn(*mut NvList, *const c_char) -> c_int;
type NvlistFreeFn = unsafe extern "C" fn(*mut NvList);
type NvlistNextFn = unsafe extern "C" fn(*mut NvList, *mut NvPair) -> *mut NvPair;
type NvpairNameFn = unsafe extern "C" fn(*mut NvPair) -> *const c_char;
type NvpairInt32Fn = unsafe extern "C" fn(*mut NvPair, *mut i32) -> c_int;

const NV_UNIQUE_NAME: c_uint = 1;

struct Lzc {
    library: String,
    snapshot: SnapshotFn,
    destroy_snaps: DestroySnapsFn,
    nvlist_alloc: NvlistAllocFn,
    nvlist_add_boolean: NvlistAddBooleanFn,
    nvlist_free: NvlistFreeFn,
    nvlist_next_nvpair: NvlistNextFn,
    nvpair_name: NvpairNameFn,
    nvpair_value_int32: NvpairInt32Fn,
}

fn dlerror_text() -> String {
    // SAFETY: dlerror returns a thread-local NUL-terminated message or NULL.
    let e = unsafe { libc::dlerror() };
    if e.is_null() {
        "unknown error".to_string()
    } else {
        // SAFETY: e is non-null and NUL-terminated (see above).
        unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
    }
}

fn open_library(names: &[String]) -> std::result::Result<(*mut c_void, String), String> {
    let mut errors = Vec::new();
    for name in names {
        let c = CString::new(name.as_str()).map_err(|_| format!("bad library name {name:?}"))?;
        // SAFETY: c is NUL-terminated; a loaded library stays loaded for the process lifetime.
        let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if !handle.is_null() {
            return Ok((handle, name.clone()));
        }
        errors.push(dlerror_text());
    }
    Err(errors.join("; "))
}

/// Looks `name` up in the first handle that has it.
fn symbol(handles: &[*mut c_void], name: &str) -> std::result::Result<*mut c_void, String> {
    let c = CString::new(name).expect("symbol names have no NUL");
    for &h in handles {
        // SAFETY: h is a live dlopen handle and c is NUL-terminated.
        let p = unsafe { libc::dlsym(h, c.as_ptr()) };
        if !p.is_null() {
            return Ok(p);
        }
    }
    Err(format!("symbol {name} not found"))
}

fn load() -> std::result::Result<Lzc, String> {
    let names: Vec<String> = match std::env::var("BOLT_AGENT_LIBZFS_CORE") {
        Ok(v) if !v.is_empty() => vec![v],
        _ => vec!["libzfs_core.so.3".into(), "libzfs_core.so.1".into(), "libzfs_core.so".into()],
    };
    let (lzc, library) = open_library(&names).map_err(|e| format!("libzfs_core is not installed ({e})"))?;
    let mut handles = vec![lzc];
    // libzfs_core pulls in libnvpair; dlsym on its handle usually finds the nvlist calls already.
    if symbol(&handles, "nvlist_alloc").is_err() {
        let nv = open_library(&["libnvpair.so.3".into(), "libnvpair.so.1".into(), "libnvpair.so".into()]).map_err(|e| format!("libnvpair is not installed ({e})"))?;
        handles.push(nv.0);
    }
    let get = |name: &str| symbol(&handles, name).map_err(|e| format!("{library}: {e}"));
    let init = get("libzfs_core_init")?;
    // SAFETY: each pointer is dlsym's for the C function of that name, whose prototype (libzfs_core.h, libnvpair.h) the type above matches.
    let lzc = unsafe {
        Lzc {
            library: library.clone(),
            snapshot: std::mem::transmute::<*mut c_void, SnapshotFn>(get("lzc_snapshot")?),
            destroy_snaps: std::mem::transmute::<*mut c_void, DestroySnapsFn>(get("lzc_destroy_snaps")?),
            nvlist_alloc: std::mem::transmute::<*mut c_void, NvlistAllocFn>(get("nvlist_alloc")?),
            nvlist_add_boolean: std::mem::transmute::<*mut c_void, NvlistAddBooleanFn>(get("nvlist_add_boolean")?),
            nvlist_free: std::mem::transmute::<*mut c_void, NvlistFreeFn>(get("nvlist_free")?),
            nvlist_next_nvpair: std::mem::transmute::<*mut c_void, NvlistNextFn>(get("nvlist_next_nvpair")?),
            nvpair_name: std::mem::transmute::<*mut c_void, NvpairNameFn>(get("nvpair_name")?),
            nvpair_value_int32: std::mem::transmute::<*mut c_void, NvpairInt32Fn>(get("nvpair_value_int32")?),
        }
    };
    // SAFETY: init is libzfs_core_init (no arguments); it opens /dev/zfs once per process.
    let rc = unsafe { std::mem::transmute::<*mut c_void, InitFn>(init)() };
    if rc != 0 {
        return Err(format!("{library} is installed, but cannot open /dev/zfs ({}): is the zfs kernel module loaded?", std::io::Error::from_raw_os_error(rc)));
    }
    Ok(lzc)
}

fn lzc() -> CoreResult<&'static Lzc> {
    static LZC: OnceLock<std::result::Result<Lzc, String>> = OnceLock::new();
    LZC.get_or_init(load).as_ref().map_err(|e| CoreErr::new(Code::Unsupported, e.clone()))
}

/// An nvlist of boolean entries, freed on drop.
struct Names<'a> {
    lzc: &'a Lzc,
    list: *mut NvList,
}

impl Drop for Names<'_> {
    fn drop(&mut self) {
        // SAFETY: list came from nvlist_alloc and is freed exactly once, here.
        unsafe { (self.lzc.nvlist_free)(self.list) };
    }
}

fn names_list<'a>(lzc: &'a Lzc, names: &[String]) -> CoreResult<Names<'a>> {
    let mut list: *mut NvList = std::ptr::null_mut();
    // SAFETY: list is a writable out pointer; flags and kmflag are plain integers.
    let rc = unsafe { (lzc.nvlist_alloc)(&mut list, NV_UNIQUE_NAME, 0) };
    if rc != 0 || list.is_null() {
        return Err(CoreErr::new(Code::Io, format!("nvlist_alloc failed: {}", std::io::Error::from_raw_os_error(rc))));
    }
    let out = Names { lzc, list };
    for name in names {
        let c = CString::new(name.as_str()).map_err(|_| CoreErr::inval(format!("bad snapshot name {name:?}")))?;
        // SAFETY: out.list is a live nvlist; c is NUL-terminated and copied by the callee.
        let rc = unsafe { (lzc.nvlist_add_boolean)(out.list, c.as_ptr()) };
        if rc != 0 {
            return Err(CoreErr::new(Code::Io, format!("nvlist_add_boolean failed: {}", std::io::Error::from_raw_os_error(rc))));
        }
    }
    Ok(out)
}

/// "name: error" for each entry of an lzc error list (then frees it).
fn describe_errors(lzc: &Lzc, errlist: *mut NvList) -> Vec<String> {
    let mut out = Vec::new();
    if errlist.is_null() {
        return out;
    }
    let list = Names { lzc, list: errlist };
    let mut pair: *mut NvPair = std::ptr::null_mut();
    loop {
        // SAFETY: list.list is a live nvlist; pair is null or the previous pair of it.
        pair = unsafe { (lzc.nvlist_next_nvpair)(list.list, pair) };
        if pair.is_null() {
            break;
        }
        // SAFETY: pair is a live pair of list; its name is NUL-terminated and owned by the list.
        let name = unsafe { CStr::from_ptr((lzc.nvpair_name)(pair)) }.to_string_lossy().into_owned();
        let mut code: i32 = 0;
        // SAFETY: pair is live; code is a writable int32.
        let ok = unsafe { (lzc.nvpair_value_int32)(pair, &mut code) } == 0;
        out.push(if ok { format!("{name}: {}", std::io::Error::from_raw_os_error(code)) } else { name });
    }
    out
}

fn fail(what: &str, names: &[String], rc: c_int, details: Vec<String>) -> CoreErr {
    let detail = if details.is_empty() { std::io::Error::from_raw_os_error(rc).to_string() } else { details.join("; ") };
    CoreErr::new(Code::Io, format!("{what} {}: {detail}", names.join(", "))).with_subject(names.join(","))
}

#[napi(object, object_from_js = false)]
pub struct ZfsStatusJs {
    pub available: bool,
    pub library: Option<String>,
    pub message: Option<String>,
}

/// Whether libzfs_core loaded and opened /dev/zfs (and why not).
#[napi(js_name = "zfsStatus", catch_unwind)]
pub fn zfs_status() -> ZfsStatusJs {
    match lzc() {
        Ok(l) => ZfsStatusJs { available: true, library: Some(l.library.clone()), message: None },
        Err(e) => ZfsStatusJs { available: false, library: None, message: Some(e.message) },
    }
}

fn snapshot(names: &[String]) -> CoreResult<()> {
    let lzc = lzc()?;
    let list = names_list(lzc, names)?;
    let mut errlist: *mut NvList = std::ptr::null_mut();
    // SAFETY: list is a live nvlist of "dataset@snap" booleans; props may be NULL; errlist is an out pointer.
    let rc = unsafe { (lzc.snapshot)(list.list, std::ptr::null_mut(), &mut errlist) };
    let details = describe_errors(lzc, errlist);
    if rc != 0 {
        return Err(fail("cannot create ZFS snapshots", names, rc, details));
    }
    Ok(())
}

/// Creates the snapshots ("pool/dataset@name", all in one pool) atomically.
#[napi(js_name = "zfsSnapshot", catch_unwind)]
pub fn zfs_snapshot<'env>(env: &'env Env, names: Vec<String>) -> Result<Object<'env>> {
    pool::spawn(env, move || snapshot(&names))
}

/// Destroys the snapshots (synchronous, so it can run while the process exits).
#[napi(js_name = "zfsDestroySnapshots", catch_unwind)]
pub fn zfs_destroy_snapshots(names: Vec<String>, defer: bool) -> Result<()> {
    let lzc = lzc()?;
    let list = names_list(lzc, &names)?;
    let mut errlist: *mut NvList = std::ptr::null_mut();
    // SAFETY: list is a live nvlist of snapshot names; defer is a boolean_t; errlist is an out pointer.
    let rc = unsafe { (lzc.destroy_snaps)(list.list, c_int::from(defer), &mut errlist) };
    let details = describe_errors(lzc, errlist);
    if rc != 0 {
        return Err(fail("cannot destroy ZFS snapshots", &names, rc, details).into());
    }
    Ok(())
}
