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
pub mod history;
pub mod openapi;
pub mod pipeline;
pub mod reference;
pub mod reports;
pub mod review;
pub mod settlement;
pub mod ui;
pub mod upload;

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

    /// Add a route and its documentation.
    pub fn add(mut self, doc: RouteDoc, handler: MethodRouter<AppState>) -> Api {
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
    let interrupted = store.interrupt_running_settlements().await?;
    if interrupted > 0 {
        eprintln!("note: {interrupted} settlement run(s) interrupted by the last stop are marked failed");
    }
    let api = api::routes();
    let docs = Arc::new(api.docs);
    let state = AppState {
        committer: Committer::start(store.clone()),
        store,
        engines,
        rules,
        dicts: opts.dicts,
        sessions: Arc::new(auth::SessionCache::default()),
        docs,
    };
    Ok(ui::routes(api.router)
        .layer(axum::extract::DefaultBodyLimit::max(256 << 20))
        .with_state(state))
}

/// Serve on `addr` until the process is stopped (Ctrl-C / SIGTERM).
pub async fn serve(app: Router, addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
