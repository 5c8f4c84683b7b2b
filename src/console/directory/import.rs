//! The CSV import (`/auth/admin/directory/import`): one upload starts an import job on the
//! blocking pool and answers its page, `/import/{job}`, whose `<progress>` shows the rows done
//! (the tab's script polls `/import/{job}/progress`; without it, reloading the page shows how
//! far it has got), then the report: users created and updated, and each refused row with its
//! line number and why. The rows are imported by [`Directory::import_with_progress`], the
//! admin API's import, with the administrator as the author of its one `users_imported` event.
//!
//! Jobs live in memory, at most [`MAX_JOBS`] (the oldest finished ones go first) and one running
//! per tenant; a job is shown only to administrators of the tenant it imports into.

use super::directory;
use crate::api::admin::users::{api_error, MAX_IMPORT_BYTES};
use crate::api::ApiError;
use crate::catalogue::Code;
use crate::console::{page, Console, Tab, Work};
use crate::flows::users::{ImportProgress, ImportReport, Rejected};
use crate::state::Shared;
use askama::Template;
use axum::extract::{Path, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::sync::{Arc, Mutex};

/// The page of the import and the address the tab's script posts the file to.
pub const IMPORT_PATH: &str = "/auth/admin/directory/import";

/// The most import jobs kept in memory (running or finished).
pub const MAX_JOBS: usize = 16;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(IMPORT_PATH, get(upload_page).post(upload))
        .route("/auth/admin/directory/import/{job}", get(job_page))
        .route("/auth/admin/directory/import/{job}/progress", get(progress))
}

/// One import: what it imports into, its progress and, once finished, its report (or why it
/// stopped).
pub struct Job {
    pub id: String,
    pub tenant: String,
    pub file: String,
    pub total: usize,
    pub progress: ImportProgress,
    pub outcome: Mutex<Option<Result<ImportReport, String>>>,
}

impl Job {
    pub fn finished(&self) -> bool {
        self.outcome.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// Rows done and rows in all (the rows the CSV reader could read; an unreadable one is in
    /// the report).
    pub fn done(&self) -> (usize, usize) {
        let (done, _) = self.progress.get();
        (done.min(self.total), self.total)
    }

    pub fn href(&self) -> String {
        format!("{IMPORT_PATH}/{}", self.id)
    }
}

static JOBS: Mutex<Vec<Arc<Job>>> = Mutex::new(Vec::new());

/// Registers a new job for `tenant`, unless one of the tenant's is running; drops the oldest
/// finished jobs beyond [`MAX_JOBS`].
fn register(tenant: &str, file: &str, total: usize) -> Result<Arc<Job>, ApiError> {
    let mut jobs = JOBS.lock().unwrap_or_else(|e| e.into_inner());
    if jobs.iter().any(|j| j.tenant == tenant && !j.finished()) {
        return Err(ApiError::new(
            Code::RateLimited,
            "An import into this directory is already running: wait for it to finish, then upload the next file.",
        ));
    }
    while jobs.len() >= MAX_JOBS {
        match jobs.iter().position(|j| j.finished()) {
            Some(i) => drop(jobs.remove(i)),
            None => return Err(ApiError::new(Code::RateLimited, "Too many imports are running: try again shortly.")),
        }
    }
    let id: String = rand::random::<[u8; 16]>().iter().map(|b| format!("{b:02x}")).collect();
    let job = Arc::new(Job {
        id,
        tenant: tenant.to_string(),
        file: file.chars().filter(|c| !c.is_control()).take(200).collect(),
        total,
        progress: ImportProgress::default(),
        outcome: Mutex::new(None),
    });
    jobs.push(job.clone());
    Ok(job)
}

/// The job `id` of `tenant` (another tenant's is not found).
fn job_of(tenant: &str, id: &str) -> Option<Arc<Job>> {
    let jobs = JOBS.lock().unwrap_or_else(|e| e.into_inner());
    jobs.iter().find(|j| j.id == id && j.tenant == tenant).cloned()
}

/// Reads `csv` and starts importing its rows into the administrator's tenant: the job, or why
/// not (a file without its header row or with an unknown column: 422, nothing imported).
pub fn start(c: &Console, file: &str, csv: &[u8]) -> Result<Arc<Job>, ApiError> {
    let (rows, unreadable) = crate::directory::parse_csv(csv, c.tenant())
        .map_err(|m| ApiError::new(Code::InvalidField, format!("file: the CSV cannot be imported: {m}.")))?;
    let job = register(c.tenant(), file, rows.len())?;
    let w =
        Work { s: c.admin.s.clone(), rt: c.admin.rt.clone(), tenant: c.tenant().to_string(), actor: c.admin.actor() };
    let running = job.clone();
    tokio::task::spawn_blocking(move || {
        let now = crate::clock::now_secs();
        let out = directory(&w)
            .import_with_progress(&w.actor, now, rows, &running.progress)
            .map(|results| ImportReport::of(results, unreadable))
            .map_err(|e| api_error(e).message);
        *running.outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some(out);
    });
    Ok(job)
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
    match start(&c, &name, &bytes) {
        Ok(job) => (StatusCode::ACCEPTED, Json(json!({"job": job.href()}))).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Template)]
#[template(path = "console/directory/import_job.html")]
pub struct JobPage {
    pub chrome: crate::console::Chrome,
    pub file: String,
    pub progress_url: String,
    pub done: usize,
    pub total: usize,
    pub report: Option<ImportReport>,
    pub failure: Option<String>,
    pub rejected: Vec<Rejected>,
}

/// `GET /import/{job}`: the progress of a running import, or the report of a finished one.
async fn job_page(c: Console, Path(id): Path<String>) -> Response {
    let Some(job) = job_of(c.tenant(), &id) else {
        return crate::console::error_page(ApiError::new(
            Code::NotFound,
            "There is no such import: it may be long finished.",
        ));
    };
    let (done, total) = job.done();
    let outcome = job.outcome.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let (report, failure) = match outcome {
        None => (None, None),
        Some(Ok(r)) => (Some(r), None),
        Some(Err(m)) => (None, Some(m)),
    };
    let title = if report.is_some() || failure.is_some() { "Import finished" } else { "Importing users" };
    page(&JobPage {
        chrome: c.chrome(Tab::Directory, title),
        file: job.file.clone(),
        progress_url: format!("{}/progress", job.href()),
        done,
        total,
        rejected: report.as_ref().map(|r| r.rejected.clone()).unwrap_or_default(),
        report,
        failure,
    })
}

/// `GET /import/{job}/progress`: `{"done", "total", "finished"}` (the script's polling).
async fn progress(c: Console, Path(id): Path<String>) -> Response {
    let Some(job) = job_of(c.tenant(), &id) else {
        return ApiError::new(Code::NotFound, "There is no such import.").into_response();
    };
    let (done, total) = job.done();
    Json(json!({"done": done, "total": total, "finished": job.finished()})).into_response()
}
