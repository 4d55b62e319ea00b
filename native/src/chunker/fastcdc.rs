//! ghostsnap's chunker: FastCDC 2020 with normalisation level 1 and seed 0, cut-point exact with
//! the fastcdc crate ghostsnap uses (formats/ghostsnap.md §6), including its quirk that the
//! returned length is the index of the byte that matched.

use crate::error::{CoreErr, CoreResult};
use md5::{Digest, Md5};
use std::sync::OnceLock;

/// The crate's mask table, indexed by round(log2(avg)) ± normalisation level.
const MASKS: [u64; 26] = [
    0,
    0,
    0,
    0,
    0,
    0x0000_0000_0180_4110,
    0x0000_0000_0180_3110,
    0x0000_0000_1803_5100,
    0x0000_0018_0003_5300,
    0x0000_0190_0035_3000,
    0x0000_5900_0353_0000,
    0x0000_d900_0353_0000,
    0x0000_d901_0353_0000,
    0x0000_d903_0353_0000,
    0x0000_d903_1353_0000,
    0x0000_d90f_0353_0000,
    0x0000_d903_0353_7000,
    0x0000_d907_0353_7000,
    0x0000_d907_0753_7000,
    0x0000_d917_0753_7000,
    0x0000_d917_4753_7000,
    0x0000_d917_6753_7000,
    0x0000_d937_6753_7000,
    0x0000_d937_7753_7000,
    0x0000_d937_7757_7000,
    0x0000_db37_7757_7000,
];

// The crate's accepted ranges.
const MIN_MIN: usize = 64;
const MAX_MIN: usize = 1_048_576;
const MIN_AVG: usize = 256;
const MAX_AVG: usize = 4_194_304;
const MIN_MAX: usize = 1024;
const MAX_MAX: usize = 16_777_216;
const LEVEL: u32 = 1;

/// GEAR[i] = first 8 bytes, big-endian, of MD5 of 64 bytes all equal to i.
fn gear() -> &'static [u64; 256] {
    static GEAR: OnceLock<[u64; 256]> = OnceLock::new();
    GEAR.get_or_init(|| {
        let mut g = [0u64; 256];
        for (i, slot) in g.iter_mut().enumerate() {
            let digest = Md5::digest([i as u8; 64]);
            *slot = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
        }
        g
    })
}

/// Where a FastCDC scan of one chunk stands (see FastCdc::find).
#[derive(Clone, Copy, Default)]
pub struct FastCdcScan {
    /// Next position to test.
    next: usize,
    /// The gear hash before that position.
    hash: u64,
}

pub struct FastCdc {
    min: usize,
    avg: usize,
    max: usize,
    mask_s: u64,
    mask_l: u64,
    gear: &'static [u64; 256],
}

impl FastCdc {
    pub fn new(min: usize, avg: usize, max: usize) -> CoreResult<FastCdc> {
        let ok = (MIN_MIN..=MAX_MIN).contains(&min)
            && (MIN_AVG..=MAX_AVG).contains(&avg)
            && (MIN_MAX..=MAX_MAX).contains(&max)
            && min <= avg
            && avg <= max;
        if !ok {
            return Err(CoreErr::inval(format!(
                "FastCDC sizes min={min} avg={avg} max={max} out of range (min 64..1Mi, avg 256..4Mi, max 1Ki..16Mi, min<=avg<=max)"
            )));
        }
        let bits = (avg as f64).log2().round() as u32;
        Ok(FastCdc {
            min,
            avg,
            max,
            mask_s: MASKS[(bits + LEVEL) as usize],
            mask_l: MASKS[(bits - LEVEL) as usize],
            gear: gear(),
        })
    }

    pub fn max_size(&self) -> usize {
        self.max
    }

    /// Length of the chunk at the start of `data`; 0 only for empty input. `data` holds at least
    /// `max` bytes, or everything up to the end of the file.
    pub fn cut(&self, data: &[u8]) -> usize {
        match self.find(data, &mut FastCdcScan::default(), true) {
            Ok(len) => len,
            Err(_) => unreachable!("a final chunk is always decided"),
        }
    }

    /// As `Rabin::find`: the chunk at the start of `data` as far as it decides it, resuming from
    /// `state` (FastCdcScan::default() for a new chunk). A position's mask does not depend on
    /// how much data there is, except that the last chunk of a file (`last`) uses the short
    /// mask up to its own end when it is shorter than `avg`, and no position at or after the
    /// even length below the chunk's end is tested: so, with more data to come, the last byte
    /// is left for the next call.
    pub fn find(&self, data: &[u8], state: &mut FastCdcScan, last: bool) -> Result<usize, usize> {
        let n = data.len();
        if last || n >= self.max {
            // Decided now, by the crate's rule, skipping what was scanned already.
            if n <= self.min {
                return Ok(n);
            }
            let remaining = n.min(self.max);
            let center = if n >= self.avg { self.avg } else { n };
            let (mid, end) = (center / 2 * 2, remaining / 2 * 2);
            let mut x = state.hash;
            let from = state.next.max(self.min / 2 * 2);
            if from < mid {
                if let Some(k) = self.scan(data, &mut x, from, mid, self.mask_s) {
                    return Ok(k);
                }
            }
            if from.max(mid) < end {
                if let Some(k) = self.scan(data, &mut x, from.max(mid), end, self.mask_l) {
                    return Ok(k);
                }
            }
            return Ok(remaining);
        }
        // A chunk longer than `min` is cut at `min / 2 * 2` bytes at the earliest.
        let shortest = (self.min / 2 * 2).min(n);
        if n <= self.min {
            return Err(shortest);
        }
        // More data will come (or the file ends right here, which the next call is told): the
        // chunk's end is at least n, so positions up to n - 2 are below its even length.
        let mid = self.avg / 2 * 2;
        let to = n - 1;
        let from = state.next.max(self.min / 2 * 2);
        let mut x = state.hash;
        if from < to.min(mid) {
            if let Some(k) = self.scan(data, &mut x, from, to.min(mid), self.mask_s) {
                return Ok(k);
            }
        }
        let from = from.max(to.min(mid));
        if from < to {
            if let Some(k) = self.scan(data, &mut x, from, to, self.mask_l) {
                return Ok(k);
            }
        }
        *state = FastCdcScan { next: to.max(state.next), hash: x };
        // The quirk: a match at position k cuts k bytes, so the bytes before the first position
        // still to test are the chunk's.
        Err(state.next.max(shortest))
    }

    #[inline(always)]
    fn scan(&self, data: &[u8], x: &mut u64, from: usize, to: usize, mask: u64) -> Option<usize> {
        let g = self.gear;
        let mut h = *x;
        for (k, &b) in data[from..to].iter().enumerate() {
            h = (h << 1).wrapping_add(g[b as usize]);
            if h & mask == 0 {
                return Some(from + k);
            }
        }
        *x = h;
        None
    }
}
