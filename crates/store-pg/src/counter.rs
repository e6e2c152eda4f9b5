//! One reading of the change counter shared by the calls that can use it.
//!
//! Each request consults the counter several times (its session, the public layers, the rule
//! sets, the layer snapshots), and at 64 connections many requests consult it at once; a round
//! trip for each would make PostgreSQL the bottleneck of requests that otherwise never leave
//! memory. A reading taken at instant `t` reflects every commit made before `t`, so a call may
//! use it when `t` is no earlier than [`tudi_store::horizon::earliest_acceptable`] and no
//! earlier than this process's last commit (a request must see its own writes). A caller that
//! cannot use the last reading waits for one in flight that began late enough, or else begins its
//! own at once (readings may overlap: waiting for an older one to end first would cost a second
//! round trip).

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tudi_store::Result;

#[derive(Debug, Default)]
pub(crate) struct CounterGate {
    state: Mutex<GateState>,
    settled: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    /// The newest reading and when it was begun.
    latest: Option<(Instant, u64)>,
    /// When the newest reading in flight was begun.
    asking: Option<Instant>,
    /// When this process last committed.
    committed: Option<Instant>,
}

impl CounterGate {
    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A reading begun at or after `since` (and after this process's last commit): the last one
    /// if it qualifies, else a new one taken with `ask`.
    pub(crate) fn read(&self, since: Instant, ask: impl FnOnce() -> Result<u64>) -> Result<u64> {
        let mut state = self.lock();
        let since = state.committed.map_or(since, |c| c.max(since));
        loop {
            if let Some((begun, value)) = state.latest
                && begun >= since
            {
                return Ok(value);
            }
            if state.asking.is_none_or(|begun| begun < since) {
                break;
            }
            state = self
                .settled
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let begun = Instant::now();
        state.asking = Some(begun);
        drop(state);
        let answer = ask();
        let mut state = self.lock();
        if state.asking == Some(begun) {
            state.asking = None;
        }
        if let Ok(value) = answer
            && state.latest.is_none_or(|(t, _)| t < begun)
        {
            state.latest = Some((begun, value));
        }
        drop(state);
        self.settled.notify_all();
        answer
    }

    /// This process has just committed: later calls need a reading begun after now.
    pub(crate) fn committed(&self) {
        let mut state = self.lock();
        state.committed = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;
    use tudi_store::StoreError;

    #[test]
    fn a_reading_begun_after_the_floor_serves_and_an_older_one_does_not() {
        let gate = CounterGate::default();
        let asked = AtomicU64::new(0);
        let ask = || Ok(asked.fetch_add(1, Ordering::SeqCst) + 10);
        let arrived = Instant::now();
        assert_eq!(gate.read(arrived, ask).ok(), Some(10));
        // The same request again: the reading begun after it arrived is enough.
        assert_eq!(gate.read(arrived, ask).ok(), Some(10));
        assert_eq!(asked.load(Ordering::SeqCst), 1);
        // A request that arrived after that reading began needs a new one.
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(gate.read(Instant::now(), ask).ok(), Some(11));
        assert_eq!(asked.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn after_a_commit_of_its_own_a_request_reads_again() {
        let gate = CounterGate::default();
        let asked = AtomicU64::new(0);
        let ask = || Ok(asked.fetch_add(1, Ordering::SeqCst));
        let arrived = Instant::now();
        gate.read(arrived, ask).ok();
        std::thread::sleep(Duration::from_millis(2));
        gate.committed();
        gate.read(arrived, ask).ok();
        assert_eq!(asked.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_failed_reading_is_not_kept() {
        let gate = CounterGate::default();
        let arrived = Instant::now();
        let failed = gate.read(arrived, || Err(StoreError::Cancelled));
        assert!(failed.is_err());
        assert_eq!(gate.read(arrived, || Ok(7)).ok(), Some(7));
    }

    #[test]
    fn callers_at_once_share_readings() {
        let gate = CounterGate::default();
        let asked = AtomicU64::new(0);
        let arrived = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| {
                    for _ in 0..50 {
                        let v = gate.read(arrived, || {
                            std::thread::sleep(Duration::from_micros(200));
                            Ok(asked.fetch_add(1, Ordering::SeqCst))
                        });
                        assert!(v.is_ok());
                    }
                });
            }
        });
        // 800 calls that all arrived before the first reading began: one reading serves them.
        assert_eq!(asked.load(Ordering::SeqCst), 1);
    }
}
