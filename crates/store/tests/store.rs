//! The store against SQLite (always) and PostgreSQL (127.0.0.1:5432, database
//! `test`, one schema per run; skipped with a printed reason when unreachable).

use store::*;

const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{nanos}", std::process::id())
}

/// The stores to test: SQLite in a temporary directory, and PostgreSQL when reachable.
async fn stores() -> Vec<(String, Store, Option<tempfile::TempDir>, Option<String>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut out = vec![(
        "sqlite".to_owned(),
        Store::open_dir(dir.path()).await.expect("sqlite store"),
        Some(dir),
        None,
    )];
    let schema = unique("store_test");
    match tokio::time::timeout(
        std::time::Duration::from_secs(5),
        Store::open(PG_URL, Some(&schema)),
    )
    .await
    {
        Ok(Ok(s)) => out.push(("postgres".to_owned(), s, None, Some(schema))),
        Ok(Err(e)) => println!("skipping PostgreSQL: {e}"),
        Err(_) => println!("skipping PostgreSQL: connection timed out"),
    }
    out
}

async fn drop_schema(schema: &Option<String>) {
    if let Some(s) = schema {
        if let Ok(pool) = sqlx::AnyPool::connect(PG_URL).await {
            let _ = sqlx::query(&format!("DROP SCHEMA {s} CASCADE"))
                .execute(&pool)
                .await;
        }
    }
}

fn inst(id: &str) -> Institution {
    Institution {
        id: id.into(),
        name: format!("医院{id}"),
        level: "三级".into(),
        tcm: false,
        alliance_lead: None,
    }
}

fn result(drg: &str) -> CaseResult {
    CaseResult {
        mdc: "MDCB".into(),
        adrg: "BR2".into(),
        drg: drg.into(),
        drg_name: "脑缺血".into(),
        status: "grouped".into(),
        method: "drg".into(),
        rule: "normal".into(),
        points: "123.4500".into(),
        yuan_fen: 1_234_500,
        point_value: "100".into(),
        trace: "trace".into(),
        points_json: "{}".into(),
        payable: true,
        withheld: String::new(),
        estimate_json: r#"{"status":"expected"}"#.into(),
    }
}

fn case(inst: &str, id: &str, period: &str, drg: &str) -> NewCase {
    NewCase {
        institution_id: inst.into(),
        case_id: id.into(),
        line: 2,
        period: period.into(),
        discharge_date: Some(format!("{period}-15")),
        claim_json: format!(r#"{{"case_id":"{id}"}}"#),
        result: result(drg),
        findings: vec![NewFinding {
            line: 2,
            case_id: id.into(),
            rule_id: "R1".into(),
            severity: "warning".into(),
            field: Some("los".into()),
            value: "0".into(),
            message: "m".into(),
        }],
    }
}

fn upload(actor: &Actor, inst: Option<&str>, cases: Vec<NewCase>) -> NewUpload {
    NewUpload {
        actor: actor.clone(),
        institution_id: inst.map(str::to_owned),
        kind: "batch".into(),
        file_name: "f.csv".into(),
        format: "csv".into(),
        records: cases.len() as i64 + 1,
        scheme_id: None,
        params_id: None,
        weights_id: None,
        cases,
        rejected: vec![NewFinding {
            line: 9,
            case_id: String::new(),
            rule_id: "READ".into(),
            severity: "error".into(),
            field: None,
            value: String::new(),
            message: "line 9: broken".into(),
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_round_trip_on_both_databases() {
    for (name, s, _dir, schema) in stores().await {
        println!("-- {name}");
        let sys = Actor::system();
        s.upsert_institution(&sys, &inst("H1"))
            .await
            .expect("insert");
        s.upsert_institution(&sys, &inst("H2"))
            .await
            .expect("insert");
        let mut h1 = inst("H1");
        h1.name = "改名医院".into();
        s.upsert_institution(&sys, &h1).await.expect("update");
        assert_eq!(
            s.institution("H1")
                .await
                .expect("read")
                .expect("exists")
                .name,
            "改名医院",
            "{name}"
        );
        assert_eq!(s.institutions().await.expect("list").len(), 2);

        // Users: a hospital user needs exactly one institution; names are unique.
        let hu = NewUser {
            username: "h1".into(),
            password_hash: "x".into(),
            role: Role::HospitalUser,
            institution_id: Some("H1".into()),
            display_name: String::new(),
        };
        let uid = s.create_user(&sys, &hu).await.expect("user");
        assert!(
            matches!(s.create_user(&sys, &hu).await, Err(StoreError::Conflict(_))),
            "{name}: duplicate user"
        );
        let bad = NewUser {
            institution_id: None,
            username: "h9".into(),
            ..hu.clone()
        };
        assert!(
            matches!(s.create_user(&sys, &bad).await, Err(StoreError::Invalid(_))),
            "{name}: unbound hospital user"
        );
        let agency_bound = NewUser {
            role: Role::AgencyAdmin,
            username: "a9".into(),
            ..hu.clone()
        };
        assert!(matches!(
            s.create_user(&sys, &agency_bound).await,
            Err(StoreError::Invalid(_))
        ));
        let user = s.user_by_name("h1").await.expect("read").expect("exists");
        assert_eq!(
            (user.id, user.role, user.institution_id.as_deref()),
            (uid, Role::HospitalUser, Some("H1"))
        );

        // Sessions.
        s.create_session(&user, "hash1", 60_000)
            .await
            .expect("session");
        assert_eq!(
            s.session_user("hash1").await.expect("read").map(|u| u.id),
            Some(uid)
        );
        s.end_session(&user, "hash1").await.expect("logout");
        assert!(
            s.session_user("hash1").await.expect("read").is_none(),
            "{name}: logged out"
        );
        s.create_session(&user, "hash2", -1).await.expect("session");
        assert!(
            s.session_user("hash2").await.expect("read").is_none(),
            "{name}: expired"
        );

        // Uploads: a re-submitted case becomes version 2, the first is kept.
        let actor = Actor {
            user_id: Some(uid),
            username: "h1".into(),
        };
        let done = s
            .commit_uploads(&[
                upload(
                    &actor,
                    Some("H1"),
                    vec![
                        case("H1", "C1", "2025-01", "BR21"),
                        case("H1", "C2", "2025-02", "BR25"),
                    ],
                ),
                upload(
                    &actor,
                    Some("H1"),
                    vec![case("H1", "C1", "2025-03", "BR25")],
                ),
            ])
            .await
            .expect("commit");
        assert_eq!(done.len(), 2);
        assert_eq!(
            done[0].cases.iter().map(|c| c.1).collect::<Vec<_>>(),
            vec![1, 1]
        );
        assert_eq!(done[1].cases[0].1, 2, "{name}: second version");
        // The same case id at another institution is another case.
        let d3 = s
            .commit_uploads(&[upload(
                &Actor::system(),
                None,
                vec![case("H2", "C1", "2025-01", "BR21")],
            )])
            .await
            .expect("commit");
        assert_eq!(d3[0].cases[0].1, 1);
        let hist = s.case_history("H1", "C1").await.expect("history");
        assert_eq!(
            hist.iter()
                .map(|v| (v.version, v.period.as_str(), v.result.drg.as_str()))
                .collect::<Vec<_>>(),
            vec![(1, "2025-01", "BR21"), (2, "2025-03", "BR25")]
        );
        assert_eq!(hist[0].claim["case_id"], "C1");
        assert_eq!(
            s.case_institutions("C1").await.expect("insts"),
            vec!["H1".to_owned(), "H2".to_owned()]
        );

        // Queries: latest versions, by institution and period.
        let q = |i: Option<&str>, from: Option<&str>, to: Option<&str>| CaseQuery {
            institution_id: i.map(str::to_owned),
            period_from: from.map(str::to_owned),
            period_to: to.map(str::to_owned),
            drg: None,
            limit: 100,
            offset: 0,
        };
        let h1_cases = s.cases(&q(Some("H1"), None, None)).await.expect("cases");
        assert_eq!(h1_cases.len(), 2, "{name}: latest versions only");
        assert!(h1_cases.iter().all(|c| c.institution_id == "H1"));
        assert_eq!(s.cases(&q(None, None, None)).await.expect("cases").len(), 3);
        let feb = s
            .cases(&q(Some("H1"), Some("2025-02"), Some("2025-02")))
            .await
            .expect("cases");
        assert_eq!(
            feb.iter().map(|c| c.case_id.as_str()).collect::<Vec<_>>(),
            vec!["C2"]
        );
        let by_drg = s
            .cases(&CaseQuery {
                drg: Some("BR21".into()),
                ..q(None, None, None)
            })
            .await
            .expect("cases");
        assert_eq!(
            by_drg.len(),
            1,
            "{name}: H2/C1 only (H1/C1's latest is BR25)"
        );

        // Findings per version and refused records per upload.
        assert_eq!(
            s.findings(Some(hist[0].id), None).await.expect("f").len(),
            1
        );
        let up_f = s.findings(None, Some(done[0].upload_id)).await.expect("f");
        assert_eq!(
            up_f.iter()
                .filter(|f| f.case_version_id.is_none() && f.rule_id == "READ")
                .count(),
            1
        );
        let up = s
            .upload(done[0].upload_id)
            .await
            .expect("u")
            .expect("exists");
        assert_eq!((up.accepted, up.rejected, up.records), (2, 1, 3));
        assert_eq!(s.uploads(Some("H1"), 10).await.expect("u").len(), 2);
        assert_eq!(s.uploads(Some("H2"), 10).await.expect("u").len(), 0);

        // Configurations in force by effective date.
        let p1 = s
            .add_config(&sys, ConfigKind::Params, "p2025", "a")
            .await
            .expect("cfg");
        let p2 = s
            .add_config(&sys, ConfigKind::Params, "p2026", "b")
            .await
            .expect("cfg");
        assert!(
            s.config_in_force(ConfigKind::Params, "2025-06-01")
                .await
                .expect("q")
                .is_none(),
            "{name}: inactive"
        );
        s.activate_config(&sys, p1, "2025-01-01")
            .await
            .expect("activate");
        s.activate_config(&sys, p2, "2026-01-01")
            .await
            .expect("activate");
        assert!(matches!(
            s.activate_config(&sys, 9999, "2026-01-01").await,
            Err(StoreError::NotFound(_))
        ));
        let in_force = |d: &'static str| {
            let s = s.clone();
            async move {
                s.config_in_force(ConfigKind::Params, d)
                    .await
                    .expect("q")
                    .map(|c| c.id)
            }
        };
        assert_eq!(in_force("2024-12-31").await, None);
        assert_eq!(in_force("2025-06-01").await, Some(p1));
        assert_eq!(in_force("2026-01-01").await, Some(p2));
        assert_eq!(
            s.config(p2)
                .await
                .expect("c")
                .expect("exists")
                .content
                .as_deref(),
            Some("b")
        );
        assert_eq!(
            s.configs(Some(ConfigKind::Params)).await.expect("c").len(),
            2
        );

        // Every change is in the audit log.
        let log = s.audit_log(1000).await.expect("audit");
        let count = |a: &str| log.iter().filter(|e| e.action == a).count();
        assert_eq!(count("institution.create"), 2, "{name}");
        assert_eq!(count("institution.update"), 1);
        assert_eq!(count("user.create"), 1);
        assert_eq!(count("session.login"), 2);
        assert_eq!(count("session.logout"), 1);
        assert_eq!(count("upload.create"), 3);
        assert_eq!(count("config.upload"), 2);
        assert_eq!(count("config.activate"), 2);
        assert!(log
            .iter()
            .filter(|e| e.action == "upload.create")
            .any(|e| e.username == "h1" && e.user_id == Some(uid)));

        // Migrations are idempotent: opening again changes nothing.
        if name == "sqlite" {
            let dir = _dir.as_ref().expect("dir");
            let again = Store::open_dir(dir.path()).await.expect("reopen");
            assert_eq!(
                again
                    .cases(&q(None, None, None))
                    .await
                    .expect("cases")
                    .len(),
                3
            );
        } else if let Some(sc) = &schema {
            let again = Store::open(PG_URL, Some(sc)).await.expect("reopen");
            assert_eq!(
                again
                    .cases(&q(None, None, None))
                    .await
                    .expect("cases")
                    .len(),
                3
            );
            again.close().await;
        }
        s.close().await;
        drop_schema(&schema).await;
    }
}

/// QC gates payment: the payable flag and the rules are stored per version; versions
/// stored before migration 3 are filled from their findings (never read as payable);
/// approving a special case whose latest version is withheld needs an override.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withheld_versions_backfill_and_the_special_case_override() {
    for (name, s, _dir, schema) in stores().await {
        println!("-- {name}");
        let sys = Actor::system();
        s.upsert_institution(&sys, &inst("H1")).await.expect("insert");
        let mut bad = case("H1", "W1", "2025-02", "BR21");
        bad.result.payable = false;
        bad.result.withheld = "M001,M002".into();
        bad.findings[0].rule_id = "M001".into();
        bad.findings[0].severity = "error".into();
        let legacy = case("H1", "W2", "2025-02", "BR21");
        s.commit_uploads(&[upload(&sys, Some("H1"), vec![bad, legacy])]).await.expect("commit");
        let w1 = s.case_history("H1", "W1").await.expect("history");
        assert_eq!((w1[0].result.payable, w1[0].result.withheld.as_str()), (false, "M001,M002"));
        let inputs = s.settlement_inputs("2025-01", "2025-12").await.expect("inputs");
        assert!(inputs.iter().any(|i| i.case_id == "W1" && !i.payable && i.withheld == "M001,M002"));
        assert_eq!(s.withheld_cases("2025-02", "2025-02", "H1").await.expect("withheld").len(), 1);
        // A version as stored before migration 3: no flag; reading it is refused until filled.
        sqlx::query("UPDATE case_results SET payable = NULL, withheld = NULL WHERE case_version_id = $1")
            .bind(w1[0].id)
            .execute(s.pool())
            .await
            .expect("legacy");
        assert!(matches!(s.case_history("H1", "W1").await, Err(StoreError::Invalid(_))));
        let n = s.backfill_withheld(&|r: &str| r == "M001").await.expect("backfill");
        assert_eq!(n, 1);
        let w1 = s.case_history("H1", "W1").await.expect("history");
        assert_eq!((w1[0].result.payable, w1[0].result.withheld.as_str()), (false, "M001"));
        assert_eq!(s.backfill_withheld(&|_| true).await.expect("again"), 0, "filled once");
        // Special case: approval refused while withheld, unless overridden with a reason.
        let sc = s.apply_special_case(&sys, "H1", "W1", "high_cost", "n", 5).await.expect("apply");
        assert_eq!(sc.latest_withheld, "M001");
        let e = s.review_special_case(&sys, sc.id, true, Some("fee_for_service"), None, "ok", None).await;
        assert!(matches!(&e, Err(StoreError::Conflict(m)) if m.contains("M001") && m.contains("qc_override")), "{e:?}");
        let ok = s
            .review_special_case(&sys, sc.id, true, Some("fee_for_service"), None, "ok", Some("抢救"))
            .await
            .expect("override");
        assert_eq!((ok.qc_override.as_deref(), ok.qc_withheld.as_deref()), (Some("抢救"), Some("M001")));
        let audit = s.audit_log(5).await.expect("audit");
        assert!(audit.iter().any(|a| a.action == "special_case.review" && a.detail["qc_override"] == "抢救"));
        // An override for a payable case is refused (nothing to override).
        let sc2 = s.apply_special_case(&sys, "H1", "W2", "high_cost", "n", 5).await.expect("apply");
        let e = s.review_special_case(&sys, sc2.id, true, Some("fee_for_service"), None, "ok", Some("x")).await;
        assert!(matches!(e, Err(StoreError::Invalid(_))), "{e:?}");
        s.close().await;
        drop_schema(&schema).await;
    }
}

#[tokio::test]
async fn bad_urls_and_schemas_are_refused() {
    assert!(matches!(
        Store::open("mysql://x", None).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        Store::open(PG_URL, Some("bad; drop")).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        Store::open("sqlite::memory:", Some("x")).await,
        Err(StoreError::Invalid(_))
    ));
}
