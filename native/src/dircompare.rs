//! Whether a directory is unchanged since the previous backup, decided in the core: the
//! directory is listed and lstat'ed here and each entry compared, field by field, with its node
//! in the previous snapshot's tree blob (formats/restic.md §7, §12). An unchanged re-run then
//! builds no JavaScript object per entry; a directory whose entries all match keeps its tree.
//!
//! The comparison is conservative: an entry matches only when the node the JavaScript walk
//! would build for it (src/formats/restic/archive-format.ts, nodeFromEntry) is the previous node
//! and the file's content may be reused (restic's rule: same size, mtime, ctime and inode, and
//! every chunk still indexed). Anything it does not model (names that Go would quote, sockets,
//! read errors, escaped JSON it cannot borrow, an unknown key) counts as a difference, and the
//! walk then builds that directory the ordinary way.

use crate::blobset::{parse_hex_id, NativeBlobSet, SharedIds};
use crate::bytes::Bytes;
use crate::compress::{decompress, Codec};
use crate::error::{Code, CoreErr, CoreResult, ErrorInfo};
use crate::fs::{pack_listing, scan_dir, DirExtraJs, ListedEntry, ReadDirsOptionsJs};
use crate::hash::HashAlgo;
use crate::paths::{bytes_of, display, path_of, JsPath};
use crate::pool;
use crate::seal::{SealSpecJs, Sealer};
use std::os::unix::fs::FileExt;
use napi::bindgen_prelude::{Object, Uint8Array};
use napi::{Env, Result};
use napi_derive::napi;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// The tree with each node's JSON text kept: a changed directory's matching entries are written
/// into its new tree as the previous tree had them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TreeDoc<'a> {
    #[serde(borrow)]
    pub(crate) nodes: Option<Vec<&'a RawValue>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct XattrDoc<'a> {
    #[serde(borrow)]
    pub(crate) name: Cow<'a, str>,
    pub(crate) value: Option<&'a str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeDoc<'a> {
    #[serde(borrow)]
    pub(crate) name: Cow<'a, str>,
    #[serde(rename = "type")]
    pub(crate) kind: &'a str,
    pub(crate) mode: Option<u32>,
    pub(crate) mtime: Option<&'a str>,
    pub(crate) atime: Option<&'a str>,
    pub(crate) ctime: Option<&'a str>,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
    pub(crate) user: Option<Cow<'a, str>>,
    pub(crate) group: Option<Cow<'a, str>>,
    pub(crate) inode: Option<u64>,
    pub(crate) device_id: Option<u64>,
    pub(crate) size: Option<u64>,
    pub(crate) links: Option<u64>,
    pub(crate) linktarget: Option<Cow<'a, str>>,
    pub(crate) linktarget_raw: Option<&'a str>,
    #[serde(borrow)]
    pub(crate) extended_attributes: Option<Vec<XattrDoc<'a>>>,
    /// restic 0.17+ (Windows attributes); the JavaScript walk ignores them too.
    #[allow(dead_code)]
    pub(crate) generic_attributes: Option<serde::de::IgnoredAny>,
    pub(crate) device: Option<u64>,
    #[serde(borrow)]
    pub(crate) content: Option<Vec<&'a str>>,
    pub(crate) subtree: Option<&'a str>,
    pub(crate) error: Option<Cow<'a, str>>,
}

/// A changed directory of at least this many entries, at least half of them matching, comes
/// back with its listing and previous tree when asked for (`changed`), for the walk to build it
/// from them: below that, listing it again and decoding its previous tree costs little. The walk
/// asks when it gets to the directory (src/formats/restic/archive-format.ts), not in the
/// comparisons that run ahead of it, which would hold every such directory's listing and tree
/// until then.
const CHANGED_PAYLOAD_MIN_ENTRIES: usize = 256;

/// Per listed entry, in `DirComparisonJs::status`.
const SAME: u8 = 0;
const SAME_DIR: u8 = 1;
const NOT_IN_PREVIOUS: u8 = 2;
const DIFFERS: u8 = 3;

/// What stays the same for every directory of one walk.
struct Context {
    /// The host zone's UTC offsets: (from, minutes) by start in unix seconds, as JavaScript's
    /// Date gives them (the walk records node times with these); none before the first start or
    /// from `zone_end` on.
    zone: Vec<(i64, i32)>,
    zone_end: i64,
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
    known: SharedIds,
    /// Opens tree blobs read from local pack files.
    sealer: Option<Sealer>,
    /// Device numbers as read (a filesystem snapshot's) to those the walk records (the live
    /// path's): src/engine/read-roots.ts, readRootDevices.
    devices: HashMap<u64, u64>,
}

/// A previous tree blob: its plaintext, or where it lies in a local pack file (read, opened,
/// decompressed and hash-checked here: no buffer crosses from JavaScript).
#[napi(object)]
pub struct TreeSourceJs {
    pub plaintext: Option<Uint8Array>,
    pub file: Option<JsPath>,
    pub offset: Option<f64>,
    pub length: Option<f64>,
    /// 0 for an uncompressed blob.
    pub uncompressed_length: Option<f64>,
    pub id: Option<Uint8Array>,
}

/// The plaintext of a tree blob in a local pack file.
fn read_tree(context: &Context, source: &TreeSourceJs) -> CoreResult<Vec<u8>> {
    let (Some(file), Some(offset), Some(length), Some(id)) = (&source.file, source.offset, source.length, &source.id) else {
        return Err(CoreErr::inval("a tree source needs its plaintext or file, offset, length and id"));
    };
    let Some(sealer) = &context.sealer else {
        return Err(CoreErr::inval("reading trees from pack files needs the repository's key"));
    };
    let uncompressed = source.uncompressed_length.unwrap_or(0.0);
    let whole = |v: f64| v >= 0.0 && v.fract() == 0.0 && v < (1u64 << 32) as f64;
    if !(whole(length) && whole(uncompressed) && offset >= 0.0 && offset.fract() == 0.0 && offset < (1u64 << 53) as f64) || id.len() != 32 {
        return Err(CoreErr::inval("bad tree location"));
    }
    read_tree_blob(sealer, bytes_of(file), offset as u64, length as usize, uncompressed as usize, id)
}

/// The plaintext of the tree blob `id` at `offset` (`length` sealed bytes; `uncompressed` 0 for
/// an uncompressed one) of the local pack file `path`: read, opened, decompressed, hash-checked.
pub(crate) fn read_tree_blob(sealer: &Sealer, path: &[u8], offset: u64, length: usize, uncompressed: usize, id: &[u8]) -> CoreResult<Vec<u8>> {
    let name = display(path);
    let read_err = |e: std::io::Error| CoreErr::new(Code::IoRead, format!("cannot read {name}: {e}")).with_subject(name.clone());
    let f = std::fs::File::open(path_of(path)).map_err(read_err)?;
    let mut sealed = vec![0u8; length];
    f.read_exact_at(&mut sealed, offset).map_err(read_err)?;
    let opened = sealer.open(&sealed)?;
    let plain = if uncompressed > 0 { decompress(Codec::Zstd, &opened, uncompressed as i64, None)? } else { opened };
    if HashAlgo::Sha256.digest(&plain)[..] != id[..] {
        return Err(CoreErr::new(Code::Hash, format!("tree blob in {name} at {offset} does not hash to its id")));
    }
    Ok(plain)
}

impl Context {
    /// The UTC offset the walk records for a time `sec`, if the zone table covers it.
    fn offset_at(&self, sec: i64) -> Option<i32> {
        if sec >= self.zone_end {
            return None;
        }
        let i = self.zone.partition_point(|&(from, _)| from <= sec);
        (i > 0).then(|| self.zone[i - 1].1)
    }
}

#[napi(object, object_from_js = false)]
#[derive(Default)]
pub struct DirComparisonJs {
    /// The directory could not be listed or its previous tree not parsed: compare nothing.
    pub error: Option<ErrorInfo>,
    /// Every listed entry matches and no previous entry is missing.
    pub same: bool,
    /// The listed names, concatenated, in raw name order.
    pub names: Bytes,
    /// Where each name ends in `names` (u32 little-endian per entry).
    pub ends: Bytes,
    /// One of SAME, SAME_DIR, NOT_IN_PREVIOUS, DIFFERS per listed entry.
    pub status: Bytes,
    /// The previous subtree id (32 bytes) of each SAME_DIR entry, in listing order.
    pub subtrees: Bytes,
    /// Previous entries with no listed entry of that name.
    pub missing: u32,
    /// Matching non-directory entries, the regular files among them and their bytes.
    pub entries: u32,
    pub files: u32,
    pub bytes: f64,
    /// Not `same`, but worth building from what the comparison saw (see
    /// CHANGED_PAYLOAD_MIN_ENTRIES): asked with `changed`, it comes with the fields below.
    pub rebuildable: bool,
    /// Only when not `same`, for the walk to build the directory from what was compared:
    /// the listing as readDirs packs it (`names` are its names), the previous tree's plaintext
    /// and, per listed entry, where its previous node's JSON starts and ends in it (two u32
    /// little-endian; both 0 without one).
    pub stats: Option<Bytes>,
    pub extras: Option<Vec<DirExtraJs>>,
    pub tree: Option<Bytes>,
    pub spans: Option<Bytes>,
}

#[napi]
pub struct NativeDirComparer {
    context: Arc<Context>,
}

fn name_map(ids: Vec<u32>, names: Vec<String>) -> Result<HashMap<u32, String>> {
    if ids.len() != names.len() {
        return Err(CoreErr::inval("ids and names differ in length").into());
    }
    Ok(ids.into_iter().zip(names).collect())
}

#[napi]
impl NativeDirComparer {
    #[napi(constructor, catch_unwind)]
    pub fn new(
        zone_from: Vec<f64>,
        zone_offsets: Vec<i32>,
        zone_end: f64,
        uids: Vec<u32>,
        user_names: Vec<String>,
        gids: Vec<u32>,
        group_names: Vec<String>,
        known: &NativeBlobSet,
        seal: Option<SealSpecJs>,
        devices_read: Option<Vec<f64>>,
        devices_recorded: Option<Vec<f64>>,
    ) -> Result<Self> {
        let (read, recorded) = (devices_read.unwrap_or_default(), devices_recorded.unwrap_or_default());
        if read.len() != recorded.len() {
            return Err(CoreErr::inval("device lists differ in length").into());
        }
        if zone_from.is_empty() || zone_from.len() != zone_offsets.len() || zone_offsets.iter().any(|o| o.abs() >= 24 * 60) {
            return Err(CoreErr::inval("a zone is a non-empty list of starts and UTC offsets below a day").into());
        }
        let zone: Vec<(i64, i32)> = zone_from.iter().map(|&f| f as i64).zip(zone_offsets).collect();
        if zone.windows(2).any(|w| w[0].0 >= w[1].0) || zone_end as i64 <= zone[zone.len() - 1].0 {
            return Err(CoreErr::inval("zone starts must ascend and end after the last").into());
        }
        let context = Context {
            zone,
            zone_end: zone_end as i64,
            users: name_map(uids, user_names)?,
            groups: name_map(gids, group_names)?,
            known: known.ids.clone(),
            sealer: seal.as_ref().map(Sealer::from_js).transpose()?,
            devices: read.iter().zip(&recorded).map(|(&r, &d)| (r as u64, d as u64)).collect(),
        };
        Ok(NativeDirComparer { context: Arc::new(context) })
    }

    /// Compares each directory (`paths[i]`, read from there) with its previous tree blob
    /// (`trees[i]`). With `changed`, a directory that changed comes back with what the walk
    /// builds it from (DirComparisonJs::stats and below), when it is worth it.
    #[napi(catch_unwind)]
    pub fn compare<'env>(&self, env: &'env Env, paths: Vec<JsPath>, trees: Vec<TreeSourceJs>, changed: Option<bool>) -> Result<Object<'env>> {
        let changed = changed == Some(true);
        if paths.len() != trees.len() {
            return Err(CoreErr::inval("compare needs one tree per path").into());
        }
        let context = self.context.clone();
        pool::spawn(env, move || {
            Ok(paths
                .iter()
                .zip(trees.iter())
                .map(|(p, t)| match &t.plaintext {
                    Some(plain) => compare_dir(&context, bytes_of(p), plain, changed),
                    None => match read_tree(&context, t) {
                        Ok(plain) => compare_dir(&context, bytes_of(p), &plain, changed),
                        Err(e) => failed(e),
                    },
                })
                .collect::<Vec<_>>())
        })
    }
}

fn failed(error: CoreErr) -> DirComparisonJs {
    DirComparisonJs { error: Some(error.info()), ..Default::default() }
}

fn compare_dir(context: &Context, path: &[u8], tree: &[u8], changed: bool) -> DirComparisonJs {
    let doc: TreeDoc = match serde_json::from_slice(tree) {
        Ok(d) => d,
        Err(e) => return failed(CoreErr::inval(format!("previous tree not compared: {e}"))),
    };
    let raw_nodes = doc.nodes.unwrap_or_default();
    let mut nodes: Vec<(NodeDoc, (u32, u32))> = Vec::with_capacity(raw_nodes.len());
    for raw in &raw_nodes {
        let text = raw.get();
        let node: NodeDoc = match serde_json::from_str(text) {
            Ok(n) => n,
            Err(e) => return failed(CoreErr::inval(format!("previous tree not compared: {e}"))),
        };
        // RawValue borrows from `tree`: its offset there is where the node's text starts.
        let start = text.as_ptr() as usize - tree.as_ptr() as usize;
        nodes.push((node, (start as u32, (start + text.len()) as u32)));
    }
    let mut by_name: HashMap<&[u8], &(NodeDoc, (u32, u32))> = HashMap::with_capacity(nodes.len());
    for n in &nodes {
        if by_name.insert(n.0.name.as_bytes(), n).is_some() {
            return failed(CoreErr::inval("previous tree names an entry twice"));
        }
    }
    let listed = match scan_dir(path, ReadDirsOptionsJs { xattrs: Some(true), link_targets: Some(true) }) {
        Ok(l) => l,
        Err(e) => return failed(e),
    };
    let known = context.known.lock();
    let mut out = DirComparisonJs {
        same: true,
        ends: Vec::with_capacity(listed.len() * 4).into(),
        status: Vec::with_capacity(listed.len()).into(),
        ..Default::default()
    };
    // Only a comparison asked for what the walk builds a changed directory from needs them.
    let mut spans: Vec<u8> = Vec::with_capacity(if changed { listed.len() * 8 } else { 0 });
    let mut matched = 0usize;
    for entry in &listed {
        out.names.0.extend_from_slice(&entry.name);
        out.ends.0.extend_from_slice(&(out.names.0.len() as u32).to_le_bytes());
        let previous = by_name.get(entry.name.as_slice());
        if changed {
            let (start, end) = previous.map_or((0, 0), |p| p.1);
            spans.extend_from_slice(&start.to_le_bytes());
            spans.extend_from_slice(&end.to_le_bytes());
        }
        let status = match previous {
            // An entry that cannot be lstat'ed is reported by the walk, excluded or not.
            None if entry.error.is_some() => DIFFERS,
            None => NOT_IN_PREVIOUS,
            Some((node, _)) => {
                matched += 1;
                match compare_entry(context, &known, entry, node) {
                    Verdict::Differs => DIFFERS,
                    Verdict::Dir(subtree) => {
                        out.subtrees.0.extend_from_slice(&subtree);
                        SAME_DIR
                    }
                    Verdict::Other => {
                        out.entries += 1;
                        SAME
                    }
                    Verdict::File(size) => {
                        out.entries += 1;
                        out.files += 1;
                        out.bytes += size as f64;
                        SAME
                    }
                }
            }
        };
        if status != SAME && status != SAME_DIR {
            out.same = false;
        }
        out.status.0.push(status);
    }
    out.missing = (nodes.len() - matched) as u32;
    if out.missing > 0 {
        out.same = false;
    }
    drop(known);
    // Mostly the same: otherwise decoding the differing nodes one by one costs more than the
    // ordinary walk's decoding of the whole tree at once.
    let matching = out.entries as usize + out.subtrees.0.len() / 32;
    out.rebuildable = !out.same && listed.len() >= CHANGED_PAYLOAD_MIN_ENTRIES && matching * 2 >= listed.len() && tree.len() <= u32::MAX as usize;
    if changed && out.rebuildable {
        let packed = pack_listing(listed);
        out.stats = Some(packed.stats.into());
        out.extras = Some(packed.extras);
        out.tree = Some(tree.to_vec().into());
        out.spans = Some(spans.into());
    }
    out
}

enum Verdict {
    Differs,
    Dir([u8; 32]),
    File(u64),
    Other,
}

/// Names that Go's quoting leaves as they are and JSON carries without escapes the parser
/// would have to undo: printable ASCII but `"` and `\`.
fn plain_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

/// Go's os.FileMode for a Linux st_mode (src/formats/restic/file-mode.ts, goModeFromStMode).
fn go_mode(st_mode: u32) -> u32 {
    let mut mode = st_mode & 0o777;
    mode |= match st_mode & libc::S_IFMT {
        libc::S_IFBLK => 1 << 26,
        libc::S_IFCHR => (1 << 26) | (1 << 21),
        libc::S_IFDIR => 1 << 31,
        libc::S_IFIFO => 1 << 25,
        libc::S_IFLNK => 1 << 27,
        libc::S_IFSOCK => 1 << 24,
        _ => 0,
    };
    if st_mode & libc::S_ISUID != 0 {
        mode |= 1 << 23;
    }
    if st_mode & libc::S_ISGID != 0 {
        mode |= 1 << 22;
    }
    if st_mode & libc::S_ISVTX != 0 {
        mode |= 1 << 20;
    }
    mode
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0i64, |v, &b| v * 10 + i64::from(b - b'0')))
}

/// An RFC 3339 time as Go writes it: (unix seconds, nanoseconds, offset minutes).
pub(crate) fn parse_time(text: &str) -> Option<(i64, u32, i32)> {
    let s = text.as_bytes();
    if s.len() < 20 || s[4] != b'-' || s[7] != b'-' || s[10] != b'T' || s[13] != b':' || s[16] != b':' {
        return None;
    }
    let (year, month, day) = (digits(&s[0..4])?, digits(&s[5..7])?, digits(&s[8..10])?);
    let (hour, minute, second) = (digits(&s[11..13])?, digits(&s[14..16])?, digits(&s[17..19])?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&month) || day < 1 || day > month_days[(month - 1) as usize] || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nsec = 0u32;
    if rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        nsec = (digits(&rest[1..=n])? * 10i64.pow(9 - n as u32)) as u32;
        rest = &rest[1 + n..];
    }
    let offset = match rest {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (hours, minutes) = (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?);
            // As Go (and the JavaScript parser): an offset is at most 23:59.
            if hours > 23 || minutes > 59 {
                return None;
            }
            let minutes = hours * 60 + minutes;
            (if *sign == b'-' { -minutes } else { minutes }) as i32
        }
        _ => return None,
    };
    let local = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    Some((local - i64::from(offset) * 60, nsec, offset))
}

fn same_time(text: Option<&str>, sec: i64, nsec: i64, offset: i32) -> bool {
    text.and_then(parse_time) == Some((sec, nsec as u32, offset))
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard padded base64, as Go's encoding/json writes []byte.
fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn compare_entry(context: &Context, known: &crate::blobset::IdSet, entry: &ListedEntry, node: &NodeDoc) -> Verdict {
    compare_fields(context, known, entry, node).unwrap_or(Verdict::Differs)
}

/// The entry's verdict, or None where any field differs.
fn compare_fields(context: &Context, known: &crate::blobset::IdSet, entry: &ListedEntry, node: &NodeDoc) -> Option<Verdict> {
    let check = |ok: bool| ok.then_some(());
    check(plain_name(&entry.name) && entry.error.is_none() && entry.xattr_error.is_none())?;
    let st = entry.stat.as_ref()?;
    let kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => "file",
        libc::S_IFDIR => "dir",
        libc::S_IFLNK => "symlink",
        libc::S_IFBLK => "dev",
        libc::S_IFCHR => "chardev",
        libc::S_IFIFO => "fifo",
        // Sockets and unknown types are reported by the walk, which needs to see them.
        _ => return None,
    };
    check(node.kind == kind && node.mode.unwrap_or(0) == go_mode(st.st_mode))?;
    // The JavaScript walk holds stat numbers as doubles: beyond 2^53 it would record them
    // rounded, which no previous node can be compared with here.
    const EXACT: u64 = 1 << 53;
    let dev = context.devices.get(&st.st_dev).copied().unwrap_or(st.st_dev);
    check(st.st_ino < EXACT && dev < EXACT && st.st_rdev < EXACT && (st.st_nlink as u64) < EXACT)?;
    // Times outside the zone table are left to the walk.
    let (mtime_offset, ctime_offset) = (context.offset_at(st.st_mtime)?, context.offset_at(st.st_ctime)?);
    // restic records the mtime as atime too (no --with-atime).
    check(same_time(node.mtime, st.st_mtime, st.st_mtime_nsec, mtime_offset) && same_time(node.atime, st.st_mtime, st.st_mtime_nsec, mtime_offset))?;
    check(same_time(node.ctime, st.st_ctime, st.st_ctime_nsec, ctime_offset))?;
    check(node.uid.unwrap_or(0) == st.st_uid && node.gid.unwrap_or(0) == st.st_gid)?;
    let user = context.users.get(&st.st_uid).map(String::as_str).unwrap_or("");
    let group = context.groups.get(&st.st_gid).map(String::as_str).unwrap_or("");
    check(node.user.as_deref().unwrap_or("") == user && node.group.as_deref().unwrap_or("") == group)?;
    check(node.inode.unwrap_or(0) == st.st_ino && node.device_id.unwrap_or(0) == dev)?;
    let links = if matches!(kind, "file" | "symlink" | "dev" | "chardev") { st.st_nlink } else { 0 };
    check(node.links.unwrap_or(0) == links)?;
    let rdev = if matches!(kind, "dev" | "chardev") { st.st_rdev } else { 0 };
    check(node.device.unwrap_or(0) == rdev)?;
    check(node.error.as_deref().unwrap_or("").is_empty())?;

    let raw_target = node.linktarget_raw.unwrap_or("");
    let text_target = node.linktarget.as_deref().unwrap_or("");
    match (kind, &entry.link_target) {
        ("symlink", Some(target)) if !target.is_empty() => {
            let same = if raw_target.is_empty() { text_target.as_bytes() == target.as_slice() } else { raw_target == base64(target) };
            check(same)?;
        }
        ("symlink", _) => return None,
        _ => check(raw_target.is_empty() && text_target.is_empty())?,
    }
    // Symlinks carry no xattrs (their listing does not read them).
    let previous_xattrs = node.extended_attributes.as_deref().unwrap_or(&[]);
    check(previous_xattrs.len() == entry.xattrs.len())?;
    for ((name, value), prev) in entry.xattrs.iter().zip(previous_xattrs) {
        check(prev.name.as_bytes() == name.as_slice() && prev.value.unwrap_or("") == base64(value))?;
    }

    match kind {
        "dir" => {
            check(node.content.is_none() && node.size.unwrap_or(0) == 0)?;
            Some(Verdict::Dir(parse_hex_id(node.subtree?)?))
        }
        "file" => {
            check(node.subtree.is_none() && st.st_ino != 0)?;
            let size = u64::try_from(st.st_size).ok()?;
            check(node.size.unwrap_or(0) == size)?;
            for id in node.content.as_ref()? {
                check(known.contains(&parse_hex_id(id)?))?;
            }
            Some(Verdict::File(size))
        }
        _ => {
            check(node.content.is_none() && node.subtree.is_none() && node.size.unwrap_or(0) == 0)?;
            Some(Verdict::Other)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_times() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some((0, 0, 0)));
        assert_eq!(parse_time("2024-02-29T12:30:15.5+01:00"), Some((1709206215, 500_000_000, 60)));
        assert_eq!(parse_time("2021-06-01T00:00:00.000000001-04:30"), Some((1622521800, 1, -270)));
        assert_eq!(parse_time("1969-12-31T23:59:59Z"), Some((-1, 0, 0)));
        assert_eq!(parse_time("2021-06-01T00:00:00.Z"), None);
        assert_eq!(parse_time("2021-06-01 00:00:00Z"), None);
        assert_eq!(parse_time("2021-13-01T00:00:00Z"), None);
        assert_eq!(parse_time("2021-04-31T00:00:00Z"), None);
        assert_eq!(parse_time("2021-02-29T00:00:00Z"), None);
        assert!(parse_time("2024-02-29T00:00:00Z").is_some());
        assert!(parse_time("2024-02-29T00:00:00+23:59").is_some());
        assert_eq!(parse_time("2024-02-29T00:00:00+24:00"), None);
        assert_eq!(parse_time("2024-02-29T00:00:00-01:60"), None);
    }

    #[test]
    fn finds_the_offset_of_a_time_in_the_zone_table() {
        let context = Context {
            zone: vec![(-100, 60), (0, 120), (50, 60)],
            zone_end: 1000,
            users: HashMap::new(),
            groups: HashMap::new(),
            known: SharedIds::default(),
            sealer: None,
            devices: HashMap::new(),
        };
        assert_eq!(context.offset_at(-101), None);
        assert_eq!(context.offset_at(-100), Some(60));
        assert_eq!(context.offset_at(-1), Some(60));
        assert_eq!(context.offset_at(0), Some(120));
        assert_eq!(context.offset_at(49), Some(120));
        assert_eq!(context.offset_at(50), Some(60));
        assert_eq!(context.offset_at(999), Some(60));
        assert_eq!(context.offset_at(1000), None);
    }

    #[test]
    fn encodes_base64_like_go() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn maps_modes_like_go() {
        assert_eq!(go_mode(0o100644), 0o644);
        assert_eq!(go_mode(0o040755), (1 << 31) | 0o755);
        assert_eq!(go_mode(0o104755), (1 << 23) | 0o755);
        assert_eq!(go_mode(0o020600), (1 << 26) | (1 << 21) | 0o600);
    }

    #[test]
    fn plain_names_only() {
        assert!(plain_name(b"a b.txt"));
        assert!(!plain_name(b"quote\"d"));
        assert!(!plain_name("caf\u{e9}".as_bytes()));
        assert!(!plain_name(b"tab\t"));
    }
}
