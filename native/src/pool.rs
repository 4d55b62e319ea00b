//! The core's own worker threads. CPU-heavy and blocking work runs here, off the JavaScript
//! thread and off libuv's small shared pool (which Node's fs and dns need to stay responsive).
//! Each job settles one promise through a napi deferred (a threadsafe function under the hood).

use crate::error::{CoreErr, CoreResult};
use napi::bindgen_prelude::{Object, ToNapiValue};
use napi::{Env, Result};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, OnceLock};

type Job = Box<dyn FnOnce() + Send + 'static>;

struct Pool {
    queue: Mutex<VecDeque<Job>>,
    ready: Condvar,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<&'static Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let pool: &'static Pool = Box::leak(Box::new(Pool { queue: Mutex::new(VecDeque::new()), ready: Condvar::new() }));
        for i in 0..thread_count() {
            std::thread::Builder::new()
                .name(format!("bolt-core-{i}"))
                .spawn(move || worker(pool))
                .expect("spawn core worker thread");
        }
        pool
    })
}

/// BOLT_CORE_THREADS overrides; otherwise at least 4 so that a long file job cannot starve short
/// jobs (hashing, KDFs) on small machines.
fn thread_count() -> usize {
    if let Some(n) = std::env::var("BOLT_CORE_THREADS").ok().and_then(|v| v.parse::<usize>().ok()) {
        if n > 0 {
            return n.min(256);
        }
    }
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(4)
}

/// BOLT_CORE_NICE=n (1..19) runs the core's threads below the JavaScript thread's priority,
/// for hosts where backups must yield to everything else. Default: same priority.
pub(crate) fn lower_priority() {
    let nice = std::env::var("BOLT_CORE_NICE").ok().and_then(|v| v.parse::<i32>().ok()).unwrap_or(0).clamp(0, 19);
    if nice > 0 {
        // SAFETY: gettid/setpriority only read their integer arguments; on Linux a thread id
        // selects that single thread for PRIO_PROCESS.
        unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, nice) };
    }
}

fn worker(pool: &'static Pool) {
    lower_priority();
    loop {
        let job = {
            let mut queue = pool.queue.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(job) = queue.pop_front() {
                    break job;
                }
                queue = pool.ready.wait(queue).unwrap_or_else(|e| e.into_inner());
            }
        };
        job();
    }
}

/// Runs `work` on a core thread and returns a promise settled with its result.
pub fn spawn<'env, T, F>(env: &'env Env, work: F) -> Result<Object<'env>>
where
    T: ToNapiValue + Send + 'static,
    F: FnOnce() -> CoreResult<T> + Send + 'static,
{
    let (deferred, promise) = env.create_deferred::<T, Box<dyn FnOnce(Env) -> Result<T> + Send>>()?;
    let job: Job = Box::new(move || {
        let outcome = catch_unwind(AssertUnwindSafe(work))
            .unwrap_or_else(|_| Err(CoreErr::inval("internal error: the core panicked")));
        match outcome {
            Ok(value) => deferred.resolve(Box::new(move |_env| Ok(value))),
            Err(e) => deferred.reject(e.into()),
        }
    });
    let pool = pool();
    pool.queue.lock().unwrap_or_else(|e| e.into_inner()).push_back(job);
    pool.ready.notify_one();
    Ok(promise)
}
