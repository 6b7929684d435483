//! Per-minute counts kept beside the alerts, so the dashboard, the groups of repeats and the
//! counts by rule, host, namespace… read thousands of rows instead of millions.
//!
//! `alert_rollup` holds, per minute and per (priority, rule, source, hostname, namespace, image,
//! container id, container name), how many alerts there are, their first and last event time and
//! the newest id; `alert_tag_rollup` per minute, priority and tag, a count. Both backends keep
//! them in the same transaction as the alerts: an insert adds the batch's counts (one upsert per
//! key, in key order so concurrent writers lock rows in the same order), retention subtracts the
//! removed alerts' counts, drops keys that reach zero and recomputes the times of the minutes it
//! cut into. The SQL is the same on SQLite and PostgreSQL (integer division, `ON CONFLICT … DO
//! UPDATE`, `UPDATE … FROM`).
//!
//! A query whose filters are all columns of the counts (priority, rule, source, hostname,
//! namespace, image, container; no free text, tags, pod, user, process or id bounds) is answered
//! from the counts for the whole minutes of its time range and from the alerts for the partial
//! minutes at its ends ([`split`]), and the parts are added up ([`merge_top`], [`merge_buckets`],
//! [`merge_groups`]); counts by tag only when the filter is at most on priority ([`groups_by`]).
//! Anything else reads the alerts as before.

use crate::{GroupBy, Query};
use std::collections::HashMap;

pub(crate) const MINUTE_NS: i64 = 60_000_000_000;

/// The key columns of `alert_rollup`.
pub(crate) const KEY: &str =
    "minute, priority, rule, source, hostname, namespace, image, container_id, container";

/// The key computed from a row of `alerts`.
const KEY_OF_ALERT: &str =
    "(time_ns / 60000000000) * 60000000000 AS minute, priority, rule, source, hostname, namespace, \
     image, container_id, container";

/// Table definitions (the same on both backends: BIGINT is SQLite's INTEGER; SQLite's tables are
/// `WITHOUT ROWID`, clustered on their key, so an upsert writes one b-tree, not two).
pub(crate) fn schema(sqlite: bool) -> String {
    let clustered = if sqlite { " WITHOUT ROWID" } else { "" };
    format!(
        "CREATE TABLE alert_rollup (
            minute BIGINT NOT NULL, priority INTEGER NOT NULL, rule TEXT NOT NULL, source TEXT NOT NULL,
            hostname TEXT NOT NULL, namespace TEXT NOT NULL, image TEXT NOT NULL,
            container_id TEXT NOT NULL, container TEXT NOT NULL,
            n BIGINT NOT NULL, bytes BIGINT NOT NULL, min_t BIGINT NOT NULL, max_t BIGINT NOT NULL,
            max_id BIGINT NOT NULL,
            PRIMARY KEY ({KEY})){clustered};
         CREATE TABLE alert_tag_rollup (
            minute BIGINT NOT NULL, priority INTEGER NOT NULL, tag TEXT NOT NULL, n BIGINT NOT NULL,
            PRIMARY KEY (minute, priority, tag)){clustered}"
    )
}

/// Add the alerts matching `cond` (a condition over `alerts`) to the counts; `bytes` is what
/// they cost as an aggregate (`sum(bytes)` on PostgreSQL, which caps its size by that; `0` on
/// SQLite, which measures its pages).
pub(crate) fn add_sql(cond: &str, bytes: &str) -> String {
    format!(
        "INSERT INTO alert_rollup ({KEY}, n, bytes, min_t, max_t, max_id)
         SELECT {KEY_OF_ALERT}, count(*), {bytes}, min(time_ns), max(time_ns), max(id) FROM alerts WHERE {cond}
         GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9
         ON CONFLICT ({KEY}) DO UPDATE SET n = alert_rollup.n + excluded.n, bytes = alert_rollup.bytes + excluded.bytes,
           min_t = CASE WHEN excluded.min_t < alert_rollup.min_t THEN excluded.min_t ELSE alert_rollup.min_t END,
           max_t = CASE WHEN excluded.max_t > alert_rollup.max_t THEN excluded.max_t ELSE alert_rollup.max_t END,
           max_id = CASE WHEN excluded.max_id > alert_rollup.max_id THEN excluded.max_id ELSE alert_rollup.max_id END"
    )
}

/// Add the tags of the alerts matching `cond`; `tags_from` joins each alert to its tags as `tag`
/// (`alerts CROSS JOIN LATERAL unnest(tags) AS t(tag)` on PostgreSQL, `alerts JOIN alert_tags …`
/// on SQLite).
pub(crate) fn add_tags_sql(tags_from: &str, cond: &str) -> String {
    format!(
        "INSERT INTO alert_tag_rollup (minute, priority, tag, n)
         SELECT {TAG_KEY_OF_ALERT}, count(*) FROM {tags_from} WHERE {cond}
         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
         ON CONFLICT (minute, priority, tag) DO UPDATE SET n = alert_tag_rollup.n + excluded.n"
    )
}

/// The tag rollup's key computed from a row of `alerts` joined to its tags.
const TAG_KEY_OF_ALERT: &str = "(time_ns / 60000000000) * 60000000000 AS minute, priority, tag";

fn key_match(a: &str, b: &str) -> String {
    KEY.split(", ").map(|k| format!("{a}.{k} = {b}.{k}")).collect::<Vec<_>>().join(" AND ")
}

/// Statements that take the alerts matching `cond` out of the counts, run before they are
/// deleted (see [`after_delete_sql`]; `tags_from` and `bytes` as for [`add_tags_sql`] and
/// [`add_sql`]).
pub(crate) fn subtract_sql(tags_from: &str, cond: &str, bytes: &str) -> [String; 2] {
    [
        format!(
            "UPDATE alert_rollup AS r SET n = r.n - d.n, bytes = r.bytes - d.bytes FROM
               (SELECT {KEY_OF_ALERT}, count(*) AS n, {bytes} AS bytes FROM alerts WHERE {cond} GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9) AS d
             WHERE {}",
            key_match("r", "d")
        ),
        format!(
            "UPDATE alert_tag_rollup AS r SET n = r.n - d.n FROM
               (SELECT {TAG_KEY_OF_ALERT}, count(*) AS n FROM {tags_from} WHERE {cond} GROUP BY 1, 2, 3) AS d
             WHERE r.minute = d.minute AND r.priority = d.priority AND r.tag = d.tag"
        ),
    ]
}

/// After alerts whose event times lie in `[lo_ns, hi_ns)` were deleted: drop the keys that
/// reached zero and recompute the first and last times (and newest id) of the keys left in
/// that range, from the alerts still there (the oldest go first, so that is the one minute
/// retention cut into).
pub(crate) fn after_delete_sql(lo_ns: i64, hi_ns: i64) -> [String; 3] {
    let lo = lo_ns.div_euclid(MINUTE_NS) * MINUTE_NS;
    let hi = hi_ns.div_euclid(MINUTE_NS).saturating_add(1).saturating_mul(MINUTE_NS);
    [
        "DELETE FROM alert_rollup WHERE n <= 0".into(),
        "DELETE FROM alert_tag_rollup WHERE n <= 0".into(),
        format!(
            "UPDATE alert_rollup AS r SET min_t = d.min_t, max_t = d.max_t, max_id = d.max_id FROM
               (SELECT {KEY_OF_ALERT}, min(time_ns) AS min_t, max(time_ns) AS max_t, max(id) AS max_id
                FROM alerts WHERE time_ns >= {lo} AND time_ns < {hi} GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9) AS d
             WHERE r.minute >= {lo} AND r.minute < {hi} AND {}",
            key_match("r", "d")
        ),
    ]
}

/// A query answered from the counts: the whole minutes `[from, to)` (either end open) from
/// `alert_rollup`, and `edges` (at most two partial minutes) from the alerts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Split {
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// The same filter over the partial minutes at the ends of the range.
    pub edges: Vec<Query>,
    /// The filter without its time range, for the counts (every filter it has is a column of
    /// the counts).
    pub filter: Query,
}

impl Split {
    /// `parts` (from the counts) followed by `f`'s answer for each partial minute at the ends.
    pub fn with_edges<T>(
        &self,
        mut parts: Vec<T>,
        mut f: impl FnMut(&Query) -> crate::Result<Vec<T>>,
    ) -> crate::Result<Vec<T>> {
        for e in &self.edges {
            parts.extend(f(e)?);
        }
        Ok(parts)
    }

    /// The time range as a condition on `minute` (integers only), with " AND " before it when
    /// `more` (other conditions come first), or " WHERE " when not.
    pub fn minute_cond(&self, more: bool) -> String {
        let mut c = Vec::new();
        if let Some(f) = self.from {
            c.push(format!("minute >= {f}"));
        }
        if let Some(t) = self.to {
            c.push(format!("minute < {t}"));
        }
        if c.is_empty() {
            String::new()
        } else {
            format!("{}{}", if more { " AND " } else { " WHERE " }, c.join(" AND "))
        }
    }
}

fn set(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|s| !s.trim().is_empty())
}

/// Whether the counts can count `split`'s filter by `by`: a column of `alert_rollup`, or tags
/// when the filter is at most on priority (`alert_tag_rollup`'s key).
pub(crate) fn groups_by(split: &Split, by: GroupBy) -> bool {
    match by {
        GroupBy::Pod | GroupBy::User | GroupBy::Process => false,
        GroupBy::Tags => {
            let f = &split.filter;
            [&f.rule, &f.source, &f.hostname, &f.namespace, &f.image, &f.container].iter().all(|v| !set(v))
                && f.any_rules.is_empty()
                && f.any_sources.is_empty()
        }
        _ => true,
    }
}

/// How `q` splits between the counts and the alerts, or None when it needs the alerts alone.
pub(crate) fn split(q: &Query) -> Option<Split> {
    let text = q.text.as_deref().is_some_and(|t| crate::words(t).next().is_some());
    if text
        || q.tags.iter().any(|t| !t.trim().is_empty())
        || !q.any_tags.is_empty()
        || set(&q.pod)
        || set(&q.user)
        || set(&q.process)
        || q.after_id.is_some()
        || q.before.is_some()
    {
        return None;
    }
    let since = q.since_ns.map(|s| s.min(i64::MAX as u64) as i64);
    let until = q.until_ns.map(|u| u.min(i64::MAX as u64) as i64);
    // Whole minutes: from the first minute boundary at or after `since`, to the last at or
    // before `until`.
    let from = since.map(|s| (s.div_euclid(MINUTE_NS) + i64::from(s.rem_euclid(MINUTE_NS) != 0)) * MINUTE_NS);
    let to = until.map(|u| u.div_euclid(MINUTE_NS) * MINUTE_NS);
    if let (Some(f), Some(t)) = (from, to) {
        if f >= t {
            return None; // less than a whole minute: the alerts alone
        }
    }
    let mut edges = Vec::new();
    if let (Some(s), Some(f)) = (since, from) {
        if s < f {
            edges.push(Query { since_ns: Some(s as u64), until_ns: Some(f as u64), ..q.clone() });
        }
    }
    if let (Some(u), Some(t)) = (until, to) {
        if t < u {
            edges.push(Query { since_ns: Some(t as u64), until_ns: Some(u as u64), ..q.clone() });
        }
    }
    Some(Split { from, to, edges, filter: Query { since_ns: None, until_ns: None, ..q.clone() } })
}

/// A value counted by: priorities sort by their number, the rest byte-wise (as the alerts'
/// own `ORDER BY … COLLATE "C"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum GroupKey {
    Priority(i64),
    Text(String),
}

/// Counts from several parts added up, largest first (ties by key), at most `limit`.
pub(crate) fn merge_top(
    parts: impl IntoIterator<Item = (GroupKey, u64)>,
    limit: usize,
    name: impl Fn(GroupKey) -> String,
) -> Vec<(String, u64)> {
    let mut m: HashMap<GroupKey, u64> = HashMap::new();
    for (k, n) in parts {
        *m.entry(k).or_default() += n;
    }
    let mut v: Vec<(GroupKey, u64)> = m.into_iter().filter(|(_, n)| *n > 0).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(limit.clamp(1, 1000));
    v.into_iter().map(|(k, n)| (name(k), n)).collect()
}

/// Histogram parts `(start, priority, count)` added up, in (start, priority) order.
pub(crate) fn merge_buckets(parts: impl IntoIterator<Item = (i64, i64, u64)>) -> Vec<(i64, i64, u64)> {
    let mut m: std::collections::BTreeMap<(i64, i64), u64> = std::collections::BTreeMap::new();
    for (s, p, n) in parts {
        *m.entry((s, p)).or_default() += n;
    }
    m.into_iter().filter(|(_, n)| *n > 0).map(|((s, p), n)| (s, p, n)).collect()
}

/// One group of repeats as a part gives it: key (rule, container id, container, hostname).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroupPart {
    pub rule: String,
    pub container_id: String,
    pub container: String,
    pub hostname: String,
    pub priority: i64,
    pub count: u64,
    pub first_ns: i64,
    pub last_ns: i64,
    pub last_id: i64,
}

impl GroupPart {
    /// The group as the store answers it, with its priority's name.
    pub(crate) fn into_group(self, priority: String) -> crate::Group {
        crate::Group {
            rule: self.rule,
            priority,
            container: self.container,
            hostname: self.hostname,
            count: self.count,
            first_ns: self.first_ns as u64,
            last_ns: self.last_ns as u64,
            last_id: self.last_id,
        }
    }
}

/// Groups from several parts added up, most recent first, then `offset` and `limit`.
pub(crate) fn merge_groups(
    parts: impl IntoIterator<Item = GroupPart>,
    offset: usize,
    limit: usize,
) -> Vec<GroupPart> {
    let mut m: HashMap<(String, String, String, String), GroupPart> = HashMap::new();
    for g in parts {
        let k = (g.rule.clone(), g.container_id.clone(), g.container.clone(), g.hostname.clone());
        match m.get_mut(&k) {
            None => {
                m.insert(k, g);
            }
            Some(e) => {
                e.priority = e.priority.min(g.priority);
                e.count += g.count;
                e.first_ns = e.first_ns.min(g.first_ns);
                e.last_ns = e.last_ns.max(g.last_ns);
                e.last_id = e.last_id.max(g.last_id);
            }
        }
    }
    let mut v: Vec<GroupPart> = m.into_values().filter(|g| g.count > 0).collect();
    v.sort_by(|a, b| b.last_ns.cmp(&a.last_ns).then(b.last_id.cmp(&a.last_id)));
    v.into_iter().skip(offset).take(limit.clamp(1, Query::MAX_LIMIT)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: u64 = MINUTE_NS as u64;

    #[test]
    fn a_range_splits_into_whole_minutes_and_its_two_partial_ends() {
        let mut q = Query::new();
        q.rule = Some("r".into());
        q.since_ns = Some(10 * M + 5);
        q.until_ns = Some(20 * M + 7);
        let s = split(&q).unwrap();
        assert_eq!((s.from, s.to), (Some(11 * MINUTE_NS), Some(20 * MINUTE_NS)));
        let ends: Vec<(Option<u64>, Option<u64>)> =
            s.edges.iter().map(|e| (e.since_ns, e.until_ns)).collect();
        assert_eq!(ends, [(Some(10 * M + 5), Some(11 * M)), (Some(20 * M), Some(20 * M + 7))]);
        assert!(s.edges.iter().all(|e| e.rule.as_deref() == Some("r")));
        assert_eq!((s.filter.since_ns, s.filter.until_ns, s.filter.rule.as_deref()), (None, None, Some("r")));
        assert_eq!(s.minute_cond(true), format!(" AND minute >= {} AND minute < {}", 11 * M, 20 * M));

        // Aligned ends: no partial minute; open ends: no bound.
        q.since_ns = Some(10 * M);
        q.until_ns = None;
        let s = split(&q).unwrap();
        assert_eq!((s.from, s.to, s.edges.len()), (Some(10 * MINUTE_NS), None, 0));
        assert_eq!(s.minute_cond(false), format!(" WHERE minute >= {}", 10 * M));
        // Less than a whole minute: the alerts alone.
        q.since_ns = Some(10 * M + 1);
        q.until_ns = Some(11 * M - 1);
        assert_eq!(split(&q), None);
    }

    #[test]
    fn filters_outside_the_counts_read_the_alerts() {
        let base = Query::new();
        assert!(split(&base).is_some());
        let blank = Query { text: Some("  - ".into()), pod: Some(" ".into()), ..base.clone() };
        assert!(split(&blank).is_some(), "no word, blank values: no filter");
        for q in [
            Query { text: Some("bash".into()), ..base.clone() },
            Query { tags: vec!["t".into()], ..base.clone() },
            Query { any_tags: vec!["t".into()], ..base.clone() },
            Query { pod: Some("p".into()), ..base.clone() },
            Query { user: Some("u".into()), ..base.clone() },
            Query { process: Some("p".into()), ..base.clone() },
            Query { after_id: Some(3), ..base.clone() },
            Query { before: Some(crate::Cursor { time_ns: 1, id: 1 }), ..base.clone() },
        ] {
            assert_eq!(split(&q), None, "{q:?}");
        }
        for q in [
            Query { container: Some("c".into()), ..base.clone() },
            Query { image: Some("i".into()), namespace: Some("n".into()), ..base.clone() },
            Query {
                any_rules: vec!["a".into()],
                priorities: vec![harrier_rules::Priority::Error],
                ..base.clone()
            },
        ] {
            assert!(split(&q).is_some(), "{q:?}");
        }
    }

    #[test]
    fn tags_are_counted_per_minute_and_priority_only() {
        let q = Query { min_priority: Some(harrier_rules::Priority::Error), ..Query::new() };
        let sp = split(&q).unwrap();
        assert!(groups_by(&sp, GroupBy::Tags) && groups_by(&sp, GroupBy::Rule));
        assert!(!groups_by(&sp, GroupBy::Pod) && !groups_by(&sp, GroupBy::User));
        for q in [
            Query { rule: Some("r".into()), ..q.clone() },
            Query { container: Some("c".into()), ..q.clone() },
            Query { any_sources: vec!["s".into()], ..q.clone() },
        ] {
            let sp = split(&q).unwrap();
            assert!(!groups_by(&sp, GroupBy::Tags) && groups_by(&sp, GroupBy::Hostname), "{q:?}");
        }
    }

    #[test]
    fn parts_add_up() {
        let t = |s: &str| GroupKey::Text(s.into());
        let top = merge_top([(t("b"), 2), (t("a"), 3), (t("b"), 2), (t("c"), 0)], 10, |k| format!("{k:?}"));
        assert_eq!(top, [("Text(\"b\")".to_string(), 4), ("Text(\"a\")".to_string(), 3)]);
        let top =
            merge_top([(GroupKey::Priority(4), 1), (GroupKey::Priority(2), 1)], 1, |k| format!("{k:?}"));
        assert_eq!(top, [("Priority(2)".to_string(), 1)], "ties by priority number");
        assert_eq!(merge_buckets([(60, 4, 1), (0, 2, 2), (60, 4, 5)]), [(0, 2, 2), (60, 4, 6)]);
        let g = |count, first_ns, last_ns, last_id, priority| GroupPart {
            rule: "r".into(),
            container_id: "c".into(),
            container: "n".into(),
            hostname: "h".into(),
            priority,
            count,
            first_ns,
            last_ns,
            last_id,
        };
        let mut other = g(1, 5, 5, 9, 7);
        other.hostname = "h2".into();
        let got = merge_groups([g(2, 10, 20, 3, 4), other.clone(), g(1, 30, 40, 8, 6)], 0, 10);
        assert_eq!(got, [g(3, 10, 40, 8, 4), other.clone()]);
        assert_eq!(merge_groups([g(2, 10, 20, 3, 4), other.clone()], 1, 10), [other]);
    }
}
