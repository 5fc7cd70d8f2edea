//! Persistent store of the platform: embedded SQLite by default (one file under
//! a data directory), PostgreSQL when the URL says so.
//!
//! One code path serves both: `sqlx`'s `Any` driver with runtime (non-macro)
//! queries written in the SQL both dialects accept (`$1` placeholders,
//! `RETURNING`, `BIGINT`/`TEXT` columns only). The only dialect-specific text is
//! the auto-increment key of the migrations (see [`migrate`]).
//!
//! Nothing is overwritten or deleted: a re-submitted settlement list becomes a
//! new row of `case_versions` with the next version number; results and QC
//! findings hang on a version. Every change is written to `audit_log` in the
//! same transaction as the change itself.
//!
//! Durability: an upload's transaction is committed before [`Store::commit_uploads`]
//! returns, and the server acknowledges only after that. SQLite runs in WAL mode
//! with `synchronous=FULL`, so a committed transaction survives a process kill
//! and a power loss alike; the cost (one fsync per commit) is amortised by the
//! server committing concurrent uploads together (group commit).

mod commit;
mod migrate;
mod model;
mod review;
mod settlement;
pub mod stats;

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub use commit::{Amendment, BatchWriter, Entry};
pub use model::*;
pub use settlement::{CaseSummary, FinishedRun, MonitorInput, SettlementDocument, SettlementInput, SettlementRun};
pub use review::{quarter_months, quarter_of, Dispute, SpecialCase, SPECIAL_REASONS};

/// Which database a store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// An error of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid: {0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Milliseconds since the Unix epoch: the store's clock.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The SQLite page cache of a connection (64 MiB) and its memory map of the store (1 GiB).
pub(crate) const SQLITE_CACHE: &str = "PRAGMA cache_size=-65536";
pub(crate) const SQLITE_MMAP: &str = "PRAGMA mmap_size=1073741824";

/// A connection pool with the schema migrated.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
    /// SQLite has one writer: writes take this lock instead of meeting
    /// `SQLITE_BUSY` on a read-to-write upgrade. PostgreSQL uses it for the
    /// version numbering of uploads only.
    write: Arc<tokio::sync::Mutex<()>>,
}

/// Who makes a change, for the audit log.
#[derive(Clone, Debug)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub username: String,
}

impl Actor {
    /// The service itself (bootstrap, demo data).
    pub fn system() -> Actor {
        Actor {
            user_id: None,
            username: "system".into(),
        }
    }
}

fn ident_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() < 60
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Store {
    /// The SQLite store of a data directory: `DIR/drgdip.sqlite3`, created when absent.
    pub async fn open_dir(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Invalid(format!("creating {}: {e}", dir.display())))?;
        let file = dir.join("drgdip.sqlite3");
        Store::open(&format!("sqlite://{}?mode=rwc", file.display()), None).await
    }

    /// Open `url` (`sqlite://…` or `postgres://…`) and migrate. With `schema`
    /// (PostgreSQL only), every connection works in that schema, created when
    /// absent: tests use one schema per run.
    pub async fn open(url: &str, schema: Option<&str>) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(StoreError::Invalid(format!(
                "unsupported database URL scheme: {url}"
            )));
        };
        if let Some(s) = schema {
            if dialect != Dialect::Postgres || !ident_ok(s) {
                return Err(StoreError::Invalid(format!(
                    "schema {s:?}: PostgreSQL only, [a-z0-9_]"
                )));
            }
        }
        let opts = AnyPoolOptions::new();
        let pool = match dialect {
            Dialect::Sqlite => {
                opts.max_connections(4)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL: readers do not block the writer. FULL: a commit is on disk
                            // (WAL fsynced) before it returns, so an acknowledged upload
                            // survives a power loss too, not only a process kill.
                            for p in [
                                "PRAGMA journal_mode=WAL",
                                "PRAGMA synchronous=FULL",
                                "PRAGMA busy_timeout=10000",
                                "PRAGMA foreign_keys=ON",
                                // A province's store is many GB: index pages are read
                                // through a 64 MiB page cache and the file mapped (1 GiB),
                                // not fetched by a syscall each.
                                SQLITE_CACHE,
                                SQLITE_MMAP,
                                "PRAGMA temp_store=MEMORY",
                            ] {
                                sqlx::query(p).execute(&mut *conn).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await?
            }
            Dialect::Postgres => {
                if let Some(s) = schema {
                    // Create the schema on a plain connection first.
                    let pool = AnyPoolOptions::new()
                        .max_connections(1)
                        .connect(url)
                        .await?;
                    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {s}"))
                        .execute(&pool)
                        .await?;
                    pool.close().await;
                }
                let schema = schema.map(str::to_owned);
                opts.max_connections(16)
                    .after_connect(move |conn, _| {
                        let schema = schema.clone();
                        Box::pin(async move {
                            if let Some(s) = schema {
                                sqlx::query(&format!("SET search_path TO {s}"))
                                    .execute(&mut *conn)
                                    .await?;
                            }
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await?
            }
        };
        let store = Store {
            pool,
            dialect,
            write: Arc::new(tokio::sync::Mutex::new(())),
        };
        migrate::run(&store).await?;
        Ok(store)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Close the pool (waits for connections to be returned).
    pub async fn close(&self) {
        self.pool.close().await
    }

    async fn audit_tx(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        actor: &Actor,
        action: &str,
        target: &str,
        detail: &serde_json::Value,
    ) -> Result<()> {
        sqlx::query("INSERT INTO audit_log (at, user_id, username, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(now_ms())
            .bind(actor.user_id)
            .bind(&actor.username)
            .bind(action)
            .bind(target)
            .bind(detail.to_string())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Begin a write transaction (holding the writer lock).
    async fn begin_write(&self) -> Result<(tokio::sync::MutexGuard<'_, ()>, Tx<'static>)> {
        let guard = self.write.lock().await;
        let tx = self.pool.begin().await?;
        Ok((guard, tx))
    }

    /// Add the audit entry and commit.
    async fn finish(
        mut tx: Tx<'static>,
        actor: &Actor,
        action: &str,
        target: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        Store::audit_tx(&mut tx, actor, action, target, &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---------------------------------------------------------------- institutions

    /// Create or update an institution.
    pub async fn upsert_institution(&self, actor: &Actor, i: &Institution) -> Result<()> {
        let (_g, mut tx) = self.begin_write().await?;
        let n = sqlx::query("UPDATE institutions SET name = $2, level = $3, tcm = $4, alliance_lead = $5 WHERE id = $1")
            .bind(&i.id)
            .bind(&i.name)
            .bind(&i.level)
            .bind(i.tcm as i64)
            .bind(&i.alliance_lead)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            sqlx::query("INSERT INTO institutions (id, name, level, tcm, alliance_lead, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(&i.id)
                .bind(&i.name)
                .bind(&i.level)
                .bind(i.tcm as i64)
                .bind(&i.alliance_lead)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
        }
        let detail = serde_json::to_value(i).unwrap_or_default();
        Store::finish(
            tx,
            actor,
            if n == 0 {
                "institution.create"
            } else {
                "institution.update"
            },
            &format!("institution:{}", i.id),
            detail,
        )
        .await
    }

    pub async fn institution(&self, id: &str) -> Result<Option<Institution>> {
        let row = sqlx::query(
            "SELECT id, name, level, tcm, alliance_lead FROM institutions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Institution::from_row(&r)).transpose()
    }

    pub async fn institutions(&self) -> Result<Vec<Institution>> {
        let rows =
            sqlx::query("SELECT id, name, level, tcm, alliance_lead FROM institutions ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(Institution::from_row).collect()
    }

    // ---------------------------------------------------------------- users and sessions

    /// Create a user; `password_hash` is a PHC string (argon2) made by the caller.
    pub async fn create_user(&self, actor: &Actor, u: &NewUser) -> Result<i64> {
        if (u.role == Role::HospitalUser) != u.institution_id.is_some() {
            return Err(StoreError::Invalid(
                "a hospital user is bound to exactly one institution; agency users to none".into(),
            ));
        }
        if let Some(inst) = &u.institution_id {
            if self.institution(inst).await?.is_none() {
                return Err(StoreError::NotFound(format!("institution {inst}")));
            }
        }
        if self.user_by_name(&u.username).await?.is_some() {
            return Err(StoreError::Conflict(format!("user {} exists", u.username)));
        }
        let (_g, mut tx) = self.begin_write().await?;
        let row = sqlx::query("INSERT INTO users (username, password_hash, role, institution_id, display_name, active, created_at) VALUES ($1, $2, $3, $4, $5, 1, $6) RETURNING id")
            .bind(&u.username)
            .bind(&u.password_hash)
            .bind(u.role.as_str())
            .bind(&u.institution_id)
            .bind(&u.display_name)
            .bind(now_ms())
            .fetch_one(&mut *tx)
            .await?;
        let id: i64 = row.try_get(0)?;
        let detail = serde_json::json!({"id": id, "username": u.username, "role": u.role.as_str(), "institution_id": u.institution_id});
        Store::finish(
            tx,
            actor,
            "user.create",
            &format!("user:{}", u.username),
            detail,
        )
        .await?;
        Ok(id)
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLS} FROM users WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| User::from_row(&r)).transpose()
    }

    pub async fn users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(&format!("SELECT {USER_COLS} FROM users ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(User::from_row).collect()
    }

    pub async fn user_count(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?
            .try_get::<i64, _>(0)?)
    }

    /// Store a session (the token's hash, never the token) for `user_id`.
    pub async fn create_session(&self, user: &User, token_hash: &str, ttl_ms: i64) -> Result<()> {
        let actor = Actor {
            user_id: Some(user.id),
            username: user.username.clone(),
        };
        let (_g, mut tx) = self.begin_write().await?;
        let now = now_ms();
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(user.id)
            .bind(now)
            .bind(now + ttl_ms)
            .execute(&mut *tx)
            .await?;
        Store::finish(
            tx,
            &actor,
            "session.login",
            &format!("user:{}", user.username),
            serde_json::json!({}),
        )
        .await
    }

    /// The user of an unexpired session.
    pub async fn session_user(&self, token_hash: &str) -> Result<Option<User>> {
        let cols = USER_COLS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let row = sqlx::query(&format!(
            "SELECT {cols} FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.active = 1"
        ))
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| User::from_row(&r)).transpose()
    }

    /// End a session (logout): the session expires now; the row is kept.
    pub async fn end_session(&self, user: &User, token_hash: &str) -> Result<()> {
        let actor = Actor {
            user_id: Some(user.id),
            username: user.username.clone(),
        };
        let (_g, mut tx) = self.begin_write().await?;
        sqlx::query("UPDATE sessions SET expires_at = $2 WHERE token_hash = $1")
            .bind(token_hash)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        Store::finish(
            tx,
            &actor,
            "session.logout",
            &format!("user:{}", user.username),
            serde_json::json!({}),
        )
        .await
    }

    // ---------------------------------------------------------------- uploads and case versions

    /// Commit uploads in one transaction (group commit): each upload row, its
    /// case versions (numbered after the last version of the same case), their
    /// results and findings, and an audit entry per upload. Returns, per upload,
    /// its id and the (id, version) of each case in order. Nothing is visible,
    /// and nothing may be acknowledged, before this returns `Ok`.
    pub async fn commit_uploads(&self, uploads: &[NewUpload]) -> Result<Vec<CommittedUpload>> {
        let (_g, mut tx) = self.begin_write().await?;
        let mut out = Vec::with_capacity(uploads.len());
        let mut deltas: std::collections::BTreeMap<(String, String), stats::Totals> = Default::default();
        for up in uploads {
            let now = now_ms();
            let upload_id = insert_upload(&mut tx, up, up.cases.len() as i64, up.rejected.len() as i64, now).await?;
            let mut cases = Vec::with_capacity(up.cases.len());
            let mut i = 0;
            while i < up.cases.len() {
                let j = commit::run_end(&up.cases, i);
                cases.extend(commit::write_cases(&mut tx, self.dialect, upload_id, now, &up.cases[i..j], &mut deltas).await?);
                i = j;
            }
            let rejected: Vec<(Option<i64>, &NewFinding)> = up.rejected.iter().map(|f| (None, f)).collect();
            commit::insert_findings(&mut tx, self.dialect, upload_id, &rejected).await?;
            let detail = serde_json::json!({"kind": up.kind, "file_name": up.file_name, "records": up.records, "accepted": up.cases.len(), "rejected": up.rejected.len()});
            Store::audit_tx(
                &mut tx,
                &up.actor,
                "upload.create",
                &format!("upload:{upload_id}"),
                &detail,
            )
            .await?;
            let withheld = up.cases.iter().filter(|c| !c.result.payable).count() as i64;
            out.push(CommittedUpload { upload_id, accepted: cases.len() as i64, cases, rejected: up.rejected.len() as i64, withheld });
        }
        for ((i, p), d) in &stats::expand(deltas) {
            stats::apply(&mut tx, self.dialect, i, p, d).await?;
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Fill the payable flag of case versions stored before migration 3 from their
    /// stored QC findings: a version is withheld when a finding's rule withholds
    /// (`withholds(rule_id)`, the service's rule set). Returns the versions filled;
    /// one audit entry records how many.
    pub async fn backfill_withheld(&self, withholds: &(dyn Fn(&str) -> bool + Sync)) -> Result<u64> {
        let ids: Vec<i64> = sqlx::query("SELECT case_version_id FROM case_results WHERE payable IS NULL ORDER BY case_version_id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get::<i64, _>(0))
            .collect::<std::result::Result<_, _>>()?;
        if ids.is_empty() {
            return Ok(0);
        }
        let (_g, mut tx) = self.begin_write().await?;
        let (mut withheld_n, mut n) = (0u64, 0u64);
        for id in &ids {
            let rules: Vec<String> = sqlx::query("SELECT rule_id FROM qc_findings WHERE case_version_id = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>(0))
                .collect::<std::result::Result<_, _>>()?;
            let mut w: Vec<String> = rules.into_iter().filter(|r| withholds(r)).collect();
            w.sort();
            w.dedup();
            withheld_n += u64::from(!w.is_empty());
            sqlx::query("UPDATE case_results SET payable = $2, withheld = $3 WHERE case_version_id = $1 AND payable IS NULL")
                .bind(id)
                .bind(i64::from(w.is_empty()))
                .bind(w.join(","))
                .execute(&mut *tx)
                .await?;
            n += 1;
        }
        Store::finish(
            tx,
            &Actor::system(),
            "case_results.backfill_withheld",
            "case_results",
            serde_json::json!({"versions": n, "withheld": withheld_n}),
        )
        .await?;
        Ok(n)
    }

    pub async fn upload(&self, id: i64) -> Result<Option<Upload>> {
        let row = sqlx::query(&format!("SELECT {UPLOAD_COLS} FROM uploads WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Upload::from_row(&r)).transpose()
    }

    /// Uploads, newest first; only one institution's when `institution` is set.
    pub async fn uploads(&self, institution: Option<&str>, limit: i64) -> Result<Vec<Upload>> {
        let rows = match institution {
            Some(i) => sqlx::query(&format!("SELECT {UPLOAD_COLS} FROM uploads WHERE institution_id = $1 ORDER BY id DESC LIMIT $2")).bind(i).bind(limit).fetch_all(&self.pool).await?,
            None => sqlx::query(&format!("SELECT {UPLOAD_COLS} FROM uploads ORDER BY id DESC LIMIT $1")).bind(limit).fetch_all(&self.pool).await?,
        };
        rows.iter().map(Upload::from_row).collect()
    }

    pub async fn upload_count(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM uploads")
            .fetch_one(&self.pool)
            .await?
            .try_get::<i64, _>(0)?)
    }

    /// Every version of one case, oldest first, with its result.
    pub async fn case_history(&self, institution: &str, case_id: &str) -> Result<Vec<CaseVersion>> {
        let rows = sqlx::query(&format!(
            "{CASE_SELECT} WHERE v.institution_id = $1 AND v.case_id = $2 ORDER BY v.version"
        ))
        .bind(institution)
        .bind(case_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(CaseVersion::from_row).collect()
    }

    /// Institutions that have a case with this id (the same case id may exist at several).
    pub async fn case_institutions(&self, case_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT DISTINCT institution_id FROM case_versions WHERE case_id = $1 ORDER BY institution_id").bind(case_id).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>(0)?))
            .collect()
    }

    /// The latest version of each case matching the query, newest first. Two steps:
    /// the page's ids from the indexes (`latest` flag; a single month as an equality, so
    /// the month's index gives the order), then those rows — a sort never carries the
    /// settlement lists.
    pub async fn cases(&self, q: &CaseQuery) -> Result<Vec<CaseVersion>> {
        let mut sql = String::from("SELECT v.id FROM case_versions v");
        if q.drg.is_some() {
            sql += " JOIN case_results r ON r.case_version_id = v.id";
        }
        sql += " WHERE v.latest = 1";
        let mut binds: Vec<String> = Vec::new();
        if let Some(i) = &q.institution_id {
            binds.push(i.clone());
            sql += &format!(" AND v.institution_id = ${}", binds.len());
        }
        match (&q.period_from, &q.period_to) {
            (Some(a), Some(b)) if a == b => {
                binds.push(a.clone());
                sql += &format!(" AND v.period = ${}", binds.len());
            }
            (from, to) => {
                if let Some(p) = from {
                    binds.push(p.clone());
                    sql += &format!(" AND v.period >= ${}", binds.len());
                }
                if let Some(p) = to {
                    binds.push(p.clone());
                    sql += &format!(" AND v.period <= ${}", binds.len());
                }
            }
        }
        if let Some(d) = &q.drg {
            binds.push(d.clone());
            sql += &format!(" AND r.drg = ${}", binds.len());
        }
        sql += &format!(
            " ORDER BY v.id DESC LIMIT {} OFFSET {}",
            q.limit.clamp(1, 10_000),
            q.offset.max(0)
        );
        let mut query = sqlx::query_scalar::<_, i64>(&sql);
        for b in &binds {
            query = query.bind(b);
        }
        let ids = query.fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(ids.len());
        for part in ids.chunks(500) {
            let list = part.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
            let rows = sqlx::query(&format!("{CASE_SELECT} WHERE v.id IN ({list}) ORDER BY v.id DESC"))
                .fetch_all(&self.pool)
                .await?;
            for r in &rows {
                out.push(CaseVersion::from_row(r)?);
            }
        }
        Ok(out)
    }

    /// QC findings of one case version (`Some`) or the unreadable records of an upload.
    pub async fn findings(
        &self,
        case_version_id: Option<i64>,
        upload_id: Option<i64>,
    ) -> Result<Vec<StoredFinding>> {
        let rows = match (case_version_id, upload_id) {
            (Some(v), _) => {
                sqlx::query(&format!(
                    "SELECT {FINDING_COLS} FROM qc_findings WHERE case_version_id = $1 ORDER BY id"
                ))
                .bind(v)
                .fetch_all(&self.pool)
                .await?
            }
            (None, Some(u)) => {
                sqlx::query(&format!(
                    "SELECT {FINDING_COLS} FROM qc_findings WHERE upload_id = $1 ORDER BY id"
                ))
                .bind(u)
                .fetch_all(&self.pool)
                .await?
            }
            (None, None) => Vec::new(),
        };
        rows.iter().map(StoredFinding::from_row).collect()
    }

    // ---------------------------------------------------------------- configurations

    /// Store a parameter set, scheme, weights table or library (not yet active).
    pub async fn add_config(
        &self,
        actor: &Actor,
        kind: ConfigKind,
        name: &str,
        content: &str,
    ) -> Result<i64> {
        let (_g, mut tx) = self.begin_write().await?;
        let row = sqlx::query("INSERT INTO configs (kind, name, content, active, uploaded_by, uploaded_at) VALUES ($1, $2, $3, 0, $4, $5) RETURNING id")
            .bind(kind.as_str())
            .bind(name)
            .bind(content)
            .bind(actor.user_id)
            .bind(now_ms())
            .fetch_one(&mut *tx)
            .await?;
        let id: i64 = row.try_get(0)?;
        let detail =
            serde_json::json!({"kind": kind.as_str(), "name": name, "bytes": content.len()});
        Store::finish(tx, actor, "config.upload", &format!("config:{id}"), detail).await?;
        Ok(id)
    }

    /// Activate a configuration from `effective_from` (`YYYY-MM-DD`). Several
    /// may be active; the one in force on a day is the active one with the
    /// latest effective date not after that day (ties: the later upload).
    pub async fn activate_config(
        &self,
        actor: &Actor,
        id: i64,
        effective_from: &str,
    ) -> Result<()> {
        if self.config(id).await?.is_none() {
            return Err(StoreError::NotFound(format!("config {id}")));
        }
        let (_g, mut tx) = self.begin_write().await?;
        sqlx::query("UPDATE configs SET active = 1, effective_from = $2, activated_by = $3, activated_at = $4 WHERE id = $1")
            .bind(id)
            .bind(effective_from)
            .bind(actor.user_id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        Store::finish(
            tx,
            actor,
            "config.activate",
            &format!("config:{id}"),
            serde_json::json!({"effective_from": effective_from}),
        )
        .await
    }

    pub async fn config(&self, id: i64) -> Result<Option<Config>> {
        let row = sqlx::query(&format!(
            "SELECT {CONFIG_COLS}, content FROM configs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Config::from_row(&r, true)).transpose()
    }

    /// Configurations (without content), newest first.
    pub async fn configs(&self, kind: Option<ConfigKind>) -> Result<Vec<Config>> {
        let rows = match kind {
            Some(k) => {
                sqlx::query(&format!(
                    "SELECT {CONFIG_COLS} FROM configs WHERE kind = $1 ORDER BY id DESC"
                ))
                .bind(k.as_str())
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {CONFIG_COLS} FROM configs ORDER BY id DESC"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(|r| Config::from_row(r, false)).collect()
    }

    /// The configuration of `kind` in force on `day` (`YYYY-MM-DD`), with content.
    pub async fn config_in_force(&self, kind: ConfigKind, day: &str) -> Result<Option<Config>> {
        let row = sqlx::query(&format!(
            "SELECT {CONFIG_COLS}, content FROM configs WHERE kind = $1 AND active = 1 AND effective_from <= $2 ORDER BY effective_from DESC, id DESC LIMIT 1"
        ))
        .bind(kind.as_str())
        .bind(day)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Config::from_row(&r, true)).transpose()
    }

    // ---------------------------------------------------------------- audit

    /// Write an audit entry on its own (for changes made elsewhere).
    pub async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        let (_g, tx) = self.begin_write().await?;
        Store::finish(tx, actor, action, target, detail).await
    }

    /// Audit entries, newest first.
    pub async fn audit_log(&self, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query("SELECT id, at, user_id, username, action, target, detail FROM audit_log ORDER BY id DESC LIMIT $1").bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(AuditEntry::from_row).collect()
    }
}

/// The row of an upload; returns its id.
async fn insert_upload(tx: &mut Tx<'static>, up: &NewUpload, accepted: i64, rejected: i64, now: i64) -> Result<i64> {
    Ok(sqlx::query(
        "INSERT INTO uploads (user_id, institution_id, kind, file_name, format, records, accepted, rejected, scheme_id, params_id, weights_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(up.actor.user_id)
    .bind(&up.institution_id)
    .bind(&up.kind)
    .bind(&up.file_name)
    .bind(&up.format)
    .bind(up.records)
    .bind(accepted)
    .bind(rejected)
    .bind(up.scheme_id)
    .bind(up.params_id)
    .bind(up.weights_id)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?
    .try_get(0)?)
}

/// A transaction of the store.
pub type Tx<'t> = sqlx::Transaction<'t, sqlx::Any>;

pub(crate) fn get<T>(r: &AnyRow, col: &str) -> Result<T>
where
    T: for<'a> sqlx::Decode<'a, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    Ok(r.try_get::<T, _>(col)?)
}
