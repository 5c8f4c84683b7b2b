//! The CSV import (`/auth/admin/directory/import`): one upload starts an import job on the
//! blocking pool and answers its page, `/import/{job}`, whose `<progress>` shows the rows done
//! (the tab's script polls `/import/{job}/progress`; without it, reloading the page shows how
//! far it has got), then the report: users created and updated, and each refused row with its
//! line number and why. The rows are imported by [`Directory::import_with_progress`], the
//! admin API's import, with the administrator as the author of its one `users_imported` event.
//!
//! Jobs live in the store (`store::import_jobs`), so any replica answers a job's page and its
//! progress: the replica running an import writes how far it has got at most every
//! [`PROGRESS_EVERY`] (and at least every [`HEARTBEAT`] while it runs) and its outcome at the
//! end, each a small write transaction on the blocking pool. The store allows one running
//! import per tenant (checked in the write transaction that starts one, so two replicas cannot
//! both start one) and keeps at most 16 per tenant, finished ones for a day; a job whose
//! replica died mid-import (no progress written for a minute) reads as stopped, its rows
//! imported so far kept. The report keeps the first 1,000 refused rows and counts the others.
//! A job is shown only to administrators of the tenant it imports into; its id (128 random
//! bits) is not a credential.

use super::directory;
use crate::api::admin::users::{api_error, MAX_IMPORT_BYTES};
use crate::api::ApiError;
use crate::catalogue::Code;
use crate::console::{page, Console, Tab, Work};
use crate::flows::users::{ImportProgress, ImportReport};
use crate::state::Shared;
use crate::store::import_jobs::{ImportJob, ImportOutcome, JobStart, RefusedRow, REFUSED_KEPT};
use askama::Template;
use axum::extract::{Path, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The page of the import and the address the tab's script posts the file to.
pub const IMPORT_PATH: &str = "/auth/admin/directory/import";

/// How often a running import's progress is written to the store (when it moved).
pub const PROGRESS_EVERY: Duration = Duration::from_millis(300);
/// How often it is written while it does not move (so the job does not read as stopped).
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// Why a job reads as stopped (its replica stopped writing its progress).
pub const STOPPED: &str = "the server running it stopped; the rows imported so far stay imported: run it again";

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(IMPORT_PATH, get(upload_page).post(upload))
        .route("/auth/admin/directory/import/{job}", get(job_page))
        .route("/auth/admin/directory/import/{job}/progress", get(progress))
}

/// The page of job `id`.
pub fn href(id: &str) -> String {
    format!("{IMPORT_PATH}/{id}")
}

/// Reads `csv` and starts importing its rows into the administrator's tenant: the job's id, or
/// why not (a file without its header row or with an unknown column: 422, nothing imported; an
/// import of the tenant running: 429).
pub async fn start(c: &Console, file: &str, csv: axum::body::Bytes) -> Result<String, ApiError> {
    let file: String = file.chars().filter(|ch| !ch.is_control()).take(200).collect();
    let (id, rows, unreadable) = c
        .run(move |w: &Work| {
            let (rows, unreadable) = crate::directory::parse_csv(&csv[..], &w.tenant).map_err(|m| {
                ApiError::new(Code::InvalidField, format!("file: the CSV cannot be imported: {m}."))
            })?;
            let id: String = rand::random::<[u8; 16]>().iter().map(|b| format!("{b:02x}")).collect();
            let now = crate::clock::now_secs();
            let job = ImportJob {
                id: id.clone(),
                tenant: w.tenant.clone(),
                file,
                total: rows.len() as u64,
                done: 0,
                started_at: now,
                touched_at: now,
                outcome: None,
            };
            match w.s.services.store.start_import_job(job, now)? {
                JobStart::Started => Ok((id, rows, unreadable)),
                JobStart::AlreadyRunning => Err(ApiError::new(
                    Code::RateLimited,
                    "An import into this directory is already running: wait for it to finish, then upload the next file.",
                )),
            }
        })
        .await?;
    let w =
        Work { s: c.admin.s.clone(), rt: c.admin.rt.clone(), tenant: c.tenant().to_string(), actor: c.admin.actor() };
    let progress = Arc::new(ImportProgress::default());
    let finished = Arc::new(AtomicBool::new(false));
    tokio::spawn(write_progress(w.s.clone(), w.tenant.clone(), id.clone(), progress.clone(), finished.clone()));
    let job = id.clone();
    tokio::task::spawn_blocking(move || {
        let out = directory(&w)
            .import_with_progress(&w.actor, crate::clock::now_secs(), rows, &progress)
            .map(|results| outcome(ImportReport::of(results, unreadable)))
            .unwrap_or_else(|e| ImportOutcome::Failed { message: api_error(e).message });
        finished.store(true, Ordering::Release);
        // A store that fails now and then gets a few tries; after them the job reads as stopped.
        for attempt in 0..3 {
            match w.s.services.store.finish_import_job(&w.tenant, &job, out.clone(), crate::clock::now_secs()) {
                Ok(()) => return,
                Err(e) => tracing::error!(job, "cannot record the end of an import (try {}): {e}", attempt + 1),
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    Ok(id)
}

/// The stored outcome of a finished import: its first [`REFUSED_KEPT`] refused rows and how
/// many more there were.
pub(super) fn outcome(r: ImportReport) -> ImportOutcome {
    let more = r.rejected.len().saturating_sub(REFUSED_KEPT) as u64;
    let refused = r
        .rejected
        .into_iter()
        .take(REFUSED_KEPT)
        .map(|x| RefusedRow { line: x.line as u64, reason: x.reason })
        .collect();
    ImportOutcome::Report { created: r.created as u64, updated: r.updated as u64, refused, more }
}

/// Writes the running import's progress to the store, each write on the blocking pool, until
/// `finished`.
async fn write_progress(
    s: Arc<Shared>,
    tenant: String,
    id: String,
    progress: Arc<ImportProgress>,
    finished: Arc<AtomicBool>,
) {
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut written, mut at) = (0, Instant::now());
    loop {
        tick.tick().await;
        if finished.load(Ordering::Acquire) {
            return;
        }
        let (done, _) = progress.get();
        if done == written && at.elapsed() < HEARTBEAT {
            continue;
        }
        let (s, tenant, job) = (s.clone(), tenant.clone(), id.clone());
        let wrote = tokio::task::spawn_blocking(move || {
            s.services.store.import_progress(&tenant, &job, done as u64, crate::clock::now_secs())
        })
        .await;
        match wrote {
            Ok(Ok(())) => (written, at) = (done, Instant::now()),
            Ok(Err(e)) => tracing::warn!(job = id, "cannot record an import's progress: {e}"),
            Err(_) => return,
        }
    }
}

/// The job `id` of the administrator's tenant as the store has it now (another tenant's, or an
/// id that is not one, is not found).
async fn job_of(c: &Console, id: String) -> Result<Option<ImportJob>, ApiError> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Ok(None);
    }
    c.run(move |w: &Work| w.s.services.store.import_job(&w.tenant, &id, crate::clock::now_secs())).await
}

#[derive(Template)]
#[template(path = "console/directory/import.html")]
pub struct UploadPage {
    pub chrome: crate::console::Chrome,
    pub columns: &'static [&'static str],
    pub max_mib: usize,
}

async fn upload_page(c: Console) -> Response {
    page(&UploadPage {
        chrome: c.chrome(Tab::Directory, "Import users"),
        columns: crate::directory::CSV_COLUMNS,
        max_mib: MAX_IMPORT_BYTES >> 20,
    })
}

/// `POST /import`: the file as `text/csv` (the tab's script sends it with `X-CSRF-Token`).
/// Answers `202 {"job": "<its page>"}`, or the API's error (`415`, `413`, `422`, `429`).
async fn upload(c: Console, req: Request) -> Response {
    let media = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !media.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("text/csv")) {
        return ApiError::new(Code::UnsupportedMediaType, "Send the file as text/csv.").into_response();
    }
    // The file's name, percent-encoded by the script (shown on the job's page).
    let raw = req.headers().get("x-file-name").and_then(|v| v.to_str().ok()).unwrap_or("").replace('+', "%2B");
    let name = url::form_urlencoded::parse(format!("n={raw}").as_bytes()).next().map(|(_, v)| v.into_owned());
    let name = name.unwrap_or_default();
    let Ok(bytes) = axum::body::to_bytes(req.into_body(), MAX_IMPORT_BYTES).await else {
        let m = format!("file: the file is larger than {} MiB: split it.", MAX_IMPORT_BYTES >> 20);
        return ApiError::new(Code::BodyTooLarge, m).into_response();
    };
    match start(&c, &name, bytes).await {
        Ok(id) => (StatusCode::ACCEPTED, Json(json!({"job": href(&id)}))).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Template)]
#[template(path = "console/directory/import_job.html")]
pub struct JobPage {
    pub chrome: crate::console::Chrome,
    pub file: String,
    pub progress_url: String,
    pub done: u64,
    pub total: u64,
    pub report: Option<Summary>,
    pub failure: Option<String>,
    /// The refused rows kept (the first [`REFUSED_KEPT`]) and how many more there were.
    pub rejected: Vec<RefusedRow>,
    pub more: u64,
}

/// The counts of a finished import.
pub struct Summary {
    pub created: u64,
    pub updated: u64,
    /// Every refused row, kept or not.
    pub refused: u64,
}

/// `GET /import/{job}`: the progress of a running import, or the report of a finished one.
async fn job_page(c: Console, Path(id): Path<String>) -> Response {
    let job = match job_of(&c, id).await {
        Ok(Some(job)) => job,
        Ok(None) => {
            let e = ApiError::new(Code::NotFound, "There is no such import: it may be long finished.");
            return crate::console::error_page(e);
        }
        Err(e) => return crate::console::error_page(e),
    };
    let (mut report, mut failure, mut rejected, mut more) = (None, None, vec![], 0);
    match job.outcome {
        None => {}
        Some(ImportOutcome::Report { created, updated, refused, more: others }) => {
            report = Some(Summary { created, updated, refused: refused.len() as u64 + others });
            (rejected, more) = (refused, others);
        }
        Some(ImportOutcome::Failed { message }) => failure = Some(message),
        Some(ImportOutcome::Stopped) => failure = Some(STOPPED.to_string()),
    }
    let title = if report.is_some() || failure.is_some() { "Import finished" } else { "Importing users" };
    page(&JobPage {
        chrome: c.chrome(Tab::Directory, title),
        file: job.file,
        progress_url: format!("{}/progress", href(&job.id)),
        done: job.done.min(job.total),
        total: job.total,
        report,
        failure,
        rejected,
        more,
    })
}

/// `GET /import/{job}/progress`: `{"done", "total", "finished"}` (the script's polling).
async fn progress(c: Console, Path(id): Path<String>) -> Response {
    match job_of(&c, id).await {
        Ok(Some(job)) => {
            let finished = job.outcome.is_some();
            Json(json!({"done": job.done.min(job.total), "total": job.total, "finished": finished})).into_response()
        }
        Ok(None) => ApiError::new(Code::NotFound, "There is no such import.").into_response(),
        Err(e) => e.into_response(),
    }
}
