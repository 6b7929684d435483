//! The PostgreSQL backend, for fleets: many Harrier nodes write, several UI replicas read, one
//! database. Same schema shape as SQLite (one column per filter, the whole alert as JSON), with
//! tags as a `text[]` (GIN) and the full text as a `tsvector` (GIN) built from the same words the
//! SQLite index sees (`crate::words`), so both backends answer the same queries the same way.
//!
//! Migrations are versioned (`schema_version`) and applied at open under an advisory lock, so
//! several nodes starting at once apply each exactly once. Every filter value is a bound
//! parameter; column names come from fixed tables.
//!
//! Connections come from a small pool; the `postgres` client blocks, so callers run store calls on
//! blocking threads, as the [`Store`] trait says.

use crate::auth::Role;
use crate::pgtls::{self, RustlsConnect};
use crate::rollup::{self, GroupKey, GroupPart};
use crate::{
    now_ns, words, Ack, Bucket, Group, GroupBy, Page, Query, Result, Retention, Row, Store, StoreError,
    StoreStatus, StoredAlert,
};
use harrier_engine::Alert;
use harrier_rules::Priority;
use postgres::types::ToSql;
use postgres::{Client, Config};
use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

const MIGRATIONS: &[&str] = &[
    // 1: alerts, accounts.
    "CREATE TABLE alerts (
        id BIGSERIAL PRIMARY KEY,
        time_ns BIGINT NOT NULL,
        rule TEXT NOT NULL,
        priority INTEGER NOT NULL,
        source TEXT NOT NULL,
        hostname TEXT NOT NULL,
        tags TEXT[] NOT NULL,
        container TEXT NOT NULL,
        container_id TEXT NOT NULL,
        image TEXT NOT NULL,
        namespace TEXT NOT NULL,
        pod TEXT NOT NULL,
        user_name TEXT NOT NULL,
        process TEXT NOT NULL,
        json TEXT NOT NULL,
        fts TSVECTOR NOT NULL,
        bytes INTEGER NOT NULL,
        ack_by TEXT,
        ack_note TEXT,
        ack_ns BIGINT
     );
     CREATE INDEX alerts_time ON alerts (time_ns DESC, id DESC);
     CREATE INDEX alerts_rule ON alerts (rule, time_ns DESC, id DESC);
     CREATE INDEX alerts_priority ON alerts (priority, time_ns DESC, id DESC);
     CREATE INDEX alerts_source ON alerts (source, time_ns DESC, id DESC);
     CREATE INDEX alerts_hostname ON alerts (hostname, time_ns DESC, id DESC);
     CREATE INDEX alerts_container ON alerts (container, time_ns DESC, id DESC);
     CREATE INDEX alerts_container_id ON alerts (container_id, time_ns DESC, id DESC);
     CREATE INDEX alerts_image ON alerts (image, time_ns DESC, id DESC);
     CREATE INDEX alerts_namespace ON alerts (namespace, time_ns DESC, id DESC);
     CREATE INDEX alerts_pod ON alerts (pod, time_ns DESC, id DESC);
     CREATE INDEX alerts_tags ON alerts USING GIN (tags);
     CREATE INDEX alerts_fts ON alerts USING GIN (fts);
     CREATE TABLE users (name TEXT PRIMARY KEY, phc TEXT NOT NULL, role TEXT NOT NULL);
     CREATE TABLE sessions (id_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL, role TEXT NOT NULL,
                            csrf TEXT NOT NULL, expires_ns BIGINT NOT NULL);
     CREATE TABLE tokens (name TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
                          created_ns BIGINT NOT NULL, revoked BOOLEAN NOT NULL DEFAULT false);",
    // 2: a rule within a namespace (the pair the UI filters on most) from one index, newest
    // first, with the priority in the index: the page and its capped count read only matching
    // rows (the planner had been intersecting two bitmaps and visiting every heap page of them).
    "CREATE INDEX alerts_namespace_rule ON alerts (namespace, rule, time_ns DESC, id DESC) INCLUDE (priority);
     ANALYZE alerts;",
    // 3: the index's vocabulary, so a free-text word becomes the exact terms it starts (see
    // `PgStore::plan_tsquery`); filled from the stored alerts, then by every insert.
    "CREATE TABLE alert_terms (term TEXT COLLATE \"C\" PRIMARY KEY);
     INSERT INTO alert_terms SELECT DISTINCT w FROM alerts, unnest(tsvector_to_array(fts)) AS w
       ORDER BY 1 ON CONFLICT DO NOTHING;",
    // 4: per-minute counts for the dashboard, the groups and counts by column (`crate::rollup`),
    // with the documents' bytes (what `maxsize` caps); created and filled by `migrate`.
    "",
    // 5: vacuum the alerts every 50,000 inserts instead of every 20 % of the table. A page's
    // capped count is an index-only scan in time order, newest first, and each entry of a page
    // not yet marked all-visible costs a heap fetch: by default the newest 2 M alerts of a 10 M
    // store (exactly the ones the UI reads first) were such pages. Vacuuming an insert-only
    // table only visits the pages written since the last one (and flushes the GIN indexes'
    // pending lists, which every text search otherwise scans).
    "ALTER TABLE alerts SET (autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 50000);",
    // 6: each alert's document in a table of its own, read only for the rows shown or exported.
    // A free-text count visits one heap page per match (PostgreSQL's bitmap scans check every
    // match's visibility there): without the documents that heap holds only what filters and
    // counts read (at 10 M: 9.8 GB of heap, 22 GB in all instead of 31.8). Alerts stored before keep their document in
    // `alerts.json` (no table rewrite at start-up) until retention removes them; reads take
    // whichever is there.
    "ALTER TABLE alerts ALTER COLUMN json DROP NOT NULL;
     CREATE TABLE alert_json (id BIGINT PRIMARY KEY, json TEXT NOT NULL);",
];

/// The document of an alert `a` (`alerts.json` before migration 6, `alert_json` after), for
/// `FROM … a LEFT JOIN alert_json j ON j.id = a.id`.
const DOC: &str = "COALESCE(a.json, j.json)";

/// The tags of each alert, as `tag`, for the counts' statements.
const TAGS_FROM: &str = "alerts CROSS JOIN LATERAL unnest(alerts.tags) AS t(tag)";

/// Advisory lock key serialising migrations between nodes ("harrier" in ASCII).
const MIGRATION_LOCK: i64 = 0x0068_6172_7269_6572;
/// Text kept in the full-text index per alert (PostgreSQL caps a tsvector at 1 MiB).
const MAX_FTS_TEXT: usize = 256 * 1024;
const POOL_MAX: usize = 8;

struct Pool {
    cfg: Config,
    tls: RustlsConnect,
    idle: Mutex<(Vec<Client>, usize)>,
    freed: Condvar,
}

struct Conn<'a> {
    pool: &'a Pool,
    c: Option<Client>,
}

impl std::ops::Deref for Conn<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.c.as_ref().expect("connection present until drop")
    }
}
impl std::ops::DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.c.as_mut().expect("connection present until drop")
    }
}
impl Drop for Conn<'_> {
    fn drop(&mut self) {
        let mut g = self.pool.idle.lock().unwrap_or_else(|e| e.into_inner());
        g.1 -= 1;
        if let Some(c) = self.c.take() {
            if !c.is_closed() {
                g.0.push(c);
            }
        }
        self.pool.freed.notify_one();
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing a client blocks on its own runtime, which panics on an async thread (the store
        // may be dropped by an async caller, e.g. the router's shutdown): close them elsewhere.
        let idle = std::mem::take(&mut self.idle.get_mut().unwrap_or_else(|e| e.into_inner()).0);
        if !idle.is_empty() {
            let _ = std::thread::spawn(move || drop(idle)).join();
        }
    }
}

impl Pool {
    fn get(&self) -> Result<Conn<'_>> {
        let mut g = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(c) = g.0.pop() {
                g.1 += 1;
                return Ok(Conn { pool: self, c: Some(c) });
            }
            if g.1 < POOL_MAX {
                g.1 += 1;
                drop(g);
                return match self.connect() {
                    Ok(c) => Ok(Conn { pool: self, c: Some(c) }),
                    Err(e) => {
                        let mut g = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                        g.1 -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            g = self.freed.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn connect(&self) -> Result<Client> {
        let mut c = self.cfg.connect(self.tls.clone()).map_err(pg_err)?;
        c.batch_execute("SET statement_timeout = '60s'; SET lock_timeout = '30s'").map_err(pg_err)?;
        Ok(c)
    }
}

/// An error with its causes ("error performing TLS handshake: TLS handshake with db: invalid peer
/// certificate: UnknownIssuer …"): tokio-postgres's own text names only the kind.
fn with_causes(e: &postgres::Error) -> String {
    let mut s = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.ends_with(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

fn pg_err(e: postgres::Error) -> StoreError {
    // Constraint and syntax problems are the caller's; everything else is the database's state.
    let msg = match e.as_db_error() {
        Some(d) => format!("{}: {}", d.code().code(), d.message()),
        None => with_causes(&e),
    };
    StoreError::Unavailable(msg)
}

/// PostgreSQL text cannot hold NUL.
fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') {
        std::borrow::Cow::Owned(s.replace('\0', ""))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

fn ns(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

fn priority_name(p: i32) -> String {
    Priority::from_index(p as i64).map(|p| p.as_str().to_string()).unwrap_or_else(|| p.to_string())
}

fn role_of(s: &str) -> Role {
    Role::parse(s).unwrap_or(Role::Read)
}

/// The words of the output and the output fields, for `to_tsvector('simple', …)`.
fn fts_text(row: &Row) -> String {
    let mut out = String::with_capacity(row.output.len() + row.fields_text.len());
    for w in words(&row.output).chain(words(&row.fields_text)) {
        if out.len() + w.len() + 1 > MAX_FTS_TEXT {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&w);
    }
    out
}

type Params = Vec<Box<dyn ToSql + Sync + Send>>;

/// Free text as SQL: `index` is searched through the GIN index, `filter` (when some words are
/// common) is checked on the rows the index found.
#[derive(Debug, Clone, PartialEq)]
struct TextQuery {
    index: String,
    filter: Option<String>,
}

/// One AND operand of a text's tsquery: its tsquery text, the index terms it stands for, and
/// whether it is an open prefix (`w:*`, too many terms to list).
#[derive(Debug, Clone, PartialEq)]
struct TextPart {
    query: String,
    terms: Vec<String>,
    open: bool,
}

/// Share of the alerts past which a word is checked on the rows rather than through the index:
/// only words in nearly every alert, which rule out almost none of the rows the others find (a
/// word in a quarter of them, moved out, made the rare word's every match a heap visit: 3 s).
const COMMON_SHARE: f64 = 0.9;
/// Term → share of the alerts holding it.
type TermShares = std::sync::Arc<HashMap<String, f64>>;

/// How long the index's term statistics are reused before being read again.
const TERM_SHARES_TTL: Duration = Duration::from_secs(300);

/// Split a text's parts (each an AND operand of the tsquery, with the terms it stands for and
/// whether it is an open prefix) between the index and a check on the rows. GIN checks every
/// entry of an AND at each candidate the rarest entry yields, stepping through the posting
/// tree of each: a word held by every alert (`shim` of `sh` in `containerd-shim`) costs a
/// posting-tree page per candidate, half the time of a text with 10,000 candidates. Such words
/// (at least [`COMMON_SHARE`] of the alerts by the index's statistics, or an open prefix) are
/// checked on the rows the rest found; those rows' heap pages are visited for visibility anyway.
/// When no part is rare, everything stays with the index.
fn split_text(parts: &[TextPart], shares: &HashMap<String, f64>) -> TextQuery {
    let share = |p: &TextPart| -> f64 {
        if p.open {
            return f64::INFINITY;
        }
        p.terms.iter().map(|t| shares.get(t).copied().unwrap_or(0.0)).sum()
    };
    let (rare, common): (Vec<&TextPart>, Vec<&TextPart>) =
        parts.iter().partition(|p| share(p) < COMMON_SHARE);
    let join = |v: &[&TextPart]| v.iter().map(|p| p.query.as_str()).collect::<Vec<_>>().join(" & ");
    if rare.is_empty() || common.is_empty() {
        let all: Vec<&TextPart> = parts.iter().collect();
        return TextQuery { index: join(&all), filter: None };
    }
    TextQuery { index: join(&rare), filter: Some(join(&common)) }
}

/// WHERE clause (with " WHERE " when not empty) and its parameters, numbered from `$1`.
fn where_clause(q: &Query, tsq: Option<&TextQuery>) -> (String, Params) {
    let mut c: Vec<String> = Vec::new();
    let mut p: Params = Vec::new();
    let arg = |p: &mut Params, v: Box<dyn ToSql + Sync + Send>| {
        p.push(v);
        format!("${}", p.len())
    };
    let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    if let Some(pr) = q.min_priority {
        c.push(format!("priority <= {}", arg(&mut p, Box::new(pr as i32))));
    }
    for (col, val) in [
        ("rule", &q.rule),
        ("source", &q.source),
        ("hostname", &q.hostname),
        ("image", &q.image),
        ("namespace", &q.namespace),
        ("pod", &q.pod),
        ("user_name", &q.user),
        ("process", &q.process),
    ] {
        if let Some(v) = text(val) {
            c.push(format!("{col} = {}", arg(&mut p, Box::new(v))));
        }
    }
    if let Some(v) = text(&q.container) {
        let a = arg(&mut p, Box::new(v));
        c.push(format!("(container = {a} OR container_id = {a})"));
    }
    let tags: Vec<String> =
        q.tags.iter().map(|t| t.trim()).filter(|t| !t.is_empty()).map(str::to_string).collect();
    if !tags.is_empty() {
        c.push(format!("tags @> {}::text[]", arg(&mut p, Box::new(tags))));
    }
    if !q.priorities.is_empty() {
        let v: Vec<i32> = q.priorities.iter().map(|x| *x as i32).collect();
        c.push(format!("priority = ANY({}::int[])", arg(&mut p, Box::new(v))));
    }
    for (col, vals) in [("rule", &q.any_rules), ("source", &q.any_sources)] {
        if !vals.is_empty() {
            c.push(format!("{col} = ANY({}::text[])", arg(&mut p, Box::new(vals.clone()))));
        }
    }
    if !q.any_tags.is_empty() {
        c.push(format!("tags && {}::text[]", arg(&mut p, Box::new(q.any_tags.clone()))));
    }
    if let Some(tq) = tsq {
        c.push(format!("fts @@ to_tsquery('simple', {})", arg(&mut p, Box::new(tq.index.clone()))));
        // The same operator as a function: the planner cannot give it to the index.
        if let Some(f) = &tq.filter {
            c.push(format!("ts_match_vq(fts, to_tsquery('simple', {}))", arg(&mut p, Box::new(f.clone()))));
        }
    }
    if let Some(s) = q.since_ns {
        c.push(format!("time_ns >= {}", arg(&mut p, Box::new(ns(s)))));
    }
    if let Some(u) = q.until_ns {
        c.push(format!("time_ns < {}", arg(&mut p, Box::new(ns(u)))));
    }
    if let Some(a) = q.after_id {
        c.push(format!("id > {}", arg(&mut p, Box::new(a))));
    }
    if let Some(k) = q.before {
        let t = arg(&mut p, Box::new(ns(k.time_ns)));
        let i = arg(&mut p, Box::new(k.id));
        c.push(format!("(time_ns, id) < ({t}, {i})"));
    }
    if c.is_empty() {
        (String::new(), p)
    } else {
        (format!(" WHERE {}", c.join(" AND ")), p)
    }
}

/// A page's capped count: counting stops one past the cap.
fn count_sql(w: &str) -> String {
    format!("SELECT count(*) FROM (SELECT 1 FROM alerts{w} LIMIT {}) AS m", Query::COUNT_CAP + 1)
}

/// The most of the newest alerts [`dense_count`] reads in time order (≈ 1 µs each when cached).
const PROBE_MAX_ROWS: f64 = 300_000.0;

/// How many of the newest alerts to read in time order to settle that a text has more matches
/// than the cap, from the planner's estimate of its matches (`est`) among `all` alerts; `None`
/// when the index is the cheaper way. Through the index, GIN hands over every match before the
/// first is counted (≈ 1 µs each at 10 M when a dense word is ANDed with others); in time order
/// the count stops at the cap, after about `cap / density` rows. The window allows for the
/// estimate being 30 % high, and is never longer than the matches the index would produce.
fn probe_rows(est: f64, all: f64) -> Option<i64> {
    if !(est.is_finite() && all.is_finite() && est > Query::COUNT_CAP as f64 && all > 0.0) {
        return None;
    }
    let density = (est / all).min(1.0);
    let rows = 1.3 * (Query::COUNT_CAP + 1) as f64 / density;
    (rows <= PROBE_MAX_ROWS && rows < est).then_some(rows.ceil() as i64)
}

/// The planner's row estimate from the first line of an `EXPLAIN` (`… rows=N width=…`).
fn plan_rows(line: &str) -> Option<f64> {
    let at = line.find(" rows=")? + " rows=".len();
    line[at..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// A free text's capped count when the planner expects it to match a large share of the alerts:
/// the matches among the newest alerts, read in time order and counted up to one past the cap.
/// `Some` only when that proved the cap is passed (the same capped value the index would give);
/// `None` sends the caller to the index (`count_sql`).
fn dense_count(c: &mut Client, w: &str, p: &Params) -> std::result::Result<Option<i64>, postgres::Error> {
    let plan: Option<String> =
        c.query(&format!("EXPLAIN SELECT 1 FROM alerts{w}"), &refs(p))?.first().map(|r| r.get(0));
    // A sparse text (most of them) goes to the index without a second round trip.
    let Some(est) = plan.as_deref().and_then(plan_rows).filter(|&e| e > Query::COUNT_CAP as f64) else {
        return Ok(None);
    };
    let all: f64 =
        c.query_one("SELECT reltuples::float8 FROM pg_class WHERE oid = 'alerts'::regclass", &[])?.get(0);
    let Some(rows) = probe_rows(est, all) else {
        return Ok(None);
    };
    // The window's LIMIT keeps the filter out of it: the filter applies to those rows only.
    let sql = format!(
        "SELECT count(*) FROM (SELECT 1 FROM (SELECT * FROM alerts ORDER BY time_ns DESC, id DESC LIMIT {rows}) AS a{w} LIMIT {}) AS m",
        Query::COUNT_CAP + 1
    );
    let n: i64 = c.query_one(&sql, &refs(p))?.get(0);
    Ok((n as u64 > Query::COUNT_CAP).then_some(n))
}

/// A page; limit and offset are parameters `n + 1` and `n + 2`.
fn page_sql(w: &str, n: usize) -> String {
    // The page is chosen from the alerts alone; only its rows' documents are read.
    format!(
        "SELECT a.id, {DOC}, a.ack_by, a.ack_note, a.ack_ns, a.time_ns
         FROM (SELECT id, json, ack_by, ack_note, ack_ns, time_ns FROM alerts{w}
               ORDER BY time_ns DESC, id DESC LIMIT ${} OFFSET ${}) AS a
         LEFT JOIN alert_json j ON j.id = a.id ORDER BY a.time_ns DESC, a.id DESC",
        n + 1,
        n + 2
    )
}

fn refs(p: &Params) -> Vec<&(dyn ToSql + Sync)> {
    p.iter().map(|b| b.as_ref() as &(dyn ToSql + Sync)).collect()
}

fn stored(r: &postgres::Row) -> StoredAlert {
    let json: String = r.get(1);
    let ack_by: Option<String> = r.get(2);
    let ack_note: Option<String> = r.get(3);
    let ack_ns: Option<i64> = r.get(4);
    StoredAlert {
        id: r.get(0),
        alert: serde_json::from_str(&json).unwrap_or(serde_json::Value::Null),
        ack: ack_by.map(|by| Ack {
            by,
            note: ack_note.unwrap_or_default(),
            time_ns: ack_ns.unwrap_or(0) as u64,
        }),
    }
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

pub struct PgStore {
    pool: Pool,
    last_error: Mutex<Option<String>>,
    /// The full-text index's most common terms and the share of alerts holding each (from
    /// `pg_stats`), with when they were read; see [`split_text`].
    term_shares: Mutex<Option<(std::time::Instant, TermShares)>>,
}

impl PgStore {
    /// Connect (`postgres://user@host/db`, or libpq's `key=value` form) and apply pending
    /// migrations. TLS follows libpq's `sslmode` (`disable`, `prefer` (the default), `require`,
    /// `verify-ca`, `verify-full`) with `sslrootcert`, `sslcert` and `sslkey` ([`pgtls`]).
    pub fn open(url: &str) -> Result<PgStore> {
        let (url, tls) =
            pgtls::split_url(url).map_err(|e| StoreError::Unavailable(format!("store URL: {e}")))?;
        let mut cfg: Config = url.parse().map_err(|e| StoreError::Unavailable(format!("store URL: {e}")))?;
        cfg.ssl_mode(tls.pg_mode());
        let tls = RustlsConnect::new(&tls).map_err(|e| StoreError::Unavailable(format!("store URL: {e}")))?;
        if cfg.get_connect_timeout().is_none() {
            cfg.connect_timeout(Duration::from_secs(10));
        }
        cfg.keepalives(true);
        if cfg.get_application_name().is_none() {
            cfg.application_name("harrier");
        }
        let s = PgStore {
            pool: Pool { cfg, tls, idle: Mutex::new((Vec::new(), 0)), freed: Condvar::new() },
            last_error: Mutex::new(None),
            term_shares: Mutex::new(None),
        };
        // A server that answered and refused (a wrong password, no such database) is a
        // configuration error; only a server that could not be reached is "cannot connect" (the
        // store sink waits for that one).
        s.pool.cfg.connect(s.pool.tls.clone()).map_err(|e| match e.as_db_error() {
            Some(d) => StoreError::Unavailable(format!(
                "refused by the server: {}: {}",
                d.code().code(),
                d.message()
            )),
            None => StoreError::Unavailable(format!("cannot connect: {}", with_causes(&e))),
        })?;
        {
            let mut c = s.pool.get().map_err(|e| StoreError::Unavailable(format!("cannot connect: {e}")))?;
            migrate(&mut c)?;
        }
        Ok(s)
    }

    /// PostgreSQL's plans (`EXPLAIN`, text) for the page and the capped count of `q`, as
    /// [`Store::query`] runs them: for tests that filters are answered from indexes.
    pub fn explain(&self, q: &Query) -> Result<(String, String)> {
        let tsq = self.plan_tsquery(q)?;
        let (cw, cp) = where_clause(&Query { before: None, ..q.clone() }, tsq.as_ref());
        let (w, mut p) = where_clause(q, tsq.as_ref());
        let n = p.len();
        p.push(Box::new(q.limit.min(Query::MAX_LIMIT) as i64));
        p.push(Box::new(q.offset as i64));
        self.with(|c| {
            let mut plan = |sql: &str, p: &Params| -> std::result::Result<String, postgres::Error> {
                let rows = c.query(&format!("EXPLAIN {sql}"), &refs(p))?;
                Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>().join("\n"))
            };
            Ok((plan(&page_sql(&w, n), &p)?, plan(&count_sql(&cw), &cp)?))
        })
    }

    /// Free text → the `to_tsquery('simple', …)` argument: every word must match as a prefix, a
    /// number as itself ([`crate::tsquery`]), and a word that starts at most 64 longer terms of the index's
    /// vocabulary (`alert_terms`) is looked up as itself or those exact terms. GIN reads a
    /// prefix by collecting every posting of every term it starts into a bitmap first (a word in
    /// every alert: a million entries per query); exact entries are skipped through, the rarest
    /// one leading (measured at 1 M alerts: three words 435 → 16 ms).
    fn plan_tsquery(&self, q: &Query) -> Result<Option<TextQuery>> {
        let words: Vec<String> = match q.text.as_deref() {
            Some(t) => words(t).take(16).collect(),
            None => return Ok(None),
        };
        if words.is_empty() {
            return Ok(None);
        }
        let shares = self.term_shares()?;
        self.with(|c| {
            let st = c.prepare(
                "SELECT term FROM alert_terms WHERE term > $1 AND term < $2 ORDER BY term LIMIT 65",
            )?;
            let mut parts: Vec<TextPart> = Vec::new();
            for w in &words {
                if crate::whole_word(w) {
                    if !parts.iter().any(|p| p.query == *w) {
                        parts.push(TextPart { query: w.clone(), terms: vec![w.clone()], open: false });
                    }
                    continue;
                }
                // Words hold only letters and digits (`words`): never tsquery syntax.
                let longer: Vec<String> = c
                    .query(&st, &[&w, &format!("{w}\u{10FFFF}")])?
                    .iter()
                    .map(|r| r.get::<_, String>(0))
                    .collect();
                let part =
                    if longer.len() > 64 || !longer.iter().all(|t| t.chars().all(char::is_alphanumeric)) {
                        TextPart { query: format!("{w}:*"), terms: Vec::new(), open: true }
                    } else if longer.is_empty() {
                        TextPart { query: w.clone(), terms: vec![w.clone()], open: false }
                    } else {
                        let all: Vec<String> = std::iter::once(w.clone()).chain(longer).collect();
                        TextPart { query: format!("({})", all.join(" | ")), terms: all, open: false }
                    };
                if !parts.iter().any(|p| p.query == part.query) {
                    parts.push(part);
                }
            }
            Ok(Some(split_text(&parts, &shares)))
        })
    }

    /// The share of alerts holding each of the full-text index's most common terms, from the
    /// column's statistics (`most_common_elems`, kept by `ANALYZE` and autovacuum); empty
    /// before the first `ANALYZE`. Read again after [`TERM_SHARES_TTL`].
    fn term_shares(&self) -> Result<TermShares> {
        if let Ok(g) = self.term_shares.lock() {
            if let Some((_, m)) = g.as_ref().filter(|(at, _)| at.elapsed() < TERM_SHARES_TTL) {
                return Ok(m.clone());
            }
        }
        let rows = self.with(|c| {
            c.query(
                "SELECT u.e, u.f::float8 FROM pg_stats s,
                   unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS u(e, f)
                 WHERE s.schemaname = current_schema() AND s.tablename = 'alerts' AND s.attname = 'fts'
                   AND u.e IS NOT NULL",
                &[],
            )
        })?;
        let m: HashMap<String, f64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let m = std::sync::Arc::new(m);
        if let Ok(mut g) = self.term_shares.lock() {
            *g = Some((std::time::Instant::now(), m.clone()));
        }
        Ok(m)
    }

    /// Whether a connection of the pool runs over TLS (the server's `pg_stat_ssl`).
    pub fn connection_uses_tls(&self) -> Result<bool> {
        self.with(|c| {
            c.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])?.try_get(0)
        })
    }

    fn note<T>(&self, r: &Result<T>) {
        let mut e = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        match r {
            Ok(_) => *e = None,
            Err(err) => *e = Some(err.to_string()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Client) -> std::result::Result<T, postgres::Error>) -> Result<T> {
        let mut c = self.pool.get()?;
        f(&mut c).map_err(pg_err)
    }

    /// Exact count from the alerts themselves.
    fn count_alerts(&self, q: &Query) -> Result<u64> {
        let tsq = self.plan_tsquery(q)?;
        let (w, p) = where_clause(q, tsq.as_ref());
        self.with(|c| c.query_one(&format!("SELECT count(*) FROM alerts{w}"), &refs(&p)))
            .map(|r| r.get::<_, i64>(0) as u64)
    }

    /// Counts by a column from the alerts themselves, largest first; all of them when `limit`
    /// is None.
    fn count_by_alerts(&self, q: &Query, by: GroupBy, limit: Option<usize>) -> Result<Vec<(GroupKey, u64)>> {
        let tsq = self.plan_tsquery(q)?;
        let (w, mut p) = where_clause(q, tsq.as_ref());
        p.push(Box::new(limit.map(|l| l.clamp(1, 1000) as i64)));
        let l = p.len();
        let sql = match by {
            GroupBy::Tags => format!(
                "SELECT t, count(*) AS n FROM alerts CROSS JOIN LATERAL unnest(tags) AS t{w}
                 GROUP BY t ORDER BY n DESC, t COLLATE \"C\" LIMIT ${l}"
            ),
            GroupBy::Priority => format!(
                "SELECT priority, count(*) AS n FROM alerts{w} GROUP BY priority ORDER BY n DESC, priority LIMIT ${l}"
            ),
            _ => {
                let col = by.column();
                format!(
                    "SELECT {col}, count(*) AS n FROM alerts{w} GROUP BY {col} ORDER BY n DESC, {col} COLLATE \"C\" LIMIT ${l}"
                )
            }
        };
        let rows = self.with(|c| c.query(&sql, &refs(&p)))?;
        Ok(rows.iter().map(|r| (group_key(r, by), r.get::<_, i64>(1) as u64)).collect())
    }

    /// (bucket start, priority, count) from the alerts themselves.
    fn histogram_alerts(&self, q: &Query, b: i64) -> Result<Vec<(i64, i64, u64)>> {
        let tsq = self.plan_tsquery(q)?;
        let (w, mut p) = where_clause(q, tsq.as_ref());
        p.push(Box::new(b));
        let b = p.len();
        let sql = format!(
            "SELECT (time_ns / ${b}) * ${b} AS start, priority, count(*) FROM alerts{w}
             GROUP BY start, priority ORDER BY start, priority"
        );
        let rows = self.with(|c| c.query(&sql, &refs(&p)))?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, i64>(0), r.get::<_, i32>(1) as i64, r.get::<_, i64>(2) as u64))
            .collect())
    }

    /// Groups of repeats from the alerts themselves, most recent first; `page` is (limit,
    /// offset), all of them when None.
    fn groups_alerts(&self, q: &Query, page: Option<(usize, usize)>) -> Result<Vec<GroupPart>> {
        let tsq = self.plan_tsquery(q)?;
        let (w, mut p) = where_clause(q, tsq.as_ref());
        p.push(Box::new(page.map(|(l, _)| l as i64)));
        p.push(Box::new(page.map_or(0, |(_, o)| o as i64)));
        let n = p.len();
        let sql = format!(
            "SELECT rule, min(priority), container, hostname, count(*), min(time_ns), max(time_ns), max(id), container_id
             FROM alerts{w} GROUP BY rule, container_id, container, hostname
             ORDER BY max(time_ns) DESC, max(id) DESC LIMIT ${} OFFSET ${n}",
            n - 1
        );
        let rows = self.with(|c| c.query(&sql, &refs(&p)))?;
        Ok(rows.iter().map(group_part).collect())
    }

    fn used_bytes(c: &mut Client) -> std::result::Result<u64, postgres::Error> {
        // From the per-minute counts: summing every alert's bytes reads the whole table.
        let n: Option<i64> = c.query_one("SELECT sum(bytes)::bigint FROM alert_rollup", &[])?.get(0);
        Ok(n.unwrap_or(0) as u64)
    }

    /// Delete the oldest `n` alerts (older than `before` when given), and the words of the
    /// full-text vocabulary (`alert_terms`) that no remaining alert holds.
    fn delete_oldest(
        c: &mut Client,
        before: Option<i64>,
        n: i64,
    ) -> std::result::Result<u64, postgres::Error> {
        let mut tx = c.transaction()?;
        // Locked first, so replicas enforcing retention together never take the same alerts
        // out of the counts twice.
        let ids: Vec<i64> = match before {
            Some(t) => tx.query(
                "SELECT id FROM alerts WHERE time_ns < $1 ORDER BY time_ns, id LIMIT $2 FOR UPDATE SKIP LOCKED",
                &[&t, &n],
            )?,
            None => {
                tx.query("SELECT id FROM alerts ORDER BY time_ns, id LIMIT $1 FOR UPDATE SKIP LOCKED", &[&n])?
            }
        }
        .iter()
        .map(|r| r.get(0))
        .collect();
        if ids.is_empty() {
            return Ok(0);
        }
        let span =
            tx.query_one("SELECT min(time_ns), max(time_ns) FROM alerts WHERE id = ANY($1)", &[&ids])?;
        for sql in rollup::subtract_sql(TAGS_FROM, "alerts.id = ANY($1)", "sum(bytes)") {
            tx.execute(&sql, &[&ids])?;
        }
        tx.execute("DELETE FROM alert_json WHERE id = ANY($1)", &[&ids])?;
        let row = tx.query_one(
            "WITH d AS (DELETE FROM alerts WHERE id = ANY($1) RETURNING fts)
             SELECT (SELECT count(*) FROM d),
                    ARRAY(SELECT DISTINCT w FROM d, unnest(tsvector_to_array(d.fts)) AS w ORDER BY 1)",
            &[&ids],
        )?;
        if let (Some(lo), Some(hi)) = (span.get::<_, Option<i64>>(0), span.get::<_, Option<i64>>(1)) {
            for sql in rollup::after_delete_sql(lo, hi) {
                tx.execute(&sql, &[])?;
            }
        }
        let removed: i64 = row.get(0);
        let terms: Vec<String> = row.get(1);
        if !terms.is_empty() {
            // Each word is probed through the full-text index as an exact lexeme (quoted, with
            // backslash and quote escaped: tsquery input syntax, no normalisation).
            tx.execute(
                r#"DELETE FROM alert_terms t WHERE t.term = ANY($1) AND NOT EXISTS (
                     SELECT 1 FROM alerts WHERE fts @@
                       ('''' || replace(replace(t.term, E'\\', E'\\\\'), '''', E'\\''') || '''')::tsquery)"#,
                &[&terms],
            )?;
        }
        tx.commit()?;
        Ok(removed as u64)
    }
}

/// A counted value (column 0) as [`rollup::merge_top`] orders it.
fn group_key(r: &postgres::Row, by: GroupBy) -> GroupKey {
    if by == GroupBy::Priority {
        GroupKey::Priority(r.get::<_, i32>(0) as i64)
    } else {
        GroupKey::Text(r.get(0))
    }
}

/// A group row: rule, priority, container, hostname, count, first, last, newest id, container id.
fn group_part(r: &postgres::Row) -> GroupPart {
    GroupPart {
        rule: r.get(0),
        priority: r.get::<_, i32>(1) as i64,
        container: r.get(2),
        hostname: r.get(3),
        count: r.get::<_, i64>(4) as u64,
        first_ns: r.get(5),
        last_ns: r.get(6),
        last_id: r.get(7),
        container_id: r.get(8),
    }
}

fn migrate(c: &mut Client) -> Result<()> {
    let mut tx = c.transaction().map_err(pg_err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).map_err(pg_err)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .map_err(pg_err)?;
    let v: i32 =
        tx.query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[]).map_err(pg_err)?.get(0);
    if v as usize > MIGRATIONS.len() {
        return Err(StoreError::Unavailable(format!(
            "the database schema is version {v}, newer than this Harrier knows ({}); upgrade Harrier",
            MIGRATIONS.len()
        )));
    }
    for (i, m) in MIGRATIONS.iter().enumerate().skip(v as usize) {
        let counts;
        let m = if i + 1 == 4 {
            counts = format!(
                "{}; {}; {}; ANALYZE alert_rollup; ANALYZE alert_tag_rollup;",
                rollup::schema(false),
                rollup::add_sql("true", "sum(bytes)"),
                rollup::add_tags_sql(TAGS_FROM, "true")
            );
            counts.as_str()
        } else {
            m
        };
        tx.batch_execute(m)
            .map_err(|e| StoreError::Unavailable(format!("migration {} failed: {e}", i + 1)))?;
        tx.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&(i as i32 + 1)]).map_err(pg_err)?;
        tracing::info!(version = i + 1, "store: applied schema migration (postgres)");
    }
    tx.commit().map_err(pg_err)
}

impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn insert(&self, alerts: &[Alert]) -> Result<Vec<i64>> {
        if alerts.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<Row> = alerts.iter().map(Row::from_alert).collect();
        // One statement per batch: every column travels as an array and `unnest` turns them back
        // into rows (one round trip instead of one per alert). Tags, being a list per row, travel
        // as JSON text.
        let mut cols: (Vec<i64>, Vec<i32>, Vec<i32>, Vec<String>) = Default::default();
        let mut text: [Vec<String>; 12] = Default::default();
        for row in &rows {
            let tags: Vec<String> = row.tags.iter().map(|t| clean(t).into_owned()).collect();
            let fts = fts_text(row);
            // What the row costs: the document, the text index and the per-row overhead.
            cols.0.push(ns(row.time_ns));
            cols.1.push(row.priority as i32);
            cols.2.push((row.json.len() + fts.len() + 200).min(i32::MAX as usize) as i32);
            cols.3.push(serde_json::to_string(&tags).unwrap_or_else(|_| "[]".into()));
            for (i, v) in [
                &row.rule,
                &row.source,
                &row.hostname,
                &row.container,
                &row.container_id,
                &row.image,
                &row.namespace,
                &row.pod,
                &row.user,
                &row.process,
            ]
            .into_iter()
            .enumerate()
            {
                text[i].push(clean(v).into_owned());
            }
            text[10].push(row.json.clone());
            text[11].push(fts);
        }
        let r = self.with(|c| {
            let mut tx = c.transaction()?;
            // Ids are drawn in the rows' order, once (the CTE is materialised): the alert and
            // its document (migration 6) are written under the same id.
            let st = tx.prepare(
                "WITH r AS (
                   SELECT nextval(pg_get_serial_sequence('alerts', 'id')) AS id, u.*
                   FROM (SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::text[],
                                              $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                                              $11::text[], $12::text[], $13::text[], $14::text[], $15::text[],
                                              $16::int[])
                           WITH ORDINALITY AS u(t, rule, prio, source, host, tags, ctr, ctr_id, image, ns,
                                                pod, usr, proc, json, fts, bytes, ord)
                         ORDER BY ord) AS u
                 ), docs AS (
                   INSERT INTO alert_json (id, json) SELECT id, json FROM r
                 )
                 INSERT INTO alerts (id, time_ns, rule, priority, source, hostname, tags, container,
                   container_id, image, namespace, pod, user_name, process, fts, bytes)
                 SELECT r.id, r.t, r.rule, r.prio, r.source, r.host,
                        ARRAY(SELECT jsonb_array_elements_text(r.tags::jsonb)),
                        r.ctr, r.ctr_id, r.image, r.ns, r.pod, r.usr, r.proc,
                        to_tsvector('simple', r.fts), r.bytes
                 FROM r ORDER BY r.ord
                 RETURNING id",
            )?;
            let out = tx.query(
                &st,
                &[
                    &cols.0, &text[0], &cols.1, &text[1], &text[2], &cols.3, &text[3], &text[4], &text[5],
                    &text[6], &text[7], &text[8], &text[9], &text[10], &text[11], &cols.2,
                ],
            )?;
            let new_ids: Vec<i64> = out.iter().map(|r| r.get(0)).collect();
            // The index's vocabulary (the lexemes PostgreSQL made), in one order so concurrent
            // writers never deadlock on it.
            tx.execute(
                "INSERT INTO alert_terms SELECT DISTINCT w FROM alerts, unnest(tsvector_to_array(fts)) AS w
                 WHERE id = ANY($1) ORDER BY 1 ON CONFLICT DO NOTHING",
                &[&new_ids],
            )?;
            // The per-minute counts, from exactly this batch's rows (other writers' ids may
            // interleave with these).
            tx.execute(&rollup::add_sql("id = ANY($1)", "sum(bytes)"), &[&new_ids])?;
            tx.execute(&rollup::add_tags_sql(TAGS_FROM, "alerts.id = ANY($1)"), &[&new_ids])?;
            tx.commit()?;
            // Ids come from the sequence in the order of the rows.
            let mut ids: Vec<i64> = out.iter().map(|r| r.get(0)).collect();
            ids.sort_unstable();
            Ok(ids)
        });
        self.note(&r);
        r
    }

    fn query(&self, q: &Query) -> Result<Page> {
        let limit = q.limit.min(Query::MAX_LIMIT);
        // The total counts from the same position as the page's (a cursor does not shrink it);
        // counting stops one past the cap, so a broad filter never walks millions of rows.
        let tsq = self.plan_tsquery(q)?;
        let (cw, cp) = where_clause(&Query { before: None, ..q.clone() }, tsq.as_ref());
        let count_sql = count_sql(&cw);
        let want = limit + q.offset;
        let (capped, rows) = self.with(|c| {
            let dense = match tsq {
                Some(_) => dense_count(c, &cw, &cp)?,
                None => None,
            };
            let capped: i64 = match dense {
                Some(n) => n,
                None => c.query_one(&count_sql, &refs(&cp))?.get(0),
            };
            // Text with more matches than the cap: GIN hands every match over at once and the
            // page would sort them all. The newest slice of alerts is searched first (its lower
            // time read from the time index), widened tenfold while the page is short; a full
            // page from a slice is exact (every alert outside it is older than all of the page).
            let windowed = tsq.is_some() && capped as u64 > Query::COUNT_CAP && want > 0 && want <= 10_000;
            let slices: &[i64] = if windowed { &[10_000, 100_000, 1_000_000] } else { &[] };
            for &slice in slices {
                let Some(t) = c
                    .query_opt(
                        "SELECT time_ns FROM alerts ORDER BY time_ns DESC, id DESC OFFSET $1 LIMIT 1",
                        &[&(slice - 1)],
                    )?
                    .map(|r| r.get::<_, i64>(0))
                else {
                    break; // fewer alerts than the slice: the whole table
                };
                let (w, mut p) = where_clause(q, tsq.as_ref());
                p.push(Box::new(t));
                let w = format!("{w} AND time_ns >= ${}", p.len());
                let n = p.len();
                p.push(Box::new(limit as i64));
                p.push(Box::new(q.offset as i64));
                // The first, small slice is read in time order, each row's text checked as it
                // comes (≈ 30 ms for 10 k rows): through the full-text index, even a slice costs a
                // whole pass over the postings of every word (≈ 180 ms for a word in 1 of 200
                // alerts at 10 M). Wider slices are cheaper through the index.
                let rows = if slice <= 10_000 {
                    let mut tx = c.transaction()?;
                    tx.batch_execute("SET LOCAL enable_bitmapscan = off")?;
                    let rows = tx.query(&page_sql(&w, n), &refs(&p))?;
                    tx.commit()?;
                    rows
                } else {
                    c.query(&page_sql(&w, n), &refs(&p))?
                };
                if rows.len() == limit {
                    return Ok((capped, rows));
                }
            }
            let (w, mut p) = where_clause(q, tsq.as_ref());
            let n = p.len();
            p.push(Box::new(limit as i64));
            p.push(Box::new(q.offset as i64));
            Ok((capped, c.query(&page_sql(&w, n), &refs(&p))?))
        })?;
        let last = rows.last().map(|r| r.get::<_, i64>(5) as u64);
        let events = rows.iter().map(stored).collect();
        Ok(Page::build(events, last, limit, capped as u64))
    }

    fn count(&self, q: &Query) -> Result<u64> {
        if let Some(sp) = rollup::split(q) {
            let (w, p) = where_clause(&sp.filter, None);
            let sql = format!(
                "SELECT coalesce(sum(n), 0)::bigint FROM alert_rollup{w}{}",
                sp.minute_cond(!w.is_empty())
            );
            let mut n = self.with(|c| c.query_one(&sql, &refs(&p)))?.get::<_, i64>(0) as u64;
            for e in &sp.edges {
                n += self.count_alerts(e)?;
            }
            return Ok(n);
        }
        self.count_alerts(q)
    }

    fn get(&self, id: i64) -> Result<Option<StoredAlert>> {
        self.with(|c| {
            c.query_opt(
                &format!(
                    "SELECT a.id, {DOC}, a.ack_by, a.ack_note, a.ack_ns
                     FROM alerts a LEFT JOIN alert_json j ON j.id = a.id WHERE a.id = $1"
                ),
                &[&id],
            )
        })
        .map(|r| r.as_ref().map(stored))
    }

    fn count_by(&self, q: &Query, by: GroupBy, limit: usize) -> Result<Vec<(String, u64)>> {
        let name = |k: GroupKey| match k {
            GroupKey::Priority(i) => priority_name(i as i32),
            GroupKey::Text(s) => s,
        };
        let Some(sp) = rollup::split(q).filter(|sp| rollup::groups_by(sp, by)) else {
            return Ok(self
                .count_by_alerts(q, by, Some(limit))?
                .into_iter()
                .map(|(k, n)| (name(k), n))
                .collect());
        };
        let (w, p) = where_clause(&sp.filter, None);
        let mc = sp.minute_cond(!w.is_empty());
        let (col, table) =
            if by == GroupBy::Tags { ("tag", "alert_tag_rollup") } else { (by.column(), "alert_rollup") };
        let sql = format!("SELECT {col}, sum(n)::bigint FROM {table}{w}{mc} GROUP BY {col}");
        let rows = self.with(|c| c.query(&sql, &refs(&p)))?;
        let parts: Vec<(GroupKey, u64)> =
            rows.iter().map(|r| (group_key(r, by), r.get::<_, i64>(1) as u64)).collect();
        let parts = sp.with_edges(parts, |e| self.count_by_alerts(e, by, None))?;
        Ok(rollup::merge_top(parts, limit, name))
    }

    fn histogram(&self, q: &Query, bucket_ns: u64) -> Result<Vec<Bucket>> {
        let b = ns(bucket_ns.max(1));
        let parts = match rollup::split(q).filter(|_| b % rollup::MINUTE_NS == 0) {
            None => self.histogram_alerts(q, b)?,
            Some(sp) => {
                let (w, p) = where_clause(&sp.filter, None);
                let sql = format!(
                    "SELECT (minute / {b}) * {b} AS start, priority, sum(n)::bigint FROM alert_rollup{w}{}
                     GROUP BY start, priority",
                    sp.minute_cond(!w.is_empty())
                );
                let rows = self.with(|c| c.query(&sql, &refs(&p)))?;
                let parts: Vec<(i64, i64, u64)> = rows
                    .iter()
                    .map(|r| (r.get::<_, i64>(0), r.get::<_, i32>(1) as i64, r.get::<_, i64>(2) as u64))
                    .collect();
                sp.with_edges(parts, |e| self.histogram_alerts(e, b))?
            }
        };
        Ok(rollup::merge_buckets(parts)
            .into_iter()
            .map(|(s, p, n)| Bucket { start_ns: s as u64, priority: priority_name(p as i32), count: n })
            .collect())
    }

    fn groups(&self, q: &Query) -> Result<Vec<Group>> {
        let limit = q.limit.clamp(1, Query::MAX_LIMIT);
        let parts = match rollup::split(q) {
            None => self.groups_alerts(q, Some((limit, q.offset)))?,
            Some(sp) => {
                let (w, p) = where_clause(&sp.filter, None);
                let sql = format!(
                    "SELECT rule, min(priority), container, hostname, sum(n)::bigint, min(min_t), max(max_t), max(max_id),
                            container_id
                     FROM alert_rollup{w}{} GROUP BY rule, container_id, container, hostname",
                    sp.minute_cond(!w.is_empty())
                );
                let rows = self.with(|c| c.query(&sql, &refs(&p)))?;
                let parts: Vec<GroupPart> = rows.iter().map(group_part).collect();
                let parts = sp.with_edges(parts, |e| self.groups_alerts(e, None))?;
                rollup::merge_groups(parts, q.offset, limit)
            }
        };
        Ok(parts
            .into_iter()
            .map(|g| {
                let p = priority_name(g.priority as i32);
                g.into_group(p)
            })
            .collect())
    }

    fn acknowledge(&self, id: i64, by: &str, note: &str) -> Result<bool> {
        let r = self.with(|c| {
            c.execute(
                "UPDATE alerts SET ack_by = $1, ack_note = $2, ack_ns = $3 WHERE id = $4",
                &[&clean(by), &clean(note), &ns(now_ns()), &id],
            )
        });
        self.note(&r);
        r.map(|n| n > 0)
    }

    fn enforce_retention(&self, ret: &Retention) -> Result<u64> {
        let r = self.with(|c| {
            let mut removed = 0u64;
            if let Some(age) = ret.max_age_ns {
                let cutoff = ns(now_ns().saturating_sub(age));
                loop {
                    let n = Self::delete_oldest(c, Some(cutoff), 10_000)?;
                    removed += n;
                    if n == 0 {
                        break;
                    }
                }
            }
            if let Some(max) = ret.max_bytes {
                for _ in 0..8 {
                    let used = Self::used_bytes(c)?;
                    if used <= max {
                        break;
                    }
                    let count: i64 =
                        c.query_one("SELECT coalesce(sum(n), 0)::bigint FROM alert_rollup", &[])?.get(0);
                    if count == 0 {
                        break;
                    }
                    let share = ((used - max) as f64 / used as f64 * count as f64).ceil() as i64;
                    removed += Self::delete_oldest(c, None, share.max(1) + count / 50)?;
                }
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
        let counts = self.with(|c| {
            let n: i64 = c.query_one("SELECT coalesce(sum(n), 0)::bigint FROM alert_rollup", &[])?.get(0);
            Ok((n as u64, Self::used_bytes(c)?))
        });
        match counts {
            Ok((alerts, bytes)) => {
                StoreStatus { backend: "postgres".into(), ok: error.is_none(), error, alerts, bytes }
            }
            Err(e) => StoreStatus {
                backend: "postgres".into(),
                ok: false,
                error: Some(e.to_string()),
                alerts: 0,
                bytes: 0,
            },
        }
    }

    fn max_id(&self) -> Result<i64> {
        self.with(|c| c.query_one("SELECT coalesce(max(id), 0)::bigint FROM alerts", &[])).map(|r| r.get(0))
    }

    fn user_count(&self) -> Result<u64> {
        self.with(|c| c.query_one("SELECT count(*) FROM users", &[])).map(|r| r.get::<_, i64>(0) as u64)
    }

    fn user_put(&self, name: &str, phc: &str, role: Role) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO users (name, phc, role) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET phc = excluded.phc, role = excluded.role",
                &[&clean(name), &phc, &role.as_str()],
            )
        })
        .map(|_| ())
    }

    fn user_get(&self, name: &str) -> Result<Option<(String, Role)>> {
        self.with(|c| c.query_opt("SELECT phc, role FROM users WHERE name = $1", &[&clean(name)]))
            .map(|r| r.map(|r| (r.get(0), role_of(r.get(1)))))
    }

    fn session_put(&self, id_hash: &str, user: &str, role: Role, csrf: &str, expires_ns: u64) -> Result<()> {
        self.with(|c| {
            c.execute("DELETE FROM sessions WHERE expires_ns < $1", &[&ns(now_ns())])?;
            c.execute(
                "INSERT INTO sessions (id_hash, user_name, role, csrf, expires_ns) VALUES ($1, $2, $3, $4, $5)",
                &[&id_hash, &clean(user), &role.as_str(), &csrf, &ns(expires_ns)],
            )
        })
        .map(|_| ())
    }

    fn session_get(&self, id_hash: &str, now: u64) -> Result<Option<(String, Role, String)>> {
        self.with(|c| {
            c.query_opt(
                "SELECT user_name, role, csrf FROM sessions WHERE id_hash = $1 AND expires_ns > $2",
                &[&clean(id_hash), &ns(now)],
            )
        })
        .map(|r| r.map(|r| (r.get(0), role_of(r.get(1)), r.get(2))))
    }

    fn session_delete(&self, id_hash: &str) -> Result<()> {
        self.with(|c| c.execute("DELETE FROM sessions WHERE id_hash = $1", &[&clean(id_hash)])).map(|_| ())
    }

    fn token_put(&self, name: &str, hash: &str, role: Role) -> Result<()> {
        let r = self.with(|c| {
            c.execute(
                "INSERT INTO tokens (name, hash, role, created_ns) VALUES ($1, $2, $3, $4)",
                &[&clean(name), &hash, &role.as_str(), &ns(now_ns())],
            )
        });
        match r {
            Ok(_) => Ok(()),
            // 23505: unique_violation.
            Err(StoreError::Unavailable(m)) if m.starts_with("23505") => {
                Err(StoreError::BadRequest(format!("a token named '{name}' already exists")))
            }
            Err(e) => Err(e),
        }
    }

    fn token_get(&self, hash: &str) -> Result<Option<(String, Role)>> {
        self.with(|c| {
            c.query_opt("SELECT name, role FROM tokens WHERE hash = $1 AND NOT revoked", &[&clean(hash)])
        })
        .map(|r| r.map(|r| (r.get(0), role_of(r.get(1)))))
    }

    fn token_revoke(&self, name: &str) -> Result<bool> {
        self.with(|c| {
            c.execute("UPDATE tokens SET revoked = true WHERE name = $1 AND NOT revoked", &[&clean(name)])
        })
        .map(|n| n > 0)
    }

    fn token_list(&self) -> Result<Vec<(String, Role, bool)>> {
        self.with(|c| c.query("SELECT name, role, revoked FROM tokens ORDER BY name COLLATE \"C\"", &[]))
            .map(|rows| rows.iter().map(|r| (r.get(0), role_of(r.get(1)), r.get(2))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database written by schema 1 (the previous release) upgrades in place at open: its
    /// alerts are found, by filter and free text, and the new index is there.
    #[test]
    fn schema_1_database_upgrades_in_place_with_its_alerts() {
        let url = crate::pgserver::shared().new_database().unwrap();
        let u = url.clone();
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&u, postgres::NoTls).unwrap();
            c.batch_execute(&format!(
                "CREATE TABLE schema_version (version INTEGER NOT NULL); {}; INSERT INTO schema_version VALUES (1);",
                MIGRATIONS[0]
            ))
            .unwrap();
            // Rows as schema 1's insert wrote them.
            for i in 0..12i64 {
                let mut a = harrier_sinks::test_alert();
                a.rule = format!("Rule {}", i % 3);
                a.output = format!("old alert {i} about zebras");
                let row = Row::from_alert(&a);
                c.execute(
                    "INSERT INTO alerts (time_ns, rule, priority, source, hostname, tags, container, container_id,
                       image, namespace, pod, user_name, process, json, fts, bytes)
                     VALUES ($1, $2, $3, 'syscall', 'h', '{}', '', '', '', 'ns', '', '', '', $4, to_tsvector('simple', $5), 1)",
                    &[&(i + 1_700_000_000_000_000_000), &row.rule, &(row.priority as i32), &row.json, &fts_text(&row)],
                )
                .unwrap();
            }
        })
        .join()
        .unwrap();
        let s = PgStore::open(&url).unwrap();
        assert_eq!(s.count(&Query::new()).unwrap(), 12);
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
        let mut q = Query::new();
        q.text = Some("zebr".into());
        assert_eq!(s.query(&q).unwrap().total, 12);
        let mut q = Query::new();
        q.rule = Some("Rule 1".into());
        q.namespace = Some("ns".into());
        let page = s.query(&q).unwrap();
        assert_eq!((page.total, page.events.len()), (4, 4));
        let (version, index): (i32, bool) = s
            .with(|c| {
                let r = c.query_one(
                    "SELECT (SELECT max(version) FROM schema_version),
                            EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'alerts_namespace_rule')",
                    &[],
                )?;
                Ok((r.get(0), r.get(1)))
            })
            .unwrap();
        assert_eq!((version as usize, index), (MIGRATIONS.len(), true));
        let opts: Vec<String> = s
            .with(|c| c.query_one("SELECT reloptions FROM pg_class WHERE relname = 'alerts'", &[]))
            .unwrap()
            .get(0);
        assert!(opts.contains(&"autovacuum_vacuum_insert_threshold=50000".to_string()), "{opts:?}");
        assert_eq!(s.get(1).unwrap().unwrap().alert["output"], "old alert 0 about zebras");

        // Alerts written after the upgrade keep their document in `alert_json` (migration 6):
        // pages and `get` show old and new alike, and retention deletes both kinds.
        let mut new = harrier_sinks::test_alert();
        new.output = "new alert about zebras".into();
        let mut stale = harrier_sinks::test_alert();
        stale.output = "stale alert about zebras".into();
        stale.time_ns -= 2 * 86_400_000_000_000;
        let ids = s.insert(&[new, stale]).unwrap();
        let docs = |s: &PgStore| -> (i64, i64) {
            s.with(|c| {
                let r = c.query_one(
                    "SELECT (SELECT count(*) FROM alert_json), (SELECT count(*) FROM alerts WHERE json IS NULL)",
                    &[],
                )?;
                Ok((r.get(0), r.get(1)))
            })
            .unwrap()
        };
        assert_eq!(docs(&s), (2, 2), "new documents are kept beside the alerts");
        let mut q = Query::new();
        q.text = Some("zebr".into());
        let page = s.query(&q).unwrap();
        let outputs: Vec<&str> = page.events.iter().map(|e| e.alert["output"].as_str().unwrap()).collect();
        assert_eq!(page.total, 14);
        assert_eq!(outputs[0], "new alert about zebras", "newest first: {outputs:?}");
        assert!(outputs.contains(&"old alert 11 about zebras"), "{outputs:?}");
        assert_eq!(s.get(ids[1]).unwrap().unwrap().alert["output"], "stale alert about zebras");
        let removed = s
            .enforce_retention(&Retention { max_age_ns: Some(86_400_000_000_000), max_bytes: None })
            .unwrap();
        assert_eq!(removed, 13);
        assert_eq!(docs(&s), (1, 1), "the stale alert's document went with it");
        assert_eq!(s.get(ids[0]).unwrap().unwrap().alert["output"], "new alert about zebras");
        assert!(s.get(ids[1]).unwrap().is_none());
    }

    #[test]
    fn common_words_are_checked_on_the_rows_the_rare_ones_find() {
        let part = |q: &str, terms: &[&str], open: bool| TextPart {
            query: q.to_string(),
            terms: terms.iter().map(|t| t.to_string()).collect(),
            open,
        };
        let shares: HashMap<String, f64> = [("shim", 1.0), ("sh", 0.25), ("something", 1.0), ("shell", 0.05)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let sh = part("(sh | shell | shim)", &["sh", "shell", "shim"], false);
        let some = part("something", &["something"], false);
        let n = part("405", &["405"], false);
        assert_eq!(
            split_text(&[sh.clone(), some.clone(), n.clone()], &shares),
            TextQuery { index: "405".into(), filter: Some("(sh | shell | shim) & something".into()) }
        );
        // Every word common (or every word rare): all through the index.
        let all = TextQuery { index: "(sh | shell | shim) & something".into(), filter: None };
        assert_eq!(split_text(&[sh.clone(), some.clone()], &shares), all);
        assert_eq!(
            split_text(std::slice::from_ref(&n), &shares),
            TextQuery { index: "405".into(), filter: None }
        );
        // A group is as common as its terms together: 0.25 + 0.05 stays with the index, 0.5 +
        // 0.45 does not; an open prefix is treated as common; no statistics yet: nothing is split.
        let group = part("(sh | shell)", &["sh", "shell"], false);
        assert_eq!(split_text(&[group, n.clone()], &shares).filter, None);
        let halves: HashMap<String, f64> =
            [("ab", 0.5), ("abc", 0.45)].into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let ab = part("(ab | abc)", &["ab", "abc"], false);
        assert_eq!(split_text(&[ab, n.clone()], &halves).filter.as_deref(), Some("(ab | abc)"));
        let open = part("zz:*", &[], true);
        assert_eq!(split_text(&[open, n.clone()], &shares).index, "405");
        assert_eq!(split_text(&[sh, some, n], &HashMap::new()).filter, None);
    }

    #[test]
    fn probe_rows_only_where_time_order_is_cheaper() {
        let cap = (Query::COUNT_CAP + 1) as f64;
        // Every alert matches: about 1.3 × the cap of the newest.
        assert_eq!(probe_rows(10e6, 10e6), Some((1.3 * cap).ceil() as i64));
        // One in ten: ten times as many rows.
        assert_eq!(probe_rows(1e6, 10e6), Some((13.0 * cap).ceil() as i64));
        // One in a hundred: past the window; the index is cheaper.
        assert_eq!(probe_rows(1e5, 10e6), None);
        // At most the cap expected, no statistics yet, an estimate past the table: no probe, or a
        // window of the whole of a small table.
        assert_eq!(probe_rows(cap - 1.0, 10e6), None);
        assert_eq!(probe_rows(5e4, -1.0), None);
        assert_eq!(probe_rows(f64::NAN, 1e6), None);
        assert_eq!(probe_rows(3e4, 2e4), Some((1.3 * cap).ceil() as i64));
        // A window no shorter than the matches the index would hand over: the index.
        assert_eq!(probe_rows(1.2e4, 1.2e4), None);
        assert_eq!(
            plan_rows("Bitmap Heap Scan on alerts  (cost=1.00..2.00 rows=66258 width=4)"),
            Some(66258.0)
        );
        assert_eq!(plan_rows("Result  (cost=0.00..0.01 rows=1 width=4)"), Some(1.0));
        assert_eq!(plan_rows("no estimate"), None);
    }

    /// A text the planner expects to match most alerts is counted in time order over the newest
    /// ones; that settles the total only when they hold more than the cap. A word in most old
    /// alerts and in none of the newest (the planner cannot know) falls back to the index and
    /// still counts past the cap; a dense word beside a filter nothing passes counts zero.
    #[test]
    fn dense_text_is_counted_in_time_order_only_when_that_settles_it() {
        let url = crate::pgserver::shared().new_database().unwrap();
        let s = PgStore::open(&url).unwrap();
        let n = 40_000u64;
        let all: Vec<Alert> = (0..n)
            .map(|i| {
                let mut a = harrier_sinks::test_alert();
                a.time_ns = 1_700_000_000_000_000_000 + i * 1_000_000;
                let era = if i < 24_000 { "olden" } else { "recent" };
                a.output = format!("everywhere {era} {}", if i % 4 == 0 { "quarter" } else { "rest" });
                a.hostname = "node-a".into();
                a
            })
            .collect();
        for b in all.chunks(5_000) {
            s.insert(b).unwrap();
        }
        s.with(|c| c.batch_execute("ANALYZE alerts")).unwrap();
        let dense = |text: &str, host: &str| {
            let q = Query { text: Some(text.into()), hostname: Some(host.into()), ..Query::new() };
            let tsq = s.plan_tsquery(&q).unwrap();
            let (w, p) = where_clause(&q, tsq.as_ref());
            let probed = s.with(|c| dense_count(c, &w, &p)).unwrap();
            let page = s.query(&q).unwrap();
            (probed, page.total, page.total_exact)
        };
        let past = Query::COUNT_CAP as i64 + 1;
        assert_eq!(dense("everywhere", "node-a"), (Some(past), Query::COUNT_CAP, false));
        // 24,000 old ones: dense enough to try the newest ≈ 21,700 alerts, which hold only
        // 5,700 of them, so the index counts them.
        assert_eq!(dense("olden", "node-a"), (None, Query::COUNT_CAP, false));
        // 10,000 exactly: at the cap, counted exactly through the index.
        assert_eq!(dense("quarter", "node-a"), (None, 10_000, true));
        assert_eq!(dense("everywhere", "node-b").1, 0);
    }
}
