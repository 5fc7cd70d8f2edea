//! End to end in headless Chromium (Debian's `chromium`): a hospital user logs
//! in, uploads a file and sees its cases grouped, applies for a special case;
//! a reviewer approves it; the administrator runs the year's settlement and
//! the approved case is in it. Then the dashboard is captured
//! (`DRGDIP_SCREENSHOT=path` writes the PNG there; docs/dashboard.png is one).
//!
//! Skips with a printed reason when Chromium is not installed (`.ci/run`
//! installs it). `CHROME=/path` picks another binary.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROME") {
        return Some(PathBuf::from(p));
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Evaluate `expr` until it is truthy; returns its value.
fn wait_js(tab: &Tab, expr: &str, what: &str) -> serde_json::Value {
    let t = Instant::now();
    loop {
        // Values come back as JSON text (evaluate does not return objects by value).
        let v = tab
            .evaluate(
                &format!("(() => {{ try {{ let v = ({expr}); if (v instanceof Node) v = true; return JSON.stringify(v === undefined ? null : v); }} catch (e) {{ return 'null'; }} }})()"),
                false,
            )
            .ok()
            .and_then(|o| o.value)
            .and_then(|v| v.as_str().and_then(|s| serde_json::from_str(s).ok()))
            .unwrap_or(serde_json::Value::Null);
        let truthy = match &v {
            serde_json::Value::Null => false,
            serde_json::Value::Bool(b) => *b,
            serde_json::Value::Number(n) => n.as_f64() != Some(0.0),
            serde_json::Value::String(s) => !s.is_empty(),
            _ => true,
        };
        if truthy {
            return v;
        }
        if t.elapsed() > Duration::from_secs(60) {
            let page = tab
                .evaluate("document.body.innerText", false)
                .ok()
                .and_then(|o| o.value)
                .unwrap_or_default();
            panic!("timed out waiting for {what} ({expr}); page text:\n{page}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn click(tab: &Tab, sel: &str) {
    tab.wait_for_element(sel).unwrap_or_else(|e| panic!("{sel}: {e}")).click().unwrap_or_else(|e| panic!("click {sel}: {e}"));
}

fn type_into(tab: &Tab, sel: &str, text: &str) {
    let el = tab.wait_for_element(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
    el.click().expect("focus");
    el.type_into(text).expect("type");
}

fn login(tab: &Tab, base: &str, user: &str, password: &str) {
    // (After a logout this is a same-document navigation: no load event to wait for.)
    tab.navigate_to(&format!("{base}/ui/#/login")).expect("navigate");
    wait_js(tab, "document.querySelector('#login-user')", "login form");
    type_into(tab, "#login-user", user);
    type_into(tab, "#login-pass", password);
    click(tab, "#login-btn");
    wait_js(tab, &format!("document.querySelector('#who') && document.querySelector('#who').innerText.includes('{user}')"), "signed in");
}

fn logout(tab: &Tab) {
    click(tab, "#logout");
    wait_js(tab, "document.querySelector('#login-user')", "login form after logout");
}

#[test]
fn hospital_uploads_applies_reviewer_approves_settlement_pays() {
    let Some(chrome) = chromium() else {
        eprintln!("skipped: Chromium not found (install Debian's chromium, or set CHROME=/path)");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tmp");
    let (base, demo) = rt.block_on(async {
        let store = store::Store::open_dir(dir.path()).await.expect("store");
        let dicts = Arc::new(synth::demo::dictionaries().expect("dicts"));
        let demo = server::demo::bootstrap(&store, 6, 6_000, Some(dicts.clone()), None).await.expect("demo");
        let run = server::settlement::run_now(&store, &store::Actor::system(), 2025).await.expect("first settlement");
        assert!(run > 0);
        let app = server::app(store, server::Options { dicts: Some(dicts), ..Default::default() }).await.expect("app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await });
        (format!("http://{addr}"), demo)
    });
    let hospital = demo.accounts.iter().find(|a| a.username == "hospital1").expect("hospital1");
    let inst = hospital.institution_id.clone().expect("institution");
    let n_sample = demo.sample_csv.lines().count() - 1;
    assert!(n_sample > 0, "the demo holds back cases to upload");
    // The sample with its first list broken (M001: the cost categories do not sum to
    // the 999,999.99 claimed), and that list corrected (the original) on its own.
    let (broken_csv, fixed_csv, broken_id) = {
        let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(demo.sample_csv.as_bytes());
        let header = r.headers().expect("header").clone();
        let col = |n: &str| header.iter().position(|h| h == n).unwrap_or_else(|| panic!("column {n}"));
        let (tc, cid) = (col("total_cost"), col("case_id"));
        let recs: Vec<csv::StringRecord> = r.records().map(|x| x.expect("record")).collect();
        // The first list that passes the withholding QC rules (with the demo dictionaries, as the service checks).
        let rules = qc::RuleSet::builtin();
        let dicts = synth::demo::dictionaries().expect("dicts");
        let mut reader = claims::import::Reader::open("sample.csv", demo.sample_csv.as_bytes(), None).expect("reader");
        let items: Vec<claims::import::Item> = reader.by_ref().collect();
        let mut checker = qc::Checker::new(&rules, Some(&dicts));
        checker.begin_file(0, reader.header.present);
        let clean = items
            .iter()
            .position(|it| {
                let rec = it.as_ref().expect("readable");
                let mut f = Vec::new();
                checker.check(rec, &mut f);
                rules.withheld_by(&f).is_empty()
            })
            .expect("a sample list that passes QC");
        assert_eq!(items.len(), recs.len());
        let write = |rows: &[csv::StringRecord]| {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(&header).expect("header");
            for x in rows {
                w.write_record(x).expect("row");
            }
            String::from_utf8(w.into_inner().expect("csv")).expect("utf-8")
        };
        let mut broken = recs.clone();
        broken[clean] = broken[clean].iter().enumerate().map(|(i, v)| if i == tc { "999999.99" } else { v }).collect();
        (write(&broken), write(&recs[clean..=clean]), recs[clean][cid].to_owned())
    };
    let sample = dir.path().join("upload-sample.csv");
    std::fs::write(&sample, &broken_csv).expect("sample");
    let corrected = dir.path().join("upload-corrected.csv");
    std::fs::write(&corrected, &fixed_csv).expect("corrected");

    let profile = tempfile::tempdir().expect("profile");
    let args: Vec<&OsStr> = [
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ]
    .iter()
    .map(OsStr::new)
    .collect();
    let browser = Browser::new(
        LaunchOptions::default_builder()
            .path(Some(chrome))
            .headless(true)
            .sandbox(false)
            .window_size(Some((1400, 1100)))
            .user_data_dir(Some(profile.path().to_path_buf()))
            .args(args)
            .idle_browser_timeout(Duration::from_secs(300))
            .build()
            .expect("options"),
    )
    .expect("launch chromium");
    let tab = browser.new_tab().expect("tab");
    tab.set_default_timeout(Duration::from_secs(60));

    // 1. The hospital user uploads a file and sees its cases grouped.
    login(&tab, &base, "hospital1", &hospital.password);
    tab.navigate_to(&format!("{base}/ui/#/upload")).expect("upload page");
    let input = tab.wait_for_element("#upload-file").expect("file input");
    input.set_input_files(&[sample.to_str().expect("utf-8 path")]).expect("choose file");
    click(&tab, "#upload-btn");
    let summary = wait_js(&tab, "document.querySelector('#upload-summary').innerText", "upload summary");
    assert!(summary.as_str().unwrap_or("").contains(&format!("接收 {n_sample} 条")), "{summary}");
    let drgs = wait_js(
        &tab,
        "[...document.querySelectorAll('#upload-cases tbody tr')].map(r => r.children[2].innerText)",
        "grouped cases",
    );
    let drgs: Vec<String> = serde_json::from_value(drgs).expect("drgs");
    assert_eq!(drgs.len(), n_sample);
    let grouped = drgs.iter().filter(|d| d.len() == 4 && !d.starts_with("0000")).count();
    assert!(grouped * 10 >= n_sample * 8, "most uploaded cases are grouped: {drgs:?}");
    // The broken list: grouped, but 暂缓支付 with the rule and what to fix.
    let held = wait_js(
        &tab,
        &format!("[...document.querySelectorAll('#upload-withheld tbody tr')].filter(r => r.innerText.includes('{broken_id}')).map(r => r.innerText)[0]"),
        "the withheld list in the upload answer",
    );
    let held = held.as_str().unwrap_or("").to_owned();
    assert!(held.contains("M001"), "{held}");
    let status = wait_js(
        &tab,
        &format!("[...document.querySelectorAll('#upload-cases tbody tr')].filter(r => r.innerText.includes('{broken_id}')).map(r => r.innerText)[0]"),
        "the broken case's row",
    );
    assert!(status.as_str().unwrap_or("").contains("暂缓支付"), "{status}");
    let summary_text = wait_js(&tab, "document.querySelector('#upload-summary').innerText", "summary");
    assert!(summary_text.as_str().unwrap_or("").contains("暂缓支付"), "{summary_text}");

    // 2. Open the first grouped case, see its trace and points, apply for a special case.
    let case_id: String = serde_json::from_value(wait_js(
        &tab,
        "[...document.querySelectorAll('#upload-cases tbody tr')].find(r => r.children[2].innerText.length === 4 && !r.children[2].innerText.startsWith('0000') && !r.innerText.includes('暂缓支付')).querySelector('a').innerText",
        "a grouped case",
    ))
    .expect("case id");
    tab.navigate_to(&format!("{base}/ui/#/case/{inst}/{case_id}")).expect("case page");
    wait_js(&tab, "document.querySelector('#trace') && document.querySelector('#trace').innerText.length > 10", "trace");
    wait_js(&tab, "document.querySelector('#points-breakdown').innerText.includes('总点数')", "points breakdown");
    type_into(&tab, "#sc-note", "ECMO 支持，多学科会诊");
    click(&tab, "#sc-apply");
    wait_js(&tab, "document.querySelector('#case-special') && document.querySelector('#case-special').innerText.includes('待审核')", "pending application");
    // Its case page says why and what to fix.
    tab.navigate_to(&format!("{base}/ui/#/case/{inst}/{broken_id}")).expect("case page");
    let why: String = serde_json::from_value(wait_js(&tab, "document.querySelector('#case-withheld').innerText", "why it is withheld")).expect("text");
    assert!(why.contains("暂缓支付") && why.contains("M001") && why.contains("更正"), "{why}");
    let fix = wait_js(&tab, "document.querySelectorAll('#case-withheld-fix li').length", "what to fix");
    assert!(fix.as_u64() >= Some(1), "{fix}");
    let est: String = serde_json::from_value(wait_js(&tab, "document.querySelector('#case-estimate').innerText", "estimate derivation")).expect("text");
    assert!(est.contains("预估点值") && est.contains("折算率"), "the case page shows the estimate's derivation: {est}");
    // The hospital's monthly feedback (月度反馈) from the monitor.
    tab.navigate_to(&format!("{base}/ui/#/reports")).expect("reports");
    wait_js(&tab, "document.querySelector('#report-show')", "report form");
    click(&tab, "#report-show");
    wait_js(&tab, &format!("document.querySelector('#report-frame').srcdoc.includes('{inst}')"), "the monthly feedback of the hospital");
    logout(&tab);

    // 3. The reviewer approves it.
    let reviewer = demo.accounts.iter().find(|a| a.username == "reviewer").expect("reviewer");
    login(&tab, &base, "reviewer", &reviewer.password);
    tab.navigate_to(&format!("{base}/ui/#/special")).expect("queue");
    let sc_id = wait_js(
        &tab,
        &format!("[...document.querySelectorAll('#special-list tbody tr')].filter(r => r.innerText.includes('{case_id}')).map(r => r.querySelector('button[data-approve]').getAttribute('data-approve'))[0]"),
        "the application in the review queue",
    );
    let sc_id = sc_id.as_str().expect("id").to_owned();
    type_into(&tab, &format!("input.sc-comment[data-id='{sc_id}']"), "同意，按项目付费");
    click(&tab, &format!("button[data-approve='{sc_id}']"));
    wait_js(&tab, &format!("!document.querySelector(\"button[data-approve='{sc_id}']\")"), "the queue without the approved application");
    logout(&tab);

    // 4. The administrator runs the settlement: the approved case is in it.
    let admin = demo.accounts.iter().find(|a| a.username == "admin").expect("admin");
    login(&tab, &base, "admin", &admin.password);
    tab.navigate_to(&format!("{base}/ui/#/settlement")).expect("settlement page");
    let year = tab.wait_for_element("#settle-year").expect("year");
    year.click().expect("focus");
    tab.evaluate("document.querySelector('#settle-year').value = '2025'", false).expect("year");
    click(&tab, "#settle-start");
    wait_js(
        &tab,
        &format!("document.querySelector('#run-special') && document.querySelector('#run-special').innerText.includes('{case_id}')"),
        "the approved special case in the new settlement",
    );
    let special_text: String = serde_json::from_value(wait_js(&tab, "document.querySelector('#run-special').innerText", "special rows")).expect("text");
    assert!(special_text.contains("按项目付费"), "{special_text}");
    // The broken list is not paid: listed among the withheld cases with its rule.
    let wrow = wait_js(
        &tab,
        &format!("[...document.querySelectorAll('#run-withheld tbody tr')].filter(r => r.innerText.includes('{broken_id}')).map(r => r.innerText)[0]"),
        "the broken case among the withheld cases of the run",
    );
    assert!(wrow.as_str().unwrap_or("").contains("M001"), "{wrow}");
    wait_js(&tab, "document.querySelector('#run-identity') && document.querySelector('#run-identity').innerText.includes('OK')", "the budget identity");
    let first_run = wait_js(&tab, "document.querySelector('#runs tbody tr a').innerText", "the run id");
    let cases_first: u64 = wait_js(&tab, "document.querySelector('#runs tbody tr').children[3].innerText", "cases settled")
        .as_str()
        .and_then(|t| t.replace(',', "").parse().ok())
        .expect("cases");
    logout(&tab);

    // 4b. The hospital uploads the corrected list (same case id): payable, version 2.
    login(&tab, &base, "hospital1", &hospital.password);
    tab.navigate_to(&format!("{base}/ui/#/upload")).expect("upload page");
    let input = tab.wait_for_element("#upload-file").expect("file input");
    input.set_input_files(&[corrected.to_str().expect("utf-8 path")]).expect("choose file");
    click(&tab, "#upload-btn");
    let row = wait_js(
        &tab,
        &format!("[...document.querySelectorAll('#upload-cases tbody tr')].filter(r => r.innerText.includes('{broken_id}')).map(r => r.innerText)[0]"),
        "the corrected case",
    );
    let row = row.as_str().unwrap_or("").to_owned();
    assert!(row.contains("可支付") && !row.contains("暂缓支付"), "{row}");
    tab.navigate_to(&format!("{base}/ui/#/case/{inst}/{broken_id}")).expect("case page");
    wait_js(&tab, "document.querySelector('#case-group') && document.querySelector('#case-group').innerText.includes('可支付')", "payable on the case page");
    assert!(wait_js(&tab, "!document.querySelector('#case-withheld')", "no withheld banner").as_bool() == Some(true));
    logout(&tab);

    // 4c. The next run pays it: no longer withheld, one more case settled.
    login(&tab, &base, "admin", &admin.password);
    tab.navigate_to(&format!("{base}/ui/#/settlement")).expect("settlement page");
    tab.wait_for_element("#settle-year").expect("year");
    tab.evaluate("document.querySelector('#settle-year').value = '2025'", false).expect("year");
    click(&tab, "#settle-start");
    wait_js(
        &tab,
        &format!("document.querySelector('#run-detail') && !document.querySelector('#run-detail h2').innerText.includes('第 {} 次')", first_run.as_str().unwrap_or("")),
        "the new run",
    );
    wait_js(&tab, "document.querySelector('#run-identity')", "the new run's identity");
    let still = wait_js(
        &tab,
        &format!("[...document.querySelectorAll('#run-withheld tbody tr')].some(r => r.innerText.includes('{broken_id}')) ? 'yes' : 'no'"),
        "withheld list of the new run",
    );
    assert_eq!(still.as_str(), Some("no"), "the corrected case is paid");
    let cases_second: u64 = wait_js(&tab, "document.querySelector('#runs tbody tr').children[3].innerText", "cases settled")
        .as_str()
        .and_then(|t| t.replace(',', "").parse().ok())
        .expect("cases");
    assert_eq!(cases_second, cases_first + 1, "exactly the corrected case joins the paid cases");

    // 5. The dashboard: numbers, both charts, the institutions table.
    tab.navigate_to(&format!("{base}/ui/#/dashboard")).expect("dashboard");
    wait_js(&tab, "document.querySelector('#chart-monthly svg') && document.querySelector('#chart-point-values svg circle')", "both charts");
    let cases = wait_js(&tab, "document.querySelector('#kpi-cases').innerText", "case count");
    assert_ne!(cases.as_str(), Some("0"));
    let rows = wait_js(&tab, "document.querySelectorAll('#institutions tbody tr').length", "institutions");
    assert_eq!(rows.as_u64(), Some(6));
    let png = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"));
    if let Some(p) = std::env::var_os("DRGDIP_SCREENSHOT") {
        std::fs::write(&p, &png).expect("write screenshot");
        eprintln!("dashboard screenshot: {}", PathBuf::from(p).display());
    }
    drop(tab);
    drop(browser);
    rt.shutdown_timeout(Duration::from_secs(2));
}
