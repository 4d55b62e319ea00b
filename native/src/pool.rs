//! The core's own worker threads. CPU-heavy and blocking work runs here, off the JavaScript
//! thread and off libuv's small shared pool (which Node's fs and dns need to stay responsive).
//! Each job settles one promise; the settlements of one JavaScript thread share one threadsafe
//! function (see Completions).

use crate::error::{CoreErr, CoreResult};
use napi::bindgen_prelude::{Object, ToNapiValue};
use napi::{check_status, sys, Env, JsError, Result};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock};

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
    let raw_env = env.raw();
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    // SAFETY: plain napi calls on the JavaScript thread with out-pointers to locals.
    check_status!(unsafe { sys::napi_create_promise(raw_env, &mut deferred, &mut promise) })?;
    let slot = completions_for(raw_env)?;
    let deferred = Deferred(deferred);
    let job: Job = Box::new(move || {
        let outcome = catch_unwind(AssertUnwindSafe(work))
            .unwrap_or_else(|_| Err(CoreErr::inval("internal error: the core panicked")));
        let settle = Box::new(Settle {
            deferred,
            outcome: Box::new(move |env| match outcome {
                // SAFETY: called by settle_on_js_thread with its live env.
                Ok(value) => unsafe { T::to_napi_value(env, value) },
                Err(e) => Err(e.into()),
            }),
        });
        slot.deliver(settle);
    });
    let pool = pool();
    pool.queue.lock().unwrap_or_else(|e| e.into_inner()).push_back(job);
    pool.ready.notify_one();
    Ok(Object::from_raw(raw_env, promise))
}

/// A promise's deferred; only ever used on the JavaScript thread that made it.
struct Deferred(sys::napi_deferred);
// SAFETY: the pointer travels through a worker untouched and is dereferenced by napi on the
// JavaScript thread that created it (settle_on_js_thread).
unsafe impl Send for Deferred {}

/// What a worker hands back: the promise, and how to make its value (or error) on the
/// JavaScript thread.
struct Settle {
    deferred: Deferred,
    outcome: Box<dyn FnOnce(sys::napi_env) -> Result<sys::napi_value> + Send>,
}

/// The threadsafe function completions go through, shared by the jobs of one JavaScript
/// thread. None once its environment is torn down: later completions are dropped (the
/// promise's environment is gone), never sent through a released function.
struct CompletionSlot(RwLock<Option<usize>>);

impl CompletionSlot {
    fn deliver(&self, settle: Box<Settle>) {
        let tsfn = self.0.read().unwrap_or_else(|e| e.into_inner());
        let Some(tsfn) = *tsfn else { return };
        let data = Box::into_raw(settle);
        // SAFETY: the function is alive while the read lock holds the slot (teardown empties it
        // under the write lock before releasing it); the queue is unbounded, so nonblocking
        // calls are only refused when it is closing, and then the box is ours again.
        let status = unsafe { sys::napi_call_threadsafe_function(tsfn as sys::napi_threadsafe_function, data.cast(), sys::ThreadsafeFunctionCallMode::nonblocking) };
        if status != sys::Status::napi_ok {
            // SAFETY: napi did not take the pointer.
            drop(unsafe { Box::from_raw(data) });
        }
    }
}

/// Completions of core jobs reach JavaScript through one threadsafe function per JavaScript
/// thread, made once. napi-rs's deferred makes (and releases) one per promise: ~15 µs of the
/// JavaScript thread per call under Bun (a restore makes ~5k calls, a first backup more).
struct Completions {
    env: sys::napi_env,
    tsfn: sys::napi_threadsafe_function,
    slot: Arc<CompletionSlot>,
    /// Jobs not settled yet: the function keeps the event loop alive only while there are.
    pending: usize,
}

thread_local! {
    static COMPLETIONS: RefCell<Option<Completions>> = const { RefCell::new(None) };
}

/// This JavaScript thread's completion slot, made on first use; counts one more pending job.
fn completions_for(env: sys::napi_env) -> Result<Arc<CompletionSlot>> {
    COMPLETIONS.with(|cell| {
        let mut current = cell.borrow_mut();
        if current.as_ref().is_none_or(|c| c.env != env) {
            *current = Some(make_completions(env)?);
        }
        let c = current.as_mut().expect("made above");
        if c.pending == 0 {
            // SAFETY: on the JavaScript thread that made the function.
            check_status!(unsafe { sys::napi_ref_threadsafe_function(env, c.tsfn) })?;
        }
        c.pending += 1;
        Ok(c.slot.clone())
    })
}

fn make_completions(env: sys::napi_env) -> Result<Completions> {
    let mut name = ptr::null_mut();
    let mut tsfn = ptr::null_mut();
    // SAFETY: napi calls on the JavaScript thread; the name is a NUL-free literal with its
    // length, and no JavaScript function is needed because call_js settles the promises.
    unsafe {
        check_status!(sys::napi_create_string_utf8(env, c"bolt-core".as_ptr(), 9, &mut name))?;
        check_status!(sys::napi_create_threadsafe_function(
            env,
            ptr::null_mut(),
            ptr::null_mut(),
            name,
            0,
            1,
            ptr::null_mut(),
            None,
            ptr::null_mut(),
            Some(settle_on_js_thread),
            &mut tsfn,
        ))?;
        check_status!(sys::napi_unref_threadsafe_function(env, tsfn))?;
        check_status!(sys::napi_add_env_cleanup_hook(env, Some(env_teardown), env.cast()))?;
    }
    Ok(Completions { env, tsfn, slot: Arc::new(CompletionSlot(RwLock::new(Some(tsfn as usize)))), pending: 0 })
}

/// The environment goes away (process exit, a worker thread ending): completions still in
/// flight are dropped from now on, and the function is released.
unsafe extern "C" fn env_teardown(arg: *mut c_void) {
    let env: sys::napi_env = arg.cast();
    let _ = COMPLETIONS.try_with(|cell| {
        let Ok(mut current) = cell.try_borrow_mut() else { return };
        if current.as_ref().is_some_and(|c| c.env == env) {
            let c = current.take().expect("checked");
            *c.slot.0.write().unwrap_or_else(|e| e.into_inner()) = None;
            // SAFETY: no worker can call it any more (the slot is empty).
            unsafe { sys::napi_release_threadsafe_function(c.tsfn, sys::ThreadsafeFunctionReleaseMode::abort) };
        }
    });
}

unsafe extern "C" fn settle_on_js_thread(env: sys::napi_env, _js_callback: sys::napi_value, _context: *mut c_void, data: *mut c_void) {
    // SAFETY: every item is a Box<Settle> handed over by CompletionSlot::deliver.
    let settle = unsafe { Box::from_raw(data.cast::<Settle>()) };
    if env.is_null() {
        return; // the function is being torn down: nobody awaits this promise any more
    }
    let _ = COMPLETIONS.try_with(|cell| {
        if let Ok(mut current) = cell.try_borrow_mut() {
            if let Some(c) = current.as_mut().filter(|c| c.env == env) {
                c.pending = c.pending.saturating_sub(1);
                if c.pending == 0 {
                    // SAFETY: on the JavaScript thread that made the function.
                    unsafe { sys::napi_unref_threadsafe_function(env, c.tsfn) };
                }
            }
        }
    });
    let Settle { deferred, outcome } = *settle;
    // SAFETY: napi calls on the deferred's own JavaScript thread; each deferred is settled once.
    unsafe {
        match outcome(env) {
            Ok(value) => sys::napi_resolve_deferred(env, deferred.0, value),
            Err(e) => sys::napi_reject_deferred(env, deferred.0, JsError::from(e).into_value(env)),
        };
    }
}
