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
        let demo = server::demo::bootstrap(&store, 6, 6_000, Some(dicts.clone())).await.expect("demo");
        let run = server::settlement::run_now(&store, &store::Actor::system(), 2025).await.expect("first settlement");
        assert!(run > 0);
        let app = server::app(store, server::Options { point_value: None, dicts: Some(dicts) }).await.expect("app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), demo)
    });
    let hospital = demo.accounts.iter().find(|a| a.username == "hospital1").expect("hospital1");
    let inst = hospital.institution_id.clone().expect("institution");
    let sample = dir.path().join("upload-sample.csv");
    std::fs::write(&sample, &demo.sample_csv).expect("sample");
    let n_sample = demo.sample_csv.lines().count() - 1;
    assert!(n_sample > 0, "the demo holds back cases to upload");

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

    // 2. Open the first grouped case, see its trace and points, apply for a special case.
    let case_id: String = serde_json::from_value(wait_js(
        &tab,
        "[...document.querySelectorAll('#upload-cases tbody tr')].find(r => r.children[2].innerText.length === 4 && !r.children[2].innerText.startsWith('0000')).querySelector('a').innerText",
        "a grouped case",
    ))
    .expect("case id");
    tab.navigate_to(&format!("{base}/ui/#/case/{inst}/{case_id}")).expect("case page");
    wait_js(&tab, "document.querySelector('#trace') && document.querySelector('#trace').innerText.length > 10", "trace");
    wait_js(&tab, "document.querySelector('#points-breakdown').innerText.includes('总点数')", "points breakdown");
    type_into(&tab, "#sc-note", "ECMO 支持，多学科会诊");
    click(&tab, "#sc-apply");
    wait_js(&tab, "document.querySelector('#case-special') && document.querySelector('#case-special').innerText.includes('待审核')", "pending application");
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
