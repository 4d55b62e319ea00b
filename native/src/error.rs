//! Errors that cross into JavaScript. Thrown errors carry their code, subject and message as a
//! JSON payload behind a fixed prefix (napi errors only have a message); src/native/native-core.ts
//! turns them back into CoreError. Per-item errors travel as plain `ErrorInfo` objects instead.

use napi_derive::napi;
use std::fmt;

pub const ERROR_PREFIX: &str = "BOLTCORE:";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    IoRead,
    Auth,
    Corrupt,
    Hash,
    Inval,
    Unsupported,
    Io,
}

impl Code {
    fn as_str(self) -> &'static str {
        match self {
            Code::IoRead => "EIO_READ",
            Code::Auth => "EAUTH",
            Code::Corrupt => "ECORRUPT",
            Code::Hash => "EHASH",
            Code::Inval => "EINVAL",
            Code::Unsupported => "EUNSUPPORTED",
            Code::Io => "EIO_WRITE",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CoreErr {
    pub code: Code,
    pub message: String,
    pub subject: Option<String>,
}

pub type CoreResult<T> = Result<T, CoreErr>;

impl CoreErr {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        CoreErr { code, message: message.into(), subject: None }
    }

    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    pub fn inval(message: impl Into<String>) -> Self {
        CoreErr::new(Code::Inval, message)
    }

    pub fn info(&self) -> ErrorInfo {
        ErrorInfo { code: self.code.as_str().to_string(), message: self.message.clone(), subject: self.subject.clone() }
    }

    fn to_json(&self) -> String {
        let mut s = String::with_capacity(self.message.len() + 64);
        s.push_str("{\"code\":");
        json_string(&mut s, self.code.as_str());
        s.push_str(",\"message\":");
        json_string(&mut s, &self.message);
        if let Some(subject) = &self.subject {
            s.push_str(",\"subject\":");
            json_string(&mut s, subject);
        }
        s.push('}');
        s
    }
}

impl fmt::Display for CoreErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl From<CoreErr> for napi::Error {
    fn from(e: CoreErr) -> Self {
        napi::Error::new(napi::Status::GenericFailure, format!("{ERROR_PREFIX}{}", e.to_json()))
    }
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A per-item error returned inside a result (processFiles, decodeBlobs, readDirs).
#[napi(object, object_from_js = false)]
#[derive(Clone)]
pub struct ErrorInfo {
    pub code: String,
    pub message: String,
    pub subject: Option<String>,
}
