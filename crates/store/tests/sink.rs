//! The store as a router sink: batches through the bounded queue; a locked database delays the
//! store only, and everything arrives once it is free again.

use harrier_sinks::Router;
use harrier_store::{Query, SqliteStore, Store};
use std::time::Duration;

#[test]
fn router_delivers_to_the_store_through_a_locked_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let yaml =
        format!("store:\n  url: sqlite:{}\n  minimumpriority: notice\n  maxage: 3650d\n", db.display());
    let mut router = Router::with_own_runtime(2).unwrap();
    let sink = harrier_store::sink::add_from_config(&yaml, &mut router).unwrap().expect("a store sink");

    // Another writer holds the database: the sink's inserts fail (busy) and are retried.
    let locker = rusqlite_lock(&db);
    let mut a = harrier_sinks::test_alert();
    a.priority = harrier_rules::Priority::Warning;
    for i in 0..200u64 {
        a.time_ns += 1;
        a.output = format!("alert {i}");
        router.send(&a);
    }
    let mut dbg = a.clone();
    dbg.priority = harrier_rules::Priority::Debug;
    router.send(&dbg); // below minimumpriority
    std::thread::sleep(Duration::from_millis(300));
    drop(locker);
    let stats = router.shutdown_blocking(Duration::from_secs(60));
    assert_eq!(stats.len(), 1);
    assert_eq!(sink.stored.load(std::sync::atomic::Ordering::Relaxed), 200);
    let s = SqliteStore::open(db.to_str().unwrap()).unwrap();
    assert_eq!(s.count(&Query::new()).unwrap(), 200);
    let mut q = Query::new();
    q.text = Some("199".into());
    assert_eq!(s.count(&q).unwrap(), 1);
}

/// Hold an exclusive write transaction on `db` until dropped.
fn rusqlite_lock(db: &std::path::Path) -> impl Drop {
    struct L(Option<std::sync::mpsc::Sender<()>>, Option<std::thread::JoinHandle<()>>);
    impl Drop for L {
        fn drop(&mut self) {
            drop(self.0.take());
            if let Some(h) = self.1.take() {
                h.join().unwrap();
            }
        }
    }
    // Create the schema first, then lock.
    drop(SqliteStore::open(db.to_str().unwrap()).unwrap());
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let path = db.to_path_buf();
    let h = std::thread::spawn(move || {
        let c = rusqlite::Connection::open(path).unwrap();
        c.execute_batch("BEGIN EXCLUSIVE; INSERT INTO users (name, phc, role) VALUES ('x', 'y', 'read');")
            .unwrap();
        ready_tx.send(()).unwrap();
        let _ = rx.recv();
        c.execute_batch("ROLLBACK").unwrap();
    });
    ready_rx.recv().unwrap();
    L(Some(tx), Some(h))
}

#[test]
fn config_errors_are_clear() {
    let mut router = Router::with_own_runtime(1).unwrap();
    assert!(harrier_store::sink::add_from_config("webhook:\n  address: http://x\n", &mut router)
        .unwrap()
        .is_none());
    let e = harrier_store::sink::add_from_config("store:\n  minimumpriority: notice\n", &mut router)
        .err()
        .unwrap();
    assert!(e.contains("url"), "{e}");
    let e = harrier_store::sink::add_from_config(
        "store:\n  url: sqlite:/tmp/x.db\n  maxage: forever\n",
        &mut router,
    )
    .err()
    .unwrap();
    assert!(e.contains("maxage"), "{e}");
    let e =
        harrier_store::sink::add_from_config("store:\n  url: postgres://x/y?sslmode=bogus\n", &mut router)
            .err()
            .unwrap();
    assert!(e.contains("store URL"), "{e}");
    // An unreachable server is not a configuration error: the sink waits for it (next test).
    let sink = harrier_store::sink::add_from_config(
        "store:\n  url: postgres:///x?host=/nonexistent-dir&connect_timeout=2\n",
        &mut router,
    )
    .unwrap()
    .expect("a store sink");
    assert!(!sink.is_open());
    // A server that answers and refuses (here: no such database) is a configuration error.
    let url = harrier_store::pgserver::shared().url("no_such_database");
    let e = harrier_store::sink::add_from_config(&format!("store:\n  url: \"{url}\"\n"), &mut router)
        .err()
        .unwrap();
    assert!(e.contains("refused by the server") && e.contains("no_such_database"), "{e}");
}

/// PostgreSQL down when Harrier starts: the sink is created anyway, alerts queue (and spool) in
/// the router, and all of them reach the database once it is up — in order, none twice.
#[test]
fn postgres_down_at_start_then_up_loses_nothing() {
    let server = harrier_store::pgserver::PgServer::start(&[("fsync", "off")]).unwrap();
    let url = server.new_database().unwrap();
    server.stop().unwrap();
    let spool = tempfile::tempdir().unwrap();
    let yaml = format!("spooldir: {}\nstore:\n  url: \"{url}&connect_timeout=2\"\n", spool.path().display());
    let mut router = Router::with_own_runtime(2).unwrap();
    let sink = harrier_store::sink::add_from_config(&yaml, &mut router).unwrap().expect("a store sink");
    assert!(!sink.is_open());
    let mut a = harrier_sinks::test_alert();
    for i in 0..300u64 {
        a.time_ns += 1;
        a.output = format!("queued alert {i}");
        router.send(&a);
    }
    // Several delivery attempts fail while the server is down.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(sink.stored.load(std::sync::atomic::Ordering::Relaxed), 0);
    server.restart().unwrap();
    let stats = router.shutdown_blocking(Duration::from_secs(90));
    assert_eq!(stats.len(), 1);
    assert!(sink.is_open());
    assert_eq!(sink.stored.load(std::sync::atomic::Ordering::Relaxed), 300, "{stats:?}");
    let store = harrier_store::open(&url).unwrap();
    assert_eq!(store.count(&Query::new()).unwrap(), 300);
    let mut q = Query::new();
    q.text = Some("299".into());
    assert_eq!(store.count(&q).unwrap(), 1);
}
