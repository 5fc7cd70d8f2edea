//! Schema migrations: numbered SQL scripts applied in order, each in its own
//! transaction, recorded in `schema_migrations`. The scripts are written once
//! for both databases; `{id}` stands for the auto-increment primary key, the
//! only column type whose spelling differs.

use crate::{now_ms, Dialect, Result, Store};
use sqlx::Row;

/// The migrations, in order. Append only: never edit a released one.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial schema", V1),
    (2, "settlement runs", V2),
    (3, "QC gates payment; the estimate's derivation; QC override of special cases", V3),
    (4, "latest-version flag and maintained monthly totals (reads from indexes, not scans)", V4),
];

/// Issue 16: reads at a province's scale. `case_versions.latest` marks the newest
/// version of each case (kept by the commit, in its transaction), so listings and
/// totals read an index instead of a correlated MAX per row; `case_stats` holds the
/// totals per institution and discharge month the dashboard shows, kept by the commit
/// (`crate::stats`) and rebuilt from the cases once after this migration (the
/// `maintenance` task, run at the service's start).
const V4: &str = r#"
ALTER TABLE case_versions ADD COLUMN latest BIGINT NOT NULL DEFAULT 0;
UPDATE case_versions SET latest = 1 WHERE version = (SELECT MAX(v2.version) FROM case_versions v2 WHERE v2.institution_id = case_versions.institution_id AND v2.case_id = case_versions.case_id);
CREATE INDEX case_versions_latest ON case_versions (latest, id);
CREATE INDEX case_versions_latest_inst ON case_versions (institution_id, latest, id);
CREATE INDEX case_versions_latest_period ON case_versions (latest, period, id);
CREATE INDEX case_versions_latest_inst_period ON case_versions (institution_id, latest, period, id);
CREATE TABLE case_stats (
    institution_id TEXT NOT NULL,
    period TEXT NOT NULL,
    cases BIGINT NOT NULL,
    grouped BIGINT NOT NULL,
    points TEXT NOT NULL,
    points_pending BIGINT NOT NULL,
    fen BIGINT NOT NULL,
    drg_fen BIGINT NOT NULL,
    weight TEXT NOT NULL,
    weighted BIGINT NOT NULL,
    withheld BIGINT NOT NULL,
    withheld_fen BIGINT NOT NULL,
    no_estimate BIGINT NOT NULL,
    override_pv BIGINT NOT NULL,
    qc_errors BIGINT NOT NULL,
    qc_warnings BIGINT NOT NULL,
    PRIMARY KEY (institution_id, period)
);
CREATE INDEX case_stats_period ON case_stats (period, institution_id);
CREATE TABLE maintenance (task TEXT PRIMARY KEY);
INSERT INTO maintenance (task) VALUES ('rebuild_case_stats')
"#;

/// Issue 13: whether a case version is payable (QC gates payment, seed 000) and the
/// withholding rule ids; the estimate with its derivation (JSON); the reviewer's
/// reason when a special case is approved although its latest version is withheld.
/// `payable` is NULL for versions stored before this migration until the service
/// fills it from their stored findings at start (`Store::backfill_withheld`).
const V3: &str = r#"
ALTER TABLE case_results ADD COLUMN payable BIGINT;
ALTER TABLE case_results ADD COLUMN withheld TEXT;
ALTER TABLE case_results ADD COLUMN estimate_json TEXT;
ALTER TABLE special_cases ADD COLUMN qc_override TEXT;
ALTER TABLE special_cases ADD COLUMN qc_withheld TEXT
"#;

/// Settlement runs and their documents (statements as CSV text, XLSX as base64);
/// the points an `adjusted_standard` special case is paid.
const V2: &str = r#"
CREATE TABLE settlement_runs (
    id {id},
    year BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    started_by BIGINT,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    cases BIGINT NOT NULL DEFAULT 0,
    special_cases BIGINT NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    summary_json TEXT
);
CREATE TABLE settlement_documents (
    run_id BIGINT NOT NULL REFERENCES settlement_runs(id),
    name TEXT NOT NULL,
    institution_id TEXT,
    media_type TEXT NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (run_id, name)
);
ALTER TABLE special_cases ADD COLUMN adjusted_points TEXT;
"#;

const V1: &str = r#"
CREATE TABLE institutions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level TEXT NOT NULL,
    tcm BIGINT NOT NULL DEFAULT 0,
    alliance_lead TEXT,
    created_at BIGINT NOT NULL
);
CREATE TABLE users (
    id {id},
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('agency_admin', 'agency_reviewer', 'hospital_user')),
    institution_id TEXT REFERENCES institutions(id),
    display_name TEXT NOT NULL DEFAULT '',
    active BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    CHECK ((role = 'hospital_user' AND institution_id IS NOT NULL) OR (role <> 'hospital_user' AND institution_id IS NULL))
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE uploads (
    id {id},
    user_id BIGINT REFERENCES users(id),
    institution_id TEXT,
    kind TEXT NOT NULL,
    file_name TEXT NOT NULL,
    format TEXT NOT NULL,
    records BIGINT NOT NULL,
    accepted BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    scheme_id BIGINT,
    params_id BIGINT,
    weights_id BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX uploads_institution ON uploads (institution_id, id);
CREATE TABLE case_versions (
    id {id},
    institution_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    upload_id BIGINT NOT NULL REFERENCES uploads(id),
    line BIGINT NOT NULL,
    period TEXT NOT NULL,
    discharge_date TEXT,
    claim_json TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (institution_id, case_id, version)
);
CREATE INDEX case_versions_period ON case_versions (institution_id, period);
CREATE INDEX case_versions_case ON case_versions (case_id);
CREATE TABLE case_results (
    case_version_id BIGINT PRIMARY KEY REFERENCES case_versions(id),
    mdc TEXT NOT NULL,
    adrg TEXT NOT NULL,
    drg TEXT NOT NULL,
    drg_name TEXT NOT NULL,
    status TEXT NOT NULL,
    method TEXT NOT NULL,
    rule TEXT NOT NULL,
    points TEXT NOT NULL,
    yuan_fen BIGINT NOT NULL,
    point_value TEXT NOT NULL,
    trace TEXT NOT NULL,
    points_json TEXT NOT NULL
);
CREATE INDEX case_results_drg ON case_results (drg);
CREATE TABLE qc_findings (
    id {id},
    case_version_id BIGINT REFERENCES case_versions(id),
    upload_id BIGINT NOT NULL REFERENCES uploads(id),
    line BIGINT NOT NULL,
    case_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    severity TEXT NOT NULL,
    field TEXT,
    value TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX qc_findings_version ON qc_findings (case_version_id);
CREATE INDEX qc_findings_upload ON qc_findings (upload_id);
CREATE TABLE configs (
    id {id},
    kind TEXT NOT NULL CHECK (kind IN ('params', 'scheme', 'weights', 'dip_library')),
    name TEXT NOT NULL,
    content TEXT NOT NULL,
    effective_from TEXT,
    active BIGINT NOT NULL DEFAULT 0,
    uploaded_by BIGINT,
    uploaded_at BIGINT NOT NULL,
    activated_by BIGINT,
    activated_at BIGINT
);
CREATE INDEX configs_kind ON configs (kind, active, effective_from);
CREATE TABLE special_cases (
    id {id},
    institution_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    case_version_id BIGINT NOT NULL REFERENCES case_versions(id),
    reason TEXT NOT NULL CHECK (reason IN ('long_stay', 'high_cost', 'new_technology', 'critical_care')),
    note TEXT NOT NULL,
    quarter TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    pay_as TEXT,
    applied_by BIGINT NOT NULL,
    applied_at BIGINT NOT NULL,
    reviewed_by BIGINT,
    reviewed_at BIGINT,
    comment TEXT
);
CREATE INDEX special_cases_inst ON special_cases (institution_id, quarter);
CREATE TABLE disputes (
    id {id},
    institution_id TEXT NOT NULL,
    case_id TEXT,
    kind TEXT NOT NULL CHECK (kind IN ('grouping', 'payment', 'suggestion')),
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'answered', 'closed')),
    deadline BIGINT NOT NULL,
    raised_by BIGINT NOT NULL,
    raised_at BIGINT NOT NULL,
    answer TEXT,
    answered_by BIGINT,
    answered_at BIGINT
);
CREATE INDEX disputes_inst ON disputes (institution_id, status);
CREATE TABLE audit_log (
    id {id},
    at BIGINT NOT NULL,
    user_id BIGINT,
    username TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);
"#;

fn render(sql: &str, d: Dialect) -> String {
    let id = match d {
        Dialect::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
        Dialect::Postgres => "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    };
    sql.replace("{id}", id)
}

/// Apply the migrations not yet applied.
pub(crate) async fn run(store: &Store) -> Result<()> {
    let _g = store.write.lock().await;
    let pool = store.pool();
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)")
        .execute(pool)
        .await?;
    for (version, name, sql) in MIGRATIONS {
        let mut tx = pool.begin().await?;
        let done = sqlx::query("SELECT version FROM schema_migrations WHERE version = $1")
            .bind(*version)
            .fetch_optional(&mut *tx)
            .await?;
        if done.is_some() {
            continue;
        }
        for stmt in render(sql, store.dialect())
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            sqlx::query(stmt).execute(&mut *tx).await?;
        }
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(*version)
        .bind(*name)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM schema_migrations")
        .fetch_one(pool)
        .await?
        .try_get(0)?;
    debug_assert!(n >= MIGRATIONS.len() as i64);
    Ok(())
}
