//! Content-defined chunkers. Both restart at every file start and after every cut.

pub mod fastcdc;
mod poly;
pub mod rabin;

use crate::error::{CoreErr, CoreResult};
use napi::Result;
use napi_derive::napi;
use std::sync::Arc;

#[napi(object)]
pub struct ChunkerSpecJs {
    pub kind: String,
    pub polynomial: Option<String>,
    pub min_size: Option<f64>,
    pub avg_size: Option<f64>,
    pub max_size: Option<f64>,
}

/// Where the scan of one chunk stands (Chunker::find).
#[derive(Clone, Copy)]
pub enum CutScan {
    Rabin(usize),
    FastCdc(fastcdc::FastCdcScan),
}

pub enum Chunker {
    Rabin(Arc<rabin::Rabin>),
    FastCdc(fastcdc::FastCdc),
}

impl Chunker {
    pub fn from_js(spec: &ChunkerSpecJs) -> CoreResult<Self> {
        match spec.kind.as_str() {
            "rabin" => {
                let pol = spec.polynomial.as_deref().ok_or_else(|| CoreErr::inval("rabin chunker needs a polynomial"))?;
                Ok(Chunker::Rabin(rabin::Rabin::for_polynomial(pol)?))
            }
            "fastcdc" => {
                let size = |v: Option<f64>, name: &str| -> CoreResult<usize> {
                    match v {
                        Some(x) if x >= 0.0 && x.fract() == 0.0 && x <= u32::MAX as f64 => Ok(x as usize),
                        _ => Err(CoreErr::inval(format!("fastcdc chunker needs an integer {name}"))),
                    }
                };
                Ok(Chunker::FastCdc(fastcdc::FastCdc::new(
                    size(spec.min_size, "minSize")?,
                    size(spec.avg_size, "avgSize")?,
                    size(spec.max_size, "maxSize")?,
                )?))
            }
            other => Err(CoreErr::inval(format!("unknown chunker {other:?}"))),
        }
    }

    pub fn max_size(&self) -> usize {
        match self {
            Chunker::Rabin(_) => rabin::MAX_SIZE,
            Chunker::FastCdc(f) => f.max_size(),
        }
    }

    /// A new chunk's scan state for `find`.
    pub fn new_scan(&self) -> CutScan {
        match self {
            Chunker::Rabin(_) => CutScan::Rabin(rabin::FIRST_CUT),
            Chunker::FastCdc(_) => CutScan::FastCdc(fastcdc::FastCdcScan::default()),
        }
    }

    /// The chunk at the start of `data` as far as `data` decides it, for data that arrives
    /// piece by piece: Ok(length) once decided (`last`: nothing follows `data` in the file),
    /// else Err(bytes certainly in the chunk). `scan` carries the progress from one call to the
    /// next, over a longer `data` each time; the lengths are those `cut` gives.
    pub fn find(&self, data: &[u8], scan: &mut CutScan, last: bool) -> std::result::Result<usize, usize> {
        match (self, scan) {
            (Chunker::Rabin(r), CutScan::Rabin(next)) => r.find(data, next, last),
            (Chunker::FastCdc(f), CutScan::FastCdc(state)) => f.find(data, state, last),
            _ => unreachable!("a scan state is only given to the chunker that made it"),
        }
    }

    /// See `Rabin::cut` / `FastCdc::cut` for the precondition on `data`.
    pub fn cut(&self, data: &[u8]) -> usize {
        match self {
            Chunker::Rabin(r) => r.cut(data),
            Chunker::FastCdc(f) => f.cut(data),
        }
    }

    pub fn lengths(&self, data: &[u8]) -> Vec<u32> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < data.len() {
            let n = self.cut(&data[pos..]);
            out.push(n as u32);
            pos += n;
        }
        out
    }
}

#[napi(js_name = "chunkBuffer", catch_unwind)]
pub fn chunk_buffer(spec: ChunkerSpecJs, data: &[u8]) -> Result<Vec<u32>> {
    Ok(Chunker::from_js(&spec)?.lengths(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic bytes: xorshift noise, with runs of zeros (which hold no boundary, so
    /// chunks reach their maximum) and of a repeated short pattern.
    fn corpus(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let run = (next() % 300_000) as usize + 1;
            match next() % 8 {
                0 => out.extend(std::iter::repeat_n(0u8, run)),
                1 => out.extend((0..run).map(|i| b"abcabd"[i % 6])),
                _ => out.extend((0..run).map(|_| next() as u8)),
            }
        }
        out.truncate(len);
        out
    }

    /// The chunk lengths `find` decides with the data arriving in pieces of the given sizes,
    /// checking that no claim of certain bytes goes past the chunk that is cut later.
    fn piecewise(chunker: &Chunker, data: &[u8], piece: &mut dyn FnMut() -> usize) -> Vec<usize> {
        let (mut lengths, mut start, mut available) = (Vec::new(), 0usize, 0usize);
        let mut scan = chunker.new_scan();
        let mut certain = 0;
        loop {
            available = (available + piece()).min(data.len());
            let last = available == data.len();
            loop {
                if start == data.len() {
                    return lengths;
                }
                match chunker.find(&data[start..available], &mut scan, last) {
                    Ok(len) => {
                        assert!(len > 0 && len <= available - start, "length {len} at {start}");
                        assert!(certain <= len, "claimed {certain} certain bytes of a {len}-byte chunk at {start}");
                        lengths.push(len);
                        start += len;
                        scan = chunker.new_scan();
                        certain = 0;
                    }
                    Err(sure) => {
                        assert!(!last, "the last piece must decide every chunk");
                        assert!(sure >= certain && sure <= available - start);
                        certain = sure;
                        break;
                    }
                }
            }
        }
    }

    fn all_at_once(chunker: &Chunker, data: &[u8]) -> Vec<usize> {
        let (mut lengths, mut start) = (Vec::new(), 0);
        while start < data.len() {
            let len = chunker.cut(&data[start..]);
            lengths.push(len);
            start += len;
        }
        lengths
    }

    fn check(chunker: &Chunker, data: &[u8], sizes: &[usize]) {
        let expected = all_at_once(chunker, data);
        for &size in sizes {
            assert_eq!(piecewise(chunker, data, &mut || size), expected, "pieces of {size}");
        }
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut random = || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 33) as usize % (3 * sizes[0]) + 1
        };
        assert_eq!(piecewise(chunker, data, &mut random), expected, "random pieces");
    }

    #[test]
    fn rabin_cuts_the_same_whatever_the_pieces() {
        let chunker = Chunker::Rabin(rabin::Rabin::for_polynomial("3da3358b4dc173").unwrap());
        for (len, seed) in [(40 << 20, 1u64), (rabin::MIN_SIZE + 1, 2), (rabin::MIN_SIZE, 3), (3 * rabin::MAX_SIZE + 77, 4)] {
            let data = corpus(len, seed);
            check(&chunker, &data, &[256 << 10, 1 << 20, 4093, rabin::MAX_SIZE + 1]);
        }
        // A constant byte holds no boundary: maximal chunks, then a short one before the noise.
        let mut data = vec![0x5Au8; 2 * rabin::MAX_SIZE + 12345];
        data.extend(corpus(3 << 20, 9));
        assert_eq!(all_at_once(&chunker, &data)[..2], [rabin::MAX_SIZE, rabin::MAX_SIZE]);
        check(&chunker, &data, &[256 << 10, 4093]);
    }

    #[test]
    fn fastcdc_cuts_the_same_whatever_the_pieces() {
        for (min, avg, max) in [(64, 256, 1024), (65, 300, 2001), (512 << 10, 1 << 20, 8 << 20), (1 << 20, 1 << 20, 1 << 20)] {
            let chunker = Chunker::FastCdc(fastcdc::FastCdc::new(min, avg, max).unwrap());
            for (len, seed) in [(12 << 20, 5u64), (min + 1, 6), (avg + 3, 7), (2 * max + 1, 8)] {
                let data = corpus(len, seed);
                check(&chunker, &data, &[max / 3 + 1, 1, 2, 7, max + 1]);
            }
        }
    }
}
