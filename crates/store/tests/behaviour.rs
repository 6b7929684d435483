//! The store's behaviour: one test body per behaviour, run against both backends — SQLite in a
//! private temp dir and a real PostgreSQL server started by the test (`harrier_store::pgserver`:
//! initdb + pg_ctl on a private data dir, Unix socket only, one fresh database per test).

use harrier_engine::Alert;
use harrier_rules::Priority;
use harrier_store::{GroupBy, Query, Retention, SqliteStore, Store};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

fn alert(t: u64, rule: &str, p: Priority, fields: serde_json::Value, output: &str, tags: &[&str]) -> Alert {
    let output_fields: BTreeMap<String, serde_json::Value> =
        fields.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    Alert {
        time_ns: t,
        rule: rule.into(),
        priority: p,
        source: "syscall".into(),
        tags: tags.iter().map(|s| s.to_string()).collect(),
        output: output.into(),
        output_fields,
        hostname: "node-a".into(),
    }
}

const T0: u64 = 1_700_000_000_000_000_000;

fn sample() -> Vec<Alert> {
    vec![
        alert(
            T0,
            "Terminal shell in container",
            Priority::Notice,
            json!({"container.id":"abc123","container.name":"web","k8s.ns.name":"prod","k8s.pod.name":"web-1","proc.name":"bash","user.name":"root","container.image.repository":"nginx","container.image.tag":"1.25"}),
            "A shell was spawned in a container (user=root shell=bash)",
            &["container", "shell", "mitre_execution"],
        ),
        alert(
            T0 + 1_000,
            "Terminal shell in container",
            Priority::Notice,
            json!({"container.id":"abc123","container.name":"web","k8s.ns.name":"prod","k8s.pod.name":"web-1","proc.name":"sh","user.name":"root"}),
            "A shell was spawned in a container (user=root shell=sh)",
            &["container", "shell"],
        ),
        alert(
            T0 + 2_000,
            "Read sensitive file untrusted",
            Priority::Warning,
            json!({"fd.name":"/etc/shadow","proc.name":"cat","user.name":"alice","container.id":"host"}),
            "Sensitive file opened for reading (file=/etc/shadow)",
            &["filesystem"],
        ),
        alert(
            T0 + 3_000,
            "Write below etc",
            Priority::Error,
            json!({"fd.name":"/etc/passwd","proc.name":"vi","user.name":"bob"}),
            "File below /etc opened for writing (file=/etc/passwd)",
            &["filesystem", "mitre_persistence"],
        ),
        alert(T0 + 4_000, "Debug rule", Priority::Debug, json!({}), "debugging", &[]),
    ]
}

/// A fresh database of one backend.
struct Db {
    _dir: Option<tempfile::TempDir>,
    url: String,
}

impl Db {
    fn new(backend: &str) -> Db {
        match backend {
            "sqlite" => {
                let d = tempfile::tempdir().unwrap();
                let url = format!("sqlite:{}", d.path().join("a.db").display());
                Db { _dir: Some(d), url }
            }
            _ => Db { _dir: None, url: harrier_store::pgserver::shared().new_database().unwrap() },
        }
    }
    fn open(&self) -> Box<dyn Store> {
        harrier_store::open(&self.url).unwrap_or_else(|e| panic!("{}: {e}", self.url))
    }
}

/// `both!(name)`: tests `name::sqlite` and `name::postgres` run `fn name(&dyn Store, &Db)`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                let db = super::Db::new("sqlite");
                let s = db.open();
                super::$name(s.as_ref(), &db);
            }
            #[test]
            fn postgres() {
                let db = super::Db::new("postgres");
                let s = db.open();
                super::$name(s.as_ref(), &db);
            }
        }
    )*};
}

both!(
    insert_query_newest_first_and_json_shape,
    priority_means_this_or_more_severe,
    column_filters_tags_time_and_paging,
    free_text_over_output_and_fields,
    injection_attempts_are_plain_values,
    counts_histogram_groups_and_ack,
    retention_by_age_and_size,
    accounts_sessions_tokens,
    reopen_keeps_data_and_schema,
    any_of_lists,
    several_writers_at_once,
    odd_text_is_kept,
    keyset_paging_and_capped_total,
    dense_text_pages_are_the_unwindowed_answer,
    counts_per_minute_answer_as_the_alerts_do,
);

fn rules(p: &harrier_store::Page) -> Vec<String> {
    p.events.iter().map(|e| e.alert["rule"].as_str().unwrap().to_string()).collect()
}

fn insert_query_newest_first_and_json_shape(s: &dyn Store, _db: &Db) {
    assert_eq!(s.max_id().unwrap(), 0);
    let ids = s.insert(&sample()).unwrap();
    assert_eq!(s.max_id().unwrap(), ids[4]);
    assert_eq!(ids.len(), 5);
    let p = s.query(&Query::new()).unwrap();
    assert_eq!(p.total, 5);
    assert_eq!(rules(&p)[0], "Debug rule");
    assert_eq!(rules(&p)[4], "Terminal shell in container");
    let first = &p.events[4].alert;
    assert_eq!(first["priority"], "Notice");
    assert_eq!(first["output_fields"]["proc.name"], "bash");
    assert_eq!(first["tags"], json!(["container", "mitre_execution", "shell"]));
    assert!(first["time"].as_str().unwrap().starts_with("2023-11-14T22:13:20"));
    // The stored JSON parses back as Falco's alert.
    let back = harrier_store::parse_alert(first).unwrap();
    assert_eq!(back.time_ns, T0);
    assert_eq!(s.get(ids[0]).unwrap().unwrap().alert, *first);
    assert!(s.get(9999).unwrap().is_none());
}

fn priority_means_this_or_more_severe(s: &dyn Store, _db: &Db) {
    s.insert(&sample()).unwrap();
    let mut q = Query::new();
    q.min_priority = Some(Priority::Warning);
    assert_eq!(rules(&s.query(&q).unwrap()), vec!["Write below etc", "Read sensitive file untrusted"]);
    q.min_priority = Some(Priority::Notice);
    assert_eq!(s.count(&q).unwrap(), 4);
    q.min_priority = Some(Priority::Emergency);
    assert_eq!(s.count(&q).unwrap(), 0);
}

fn column_filters_tags_time_and_paging(s: &dyn Store, _db: &Db) {
    s.insert(&sample()).unwrap();
    let count = |f: &dyn Fn(&mut Query)| {
        let mut q = Query::new();
        f(&mut q);
        s.count(&q).unwrap()
    };
    assert_eq!(count(&|q| q.rule = Some("Terminal shell in container".into())), 2);
    assert_eq!(count(&|q| q.container = Some("web".into())), 2);
    assert_eq!(count(&|q| q.container = Some("abc123".into())), 2);
    assert_eq!(count(&|q| q.namespace = Some("prod".into())), 2);
    assert_eq!(count(&|q| q.pod = Some("web-1".into())), 2);
    assert_eq!(count(&|q| q.image = Some("nginx:1.25".into())), 1);
    assert_eq!(count(&|q| q.user = Some("alice".into())), 1);
    assert_eq!(count(&|q| q.process = Some("vi".into())), 1);
    assert_eq!(count(&|q| q.hostname = Some("node-a".into())), 5);
    assert_eq!(count(&|q| q.hostname = Some("node-b".into())), 0);
    assert_eq!(count(&|q| q.source = Some("syscall".into())), 5);
    assert_eq!(count(&|q| q.tags = vec!["filesystem".into()]), 2);
    assert_eq!(count(&|q| q.tags = vec!["filesystem".into(), "mitre_persistence".into()]), 1);
    assert_eq!(
        count(&|q| {
            q.since_ns = Some(T0 + 1_000);
            q.until_ns = Some(T0 + 3_000)
        }),
        2
    );
    let mut q = Query::new();
    q.limit = 2;
    q.offset = 2;
    let p = s.query(&q).unwrap();
    assert_eq!(p.total, 5);
    assert_eq!(rules(&p), vec!["Read sensitive file untrusted", "Terminal shell in container"]);
    let mut q = Query::new();
    q.after_id = Some(3);
    assert_eq!(s.count(&q).unwrap(), 2);
}

fn free_text_over_output_and_fields(s: &dyn Store, _db: &Db) {
    s.insert(&sample()).unwrap();
    let count = |t: &str| {
        let mut q = Query::new();
        q.text = Some(t.into());
        s.count(&q).unwrap()
    };
    assert_eq!(count("shadow"), 1); // output and fd.name
    assert_eq!(count("spawned"), 2);
    assert_eq!(count("nginx"), 1); // only in the fields
    assert_eq!(count("spawn"), 2); // prefix
                                   // A number matches only itself ("1.25", "web-1"): "2" is not a prefix of "25"; a word with
                                   // letters stays a prefix ("abc" finds "abc123").
    assert_eq!(count("25"), 1);
    assert_eq!(count("2"), 0);
    assert_eq!(count("1"), 2);
    assert_eq!(count("abc"), 2);
    assert_eq!(count("shell root"), 2); // every word
    assert_eq!(count("shell alice"), 0);
    assert_eq!(count("/etc/passwd"), 1);
    assert_eq!(count("   "), 5); // no word: no filter
}

fn injection_attempts_are_plain_values(s: &dyn Store, _db: &Db) {
    s.insert(&sample()).unwrap();
    let evil = [
        "' OR '1'='1",
        "\" OR 1=1 --",
        "x'); DROP TABLE alerts; --",
        "NEAR(a b) OR *",
        "\"unterminated",
        "a AND OR NOT",
        "%",
        "_",
    ];
    for e in evil {
        let mut q = Query::new();
        q.rule = Some(e.into());
        q.hostname = Some(e.into());
        assert_eq!(s.count(&q).unwrap(), 0, "{e}");
        let mut q = Query::new();
        q.text = Some(e.into());
        s.count(&q).unwrap_or_else(|err| panic!("{e}: {err}"));
        let mut q = Query::new();
        q.tags = vec![e.into()];
        q.container = Some(e.into());
        assert_eq!(s.count(&q).unwrap(), 0, "{e}");
    }
    assert_eq!(s.count(&Query::new()).unwrap(), 5);
}

fn counts_histogram_groups_and_ack(s: &dyn Store, _db: &Db) {
    let ids = s.insert(&sample()).unwrap();
    let q = Query::new();
    let by_rule = s.count_by(&q, GroupBy::Rule, 10).unwrap();
    assert_eq!(by_rule[0], ("Terminal shell in container".to_string(), 2));
    assert_eq!(by_rule.len(), 4);
    let by_prio = s.count_by(&q, GroupBy::Priority, 10).unwrap();
    assert!(by_prio.contains(&("Notice".to_string(), 2)));
    assert!(by_prio.contains(&("Error".to_string(), 1)));
    let tags = s.count_by(&q, GroupBy::Tags, 10).unwrap();
    assert_eq!(&tags[..2], &[("container".to_string(), 2), ("filesystem".to_string(), 2)]);
    let ns = s.count_by(&q, GroupBy::Namespace, 10).unwrap();
    assert!(ns.contains(&("prod".to_string(), 2)));
    let h = s.histogram(&q, 2_000).unwrap();
    let total: u64 = h.iter().map(|b| b.count).sum();
    assert_eq!(total, 5);
    assert!(h.iter().any(|b| b.start_ns == T0 && b.priority == "Notice" && b.count == 2));
    let g = s.groups(&q).unwrap();
    assert_eq!(g.len(), 4);
    let shell = g.iter().find(|g| g.rule == "Terminal shell in container").unwrap();
    assert_eq!(
        (shell.count, shell.container.as_str(), shell.first_ns, shell.last_ns),
        (2, "web", T0, T0 + 1_000)
    );
    assert_eq!(shell.last_id, ids[1]);
    assert!(s.acknowledge(ids[2], "admin", "known backup job").unwrap());
    assert!(!s.acknowledge(9999, "admin", "x").unwrap());
    let a = s.get(ids[2]).unwrap().unwrap().ack.unwrap();
    assert_eq!((a.by.as_str(), a.note.as_str()), ("admin", "known backup job"));
}

fn retention_by_age_and_size(s: &dyn Store, _db: &Db) {
    let now = harrier_store::now_ns();
    let day = 86_400_000_000_000u64;
    let mut batch = Vec::new();
    for i in 0..100u64 {
        let t = if i < 40 { now - 10 * day + i } else { now - i };
        batch.push(alert(
            t,
            &format!("r{}", i % 3),
            Priority::Warning,
            json!({"proc.name": "p", "fd.name": format!("/tmp/{i}")}),
            "x y z",
            &["t"],
        ));
    }
    s.insert(&batch).unwrap();
    let removed = s.enforce_retention(&Retention { max_age_ns: Some(7 * day), max_bytes: None }).unwrap();
    assert_eq!(removed, 40);
    assert_eq!(s.count(&Query::new()).unwrap(), 60);
    // Nothing left in the full-text index or the tags for removed alerts.
    let mut q = Query::new();
    q.text = Some("y".into());
    assert_eq!(s.count(&q).unwrap(), 60);
    assert_eq!(s.count_by(&Query::new(), GroupBy::Tags, 5).unwrap(), vec![("t".to_string(), 60)]);

    // Size: fill well past a cap, then enforce it; the newest survive.
    let big: Vec<Alert> = (0..3000u64)
        .map(|i| {
            alert(
                now + i,
                "big",
                Priority::Notice,
                json!({"blob": "q".repeat(400), "n": i}),
                &format!("big alert {i}"),
                &[],
            )
        })
        .collect();
    s.insert(&big).unwrap();
    let before = s.status().bytes;
    let cap = before / 3;
    let removed = s.enforce_retention(&Retention { max_age_ns: None, max_bytes: Some(cap) }).unwrap();
    assert!(removed > 0);
    let st = s.status();
    assert!(st.bytes <= cap, "{} > {cap}", st.bytes);
    let newest = s.query(&Query { limit: 1, ..Query::new() }).unwrap();
    assert_eq!(newest.events[0].alert["output"], "big alert 2999");
}

#[test]
fn full_database_is_reported_not_fatal() {
    let d = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(d.path().join("a.db").to_str().unwrap()).unwrap();
    s.insert(&sample()).unwrap();
    let pages = {
        let st = s.status();
        st.bytes / 4096 + 2
    };
    s.limit_pages(pages).unwrap();
    let big: Vec<Alert> = (0..500u64)
        .map(|i| alert(T0 + i, "big", Priority::Notice, json!({"blob": "q".repeat(2000)}), "x", &[]))
        .collect();
    let err = s.insert(&big).unwrap_err();
    assert!(err.to_string().contains("full"), "{err}");
    let st = s.status();
    assert!(!st.ok);
    assert!(st.error.unwrap().contains("full"));
    // Nothing half-written; reads still work.
    assert_eq!(s.count(&Query::new()).unwrap(), 5);
    s.limit_pages(1 << 30).unwrap();
    s.insert(&sample()[..1]).unwrap();
    assert!(s.status().ok);
}

fn accounts_sessions_tokens(s: &dyn Store, _db: &Db) {
    use harrier_store::Role;
    assert_eq!(s.user_count().unwrap(), 0);
    s.user_put("admin", "$argon2id$fake", Role::Admin).unwrap();
    assert_eq!(s.user_get("admin").unwrap(), Some(("$argon2id$fake".to_string(), Role::Admin)));
    assert!(s.user_get("nobody").unwrap().is_none());
    let now = harrier_store::now_ns();
    s.session_put("h1", "admin", Role::Admin, "csrf1", now + 1_000_000_000).unwrap();
    assert_eq!(s.session_get("h1", now).unwrap(), Some(("admin".into(), Role::Admin, "csrf1".into())));
    assert!(s.session_get("h1", now + 2_000_000_000).unwrap().is_none(), "expired");
    s.session_delete("h1").unwrap();
    assert!(s.session_get("h1", now).unwrap().is_none());
    s.token_put("ci", "hash1", Role::Ingest).unwrap();
    assert!(s.token_put("ci", "hash2", Role::Read).is_err());
    assert_eq!(s.token_get("hash1").unwrap(), Some(("ci".into(), Role::Ingest)));
    assert!(s.token_revoke("ci").unwrap());
    assert!(!s.token_revoke("ci").unwrap());
    assert!(s.token_get("hash1").unwrap().is_none());
    assert_eq!(s.token_list().unwrap(), vec![("ci".to_string(), Role::Ingest, true)]);
}

fn reopen_keeps_data_and_schema(s: &dyn Store, db: &Db) {
    s.insert(&sample()).unwrap();
    // A second handle (another node, another UI replica) sees the same data; migrations are
    // not applied twice.
    let again = db.open();
    assert_eq!(again.count(&Query::new()).unwrap(), 5);
    again.insert(&sample()[..1]).unwrap();
    assert_eq!(s.count(&Query::new()).unwrap(), 6);
}

#[test]
fn store_urls() {
    assert!(harrier_store::open("mysql://x").is_err());
    let e = harrier_store::open("postgres:///nodb?host=/nonexistent-dir&connect_timeout=2").err().unwrap();
    assert!(e.contains("connect"), "{e}");
}

fn any_of_lists(s: &dyn Store, _db: &Db) {
    s.insert(&sample()).unwrap();
    let mut q = Query::new();
    q.priorities = vec![Priority::Notice, Priority::Error];
    assert_eq!(s.count(&q).unwrap(), 3);
    let mut q = Query::new();
    q.any_rules = vec!["Write below etc".into(), "Debug rule".into()];
    assert_eq!(s.count(&q).unwrap(), 2);
    let mut q = Query::new();
    q.any_tags = vec!["shell".into(), "mitre_persistence".into()];
    assert_eq!(s.count(&q).unwrap(), 3);
    q.any_sources = vec!["k8s_audit".into()];
    assert_eq!(s.count(&q).unwrap(), 0);
}

fn several_writers_at_once(s: &dyn Store, db: &Db) {
    // Four writers with their own connections (four nodes) insert at the same time.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let st: Arc<dyn Store> = Arc::from(db.open());
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                for b in 0..25u64 {
                    let batch: Vec<Alert> = (0..20u64)
                        .map(|i| {
                            let mut a = alert(
                                T0 + b * 100 + i,
                                "Write below etc",
                                Priority::Error,
                                json!({"proc.name": format!("w{w}")}),
                                &format!("writer {w} batch {b} alert {i}"),
                                &["filesystem"],
                            );
                            a.hostname = format!("node-{w}");
                            a
                        })
                        .collect();
                    ids.extend(st.insert(&batch).unwrap());
                }
                ids
            })
        })
        .collect();
    let mut ids: Vec<i64> = writers.into_iter().flat_map(|h| h.join().unwrap()).collect();
    assert_eq!(ids.len(), 2000);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2000, "ids are unique");
    assert_eq!(s.count(&Query::new()).unwrap(), 2000);
    let by_host = s.count_by(&Query::new(), GroupBy::Hostname, 10).unwrap();
    assert_eq!(by_host.len(), 4);
    assert!(by_host.iter().all(|(_, n)| *n == 500), "{by_host:?}");
    let mut q = Query::new();
    q.text = Some("writer 3 batch 24".into());
    // Every word (numbers whole): batch 24 of writer 3, and alert 3 of batch 24 of the others.
    assert_eq!(s.count(&q).unwrap(), 23);
    q.hostname = Some("node-3".into());
    assert_eq!(s.count(&q).unwrap(), 20);
}

fn odd_text_is_kept(s: &dyn Store, _db: &Db) {
    let a = alert(
        T0,
        "Odd\u{0}rule",
        Priority::Critical,
        json!({"proc.cmdline": "café --naïve\u{0}x", "k8s.ns.name": "ns\u{0}1"}),
        "café déjà vu <script>alert(1)</script> 'quoted' \\ back\u{0}slash",
        &["t\u{0}ag", "ünï"],
    );
    let id = s.insert(&[a]).unwrap()[0];
    let got = s.get(id).unwrap().unwrap().alert;
    assert!(got["output"].as_str().unwrap().starts_with("café déjà vu <script>"));
    let count = |t: &str| {
        let mut q = Query::new();
        q.text = Some(t.into());
        s.count(&q).unwrap()
    };
    assert_eq!(count("café"), 1);
    assert_eq!(count("CAFÉ déj"), 1);
    assert_eq!(count("naïve"), 1);
    assert_eq!(count("script alert"), 1);
    assert_eq!(count("nothere"), 0);
    let mut q = Query::new();
    q.any_tags = vec!["ünï".into()];
    assert_eq!(s.count(&q).unwrap(), 1);
}

/// PostgreSQL stopped under a live store: writes fail as `Unavailable`, the status says so, and
/// the same store works again once the server is back.
#[test]
fn postgres_down_and_back() {
    let server = harrier_store::pgserver::PgServer::start(&[("fsync", "off")]).unwrap();
    let url = server.new_database().unwrap();
    let s = harrier_store::open(&url).unwrap();
    s.insert(&sample()).unwrap();
    server.stop().unwrap();
    let err = s.insert(&sample()[..1]).unwrap_err();
    assert!(matches!(err, harrier_store::StoreError::Unavailable(_)), "{err}");
    assert!(!s.status().ok);
    server.restart().unwrap();
    let mut ok = false;
    for _ in 0..20 {
        if s.insert(&sample()[..1]).is_ok() {
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(ok, "the store reconnects once the server is back");
    assert_eq!(s.count(&Query::new()).unwrap(), 6);
    assert!(s.status().ok);
}

/// Pages follow `next` (keyset on (time, id)): every alert once, newest first, ties on the time
/// broken by id, whatever the filter. Past `COUNT_CAP` matches the total stops at the cap and says
/// it is not exact; under it, it is exact; `count` is always exact.
fn keyset_paging_and_capped_total(s: &dyn Store, _db: &Db) {
    let n = Query::COUNT_CAP + 50;
    let mk = |i: u64| {
        // Three alerts share each time; the stored order is not the time order.
        let t = T0 + ((i * 7919) % n) / 3 * 1_000;
        let rule = if i.is_multiple_of(2) { "Even rule" } else { "Odd rule" };
        alert(t, rule, Priority::Notice, json!({"proc.name": "bash"}), &format!("alert number {i}"), &["k"])
    };
    let all: Vec<Alert> = (0..n).map(mk).collect();
    for b in all.chunks(2_000) {
        s.insert(b).unwrap();
    }
    assert_eq!(s.count(&Query::new()).unwrap(), n);
    let mut q = Query::new();
    q.limit = 1_000;
    let first = s.query(&q).unwrap();
    assert_eq!((first.total, first.total_exact), (Query::COUNT_CAP, false));

    let walk = |mut q: Query| -> Vec<(String, i64)> {
        let mut seen = Vec::new();
        loop {
            let p = s.query(&q).unwrap();
            for e in &p.events {
                seen.push((e.alert["time"].as_str().unwrap().to_string(), e.id));
            }
            match p.next {
                Some(c) => q.before = Some(c),
                None => break,
            }
        }
        seen
    };
    let seen = walk(q.clone());
    assert_eq!(seen.len() as u64, n);
    let mut ids: Vec<i64> = seen.iter().map(|x| x.1).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len() as u64, n, "an alert was shown twice or skipped");
    // Newest first: RFC 3339 times of one format sort as text; ids descend within one time.
    for w in seen.windows(2) {
        assert!(w[0].0 > w[1].0 || (w[0].0 == w[1].0 && w[0].1 > w[1].1), "out of order: {w:?}");
    }

    let mut q = Query::new();
    q.rule = Some("Odd rule".into());
    q.limit = 700;
    let p = s.query(&q).unwrap();
    assert_eq!((p.total, p.total_exact), (n / 2, true));
    let odd = walk(q.clone());
    assert_eq!(odd.len() as u64, n / 2);
    // A cursor in the middle: the rest, and the total still counts the whole filter.
    q.before = p.next;
    let p2 = s.query(&q).unwrap();
    assert_eq!((p2.total, p2.total_exact), (n / 2, true));
    assert_eq!(p2.events[0].id, odd[700].1);
    // With free text too.
    let mut q = Query::new();
    q.text = Some("alert number".into());
    q.rule = Some("Even rule".into());
    q.limit = 500;
    assert_eq!(walk(q).len() as u64, n / 2);
}

/// A text with more matches than the count cap is paged from a slice of the newest alerts
/// (widened while the page is short): every page must be the one the whole table gives —
/// computed here from what was inserted — with out-of-order times, an early id carrying the
/// newest time, other filters beside the text, offsets deep enough to widen, and cursors.
fn dense_text_pages_are_the_unwindowed_answer(s: &dyn Store, _db: &Db) {
    let n = Query::COUNT_CAP + 20_000;
    let time = |i: u64| match i {
        5 => T0 + 1_000_000_000_000, // a node whose clock is ahead: newest of all, early id
        _ if i.is_multiple_of(7) => T0 + i * 1_000 - 50_000, // late arrivals
        _ => T0 + i * 1_000,
    };
    let mk = |i: u64| {
        let word = if i.is_multiple_of(3) { "alpha" } else { "beta" };
        alert(
            time(i),
            &format!("r{}", i % 5),
            Priority::Notice,
            json!({"proc.name": "sh"}),
            &format!("common {word} {i}"),
            &[],
        )
    };
    let mut ids = Vec::new();
    let all: Vec<Alert> = (0..n).map(mk).collect();
    for b in all.chunks(2_000) {
        ids.extend(s.insert(b).unwrap());
    }
    // (time, id, rule, words) newest first.
    let mut rows: Vec<(u64, i64, String)> =
        (0..n).map(|i| (time(i), ids[i as usize], format!("r{}", i % 5))).collect();
    rows.sort_by_key(|r| std::cmp::Reverse((r.0, r.1)));
    let expect = |rule: Option<&str>, before: Option<(u64, i64)>, offset: usize, limit: usize| -> Vec<i64> {
        rows.iter()
            .filter(|r| rule.is_none_or(|x| r.2 == x))
            .filter(|r| before.is_none_or(|k| (r.0, r.1) < k))
            .skip(offset)
            .take(limit)
            .map(|r| r.1)
            .collect()
    };
    for (rule, offset, limit) in [
        (None, 0, 50),
        (None, 200, 50),
        (Some("r3"), 0, 50),
        (None, 9_000, 100),
        (Some("r3"), 2_000, 50),
        (Some("r1"), 5_960, 50),
    ] {
        let mut q = Query::new();
        q.text = Some("common".into());
        q.rule = rule.map(str::to_string);
        q.offset = offset;
        q.limit = limit;
        let p = s.query(&q).unwrap();
        let got: Vec<i64> = p.events.iter().map(|e| e.id).collect();
        assert_eq!(got, expect(rule, None, offset, limit), "{rule:?} offset {offset}");
        match rule {
            None => assert_eq!((p.total, p.total_exact), (Query::COUNT_CAP, false)),
            Some(_) => assert_eq!((p.total, p.total_exact), (n / 5, true)),
        }
        // The next page through the cursor.
        if let Some(c) = p.next {
            let mut q2 = q.clone();
            q2.offset = 0;
            q2.before = Some(c);
            let got: Vec<i64> = s.query(&q2).unwrap().events.iter().map(|e| e.id).collect();
            let last = rows.iter().find(|r| r.1 == *p.events.last().map(|e| &e.id).unwrap()).unwrap();
            assert_eq!(got, expect(rule, Some((last.0, last.1)), 0, limit), "{rule:?} after offset {offset}");
        }
    }
    assert_eq!(
        s.query(&Query { text: Some("common".into()), limit: 1, ..Query::new() }).unwrap().events[0].id,
        ids[5]
    );
    // Common text beside a filter most alerts pass: the total stops at the cap (counted from
    // the newest matches); beside a filter none passes: zero, counted over all of them.
    let mut q = Query::new();
    q.text = Some("common".into());
    q.hostname = Some("node-a".into());
    let p = s.query(&q).unwrap();
    assert_eq!((p.total, p.total_exact), (Query::COUNT_CAP, false));
    assert_eq!(p.events.iter().map(|e| e.id).collect::<Vec<_>>(), expect(None, None, 0, q.limit));
    q.hostname = Some("node-b".into());
    let p = s.query(&q).unwrap();
    assert_eq!((p.total, p.total_exact, p.events.len()), (0, true, 0));
    q.hostname = None;
    q.text = Some("common alpha".into());
    q.rule = Some("r2".into());
    assert_eq!(s.query(&q).unwrap().total, (0..n).filter(|i| i % 3 == 0 && i % 5 == 2).count() as u64);
}

/// PostgreSQL's vocabulary of full-text words (`alert_terms`, used to expand a word to the
/// longer words it starts) loses the words of alerts removed by retention, by age and by size,
/// and keeps the words remaining alerts still hold.
#[test]
fn postgres_alert_terms_pruned_with_their_alerts() {
    let db = Db::new("postgres");
    let s = db.open();
    let now = harrier_store::now_ns();
    let day = 86_400_000_000_000u64;
    let old: Vec<Alert> = (0..30u64)
        .map(|i| {
            alert(
                now - 10 * day + i,
                "r",
                Priority::Notice,
                json!({"fd.name": format!("/srv/ancientfile{i}")}),
                &format!("shared ancientword{i}"),
                &[],
            )
        })
        .collect();
    let new: Vec<Alert> = (0..20u64)
        .map(|i| {
            alert(
                now - 1_000 + i,
                "r",
                Priority::Notice,
                json!({"fd.name": "/srv/kept"}),
                &format!("shared freshword{i}"),
                &[],
            )
        })
        .collect();
    s.insert(&old).unwrap();
    s.insert(&new).unwrap();
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let terms = |c: &mut postgres::Client, like: &str| -> i64 {
        c.query_one("SELECT count(*) FROM alert_terms WHERE term LIKE $1", &[&like]).unwrap().get(0)
    };
    assert_eq!(terms(&mut c, "ancient%"), 60);
    let removed = s.enforce_retention(&Retention { max_age_ns: Some(7 * day), max_bytes: None }).unwrap();
    assert_eq!(removed, 30);
    assert_eq!(terms(&mut c, "ancient%"), 0, "the removed alerts' words are gone");
    assert_eq!(terms(&mut c, "fresh%"), 20);
    assert_eq!(terms(&mut c, "shared"), 1, "a word remaining alerts hold stays");
    assert_eq!(terms(&mut c, "kept"), 1);
    // No word is left that no alert holds, and every alert's word is there.
    let stale: i64 = c
        .query_one(
            "SELECT count(*) FROM alert_terms t WHERE NOT EXISTS
               (SELECT 1 FROM alerts, unnest(tsvector_to_array(fts)) AS w WHERE w = t.term)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(stale, 0);
    // By size: everything but the newest goes, and so do their words.
    let used = s.status().bytes;
    let removed = s.enforce_retention(&Retention { max_age_ns: None, max_bytes: Some(used / 10) }).unwrap();
    assert!(removed > 0);
    let left = s.count(&Query::new()).unwrap();
    assert_eq!(terms(&mut c, "fresh%"), left as i64, "one freshword per remaining alert");
    let missing: i64 = c
        .query_one(
            "SELECT count(*) FROM alerts, unnest(tsvector_to_array(fts)) AS w
             WHERE NOT EXISTS (SELECT 1 FROM alert_terms t WHERE t.term = w)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(missing, 0);
}

/// The same query answered from the alerts alone: `id > 0` holds for every alert, and an id
/// bound is not a column of the per-minute counts.
fn from_alerts(q: &Query) -> Query {
    Query { after_id: Some(0), ..q.clone() }
}

/// Every count the dashboard, the groups and falcosidekick-ui's counts make, from the per-minute
/// counts (whole minutes) plus the alerts (the partial minutes at a range's ends), equals the
/// same count over the alerts alone: after batches, a late batch into old minutes, a second
/// writer, retention by age cutting into a minute, and retention by size.
fn counts_per_minute_answer_as_the_alerts_do(s: &dyn Store, db: &Db) {
    const MIN: u64 = 60_000_000_000;
    let now = harrier_store::now_ns();
    let base = now - now % MIN - 90 * MIN; // 90 minutes ago, on a minute boundary
    let mk = |i: u64, t: u64| {
        let mut a = alert(
            t,
            &format!("Rule {}", i % 5),
            [Priority::Critical, Priority::Error, Priority::Warning, Priority::Notice, Priority::Debug]
                [((i + i / 5) % 5) as usize],
            json!({"container.id": format!("c{}", i % 4), "container.name": format!("app{}", i % 4),
                   "k8s.ns.name": format!("ns{}", i % 3), "container.image.repository": format!("img{}", i % 2),
                   "proc.name": "p"}),
            &format!("alert {i}"),
            &[["a", "b"], ["b", "c"], ["c", "a"]][(i % 3) as usize],
        );
        a.hostname = format!("node-{}", i % 3);
        a
    };
    // ≈ 1.7 s apart: 3000 alerts over 85 minutes, in batches of uneven sizes.
    let all: Vec<Alert> = (0..3000u64).map(|i| mk(i, base + i * 1_700_000_000 + i % 7)).collect();
    let mut rest = &all[..];
    let mut k = 1;
    while !rest.is_empty() {
        let n = (k * 37 % 400).max(1).min(rest.len());
        s.insert(&rest[..n]).unwrap();
        rest = &rest[n..];
        k += 1;
    }
    // Late alerts into minutes already counted, from a second writer.
    let other = db.open();
    let late: Vec<Alert> = (0..50u64).map(|i| mk(i * 7, base + 10 * MIN + i * 997_000_000)).collect();
    other.insert(&late).unwrap();
    // A burst of one key across the minute that retention by age cuts into (below).
    let burst: Vec<Alert> = (0..200u64).map(|j| mk(5, base + 40 * MIN + j * 250_000_000)).collect();
    s.insert(&burst).unwrap();

    let check = |stage: &str| {
        let ranges: [(Option<u64>, Option<u64>); 6] = [
            (None, None),
            (Some(base + 7 * MIN + 12_345), None),
            (None, Some(base + 50 * MIN + 999)),
            (Some(base + 3 * MIN + 1), Some(base + 61 * MIN - 1)),
            (Some(base + 20 * MIN), Some(base + 40 * MIN)),
            (Some(base + 30 * MIN + 5), Some(base + 30 * MIN + 50_000_000_000)),
        ];
        let filters: Vec<Query> = vec![
            Query::new(),
            Query { min_priority: Some(Priority::Warning), ..Query::new() },
            Query { rule: Some("Rule 3".into()), ..Query::new() },
            Query { container: Some("c1".into()), ..Query::new() },
            Query { container: Some("app2".into()), hostname: Some("node-2".into()), ..Query::new() },
            Query { namespace: Some("ns1".into()), image: Some("img0".into()), ..Query::new() },
            Query {
                priorities: vec![Priority::Error, Priority::Debug],
                any_rules: vec!["Rule 1".into(), "Rule 2".into()],
                ..Query::new()
            },
        ];
        for f in &filters {
            for (since, until) in ranges {
                let q = Query { since_ns: since, until_ns: until, limit: 7, ..f.clone() };
                let raw = from_alerts(&q);
                let what = format!("{stage}: {q:?}");
                assert_eq!(s.count(&q).unwrap(), s.count(&raw).unwrap(), "count, {what}");
                for by in [
                    GroupBy::Rule,
                    GroupBy::Priority,
                    GroupBy::Source,
                    GroupBy::Hostname,
                    GroupBy::Namespace,
                    GroupBy::Image,
                    GroupBy::Container,
                    GroupBy::Tags,
                ] {
                    assert_eq!(
                        s.count_by(&q, by, 3).unwrap(),
                        s.count_by(&raw, by, 3).unwrap(),
                        "{by:?}, {what}"
                    );
                }
                for b in [MIN, 7 * MIN] {
                    assert_eq!(
                        s.histogram(&q, b).unwrap(),
                        s.histogram(&raw, b).unwrap(),
                        "histogram {b}, {what}"
                    );
                }
                for offset in [0, 3] {
                    let q = Query { offset, ..q.clone() };
                    assert_eq!(s.groups(&q).unwrap(), s.groups(&from_alerts(&q)).unwrap(), "groups, {what}");
                }
            }
        }
        assert_eq!(s.status().alerts, s.count(&from_alerts(&Query::new())).unwrap(), "{stage}: status");
    };
    check("inserted");
    assert_eq!(s.count(&Query::new()).unwrap(), 3250);

    // Retention by age, cutting into a minute (the cutoff is 40.5 minutes after `base`).
    let age = harrier_store::now_ns() - (base + 40 * MIN + MIN / 2);
    let removed = s.enforce_retention(&Retention { max_age_ns: Some(age), max_bytes: None }).unwrap();
    assert!(removed > 1000, "{removed}");
    check("after retention by age");
    let g = s.groups(&Query { limit: 1000, ..Query::new() }).unwrap();
    assert!(
        g.iter().all(|g| g.first_ns >= base + 40 * MIN + MIN / 2 - 1_000_000_000),
        "first times recomputed"
    );

    // Retention by size.
    let before = s.status();
    let removed =
        s.enforce_retention(&Retention { max_age_ns: None, max_bytes: Some(before.bytes / 2) }).unwrap();
    assert!(removed > 0);
    check("after retention by size");
}
