//! `drgdip serve`: the HTTP service (store + API) for hospitals and the agency.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Data directory (the SQLite file drgdip.sqlite3 lives here). Ignored
    /// when DATABASE_URL names a PostgreSQL database.
    #[arg(long, default_value = "drgdip-data")]
    pub data: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Database URL (postgres://… or sqlite://…); default: SQLite under --data.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// On an empty store, create a synthetic region, demo weights and demo
    /// accounts, and print the accounts.
    #[arg(long)]
    pub demo: bool,
    /// Institutions of the demo region (with --demo).
    #[arg(long, default_value_t = 40)]
    pub demo_hospitals: usize,
    /// Settlement lists of the demo region over 2024 and 2025 (with --demo).
    #[arg(long, default_value_t = 40_000)]
    pub demo_cases: u64,
    /// An explicit point value (yuan per point) for the estimated payments, shown as
    /// an override wherever an estimate is; default: the expected point value of each
    /// case's budget line (budget / last year's points). Never changes the conversion
    /// rate of fee-for-service or per-diem points.
    #[arg(long)]
    pub point_value: Option<rust_decimal::Decimal>,
    /// The national reference data (chs-drg-1.1/, schemes/chs-drg-2.0/, codes/): on a
    /// store without any scheme configuration, CHS-DRG 1.1 is put in force from
    /// 2000-01-01 and CHS-DRG 2.0 from 2025-01-01 (audited as the system), and its code
    /// dictionaries check the lists. Default: ../shared/reference when present.
    #[arg(long, env = "DRGDIP_REFERENCE")]
    pub reference: Option<PathBuf>,
    /// Keep the embedded demo scheme as the default even when the reference data is present.
    #[arg(long)]
    pub builtin_scheme: bool,
    /// Served behind a TLS-terminating reverse proxy on the same host or network (see
    /// docs/API.md "TLS"): the client address for login backoff is the last entry of
    /// X-Forwarded-For, and Strict-Transport-Security is sent. Without it, the peer
    /// address is used and forwarded headers are ignored.
    #[arg(long)]
    pub behind_proxy: bool,
}

pub fn run(a: ServeArgs) -> anyhow::Result<()> {
    server::bound_allocator_arenas();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        let store = match &a.database_url {
            Some(url) => store::Store::open(url, None)
                .await
                .with_context(|| format!("opening {url}"))?,
            None => store::Store::open_dir(&a.data)
                .await
                .with_context(|| format!("opening {}", a.data.display()))?,
        };
        let mut dicts = None;
        let reference_dir = crate::reference::resolve(a.reference.as_deref(), a.builtin_scheme)?;
        let mut reference = None;
        if let Some(dir) = &reference_dir {
            let schemes = server::reference::read(dir).map_err(|e| anyhow::anyhow!("reference schemes: {e}"))?;
            let seeded = server::reference::seed(&store, &schemes)
                .await
                .map_err(|e| anyhow::anyhow!("reference schemes: {}", e.message))?;
            for (name, id, eff) in &seeded {
                println!("scheme {name} in force from {eff} (config {id}, from {})", dir.display());
            }
            if seeded.is_empty() {
                println!("the store has its own scheme configurations: {} not applied", dir.display());
            }
            let codes = dir.join("codes");
            if codes.join(crate::codes_io::DIAGNOSES).is_file() {
                dicts = Some(Arc::new(crate::codes_io::load(&codes)?));
                println!("code dictionaries: {}", codes.display());
            }
            reference = Some(schemes);
        } else {
            println!("scheme: the embedded demo scheme (no reference data; give --reference DIR for CHS-DRG 1.1/2.0)");
        }
        if a.demo {
            if dicts.is_none() {
                dicts = Some(Arc::new(
                    synth::demo::dictionaries()
                        .map_err(|e| anyhow::anyhow!("demo dictionaries: {e}"))?,
                ));
            }
            if store.user_count().await? == 0 {
                eprintln!("empty store: creating the demo region, weights and accounts …");
                let demo = server::demo::bootstrap(&store, a.demo_hospitals, a.demo_cases, dicts.clone(), reference.clone())
                    .await
                    .map_err(|e| anyhow::anyhow!("demo: {}", e.message))?;
                println!(
                    "demo: {} institutions, weights config {} ({} groups)",
                    demo.institutions, demo.weights_config, demo.weights_groups
                );
                println!("demo: {} settlement lists of 2024 and 2025 loaded", demo.cases_loaded);
                let run = server::settlement::run_now(&store, &store::Actor::system(), 2025)
                    .await
                    .map_err(|e| anyhow::anyhow!("demo settlement: {}", e.message))?;
                println!("demo: settlement 2025 done (run {run})");
                println!("demo accounts (演示账号):");
                for acc in &demo.accounts {
                    println!(
                        "  {:<10} password {:<14} role {:<16} {}",
                        acc.username,
                        acc.password,
                        acc.role.as_str(),
                        acc.institution_id.as_deref().unwrap_or("")
                    );
                }
                let sample = a.data.join("demo-sample.csv");
                if std::fs::create_dir_all(&a.data).is_ok()
                    && std::fs::write(&sample, &demo.sample_csv).is_ok()
                {
                    println!("sample upload: {}", sample.display());
                }
            } else {
                eprintln!("store not empty: no demo data created");
            }
        } else if store.user_count().await? == 0 {
            eprintln!(
                "note: the store has no user; start once with --demo to create demo accounts"
            );
        }
        let app = server::app(
            store,
            server::Options {
                point_value: a.point_value,
                dicts,
                behind_proxy: a.behind_proxy,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        println!(
            "listening on http://{}  (OpenAPI: /api/openapi.json)",
            a.listen
        );
        server::serve(app, a.listen)
            .await
            .with_context(|| format!("serving on {}", a.listen))?;
        Ok(())
    })
}
