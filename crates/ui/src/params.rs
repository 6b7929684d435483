//! Query-string filters → the store's [`Query`]: Harrier's API (`priority` = this or more severe)
//! and falcosidekick-ui's (`priority=a,b` exact, `filter` free text, `since=1h`, 1-based `page`).
//! Every bad value is a 400 with the parameter named.

use harrier_store::{parse_priority, Query};
use std::collections::HashMap;

pub type Params = HashMap<String, String>;

fn nonempty(p: &Params, k: &str) -> Option<String> {
    p.get(k).map(|s| s.trim()).filter(|s| !s.is_empty() && *s != "null").map(str::to_string)
}

fn list(p: &Params, k: &str) -> Vec<String> {
    nonempty(p, k)
        .map(|s| s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect())
        .unwrap_or_default()
}

/// "90s", "15m", "2h", "7d", "1w" → ns.
pub fn parse_duration_ns(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let mult: u64 = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(mult)?.checked_mul(1_000_000_000)
}

/// A time bound: RFC 3339, epoch seconds / milliseconds / nanoseconds (by magnitude), or a
/// duration ago ("1h").
pub fn parse_time_ns(s: &str, now_ns: u64) -> Option<u64> {
    let s = s.trim();
    if let Some(t) = harrier_sinks::alert::parse_rfc3339_ns(s) {
        return Some(t);
    }
    if let Ok(n) = s.parse::<u64>() {
        return Some(match n {
            0..=99_999_999_999 => n.checked_mul(1_000_000_000)?,
            100_000_000_000..=99_999_999_999_999 => n.checked_mul(1_000_000)?,
            _ => n,
        });
    }
    parse_duration_ns(s).map(|d| now_ns.saturating_sub(d))
}

fn num(p: &Params, k: &str, default: usize, max: usize) -> Result<usize, String> {
    match nonempty(p, k) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| format!("parameter '{k}': '{v}' is not a non-negative integer"))
            .map(|n| n.min(max)),
    }
}

/// The filters shared by Harrier's API, the export and the pages.
pub fn harrier_query(p: &Params, now_ns: u64) -> Result<Query, String> {
    let mut q = Query::new();
    if let Some(v) = nonempty(p, "priority") {
        q.min_priority =
            Some(parse_priority(&v).ok_or_else(|| format!("parameter 'priority': unknown priority '{v}'"))?);
    }
    q.rule = nonempty(p, "rule");
    q.source = nonempty(p, "source");
    q.hostname = nonempty(p, "hostname");
    q.tags = list(p, "tags");
    q.container = nonempty(p, "container");
    q.image = nonempty(p, "image");
    q.namespace = nonempty(p, "namespace");
    q.pod = nonempty(p, "pod");
    q.user = nonempty(p, "user");
    q.process = nonempty(p, "process");
    q.text = nonempty(p, "q");
    for (k, slot) in [("since", &mut q.since_ns), ("until", &mut q.until_ns)] {
        if let Some(v) = nonempty(p, k) {
            *slot = Some(parse_time_ns(&v, now_ns).ok_or_else(|| {
                format!("parameter '{k}': '{v}' is not a time (RFC 3339, epoch seconds/ms/ns, or a duration like 1h)")
            })?);
        }
    }
    if let Some(v) = nonempty(p, "after") {
        q.after_id = Some(v.parse().map_err(|_| format!("parameter 'after': '{v}' is not an event id"))?);
    }
    if let Some(v) = nonempty(p, "before") {
        q.before = Some(
            harrier_store::Cursor::parse(&v)
                .ok_or_else(|| format!("parameter 'before': '{v}' is not a page cursor (TIME-ID)"))?,
        );
    }
    q.limit = num(p, "limit", Query::DEFAULT_LIMIT, Query::MAX_LIMIT)?;
    q.offset = num(p, "offset", 0, usize::MAX)?;
    Ok(q)
}

/// falcosidekick-ui's arguments: `priority`, `rule`, `source`, `tags` as comma lists (any of),
/// `filter` free text, `since` a duration ago, `page` 1-based, `limit` (default 100).
pub fn sidekick_query(p: &Params, now_ns: u64) -> Result<Query, String> {
    let mut q = Query::new();
    for v in list(p, "priority") {
        q.priorities
            .push(parse_priority(&v).ok_or_else(|| format!("parameter 'priority': unknown priority '{v}'"))?);
    }
    q.any_rules = list(p, "rule");
    q.any_sources = list(p, "source");
    q.any_tags = list(p, "tags");
    q.text = nonempty(p, "filter");
    if let Some(v) = nonempty(p, "since") {
        let d = parse_duration_ns(&v)
            .ok_or_else(|| format!("parameter 'since': '{v}' is not a duration (e.g. 15m, 1h, 7d)"))?;
        if d > 0 {
            q.since_ns = Some(now_ns.saturating_sub(d));
        }
    }
    let limit = num(p, "limit", 100, Query::MAX_LIMIT)?;
    q.limit = if limit == 0 { 100 } else { limit };
    let page = num(p, "page", 1, 1_000_000)?.max(1);
    q.offset = (page - 1) * q.limit;
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use harrier_rules::Priority;

    fn params(kv: &[(&str, &str)]) -> Params {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn harrier_filters() {
        let now = 1_700_000_000_000_000_000;
        let q = harrier_query(
            &params(&[
                ("priority", "warn"),
                ("tags", "a, b"),
                ("since", "1h"),
                ("until", "1700000000"),
                ("limit", "5"),
            ]),
            now,
        )
        .unwrap();
        assert_eq!(q.min_priority, Some(Priority::Warning));
        assert_eq!(q.tags, vec!["a", "b"]);
        assert_eq!(q.since_ns, Some(now - 3_600_000_000_000));
        assert_eq!(q.until_ns, Some(1_700_000_000_000_000_000));
        assert_eq!(q.limit, 5);
        assert!(harrier_query(&params(&[("priority", "loud")]), now).unwrap_err().contains("priority"));
        assert!(harrier_query(&params(&[("since", "yesterday")]), now).unwrap_err().contains("since"));
        assert!(harrier_query(&params(&[("limit", "-1")]), now).unwrap_err().contains("limit"));
        assert_eq!(harrier_query(&params(&[("limit", "99999999")]), now).unwrap().limit, Query::MAX_LIMIT);
        let t = harrier_query(&params(&[("since", "2023-11-14T22:13:20Z")]), now).unwrap();
        assert_eq!(t.since_ns, Some(1_700_000_000_000_000_000));
    }

    #[test]
    fn sidekick_filters() {
        let now = 1_700_000_000_000_000_000;
        let q = sidekick_query(
            &params(&[
                ("priority", "Notice,Critical"),
                ("rule", "null"),
                ("filter", "bash"),
                ("since", "15m"),
                ("page", "3"),
                ("limit", "10"),
            ]),
            now,
        )
        .unwrap();
        assert_eq!(q.priorities, vec![Priority::Notice, Priority::Critical]);
        assert!(q.any_rules.is_empty());
        assert_eq!(q.text.as_deref(), Some("bash"));
        assert_eq!(q.since_ns, Some(now - 900_000_000_000));
        assert_eq!((q.limit, q.offset), (10, 20));
    }

    #[test]
    fn before_is_a_keyset_cursor() {
        let q = harrier_query(&params(&[("before", "1700000000000000000-42")]), 0).unwrap();
        assert_eq!(q.before, Some(harrier_store::Cursor { time_ns: 1_700_000_000_000_000_000, id: 42 }));
        for bad in ["42", "x-1", "1-", "-1-2"] {
            assert!(harrier_query(&params(&[("before", bad)]), 0).is_err(), "{bad}");
        }
    }
}
