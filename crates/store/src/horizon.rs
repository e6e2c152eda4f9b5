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

use std::cell::Cell;
use std::time::Instant;

thread_local! {
    static SINCE: Cell<Option<Instant>> = const { Cell::new(None) };
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
    use std::time::Duration;

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
