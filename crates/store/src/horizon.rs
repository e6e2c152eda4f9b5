//! How fresh a read must be.
//!
//! Several servers may share one networked store, and a request served by one of them must see
//! every write acknowledged, by any of them, before the request arrived: no stale tile, no
//! stale compliance answer. Caches in front of the store key on [`crate::Store::change_counter`],
//! and one request may consult several of them. On a networked backend each reading of the
//! counter is a round trip, yet one reading taken *after the request arrived* is as good as a
//! fresh one for everything the request does.
//!
//! The server says when its request arrived with [`reading_since`]; within it a backend may
//! answer [`crate::Store::change_counter`] with any value it read at or after that instant (see
//! [`earliest_acceptable`]), and share one reading among the requests that arrived before it
//! began. Outside it, every call must see every commit made before the call. A backend that
//! reads the counter cheaply (the GeoPackage: a local file) can ignore all of this.
//!
//! Even one reading per request is a round trip, which a light request (a compliance check, a
//! tile: well under a millisecond from memory) feels at once. So a read-only request may also
//! run *speculatively* ([`speculating`]): the backend begins the request's own reading when it
//! arrives ([`crate::Store::begin_revisions_reading`]) and, meanwhile, answers with the last
//! reading it has, noting what it handed out in the request's [`Speculation`]; a write is refused
//! meanwhile. Before the answer leaves, the server takes the request's own reading and keeps the
//! answer only if every part handed out is the same in it ([`Speculation::confirmed_by`]) —
//! then nothing the answer depends on changed between the two readings, and it is exactly the
//! answer a request waiting for its reading would have had. Otherwise it runs the request again,
//! the careful way.

use std::cell::{Cell, RefCell};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::Revisions;

thread_local! {
    static SINCE: Cell<Option<Instant>> = const { Cell::new(None) };
    static SPECULATION: RefCell<Option<Arc<Speculation>>> = const { RefCell::new(None) };
}

/// What a request running speculatively was handed, and whether it tried to write.
#[derive(Debug, Default)]
pub struct Speculation {
    state: Mutex<Handed>,
}

#[derive(Debug, Default)]
struct Handed {
    /// The readings handed out (backends hand out one at a time; two that differ are both kept).
    readings: Vec<Revisions>,
    /// Whether the change counter itself was handed out (then it must be the same too).
    changes: bool,
    /// Whether a write was refused, or anything else made the answer unusable.
    spoilt: bool,
}

impl Speculation {
    fn handed(&self) -> std::sync::MutexGuard<'_, Handed> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A backend handed `reading` to the request (`changes`: as the change counter).
    pub fn hand_out(&self, reading: &Revisions, changes: bool) {
        let mut handed = self.handed();
        handed.changes |= changes;
        if !handed.readings.contains(reading) {
            handed.readings.push(reading.clone());
        }
    }

    /// The request tried to write: a write may not rest on a reading not yet confirmed, so the
    /// backend refused it, and the request must run again.
    pub fn spoil(&self) {
        self.handed().spoilt = true;
    }

    /// Whether the answer may be kept, given the request's own reading `fresh` (begun after it
    /// arrived): nothing was refused, and every part handed out is the same in `fresh`.
    #[must_use]
    pub fn confirmed_by(&self, fresh: &Revisions) -> bool {
        let handed = self.handed();
        !handed.spoilt
            && handed
                .readings
                .iter()
                .all(|r| r.same_parts(fresh) && (!handed.changes || r.changes == fresh.changes))
    }
}

/// Runs `work` on this thread as part of a speculative request (`None`: as part of none).
pub fn speculating<R>(speculation: Option<Arc<Speculation>>, work: impl FnOnce() -> R) -> R {
    struct Restore(Option<Arc<Speculation>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            SPECULATION.with(|s| *s.borrow_mut() = previous);
        }
    }
    let previous = SPECULATION.with(|s| s.replace(speculation));
    let _restore = Restore(previous);
    work()
}

/// The speculative request this thread is working for, if any: a backend may then answer
/// [`crate::Store::revisions`] with its last reading (noting it there), and must refuse writes.
#[must_use]
pub fn speculation() -> Option<Arc<Speculation>> {
    SPECULATION.with(|s| s.borrow().clone())
}

/// Runs `work` on this thread accepting counter readings taken at or after `since` (or after an
/// enclosing call's instant, whichever is later).
pub fn reading_since<R>(since: Instant, work: impl FnOnce() -> R) -> R {
    struct Restore(Option<Instant>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SINCE.with(|s| s.set(self.0));
        }
    }
    let previous = SINCE.with(|s| s.replace(Some(previous_or(s.get(), since))));
    let _restore = Restore(previous);
    work()
}

fn previous_or(previous: Option<Instant>, since: Instant) -> Instant {
    previous.map_or(since, |p| p.max(since))
}

/// The earliest instant at which a counter reading may have been taken to serve a call made
/// now on this thread: the enclosing [`reading_since`]'s, or now.
#[must_use]
pub fn earliest_acceptable() -> Instant {
    SINCE.with(Cell::get).unwrap_or_else(Instant::now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn reading(changes: u64, layers: u64, orders: u64) -> Revisions {
        Revisions::tracked(
            changes,
            layers,
            1,
            BTreeMap::from([("order".to_owned(), orders)]),
        )
    }

    #[test]
    fn a_speculation_holds_only_if_every_part_handed_out_is_unchanged() {
        let s = Speculation::default();
        assert!(s.confirmed_by(&reading(9, 9, 9)), "nothing handed out");
        s.hand_out(&reading(5, 2, 3), false);
        // Other writes moved the counter, nothing the reading's parts cover.
        assert!(s.confirmed_by(&reading(7, 2, 3)));
        assert!(!s.confirmed_by(&reading(7, 3, 3)), "a layer changed");
        assert!(!s.confirmed_by(&reading(7, 2, 4)), "an order was written");
        s.hand_out(&reading(5, 2, 3), true);
        assert!(
            !s.confirmed_by(&reading(7, 2, 3)),
            "the counter itself was used"
        );
        assert!(s.confirmed_by(&reading(5, 2, 3)));
        s.spoil();
        assert!(!s.confirmed_by(&reading(5, 2, 3)), "a write was refused");
    }

    #[test]
    fn a_speculation_is_seen_only_within_its_work() {
        let s = Arc::new(Speculation::default());
        assert!(speculation().is_none());
        speculating(Some(Arc::clone(&s)), || {
            assert!(speculation().is_some());
            speculating(None, || assert!(speculation().is_none()));
            assert!(speculation().is_some());
        });
        assert!(speculation().is_none());
    }

    #[test]
    fn outside_a_request_only_a_reading_taken_now_will_do() {
        let before = Instant::now();
        assert!(earliest_acceptable() >= before);
    }

    #[test]
    fn within_a_request_its_arrival_is_enough_and_nesting_keeps_the_later() {
        let arrived = Instant::now();
        let later = arrived + Duration::from_millis(5);
        reading_since(arrived, || {
            assert_eq!(earliest_acceptable(), arrived);
            reading_since(later, || assert_eq!(earliest_acceptable(), later));
            // An inner, earlier instant does not loosen the outer one.
            reading_since(arrived - Duration::from_millis(5), || {
                assert_eq!(earliest_acceptable(), arrived);
            });
            assert_eq!(earliest_acceptable(), arrived);
        });
        assert!(earliest_acceptable() > arrived);
    }
}
