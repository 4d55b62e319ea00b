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
