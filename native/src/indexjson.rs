//! restic index files (formats/restic.md §6) decoded into packed arrays: the master index holds
//! blobs in typed arrays (src/formats/restic/master-index.ts), so going through one JavaScript
//! object per blob only to copy it there cost most of an index load's time and all of its
//! garbage. Only the common form is decoded here (the object form with exact lower-case keys,
//! lower-case hex ids, 32-bit lengths); anything else gets `None` and the JavaScript decoder,
//! which reads every form restic reads and words the errors.

use crate::blobset::parse_hex_id;
use crate::bytes::Bytes;
use crate::pool;
use napi::bindgen_prelude::{Object, Uint8Array};
use napi::{Env, Result};
use napi_derive::napi;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexDoc<'a> {
    #[serde(borrow)]
    supersedes: Option<Vec<&'a str>>,
    #[serde(borrow)]
    packs: Option<Vec<PackDoc<'a>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PackDoc<'a> {
    id: &'a str,
    #[serde(borrow)]
    blobs: Option<Vec<BlobDoc<'a>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BlobDoc<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    offset: Option<u64>,
    length: Option<u32>,
    uncompressed_length: Option<u32>,
}

/// An index file's content in parallel arrays (little-endian numbers).
#[napi(object, object_from_js = false)]
pub struct PackedIndexJs {
    /// 32 bytes per superseded index file.
    pub supersedes: Bytes,
    /// 32 bytes per pack, and how many blobs each has (u32), in file order.
    pub pack_ids: Bytes,
    pub pack_blob_counts: Bytes,
    /// Per blob, packs' blobs one after the other: id (32 bytes), type (0 data, 1 tree),
    /// offset (f64: offsets are below 2^53 in any pack), length and uncompressed length (u32).
    pub blob_ids: Bytes,
    pub types: Bytes,
    pub offsets: Bytes,
    pub lengths: Bytes,
    pub uncompressed_lengths: Bytes,
}

fn push_hex_id(out: &mut Vec<u8>, text: &str) -> Option<()> {
    out.extend_from_slice(&parse_hex_id(text)?);
    Some(())
}

fn decode(json: &[u8]) -> Option<PackedIndexJs> {
    let doc: IndexDoc = serde_json::from_slice(json).ok()?;
    let supersedes = doc.supersedes.unwrap_or_default();
    let packs = doc.packs.unwrap_or_default();
    let blob_count: usize = packs.iter().map(|p| p.blobs.as_ref().map_or(0, Vec::len)).sum();
    let mut out = PackedIndexJs {
        supersedes: Vec::with_capacity(supersedes.len() * 32).into(),
        pack_ids: Vec::with_capacity(packs.len() * 32).into(),
        pack_blob_counts: Vec::with_capacity(packs.len() * 4).into(),
        blob_ids: Vec::with_capacity(blob_count * 32).into(),
        types: Vec::with_capacity(blob_count).into(),
        offsets: Vec::with_capacity(blob_count * 8).into(),
        lengths: Vec::with_capacity(blob_count * 4).into(),
        uncompressed_lengths: Vec::with_capacity(blob_count * 4).into(),
    };
    for id in supersedes {
        push_hex_id(&mut out.supersedes.0, id)?;
    }
    for pack in packs {
        push_hex_id(&mut out.pack_ids.0, pack.id)?;
        let blobs = pack.blobs.unwrap_or_default();
        out.pack_blob_counts.0.extend_from_slice(&(blobs.len() as u32).to_le_bytes());
        for blob in blobs {
            push_hex_id(&mut out.blob_ids.0, blob.id)?;
            out.types.0.push(match blob.kind {
                "data" => 0,
                "tree" => 1,
                _ => return None,
            });
            let offset = blob.offset.unwrap_or(0);
            if offset >= 1 << 53 {
                return None;
            }
            out.offsets.0.extend_from_slice(&(offset as f64).to_le_bytes());
            out.lengths.0.extend_from_slice(&blob.length.unwrap_or(0).to_le_bytes());
            out.uncompressed_lengths.0.extend_from_slice(&blob.uncompressed_length.unwrap_or(0).to_le_bytes());
        }
    }
    Some(out)
}

/// Decodes an index file's JSON (decrypted, decompressed); `null` when it is not in the common
/// form (the caller then uses the exact decoder).
#[napi(js_name = "decodeIndex", catch_unwind)]
pub fn decode_index<'env>(env: &'env Env, json: Uint8Array) -> Result<Object<'env>> {
    pool::spawn(env, move || Ok(decode(&json)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACK: &str = "aa00000000000000000000000000000000000000000000000000000000000001";
    const BLOB: &str = "bb00000000000000000000000000000000000000000000000000000000000002";

    #[test]
    fn decodes_the_common_form() {
        let json = format!(
            r#"{{"supersedes":["{PACK}"],"packs":[{{"id":"{PACK}","blobs":[{{"id":"{BLOB}","type":"tree","offset":5,"length":40,"uncompressed_length":90}},{{"id":"{BLOB}","type":"data","offset":45,"length":7}}]}}]}}"#
        );
        let p = decode(json.as_bytes()).expect("decoded");
        assert_eq!(p.supersedes.0.len(), 32);
        assert_eq!(p.pack_ids.0[0], 0xaa);
        assert_eq!(p.pack_blob_counts.0, 2u32.to_le_bytes());
        assert_eq!(p.types.0, vec![1, 0]);
        assert_eq!(&p.offsets.0[8..], &45f64.to_le_bytes());
        assert_eq!(&p.lengths.0[..4], &40u32.to_le_bytes());
        assert_eq!(&p.uncompressed_lengths.0[4..], &0u32.to_le_bytes());
    }

    #[test]
    fn leaves_everything_else_to_the_exact_decoder() {
        let blob = |extra: &str| format!(r#"{{"packs":[{{"id":"{PACK}","blobs":[{{"id":"{BLOB}","type":"data","offset":0,"length":7{extra}}}]}}]}}"#);
        assert!(decode(blob("").as_bytes()).is_some());
        assert!(decode(blob(r#","Length":8"#).as_bytes()).is_none());
        assert!(decode(blob(r#","uncompressed_length":4294967296"#).as_bytes()).is_none());
        assert!(decode(format!(r#"[{{"id":"{PACK}","blobs":[]}}]"#).as_bytes()).is_none());
        assert!(decode(blob("").replace(BLOB, &BLOB.to_uppercase()).as_bytes()).is_none());
        assert!(decode(blob("").replace("\"data\"", "\"index\"").as_bytes()).is_none());
    }
}
