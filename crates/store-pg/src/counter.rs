//! One reading of the change counter (with the store's other revisions) shared by the calls
//! that can use it.
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

use tudi_store::{Result, StoreError};

#[derive(Debug)]
pub(crate) struct CounterGate<T> {
    state: Mutex<GateState<T>>,
    settled: Condvar,
}

impl<T> Default for CounterGate<T> {
    fn default() -> Self {
        Self {
            state: Mutex::new(GateState {
                latest: None,
                asking: None,
                failed: None,
                committed: None,
                taking: false,
                again: false,
                pending: false,
            }),
            settled: Condvar::new(),
        }
    }
}

#[derive(Debug)]
struct GateState<T> {
    /// The newest reading and when it was begun.
    latest: Option<(Instant, T)>,
    /// When the newest reading in flight was begun.
    asking: Option<Instant>,
    /// The newest reading that failed: when it was begun, and why. Callers that waited for it
    /// are told, rather than each asking again in turn (with the database away, each would
    /// wait out its own connection timeout).
    failed: Option<(Instant, String)>,
    /// When this process last committed.
    committed: Option<Instant>,
    /// Whether a task takes readings one after another for arriving requests
    /// ([`CounterGate::want`]).
    taking: bool,
    /// Whether someone arrived while that task's reading was in flight: it takes one more.
    again: bool,
    /// Whether that task is about to begin a reading (so one begun after now is coming).
    pending: bool,
}

impl<T: Clone> CounterGate<T> {
    fn lock(&self) -> MutexGuard<'_, GateState<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A reading begun at or after `since` (and after this process's last commit): the last one
    /// if it qualifies, else a new one taken with `ask`.
    pub(crate) fn read(&self, since: Instant, ask: impl FnOnce() -> Result<T>) -> Result<T> {
        let mut state = self.lock();
        let since = state.committed.map_or(since, |c| c.max(since));
        loop {
            if let Some((begun, value)) = &state.latest
                && *begun >= since
            {
                return Ok(value.clone());
            }
            if let Some((begun, why)) = &state.failed
                && *begun >= since
            {
                return Err(StoreError::Unavailable {
                    doing: "reading the change counter",
                    source: why.clone().into(),
                });
            }
            if state.asking.is_none_or(|begun| begun < since) {
                if !state.taking {
                    break;
                }
                // The task taking readings begins its next one after now: wait for that.
                state.again |= !state.pending;
            }
            state = self
                .settled
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let begun = Instant::now();
        state.asking = Some(begun);
        drop(state);
        // Whatever happens (a panic included), the reading ends and the waiters wake.
        let settle = Settle {
            gate: self,
            begun,
            answer: None,
        };
        let answer = ask();
        settle.answer(&answer);
        answer
    }

    /// The newest reading, however old (for a request running speculatively, which confirms it
    /// afterwards).
    pub(crate) fn latest(&self) -> Option<T> {
        self.lock().latest.as_ref().map(|(_, value)| value.clone())
    }

    /// Claims a reading begun now, to be taken elsewhere (a task of the store's runtime):
    /// callers of [`CounterGate::read`] wait for it as for any reading in flight. The returned
    /// guard settles it with its answer, or as failed if dropped unanswered.
    pub(crate) fn claim(&self) -> Settle<'_, T> {
        let begun = Instant::now();
        let mut state = self.lock();
        state.asking = Some(begun);
        state.pending = false;
        drop(state);
        Settle {
            gate: self,
            begun,
            answer: None,
        }
    }

    /// A request has arrived and wants a reading begun after now. Requests arriving together
    /// share one: while the task taking readings has one in flight, it is told to take another
    /// when that ends (which begins after now), and `false` is returned; with no such task,
    /// `true`: the caller starts one, which takes readings while [`CounterGate::another`] says.
    pub(crate) fn want(&self) -> bool {
        let mut state = self.lock();
        if state.taking {
            state.again |= !state.pending;
            false
        } else {
            state.taking = true;
            state.pending = true;
            true
        }
    }

    /// The task taking readings has settled one: whether to take another (someone arrived
    /// meanwhile), else it stops.
    pub(crate) fn another(&self) -> bool {
        let mut state = self.lock();
        if state.again {
            state.again = false;
            state.pending = true;
            true
        } else {
            state.taking = false;
            false
        }
    }

    /// The task taking readings ended without [`CounterGate::another`] saying so (it panicked,
    /// or the runtime dropped it): callers waiting for its next reading take their own.
    fn taking_ended(&self) {
        let mut state = self.lock();
        state.taking = false;
        state.again = false;
        state.pending = false;
        drop(state);
        self.settled.notify_all();
    }

    /// This process has just committed: later calls need a reading begun after now.
    pub(crate) fn committed(&self) {
        let mut state = self.lock();
        state.committed = Some(Instant::now());
    }
}

/// Held by the task taking readings ([`CounterGate::want`]); if the task ends any other way
/// than by [`CounterGate::another`] saying so, tells the gate.
pub(crate) struct Taking<T: Clone> {
    gate: std::sync::Arc<CounterGate<T>>,
    done: bool,
}

impl<T: Clone> Taking<T> {
    pub(crate) fn new(gate: std::sync::Arc<CounterGate<T>>) -> Self {
        Self { gate, done: false }
    }

    pub(crate) fn gate(&self) -> &CounterGate<T> {
        &self.gate
    }

    /// Whether to take another reading; when not, the task is done.
    pub(crate) fn another(&mut self) -> bool {
        let again = self.gate.another();
        self.done = !again;
        again
    }
}

impl<T: Clone> Drop for Taking<T> {
    fn drop(&mut self) {
        if !self.done {
            self.gate.taking_ended();
        }
    }
}

/// Ends a reading: records its answer (or its failure, or a panic as a failure), clears the
/// reading in flight and wakes the waiters.
pub(crate) struct Settle<'a, T: Clone> {
    gate: &'a CounterGate<T>,
    begun: Instant,
    answer: Option<std::result::Result<T, String>>,
}

impl<T: Clone> Settle<'_, T> {
    /// The reading's answer, settled now.
    pub(crate) fn answer(mut self, answer: &Result<T>) {
        self.answer = Some(match answer {
            Ok(v) => Ok(v.clone()),
            Err(e) => Err(e.to_string()),
        });
    }
}

impl<T: Clone> Drop for Settle<'_, T> {
    fn drop(&mut self) {
        let mut state = self.gate.lock();
        if state.asking == Some(self.begun) {
            state.asking = None;
        }
        match self.answer.take() {
            Some(Ok(value)) => {
                if state.latest.as_ref().is_none_or(|(t, _)| *t < self.begun) {
                    state.latest = Some((self.begun, value));
                }
            }
            failure => {
                let why = failure
                    .and_then(std::result::Result::err)
                    .unwrap_or_else(|| "the reading stopped".to_owned());
                if state.failed.as_ref().is_none_or(|(t, _)| *t < self.begun) {
                    state.failed = Some((self.begun, why));
                }
            }
        }
        drop(state);
        self.gate.settled.notify_all();
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
        let gate = CounterGate::<u64>::default();
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
        let gate = CounterGate::<u64>::default();
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
    fn a_failed_reading_answers_the_request_it_served_but_not_later_ones() {
        let gate = CounterGate::<u64>::default();
        let arrived = Instant::now();
        let failed = gate.read(arrived, || Err(StoreError::Cancelled));
        assert!(failed.is_err());
        assert!(
            matches!(
                gate.read(arrived, || Ok(7)),
                Err(StoreError::Unavailable { .. })
            ),
            "the same request is told again, without asking"
        );
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(gate.read(Instant::now(), || Ok(7)).ok(), Some(7));
    }

    #[test]
    fn callers_waiting_for_a_reading_that_fails_are_told_at_once() {
        let gate = CounterGate::<u64>::default();
        let asked = AtomicU64::new(0);
        let arrived = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    let answer = gate.read(arrived, || {
                        asked.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(50));
                        Err(StoreError::Cancelled)
                    });
                    assert!(answer.is_err());
                });
            }
        });
        assert_eq!(
            asked.load(Ordering::SeqCst),
            1,
            "one failed reading answered all who waited for it"
        );
        // A caller arriving afterwards asks again.
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(gate.read(Instant::now(), || Ok(5)).ok(), Some(5));
    }

    #[test]
    fn a_claimed_reading_serves_the_callers_that_arrived_before_it() {
        let gate = CounterGate::<u64>::default();
        let arrived = Instant::now();
        let claimed = gate.claim();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| gate.read(arrived, || Ok(99)));
            std::thread::sleep(Duration::from_millis(20));
            claimed.answer(&Ok(7));
            assert_eq!(waiter.join().ok().and_then(Result::ok), Some(7));
        });
        assert_eq!(gate.latest(), Some(7));
        // A claim dropped unanswered settles as failed, and waiters are told.
        std::thread::sleep(Duration::from_millis(2));
        let later = Instant::now();
        drop(gate.claim());
        assert!(gate.read(later, || Ok(1)).is_err());
    }

    #[test]
    fn requests_arriving_during_a_reading_share_the_next_one() {
        let gate = std::sync::Arc::new(CounterGate::<u64>::default());
        let mut taking = Taking::new(std::sync::Arc::clone(&gate));
        assert!(gate.want(), "nothing taking readings: the caller starts");
        let first = gate.claim();
        // Three requests arrive while the first reading is in flight: no new task, one more
        // reading wanted.
        let arrived = Instant::now();
        assert!(!gate.want() && !gate.want() && !gate.want());
        first.answer(&Ok(1));
        assert!(taking.another(), "someone arrived meanwhile");
        std::thread::scope(|s| {
            // A caller that arrived meanwhile waits for that reading rather than taking its own.
            let waiter = s.spawn(|| gate.read(arrived, || Ok(99)));
            std::thread::sleep(Duration::from_millis(20));
            taking.gate().claim().answer(&Ok(2));
            assert_eq!(waiter.join().ok().and_then(Result::ok), Some(2));
        });
        assert!(!taking.another(), "nobody arrived since: the task stops");
        assert!(gate.want(), "and the next request starts one again");
        // A task dropped without finishing (a panic) lets waiters take their own reading.
        let later = Instant::now();
        drop(Taking::new(std::sync::Arc::clone(&gate)));
        assert_eq!(gate.read(later, || Ok(3)).ok(), Some(3));
    }

    #[test]
    fn callers_at_once_share_readings() {
        let gate = CounterGate::<u64>::default();
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
