//! The console's CSV import jobs, so that any replica answers a job's page and its progress:
//! the replica running an import writes its progress now and then and its outcome at the end;
//! the others read them. Keyed by `tenant \0 id`, so a job is found only within its tenant.
//! At most one running job per tenant (checked in the write transaction that starts one), at
//! most [`JOBS_PER_TENANT`] kept per tenant, finished ones deleted after [`KEEP_SECS`]; a
//! running job whose progress has not been written for [`STALE_SECS`] is taken as stopped (its
//! replica died), so it never blocks its tenant.

use super::*;
use serde::{Deserialize, Serialize};

/// `tenant \0 id` → import job.
pub(crate) const IMPORT_JOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("import_jobs");

/// Jobs kept per tenant (running or finished): the oldest finished go first.
pub const JOBS_PER_TENANT: usize = 16;
/// How long a finished job is kept.
pub const KEEP_SECS: u64 = 24 * 3600;
/// A running job whose progress has not been written for this long counts as stopped.
pub const STALE_SECS: u64 = 60;
/// Refused rows kept per job; the others are only counted.
pub const REFUSED_KEPT: usize = 1000;

/// One import: what it imports into, how far it has got and, once finished, how it ended.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImportJob {
    pub id: String,
    pub tenant: String,
    pub file: String,
    pub total: u64,
    pub done: u64,
    pub started_at: u64,
    /// When its replica last wrote its progress (or its outcome).
    pub touched_at: u64,
    pub outcome: Option<ImportOutcome>,
}

/// How an import ended.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ImportOutcome {
    /// Every row was tried: the users created and updated and the rows refused (the first
    /// [`REFUSED_KEPT`], and how many more).
    Report { created: u64, updated: u64, refused: Vec<RefusedRow>, more: u64 },
    /// The import stopped with this error.
    Failed { message: String },
    /// Its replica stopped writing progress (died mid-import).
    Stopped,
}

/// A row an import refused: its line in the file and why.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RefusedRow {
    pub line: u64,
    pub reason: String,
}

/// Whether a job was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobStart {
    Started,
    /// Another import of the tenant is running.
    AlreadyRunning,
}

impl ImportJob {
    /// The job as it stands at `now`: a running one not heard of for [`STALE_SECS`] is stopped.
    fn at(mut self, now: u64) -> ImportJob {
        if self.outcome.is_none() && now >= self.touched_at.saturating_add(STALE_SECS) {
            self.outcome = Some(ImportOutcome::Stopped);
        }
        self
    }

    /// Finished (or stopped) jobs older than [`KEEP_SECS`] at `now` are deleted.
    fn expired(&self, now: u64) -> bool {
        self.outcome.is_some() && now >= self.touched_at.saturating_add(KEEP_SECS)
    }
}

fn key(tenant: &str, id: &str) -> String {
    format!("{tenant}\0{id}")
}

impl Store {
    /// Starts `job` (its `touched_at` set to `now`, no outcome) unless another import of its
    /// tenant runs at `now`. In the same write transaction: the tenant's expired jobs are
    /// deleted, stale running ones recorded as stopped, and the oldest finished ones deleted
    /// beyond [`JOBS_PER_TENANT`].
    pub fn start_import_job(&self, mut job: ImportJob, now: u64) -> Result<JobStart> {
        job.touched_at = now;
        job.outcome = None;
        let p = key(&job.tenant, "");
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(IMPORT_JOBS)?;
            let mut mine = vec![];
            for row in t.range(p.as_str()..)? {
                let (k, v) = row?;
                if !k.starts_with(&p) {
                    break;
                }
                mine.push((k, decode::<ImportJob>(&v)?));
            }
            if mine.iter().any(|(_, j)| j.clone().at(now).outcome.is_none()) {
                drop(t);
                tx.abort()?;
                return Ok(JobStart::AlreadyRunning);
            }
            let mut kept = vec![];
            for (k, j) in mine {
                let was_running = j.outcome.is_none();
                let j = j.at(now);
                if j.expired(now) {
                    t.remove(k.as_str())?;
                    continue;
                }
                if was_running {
                    t.insert(k.as_str(), encode(&j).as_slice())?;
                }
                kept.push((j.touched_at, k));
            }
            kept.sort();
            let excess = (kept.len() + 1).saturating_sub(JOBS_PER_TENANT);
            for (_, k) in kept.iter().take(excess) {
                t.remove(k.as_str())?;
            }
            t.insert(key(&job.tenant, &job.id).as_str(), encode(&job).as_slice())?;
        }
        tx.commit()?;
        Ok(JobStart::Started)
    }

    /// Records `done` rows of a running job at `now` (nothing when it has finished or is gone).
    pub fn import_progress(&self, tenant: &str, id: &str, done: u64, now: u64) -> Result<()> {
        self.update_import_job(tenant, id, |j| {
            j.done = j.done.max(done).min(j.total);
            j.touched_at = now;
        })
    }

    /// Records how a running job ended, at `now` (nothing when it has finished or is gone).
    pub fn finish_import_job(&self, tenant: &str, id: &str, outcome: ImportOutcome, now: u64) -> Result<()> {
        self.update_import_job(tenant, id, |j| {
            if matches!(outcome, ImportOutcome::Report { .. }) {
                j.done = j.total;
            }
            j.outcome = Some(outcome);
            j.touched_at = now;
        })
    }

    fn update_import_job(&self, tenant: &str, id: &str, f: impl FnOnce(&mut ImportJob)) -> Result<()> {
        let k = key(tenant, id);
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(IMPORT_JOBS)?;
            let found = t.get(k.as_str())?.map(|v| decode::<ImportJob>(&v)).transpose()?;
            if let Some(mut j) = found.filter(|j| j.outcome.is_none()) {
                f(&mut j);
                t.insert(k.as_str(), encode(&j).as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The job `id` of `tenant` as it stands at `now` (another tenant's is not found).
    pub fn import_job(&self, tenant: &str, id: &str, now: u64) -> Result<Option<ImportJob>> {
        Ok(self.get_json::<ImportJob>(IMPORT_JOBS, &key(tenant, id))?.map(|j| j.at(now)))
    }

    /// Deletes the jobs finished (or stopped) more than [`KEEP_SECS`] before `now`
    /// (housekeeping); returns how many.
    pub fn purge_import_jobs(&self, now: u64) -> Result<usize> {
        let dead: Vec<String> = self
            .all_json::<ImportJob>(IMPORT_JOBS)?
            .into_iter()
            .filter(|(_, j)| j.clone().at(now).expired(now))
            .map(|(k, _)| k)
            .collect();
        if dead.is_empty() {
            return Ok(0);
        }
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(IMPORT_JOBS)?;
            for k in &dead {
                t.remove(k.as_str())?;
            }
        }
        tx.commit()?;
        Ok(dead.len())
    }
}

#[cfg(test)]
#[path = "import_jobs/tests.rs"]
mod tests;
