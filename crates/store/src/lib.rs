//! The alert store: one trait ([`Store`]) over the backends, the query model shared by the UI and
//! the API, and the SQLite backend (`sqlite.rs`: WAL, FTS5 over output and fields, retention by
//! age and size). Alerts are kept in Falco's JSON alert shape, with the fields people filter on
//! (time, rule, priority, source, hostname, tags, container, image, namespace, pod, user, process)
//! in their own indexed columns.
//!
//! The UI's accounts live in the same database (users, sessions, API tokens), so several UI
//! replicas over one PostgreSQL share logins.

use harrier_engine::Alert;
use harrier_rules::Priority;
use serde::Serialize;
use serde_json::Value;

pub mod auth;
#[cfg(feature = "postgres")]
pub mod pgserver;
#[cfg(feature = "postgres")]
pub mod pgtls;
#[cfg(feature = "postgres")]
pub mod postgres;
mod rollup;
pub mod sink;
pub mod sqlite;

#[cfg(feature = "postgres")]
pub use self::postgres::PgStore;
pub use auth::{hash_token, random_token, Role};
pub use sqlite::SqliteStore;

/// Errors from a store. `Unavailable` is the database being unreachable, read-only or full: the
/// UI reports it as the store's state, callers retry later.
#[derive(Debug)]
pub enum StoreError {
    /// The request itself is wrong (bad filter value, unknown group).
    BadRequest(String),
    /// The database refused or failed.
    Unavailable(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::BadRequest(m) => write!(f, "bad request: {m}"),
            StoreError::Unavailable(m) => write!(f, "store unavailable: {m}"),
        }
    }
}
impl std::error::Error for StoreError {}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A filter over stored alerts. Empty strings and `None` mean "no filter".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// This priority or more severe.
    pub min_priority: Option<Priority>,
    pub rule: Option<String>,
    pub source: Option<String>,
    pub hostname: Option<String>,
    /// Every listed tag must be present.
    pub tags: Vec<String>,
    /// Any of these exact priorities (falcosidekick-ui's `priority=a,b`).
    pub priorities: Vec<Priority>,
    /// Any of these rules / sources / tags (falcosidekick-ui's comma lists).
    pub any_rules: Vec<String>,
    pub any_sources: Vec<String>,
    pub any_tags: Vec<String>,
    /// Container name or id.
    pub container: Option<String>,
    pub image: Option<String>,
    pub namespace: Option<String>,
    pub pod: Option<String>,
    pub user: Option<String>,
    pub process: Option<String>,
    /// Free text over the output and the output fields: every word must match, as a prefix
    /// (`kube` finds `kubectl`), except a number, which matches only itself (`37` is not `370`:
    /// pids, ports, uids and address parts are looked up whole; see [`whole_word`]).
    pub text: Option<String>,
    /// Event time bounds, ns since the epoch (since inclusive, until exclusive).
    pub since_ns: Option<u64>,
    pub until_ns: Option<u64>,
    /// Only alerts stored after this id (live tail).
    pub after_id: Option<i64>,
    /// Keyset paging: only alerts older than this position in the newest-first order, i.e. with
    /// `(time_ns, id) < cursor` (the `next` of the previous [`Page`]). Unlike `offset`, the cost
    /// of a page does not grow with how deep it is.
    pub before: Option<Cursor>,
    pub limit: usize,
    /// Rows to skip (falcosidekick-ui's `page`; prefer `before`).
    pub offset: usize,
}

/// A position in the newest-first order: (event time, id) of the last alert of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub time_ns: u64,
    pub id: i64,
}

impl Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.encode())
    }
}

impl Cursor {
    /// The opaque form used in URLs: `TIME-ID` in decimal.
    pub fn encode(&self) -> String {
        format!("{}-{}", self.time_ns, self.id)
    }
    pub fn parse(s: &str) -> Option<Cursor> {
        let (t, i) = s.trim().split_once('-')?;
        Some(Cursor { time_ns: t.parse().ok()?, id: i.parse().ok()? })
    }
}

impl Query {
    pub const DEFAULT_LIMIT: usize = 100;
    pub const MAX_LIMIT: usize = 10_000;
    /// Past this many matches a page's total is not counted further: `total` is this number
    /// and `total_exact` is false (the UI shows "10,000+"). Counting every match of a broad
    /// filter over millions of alerts is what made pages slow.
    pub const COUNT_CAP: u64 = 10_000;

    pub fn new() -> Query {
        Query { limit: Self::DEFAULT_LIMIT, ..Default::default() }
    }
}

/// One stored alert: its id, the alert in Falco's JSON shape, and its acknowledgement.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StoredAlert {
    pub id: i64,
    /// Falco's JSON alert document.
    pub alert: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack: Option<Ack>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Ack {
    pub by: String,
    pub note: String,
    pub time_ns: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Page {
    /// Matches of the filter (all pages), exact up to [`Query::COUNT_CAP`].
    pub total: u64,
    /// False when there are more than `total` matches (counting stopped at the cap).
    pub total_exact: bool,
    pub events: Vec<StoredAlert>,
    /// Where the next (older) page starts, when this page is full.
    pub next: Option<Cursor>,
}

impl Page {
    /// A page from its events (newest first, at most `limit`), the event time of the last one
    /// and the count of matches (capped at `COUNT_CAP + 1`).
    pub(crate) fn build(
        events: Vec<StoredAlert>,
        last_time_ns: Option<u64>,
        limit: usize,
        capped: u64,
    ) -> Page {
        let next = if events.len() >= limit && limit > 0 {
            events.last().zip(last_time_ns).map(|(e, t)| Cursor { time_ns: t, id: e.id })
        } else {
            None
        };
        Page { total: capped.min(Query::COUNT_CAP), total_exact: capped <= Query::COUNT_CAP, events, next }
    }
}

/// What a count groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Rule,
    Priority,
    Source,
    Hostname,
    Tags,
    Container,
    Image,
    Namespace,
    Pod,
    User,
    Process,
}

impl GroupBy {
    pub const ALL: [GroupBy; 11] = [
        GroupBy::Rule,
        GroupBy::Priority,
        GroupBy::Source,
        GroupBy::Hostname,
        GroupBy::Tags,
        GroupBy::Container,
        GroupBy::Image,
        GroupBy::Namespace,
        GroupBy::Pod,
        GroupBy::User,
        GroupBy::Process,
    ];
    pub fn name(self) -> &'static str {
        match self {
            GroupBy::Rule => "rule",
            GroupBy::Priority => "priority",
            GroupBy::Source => "source",
            GroupBy::Hostname => "hostname",
            GroupBy::Tags => "tags",
            GroupBy::Container => "container",
            GroupBy::Image => "image",
            GroupBy::Namespace => "namespace",
            GroupBy::Pod => "pod",
            GroupBy::User => "user",
            GroupBy::Process => "process",
        }
    }
    pub fn parse(s: &str) -> Option<GroupBy> {
        GroupBy::ALL.into_iter().find(|g| g.name() == s)
    }
    /// The column holding the value (never built from user input).
    pub(crate) fn column(self) -> &'static str {
        match self {
            GroupBy::Rule => "rule",
            GroupBy::Priority => "priority",
            GroupBy::Source => "source",
            GroupBy::Hostname => "hostname",
            GroupBy::Tags => "tag",
            GroupBy::Container => "container",
            GroupBy::Image => "image",
            GroupBy::Namespace => "namespace",
            GroupBy::Pod => "pod",
            GroupBy::User => "user_name",
            GroupBy::Process => "process",
        }
    }
}

/// Repeats of one rule in one container (or on the host), newest first.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Group {
    pub rule: String,
    pub priority: String,
    pub container: String,
    pub hostname: String,
    pub count: u64,
    pub first_ns: u64,
    pub last_ns: u64,
    /// The newest alert of the group.
    pub last_id: i64,
}

/// Alerts per time bucket and priority (the dashboard's chart).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bucket {
    pub start_ns: u64,
    pub priority: String,
    pub count: u64,
}

/// Retention: alerts older than `max_age_ns` and, past `max_bytes` of data, the oldest are removed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Retention {
    pub max_age_ns: Option<u64>,
    pub max_bytes: Option<u64>,
}

/// What the UI shows about the store.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StoreStatus {
    pub backend: String,
    pub ok: bool,
    /// Why the last write failed, when it did.
    pub error: Option<String>,
    pub alerts: u64,
    pub bytes: u64,
}

/// One alert as the store indexes it (derived from Falco's JSON alert).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub time_ns: u64,
    pub rule: String,
    pub priority: Priority,
    pub source: String,
    pub hostname: String,
    pub tags: Vec<String>,
    pub container: String,
    pub container_id: String,
    pub image: String,
    pub namespace: String,
    pub pod: String,
    pub user: String,
    pub process: String,
    pub output: String,
    /// Output fields flattened as "name=value" lines for the full-text index.
    pub fields_text: String,
    /// Falco's JSON alert document.
    pub json: String,
}

impl Row {
    pub fn from_alert(a: &Alert) -> Row {
        let f = |k: &str| -> String {
            match a.output_fields.get(k) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(v) => v.to_string(),
            }
        };
        let container_id = f("container.id");
        let mut container = f("container.name");
        if container.is_empty() {
            container = container_id.clone();
        }
        let mut image = f("container.image.repository");
        if image.is_empty() {
            image = f("container.image");
        } else {
            let tag = f("container.image.tag");
            if !tag.is_empty() {
                image = format!("{image}:{tag}");
            }
        }
        let mut fields_text = String::new();
        for (k, v) in &a.output_fields {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                v => v.to_string(),
            };
            fields_text.push_str(k);
            fields_text.push('=');
            fields_text.push_str(&v);
            fields_text.push('\n');
        }
        Row {
            time_ns: a.time_ns,
            rule: a.rule.clone(),
            priority: a.priority,
            source: a.source.clone(),
            hostname: a.hostname.clone(),
            tags: a.tags.clone(),
            container,
            container_id,
            image,
            namespace: f("k8s.ns.name"),
            pod: f("k8s.pod.name"),
            user: f("user.name"),
            process: f("proc.name"),
            output: a.output.clone(),
            fields_text,
            json: a.to_json_value(true, true).to_string(),
        }
    }
}

/// Parse Falco's JSON alert (the shape `json_output` prints and falcosidekick posts).
pub fn parse_alert(v: &Value) -> std::result::Result<Alert, String> {
    harrier_sinks::alert_from_json(v)
}

/// Priority from a name, case-insensitive, accepting Falco's aliases ("info", "warn", "crit"…).
pub fn parse_priority(s: &str) -> Option<Priority> {
    let l = s.trim().to_ascii_lowercase();
    let canon = match l.as_str() {
        "emerg" => "emergency",
        "crit" => "critical",
        "err" => "error",
        "warn" => "warning",
        "info" => "informational",
        other => other,
    };
    canon.parse().ok()
}

/// The store every backend implements. Calls block (run them off async executors with
/// `spawn_blocking`); implementations are shared between threads.
pub trait Store: Send + Sync {
    fn backend(&self) -> &'static str;
    /// Store a batch in one transaction. Returns the ids given, in order.
    fn insert(&self, alerts: &[Alert]) -> Result<Vec<i64>>;
    /// Newest first; `total` counts the matches up to [`Query::COUNT_CAP`] (`total_exact`
    /// says whether there are more), `next` is the cursor of the following page.
    fn query(&self, q: &Query) -> Result<Page>;
    /// Count matches without fetching them (exact, however many).
    fn count(&self, q: &Query) -> Result<u64>;
    fn get(&self, id: i64) -> Result<Option<StoredAlert>>;
    /// Matches counted by one attribute, largest first.
    fn count_by(&self, q: &Query, by: GroupBy, limit: usize) -> Result<Vec<(String, u64)>>;
    /// Matches per time bucket and priority.
    fn histogram(&self, q: &Query, bucket_ns: u64) -> Result<Vec<Bucket>>;
    /// Repeats grouped by rule and container, most recent group first.
    fn groups(&self, q: &Query) -> Result<Vec<Group>>;
    /// Acknowledge an alert with a note. Returns false when there is no such alert.
    fn acknowledge(&self, id: i64, by: &str, note: &str) -> Result<bool>;
    /// Apply retention now; returns how many alerts were removed.
    fn enforce_retention(&self, r: &Retention) -> Result<u64>;
    fn status(&self) -> StoreStatus;
    /// The highest alert id stored (0 when empty): cheap, for noticing inserts by other writers.
    fn max_id(&self) -> Result<i64>;

    // Accounts.
    fn user_count(&self) -> Result<u64>;
    /// Create or replace a user with an argon2 PHC hash.
    fn user_put(&self, name: &str, phc: &str, role: Role) -> Result<()>;
    fn user_get(&self, name: &str) -> Result<Option<(String, Role)>>;
    fn session_put(&self, id_hash: &str, user: &str, role: Role, csrf: &str, expires_ns: u64) -> Result<()>;
    /// (user, role, csrf) of a live session.
    fn session_get(&self, id_hash: &str, now_ns: u64) -> Result<Option<(String, Role, String)>>;
    fn session_delete(&self, id_hash: &str) -> Result<()>;
    fn token_put(&self, name: &str, hash: &str, role: Role) -> Result<()>;
    /// (name, role) of an unrevoked token.
    fn token_get(&self, hash: &str) -> Result<Option<(String, Role)>>;
    /// Revoke by name; returns whether one was revoked.
    fn token_revoke(&self, name: &str) -> Result<bool>;
    /// (name, role, revoked) of every token.
    fn token_list(&self) -> Result<Vec<(String, Role, bool)>>;
}

/// Open a store from a URL: `sqlite:PATH` (or a bare path), or `postgres://user@host/db`
/// (libpq's URL and `key=value` forms; `host=/run/postgresql` for a Unix socket).
pub fn open(url: &str) -> std::result::Result<Box<dyn Store>, String> {
    if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
        if path.is_empty() {
            return Err("sqlite: needs a path, e.g. sqlite:/var/lib/harrier/alerts.db".into());
        }
        return SqliteStore::open(path).map(|s| Box::new(s) as Box<dyn Store>).map_err(|e| e.to_string());
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        return PgStore::open(url).map(|s| Box::new(s) as Box<dyn Store>).map_err(|e| e.to_string());
        #[cfg(not(feature = "postgres"))]
        return Err(harrier_sinks::not_built("postgres", "a PostgreSQL store"));
    }
    if url.contains("://") {
        return Err(format!("unknown store URL '{url}': expected sqlite:PATH or postgres://…"));
    }
    SqliteStore::open(url).map(|s| Box::new(s) as Box<dyn Store>).map_err(|e| e.to_string())
}

/// Now, ns since the epoch.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The words of free text, as both full-text indexes see them: runs of letters and digits,
/// lower-cased (the FTS5 `unicode61` tokenizer's view; PostgreSQL gets the same words).
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(|w| w.to_lowercase())
}

/// Whether a word of free text matches only itself rather than as a prefix: a number (ASCII
/// digits only). A number is an identifier (a pid, a port, a uid, a part of an address) that
/// people look up whole, and as a prefix it would start a vocabulary that grows with the store
/// (`3` starts every number from 3 to 3999999…), which no index reads fast.
pub fn whole_word(w: &str) -> bool {
    !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit())
}

/// Free text → a PostgreSQL `to_tsquery('simple', …)` argument: every word as a prefix (a
/// number as itself, [`whole_word`]), all required. Words hold only letters and digits, so no
/// tsquery operator can come from input.
pub fn tsquery(text: &str) -> Option<String> {
    let w: Vec<String> =
        words(text).take(16).map(|w| if whole_word(&w) { w } else { format!("{w}:*") }).collect();
    if w.is_empty() {
        None
    } else {
        Some(w.join(" & "))
    }
}

/// Free text → a safe FTS5 query: every word quoted (quotes doubled) as a prefix (a number as
/// itself, [`whole_word`]), all required. Returns None when the text has no word.
pub fn fts_query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(16)
        .map(|w| {
            let q = format!("\"{}\"", w.replace('"', "\"\""));
            if whole_word(w) {
                q
            } else {
                q + "*"
            }
        })
        .collect();
    if words.is_empty() {
        None
    } else {
        Some(words.join(" AND "))
    }
}

#[cfg(test)]
mod lean_tests {
    /// A lean build (`--no-default-features`, as scripts/run.sh builds) refuses a PostgreSQL URL
    /// naming the feature; SQLite works. scripts/test.sh runs this without the default features.
    #[test]
    #[cfg(not(feature = "postgres"))]
    fn postgres_left_out_is_refused_naming_the_feature() {
        let e = super::open("postgres://u@127.0.0.1/alerts").err().unwrap();
        assert!(e.contains("without the `postgres` feature") && e.contains("--features postgres"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        assert!(super::open(&format!("sqlite:{}", dir.path().join("a.db").display())).is_ok());
    }
}
