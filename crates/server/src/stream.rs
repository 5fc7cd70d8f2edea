//! Streamed batch uploads: the body is read as it arrives, each record checked,
//! grouped and priced on a thread of its own, and written by the store in chunks
//! inside the batch's one transaction ([`store::BatchWriter`]) — memory bounded by
//! a few chunks whatever the file's size — with the progress visible to the
//! uploader (`GET /api/uploads/progress/{key}`).
//!
//! ```text
//! body frames ──(channel, 8 frames)──▶ reader thread: claims::Reader → Preparer
//!                                          │ blocks of BLOCK entries (channel, 1 block)
//!                                          ▼
//!                                  async committer: BatchWriter.write … finish
//! ```
//! A body that breaks off (client gone, over the limit) aborts the reader and
//! rolls the transaction back: a batch is stored whole or not at all.

use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use claims::import::{LineCount, Reader};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{json, Value};
use store::{Amendment, Entry, NewUpload};
use tokio::sync::mpsc;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::pipeline::Problem;
use crate::upload::{to_amendment, to_case, Built, CaseOutcome, Preparer, Step};
use crate::AppState;

/// Entries per block handed from the reader thread to the committer.
const BLOCK: usize = 1000;
/// Cases and refused records listed in the answer (each listed one is held until the answer); the rest are counted, and
/// listed by `GET /api/cases` and `GET /api/uploads/{id}`.
pub const LISTED: usize = 2_000;

// ------------------------------------------------------------------ progress

/// Where a batch upload stands, for its uploader.
#[derive(Clone, Debug, Serialize)]
pub struct Progress {
    pub key: String,
    pub file_name: String,
    /// `receiving` (body arriving; records read, checked, grouped, priced and
    /// written as they come), `committing` (the last chunk and the whole-file
    /// findings), `done` or `failed`.
    pub stage: &'static str,
    pub stage_zh: &'static str,
    pub bytes_received: u64,
    /// The body's announced length, when announced.
    pub bytes_expected: Option<u64>,
    pub records_read: u64,
    pub records_written: u64,
    pub upload_id: Option<i64>,
    pub error: Option<String>,
    /// Milliseconds since the epoch.
    pub started_at: i64,
    pub updated_at: i64,
}

/// The progress of the batch uploads of the last [`Registry::KEEP_MS`], by user and key.
#[derive(Default)]
pub struct Registry {
    map: Mutex<HashMap<(i64, String), Arc<Mutex<Progress>>>>,
}

impl Registry {
    /// How long a finished upload's progress stays readable.
    pub const KEEP_MS: i64 = 10 * 60 * 1000;
    /// Most uploads tracked at once (the oldest finished are dropped first).
    pub const MAX: usize = 10_000;

    /// Track an upload; a key used again replaces the earlier entry.
    pub fn start(&self, user: i64, key: &str, file_name: &str, expected: Option<u64>) -> Result<Arc<Mutex<Progress>>, ApiError> {
        let now = store::now_ms();
        let p = Arc::new(Mutex::new(Progress {
            key: key.to_owned(),
            file_name: file_name.to_owned(),
            stage: "receiving",
            stage_zh: "接收中",
            bytes_received: 0,
            bytes_expected: expected,
            records_read: 0,
            records_written: 0,
            upload_id: None,
            error: None,
            started_at: now,
            updated_at: now,
        }));
        let mut m = self.map.lock().map_err(|_| ApiError::internal("progress registry poisoned"))?;
        m.retain(|_, v| v.lock().map(|p| !(matches!(p.stage, "done" | "failed") && now - p.updated_at > Self::KEEP_MS)).unwrap_or(false));
        if m.len() >= Self::MAX {
            let mut finished: Vec<((i64, String), i64)> = m
                .iter()
                .filter_map(|(k, v)| v.lock().ok().filter(|p| matches!(p.stage, "done" | "failed")).map(|p| (k.clone(), p.updated_at)))
                .collect();
            finished.sort_by_key(|f| f.1);
            for (k, _) in finished.into_iter().take(m.len() + 1 - Self::MAX) {
                m.remove(&k);
            }
            if m.len() >= Self::MAX {
                return Err(ApiError::new(axum::http::StatusCode::TOO_MANY_REQUESTS, "uploads_busy", format!("{} batch uploads are in progress", m.len()))
                    .zh("同时进行的批量上传过多，请稍后再试"));
            }
        }
        m.insert((user, key.to_owned()), p.clone());
        Ok(p)
    }

    pub fn get(&self, user: i64, key: &str) -> Option<Progress> {
        let m = self.map.lock().ok()?;
        let p = m.get(&(user, key.to_owned()))?;
        p.lock().ok().map(|p| p.clone())
    }
}

fn update(p: &Mutex<Progress>, f: impl FnOnce(&mut Progress)) {
    if let Ok(mut p) = p.lock() {
        f(&mut p);
        p.updated_at = store::now_ms();
    }
}

// ------------------------------------------------------------------ the body as a reader

/// The body's frames as a `Read`, for the reader thread. When the body breaks
/// off, `aborted` is set before the channel closes, and reading fails instead
/// of ending: a truncated file is never taken for a whole one.
struct BodyReader {
    rx: mpsc::Receiver<Bytes>,
    cur: Bytes,
    aborted: Arc<AtomicBool>,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.cur = b,
                None if self.aborted.load(Ordering::SeqCst) => {
                    return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the upload broke off"));
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        let _ = self.cur.split_to(n);
        Ok(n)
    }
}

// ------------------------------------------------------------------ reader thread

/// What the whole file told, once read.
struct Summary {
    records: i64,
    format: &'static str,
    key: crate::engines::EngineKey,
    plan: qc::FilePlan,
    count: LineCount,
    amendments: Vec<Amendment>,
    cases: Vec<CaseOutcome>,
    rejected: Vec<Problem>,
    no_estimate: u64,
    years: Vec<u16>,
}

enum Block {
    Entries(Vec<Entry>),
    End(Box<Summary>),
    /// The file cannot be read at all (format, encoding): answered as this error.
    Failed(ApiError),
    /// The body broke off.
    Aborted,
}

fn read_and_prepare(
    s: &AppState,
    a: &Auth,
    name: &str,
    body: BodyReader,
    rt: tokio::runtime::Handle,
    out: mpsc::Sender<Block>,
    progress: &Mutex<Progress>,
) {
    let aborted = body.aborted.clone();
    let send = |b: Block| out.blocking_send(b).is_ok();
    let mut reader = match Reader::open(name, body, None) {
        Ok(r) => r,
        Err(e) => {
            send(if aborted.load(Ordering::SeqCst) { Block::Aborted } else { Block::Failed(ApiError::bad_request(format!("{name}: {e}"))) });
            return;
        }
    };
    let format = reader.format.as_str();
    let mut prep = Preparer::new(a, reader.header.present, &s.engines, Built::default(), Some(rt), &s.rules, s.dicts.as_deref());
    let mut block = Vec::with_capacity(BLOCK);
    let (mut records, mut no_estimate) = (0i64, 0u64);
    let (mut cases, mut rejected): (Vec<CaseOutcome>, Vec<Problem>) = (Vec::new(), Vec::new());
    for item in reader.by_ref() {
        records += 1;
        match prep.step(&item) {
            Step::Rejected(p) => {
                block.push(Entry::Rejected(crate::upload::to_new_finding(&p)));
                if rejected.len() < LISTED {
                    rejected.push(p);
                }
            }
            Step::Case(d) => {
                let Ok(rec) = &item else { continue };
                no_estimate += u64::from(d.estimate_unavailable());
                let (c, o) = to_case(&s.rules, &rec.claim, *d, cases.len() < LISTED);
                // The answer does not carry the trace and derivation (the case's own page does).
                cases.extend(o.map(|o| CaseOutcome { trace: String::new(), points: Value::Null, ..o }));
                block.push(Entry::Case(c));
            }
        }
        if block.len() >= BLOCK {
            update(progress, |p| p.records_read = records as u64);
            if !send(Block::Entries(std::mem::replace(&mut block, Vec::with_capacity(BLOCK)))) {
                return;
            }
        }
    }
    if aborted.load(Ordering::SeqCst) {
        send(Block::Aborted);
        return;
    }
    let count = reader.line_count();
    if !count.balanced() {
        send(Block::Failed(ApiError::internal(format!("{name}: the account of lines does not balance ({count:?})"))));
        return;
    }
    update(progress, |p| {
        p.records_read = records as u64;
        p.stage = "committing";
        p.stage_zh = "写入中";
    });
    let key = prep.first_key.unwrap_or((None, None, None, None));
    let plan = prep.plan.clone();
    let years: Vec<u16> = prep.years.iter().copied().collect();
    let late = prep.finish();
    // The listed cases carry their late findings too (lines increase).
    for p in &late {
        if let Ok(i) = cases.binary_search_by_key(&p.line, |o| o.line) {
            let o = &mut cases[i];
            if s.rules.get(&p.rule_id).is_some_and(|r| r.withhold) {
                o.payable = false;
                o.withheld.push(p.clone());
            }
            o.findings.push(p.clone());
        }
    }
    let amendments = late.iter().map(|p| to_amendment(&s.rules, p)).collect();
    if !block.is_empty() && !send(Block::Entries(block)) {
        return;
    }
    send(Block::End(Box::new(Summary { records, format, key, plan, count, amendments, cases, rejected, no_estimate, years })));
}

// ------------------------------------------------------------------ the request

/// Receive, check, group, price and store a batch body as it arrives; the answer
/// of `POST /api/uploads`.
pub async fn upload(
    s: AppState,
    a: Auth,
    name: String,
    progress_key: Option<String>,
    expected: Option<u64>,
    body: axum::body::Body,
) -> Result<Value, ApiError> {
    let xlsx = name.to_ascii_lowercase().ends_with(".xlsx");
    let limit = if xlsx { crate::limits::XLSX } else { crate::limits::BATCH } as u64;
    if expected.is_some_and(|n| n > limit) {
        return Err(too_large(xlsx, limit));
    }
    let key = progress_key.unwrap_or_else(|| format!("upload-{}", store::now_ms()));
    let progress = s.progress.start(a.user.id, &key, &name, expected)?;
    let aborted = Arc::new(AtomicBool::new(false));
    let (btx, brx) = mpsc::channel::<Bytes>(8);
    let (etx, mut erx) = mpsc::channel::<Block>(1);
    let reader = BodyReader { rx: brx, cur: Bytes::new(), aborted: aborted.clone() };
    let (s2, a2, n2, p2) = (s.clone(), a.clone(), name.clone(), progress.clone());
    let rt = tokio::runtime::Handle::current();
    let thread = tokio::task::spawn_blocking(move || read_and_prepare(&s2, &a2, &n2, reader, rt, etx, &p2));

    let p3 = progress.clone();
    let pump = async move {
        let mut frames = body.into_data_stream();
        let mut n = 0u64;
        while let Some(frame) = frames.next().await {
            let frame = match frame {
                Ok(f) => f,
                Err(e) => {
                    aborted.store(true, Ordering::SeqCst);
                    return Err(ApiError::bad_request(format!("the upload broke off after {n} bytes: {e}")).zh("上传中断，批次未保存，请重新上传"));
                }
            };
            n += frame.len() as u64;
            if n > limit {
                aborted.store(true, Ordering::SeqCst);
                return Err(too_large(xlsx, limit));
            }
            update(&p3, |p| p.bytes_received = n);
            if btx.send(frame).await.is_err() {
                break; // the reader stopped (the file cannot be read, or the commit failed)
            }
        }
        Ok(n)
    };

    let header = NewUpload {
        actor: a.actor(),
        institution_id: if a.is_agency() { None } else { a.user.institution_id.clone() },
        kind: "batch".into(),
        file_name: name.clone(),
        format: String::new(),
        records: 0,
        scheme_id: None,
        params_id: None,
        weights_id: None,
        cases: Vec::new(),
        rejected: Vec::new(),
    };
    let p4 = progress.clone();
    let commit = async {
        let mut writer: Option<store::BatchWriter> = None;
        while let Some(b) = erx.recv().await {
            match b {
                Block::Entries(v) => {
                    let w = match &mut writer {
                        Some(w) => w,
                        None => writer.insert(s.store.begin_batch(&header, LISTED).await?),
                    };
                    w.write(v).await?;
                    let n = w.written();
                    update(&p4, |p| p.records_written = n);
                }
                Block::End(sum) => {
                    let w = match writer.take() {
                        Some(w) => w,
                        None => s.store.begin_batch(&header, LISTED).await?,
                    };
                    let up = NewUpload {
                        records: sum.records,
                        format: sum.format.to_owned(),
                        scheme_id: sum.key.0,
                        params_id: sum.key.1,
                        weights_id: sum.key.2,
                        ..header.clone()
                    };
                    let done = w.finish(&up, &sum.amendments).await?;
                    return Ok((done, sum));
                }
                Block::Failed(e) => return Err(e),
                Block::Aborted => return Err(ApiError::bad_request("the upload broke off").zh("上传中断，批次未保存，请重新上传")),
            }
        }
        Err(ApiError::internal("the upload's reader stopped without an answer"))
    };
    let (pumped, committed) = tokio::join!(pump, commit);
    let _ = thread.await;
    let result = match (pumped, committed) {
        (Err(e), _) => Err(e),
        (_, Err(e)) => Err(e),
        (Ok(_), Ok(x)) => Ok(x),
    };
    let (done, sum) = match result {
        Ok(x) => x,
        Err(e) => {
            update(&progress, |p| {
                p.stage = "failed";
                p.stage_zh = "失败";
                p.error = Some(e.message.clone());
            });
            return Err(e);
        }
    };
    s.engines.cases_stored(sum.years.iter().copied());
    update(&progress, |p| {
        p.stage = "done";
        p.stage_zh = "完成";
        p.records_written = (done.accepted + done.rejected) as u64;
        p.upload_id = Some(done.upload_id);
    });
    let accepted = done.accepted;
    let cases: Vec<Value> = sum
        .cases
        .iter()
        .zip(&done.cases)
        .map(|(o, (id, ver))| {
            json!({"line": o.line, "institution_id": o.institution_id, "case_id": o.case_id, "case_version_id": id, "version": ver,
                   "drg": o.group.drg, "status": o.group.status, "points": o.estimate.points, "points_pending": o.points_pending,
                   "yuan": o.estimate.yuan, "estimate_status": o.estimate.status, "estimate_reason": o.estimate.reason,
                   "payable": o.payable, "withheld": o.withheld, "findings": o.findings})
        })
        .collect();
    let plan = json!({
        "missing_columns": sum.plan.missing_columns.iter().map(|(f, r)| json!({"field": f.name(), "rule_id": r})).collect::<Vec<_>>(),
        "skipped_rules": sum.plan.skipped_rules,
        "needs_dictionary": sum.plan.needs_dictionary,
    });
    Ok(json!({
        "upload_id": done.upload_id, "file_name": name, "progress_key": key,
        "records": sum.records, "accepted": accepted, "rejected_total": done.rejected,
        "line_count": sum.count, "withheld": done.withheld, "estimate_unavailable": sum.no_estimate,
        "rejected": sum.rejected, "rejected_listed": sum.rejected.len(),
        "cases_listed": cases.len(), "plan": plan, "cases": cases,
    }))
}

fn too_large(xlsx: bool, limit: u64) -> ApiError {
    let mib = limit >> 20;
    let zh = if xlsx {
        format!("XLSX 文件不能超过 {mib} MiB（XLSX 须整体读入）；更大的批次请另存为 CSV 上传")
    } else {
        format!("批量文件不能超过 {mib} MiB，请拆分后分批上传")
    };
    ApiError::new(axum::http::StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("a batch body is at most {mib} MiB{}", if xlsx { " as XLSX" } else { "" }))
        .zh(zh)
}
