//! The UI's filters are answered from indexes: SQLite's `EXPLAIN QUERY PLAN` for each filter's
//! page and capped count names the filter's index, never a scan of the whole table or a sort of
//! every match; free text is matched through the full-text index's vocabulary (prefixes, case,
//! words in every alert, words in none). PostgreSQL's plans are checked in `behaviour.rs`'s
//! server (`postgres_plans_use_the_indexes` below).

use harrier_engine::Alert;
use harrier_rules::Priority;
use harrier_store::{Query, SqliteStore, Store};
use serde_json::json;

const PRIOS: [Priority; 8] = [
    Priority::Emergency,
    Priority::Alert,
    Priority::Critical,
    Priority::Error,
    Priority::Warning,
    Priority::Notice,
    Priority::Informational,
    Priority::Debug,
];

fn alert(i: u64) -> Alert {
    let fields = json!({
        "container.id": format!("c{:011x}", i % 40), "container.name": format!("app-{}", i % 40),
        "container.image.repository": format!("registry.local/img{}", i % 7),
        "k8s.ns.name": format!("ns-{}", i % 12), "k8s.pod.name": format!("pod-{}", i % 40),
        "proc.name": if i.is_multiple_of(3) { "bash" } else { "curl" }, "proc.pname": "containerd-shim",
        "proc.cmdline": format!("run job{i} Widget{}", i % 100), "user.name": "root",
    });
    Alert {
        time_ns: 1_700_000_000_000_000_000 + i * 1_000_000,
        rule: format!("Rule {}", i % 20),
        priority: PRIOS[(i % 8) as usize],
        source: if i.is_multiple_of(10) { "k8s_audit".into() } else { "syscall".into() },
        tags: vec!["container".into(), format!("T{}", i % 30)],
        output: format!("Something happened {i} (proc=x container=app-{})", i % 40),
        output_fields: fields.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        hostname: format!("node-{}", i % 50),
    }
}

/// A store with `n` alerts, reopened so the planner has statistics (as after any restart).
fn store(dir: &tempfile::TempDir, n: u64) -> SqliteStore {
    let path = dir.path().join("a.db");
    {
        let s = SqliteStore::open(path.to_str().unwrap()).unwrap();
        let all: Vec<Alert> = (0..n).map(alert).collect();
        for b in all.chunks(1000) {
            s.insert(b).unwrap();
        }
    }
    SqliteStore::open(path.to_str().unwrap()).unwrap()
}

fn q(f: impl FnOnce(&mut Query)) -> Query {
    let mut q = Query::new();
    q.limit = 50;
    f(&mut q);
    q
}

#[test]
fn every_ui_filter_is_answered_from_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, 4000);
    let warn = Some(Priority::Warning);
    let cases: Vec<(&str, Query, &str)> = vec![
        ("rule", q(|q| q.rule = Some("Rule 3".into())), "alerts_rule_time"),
        (
            "rule+priority",
            q(|q| (q.rule, q.min_priority) = (Some("Rule 3".into()), warn)),
            "alerts_rule_time",
        ),
        (
            "rule+namespace+priority",
            q(|q| {
                q.rule = Some("Rule 3".into());
                q.namespace = Some("ns-3".into());
                q.min_priority = warn;
            }),
            "alerts_namespace_rule_time",
        ),
        (
            "hostname",
            q(|q| (q.hostname, q.min_priority) = (Some("node-7".into()), warn)),
            "alerts_hostname_time",
        ),
        (
            "source",
            q(|q| (q.source, q.min_priority) = (Some("k8s_audit".into()), warn)),
            "alerts_source_time",
        ),
        (
            "namespace",
            q(|q| (q.namespace, q.min_priority) = (Some("ns-2".into()), warn)),
            "alerts_namespace_time",
        ),
        ("pod", q(|q| (q.pod, q.min_priority) = (Some("pod-2".into()), warn)), "alerts_pod_time"),
        ("image", q(|q| q.image = Some("registry.local/img3".into())), "alerts_image_time"),
        ("priority", q(|q| q.min_priority = warn), "alerts_time_prio"),
        (
            "time range",
            q(|q| {
                q.since_ns = Some(1_700_000_000_000_000_000 + 1_000 * 1_000_000);
                q.until_ns = Some(1_700_000_000_000_000_000 + 2_000 * 1_000_000);
                q.min_priority = warn;
            }),
            "alerts_time_prio",
        ),
        ("newest first", Query::new(), "alerts_time_prio"),
        (
            "hostname+tag",
            q(|q| (q.hostname, q.tags) = (Some("node-7".into()), vec!["T7".into()])),
            "alerts_hostname_time",
        ),
    ];
    for (what, query, index) in cases {
        let (page, count) = s.explain(&query).unwrap();
        for (which, plan) in [("page", &page), ("count", &count)] {
            // Counting everything may read any index (the smallest); every filter's own.
            if which == "page" || what != "newest first" {
                assert!(plan.contains(index), "{what}: the {which} does not use {index}:\n{plan}");
            }
            assert!(
                !plan.lines().any(|l| l.trim() == "SCAN alerts"),
                "{what}: the {which} scans the table:\n{plan}"
            );
        }
        assert!(!page.contains("TEMP B-TREE FOR ORDER BY"), "{what}: the page sorts every match:\n{page}");
        // Where priority is filtered, it is read from the index (no table row for the count).
        if query.min_priority.is_some() && query.tags.is_empty() {
            assert!(count.contains("COVERING INDEX"), "{what}: the count reads table rows:\n{count}");
        }
        // And the answer is right: every row matches, newest first.
        let got = s.query(&query).unwrap();
        let mut last = u64::MAX;
        for e in &got.events {
            let id = e.id as u64;
            assert!(id < last, "{what}: not newest first");
            last = id;
        }
        assert_eq!(got.total, s.count(&query).unwrap().min(Query::COUNT_CAP), "{what}");
    }
}

#[test]
fn free_text_words_match_as_prefixes_through_the_vocabulary() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, 2000);
    let count = |text: &str| {
        let query = q(|q| q.text = Some(text.into()));
        let page = s.query(&query).unwrap();
        assert_eq!(page.total, s.count(&query).unwrap().min(Query::COUNT_CAP), "{text}");
        page.total
    };
    // Every alert has "containerd" (proc.pname) and "container" (tag-free output words).
    assert_eq!(count("contain"), 2000);
    assert_eq!(count("CONTAINERD"), 2000);
    // "bash" in a third, exact and as a prefix; with a rare word: both must match.
    assert_eq!(count("bash"), 667);
    assert_eq!(count("ba"), 667);
    assert_eq!(
        count("bash job3"),
        (0..2000u64).filter(|i| i % 3 == 0 && i.to_string().starts_with('3')).count() as u64
    );
    // "widget" starts 100 longer terms? No: Widget0..Widget99 are words "widget0".."widget99",
    // more than the expansion limit, so the prefix itself is searched.
    assert_eq!(count("widget"), 2000);
    assert_eq!(
        count("widget4"),
        (0..2000u64).filter(|i| (i % 100).to_string().starts_with('4')).count() as u64
    );
    // "job1" starts more than 64 terms (job1, job10…job1999): the prefix path.
    assert_eq!(
        count("job1 bash"),
        (0..2000u64).filter(|i| i % 3 == 0 && i.to_string().starts_with('1')).count() as u64
    );
    // A word in no alert: nothing, and no error.
    assert_eq!(count("zebra"), 0);
    assert_eq!(count("bash zebra"), 0);
    // Quotes and FTS5 syntax in the text are words, never syntax.
    assert_eq!(count("\"bash\" OR NEAR(x"), 0);
    assert_eq!(count("bash AND"), 0);
}

#[test]
fn dense_free_text_pages_newest_first_even_with_late_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    {
        let s = SqliteStore::open(path.to_str().unwrap()).unwrap();
        // Id 1 carries the newest time of all (a node whose clock is ahead): it must lead
        // every page of a text it matches, though the newest ids come last.
        let mut skewed = alert(0);
        skewed.time_ns = 1_800_000_000_000_000_000;
        skewed.output = "Something from the future".into();
        s.insert(&[skewed]).unwrap();
        let all: Vec<Alert> = (1..10_500).map(alert).collect();
        for b in all.chunks(1000) {
            s.insert(b).unwrap();
        }
    }
    let s = SqliteStore::open(path.to_str().unwrap()).unwrap();
    // In every alert: more matches than the count cap.
    let dense = q(|q| q.text = Some("something".into()));
    let (page, _) = s.explain(&dense).unwrap();
    assert!(!page.lines().any(|l| l.trim() == "SCAN alerts"), "{page}");
    let got = s.query(&dense).unwrap();
    assert_eq!((got.total, got.total_exact), (Query::COUNT_CAP, false));
    let ids: Vec<i64> = got.events.iter().map(|e| e.id).collect();
    let mut expect = vec![1];
    expect.extend((10_452..=10_500).rev());
    assert_eq!(ids, expect);
    // Its next page follows on, the same with another filter beside the text.
    let mut next = dense.clone();
    next.before = got.next;
    let ids: Vec<i64> = s.query(&next).unwrap().events.iter().map(|e| e.id).collect();
    assert_eq!(ids, (10_402..=10_451).rev().collect::<Vec<_>>());
    let mut host = dense.clone();
    host.hostname = Some("node-0".into());
    let got = s.query(&host).unwrap();
    assert_eq!(got.events[0].id, 1);
    assert!(got.events[1..].iter().all(|e| (e.id - 1) % 50 == 0), "node-0 is i % 50 == 0, id = i + 1");
    assert_eq!(got.events[1].id, 10_451);
    // Rare: read from its matches by rowid.
    let rare = q(|q| q.text = Some("job4242".into()));
    let (page, _) = s.explain(&rare).unwrap();
    assert!(page.contains("INTEGER PRIMARY KEY"), "{page}");
    let got = s.query(&rare).unwrap();
    assert_eq!((got.total, got.events.len()), (1, 1));
    assert_eq!(got.events[0].id, 4243);
}

/// PostgreSQL (a real server started by the test): a rule within a namespace, this priority or
/// more severe, is read through `alerts_namespace_rule` — page and capped count — instead of
/// intersecting two bitmaps and visiting every heap page they name.
#[test]
fn postgres_plans_use_the_indexes() {
    let url = harrier_store::pgserver::shared().new_database().unwrap();
    let s = harrier_store::PgStore::open(&url).unwrap();
    let all: Vec<Alert> = (0..20_000).map(alert).collect();
    for b in all.chunks(2000) {
        s.insert(b).unwrap();
    }
    // Statistics, as autovacuum would gather them on a live database.
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute("VACUUM ANALYZE alerts").unwrap();
    })
    .join()
    .unwrap();
    let query = q(|q| {
        q.rule = Some("Rule 3".into());
        q.namespace = Some("ns-3".into());
        q.min_priority = Some(Priority::Warning);
    });
    let (page, count) = s.explain(&query).unwrap();
    for (which, plan) in [("page", &page), ("count", &count)] {
        assert!(
            plan.contains("alerts_namespace_rule"),
            "the {which} does not use alerts_namespace_rule:\n{plan}"
        );
        assert!(!plan.contains("BitmapAnd"), "the {which} intersects bitmaps:\n{plan}");
        assert!(!plan.contains("Seq Scan"), "the {which} scans the table:\n{plan}");
    }
    let got = s.query(&query).unwrap();
    // Rule 3 = i ≡ 3 (mod 20), ns-3 = i ≡ 3 (mod 12): i ≡ 3 (mod 60); Warning or more severe:
    // i mod 8 <= 4.
    let expect = (0..20_000u64).filter(|i| i % 60 == 3 && i % 8 <= 4).count() as u64;
    assert_eq!(got.total, expect);
    assert!(got.events.iter().all(|e| e.alert["rule"] == "Rule 3"));

    // Free text: a word that starts few longer terms is looked up as exact terms ("bash" is
    // one; "contain" is "container" or "containerd"), a word starting many stays a prefix
    // ("job1": job1, job10…job19999); the answers are those of prefixes.
    let text = |t: &str| q(|q| q.text = Some(t.into()));
    let (page, _) = s.explain(&text("bash contain job1")).unwrap();
    // (EXPLAIN shows the tsquery inside a quoted literal: its quotes doubled.)
    // ("containerd" is in every alert and the prefix is open: both are checked on the rows the
    // index finds for "bash".)
    assert!(
        page.contains("fts @@ '''bash'''::tsquery")
            && page.contains(
                "ts_match_vq(fts, '( ''contain'' | ''container'' | ''containerd'' ) & ''job1'':*'::tsquery)"
            ),
        "{page}"
    );
    let n = |t: &str| s.query(&text(t)).unwrap().total;
    let expect =
        (0..20_000u64).filter(|i| i.is_multiple_of(3) && i.to_string().starts_with('1')).count() as u64;
    assert_eq!(n("bash contain job1"), expect);
    assert_eq!(n("BA"), 6667);
    assert_eq!(
        n("widget4"),
        (0..20_000u64).filter(|i| (i % 100).to_string().starts_with('4')).count() as u64
    );
    assert_eq!(n("bash zebra"), 0);
    // A number is looked up as itself, never as a prefix (which would start every longer number).
    let (page, _) = s.explain(&text("bash 1999")).unwrap();
    assert!(page.contains("''bash'' & ''1999''") && !page.contains("''1999'':*"), "{page}");
    // "root" is in every alert (the index's statistics say so after ANALYZE): it is checked on
    // the rows the rare number finds, not stepped through in the index at each of them.
    let (page, _) = s.explain(&text("root 1999")).unwrap();
    assert!(page.contains("ts_match_vq(fts, '''root'''::tsquery)"), "{page}");
    assert_eq!(n("root 1999"), 1);
    // Alert 1999 (1999 is not a multiple of 3) ran curl, not bash.
    assert_eq!((n("bash 1999"), n("curl 1999")), (0, 1));
    // New alerts bring their words into the vocabulary at once.
    let mut fresh = alert(20_000);
    fresh.output = "a brand new wordxyz here".into();
    s.insert(&[fresh]).unwrap();
    assert_eq!(n("wordx"), 1);
}

/// Any-of lists with conditions written after them (free text, time range, cursor): every
/// value meets its own placeholder (they were bound out of order before schema 3's rework).
#[test]
fn any_of_lists_with_text_time_and_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, 2000);
    let query = q(|q| {
        q.any_rules = vec!["Rule 3".into(), "Rule 4".into()];
        q.priorities = vec![Priority::Critical, Priority::Error, Priority::Warning];
        q.text = Some("bash".into());
        q.since_ns = Some(1_700_000_000_000_000_000 + 500 * 1_000_000);
    });
    let expect: Vec<i64> = (500..2000u64)
        .rev()
        .filter(|i| matches!(i % 20, 3 | 4) && matches!(i % 8, 2..=4) && i.is_multiple_of(3))
        .map(|i| i as i64 + 1)
        .collect();
    assert!(!expect.is_empty());
    let got = s.query(&query).unwrap();
    assert_eq!(got.total as usize, expect.len());
    assert_eq!(got.events.iter().map(|e| e.id).collect::<Vec<_>>(), expect[..expect.len().min(50)]);
}
