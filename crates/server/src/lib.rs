//! The HTTP service of the platform (axum, JSON): hospitals upload settlement
//! lists and get QC findings, the DRG group with its trace and estimated
//! points and yuan at once; the agency manages institutions, users and the
//! configurations in force (parameters, schemes, weights) with effective dates.
//!
//! Every route is registered through [`Api::add`], which also records it for
//! the OpenAPI document served at `/api/openapi.json`: the document cannot
//! drift from the router.
//!
//! Access: agency administrator (everything), agency reviewer (reads all,
//! reviews), hospital user (its own institution only). Every change goes to
//! the audit log, in the transaction of the change.

pub mod api;
pub mod auth;
pub mod charts;
pub mod dashboard;
pub mod demo;
pub mod engines;
pub mod error;
pub mod guard;
pub mod history;
pub mod openapi;
pub mod pipeline;
pub mod reference;
pub mod reports;
pub mod review;
pub mod settlement;
pub mod stream;
pub mod ui;
pub mod upload;
pub mod validate;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::MethodRouter;
use axum::Router;
use store::{CommittedUpload, NewUpload, Store};
use tokio::sync::{mpsc, oneshot};

pub use error::ApiError;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub engines: Arc<engines::Engines>,
    pub rules: Arc<qc::RuleSet>,
    pub dicts: Option<Arc<codes::Dictionaries>>,
    pub sessions: Arc<auth::SessionCache>,
    pub committer: Committer,
    pub docs: Arc<Vec<RouteDoc>>,
    pub guard: Arc<guard::LoginGuard>,
    /// The progress of batch uploads, for their uploaders.
    pub progress: Arc<stream::Registry>,
    /// Behind a TLS-terminating reverse proxy: the client address is the last entry of
    /// `X-Forwarded-For`, and HSTS is sent.
    pub behind_proxy: bool,
}

/// Options of the service.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// An explicit point value (yuan per point) for the estimated payments, replacing
    /// the expected point value (budget line / last year's points); shown as an
    /// override wherever an estimate is. Default None: the expected point value.
    /// It never changes the conversion rate of fee-for-service or per-diem points.
    pub point_value: Option<rust_decimal::Decimal>,
    /// Code dictionaries for QC (e.g. the demo dictionaries); None: dictionary rules are skipped.
    pub dicts: Option<Arc<codes::Dictionaries>>,
    /// Login protection (hashing pool, backoff, lockout).
    pub login: guard::LoginPolicy,
    /// Served behind a TLS-terminating reverse proxy (`drgdip serve --behind-proxy`):
    /// client addresses from `X-Forwarded-For`, HSTS sent. See docs/API.md "TLS".
    pub behind_proxy: bool,
}

type Job = (NewUpload, oneshot::Sender<Result<CommittedUpload, String>>);

/// Commits uploads in groups: the uploads waiting when a commit starts go into
/// one transaction (one fsync), and each caller is answered after its
/// transaction committed. A group that fails is retried one upload at a time,
/// so one bad upload fails only itself.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Job>,
}

impl Committer {
    /// Most uploads in one transaction.
    pub const GROUP: usize = 64;

    pub fn start(store: Store) -> Committer {
        let (tx, mut rx) = mpsc::channel::<Job>(1024);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut jobs = vec![first];
                while jobs.len() < Self::GROUP {
                    match rx.try_recv() {
                        Ok(j) => jobs.push(j),
                        Err(_) => break,
                    }
                }
                let (ups, replies): (Vec<NewUpload>, Vec<_>) = jobs.into_iter().unzip();
                match store.commit_uploads(&ups).await {
                    Ok(done) => {
                        for (r, d) in replies.into_iter().zip(done) {
                            let _ = r.send(Ok(d));
                        }
                    }
                    Err(e) if ups.len() == 1 => {
                        let _ = replies
                            .into_iter()
                            .next()
                            .map(|r| r.send(Err(e.to_string())));
                    }
                    Err(_) => {
                        for (u, r) in ups.iter().zip(replies) {
                            let res = store.commit_uploads(std::slice::from_ref(u)).await;
                            let _ = r.send(res.map_err(|e| e.to_string()).and_then(|mut v| {
                                v.pop().ok_or_else(|| "nothing committed".to_owned())
                            }));
                        }
                    }
                }
            }
        });
        Committer { tx }
    }

    /// Commit one upload; returns once it is durable.
    pub async fn commit(&self, up: NewUpload) -> Result<CommittedUpload, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send((up, tx))
            .await
            .map_err(|_| ApiError::internal("committer stopped"))?;
        rx.await
            .map_err(|_| ApiError::internal("committer stopped"))?
            .map_err(|e| ApiError::internal(format!("commit: {e}")))
    }
}

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Public,
    /// Any signed-in user; hospital users see their own institution only.
    Authenticated,
    Agency,
    Admin,
    Hospital,
}

impl Access {
    pub fn describe(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Authenticated => {
                "any signed-in user; a hospital user only for its own institution"
            }
            Access::Agency => "agency administrator or reviewer",
            Access::Admin => "agency administrator",
            Access::Hospital => "hospital user (own institution)",
        }
    }
}

/// A documented route.
#[derive(Clone, Debug)]
pub struct RouteDoc {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub access: Access,
    /// Request body media type, when the route takes one.
    pub body: Option<&'static str>,
    /// Query parameters.
    pub query: &'static [&'static str],
    /// The largest request body the route takes, in bytes (0: none).
    pub body_limit: usize,
}

/// Body limits by kind of route (docs/API.md "Limits").
pub mod limits {
    /// Login: a username and a password.
    pub const LOGIN: usize = 4 << 10;
    /// A JSON request (one settlement list, a review, an institution, …).
    pub const JSON: usize = 1 << 20;
    /// A table to export as XLSX.
    pub const EXPORT: usize = 32 << 20;
    /// A configuration (a scheme's six files as JSON are ~4 MB).
    pub const CONFIG: usize = 64 << 20;
    /// A batch file (CSV or JSON Lines: streamed, never held in memory whole).
    pub const BATCH: usize = 256 << 20;
    /// A batch as XLSX (a zip archive, read whole before its rows can be).
    pub const XLSX: usize = 32 << 20;
}

/// The router under construction, with the documentation of every route added.
pub struct Api {
    router: Router<AppState>,
    pub docs: Vec<RouteDoc>,
}

impl Api {
    pub fn new() -> Api {
        Api {
            router: Router::new(),
            docs: Vec::new(),
        }
    }

    /// Add a route and its documentation; its body limit applies to it alone.
    pub fn add(mut self, doc: RouteDoc, handler: MethodRouter<AppState>) -> Api {
        // The announced length is checked before any byte is read, the bytes read
        // against the same limit (a body without Content-Length).
        let handler = handler
            .layer(axum::extract::DefaultBodyLimit::max(doc.body_limit))
            .layer(axum::middleware::from_fn_with_state(doc.body_limit, web::announced_length));
        self.router = self.router.route(doc.path, handler);
        self.docs.push(doc);
        self
    }
}

impl Default for Api {
    fn default() -> Self {
        Api::new()
    }
}

/// Build the application on an open store.
pub async fn app(store: Store, opts: Options) -> Result<Router, ApiError> {
    let engines = Arc::new(engines::Engines::new(store.clone(), opts.point_value).await?);
    let rules = Arc::new(qc::RuleSet::builtin());
    // Versions stored before payment was gated by QC: their payable flag from their findings.
    let r2 = rules.clone();
    let filled = store.backfill_withheld(&move |id: &str| r2.get(id).is_some_and(|r| r.withhold)).await?;
    if filled > 0 {
        eprintln!("note: the payable flag of {filled} case versions stored before QC gated payment was filled from their QC findings");
    }
    if filled > 0 || store.case_stats_need_rebuild().await? {
        let t = std::time::Instant::now();
        let rows = store.rebuild_case_stats().await?;
        eprintln!("note: the monthly totals ({rows} institution-months) were rebuilt from the stored cases in {:.1} s", t.elapsed().as_secs_f64());
    }
    let interrupted = store.interrupt_running_settlements().await?;
    if interrupted > 0 {
        eprintln!("note: {interrupted} settlement run(s) interrupted by the last stop are marked failed");
    }
    let api = api::routes();
    let docs = Arc::new(api.docs);
    let guard = Arc::new(guard::LoginGuard::new(opts.login.clone())?);
    let state = AppState {
        committer: Committer::start(store.clone()),
        store,
        engines,
        rules,
        dicts: opts.dicts,
        sessions: Arc::new(auth::SessionCache::default()),
        docs,
        guard,
        progress: Arc::new(stream::Registry::default()),
        behind_proxy: opts.behind_proxy,
    };
    Ok(web::layers(ui::routes(api.router), opts.behind_proxy).with_state(state))
}

/// Bound the C allocator's arenas to two (one per core of the machine the service
/// is sized for). glibc gives every thread that allocates an arena of its own and
/// keeps freed memory there: with the runtime's workers, the blocking threads of
/// streamed uploads and the database driver's threads, a 32 MiB batch upload left
/// the service ~90 MiB larger than with two arenas, at the same speed. Call once,
/// first thing in `main`, before any thread is started. No-op off glibc.
pub fn bound_allocator_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        /// `M_ARENA_MAX` of glibc's malloc.h.
        const M_ARENA_MAX: i32 = -8;
        // SAFETY: mallopt only sets an allocator parameter; called before threads start.
        unsafe {
            mallopt(M_ARENA_MAX, 2);
        }
    }
}

/// Serve on `addr` until the process is stopped (Ctrl-C / SIGTERM). Each request
/// knows its peer's address (login backoff per client address).
pub async fn serve(app: Router, addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
