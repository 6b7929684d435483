//! The UI in a real headless Chromium (Debian's `chromium` + `chromium-driver`, over WebDriver):
//! login, dashboard counts, filters kept in the URL, event page, live tail, export, logout, and
//! alert text that tries to be HTML staying text. Fails loudly when the browser is missing
//! (scripts/setup-tests.sh installs it).

use fantoccini::{ClientBuilder, Locator};
use harrier_store::{SqliteStore, Store};
use harrier_ui::UiConfig;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "browser-test-password-1";

struct Driver(Child, tempfile::TempDir);
impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_driver() -> (Driver, String) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver not found: install chromium and chromium-driver (scripts/setup-tests.sh)");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (Driver(child, tempfile::tempdir().unwrap()), url)
}

/// The alerts' event time: an hour before the test started (the dashboard shows the last 24 h).
fn event_time() -> &'static str {
    static T: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
    })
}

fn alert(rule: &str, prio: &str, output: &str, fields: Value) -> Value {
    json!({"event": {"time": event_time(), "rule": rule, "priority": prio, "source": "syscall",
        "tags": ["t1"], "output": output, "output_fields": fields, "hostname": "node-b"}, "outputs": ["WebUI"]})
}

async fn ingest(base: &str, body: &Value) {
    let r = reqwest::Client::new().post(format!("{base}/api/v1/events/add")).json(body).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

async fn browser(driver: &Driver, wd: &str) -> fantoccini::Client {
    let profile = driver.1.path().to_str().unwrap().to_string();
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), json!({"binary": "/usr/bin/chromium", "args": [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", format!("--user-data-dir={profile}")]}));
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(wd)
        .await
        .expect("WebDriver session")
}

async fn wait_ready(c: &fantoccini::Client) {
    c.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("body[data-ready='1']"))
        .await
        .expect("page ready");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ui_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("b.db").to_str().unwrap()).unwrap());
    harrier_ui::ensure_admin(store.as_ref(), Some(PASSWORD.into())).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let s: Arc<dyn Store> = store.clone();
    tokio::spawn(harrier_ui::serve(s, listener, UiConfig::default()));

    // Known data: 3 Notice, 2 Warning, 1 Critical; one alert is hostile HTML.
    for i in 0..3 {
        ingest(&base, &alert("Terminal shell in container", "Notice", &format!("shell number {i}"),
            json!({"proc.name": "bash", "proc.pname": "containerd-shim", "proc.aname[2]": "systemd", "container.id": "c0ffee", "container.name": "web", "k8s.ns.name": "prod", "k8s.pod.name": "web-7"}))).await;
    }
    ingest(
        &base,
        &alert("Read sensitive file", "Warning", "opened /etc/shadow", json!({"fd.name": "/etc/shadow"})),
    )
    .await;
    ingest(
        &base,
        &alert("Read sensitive file", "Warning", "opened /etc/gshadow", json!({"fd.name": "/etc/gshadow"})),
    )
    .await;
    let hostile = "<script>window.__xss='script'</script><img src=x onerror=\"window.__xss='onerror'\">";
    ingest(
        &base,
        &alert(
            "Hostile <b>rule</b>",
            "Critical",
            hostile,
            json!({"proc.cmdline": hostile, "fd.name": "<img src=y onerror=window.__xss=1>"}),
        ),
    )
    .await;

    let (driver, wd) = start_driver().await;
    let c = browser(&driver, &wd).await;
    let ready = |c: &fantoccini::Client| {
        let c = c.clone();
        async move {
            c.wait()
                .at_most(Duration::from_secs(20))
                .for_element(Locator::Css("body[data-ready='1']"))
                .await
                .expect("page ready");
        }
    };
    let text = |c: &fantoccini::Client, css: &'static str| {
        let c = c.clone();
        async move { c.find(Locator::Css(css)).await.unwrap().text().await.unwrap() }
    };

    // An unauthenticated visit lands on the login page.
    c.goto(&format!("{base}/events?priority=Warning")).await.unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/login");
    // A wrong password (no default credentials) stays on the login page with an error.
    c.find(Locator::Id("user")).await.unwrap().send_keys("admin").await.unwrap();
    c.find(Locator::Id("password")).await.unwrap().send_keys("admin").await.unwrap();
    c.find(Locator::Id("login")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Css("#login-error:not([hidden])")).await.unwrap();

    // Log in: back to where we were going.
    c.goto(&format!("{base}/login?next=%2F")).await.unwrap();
    c.find(Locator::Id("user")).await.unwrap().send_keys("admin").await.unwrap();
    c.find(Locator::Id("password")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    c.find(Locator::Id("login")).await.unwrap().click().await.unwrap();
    ready(&c).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/");
    // Dashboard counts match what was ingested.
    assert_eq!(text(&c, "#total").await, "6");
    let prio = |p: &'static str| {
        let c = c.clone();
        async move {
            let css = format!("#top-priority li[data-key='{p}']");
            c.find(Locator::Css(&css)).await.unwrap().attr("data-count").await.unwrap().unwrap()
        }
    };
    assert_eq!(prio("Notice").await, "3");
    assert_eq!(prio("Warning").await, "2");
    assert_eq!(prio("Critical").await, "1");
    let bars: i64 = c
        .execute("return [...document.querySelectorAll('#chart-svg rect')].reduce((a, r) => a + Number(r.getAttribute('data-count')), 0)", vec![])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    assert_eq!(bars, 6, "the chart's bars add up to the total");

    // Filter by minimum priority through the form; the filter lands in the URL.
    c.goto(&format!("{base}/events")).await.unwrap();
    ready(&c).await;
    let sel = c.find(Locator::Id("f-priority")).await.unwrap();
    sel.select_by_value("Warning").await.unwrap();
    c.find(Locator::Id("apply")).await.unwrap().click().await.unwrap();
    c.wait().for_url(url::Url::parse(&format!("{base}/events?priority=Warning")).unwrap()).await.unwrap();
    ready(&c).await;
    assert_eq!(
        c.find(Locator::Id("count")).await.unwrap().attr("data-total").await.unwrap().as_deref(),
        Some("3")
    );
    assert_eq!(c.find_all(Locator::Css("#events-body tr")).await.unwrap().len(), 3);
    // Free text.
    c.goto(&format!("{base}/events?q=gshadow")).await.unwrap();
    ready(&c).await;
    assert_eq!(c.find_all(Locator::Css("#events-body tr")).await.unwrap().len(), 1);
    assert_eq!(
        c.find(Locator::Id("f-q")).await.unwrap().prop("value").await.unwrap().as_deref(),
        Some("gshadow")
    );

    // Open an event: fields, ancestry, container and pod, raw JSON, similar events.
    c.goto(&format!("{base}/events?rule=Terminal%20shell%20in%20container")).await.unwrap();
    ready(&c).await;
    c.find(Locator::Css("#events-body tr a")).await.unwrap().click().await.unwrap();
    ready(&c).await;
    assert_eq!(text(&c, "#ev-title").await, "Terminal shell in container");
    let anc = text(&c, "#ev-ancestry").await;
    assert!(anc.contains("bash") && anc.contains("containerd-shim") && anc.contains("systemd"), "{anc}");
    let ct = text(&c, "#ev-container").await;
    assert!(ct.contains("web-7") && ct.contains("prod"), "{ct}");
    assert!(text(&c, "#ev-raw").await.contains("\"rule\": \"Terminal shell in container\""));
    assert_eq!(c.find_all(Locator::Css("#ev-similar tr")).await.unwrap().len(), 2);
    // Acknowledge with a note (CSRF token sent by the page).
    c.find(Locator::Id("ack-note")).await.unwrap().send_keys("expected: debugging session").await.unwrap();
    c.find(Locator::Id("ack-submit")).await.unwrap().click().await.unwrap();
    c.wait()
        .for_element(Locator::XPath("//p[@id='ack-state' and contains(., 'expected: debugging session')]"))
        .await
        .unwrap();
    c.refresh().await.unwrap();
    ready(&c).await;
    assert!(text(&c, "#ack-state").await.contains("Acknowledged by admin"));

    // Hostile alert text renders as text, and nothing runs.
    for page in ["/events", "/events?priority=Critical", "/live", "/groups", "/"] {
        c.goto(&format!("{base}{page}")).await.unwrap();
        ready(&c).await;
        let xss = c.execute("return window.__xss === undefined && document.querySelectorAll('img').length === 0 && document.querySelectorAll('script').length === 1", vec![]).await.unwrap();
        assert_eq!(xss, json!(true), "on {page}");
    }
    c.goto(&format!("{base}/events?priority=Critical")).await.unwrap();
    ready(&c).await;
    let out = text(&c, "#events-body td.output").await;
    assert_eq!(out, hostile, "shown literally");
    c.find(Locator::Css("#events-body tr a")).await.unwrap().click().await.unwrap();
    ready(&c).await;
    assert_eq!(text(&c, "#ev-title").await, "Hostile <b>rule</b>");
    assert_eq!(text(&c, "#ev-output").await, hostile);
    assert_eq!(
        c.execute(
            "return window.__xss === undefined && document.querySelectorAll('img,b').length === 0",
            vec![]
        )
        .await
        .unwrap(),
        json!(true)
    );

    // Live tail: a new alert shows up within two seconds, pushed by the server (server-sent
    // events, no polling).
    c.goto(&format!("{base}/live")).await.unwrap();
    ready(&c).await;
    c.wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::XPath("//span[@id='live-state'][starts-with(text(),'live (streaming)')]"))
        .await
        .expect("the live tail opens its event stream");
    let t0 = Instant::now();
    ingest(&base, &alert("Fresh alert for live tail", "Error", "fresh", json!({}))).await;
    c.wait()
        .at_most(Duration::from_secs(2))
        .every(Duration::from_millis(50))
        .for_element(Locator::XPath(
            "//tbody[@id='live-body']/tr[1]/td/a[text()='Fresh alert for live tail']",
        ))
        .await
        .unwrap_or_else(|_| panic!("not in live tail after {:?}", t0.elapsed()));
    // An alert stored by another writer (a `harrier run` store sink on the same database, not
    // this server's ingest) is pushed as well.
    let t0 = Instant::now();
    let mut other = harrier_sinks::test_alert();
    other.rule = "Stored by another writer".into();
    other.priority = harrier_rules::Priority::Notice; // below the export check's filter
    other.time_ns = harrier_store::now_ns();
    {
        let st = store.clone();
        tokio::task::spawn_blocking(move || st.insert(&[other]).unwrap()).await.unwrap();
    }
    c.wait()
        .at_most(Duration::from_secs(2))
        .every(Duration::from_millis(50))
        .for_element(Locator::XPath("//tbody[@id='live-body']/tr[1]/td/a[text()='Stored by another writer']"))
        .await
        .unwrap_or_else(|_| panic!("other writer's alert not in live tail after {:?}", t0.elapsed()));
    // Nothing polled: the page fetched the event list once, then only holds its stream open.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let fetches = c
        .execute(
            "return performance.getEntriesByType('resource').filter(e => e.name.includes('/api/v1/events?')).length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(fetches, json!(1), "the live tail polls the event list");

    // Export of the current filter, as the browser downloads it (session cookie).
    c.goto(&format!("{base}/events?priority=Warning")).await.unwrap();
    ready(&c).await;
    let href = c.find(Locator::Id("export-jsonl")).await.unwrap().attr("href").await.unwrap().unwrap();
    assert!(href.contains("priority=Warning") && href.contains("format=jsonl"), "{href}");
    let lines = c
        .execute_async(
            "const done = arguments[arguments.length - 1]; fetch(arguments[0]).then(r => r.text()).then(t => done(t.trim().split('\\n').map(l => JSON.parse(l).priority)))",
            vec![json!(href)],
        )
        .await
        .unwrap();
    let mut prios: Vec<String> = serde_json::from_value(lines).unwrap();
    prios.sort();
    assert_eq!(prios, ["Critical", "Error", "Warning", "Warning"]);
    let csv_href = c.find(Locator::Id("export-csv")).await.unwrap().attr("href").await.unwrap().unwrap();
    let csv = c
        .execute_async("const done = arguments[arguments.length - 1]; fetch(arguments[0]).then(r => r.text()).then(done)", vec![json!(csv_href)])
        .await
        .unwrap();
    assert_eq!(csv.as_str().unwrap().trim().lines().count(), 5);

    // Log out; the session is gone, pages go back to the login page.
    c.find(Locator::Id("logout")).await.unwrap().click().await.unwrap();
    c.wait().for_url(url::Url::parse(&format!("{base}/login")).unwrap()).await.unwrap();
    c.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/login");
    c.close().await.unwrap();
}

/// Paging by the keyset cursor over more alerts than the store counts (12,050 > 10,000): the
/// links carry `before=`, the range text goes past 10,000, "Older" disappears on the last page,
/// and "Newer" walks back to the same pages.
#[tokio::test(flavor = "multi_thread")]
async fn pages_by_cursor_past_ten_thousand() {
    const N: u64 = 12_050;
    const LIMIT: usize = 4_000;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("p.db").to_str().unwrap()).unwrap());
    harrier_ui::ensure_admin(store.as_ref(), Some(PASSWORD.into())).unwrap();
    let t0 = 1_780_000_000_000_000_000u64;
    let alerts: Vec<harrier_engine::Alert> = (0..N)
        .map(|i| harrier_engine::Alert {
            time_ns: t0 + i * 1_000_000,
            rule: "Paged rule".into(),
            priority: harrier_rules::Priority::Notice,
            source: "syscall".into(),
            tags: vec![],
            output: format!("alert number {i}"),
            output_fields: Default::default(),
            hostname: "node-p".into(),
        })
        .collect();
    let mut ids = Vec::new();
    for chunk in alerts.chunks(2_000) {
        ids.extend(store.insert(chunk).unwrap());
    }
    // Newest first: row k of the whole list is ids[N-1-k].
    let row = |k: usize| ids[ids.len() - 1 - k].to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let s: Arc<dyn Store> = store.clone();
    tokio::spawn(harrier_ui::serve(s, listener, UiConfig::default()));

    let (driver, wd) = start_driver().await;
    let c = browser(&driver, &wd).await;
    c.goto(&format!("{base}/login?next=%2Fevents%3Flimit%3D{LIMIT}")).await.unwrap();
    c.find(Locator::Id("user")).await.unwrap().send_keys("admin").await.unwrap();
    c.find(Locator::Id("password")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    c.find(Locator::Id("login")).await.unwrap().click().await.unwrap();
    wait_ready(&c).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/events");

    // (range text, first row, whether "Older" is shown) of the page in the browser.
    let state = || {
        let c = c.clone();
        async move {
            let range = c.find(Locator::Id("page")).await.unwrap().text().await.unwrap();
            let first = c
                .find(Locator::Css("#events-body tr"))
                .await
                .unwrap()
                .attr("data-id")
                .await
                .unwrap()
                .unwrap();
            let rows = c.find_all(Locator::Css("#events-body tr")).await.unwrap().len();
            let older = c.find(Locator::Id("next")).await.unwrap().is_displayed().await.unwrap();
            let newer = c.find(Locator::Id("prev")).await.unwrap().is_displayed().await.unwrap();
            (range, first, rows, older, newer)
        }
    };

    assert_eq!(state().await, ("1–4,000 of 10,000+".to_string(), row(0), LIMIT, true, false));
    let mut seen = vec![];
    for (page, want) in [(2, "4,001–8,000 of 10,000+"), (3, "8,001–12,000 of 12,000+")] {
        let href = c.find(Locator::Id("next")).await.unwrap().attr("href").await.unwrap().unwrap();
        assert!(href.contains("before="), "page {page}: {href}");
        assert!(!href.contains("offset="), "page {page}: {href}");
        c.find(Locator::Id("next")).await.unwrap().click().await.unwrap();
        wait_for_first_row(&c, &row((page - 1) * LIMIT)).await;
        assert_eq!(
            state().await,
            (want.to_string(), row((page - 1) * LIMIT), LIMIT, true, true),
            "page {page}"
        );
        seen.push(c.current_url().await.unwrap());
    }
    // The last page: 50 rows, the count now exact, no "Older".
    c.find(Locator::Id("next")).await.unwrap().click().await.unwrap();
    wait_for_first_row(&c, &row(3 * LIMIT)).await;
    assert_eq!(state().await, ("12,001–12,050 of 12,050".to_string(), row(3 * LIMIT), 50, false, true));
    // And back by the "Newer" links: page 3, 2, 1, the same rows.
    for page in [3usize, 2, 1] {
        c.find(Locator::Id("prev")).await.unwrap().click().await.unwrap();
        wait_for_first_row(&c, &row((page - 1) * LIMIT)).await;
        let (range, first, rows, older, newer) = state().await;
        assert_eq!(
            (first, rows, older, newer),
            (row((page - 1) * LIMIT), LIMIT, true, page > 1),
            "page {page}"
        );
        assert!(
            range.starts_with(&format!("{}–", ["1", "4,001", "8,001"][page - 1])),
            "page {page}: {range}"
        );
        if page >= 2 {
            assert_eq!(c.current_url().await.unwrap(), seen[page - 2], "page {page}");
        }
    }
    // The export link walks the whole filter (not the page), here all 12,050 alerts.
    let href = c.find(Locator::Id("export-jsonl")).await.unwrap().attr("href").await.unwrap().unwrap();
    assert!(!href.contains("before=") && !href.contains("limit="), "{href}");
    let cookies = c.get_all_cookies().await.unwrap();
    let cookie: Vec<String> = cookies.iter().map(|k| format!("{}={}", k.name(), k.value())).collect();
    let body = reqwest::Client::new()
        .get(format!("{base}{href}"))
        .header("cookie", cookie.join("; "))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), N as usize);
    assert_eq!(lines[0]["output"], format!("alert number {}", N - 1));
    assert_eq!(lines[N as usize - 1]["output"], "alert number 0");
    // falcosidekick-ui's search answers with the same capped total (counting stops at 10,000).
    let sk: Value = reqwest::Client::new()
        .get(format!("{base}/api/v1/events/search?limit=5&page=3"))
        .header("cookie", cookie.join("; "))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sk["statistics"]["all"], 10_000);
    assert_eq!(sk["statistics"]["returned"], 5);
    assert_eq!(sk["results"]["0"]["id"].to_string(), row(10));
    c.close().await.unwrap();
}

/// Wait until the events table's first row is alert `id` (the page after a click has loaded).
async fn wait_for_first_row(c: &fantoccini::Client, id: &str) {
    let css = format!("body[data-ready='1'] #events-body tr:first-child[data-id='{id}']");
    c.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(&css))
        .await
        .unwrap_or_else(|e| panic!("row {id}: {e}"));
}
