//! Helper threads that start at once, on another CPU.
//!
//! Splitting a few milliseconds of work across cores only pays when the
//! helper runs while the caller does its half. On the 2-core VM we measure
//! on, a new thread waits on its parent's CPU until the scheduler balances
//! it to the idle one — 0.2 to 5 ms, 2.3 ms on average, while the parent
//! keeps computing — so a helper often started when the work was already
//! done. Moving it off the parent's CPU right after it is created makes it
//! start within about 0.2 ms. Once running it may use every CPU again.
//!
//! [`join`] is `std::thread::scope` with one helper; [`spawn`] is
//! `std::thread::Builder::spawn`.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

/// Runs `helper` on a new thread started on another CPU and `work` on
/// the caller, side by side, and returns both results (the helper's
/// panic caught). Without a thread to be had, `helper` runs after `work`
/// on the caller.
pub fn join<A: Send, B>(
    helper: impl FnOnce() -> A + Send,
    work: impl FnOnce() -> B,
) -> (std::thread::Result<A>, B) {
    let started = Start::new();
    let child = started.clone();
    let mut helper = Some(helper);
    let slot = &mut helper;
    // SAFETY: the thread only borrows what outlives this call: it is
    // joined before `join` returns, and by `Joined`'s destructor when
    // `work` panics.
    let spawned = unsafe {
        std::thread::Builder::new().spawn_unchecked(move || {
            child.running();
            let helper = slot.take().expect("taken once");
            helper()
        })
    };
    let Ok(handle) = spawned else {
        let b = work();
        let helper = helper.take().expect("not taken: no thread ran");
        return (
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(helper)),
            b,
        );
    };
    started.move_elsewhere(&handle);
    let mut joined = Joined(Some(handle));
    let b = work();
    let a = joined.0.take().expect("joined once").join();
    (a, b)
}

/// Joins the helper however [`join`] leaves.
struct Joined<T>(Option<JoinHandle<T>>);

impl<T> Drop for Joined<T> {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            let _ = handle.join();
        }
    }
}

/// Spawns a thread named `name` running `f`, started on another CPU.
pub fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<JoinHandle<T>> {
    let started = Start::new();
    let child = started.clone();
    let handle = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            child.running();
            f()
        })?;
    started.move_elsewhere(&handle);
    Ok(handle)
}

/// The handshake that keeps a moved thread from being left on fewer CPUs:
/// either the thread runs before the parent moves it (and is not moved),
/// or it waits until the move is done and then widens its CPUs again.
#[derive(Clone)]
struct Start(Arc<Handshake>);

struct Handshake {
    state: AtomicU8,
    /// The CPUs the thread may use again once moved.
    all: OnceLock<cpus::Set>,
}

const CREATED: u8 = 0;
const MOVING: u8 = 1;
const MOVED: u8 = 2;
const RUNNING: u8 = 3;

impl Start {
    fn new() -> Self {
        Start(Arc::new(Handshake {
            state: AtomicU8::new(CREATED),
            all: OnceLock::new(),
        }))
    }

    /// Called by the parent right after creating the thread.
    fn move_elsewhere<T>(&self, handle: &JoinHandle<T>) {
        let h = &self.0;
        if h.state
            .compare_exchange(CREATED, MOVING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return; // Already running.
        }
        let moved = cpus::allowed().and_then(|all| {
            let others = cpus::without_current(all)?;
            cpus::set_thread(handle, &others).then_some(all)
        });
        match moved {
            Some(all) => {
                // The thread widens its CPUs to `all` once it runs.
                let _ = h.all.set(all);
                h.state.store(MOVED, Ordering::Release);
            }
            None => h.state.store(RUNNING, Ordering::Release),
        }
    }

    /// Called by the thread first thing.
    fn running(&self) {
        let h = &self.0;
        loop {
            match h
                .state
                .compare_exchange(CREATED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) | Err(RUNNING) => return,
                Err(MOVED) => {
                    if let Some(all) = h.all.get() {
                        cpus::set_self(all);
                    }
                    return;
                }
                // The parent is moving this thread: microseconds.
                Err(_) => std::hint::spin_loop(),
            }
        }
    }
}

/// Elsewhere than Linux nothing is moved.
#[cfg(not(target_os = "linux"))]
mod cpus {
    #[derive(Clone, Copy)]
    pub(super) struct Set;

    impl Set {
        #[cfg(test)]
        pub(super) fn count(&self) -> i32 {
            0
        }
    }

    pub(super) fn allowed() -> Option<Set> {
        None
    }

    pub(super) fn without_current(_: Set) -> Option<Set> {
        None
    }

    pub(super) fn set_thread<T>(_: &std::thread::JoinHandle<T>, _: &Set) -> bool {
        false
    }

    pub(super) fn set_self(_: &Set) {}
}

/// CPU sets through `libc`.
#[cfg(target_os = "linux")]
mod cpus {
    use std::os::unix::thread::JoinHandleExt;

    #[derive(Clone, Copy)]
    pub(super) struct Set(libc::cpu_set_t);

    impl Set {
        /// How many CPUs are in the set.
        #[cfg(test)]
        pub(super) fn count(&self) -> i32 {
            // SAFETY: only reads the set.
            unsafe { libc::CPU_COUNT(&self.0) }
        }
    }

    const SIZE: usize = std::mem::size_of::<libc::cpu_set_t>();

    /// The CPUs the calling thread may run on.
    pub(super) fn allowed() -> Option<Set> {
        // SAFETY: a zeroed cpu_set_t is a valid empty set; the call
        // writes at most SIZE bytes into it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            (libc::sched_getaffinity(0, SIZE, &mut set) == 0).then_some(Set(set))
        }
    }

    /// `set` without the CPU the caller runs on; `None` when nothing
    /// would be left.
    pub(super) fn without_current(set: Set) -> Option<Set> {
        // SAFETY: sched_getcpu has no memory effects; CPU_* only touch
        // the set.
        unsafe {
            let cpu = usize::try_from(libc::sched_getcpu()).ok()?;
            let mut others = set.0;
            if cpu < libc::CPU_SETSIZE as usize {
                libc::CPU_CLR(cpu, &mut others);
            }
            (libc::CPU_COUNT(&others) > 0).then_some(Set(others))
        }
    }

    /// Restricts `thread` to `set`.
    pub(super) fn set_thread<T>(thread: &std::thread::JoinHandle<T>, set: &Set) -> bool {
        // SAFETY: the handle's thread is alive (not joined); the set is
        // SIZE bytes.
        unsafe { libc::pthread_setaffinity_np(thread.as_pthread_t(), SIZE, &set.0) == 0 }
    }

    /// Lets the calling thread run on `set`.
    pub(super) fn set_self(set: &Set) {
        // SAFETY: as above, for the calling thread.
        unsafe {
            libc::sched_setaffinity(0, SIZE, &set.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_runs_both_and_reports_a_helper_panic() {
        let data = [1u32, 2, 3];
        let (a, b) = join(|| data.iter().sum::<u32>(), || data.len());
        assert_eq!((a.unwrap(), b), (6, 3));
        let (a, b) = join(|| -> u32 { panic!("helper") }, || 7);
        assert!(a.is_err());
        assert_eq!(b, 7);
    }

    #[test]
    fn a_moved_thread_may_use_every_cpu_again() {
        let before = cpus::allowed().map(|s| s.count());
        let handle = spawn("test", move || cpus::allowed().map(|s| s.count())).unwrap();
        assert_eq!(handle.join().unwrap(), before);
        let (a, _) = join(|| cpus::allowed().map(|s| s.count()), || ());
        assert_eq!(a.unwrap(), before);
    }
}
