//! Group commit of record writes.
//!
//! Every write holds the audit head — and a numbered write its sequence — from its first
//! statement to its commit, so writes through all servers are serial, and each pays its own
//! transaction's round trips and commit flush. Record writes that arrive at once from several
//! threads of one process therefore share one transaction: the first to arrive leads, takes what
//! is queued, makes each write in a savepoint of its own (a refused or failed one is rolled back
//! alone — its number, records and audit entries — so it uses no number and leaves no entry)
//! and commits once. A caller's `make` closure always runs on the caller's own thread: the
//! leader hands it its number and waits for its records. When the leader is done, the next
//! queued caller leads the writes queued meanwhile.
//!
//! A batch of new records (work-order intake) goes a quicker way first: every number in one
//! round trip, every caller's records built at once, all inserted in one more — no read and no
//! savepoint per write. If anything in it fails, it is rolled back and the batch is written the
//! careful way above, so each caller is told what it would have been told alone.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use tudi_store::{Change, RecordWrite, Result, StoreError};

use crate::PgStore;
use crate::records::{self, Writer, advance_sequence};

/// Writes made in one transaction at most.
const BATCH_MAX: usize = 64;

/// The writes waiting for a leader.
#[derive(Debug, Default)]
pub(crate) struct Combiner {
    queue: Mutex<Queue>,
}

#[derive(Debug, Default)]
struct Queue {
    waiting: VecDeque<Arc<Job>>,
    /// A caller is leading a transaction now.
    leading: bool,
}

/// What one caller asks for.
pub(crate) enum Work<'a> {
    /// These records.
    Records(&'a [RecordWrite]),
    /// The next number of the sequence, and the records `make` builds with it.
    Numbered {
        key: &'a str,
        make: &'a mut dyn FnMut(u64) -> Result<Vec<RecordWrite>>,
    },
}

#[derive(Debug)]
struct Job {
    change: Change,
    /// The records (a plain write), or the sequence (a numbered write).
    writes: Option<Vec<RecordWrite>>,
    key: Option<String>,
    step: Mutex<Step>,
    turn: Condvar,
}

#[derive(Debug)]
enum Step {
    Queued,
    /// Lead the next transaction.
    Lead,
    /// Build the records for this number (`make` runs on the caller's thread).
    Number(u64),
    Built(Result<Vec<RecordWrite>>),
    Done(Result<(u64, Vec<u64>)>),
}

impl Job {
    fn lock(&self) -> MutexGuard<'_, Step> {
        self.step.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, step: Step) {
        *self.lock() = step;
        self.turn.notify_all();
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, Step>) -> MutexGuard<'a, Step> {
        self.turn
            .wait(guard)
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Combiner {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A failure of the shared transaction, told to each caller whose write it took with it (of the
/// same kind: a database that is away stays so).
fn shared(e: &StoreError) -> StoreError {
    let doing = "committing writes made together";
    let source = Box::new(std::io::Error::other(e.to_string()));
    match e {
        StoreError::Unavailable { .. } => StoreError::Unavailable { doing, source },
        StoreError::SequenceOverflow(key) => StoreError::SequenceOverflow(key.clone()),
        _ => StoreError::Database { doing, source },
    }
}

impl PgStore {
    /// Makes `work` in a transaction shared with the writes of other threads arriving at once.
    pub(crate) fn combined(&self, change: &Change, work: Work<'_>) -> Result<(u64, Vec<u64>)> {
        crate::refuse_while_speculating()?;
        let (writes, key, mut make) = match work {
            Work::Records(w) => (Some(w.to_vec()), None, None),
            Work::Numbered { key, make } => (None, Some(key.to_owned()), Some(make)),
        };
        let job = Arc::new(Job {
            change: change.clone(),
            writes,
            key,
            step: Mutex::new(Step::Queued),
            turn: Condvar::new(),
        });
        let mut lead = {
            let mut queue = self.combiner.lock();
            if queue.leading {
                queue.waiting.push_back(Arc::clone(&job));
                false
            } else {
                queue.leading = true;
                true
            }
        };
        let mut panicked = None;
        loop {
            if lead {
                // A panic in our own `make` fails only our write: the others in the
                // transaction go on, and the panic resumes here once they are answered.
                let mut caught = None;
                let result = {
                    let mut guarded = |n: u64| match make.as_mut() {
                        // A `make` that panicked is not called again: a retry with another
                        // number could make the write while its caller is told of the panic.
                        _ if caught.is_some() => Err(StoreError::Cancelled),
                        Some(make) => {
                            catch_unwind(AssertUnwindSafe(|| make(n))).unwrap_or_else(|payload| {
                                caught = Some(payload);
                                Err(StoreError::Cancelled)
                            })
                        }
                        None => Ok(Vec::new()),
                    };
                    let mut own: Option<&mut dyn FnMut(u64) -> Result<Vec<RecordWrite>>> =
                        Some(&mut guarded);
                    self.lead(&job, &mut own)
                };
                if let Some(payload) = caught {
                    resume_unwind(payload);
                }
                return result;
            }
            let mut step = job.lock();
            loop {
                match std::mem::replace(&mut *step, Step::Queued) {
                    Step::Queued => step = job.wait(step),
                    Step::Lead => {
                        lead = true;
                        break;
                    }
                    Step::Number(n) => {
                        drop(step);
                        let built = match make.as_mut() {
                            // Never called again once it panicked (as for the leader).
                            _ if panicked.is_some() => Err(StoreError::Cancelled),
                            Some(make) => match catch_unwind(AssertUnwindSafe(|| make(n))) {
                                Ok(built) => built,
                                Err(payload) => {
                                    panicked = Some(payload);
                                    Err(StoreError::Cancelled)
                                }
                            },
                            None => Ok(Vec::new()),
                        };
                        step = job.lock();
                        // Unless the leader stopped meanwhile (and answered already).
                        if matches!(*step, Step::Queued) {
                            *step = Step::Built(built);
                            job.turn.notify_all();
                        }
                    }
                    built @ Step::Built(_) => {
                        *step = built;
                        step = job.wait(step);
                    }
                    Step::Done(result) => {
                        if let Some(payload) = panicked {
                            resume_unwind(payload);
                        }
                        return result;
                    }
                }
            }
        }
    }

    /// Leads one transaction: `own` and what is queued now.
    fn lead(
        &self,
        own: &Arc<Job>,
        make: &mut Option<&mut dyn FnMut(u64) -> Result<Vec<RecordWrite>>>,
    ) -> Result<(u64, Vec<u64>)> {
        let batch = {
            let mut queue = self.combiner.lock();
            let mut batch = vec![Arc::clone(own)];
            while batch.len() < BATCH_MAX
                && let Some(job) = queue.waiting.pop_front()
            {
                batch.push(job);
            }
            batch
        };
        // Whatever happens here (a panic in `make` included), the others are answered and the
        // next queued caller leads.
        let mut handover = Handover {
            store: self,
            batch: &batch,
            answered: false,
        };
        let mut results = self.run(self.write_batch(&batch, make));
        let own_result = results.remove(0);
        for (job, result) in batch.iter().skip(1).zip(results) {
            job.set(Step::Done(result));
        }
        handover.answered = true;
        own_result
    }

    /// The batch's writes in one transaction; a result for each, in order.
    async fn write_batch(
        &self,
        batch: &[Arc<Job>],
        make: &mut Option<&mut dyn FnMut(u64) -> Result<Vec<RecordWrite>>>,
    ) -> Vec<Result<(u64, Vec<u64>)>> {
        let failed_all = |e: StoreError| {
            let copies: Vec<_> = (1..batch.len()).map(|_| Err(shared(&e))).collect();
            let mut results = vec![Err(e)];
            results.extend(copies);
            results
        };
        let mut client = match self.client("writing").await {
            Ok(c) => c,
            Err(e) => return failed_all(e),
        };
        let results = self
            .write_batch_on(&mut client, batch, make, failed_all)
            .await;
        let broken = results.iter().find_map(|r| {
            r.as_ref()
                .err()
                .filter(|e| matches!(e, StoreError::Unavailable { .. }))
        });
        crate::drop_if_broken(client, broken);
        results
    }

    async fn write_batch_on(
        &self,
        client: &mut deadpool_postgres::Object,
        batch: &[Arc<Job>],
        make: &mut Option<&mut dyn FnMut(u64) -> Result<Vec<RecordWrite>>>,
        failed_all: impl Fn(StoreError) -> Vec<Result<(u64, Vec<u64>)>>,
    ) -> Vec<Result<(u64, Vec<u64>)>> {
        let mut w = match Writer::begin(client).await {
            Ok(w) => w,
            Err(e) => return failed_all(e),
        };
        let start = w.mark();
        match write_together(&mut w, batch, make).await {
            Ok(Together::Made(results)) => return self.finish(w, results).await,
            Ok(Together::NotTried) => {}
            Ok(Together::Undo) => {
                // Not all new records, or one failed: undone, and written one by one below.
                let undone =
                    w.tx.batch_execute("ROLLBACK TO SAVEPOINT together")
                        .await
                        .map_err(crate::db("rolling back writes made together"));
                if let Err(broken) = undone {
                    return failed_all(broken);
                }
                w.back_to(start);
            }
            Err(broken) => return failed_all(broken),
        }
        // One write alone needs no savepoint: its failure rolls the transaction back.
        let several = batch.len() > 1;
        let mut results = Vec::with_capacity(batch.len());
        let mut savepoint = false;
        for (i, job) in batch.iter().enumerate() {
            let mark = w.mark();
            let own_make = if i == 0 { make.as_mut() } else { None };
            let result = match write_one(&mut w, job, own_make, several, savepoint).await {
                Ok(result) => result,
                // The savepoint itself failed: the transaction cannot tell which writes it
                // still holds, so none of them is kept.
                Err(broken) => return failed_all(broken),
            };
            savepoint |= several;
            if let Err(e) = &result {
                if !several {
                    return vec![result];
                }
                let undone =
                    w.tx.batch_execute("ROLLBACK TO SAVEPOINT job")
                        .await
                        .map_err(crate::db("rolling back one of writes made together"));
                if let Err(broken) = undone {
                    tracing::warn!(error = %e, "a write failed and the shared transaction with it");
                    return failed_all(broken);
                }
                w.back_to(mark);
            }
            results.push(result);
        }
        self.finish(w, results).await
    }

    /// Commits what was made (if anything was): each caller's result, or — the commit failing —
    /// the commit's error for each write that was made.
    async fn finish(
        &self,
        w: Writer<'_>,
        results: Vec<Result<(u64, Vec<u64>)>>,
    ) -> Vec<Result<(u64, Vec<u64>)>> {
        if results.iter().any(Result::is_ok) {
            if let Err(e) = w.commit().await {
                // Every write made is lost with the commit: the leader's own with the error
                // itself, the others' with a copy.
                let own_made = results.first().is_some_and(Result::is_ok);
                let mut lost: Vec<_> = results
                    .into_iter()
                    .map(|r| r.and_then(|_| Err(shared(&e))))
                    .collect();
                if own_made && let Some(own) = lost.first_mut() {
                    *own = Err(e);
                }
                return lost;
            }
            self.counter.committed();
        }
        results
    }
}

/// What came of the quick way.
enum Together {
    /// Each caller's result.
    Made(Vec<Result<(u64, Vec<u64>)>>),
    /// Not that kind of batch; nothing was sent.
    NotTried,
    /// Not that kind of batch after all, or something failed: roll back to `together`.
    Undo,
}

/// The quick way for a batch of new records (every intake is one): all numbers taken in one
/// round trip, every caller's records built at once on its own thread, all inserted in one more.
/// Otherwise the caller writes them one by one — after rolling back to the savepoint `together`
/// if anything was sent — which tells each caller exactly what it would have been told alone
/// (so `make` may be called again, with another number). `Err`: the transaction is lost.
async fn write_together(
    w: &mut Writer<'_>,
    batch: &[Arc<Job>],
    make: &mut Option<&mut dyn FnMut(u64) -> Result<Vec<RecordWrite>>>,
) -> Result<Together> {
    // Writes known now to change records already there (most writes but intake's) go the
    // careful way at once, without a round trip spent here.
    if batch
        .iter()
        .filter_map(|job| job.writes.as_deref())
        .any(|writes| !records::all_new(writes))
    {
        return Ok(Together::NotTried);
    }
    // How many numbers of each sequence, in the order first asked for.
    let mut counts: Vec<(&str, u64)> = Vec::new();
    for key in batch.iter().filter_map(|j| j.key.as_deref()) {
        match counts.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => counts.push((key, 1)),
        }
    }
    let savepoint = w.tx.batch_execute("SAVEPOINT together");
    let advanced = futures_util::future::join_all(
        counts
            .iter()
            .map(|(key, n)| records::advance_sequence_by(&w.tx, key, *n)),
    );
    // Sent together (pipelined): one round trip.
    let (made, advanced) = futures_util::future::join(savepoint, advanced).await;
    made.map_err(crate::db("starting writes made together"))?;
    let Ok(lasts) = advanced.into_iter().collect::<Result<Vec<u64>>>() else {
        return Ok(Together::Undo);
    };
    let mut next: Vec<u64> = counts
        .iter()
        .zip(&lasts)
        .map(|((_, n), last)| last + 1 - n)
        .collect();
    let numbers: Vec<u64> = batch
        .iter()
        .map(|job| {
            let at = job
                .key
                .as_deref()
                .and_then(|key| counts.iter().position(|(k, _)| *k == key));
            at.and_then(|i| next.get_mut(i)).map_or(0, |n| {
                *n += 1;
                *n - 1
            })
        })
        .collect();
    // The others build while the leader builds its own.
    for (job, n) in batch.iter().zip(&numbers).skip(1) {
        if job.key.is_some() {
            job.set(Step::Number(*n));
        }
    }
    let mut built = Vec::with_capacity(batch.len());
    for (i, (job, n)) in batch.iter().zip(&numbers).enumerate() {
        built.push(match (&job.key, i) {
            (None, _) => Ok(job.writes.clone().unwrap_or_default()),
            (Some(_), 0) => make.as_mut().map_or(Ok(Vec::new()), |make| make(*n)),
            (Some(_), _) => records_built(job),
        });
    }
    let Ok(built) = built.into_iter().collect::<Result<Vec<_>>>() else {
        return Ok(Together::Undo);
    };
    if !built.iter().all(|writes| records::all_new(writes)) {
        return Ok(Together::Undo);
    }
    let callers: Vec<(&Change, &[RecordWrite])> = batch
        .iter()
        .zip(&built)
        .map(|(job, writes)| (&job.change, writes.as_slice()))
        .collect();
    match records::insert_new_together(w, &callers).await {
        Ok(()) => Ok(Together::Made(
            numbers
                .into_iter()
                .zip(&built)
                .map(|(n, writes)| Ok((n, vec![1; writes.len()])))
                .collect(),
        )),
        Err(e @ StoreError::Unavailable { .. }) => Err(e),
        Err(_) => Ok(Together::Undo),
    }
}

/// The records a queued caller built with the number it was handed.
fn records_built(job: &Job) -> Result<Vec<RecordWrite>> {
    let mut step = job.lock();
    loop {
        match std::mem::replace(&mut *step, Step::Queued) {
            Step::Built(built) => return built,
            other => {
                *step = other;
                step = job.wait(step);
            }
        }
    }
}

/// One caller's write inside the shared transaction (in a savepoint when there are several): its
/// outcome, or — the outer error — the savepoint could not be made, and the transaction is lost.
async fn write_one(
    w: &mut Writer<'_>,
    job: &Job,
    own_make: Option<&mut &mut dyn FnMut(u64) -> Result<Vec<RecordWrite>>>,
    several: bool,
    savepoint_open: bool,
) -> Result<Result<(u64, Vec<u64>)>> {
    let savepoint = async {
        if several {
            w.tx.batch_execute(if savepoint_open {
                "RELEASE SAVEPOINT job; SAVEPOINT job"
            } else {
                "SAVEPOINT job"
            })
            .await
            .map_err(crate::db("starting one of writes made together"))?;
        }
        Ok(())
    };
    // Sent together with the savepoint (pipelined): one round trip for both.
    let number = async {
        match &job.key {
            Some(key) => advance_sequence(&w.tx, key, 0).await,
            None => Ok(0),
        }
    };
    let (made, n) = futures_util::future::join(savepoint, number).await;
    made?;
    Ok(build_and_write(w, job, own_make, n).await)
}

async fn build_and_write(
    w: &mut Writer<'_>,
    job: &Job,
    own_make: Option<&mut &mut dyn FnMut(u64) -> Result<Vec<RecordWrite>>>,
    n: Result<u64>,
) -> Result<(u64, Vec<u64>)> {
    let n = n?;
    let writes = match (&job.key, own_make) {
        (None, _) => job.writes.clone().unwrap_or_default(),
        (Some(_), Some(make)) => make(n)?,
        (Some(_), None) => {
            job.set(Step::Number(n));
            records_built(job)?
        }
    };
    let versions = records::write(w, &job.change, &writes).await?;
    Ok((n, versions))
}

/// Answers the batch's other callers if the leader stops before it has (it panicked), and hands
/// the lead to the next queued caller, or ends leading.
struct Handover<'a> {
    store: &'a PgStore,
    batch: &'a [Arc<Job>],
    answered: bool,
}

impl Drop for Handover<'_> {
    fn drop(&mut self) {
        if !self.answered {
            for job in self.batch.iter().skip(1) {
                job.set(Step::Done(Err(StoreError::Database {
                    doing: "committing writes made together",
                    source: Box::new(std::io::Error::other("the leading writer stopped")),
                })));
            }
        }
        let mut queue = self.store.combiner.lock();
        match queue.waiting.pop_front() {
            Some(next) => next.set(Step::Lead),
            None => queue.leading = false,
        }
    }
}
