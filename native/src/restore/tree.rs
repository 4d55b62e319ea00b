//! Tree blobs as the core restore reads them: a directory's plain regular files, modelled
//! strictly, and the rest of its nodes handed back to the walk as they were.

use super::Id;
use crate::blobset::parse_hex_id;
use crate::dircompare::{parse_time, NodeDoc, TreeDoc};

/// A regular file as its tree records it, with what restoring it needs.
pub(super) struct FileRecord {
    pub name: Vec<u8>,
    pub size: u64,
    /// chmod bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub atime: libc::timespec,
    pub mtime: libc::timespec,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    pub content: Vec<Id>,
}

/// Go's FileMode permission, setuid, setgid and sticky bits as chmod bits (file-mode.ts, chmodBits).
fn chmod_bits(go_mode: u32) -> u32 {
    let mut bits = go_mode & 0o777;
    if go_mode & (1 << 23) != 0 {
        bits |= libc::S_ISUID;
    }
    if go_mode & (1 << 22) != 0 {
        bits |= libc::S_ISGID;
    }
    if go_mode & (1 << 20) != 0 {
        bits |= libc::S_ISVTX;
    }
    bits
}

/// Names written as they are (Go's unquoting would change none of their bytes) that the walk
/// would not refuse: not empty, `.` or `..`, no `/` or NUL.
fn restorable_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.iter().any(|&b| matches!(b, b'/' | 0 | b'"' | b'\\' | b'\n'))
}

/// Standard padded base64 (Go's encoding of []byte), strictly; None for anything else.
fn unbase64(text: &str) -> Option<Vec<u8>> {
    let s = text.as_bytes();
    if s.len() % 4 != 0 {
        return None;
    }
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for (k, quad) in s.chunks_exact(4).enumerate() {
        let last = k + 1 == s.len() / 4;
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            n = (n << 6) | u32::from(value(c)?);
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        // Go refuses bits left over in the last character.
        if (pad == 1 && bytes[2] != 0) || (pad == 2 && bytes[1] != 0) {
            return None;
        }
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

fn timespec_of(text: &str) -> Option<libc::timespec> {
    let (sec, nsec, _) = parse_time(text)?;
    Some(libc::timespec { tv_sec: sec as libc::time_t, tv_nsec: nsec as libc::c_long })
}

/// A node the walk's decoder would refuse (and with it the whole tree).
struct Malformed;

/// The node as a file the core restores; None when the walk must see it.
fn file_record(node: &NodeDoc) -> std::result::Result<Option<FileRecord>, Malformed> {
    let time = |text: Option<&str>| text.map(|t| timespec_of(t).ok_or(Malformed)).transpose();
    let (mtime, atime) = (time(node.mtime)?, time(node.atime)?);
    time(node.ctime)?;
    let xattrs = match &node.extended_attributes {
        Some(list) => list.iter().map(|x| Some((x.name.as_bytes().to_vec(), x.value.map_or(Some(Vec::new()), unbase64)?))).collect::<Option<Vec<_>>>().ok_or(Malformed)?,
        None => Vec::new(),
    };
    // Sizes beyond 2^53 do not survive the walk's decoder (JavaScript numbers): malformed there.
    if node.size.is_some_and(|size| size > (1u64 << 53) - 1) {
        return Err(Malformed);
    }
    let content = match &node.content {
        Some(ids) => ids.iter().map(|id| parse_hex_id(id)).collect::<Option<Vec<_>>>().ok_or(Malformed)?,
        None => Vec::new(),
    };
    if node.kind != "file" || !restorable_name(node.name.as_bytes()) {
        return Ok(None);
    }
    // Hard links are grouped by the walk; an entry recorded with an error is its business too,
    // and so are times left out (the zero time).
    if node.links.unwrap_or(0) > 1 && node.inode.unwrap_or(0) != 0 || node.error.as_deref().is_some_and(|e| !e.is_empty()) {
        return Ok(None);
    }
    let (Some(mtime), Some(atime)) = (mtime, atime) else {
        return Ok(None);
    };
    Ok(Some(FileRecord {
        name: node.name.as_bytes().to_vec(),
        size: node.size.unwrap_or(0),
        mode: chmod_bits(node.mode.unwrap_or(0)),
        uid: node.uid.unwrap_or(0),
        gid: node.gid.unwrap_or(0),
        atime,
        mtime,
        xattrs,
        content,
    }))
}

/// The tree's plain regular files, and the other nodes as a tree of their own (None when there
/// are none); None when the tree is not in the form modelled here.
pub(super) fn split_tree(plain: &[u8]) -> Option<(Vec<FileRecord>, Option<Vec<u8>>)> {
    let doc: TreeDoc = serde_json::from_slice(plain).ok()?;
    let mut files = Vec::new();
    let mut rest: Vec<u8> = Vec::new();
    // restic never writes a name twice in one tree. A tree that does (a file and a directory of
    // one name, a directory and a symlink standing in for it) goes to the walk whole, which
    // refuses the second; so does a tree with a name only Go's unquoting can compare.
    let mut names = std::collections::HashSet::new();
    for raw in doc.nodes.unwrap_or_default() {
        let node: NodeDoc = serde_json::from_str(raw.get()).ok()?;
        let name = node.name.as_bytes();
        if name.iter().any(|&b| matches!(b, b'"' | b'\\' | b'\n')) || !names.insert(name.to_vec()) {
            return None;
        }
        match file_record(&node).ok()? {
            Some(file) => files.push(file),
            None => {
                rest.extend_from_slice(if rest.is_empty() { b"{\"nodes\":[" } else { b"," });
                rest.extend_from_slice(raw.get().as_bytes());
            }
        }
    }
    if !rest.is_empty() {
        rest.extend_from_slice(b"]}");
    }
    Some((files, (!rest.is_empty()).then_some(rest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_as_go_reads_it() {
        assert_eq!(unbase64("").unwrap(), b"");
        assert_eq!(unbase64("Zm9v").unwrap(), b"foo");
        assert_eq!(unbase64("Zm8=").unwrap(), b"fo");
        assert_eq!(unbase64("Zg==").unwrap(), b"f");
        assert_eq!(unbase64("/+8=").unwrap(), [0xff, 0xef]);
        for bad in ["Zg=", "Zh==", "Zm9=", "Z===", "Zg==Zg==", "Zm9v!A==", "Zm 9"] {
            assert!(unbase64(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn split_keeps_plain_files_and_hands_back_the_rest() {
        let id = "a".repeat(64);
        let tree = format!(
            r#"{{"nodes":[{{"name":"d","type":"dir","mtime":"2024-01-02T03:04:05.5+01:00","atime":"2024-01-02T03:04:05.5+01:00","ctime":"2024-01-02T03:04:05.5+01:00","uid":0,"gid":0,"content":null,"subtree":"{id}"}},{{"name":"f","type":"file","mode":8389101,"mtime":"2024-01-02T03:04:05.000000007Z","atime":"2024-01-02T03:04:06Z","ctime":"2024-01-02T03:04:05Z","uid":7,"gid":8,"size":3,"extended_attributes":[{{"name":"user.a","value":"Zm9v"}}],"content":["{id}"]}},{{"name":"l","type":"file","mtime":"2024-01-02T03:04:05Z","atime":"2024-01-02T03:04:05Z","ctime":"2024-01-02T03:04:05Z","uid":0,"gid":0,"inode":5,"links":2,"content":[]}}]}}"#
        );
        let (files, rest) = split_tree(tree.as_bytes()).unwrap();
        assert_eq!(files.len(), 1);
        let f = &files[0];
        assert_eq!((f.name.as_slice(), f.size, f.uid, f.gid), (&b"f"[..], 3, 7, 8));
        assert_eq!(f.mode, 0o4755);
        assert_eq!((f.mtime.tv_sec, f.mtime.tv_nsec), (1_704_164_645, 7));
        assert_eq!(f.atime.tv_sec, 1_704_164_646);
        assert_eq!(f.xattrs, vec![(b"user.a".to_vec(), b"foo".to_vec())]);
        assert_eq!(f.content, vec![[0xaa; 32]]);
        let rest: serde_json::Value = serde_json::from_slice(&rest.unwrap()).unwrap();
        let names: Vec<&str> = rest["nodes"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["d", "l"]);
    }

    #[test]
    fn trees_outside_the_model_come_back_whole() {
        for tree in [
            r#"{"nodes":[{"name":"f","type":"file","mtime":"2024-01-02T03:04:05Z","atime":"2024-01-02T03:04:05Z","ctime":"2024-01-02T03:04:05Z","uid":0,"gid":0,"content":[],"color":"red"}]}"#,
            r#"{"nodes":[{"name":"f","type":"file","mtime":"yesterday","atime":"2024-01-02T03:04:05Z","ctime":"2024-01-02T03:04:05Z","uid":0,"gid":0,"content":[]}]}"#,
            r#"{"nodes":[null]}"#,
            r#"{"nodes":[],"x":1}"#,
        ] {
            assert!(split_tree(tree.as_bytes()).is_none(), "{tree}");
        }
        // Files the walk must refuse or unquote, or whose content it must report, go to it.
        let file = |name: &str| format!(r#"{{"name":"{name}","type":"file","mtime":"2024-01-02T03:04:05Z","atime":"2024-01-02T03:04:05Z","ctime":"2024-01-02T03:04:05Z","uid":0,"gid":0,"content":[]}}"#);
        for name in ["..", ".", "a\\u0000b", "a/b"] {
            let (files, rest) = split_tree(format!(r#"{{"nodes":[{}]}}"#, file(name)).as_bytes()).unwrap();
            assert!(files.is_empty() && rest.is_some(), "{name}");
        }
        // Names only Go's unquoting compares, and names given twice: the whole tree.
        for name in ["a\\\\b", "a\\\"b", "a\\nb"] {
            assert!(split_tree(format!(r#"{{"nodes":[{}]}}"#, file(name)).as_bytes()).is_none(), "{name}");
        }
        let twice = format!(r#"{{"nodes":[{},{}]}}"#, file("a"), file("a").replace(r#""type":"file""#, r#""type":"symlink","linktarget":"/etc""#));
        assert!(split_tree(twice.as_bytes()).is_none());
        let bad_id = r#"{"nodes":[{"name":"f","type":"file","mtime":"2024-01-02T03:04:05Z","atime":"2024-01-02T03:04:05Z","ctime":"2024-01-02T03:04:05Z","uid":0,"gid":0,"content":["AB"]}]}"#;
        assert!(split_tree(bad_id.as_bytes()).is_none());
    }
}
