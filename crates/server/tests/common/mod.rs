//! Test fixtures: a service on a random loopback port over SQLite or PostgreSQL.

#![allow(dead_code)]

use std::collections::HashMap;

use serde_json::{json, Value};
use store::{Actor, ConfigKind, Institution, NewUser, Role, Store};

pub const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{nanos}", std::process::id())
}

/// A database to test on.
pub struct Db {
    pub name: &'static str,
    pub store: Store,
    pub dir: Option<tempfile::TempDir>,
    pub schema: Option<String>,
}

impl Db {
    pub async fn cleanup(&self) {
        self.store.close().await;
        if let Some(s) = &self.schema {
            if let Ok(pool) = sqlx::AnyPool::connect(PG_URL).await {
                let _ = sqlx::query(&format!("DROP SCHEMA {s} CASCADE"))
                    .execute(&pool)
                    .await;
            }
        }
    }
}

/// SQLite always; PostgreSQL when reachable (else a printed reason).
pub async fn databases() -> Vec<Db> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut out = vec![Db {
        name: "sqlite",
        store: Store::open_dir(dir.path()).await.expect("sqlite"),
        dir: Some(dir),
        schema: None,
    }];
    let schema = unique("server_test");
    match tokio::time::timeout(
        std::time::Duration::from_secs(5),
        Store::open(PG_URL, Some(&schema)),
    )
    .await
    {
        Ok(Ok(s)) => out.push(Db {
            name: "postgres",
            store: s,
            dir: None,
            schema: Some(schema),
        }),
        Ok(Err(e)) => println!("skipping PostgreSQL: {e}"),
        Err(_) => println!("skipping PostgreSQL: connection timed out"),
    }
    out
}

/// A running service with institutions A (H0001) and B (H0002), users and demo weights.
pub struct Fixture {
    pub base: String,
    pub client: reqwest::Client,
    /// Tokens by user name: admin, reviewer, hosp_a, hosp_b.
    pub tokens: HashMap<&'static str, String>,
    /// Synthetic settlement lists (CSV, header first) by institution.
    pub header: String,
    pub rows: HashMap<String, Vec<String>>,
}

pub const A: &str = "H0001";
pub const B: &str = "H0002";

/// Institutions of a small synthetic region, demo weights in force and the four users
/// (password `password-1`). Returns the settlement lists: header and rows by institution.
pub async fn seed(store: &Store) -> (String, HashMap<String, Vec<String>>) {
    let (region, years) = server::demo::synthetic(3, 3000, 7).expect("synthetic");
    let csv = &years[0];
    let sys = Actor::system();
    for i in &region.institutions {
        store
            .upsert_institution(
                &sys,
                &Institution {
                    id: i.id.clone(),
                    name: i.name.clone(),
                    level: i.level.zh().into(),
                    tcm: false,
                    alliance_lead: None,
                },
            )
            .await
            .expect("institution");
    }
    let grouper = drg::Grouper::new(synth::demo::scheme().expect("scheme")).expect("grouper");
    let weights = server::demo::calibrate_weights(&grouper, csv).expect("weights");
    let w = store
        .add_config(&sys, ConfigKind::Weights, "w", &weights)
        .await
        .expect("cfg");
    store
        .activate_config(&sys, w, "2000-01-01")
        .await
        .expect("activate");
    let users: [(&str, Role, Option<&str>); 4] = [
        ("admin", Role::AgencyAdmin, None),
        ("reviewer", Role::AgencyReviewer, None),
        ("hosp_a", Role::HospitalUser, Some(A)),
        ("hosp_b", Role::HospitalUser, Some(B)),
    ];
    let phc = server::auth::hash_password("password-1").expect("hash");
    for (u, r, i) in users {
        store
            .create_user(
                &sys,
                &NewUser {
                    username: u.into(),
                    password_hash: phc.clone(),
                    role: r,
                    institution_id: i.map(str::to_owned),
                    display_name: u.into(),
                },
            )
            .await
            .expect("user");
    }
    let mut lines = csv.lines();
    let header = lines.next().expect("header").to_owned();
    let col = header
        .split(',')
        .position(|h| h == "institution_id")
        .expect("col");
    let mut rows: HashMap<String, Vec<String>> = HashMap::new();
    // 2024 first, then 2025 (same header).
    for l in lines.chain(years[1].lines().skip(1)) {
        if let Some(i) = l.split(',').nth(col) {
            rows.entry(i.to_owned()).or_default().push(l.to_owned());
        }
    }
    (header, rows)
}

pub const USERS: [&str; 4] = ["admin", "reviewer", "hosp_a", "hosp_b"];

pub async fn start(store: Store) -> Fixture {
    start_with(store, server::Options::default()).await
}

/// A fixture with service options of its own (e.g. a login policy).
pub async fn start_with(store: Store, opts: server::Options) -> Fixture {
    let (header, rows) = seed(&store).await;
    let app = server::app(store, opts)
        .await
        .expect("app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await });
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();
    let mut tokens = HashMap::new();
    for u in USERS {
        let r: Value = client
            .post(format!("{base}/api/login"))
            .json(&json!({"username": u, "password": "password-1"}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("json");
        tokens.insert(u, r["token"].as_str().expect("token").to_owned());
    }
    Fixture {
        base,
        client,
        tokens,
        header,
        rows,
    }
}

impl Fixture {
    /// A settlement list of `inst` (the n-th) as a JSON object.
    pub fn json_case(&self, inst: &str, n: usize) -> Value {
        let row = &self.rows[inst][n];
        let text = format!("{}\n{row}\n", self.header);
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes());
        let recs: Vec<csv::StringRecord> = rdr.records().map(|r| r.expect("csv")).collect();
        let mut m = serde_json::Map::new();
        for (k, v) in recs[0].iter().zip(recs[1].iter()) {
            if !v.is_empty() {
                m.insert(k.to_owned(), Value::String(v.to_owned()));
            }
        }
        Value::Object(m)
    }

    /// CSV text of `n` cases of `inst`, starting at the `skip`-th.
    pub fn csv(&self, inst: &str, skip: usize, n: usize) -> String {
        let mut s = self.header.clone() + "\n";
        for r in self.rows[inst].iter().skip(skip).take(n) {
            s += r;
            s.push('\n');
        }
        s
    }

    /// Upload every case of A and B (2024 and 2025) as the administrator, start
    /// the 2025 settlement and wait for it; returns the finished run.
    pub async fn settled_run(&self) -> Value {
        for inst in [A, B] {
            let csv = self.csv(inst, 0, usize::MAX);
            let r = self
                .req("POST", "/api/uploads?name=all.csv", Some("admin"))
                .body(csv)
                .send()
                .await
                .expect("upload");
            assert_eq!(r.status(), 201);
        }
        self.run_settlement(2025).await
    }

    /// Start a settlement run as the administrator and wait until it ends.
    pub async fn run_settlement(&self, year: u16) -> Value {
        let started: Value = self
            .req("POST", "/api/settlement/runs", Some("admin"))
            .json(&json!({ "year": year }))
            .send()
            .await
            .expect("start")
            .json()
            .await
            .expect("json");
        let id = started["id"].as_i64().expect("run id");
        for _ in 0..600 {
            let r: Value = self
                .req("GET", &format!("/api/settlement/runs/{id}"), Some("admin"))
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            if r["run"]["status"] != "running" {
                return r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("settlement run {id} did not finish in 60 s");
    }

    pub fn req(&self, method: &str, path: &str, who: Option<&str>) -> reqwest::RequestBuilder {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let r = self.client.request(m, format!("{}{path}", self.base));
        match who {
            Some(u) => r.bearer_auth(&self.tokens[u]),
            None => r,
        }
    }
}
