//! The store's behaviour against the SQLite backend (the same checks will run on PostgreSQL).

use harrier_engine::Alert;
use harrier_rules::Priority;
use harrier_store::{GroupBy, Query, Retention, SqliteStore, Store};
use serde_json::json;
use std::collections::BTreeMap;

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

fn store() -> (tempfile::TempDir, SqliteStore) {
    let d = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(d.path().join("a.db").to_str().unwrap()).unwrap();
    (d, s)
}

fn rules(p: &harrier_store::Page) -> Vec<String> {
    p.events.iter().map(|e| e.alert["rule"].as_str().unwrap().to_string()).collect()
}

#[test]
fn insert_query_newest_first_and_json_shape() {
    let (_d, s) = store();
    let ids = s.insert(&sample()).unwrap();
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

#[test]
fn priority_means_this_or_more_severe() {
    let (_d, s) = store();
    s.insert(&sample()).unwrap();
    let mut q = Query::new();
    q.min_priority = Some(Priority::Warning);
    assert_eq!(rules(&s.query(&q).unwrap()), vec!["Write below etc", "Read sensitive file untrusted"]);
    q.min_priority = Some(Priority::Notice);
    assert_eq!(s.count(&q).unwrap(), 4);
    q.min_priority = Some(Priority::Emergency);
    assert_eq!(s.count(&q).unwrap(), 0);
}

#[test]
fn column_filters_tags_time_and_paging() {
    let (_d, s) = store();
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

#[test]
fn free_text_over_output_and_fields() {
    let (_d, s) = store();
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
    assert_eq!(count("shell root"), 2); // every word
    assert_eq!(count("shell alice"), 0);
    assert_eq!(count("/etc/passwd"), 1);
    assert_eq!(count("   "), 5); // no word: no filter
}

#[test]
fn injection_attempts_are_plain_values() {
    let (_d, s) = store();
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

#[test]
fn counts_histogram_groups_and_ack() {
    let (_d, s) = store();
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

#[test]
fn retention_by_age_and_size() {
    let (_d, s) = store();
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
    let (_d, s) = store();
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

#[test]
fn accounts_sessions_tokens() {
    let (_d, s) = store();
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

#[test]
fn reopen_keeps_data_and_schema() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("a.db");
    {
        let s = SqliteStore::open(p.to_str().unwrap()).unwrap();
        s.insert(&sample()).unwrap();
    }
    let s = SqliteStore::open(p.to_str().unwrap()).unwrap();
    assert_eq!(s.count(&Query::new()).unwrap(), 5);
    assert!(harrier_store::open("postgres://x").is_err());
    assert!(harrier_store::open("mysql://x").is_err());
    assert!(harrier_store::open(&format!("sqlite:{}", p.display())).is_ok());
}

#[test]
fn any_of_lists() {
    let (_d, s) = store();
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
