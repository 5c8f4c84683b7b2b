//! Importing users from rows of a CSV (the admin API's upload, the console's, the CLI's file):
//! each row creates or updates one user, answered separately; one `users_imported` event. An
//! [`ImportProgress`] says how far an import has got while it runs (the console's progress bar).

use super::{conflict, import_target, Directory, UserError};
use crate::audit::EventKind;
use crate::directory::{to_user, validate, UserSpec};
use crate::flows::admin::Actor;
use crate::store::{StoreError, User};
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Rows written per store transaction: one commit (one `fsync` with redb, one round trip of
/// locks and commit with PostgreSQL) for this many users instead of one each.
const BATCH: usize = 200;

/// How far an import has got: rows done of the rows it has. Read by another thread while the
/// import runs.
#[derive(Debug, Default)]
pub struct ImportProgress {
    total: AtomicUsize,
    done: AtomicUsize,
}

impl ImportProgress {
    /// Rows done and rows in all, as read now.
    pub fn get(&self) -> (usize, usize) {
        (self.done.load(Ordering::Acquire), self.total.load(Ordering::Acquire))
    }
}

/// What an import did, as the admin API answers it and the console reports it: the users
/// created and updated, and each row refused with its line number and why (by line).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    pub rejected: Vec<Rejected>,
}

/// A row an import refused: its line in the file and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    pub line: usize,
    pub reason: String,
}

impl ImportReport {
    /// The report of an import's `results` and of the rows the CSV reader could not read.
    pub fn of(results: Vec<(usize, Result<&'static str, UserError>)>, unreadable: Vec<(usize, String)>) -> Self {
        let mut r = ImportReport::default();
        let mut rejected = unreadable;
        for (line, res) in results {
            match res {
                Ok("created") => r.created += 1,
                Ok(_) => r.updated += 1,
                Err(e) => rejected.push((line, e.to_string())),
            }
        }
        rejected.sort();
        r.rejected = rejected.into_iter().map(|(line, reason)| Rejected { line, reason }).collect();
        r
    }
}

impl<'a> Directory<'a> {
    /// Creates or updates users from import rows (see [`import_target`]); each row answered
    /// separately (`created`, `updated`, or why it was refused), one `users_imported` event.
    #[allow(clippy::type_complexity)]
    pub fn import(
        &self,
        actor: &Actor,
        now: u64,
        rows: Vec<(usize, UserSpec)>,
    ) -> Result<Vec<(usize, Result<&'static str, UserError>)>, UserError> {
        self.import_with_progress(actor, now, rows, &ImportProgress::default())
    }

    /// [`Directory::import`], counting the rows done in `progress` as it goes (its total set
    /// to the number of rows first).
    #[allow(clippy::type_complexity)]
    pub fn import_with_progress(
        &self,
        actor: &Actor,
        now: u64,
        rows: Vec<(usize, UserSpec)>,
        progress: &ImportProgress,
    ) -> Result<Vec<(usize, Result<&'static str, UserError>)>, UserError> {
        progress.total.store(rows.len(), Ordering::Release);
        progress.done.store(0, Ordering::Release);
        let mut out = Vec::with_capacity(rows.len());
        let tenant = rows.first().map(|(_, s)| s.tenant.clone());
        let mut rows = rows.into_iter();
        loop {
            let chunk: Vec<(usize, UserSpec)> = rows.by_ref().take(BATCH).collect();
            if chunk.is_empty() {
                break;
            }
            let n = chunk.len();
            self.import_chunk(now, chunk, &mut out)?;
            progress.done.fetch_add(n, Ordering::AcqRel);
        }
        let created = out.iter().filter(|(_, r)| matches!(r, Ok("created"))).count();
        let updated = out.iter().filter(|(_, r)| matches!(r, Ok("updated"))).count();
        let detail = serde_json::json!({"rows": out.len(), "created": created, "updated": updated});
        self.record(actor.event(EventKind::UsersImported, tenant.as_deref(), None, detail))?;
        // Groups may have changed: no personal token keeps a scope its user lost.
        if let Some(pats) = self.pats {
            let groups = self.access_groups.clone();
            pats.rescope(std::sync::Arc::new(move |g: &[String]| crate::policy::scopes_of(g, &groups)), now)?;
        }
        Ok(out)
    }

    /// Writes a chunk of rows in one store transaction when their users are distinct, none
    /// conflicts and none changed since it was read; otherwise (a file naming one user twice,
    /// an address another user holds, a user changed meanwhile) row by row, each answered
    /// separately as before. A store failure ends the import.
    #[allow(clippy::type_complexity)]
    fn import_chunk(
        &self,
        now: u64,
        chunk: Vec<(usize, UserSpec)>,
        out: &mut Vec<(usize, Result<&'static str, UserError>)>,
    ) -> Result<(), UserError> {
        let mut prepared = Vec::with_capacity(chunk.len());
        for (line, spec) in chunk.iter().cloned() {
            match self.prepare_row(now, spec) {
                Err(UserError::Store(e)) => return Err(UserError::Store(e)),
                r => prepared.push((line, r)),
            }
        }
        let users: Vec<(User, Option<User>)> = prepared
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok().map(|(u, _, read)| (u.clone(), read.clone())))
            .collect();
        let mut ids = std::collections::HashSet::new();
        if users.iter().all(|(u, _)| ids.insert(u.id.as_str())) {
            match self.store.put_users_as_read(&users) {
                Ok(()) => {
                    for (line, r) in prepared {
                        out.push((line, r.map(|(u, created, _)| self.written(&u, created))));
                    }
                    return Ok(());
                }
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(UserError::Store(e)),
            }
        }
        for (line, spec) in chunk {
            let r = self.prepare_row(now, spec).and_then(|(u, created, _)| {
                self.store.put_user(&u).map_err(conflict)?;
                Ok(self.written(&u, created))
            });
            if let Err(UserError::Store(e)) = r {
                return Err(UserError::Store(e));
            }
            out.push((line, r));
        }
        Ok(())
    }

    /// The user a row makes (an existing one updated, or a new one), whether it is new, and the
    /// user as read (`None`: none yet).
    fn prepare_row(&self, now: u64, mut spec: UserSpec) -> Result<(User, bool, Option<User>), UserError> {
        validate(&mut spec).map_err(UserError::Invalid)?;
        let existing = import_target(self.store, &spec)?;
        self.check_apps(&spec.tenant, &spec.apps, existing.as_ref().map(|u| u.apps.as_slice()).unwrap_or_default())?;
        let created = existing.is_none();
        let mut u = to_user(&spec, existing.clone());
        u.updated_at = now;
        if created {
            u.created_at = now;
        }
        Ok((u, created, existing))
    }

    /// What a row that was written answers; an updated user's live sessions take its changes.
    fn written(&self, u: &User, created: bool) -> &'static str {
        if created {
            "created"
        } else {
            self.refresh_identity_sessions(u);
            "updated"
        }
    }
}
