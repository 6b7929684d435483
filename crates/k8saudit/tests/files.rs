//! File inputs on real files in a private temp dir: replay of a file or a directory (by mtime),
//! long lines, and follow mode through appends, truncation, rotation and re-creation.

use harrier_k8saudit::{AuditSource, InitConfig, OpenParams};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

fn ev(id: &str) -> String {
    format!(
        r#"{{"kind":"Event","auditID":"{id}","stage":"ResponseComplete","stageTimestamp":"2024-05-01T10:00:00Z"}}"#
    )
}

fn drain(src: &AuditSource) -> Vec<String> {
    std::iter::from_fn(|| src.next()).map(|e| e.root.get("auditID").unwrap().to_text()).collect()
}

fn set_mtime(p: &Path, secs: i64) {
    let f = std::fs::File::options().write(true).open(p).unwrap();
    f.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(secs as u64)).unwrap();
}

#[test]
fn replay_file_and_directory_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("audit.log");
    let long = format!(
        r#"{{"kind":"Event","auditID":"L","x":"{}","stageTimestamp":"2024-05-01T10:00:00Z"}}"#,
        "y".repeat(100_000)
    );
    std::fs::write(
        &f,
        format!(
            "{}\n\n{}\n{{\"kind\": 0}}\n[{},{}]\n{long}\n{}",
            ev("1"),
            format_args!(r#"{{"kind":"EventList","items":[{},{}]}}"#, ev("2"), ev("3")),
            ev("4"),
            ev("5"),
            ev("6")
        ),
    )
    .unwrap();
    // A line over 64 KiB is fine (the plugin's scanner stops there); one over the line limit is
    // skipped and counted, and reading goes on.
    let cfg = InitConfig { max_event_size: 200_000, ..Default::default() };
    let src = AuditSource::open(&OpenParams::Replay(f.clone()), &cfg).unwrap();
    assert_eq!(drain(&src), ["1", "2", "3", "4", "5", "L", "6"]);
    assert_eq!(src.counters().not_audit.load(std::sync::atomic::Ordering::Relaxed), 1);
    let cfg = InitConfig { webhook_max_batch_size: 50_000, ..Default::default() };
    let src = AuditSource::open(&OpenParams::Replay(f), &cfg).unwrap();
    assert_eq!(drain(&src), ["1", "2", "3", "4", "5", "6"]);
    assert_eq!(src.lines_too_long(), 1);

    // A directory: every regular file, oldest first.
    let d = dir.path().join("logs");
    std::fs::create_dir(&d).unwrap();
    for (name, id, t) in [("a", "new", 3000), ("b", "old", 1000), ("c", "mid", 2000)] {
        std::fs::write(d.join(name), ev(id)).unwrap();
        set_mtime(&d.join(name), t);
    }
    std::fs::create_dir(d.join("sub")).unwrap();
    let src = AuditSource::open(&OpenParams::Replay(d), &InitConfig::default()).unwrap();
    assert_eq!(drain(&src), ["old", "mid", "new"]);
}

fn wait_for(src: &AuditSource, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while got.len() < n && std::time::Instant::now() < deadline {
        if let Ok(Some(e)) = src.next_timeout(Duration::from_millis(100)) {
            got.push(e.root.get("auditID").unwrap().to_text());
        }
    }
    got
}

fn append(p: &Path, s: &str) {
    let mut f = std::fs::File::options().append(true).create(true).open(p).unwrap();
    f.write_all(s.as_bytes()).unwrap();
}

#[test]
fn follow_like_tail_dash_capital_f() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("audit.log");
    std::fs::write(&f, format!("{}\n", ev("old"))).unwrap();
    let mut src = AuditSource::open(&OpenParams::Follow(f.clone()), &InitConfig::default()).unwrap();
    std::thread::sleep(Duration::from_millis(500)); // first look: starts at the end

    append(&f, &format!("{}\n{}", ev("a1"), &ev("a2")[..20]));
    assert_eq!(wait_for(&src, 1), ["a1"], "existing content skipped, partial line held");
    append(&f, &format!("{}\n", &ev("a2")[20..]));
    assert_eq!(wait_for(&src, 1), ["a2"]);

    // Truncation (copytruncate): read again from the start.
    std::fs::File::create(&f).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    append(&f, &format!("{}\n", ev("t1")));
    assert_eq!(wait_for(&src, 1), ["t1"]);

    // Rotation: the old file's last lines are read, then the new file from its start.
    append(&f, &format!("{}\n", ev("r0")));
    std::fs::rename(&f, dir.path().join("audit.log.1")).unwrap();
    append(&dir.path().join("audit.log.1"), &format!("{}\n", ev("r1")));
    std::thread::sleep(Duration::from_millis(500));
    append(&f, &format!("{}\n", ev("n1")));
    assert_eq!(wait_for(&src, 3), ["r0", "r1", "n1"]);

    // Removal and re-creation.
    std::fs::remove_file(&f).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    append(&f, &format!("{}\n", ev("c1")));
    assert_eq!(wait_for(&src, 1), ["c1"]);

    src.stop();
    assert!(src.next().is_none(), "stopped source ends");
}
