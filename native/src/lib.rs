//! bolt-agent's native compute core: hashes, codecs, sealed boxes, KDFs, chunkers, the streaming
//! file pipeline and filesystem metadata calls. src/native/native-core.ts adapts these exports to
//! the `Core` interface of src/native/types.ts.

// Under `cargo test` the napi exports are not registered, so much of the crate looks unused.
#![cfg_attr(test, allow(dead_code))]

mod blobset;
mod btrfs;
mod beneath;
mod bytes;
mod chunker;
mod compress;
mod decode;
mod dircompare;
mod error;
mod fs;
mod hash;
mod indexjson;
mod kdf;
mod packwriter;
mod paths;
mod pipeline;
mod pool;
mod restore;
mod scrypt;
mod seal;
mod zfs;

use napi_derive::napi;

#[napi(object, object_from_js = false)]
pub struct CoreInfoJs {
    pub version: String,
    pub features: Vec<String>,
}

/// CPU features the crates will use on this machine (they detect them at run time too).
#[napi(js_name = "coreInfo", catch_unwind)]
pub fn core_info() -> CoreInfoJs {
    let mut features = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("sha") {
            features.push("sha_ni".to_string());
        }
        if std::arch::is_x86_feature_detected!("aes") {
            features.push("aes".to_string());
        }
        if std::arch::is_x86_feature_detected!("vaes") && std::arch::is_x86_feature_detected!("avx512f") {
            features.push("vaes".to_string());
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            features.push("avx2".to_string());
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            features.push("avx512".to_string());
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("sha2") {
            features.push("sha2".to_string());
        }
        if std::arch::is_aarch64_feature_detected!("aes") {
            features.push("aes".to_string());
        }
        if std::arch::is_aarch64_feature_detected!("neon") {
            features.push("neon".to_string());
        }
    }
    CoreInfoJs { version: env!("CARGO_PKG_VERSION").to_string(), features }
}

/// Runs once when the addon loads. glibc raises its mmap threshold after a large buffer is
/// freed (Argon2's 64 MiB, 16 MiB segments), and from then on keeps big buffers in its heaps
/// instead of returning them: a fixed 1 MiB threshold keeps peak RSS close to what is live.
#[napi_derive::module_init]
fn init() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator tuning parameters; it is called before any thread of ours exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
    }
}
