//! The embedded SQLite backend: one file, WAL (readers never wait for the writer), an FTS5 index
//! over the output and the output fields (contentless: the text lives once, in the JSON column),
//! versioned migrations applied at open, incremental vacuum so retention gives space back.
//!
//! Every value from a filter is a bound parameter; column names come from fixed tables, never from
//! input.

use crate::auth::Role;
use crate::rollup::{self, GroupKey, GroupPart};
use crate::{
    now_ns, Ack, Bucket, Group, GroupBy, Page, Query, Result, Retention, Row, Store, StoreError, StoreStatus,
    StoredAlert,
};
use harrier_engine::Alert;
use harrier_rules::Priority;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Migrations, applied in order; `schema_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    // 1: alerts, tags, full text, accounts.
    "CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        time_ns INTEGER NOT NULL,
        rule TEXT NOT NULL,
        priority INTEGER NOT NULL,
        source TEXT NOT NULL,
        hostname TEXT NOT NULL,
        tags TEXT NOT NULL,
        container TEXT NOT NULL,
        container_id TEXT NOT NULL,
        image TEXT NOT NULL,
        namespace TEXT NOT NULL,
        pod TEXT NOT NULL,
        user_name TEXT NOT NULL,
        process TEXT NOT NULL,
        json TEXT NOT NULL,
        ack_by TEXT,
        ack_note TEXT,
        ack_ns INTEGER
     );
     CREATE INDEX alerts_time ON alerts(time_ns);
     CREATE INDEX alerts_rule ON alerts(rule, time_ns);
     CREATE INDEX alerts_priority ON alerts(priority, time_ns);
     CREATE INDEX alerts_source ON alerts(source, time_ns);
     CREATE INDEX alerts_hostname ON alerts(hostname, time_ns);
     CREATE INDEX alerts_container ON alerts(container, time_ns);
     CREATE INDEX alerts_container_id ON alerts(container_id, time_ns);
     CREATE INDEX alerts_image ON alerts(image, time_ns);
     CREATE INDEX alerts_namespace ON alerts(namespace, time_ns);
     CREATE INDEX alerts_pod ON alerts(pod, time_ns);
     CREATE TABLE alert_tags (tag TEXT NOT NULL, alert_id INTEGER NOT NULL, PRIMARY KEY (tag, alert_id)) WITHOUT ROWID;
     CREATE INDEX alert_tags_alert ON alert_tags(alert_id);
     CREATE VIRTUAL TABLE alerts_fts USING fts5(output, fields, content='', contentless_delete=1);
     CREATE TABLE users (name TEXT PRIMARY KEY, phc TEXT NOT NULL, role TEXT NOT NULL);
     CREATE TABLE sessions (id_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL, role TEXT NOT NULL,
                            csrf TEXT NOT NULL, expires_ns INTEGER NOT NULL);
     CREATE TABLE tokens (name TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
                          created_ns INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);",
    // 2: speed at millions of alerts. The JSON documents move to their own table, so the rows
    // that filters and counts visit are small (~20 per page instead of ~3); the full-text index
    // keeps no positions (`detail=none`: every query is an AND of word prefixes) and has prefix
    // indexes for 2- and 3-character prefixes. The index is rebuilt from the documents after
    // this step (`reindex_fts`).
    "CREATE TABLE alert_docs (id INTEGER PRIMARY KEY, json TEXT NOT NULL);
     INSERT INTO alert_docs (id, json) SELECT id, json FROM alerts;
     ALTER TABLE alerts DROP COLUMN json;
     DROP TABLE alerts_fts;
     CREATE VIRTUAL TABLE alerts_fts USING fts5(output, fields, content='', contentless_delete=1,
                                                detail=none, prefix='2 3');
     CREATE INDEX alerts_rule_prio ON alerts(rule, priority, time_ns);
     DROP INDEX alerts_rule;",
    // 3: the UI's filters answered from indexes alone. Every filter column's index is in time
    // order and carries the priority, so "this column, this priority or more severe, newest
    // first" and its capped count read no table row; a rule within a namespace (the pair the UI
    // filters on most) has an index of its own; free text looks words up in the index's
    // vocabulary (`plan_text`). The priority's own index goes: the planner took it for "this
    // priority or more severe" and sorted most of the table by time.
    "CREATE VIRTUAL TABLE alerts_fts_vocab USING fts5vocab(alerts_fts, row);
     DROP INDEX alerts_time;
     DROP INDEX alerts_priority;
     DROP INDEX alerts_rule_prio;
     DROP INDEX alerts_source;
     DROP INDEX alerts_hostname;
     DROP INDEX alerts_container;
     DROP INDEX alerts_container_id;
     DROP INDEX alerts_image;
     DROP INDEX alerts_namespace;
     DROP INDEX alerts_pod;
     CREATE INDEX alerts_time_prio ON alerts(time_ns, priority);
     CREATE INDEX alerts_rule_time ON alerts(rule, time_ns, priority);
     CREATE INDEX alerts_source_time ON alerts(source, time_ns, priority);
     CREATE INDEX alerts_hostname_time ON alerts(hostname, time_ns, priority);
     CREATE INDEX alerts_container_time ON alerts(container, time_ns, priority);
     CREATE INDEX alerts_container_id_time ON alerts(container_id, time_ns, priority);
     CREATE INDEX alerts_image_time ON alerts(image, time_ns, priority);
     CREATE INDEX alerts_namespace_time ON alerts(namespace, time_ns, priority);
     CREATE INDEX alerts_pod_time ON alerts(pod, time_ns, priority);
     CREATE INDEX alerts_namespace_rule_time ON alerts(namespace, rule, time_ns, priority);",
    // 4: fixed planner statistics instead of gathering them at open. `ANALYZE` counts every
    // index entry exactly (and every row of a table without an index: the documents), even under
    // `analysis_limit`, so the first open of a freshly filled 10 M-alert file read every page of
    // the indexes and of the documents' table: 34 s (the statistics of migration 3 stay overwritten). The figures are those ANALYZE gives a big store (alerts in time order, up to
    // a thousand alerts per filter value); the plans they give are the ones tested
    // (`tests/plans.rs`), the same on an empty store as on a full one. `ANALYZE sqlite_schema`
    // creates the statistics table if needed and makes the connection read the new figures.
    "ANALYZE sqlite_schema;
     DELETE FROM sqlite_stat1 WHERE tbl IN ('alerts', 'alert_tags', 'alert_docs');
     INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
       ('alerts', 'alerts_time_prio', '10000000 1 1'),
       ('alerts', 'alerts_rule_time', '10000000 1000 1 1'),
       ('alerts', 'alerts_source_time', '10000000 1000 1 1'),
       ('alerts', 'alerts_hostname_time', '10000000 1000 1 1'),
       ('alerts', 'alerts_container_time', '10000000 1000 1 1'),
       ('alerts', 'alerts_container_id_time', '10000000 1000 1 1'),
       ('alerts', 'alerts_image_time', '10000000 1000 1 1'),
       ('alerts', 'alerts_namespace_time', '10000000 1000 1 1'),
       ('alerts', 'alerts_pod_time', '10000000 1000 1 1'),
       ('alerts', 'alerts_namespace_rule_time', '10000000 1000 1000 1 1'),
       ('alert_tags', 'alert_tags', '30000000 1000 1'),
       ('alert_tags', 'alert_tags_alert', '30000000 3'),
       ('alert_docs', NULL, '10000000');
     ANALYZE sqlite_schema;",
    // 5: per-minute counts for the dashboard, the groups and counts by column (`crate::rollup`):
    // created and filled from the stored alerts by `migrate`.
    "",
];

/// The tags of each alert, as `tag`, for the counts' statements.
const TAGS_FROM: &str = "alerts JOIN alert_tags ON alert_tags.alert_id = alerts.id";

/// After migration 2: fill the new full-text index from the stored documents.
fn reindex_fts(c: &Connection) -> rusqlite::Result<u64> {
    let mut n = 0;
    let mut read = c.prepare("SELECT id, json FROM alert_docs")?;
    let mut ins = c.prepare("INSERT INTO alerts_fts (rowid, output, fields) VALUES (?1, ?2, ?3)")?;
    let mut rows = read.query([])?;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let json: String = r.get(1)?;
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&json) else { continue };
        let Ok(a) = crate::parse_alert(&v) else { continue };
        let row = Row::from_alert(&a);
        ins.execute(params![id, row.output, row.fields_text])?;
        n += 1;
    }
    Ok(n)
}

/// Read connections: WAL lets each read its own snapshot while the writer writes, so this many
/// UI requests are answered at once (one slow search no longer holds up every other reader).
const READERS: usize = 3;

/// One read connection and when its current read began (ms since the store's `epoch`, 0: none),
/// for its deadline.
struct Reader {
    conn: Mutex<Connection>,
    started: Arc<AtomicU64>,
}

impl Reader {
    fn open(path: &str, flags: OpenFlags, epoch: Instant) -> Result<Reader> {
        let r = Connection::open_with_flags(path, flags)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {path}: {e}")))?;
        r.busy_timeout(std::time::Duration::from_secs(5)).map_err(unavailable)?;
        // Each reader keeps 32 MiB of pages and maps at most 256 MiB of the file (mapped pages
        // count in the process's RSS: a 4 GiB map let `harrier ui` reach 2 GiB of RSS on a
        // 10 M-alert store). Sorts and groupings too big for the cache spill to temporary files,
        // not to memory (grouping 10 M alerts sorts them all: ~1 GiB of RAM under
        // `temp_store = MEMORY`).
        r.execute_batch(
            "PRAGMA mmap_size = 268435456; PRAGMA cache_size = -32768; PRAGMA temp_store = FILE;",
        )
        .map_err(unavailable)?;
        // A read that runs past READ_DEADLINE is interrupted, so one huge query cannot hold a
        // reader for minutes after its HTTP request has timed out.
        let started = Arc::new(AtomicU64::new(0));
        {
            let started = started.clone();
            r.progress_handler(
                100_000,
                Some(move || {
                    let s = started.load(Ordering::Relaxed);
                    s != 0
                        && (epoch.elapsed().as_millis() as u64).saturating_sub(s)
                            > READ_DEADLINE.as_millis() as u64
                }),
            );
        }
        r.execute_batch(TERMS_TABLE).map_err(unavailable)?;
        Ok(Reader { conn: Mutex::new(r), started })
    }
}

pub struct SqliteStore {
    path: String,
    writer: Mutex<Connection>,
    readers: Vec<Reader>,
    /// Round-robin start for picking a free reader.
    next_reader: AtomicU64,
    epoch: Instant,
    last_error: Mutex<Option<String>>,
}

/// Longest a single read may run (the UI's requests time out at 30 s).
const READ_DEADLINE: Duration = Duration::from_secs(30);

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn ns(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

fn priority_name(p: i64) -> String {
    Priority::from_index(p).map(|p| p.as_str().to_string()).unwrap_or_else(|| p.to_string())
}

trait PriorityIndex {
    fn from_index(i: i64) -> Option<Priority>;
}
impl PriorityIndex for Priority {
    fn from_index(i: i64) -> Option<Priority> {
        Some(match i {
            0 => Priority::Emergency,
            1 => Priority::Alert,
            2 => Priority::Critical,
            3 => Priority::Error,
            4 => Priority::Warning,
            5 => Priority::Notice,
            6 => Priority::Informational,
            7 => Priority::Debug,
            _ => return None,
        })
    }
}

/// How a query's free text is matched, planned on the full-text index itself.
#[derive(Debug, Clone, PartialEq)]
enum TextMatch {
    /// No free text.
    Any,
    /// No stored alert matches the text.
    Nothing,
    /// An FTS5 expression and how many alerts match it (counting stops past
    /// [`Query::COUNT_CAP`]); when they are at most the cap, `ids` are those alerts (found while
    /// counting, so a page does not run the full-text search a second time).
    Match { expr: String, matches: u64, ids: Vec<i64> },
    /// For a page of many matches: only those at or after `min_time_ns` can be on it, and all of
    /// those have ids from `min_id` on, so the full-text index is read from there only.
    Recent { expr: String, min_time_ns: i64, min_id: i64 },
}

/// A query word that starts at most this many longer indexed terms is looked up as itself and
/// those terms (an OR of exact terms) instead of as a prefix. FTS5 reads a prefix by merging the
/// whole doclist of every term it starts into memory first (a word in every alert costs a pass
/// over millions of entries, every query); exact terms are read lazily and skipped through by
/// rowid, so an AND of words advances at the pace of its rarest word.
const MAX_EXPANSION: usize = 64;

fn quoted(t: &str) -> String {
    format!("\"{}\"", t.replace('"', "\"\""))
}

/// The index's terms one by one, without reading their doclists: an `fts5vocab` table of the
/// `instance` kind on the reader's own connection (created at open, in `temp`; the `row` kind of
/// schema 3 counts every term's documents as it returns it, a pass over millions of entries for a
/// word such as `shim` that is in every alert).
const TERMS_TABLE: &str =
    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.alerts_fts_terms USING fts5vocab(main, alerts_fts, instance)";

/// Free text → [`TextMatch`]: every word must match as a prefix, a number as itself (as
/// [`crate::fts_query`] says).
/// Each word is expanded into the longer terms it starts (stepping through the vocabulary from
/// just past the word itself, one term per lookup, at most [`MAX_EXPANSION`] + 1 of them), then
/// the matches are collected from the full-text index alone, up to the cap.
fn plan_text(c: &Connection, text: Option<&str>) -> rusqlite::Result<TextMatch> {
    let Some(text) = text else { return Ok(TextMatch::Any) };
    let words: Vec<&str> =
        text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).take(16).collect();
    if words.is_empty() {
        return Ok(TextMatch::Any);
    }
    let mut next_term =
        c.prepare_cached("SELECT term FROM temp.alerts_fts_terms WHERE term >= ?1 AND term < ?2 LIMIT 1")?;
    let mut parts: Vec<String> = Vec::new();
    for w in words {
        // The index folds case (and, beyond ASCII, diacritics): only ASCII words are expanded
        // here; others stay prefixes for FTS5 to fold.
        if !w.is_ascii() {
            parts.push(format!("{}*", quoted(w)));
            continue;
        }
        let lw = w.to_ascii_lowercase();
        if crate::whole_word(&lw) {
            let part = quoted(&lw);
            if !parts.contains(&part) {
                parts.push(part);
            }
            continue;
        }
        let end = format!("{lw}\u{10FFFF}");
        let mut from = format!("{lw}\u{1}");
        let mut longer: Vec<String> = Vec::new();
        while longer.len() <= MAX_EXPANSION {
            let Some(t) = next_term.query_row(params![from, end], |r| r.get::<_, String>(0)).optional()?
            else {
                break;
            };
            // Terms are made of letters and digits: nothing lies between `t` and `t` + U+0001.
            from = format!("{t}\u{1}");
            longer.push(t);
        }
        let part = if longer.len() > MAX_EXPANSION {
            format!("{}*", quoted(&lw))
        } else if longer.is_empty() {
            quoted(&lw)
        } else {
            let all: Vec<String> =
                std::iter::once(quoted(&lw)).chain(longer.iter().map(|t| quoted(t))).collect();
            format!("({})", all.join(" OR "))
        };
        if !parts.contains(&part) {
            parts.push(part);
        }
    }
    let expr = parts.join(" AND ");
    let mut ids: Vec<i64> = {
        let mut st = c.prepare_cached(&format!(
            "SELECT rowid FROM alerts_fts WHERE alerts_fts MATCH ?1 LIMIT {}",
            Query::COUNT_CAP + 1
        ))?;
        let found = st.query_map([&expr], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        found
    };
    let matches = ids.len() as u64;
    if matches > Query::COUNT_CAP {
        ids = Vec::new();
    }
    Ok(if matches == 0 { TextMatch::Nothing } else { TextMatch::Match { expr, matches, ids } })
}

/// WHERE clause (with a leading " WHERE " when not empty) and its parameters.
fn where_clause(q: &Query, tm: &TextMatch) -> (String, Vec<SqlValue>) {
    let mut c: Vec<String> = Vec::new();
    let mut p: Vec<SqlValue> = Vec::new();
    let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    if let Some(pr) = q.min_priority {
        c.push("priority <= ?".into());
        p.push(SqlValue::Integer(pr as i64));
    }
    for (col, val) in [
        ("rule = ?", &q.rule),
        ("source = ?", &q.source),
        ("hostname = ?", &q.hostname),
        ("image = ?", &q.image),
        ("namespace = ?", &q.namespace),
        ("pod = ?", &q.pod),
        ("user_name = ?", &q.user),
        ("process = ?", &q.process),
    ] {
        if let Some(v) = text(val) {
            c.push(col.into());
            p.push(SqlValue::Text(v));
        }
    }
    if let Some(v) = text(&q.container) {
        c.push("(container = ? OR container_id = ?)".into());
        p.push(SqlValue::Text(v.clone()));
        p.push(SqlValue::Text(v));
    }
    for t in q.tags.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        c.push("EXISTS (SELECT 1 FROM alert_tags t WHERE t.tag = ? AND t.alert_id = alerts.id)".into());
        p.push(SqlValue::Text(t.to_string()));
    }
    let placeholders = |n: usize| vec!["?"; n].join(", ");
    if !q.priorities.is_empty() {
        c.push(format!("priority IN ({})", placeholders(q.priorities.len())));
        p.extend(q.priorities.iter().map(|x| SqlValue::Integer(*x as i64)));
    }
    for (col, vals) in [("rule", &q.any_rules), ("source", &q.any_sources)] {
        if !vals.is_empty() {
            c.push(format!("{col} IN ({})", placeholders(vals.len())));
            p.extend(vals.iter().map(|v| SqlValue::Text(v.clone())));
        }
    }
    if !q.any_tags.is_empty() {
        c.push(format!(
            "EXISTS (SELECT 1 FROM alert_tags t WHERE t.alert_id = alerts.id AND t.tag IN ({}))",
            placeholders(q.any_tags.len())
        ));
        p.extend(q.any_tags.iter().map(|v| SqlValue::Text(v.clone())));
    }
    match tm {
        TextMatch::Any => {}
        TextMatch::Nothing => c.push("0".into()),
        // Few matches: the page is read from them (by rowid); many: the other filters' index
        // (or time order) leads and each row is checked against the matches (`+id` keeps the
        // planner from looking every match up and sorting them all).
        // The matches found while counting are integers from the index, written into the SQL.
        TextMatch::Match { matches, ids, .. } if *matches <= Query::COUNT_CAP => {
            let list: Vec<String> = ids.iter().map(i64::to_string).collect();
            c.push(format!("id IN ({})", list.join(",")));
        }
        TextMatch::Match { expr, .. } => {
            c.push("+id IN (SELECT rowid FROM alerts_fts WHERE alerts_fts MATCH ?)".into());
            p.push(SqlValue::Text(expr.clone()));
        }
        // The newest matches only (see `SqliteStore::recent_window`).
        TextMatch::Recent { expr, min_time_ns, min_id } => {
            c.push("time_ns >= ?".into());
            p.push(SqlValue::Integer(*min_time_ns));
            c.push("id IN (SELECT rowid FROM alerts_fts WHERE alerts_fts MATCH ? AND rowid >= ?)".into());
            p.push(SqlValue::Text(expr.clone()));
            p.push(SqlValue::Integer(*min_id));
        }
    }
    if let Some(s) = q.since_ns {
        c.push("time_ns >= ?".into());
        p.push(SqlValue::Integer(ns(s)));
    }
    if let Some(u) = q.until_ns {
        c.push("time_ns < ?".into());
        p.push(SqlValue::Integer(ns(u)));
    }
    if let Some(a) = q.after_id {
        c.push("id > ?".into());
        p.push(SqlValue::Integer(a));
    }
    if let Some(k) = q.before {
        c.push("(time_ns, id) < (?, ?)".into());
        p.push(SqlValue::Integer(ns(k.time_ns)));
        p.push(SqlValue::Integer(k.id));
    }
    // Conditions and parameters were pushed in the same order (each `?` meets its value).
    if c.is_empty() {
        (String::new(), p)
    } else {
        (format!(" WHERE {}", c.join(" AND ")), p)
    }
}

/// A page's capped count: counting stops one past the cap.
fn count_sql(w: &str) -> String {
    format!("SELECT count(*) FROM (SELECT 1 FROM alerts{w} LIMIT {})", Query::COUNT_CAP + 1)
}

/// A page (limit and offset are the last two parameters): chosen on the small rows, then only
/// its documents are read.
fn page_sql(w: &str) -> String {
    format!(
        "SELECT a.id, d.json, a.ack_by, a.ack_note, a.ack_ns, a.time_ns FROM
           (SELECT id, time_ns, ack_by, ack_note, ack_ns FROM alerts{w}
            ORDER BY time_ns DESC, id DESC LIMIT ? OFFSET ?) AS a
         JOIN alert_docs d ON d.id = a.id ORDER BY a.time_ns DESC, a.id DESC"
    )
}

fn role_of(s: &str) -> Role {
    // Unknown roles in the database are treated as the least privileged reader.
    Role::parse(s).unwrap_or(Role::Read)
}

impl SqliteStore {
    /// Open (creating if needed) the database at `path` and apply pending migrations.
    pub fn open(path: &str) -> Result<SqliteStore> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let w = Connection::open_with_flags(path, flags)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {path}: {e}")))?;
        w.busy_timeout(std::time::Duration::from_secs(5)).map_err(unavailable)?;
        // auto_vacuum must be chosen before the first table exists.
        w.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;").map_err(unavailable)?;
        w.pragma_update(None, "journal_mode", "WAL").map_err(unavailable)?;
        w.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;").map_err(unavailable)?;
        // Planner statistics are fixed (migration 4): nothing is analysed at open.
        migrate(&w)?;
        let epoch = Instant::now();
        let readers = (0..READERS).map(|_| Reader::open(path, flags, epoch)).collect::<Result<Vec<_>>>()?;
        Ok(SqliteStore {
            path: path.to_string(),
            writer: Mutex::new(w),
            readers,
            next_reader: AtomicU64::new(0),
            epoch,
            last_error: Mutex::new(None),
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Give the writer a page cache of `mib` MiB (SQLite's default is 2 MiB). Bulk loading with
    /// a large cache keeps the filter indexes' hot pages in memory; what is written is the same.
    pub fn set_writer_cache_mib(&self, mib: u64) -> Result<()> {
        let w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        w.execute_batch(&format!("PRAGMA cache_size = -{};", mib * 1024)).map_err(unavailable)
    }

    /// Cap the database at `pages` pages (SQLite's `max_page_count`): writes past it fail with
    /// "database or disk is full", exactly as on a full disk. For operators who want a hard cap
    /// beside retention, and for tests of the full-disk path.
    pub fn limit_pages(&self, pages: u64) -> Result<()> {
        let w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        w.pragma_update(None, "max_page_count", pages as i64).map_err(unavailable)
    }

    fn note(&self, r: &Result<impl Sized>) {
        let mut e = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        match r {
            Ok(_) => *e = None,
            Err(err) => *e = Some(err.to_string()),
        }
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        // A free reader if there is one (starting at the next in turn), else wait for that one.
        let first = self.next_reader.fetch_add(1, Ordering::Relaxed) as usize;
        let free = (0..self.readers.len())
            .map(|i| &self.readers[(first + i) % self.readers.len()])
            .find_map(|r| r.conn.try_lock().ok().map(|c| (r, c)));
        let (reader, c) = match free {
            Some(rc) => rc,
            None => {
                let r = &self.readers[first % self.readers.len()];
                (r, r.conn.lock().unwrap_or_else(|e| e.into_inner()))
            }
        };
        reader.started.store((self.epoch.elapsed().as_millis() as u64).max(1), Ordering::Relaxed);
        let r = f(&c).map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::OperationInterrupted => {
                StoreError::Unavailable(format!(
                    "the query ran longer than {} s and was stopped",
                    READ_DEADLINE.as_secs()
                ))
            }
            e => unavailable(e),
        });
        reader.started.store(0, Ordering::Relaxed);
        r
    }

    fn with_writer<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        let mut c = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut c).map_err(unavailable)
    }

    /// SQLite's plans (`EXPLAIN QUERY PLAN`, one line per step) for the page and the capped count
    /// of `q`, as [`Store::query`] runs them: for tests that filters are answered from indexes.
    pub fn explain(&self, q: &Query) -> Result<(String, String)> {
        let text = self.plan_text(q)?;
        let (cw, cp) = where_clause(&Query { before: None, ..q.clone() }, &text);
        let (w, mut p) = where_clause(q, &self.page_text(q, &text)?);
        p.push(SqlValue::Integer(q.limit as i64));
        p.push(SqlValue::Integer(q.offset as i64));
        self.with_reader(|c| {
            let plan = |sql: &str, params: &[SqlValue]| -> rusqlite::Result<String> {
                let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                let rows = st.query_map(params_from_iter(params.iter()), |r| r.get::<_, String>(3))?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?.join("\n"))
            };
            Ok((plan(&page_sql(&w), &p)?, plan(&count_sql(&cw), &cp)?))
        })
    }

    /// The text match a page uses: for a text with more matches than the count cap, the window
    /// of its newest matches ([`Self::recent_window`]) when one fills the page.
    fn page_text(&self, q: &Query, text: &TextMatch) -> Result<TextMatch> {
        let want = q.limit.min(Query::MAX_LIMIT) + q.offset;
        match text {
            TextMatch::Match { expr, matches, .. }
                if *matches > Query::COUNT_CAP && want > 0 && want <= 10_000 =>
            {
                Ok(self.recent_window(q, expr, want)?.unwrap_or_else(|| text.clone()))
            }
            _ => Ok(text.clone()),
        }
    }

    /// For a page of `want` rows of a text with many matches: the newest matches by rowid
    /// (insertion order, which time order mostly follows) that pass the other filters give a
    /// time `t` the page cannot go below (`want` matches are at or after it), and the smallest
    /// id at or after `t` bounds the rowids the full-text index is read from. Exact whatever
    /// the order of arrival (a late alert with an old time only widens the window). None when
    /// the newest matches read (a bounded number) do not fill the page: then the plain plan.
    fn recent_window(&self, q: &Query, expr: &str, want: usize) -> Result<Option<TextMatch>> {
        let (ow, op) = where_clause(&Query { text: None, ..q.clone() }, &TextMatch::Any);
        let cond = ow.strip_prefix(" WHERE ").map(|w| format!(" WHERE {w}")).unwrap_or_default();
        let read = (want * 8).max(2000);
        let mut params = vec![SqlValue::Text(expr.to_string()), SqlValue::Integer(read as i64)];
        params.extend(op);
        params.push(SqlValue::Integer(want as i64 - 1));
        self.with_reader(|c| {
            let t: Option<i64> = c
                .query_row(
                    &format!(
                        "SELECT alerts.time_ns FROM
                           (SELECT rowid AS fid FROM alerts_fts WHERE alerts_fts MATCH ? ORDER BY rowid DESC LIMIT ?) AS f
                         CROSS JOIN alerts ON alerts.id = f.fid{cond}
                         ORDER BY alerts.time_ns DESC, alerts.id DESC LIMIT 1 OFFSET ?"
                    ),
                    params_from_iter(params.iter()),
                    |r| r.get(0),
                )
                .optional()?;
            let Some(t) = t else { return Ok(None) };
            let m: Option<i64> = c.query_row(
                "SELECT min(id) FROM alerts INDEXED BY alerts_time_prio WHERE time_ns >= ?1",
                [t],
                |r| r.get(0),
            )?;
            Ok(m.map(|m| TextMatch::Recent { expr: expr.to_string(), min_time_ns: t, min_id: m }))
        })
    }

    fn plan_text(&self, q: &Query) -> Result<TextMatch> {
        self.with_reader(|c| plan_text(c, q.text.as_deref()))
    }

    /// Exact count from the alerts themselves.
    fn count_alerts(&self, q: &Query) -> Result<u64> {
        let text = self.plan_text(q)?;
        let (w, p) = where_clause(q, &text);
        self.with_reader(|c| {
            c.query_row(&format!("SELECT count(*) FROM alerts{w}"), params_from_iter(p.iter()), |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
        })
    }

    /// Counts by a column from the alerts themselves, largest first; all of them when `limit`
    /// is None.
    fn count_by_alerts(&self, q: &Query, by: GroupBy, limit: Option<usize>) -> Result<Vec<(GroupKey, u64)>> {
        let text = self.plan_text(q)?;
        let (w, mut p) = where_clause(q, &text);
        p.push(SqlValue::Integer(limit.map_or(-1, |l| l.clamp(1, 1000) as i64)));
        let sql = if by == GroupBy::Tags {
            format!(
                "SELECT t.tag, count(*) AS n FROM alert_tags t WHERE t.alert_id IN (SELECT id FROM alerts{w})
                 GROUP BY t.tag ORDER BY n DESC, t.tag LIMIT ?"
            )
        } else {
            let col = by.column();
            format!(
                "SELECT {col}, count(*) AS n FROM alerts{w} GROUP BY {col} ORDER BY n DESC, {col} LIMIT ?"
            )
        };
        self.with_reader(|c| {
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map(params_from_iter(p.iter()), |r| {
                Ok((group_key(r.get(0)?, by), r.get::<_, i64>(1)? as u64))
            })?;
            rows.collect()
        })
    }

    /// (bucket start, priority, count) from the alerts themselves.
    fn histogram_alerts(&self, q: &Query, b: i64) -> Result<Vec<(i64, i64, u64)>> {
        let text = self.plan_text(q)?;
        let (w, p) = where_clause(q, &text);
        let mut all = vec![SqlValue::Integer(b), SqlValue::Integer(b)];
        all.extend(p);
        self.with_reader(|c| {
            let mut st = c.prepare(&format!(
                "SELECT (time_ns / ?) * ? AS start, priority, count(*) FROM alerts{w} GROUP BY start, priority ORDER BY start, priority"
            ))?;
            let rows = st.query_map(params_from_iter(all.iter()), |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)? as u64))
            })?;
            rows.collect()
        })
    }

    /// Groups of repeats from the alerts themselves, most recent first; `page` is (limit,
    /// offset), all of them when None.
    fn groups_alerts(&self, q: &Query, page: Option<(usize, usize)>) -> Result<Vec<GroupPart>> {
        let text = self.plan_text(q)?;
        let (w, mut p) = where_clause(q, &text);
        let (limit, offset) = page.map_or((-1, 0), |(l, o)| (l as i64, o as i64));
        p.push(SqlValue::Integer(limit));
        p.push(SqlValue::Integer(offset));
        self.with_reader(|c| {
            let mut st = c.prepare(&format!(
                "SELECT rule, min(priority), container, hostname, count(*), min(time_ns), max(time_ns), max(id), container_id
                 FROM alerts{w} GROUP BY rule, container_id, container, hostname ORDER BY max(time_ns) DESC, max(id) DESC LIMIT ? OFFSET ?"
            ))?;
            let rows = st.query_map(params_from_iter(p.iter()), group_part)?;
            rows.collect()
        })
    }

    fn used_bytes(c: &Connection) -> rusqlite::Result<u64> {
        let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let free: i64 = c.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        let size: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok(((pages - free).max(0) * size) as u64)
    }

    /// Delete the `n` oldest alerts matching `cond` (a fixed SQL condition with `?1`).
    fn delete_oldest(c: &mut Connection, cond: &str, arg: i64, n: i64) -> rusqlite::Result<u64> {
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("CREATE TEMP TABLE IF NOT EXISTS doomed (id INTEGER PRIMARY KEY)", [])?;
        tx.execute("DELETE FROM doomed", [])?;
        tx.execute(
            &format!("INSERT INTO doomed SELECT id FROM alerts WHERE {cond} ORDER BY time_ns, id LIMIT ?2"),
            params![arg, n],
        )?;
        let span: (Option<i64>, Option<i64>) = tx.query_row(
            "SELECT min(time_ns), max(time_ns) FROM alerts WHERE id IN (SELECT id FROM doomed)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        for sql in rollup::subtract_sql(TAGS_FROM, "alerts.id IN (SELECT id FROM doomed)", "0") {
            tx.execute(&sql, [])?;
        }
        tx.execute("DELETE FROM alerts_fts WHERE rowid IN (SELECT id FROM doomed)", [])?;
        tx.execute("DELETE FROM alert_tags WHERE alert_id IN (SELECT id FROM doomed)", [])?;
        tx.execute("DELETE FROM alert_docs WHERE id IN (SELECT id FROM doomed)", [])?;
        let gone = tx.execute("DELETE FROM alerts WHERE id IN (SELECT id FROM doomed)", [])?;
        if let (Some(lo), Some(hi)) = span {
            for sql in rollup::after_delete_sql(lo, hi) {
                tx.execute(&sql, [])?;
            }
        }
        tx.execute("DELETE FROM doomed", [])?;
        tx.commit()?;
        Ok(gone as u64)
    }
}

fn migrate(c: &Connection) -> Result<()> {
    c.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);")
        .map_err(unavailable)?;
    let v: i64 = c
        .query_row("SELECT coalesce(max(version), 0) FROM schema_version", [], |r| r.get(0))
        .map_err(unavailable)?;
    if v as usize > MIGRATIONS.len() {
        return Err(StoreError::Unavailable(format!(
            "the database schema is version {v}, newer than this Harrier knows ({}); upgrade Harrier",
            MIGRATIONS.len()
        )));
    }
    for (i, m) in MIGRATIONS.iter().enumerate().skip(v as usize) {
        let step = || -> rusqlite::Result<()> {
            let counts;
            let m = if i + 1 == 5 {
                counts = rollup::schema(true);
                counts.as_str()
            } else {
                m
            };
            c.execute_batch(&format!(
                "BEGIN IMMEDIATE; {m}; INSERT INTO schema_version (version) VALUES ({});",
                i + 1
            ))?;
            if i + 1 == 5 {
                let t = Instant::now();
                let keys = c.execute(&rollup::add_sql("true", "0"), [])?;
                c.execute(&rollup::add_tags_sql(TAGS_FROM, "true"), [])?;
                if keys > 0 {
                    tracing::info!(
                        keys,
                        secs = t.elapsed().as_secs_f64(),
                        "store: counted the stored alerts per minute"
                    );
                }
            }
            if i + 1 == 2 {
                let n = reindex_fts(c)?;
                if n > 0 {
                    tracing::info!(alerts = n, "store: rebuilt the full-text index");
                }
            }
            c.execute_batch("COMMIT")
        };
        if let Err(e) = step() {
            let _ = c.execute_batch("ROLLBACK");
            return Err(StoreError::Unavailable(format!("migration {} failed: {e}", i + 1)));
        }
        tracing::info!(version = i + 1, "store: applied schema migration");
    }
    Ok(())
}

/// A counted value as [`rollup::merge_top`] orders it.
fn group_key(v: SqlValue, by: GroupBy) -> GroupKey {
    match v {
        SqlValue::Integer(i) if by == GroupBy::Priority => GroupKey::Priority(i),
        SqlValue::Integer(i) => GroupKey::Text(i.to_string()),
        SqlValue::Text(s) => GroupKey::Text(s),
        _ => GroupKey::Text(String::new()),
    }
}

/// A group row: rule, priority, container, hostname, count, first, last, newest id, container id.
fn group_part(r: &rusqlite::Row<'_>) -> rusqlite::Result<GroupPart> {
    Ok(GroupPart {
        rule: r.get(0)?,
        priority: r.get(1)?,
        container: r.get(2)?,
        hostname: r.get(3)?,
        count: r.get::<_, i64>(4)? as u64,
        first_ns: r.get(5)?,
        last_ns: r.get(6)?,
        last_id: r.get(7)?,
        container_id: r.get(8)?,
    })
}

fn stored_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredAlert> {
    let id: i64 = r.get(0)?;
    let json: String = r.get(1)?;
    let ack_by: Option<String> = r.get(2)?;
    let ack_note: Option<String> = r.get(3)?;
    let ack_ns: Option<i64> = r.get(4)?;
    let alert = serde_json::from_str(&json).unwrap_or(serde_json::Value::Null);
    let ack =
        ack_by.map(|by| Ack { by, note: ack_note.unwrap_or_default(), time_ns: ack_ns.unwrap_or(0) as u64 });
    Ok(StoredAlert { id, alert, ack })
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn insert(&self, alerts: &[Alert]) -> Result<Vec<i64>> {
        let rows: Vec<Row> = alerts.iter().map(Row::from_alert).collect();
        let r = self.with_writer(|c| {
            // IMMEDIATE: take the write lock first (waiting under busy_timeout), so two processes
            // writing the same file never deadlock on a read-to-write upgrade.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut ids = Vec::with_capacity(rows.len());
            {
                let mut ins = tx.prepare_cached(
                    "INSERT INTO alerts (time_ns, rule, priority, source, hostname, tags, container, container_id,
                       image, namespace, pod, user_name, process)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )?;
                let mut doc = tx.prepare_cached("INSERT INTO alert_docs (id, json) VALUES (?1, ?2)")?;
                let mut fts = tx.prepare_cached("INSERT INTO alerts_fts (rowid, output, fields) VALUES (?1, ?2, ?3)")?;
                let mut tag = tx.prepare_cached("INSERT OR IGNORE INTO alert_tags (tag, alert_id) VALUES (?1, ?2)")?;
                for row in &rows {
                    let tags = serde_json::to_string(&row.tags).unwrap_or_else(|_| "[]".into());
                    ins.execute(params![
                        ns(row.time_ns),
                        row.rule,
                        row.priority as i64,
                        row.source,
                        row.hostname,
                        tags,
                        row.container,
                        row.container_id,
                        row.image,
                        row.namespace,
                        row.pod,
                        row.user,
                        row.process
                    ])?;
                    let id = tx.last_insert_rowid();
                    doc.execute(params![id, row.json])?;
                    fts.execute(params![id, row.output, row.fields_text])?;
                    for t in &row.tags {
                        tag.execute(params![t, id])?;
                    }
                    ids.push(id);
                }
            }
            // The one writer holds the file's write lock: the batch is exactly this id range.
            if let (Some(lo), Some(hi)) = (ids.iter().min(), ids.iter().max()) {
                tx.execute(&rollup::add_sql(&format!("id >= {lo} AND id <= {hi}"), "0"), [])?;
                tx.execute(&rollup::add_tags_sql(TAGS_FROM, &format!("alerts.id >= {lo} AND alerts.id <= {hi}")), [])?;
            }
            tx.commit()?;
            Ok(ids)
        });
        self.note(&r);
        r
    }

    fn query(&self, q: &Query) -> Result<Page> {
        let limit = q.limit.min(Query::MAX_LIMIT);
        // The total counts from the same position as the page's (a cursor does not shrink it).
        let counted = Query { before: None, ..q.clone() };
        let text = self.plan_text(q)?;
        let (cw, cp) = where_clause(&counted, &text);
        let (w, mut p) = where_clause(q, &self.page_text(q, &text)?);
        let text_only = where_clause(&Query { text: None, ..counted.clone() }, &TextMatch::Any).0.is_empty();
        self.with_reader(|c| {
            // Counting stops one past the cap: a broad filter never walks millions of rows. Text
            // alone was counted on the full-text index already.
            let capped: i64 = match (text_only, &text) {
                (true, TextMatch::Match { matches, .. }) => *matches as i64,
                // Common text and another filter: the text's matches are collected before the
                // other filter's index is walked. The newest ids' matches first (a slice of
                // them past the cap proves the whole is too), widened tenfold, then all.
                (false, TextMatch::Match { expr, matches, .. }) if *matches > Query::COUNT_CAP => {
                    let top: i64 =
                        c.query_row("SELECT coalesce(max(id), 0) FROM alerts", [], |r| r.get(0))?;
                    let mut capped = None;
                    for slice in [20_000i64, 200_000, 2_000_000] {
                        if top <= slice {
                            break;
                        }
                        let recent = TextMatch::Recent {
                            expr: expr.clone(),
                            min_time_ns: i64::MIN,
                            min_id: top - slice,
                        };
                        let (sw, sp) = where_clause(&counted, &recent);
                        let n: i64 =
                            c.query_row(&count_sql(&sw), params_from_iter(sp.iter()), |r| r.get(0))?;
                        if n > Query::COUNT_CAP as i64 {
                            capped = Some(n);
                            break;
                        }
                    }
                    match capped {
                        Some(n) => n,
                        None => c.query_row(&count_sql(&cw), params_from_iter(cp.iter()), |r| r.get(0))?,
                    }
                }
                _ => c.query_row(&count_sql(&cw), params_from_iter(cp.iter()), |r| r.get(0))?,
            };
            p.push(SqlValue::Integer(limit as i64));
            p.push(SqlValue::Integer(q.offset as i64));
            // The page is chosen on the small rows; only its documents are read.
            let mut st = c.prepare(&page_sql(&w))?;
            let mut last = None;
            let events = st
                .query_map(params_from_iter(p.iter()), |r| Ok((stored_from_row(r)?, r.get::<_, i64>(5)?)))?
                .map(|r| {
                    r.map(|(e, t)| {
                        last = Some(t as u64);
                        e
                    })
                })
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Page::build(events, last, limit, capped as u64))
        })
    }

    fn count(&self, q: &Query) -> Result<u64> {
        if let Some(sp) = rollup::split(q) {
            let (w, p) = where_clause(&sp.filter, &TextMatch::Any);
            let sql =
                format!("SELECT coalesce(sum(n), 0) FROM alert_rollup{w}{}", sp.minute_cond(!w.is_empty()));
            let mut n = self
                .with_reader(|c| c.query_row(&sql, params_from_iter(p.iter()), |r| r.get::<_, i64>(0)))?
                as u64;
            for e in &sp.edges {
                n += self.count_alerts(e)?;
            }
            return Ok(n);
        }
        self.count_alerts(q)
    }

    fn get(&self, id: i64) -> Result<Option<StoredAlert>> {
        self.with_reader(|c| {
            c.query_row(
                "SELECT a.id, d.json, a.ack_by, a.ack_note, a.ack_ns FROM alerts a JOIN alert_docs d ON d.id = a.id
                 WHERE a.id = ?1",
                [id],
                stored_from_row,
            )
            .optional()
        })
    }

    fn count_by(&self, q: &Query, by: GroupBy, limit: usize) -> Result<Vec<(String, u64)>> {
        let name = |k: GroupKey| match k {
            GroupKey::Priority(i) => priority_name(i),
            GroupKey::Text(s) => s,
        };
        let Some(sp) = rollup::split(q).filter(|sp| rollup::groups_by(sp, by)) else {
            return Ok(self
                .count_by_alerts(q, by, Some(limit))?
                .into_iter()
                .map(|(k, n)| (name(k), n))
                .collect());
        };
        let (w, p) = where_clause(&sp.filter, &TextMatch::Any);
        let mc = sp.minute_cond(!w.is_empty());
        let (col, table) =
            if by == GroupBy::Tags { ("tag", "alert_tag_rollup") } else { (by.column(), "alert_rollup") };
        let sql = format!("SELECT {col}, sum(n) FROM {table}{w}{mc} GROUP BY {col}");
        let parts = self.with_reader(|c| {
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map(params_from_iter(p.iter()), |r| {
                Ok((group_key(r.get(0)?, by), r.get::<_, i64>(1)? as u64))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        let parts = sp.with_edges(parts, |e| self.count_by_alerts(e, by, None))?;
        Ok(rollup::merge_top(parts, limit, name))
    }

    fn histogram(&self, q: &Query, bucket_ns: u64) -> Result<Vec<Bucket>> {
        let b = ns(bucket_ns.max(1));
        let parts = match rollup::split(q).filter(|_| b % rollup::MINUTE_NS == 0) {
            None => self.histogram_alerts(q, b)?,
            Some(sp) => {
                let (w, p) = where_clause(&sp.filter, &TextMatch::Any);
                let sql = format!(
                    "SELECT (minute / {b}) * {b} AS start, priority, sum(n) FROM alert_rollup{w}{} GROUP BY start, priority",
                    sp.minute_cond(!w.is_empty())
                );
                let parts = self.with_reader(|c| {
                    let mut st = c.prepare(&sql)?;
                    let rows = st.query_map(params_from_iter(p.iter()), |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)? as u64))
                    })?;
                    rows.collect::<rusqlite::Result<Vec<_>>>()
                })?;
                sp.with_edges(parts, |e| self.histogram_alerts(e, b))?
            }
        };
        Ok(rollup::merge_buckets(parts)
            .into_iter()
            .map(|(s, p, n)| Bucket { start_ns: s as u64, priority: priority_name(p), count: n })
            .collect())
    }

    fn groups(&self, q: &Query) -> Result<Vec<Group>> {
        let limit = q.limit.clamp(1, Query::MAX_LIMIT);
        let parts = match rollup::split(q) {
            None => self.groups_alerts(q, Some((limit, q.offset)))?,
            Some(sp) => {
                let (w, p) = where_clause(&sp.filter, &TextMatch::Any);
                let sql = format!(
                    "SELECT rule, min(priority), container, hostname, sum(n), min(min_t), max(max_t), max(max_id), container_id
                     FROM alert_rollup{w}{} GROUP BY rule, container_id, container, hostname",
                    sp.minute_cond(!w.is_empty())
                );
                let parts = self.with_reader(|c| {
                    let mut st = c.prepare(&sql)?;
                    let rows = st.query_map(params_from_iter(p.iter()), group_part)?;
                    rows.collect::<rusqlite::Result<Vec<_>>>()
                })?;
                let parts = sp.with_edges(parts, |e| self.groups_alerts(e, None))?;
                rollup::merge_groups(parts, q.offset, limit)
            }
        };
        Ok(parts
            .into_iter()
            .map(|g| {
                let p = priority_name(g.priority);
                g.into_group(p)
            })
            .collect())
    }

    fn acknowledge(&self, id: i64, by: &str, note: &str) -> Result<bool> {
        let r = self.with_writer(|c| {
            c.execute(
                "UPDATE alerts SET ack_by = ?1, ack_note = ?2, ack_ns = ?3 WHERE id = ?4",
                params![by, note, ns(now_ns()), id],
            )
        });
        self.note(&r);
        r.map(|n| n > 0)
    }

    fn enforce_retention(&self, ret: &Retention) -> Result<u64> {
        let r = self.with_writer(|c| {
            let mut removed = 0u64;
            if let Some(age) = ret.max_age_ns {
                let cutoff = ns(now_ns().saturating_sub(age));
                loop {
                    let n = Self::delete_oldest(c, "time_ns < ?1", cutoff, 10_000)?;
                    removed += n;
                    if n == 0 {
                        break;
                    }
                }
            }
            if let Some(max) = ret.max_bytes {
                // Remove the oldest share that brings the data under the cap, a few rounds at most
                // (index pages do not shrink exactly in proportion).
                for _ in 0..8 {
                    let used = Self::used_bytes(c)?;
                    if used <= max {
                        break;
                    }
                    let count: i64 =
                        c.query_row("SELECT coalesce(sum(n), 0) FROM alert_rollup", [], |r| r.get(0))?;
                    if count == 0 {
                        break;
                    }
                    let share = ((used - max) as f64 / used as f64 * count as f64).ceil() as i64;
                    let n = Self::delete_oldest(c, "?1 = ?1", 0, share.max(1) + count / 50)?;
                    removed += n;
                }
            }
            if removed > 0 {
                c.execute_batch("PRAGMA incremental_vacuum;")?;
                let _ = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            }
            Ok(removed)
        });
        if let Ok(n) = &r {
            if *n > 0 {
                tracing::info!(removed = n, "store: retention removed old alerts");
            }
        }
        r
    }

    fn status(&self) -> StoreStatus {
        let error = self.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let counts = self.with_reader(|c| {
            // From the per-minute counts: `count(*)` reads every alert's index entry.
            let n: i64 = c.query_row("SELECT coalesce(sum(n), 0) FROM alert_rollup", [], |r| r.get(0))?;
            Ok((n as u64, Self::used_bytes(c)?))
        });
        match counts {
            Ok((alerts, bytes)) => {
                StoreStatus { backend: "sqlite".into(), ok: error.is_none(), error, alerts, bytes }
            }
            Err(e) => StoreStatus {
                backend: "sqlite".into(),
                ok: false,
                error: Some(e.to_string()),
                alerts: 0,
                bytes: 0,
            },
        }
    }

    fn max_id(&self) -> Result<i64> {
        self.with_reader(|c| c.query_row("SELECT coalesce(max(id), 0) FROM alerts", [], |r| r.get(0)))
    }

    fn user_count(&self) -> Result<u64> {
        self.with_reader(|c| {
            c.query_row("SELECT count(*) FROM users", [], |r| r.get::<_, i64>(0)).map(|n| n as u64)
        })
    }

    fn user_put(&self, name: &str, phc: &str, role: Role) -> Result<()> {
        self.with_writer(|c| {
            c.execute(
                "INSERT INTO users (name, phc, role) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET phc = excluded.phc, role = excluded.role",
                params![name, phc, role.as_str()],
            )
            .map(|_| ())
        })
    }

    fn user_get(&self, name: &str) -> Result<Option<(String, Role)>> {
        self.with_reader(|c| {
            c.query_row("SELECT phc, role FROM users WHERE name = ?1", [name], |r| {
                Ok((r.get::<_, String>(0)?, role_of(&r.get::<_, String>(1)?)))
            })
            .optional()
        })
    }

    fn session_put(&self, id_hash: &str, user: &str, role: Role, csrf: &str, expires_ns: u64) -> Result<()> {
        self.with_writer(|c| {
            c.execute("DELETE FROM sessions WHERE expires_ns < ?1", [ns(now_ns())])?;
            c.execute(
                "INSERT INTO sessions (id_hash, user_name, role, csrf, expires_ns) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id_hash, user, role.as_str(), csrf, ns(expires_ns)],
            )
            .map(|_| ())
        })
    }

    fn session_get(&self, id_hash: &str, now: u64) -> Result<Option<(String, Role, String)>> {
        self.with_reader(|c| {
            c.query_row(
                "SELECT user_name, role, csrf FROM sessions WHERE id_hash = ?1 AND expires_ns > ?2",
                params![id_hash, ns(now)],
                |r| Ok((r.get(0)?, role_of(&r.get::<_, String>(1)?), r.get(2)?)),
            )
            .optional()
        })
    }

    fn session_delete(&self, id_hash: &str) -> Result<()> {
        self.with_writer(|c| c.execute("DELETE FROM sessions WHERE id_hash = ?1", [id_hash]).map(|_| ()))
    }

    fn token_put(&self, name: &str, hash: &str, role: Role) -> Result<()> {
        let r = self.with_writer(|c| {
            c.execute(
                "INSERT INTO tokens (name, hash, role, created_ns) VALUES (?1, ?2, ?3, ?4)",
                params![name, hash, role.as_str(), ns(now_ns())],
            )
        });
        match r {
            Ok(_) => Ok(()),
            Err(StoreError::Unavailable(m)) if m.contains("UNIQUE") => {
                Err(StoreError::BadRequest(format!("a token named '{name}' already exists")))
            }
            Err(e) => Err(e),
        }
    }

    fn token_get(&self, hash: &str) -> Result<Option<(String, Role)>> {
        self.with_reader(|c| {
            c.query_row("SELECT name, role FROM tokens WHERE hash = ?1 AND revoked = 0", [hash], |r| {
                Ok((r.get(0)?, role_of(&r.get::<_, String>(1)?)))
            })
            .optional()
        })
    }

    fn token_revoke(&self, name: &str) -> Result<bool> {
        self.with_writer(|c| {
            c.execute("UPDATE tokens SET revoked = 1 WHERE name = ?1 AND revoked = 0", [name]).map(|n| n > 0)
        })
    }

    fn token_list(&self) -> Result<Vec<(String, Role, bool)>> {
        self.with_reader(|c| {
            let mut st = c.prepare("SELECT name, role, revoked FROM tokens ORDER BY name")?;
            let rows = st.query_map([], |r| {
                Ok((r.get(0)?, role_of(&r.get::<_, String>(1)?), r.get::<_, i64>(2)? != 0))
            })?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read that takes long (here: held open) leaves the other readers free: counts from other
    /// threads complete meanwhile, on every reader but the busy one, and again after it is done.
    #[test]
    fn a_slow_read_does_not_hold_up_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let s = Arc::new(SqliteStore::open(dir.path().join("a.db").to_str().unwrap()).unwrap());
        let (busy_tx, busy_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let slow = {
            let s = s.clone();
            std::thread::spawn(move || {
                s.with_reader(|_| {
                    busy_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    Ok(())
                })
            })
        };
        busy_rx.recv().unwrap();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        {
            let s = s.clone();
            std::thread::spawn(move || {
                for _ in 0..10 {
                    s.count(&Query::new()).unwrap();
                }
                done_tx.send(()).unwrap();
            });
        }
        let answered = done_rx.recv_timeout(Duration::from_secs(20));
        release_tx.send(()).unwrap();
        slow.join().unwrap().unwrap();
        assert!(answered.is_ok(), "reads waited for the slow one");
        assert_eq!(s.count(&Query::new()).unwrap(), 0);
    }

    /// The planner's statistics are the fixed ones of migration 4, loaded by both connections,
    /// and reopening a store analyses nothing (the figures stay as written, whatever it holds).
    #[test]
    fn planner_statistics_are_fixed_and_nothing_is_analysed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let stat = |s: &SqliteStore, idx: &str| -> String {
            s.with_reader(|c| {
                c.query_row("SELECT stat FROM sqlite_stat1 WHERE idx = ?1", [idx], |r| r.get(0))
            })
            .unwrap()
        };
        {
            let s = SqliteStore::open(path.to_str().unwrap()).unwrap();
            assert_eq!(stat(&s, "alerts_namespace_rule_time"), "10000000 1000 1000 1 1");
            let a = crate::parse_alert(&serde_json::json!({
                "time": "2026-01-01T00:00:00Z", "rule": "R", "priority": "Warning", "output": "o",
                "output_fields": {}, "source": "syscall", "hostname": "h", "tags": []
            }))
            .unwrap();
            s.insert(&vec![a; 3000]).unwrap();
        }
        let s = SqliteStore::open(path.to_str().unwrap()).unwrap();
        assert_eq!(stat(&s, "alerts_time_prio"), "10000000 1 1");
        assert_eq!(stat(&s, "alerts_rule_time"), "10000000 1000 1 1");
        // The reader plans with them: a rule's page comes from the rule's index.
        let (page, _) = s.explain(&Query { rule: Some("R".into()), limit: 50, ..Query::new() }).unwrap();
        assert!(page.contains("alerts_rule_time"), "{page}");
    }

    /// A database written by schema 2 (the previous release: no vocabulary table, indexes
    /// without the priority) opens under schema 3 with its alerts, searchable by free text and
    /// filtered through the new indexes.
    #[test]
    fn schema_2_database_upgrades_in_place_with_its_alerts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.db");
        let alerts: Vec<_> = (0..30u64)
            .map(|i| {
                let mut a = harrier_sinks::test_alert();
                a.time_ns = 1_700_000_000_000_000_000 + i;
                a.rule = format!("Rule {}", i % 3);
                a.output = format!("old alert {i} about zebras{}", i % 2);
                a
            })
            .collect();
        {
            // Exactly what schema 2's Harrier wrote: its migrations, then its insert statements.
            let c = Connection::open(&path).unwrap();
            c.execute_batch(&format!(
                "CREATE TABLE schema_version (version INTEGER NOT NULL); BEGIN; {}; INSERT INTO schema_version VALUES (1);
                 {}; INSERT INTO schema_version VALUES (2); COMMIT;",
                MIGRATIONS[0], MIGRATIONS[1]
            ))
            .unwrap();
            for a in &alerts {
                let row = Row::from_alert(a);
                c.execute(
                    "INSERT INTO alerts (time_ns, rule, priority, source, hostname, tags, container, container_id,
                       image, namespace, pod, user_name, process) VALUES (?1, ?2, ?3, 'syscall', 'h', '[]', '', '', '', 'ns', '', '', '')",
                    params![ns(row.time_ns), row.rule, row.priority as i64],
                )
                .unwrap();
                let id = c.last_insert_rowid();
                c.execute("INSERT INTO alert_docs (id, json) VALUES (?1, ?2)", params![id, row.json])
                    .unwrap();
                c.execute(
                    "INSERT INTO alerts_fts (rowid, output, fields) VALUES (?1, ?2, ?3)",
                    params![id, row.output, row.fields_text],
                )
                .unwrap();
            }
            assert!(c.prepare("SELECT 1 FROM alerts_fts_vocab").is_err(), "schema 2 has no vocabulary");
        }
        let s = SqliteStore::open(path.to_str().unwrap()).unwrap();
        let version: i64 = s
            .with_reader(|c| c.query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(version as usize, MIGRATIONS.len());
        assert_eq!(s.count(&Query::new()).unwrap(), 30);
        // The per-minute counts were filled from the stored alerts (`after_id` reads the alerts).
        let raw = Query { after_id: Some(0), ..Query::new() };
        for by in [crate::GroupBy::Rule, crate::GroupBy::Tags, crate::GroupBy::Priority] {
            assert_eq!(s.count_by(&Query::new(), by, 10).unwrap(), s.count_by(&raw, by, 10).unwrap());
        }
        assert_eq!(s.groups(&Query::new()).unwrap(), s.groups(&raw).unwrap());
        assert_eq!(
            s.histogram(&Query::new(), 60_000_000_000).unwrap(),
            s.histogram(&raw, 60_000_000_000).unwrap()
        );
        assert_eq!(s.get(1).unwrap().unwrap().alert["output"], "old alert 0 about zebras0");
        let mut q = Query::new();
        q.text = Some("zebras1".into());
        assert_eq!(s.query(&q).unwrap().total, 15);
        q.text = Some("zebr".into());
        assert_eq!(s.query(&q).unwrap().total, 30);
        let mut q = Query::new();
        q.rule = Some("Rule 1".into());
        q.namespace = Some("ns".into());
        let page = s.query(&q).unwrap();
        assert_eq!((page.total, page.events.len()), (10, 10));
        assert!(s.explain(&q).unwrap().0.contains("alerts_namespace_rule_time"));
        // New alerts go in beside the old ones.
        s.insert(&alerts[..1]).unwrap();
        assert_eq!(s.count(&Query::new()).unwrap(), 31);
    }

    /// A database written by schema 1 (JSON in the alerts table, positional full-text index)
    /// opens under the current schema with its alerts and a rebuilt, searchable index.
    #[test]
    fn schema_1_database_migrates_with_its_alerts() {
        let d = std::env::temp_dir().join(format!("harrier-mig-{}", std::process::id()));
        let _ = std::fs::remove_file(&d);
        {
            let c = Connection::open(&d).unwrap();
            c.execute_batch(&format!(
                "CREATE TABLE schema_version (version INTEGER NOT NULL); BEGIN; {}; INSERT INTO schema_version VALUES (1); COMMIT;",
                MIGRATIONS[0]
            ))
            .unwrap();
            let mut a = harrier_sinks::test_alert();
            a.output = "old alert about zebras".into();
            let row = Row::from_alert(&a);
            c.execute(
                "INSERT INTO alerts (id, time_ns, rule, priority, source, hostname, tags, container, container_id,
                   image, namespace, pod, user_name, process, json)
                 VALUES (7, ?1, ?2, 4, 'syscall', 'h', '[]', '', '', '', '', '', '', '', ?3)",
                params![ns(row.time_ns), row.rule, row.json],
            )
            .unwrap();
            c.execute("INSERT INTO alerts_fts (rowid, output, fields) VALUES (7, ?1, '')", [&row.output])
                .unwrap();
        }
        let s = SqliteStore::open(d.to_str().unwrap()).unwrap();
        let got = s.get(7).unwrap().unwrap();
        assert_eq!(got.alert["output"], "old alert about zebras");
        let mut q = Query::new();
        q.text = Some("zebr".into());
        assert_eq!(s.count(&q).unwrap(), 1);
        drop(s);
        let _ = std::fs::remove_file(&d);
        let _ = std::fs::remove_file(format!("{}-wal", d.display()));
        let _ = std::fs::remove_file(format!("{}-shm", d.display()));
    }
}
