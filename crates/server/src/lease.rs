//! Background jobs run by exactly one server at a time.
//!
//! Several `tudi serve` processes may share one store (PostgreSQL behind a load balancer). The
//! deadline supervision and the homestead clock must not run on each of them, or two servers
//! would both send a reminder. A job runs only on the server that holds its lease: a record
//! `lease/<job>` naming the holder and the instant the lease ends. The holder renews it each time
//! it runs the job; another server takes it over only after it has ended, so when the holder dies
//! (`kill -9`) the job moves to another server within one lease. Taking and renewing are
//! optimistic writes of that record, so two servers can never both succeed for the same lease.

use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use tudi_store::{Change, Expect, RecordWrite, Store, StoreError};

/// The collection of lease records.
const COLLECTION: &str = "lease";

/// The lease of one background job, as held by one server.
#[derive(Debug, Clone)]
pub struct Lease {
    job: String,
    holder: String,
    length: SignedDuration,
}

/// This process, as lease holders are named: unique per start, so a restarted server does not
/// mistake its predecessor's lease for its own.
#[must_use]
pub fn this_server() -> String {
    format!("pid-{}-{}", std::process::id(), uuid::Uuid::now_v7())
}

impl Lease {
    /// The lease of `job` for `holder`, lasting `length` from each renewal.
    #[must_use]
    pub fn new(job: &str, holder: &str, length: std::time::Duration) -> Self {
        Self {
            job: job.to_owned(),
            holder: holder.to_owned(),
            length: SignedDuration::try_from(length).unwrap_or(SignedDuration::from_secs(600)),
        }
    }

    /// Takes the lease (when nobody holds it, or its holder's time is up) or renews it (when
    /// this server holds it). Returns whether this server holds it now.
    ///
    /// # Errors
    /// Database errors (a conflict only means another server was faster: `false`).
    pub fn hold(&self, store: &dyn Store, now: Timestamp) -> Result<bool, StoreError> {
        let current = store.record(COLLECTION, &self.job)?;
        let expect = match &current {
            None => Expect::Absent,
            Some(r) => {
                let holder = r.body["holder"].as_str().unwrap_or_default();
                let until = r.body["until"]
                    .as_str()
                    .and_then(|t| t.parse::<Timestamp>().ok())
                    .unwrap_or(Timestamp::UNIX_EPOCH);
                if holder != self.holder && until > now {
                    return Ok(false);
                }
                // Renewed only in the second half of its length: each renewal is a write with
                // its audit entry, and most ticks need none.
                let half = self.length / 2;
                if holder == self.holder && until.duration_since(now) > half {
                    return Ok(true);
                }
                Expect::Version(r.version)
            }
        };
        let until = now
            .checked_add(self.length)
            .map_err(|e| StoreError::Schema(e.to_string()))?;
        let write = RecordWrite {
            collection: COLLECTION.into(),
            id: self.job.clone(),
            expect,
            body: Some(json!({ "holder": self.holder, "until": until.to_string() })),
            keys: vec![],
            detail: None,
        };
        match store.write_records(&Change::new("system:lease", "lease.hold").at(now), &[write]) {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
