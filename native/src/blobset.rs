//! A set of 32-byte blob ids shared between JavaScript and the core's threads. The ids are
//! cryptographic hashes, so their first 8 bytes already are a uniform hash.

use crate::error::CoreErr;
use napi::Result;
use napi_derive::napi;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

pub type Id = [u8; 32];

#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // [u8; 32] hashes as its 32 bytes in one call.
        let mut first = [0u8; 8];
        let n = bytes.len().min(8);
        first[..n].copy_from_slice(&bytes[..n]);
        self.0 ^= u64::from_le_bytes(first);
    }
}

pub type IdSet = HashSet<Id, BuildHasherDefault<IdHasher>>;

#[derive(Clone, Default)]
pub struct SharedIds(Arc<Mutex<IdSet>>);

impl SharedIds {
    pub fn lock(&self) -> MutexGuard<'_, IdSet> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An id written as 64 lower-case hex digits (as restic's JSON holds them); None for anything else.
pub fn parse_hex_id(text: &str) -> Option<Id> {
    let s = text.as_bytes();
    if s.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut id = [0u8; 32];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        id[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(id)
}

fn id_of(bytes: &[u8]) -> Result<Id> {
    bytes.try_into().map_err(|_| CoreErr::inval(format!("a blob id is 32 bytes, got {}", bytes.len())).into())
}

#[napi]
pub struct NativeBlobSet {
    pub(crate) ids: SharedIds,
}

#[napi]
impl NativeBlobSet {
    #[napi(constructor, catch_unwind)]
    pub fn new() -> Self {
        NativeBlobSet { ids: SharedIds::default() }
    }

    #[napi(catch_unwind)]
    pub fn add(&self, id: &[u8]) -> Result<bool> {
        let id = id_of(id)?;
        Ok(self.ids.lock().insert(id))
    }

    #[napi(js_name = "addMany", catch_unwind)]
    pub fn add_many(&self, ids: &[u8]) -> Result<u32> {
        if ids.len() % 32 != 0 {
            return Err(CoreErr::inval(format!("addMany needs n x 32 bytes, got {}", ids.len())).into());
        }
        let mut set = self.ids.lock();
        set.reserve(ids.len() / 32);
        let mut added = 0;
        for id in ids.chunks_exact(32) {
            if set.insert(id.try_into().expect("32 bytes")) {
                added += 1;
            }
        }
        Ok(added)
    }

    #[napi(catch_unwind)]
    pub fn has(&self, id: &[u8]) -> Result<bool> {
        let id = id_of(id)?;
        Ok(self.ids.lock().contains(&id))
    }

    #[napi(catch_unwind)]
    pub fn delete(&self, id: &[u8]) -> Result<bool> {
        let id = id_of(id)?;
        Ok(self.ids.lock().remove(&id))
    }

    #[napi(getter)]
    pub fn size(&self) -> u32 {
        self.ids.lock().len() as u32
    }
}
