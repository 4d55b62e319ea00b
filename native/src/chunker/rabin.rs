//! restic's Rabin content-defined chunker, boundary-exact (formats/restic.md §10).
//!
//! The digest at every position where a cut is allowed equals the Rabin fingerprint of the
//! last 64 bytes, so the scan starts 64 bytes before MinSize from a zero state (the first
//! MinSize - 64 bytes of every chunk are never hashed) and takes the outgoing window byte
//! straight from the input slice instead of keeping a ring buffer. For the same reason any
//! position's fingerprint can be computed from the 64 bytes before it, which lets four
//! fingerprints over consecutive slices run interleaved (see `scan_lanes`).

use super::poly::{deg, pmod};
use crate::error::{CoreErr, CoreResult};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

pub const WINDOW: usize = 64;
pub const MIN_SIZE: usize = 512 * 1024;
pub const MAX_SIZE: usize = 8 * 1024 * 1024;
const SPLIT_MASK: u64 = 0xF_FFFF;
/// First position where a cut is allowed: the chunk would end with byte MIN_SIZE - 1.
pub const FIRST_CUT: usize = MIN_SIZE - 1;
/// Interleaved fingerprints per block, the block size, and the smallest lane worth warming up.
const LANES: usize = 4;
const BLOCK: usize = 64 * 1024;
const LANE_MIN: usize = 1024;
const DEGREE: i32 = 53;
const SHIFT: u32 = (DEGREE - 8) as u32;

pub struct Rabin {
    out: [u64; 256],
    modt: [u64; 256],
}

impl Rabin {
    /// Tables for a polynomial given as restic writes it in `config` (hex, no 0x).
    pub fn for_polynomial(hex: &str) -> CoreResult<Arc<Rabin>> {
        let bad = || CoreErr::inval(format!("invalid chunker polynomial {hex:?}"));
        if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let pol = u64::from_str_radix(hex, 16).map_err(|_| bad())?;
        static CACHE: OnceLock<Mutex<HashMap<u64, Arc<Rabin>>>> = OnceLock::new();
        let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
        if let Some(t) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&pol) {
            return Ok(t.clone());
        }
        // Irreducibility is the repository format's concern (restic refuses such a config);
        // the chunker only needs the degree its tables are built for.
        if deg(pol as u128) != DEGREE {
            return Err(CoreErr::inval(format!("invalid chunker polynomial {hex:?}: it must have degree 53")));
        }
        let tables = Arc::new(Rabin::new(pol));
        cache.lock().unwrap_or_else(|e| e.into_inner()).insert(pol, tables.clone());
        Ok(tables)
    }

    fn new(pol: u64) -> Rabin {
        let mut out = [0u64; 256];
        let mut modt = [0u64; 256];
        for b in 0..256u64 {
            // fingerprint of b followed by 63 zero bytes
            let mut h = pmod(b as u128, pol);
            for _ in 0..WINDOW - 1 {
                h = pmod((h as u128) << 8, pol);
            }
            out[b as usize] = h;
            modt[b as usize] = pmod((b as u128) << DEGREE, pol) ^ (b << DEGREE);
        }
        Rabin { out, modt }
    }

    #[inline(always)]
    fn slide(&self, d: u64, out: u8, b: u8) -> u64 {
        let d = d ^ self.out[out as usize];
        // d < 2^53 always, so d >> SHIFT fits in a byte (and the table needs no bounds check)
        ((d << 8) | b as u64) ^ self.modt[(d >> SHIFT) as u8 as usize]
    }

    /// Length of the chunk at the start of `data`. `data` holds at least MAX_SIZE bytes, or
    /// everything up to the end of the file.
    pub fn cut(&self, data: &[u8]) -> usize {
        let mut next = FIRST_CUT;
        match self.find(data, &mut next, true) {
            Ok(len) => len,
            Err(_) => unreachable!("a final chunk is always decided"),
        }
    }

    /// The chunk at the start of `data` as far as `data` decides it, scanning on from position
    /// `*next` (FIRST_CUT for a new chunk; it is moved on, so that data arriving piece by piece
    /// is scanned once). Ok(length) when decided: a boundary, MAX_SIZE bytes, or `last` (nothing
    /// follows `data` in the file). Err(certain) when more data is needed: the chunk holds at
    /// least its first `certain` bytes. The boundary at a position depends only on the 64 bytes
    /// before it, so the cut points are those `cut` finds with all the data at once.
    pub fn find(&self, data: &[u8], next: &mut usize, last: bool) -> Result<usize, usize> {
        let n = data.len();
        if n <= MIN_SIZE {
            return if last { Ok(n) } else { Err(n) };
        }
        let end = n.min(MAX_SIZE);
        let mut pos = (*next).max(FIRST_CUT);
        while end - pos >= LANES * LANE_MIN {
            let block = (end - pos).min(BLOCK);
            if let Some(i) = self.scan_lanes(data, pos, block) {
                return Ok(i + 1);
            }
            pos += block;
        }
        if pos < end {
            if let Some(i) = self.scan(data, pos, end) {
                return Ok(i + 1);
            }
        }
        *next = end;
        if last || end == MAX_SIZE {
            Ok(end)
        } else {
            Err(end)
        }
    }

    /// Fingerprint of the 64 bytes ending just before `i` (the state before sliding in data[i]).
    #[inline(always)]
    fn warm(&self, data: &[u8], i: usize) -> u64 {
        let mut d = 0u64;
        for &b in &data[i - WINDOW..i] {
            d = self.slide(d, 0, b);
        }
        d
    }

    /// First i in [from, to) whose window fingerprint hits the split mask, one byte at a time.
    fn scan(&self, data: &[u8], from: usize, to: usize) -> Option<usize> {
        let mut d = self.warm(data, from);
        for i in from..to {
            d = self.slide(d, data[i - WINDOW], data[i]);
            if d & SPLIT_MASK == 0 {
                return Some(i);
            }
        }
        None
    }

    /// Same as `scan` over [from, from + len), with LANES (4) independent fingerprints over
    /// consecutive slices interleaved in one loop: each fingerprint's dependency chain (xor,
    /// shift, table load) is long, so one chain alone leaves most of the core idle.
    fn scan_lanes(&self, data: &[u8], from: usize, len: usize) -> Option<usize> {
        let step = len / LANES;
        let base = from - WINDOW;
        // Lane k enters byte base + WINDOW + k*step + j and drops byte base + k*step + j.
        let window = &data[base..from + LANES * step];
        let (mut d0, mut d1, mut d2, mut d3) = (
            self.warm(data, from),
            self.warm(data, from + step),
            self.warm(data, from + 2 * step),
            self.warm(data, from + 3 * step),
        );
        let mut found = [usize::MAX; LANES];
        let p = window.as_ptr();
        for j in 0..step {
            // SAFETY: the highest index read is WINDOW + 3*step + j < WINDOW + LANES*step = window.len().
            let at = |off: usize| unsafe { *p.add(off + j) };
            d0 = self.slide(d0, at(0), at(WINDOW));
            d1 = self.slide(d1, at(step), at(WINDOW + step));
            d2 = self.slide(d2, at(2 * step), at(WINDOW + 2 * step));
            d3 = self.slide(d3, at(3 * step), at(WINDOW + 3 * step));
            if ((d0 & SPLIT_MASK) == 0) | ((d1 & SPLIT_MASK) == 0) | ((d2 & SPLIT_MASK) == 0) | ((d3 & SPLIT_MASK) == 0) {
                for (k, d) in [d0, d1, d2, d3].into_iter().enumerate() {
                    if d & SPLIT_MASK == 0 && found[k] == usize::MAX {
                        found[k] = from + k * step + j;
                    }
                }
                if found[0] != usize::MAX {
                    return Some(found[0]);
                }
            }
        }
        // The earliest lane with a hit holds the first cut; the tail after the lanes is scanned
        // only when no lane hit.
        if let Some(&i) = found.iter().find(|&&i| i != usize::MAX) {
            return Some(i);
        }
        self.scan(data, from + LANES * step, from + len)
    }
}
