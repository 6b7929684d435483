//! Alerts on the wire: Falco's JSON document back into an [`Alert`] (the forwarder's ingest and
//! the spool), and the small time helpers the sinks share.

use harrier_engine::Alert;
use harrier_rules::Priority;
use serde_json::Value;
use std::collections::BTreeMap;

/// Parse Falco's JSON alert (what `json_output` prints and `http_output` posts). `time`, `rule`,
/// `priority` and `output` are required; `source` defaults to `syscall`, the rest to empty.
pub fn alert_from_json(v: &Value) -> Result<Alert, String> {
    let o = v.as_object().ok_or("alert must be a JSON object")?;
    let s = |k: &str, required: bool| -> Result<String, String> {
        match o.get(k) {
            Some(Value::String(s)) => Ok(s.clone()),
            None | Some(Value::Null) if !required => Ok(String::new()),
            None | Some(Value::Null) => Err(format!("missing field '{k}'")),
            Some(other) => Err(format!("field '{k}' must be a string, not {}", type_name(other))),
        }
    };
    let rule = s("rule", true)?;
    let prio_s = s("priority", true)?;
    let priority: Priority =
        prio_s.parse().map_err(|_| format!("field 'priority': unknown priority '{prio_s}'"))?;
    let time = s("time", true)?;
    let time_ns =
        parse_rfc3339_ns(&time).ok_or_else(|| format!("field 'time': not an RFC 3339 time: '{time}'"))?;
    let output = s("output", false)?;
    let mut source = s("source", false)?;
    if source.is_empty() {
        source = "syscall".into();
    }
    let hostname = s("hostname", false)?;
    let tags = match o.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|t| t.as_str().map(str::to_string).ok_or("field 'tags' must be an array of strings"))
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("field 'tags' must be an array, not {}", type_name(other))),
    };
    let output_fields: BTreeMap<String, Value> = match o.get("output_fields") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Some(other) => {
            return Err(format!("field 'output_fields' must be an object, not {}", type_name(other)))
        }
    };
    Ok(Alert { time_ns, rule, priority, source, tags, output, output_fields, hostname })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Days since 1970-01-01 → (year, month, day) (proleptic Gregorian).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// UTC broken down: (year, month, day, hour, minute, second, nanos).
pub fn utc_parts(time_ns: u64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let secs = (time_ns / 1_000_000_000) as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    (
        y,
        mo,
        d,
        (sod / 3600) as u32,
        ((sod % 3600) / 60) as u32,
        (sod % 60) as u32,
        (time_ns % 1_000_000_000) as u32,
    )
}

/// `2024-01-02T03:04:05.123456Z` (microseconds, as RFC 5424 allows at most).
pub fn rfc3339_micros(time_ns: u64) -> String {
    let (y, mo, d, h, mi, s, ns) = utc_parts(time_ns);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:06}Z", ns / 1000)
}

/// Parse `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM|±HHMM)` into ns since the epoch.
pub fn parse_rfc3339_ns(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> { s.get(r)?.parse().ok() };
    let (y, mo, d, h, mi, sec) =
        (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: u64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + (b[i] - b'0') as u64;
            }
            i += 1;
        }
        let digits = (i - start).min(9);
        if digits == 0 {
            return None;
        }
        nanos *= 10u64.pow(9 - digits as u32);
    }
    let offset: i64 = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        c @ (b'+' | b'-') => {
            let rest = s.get(i + 1..)?;
            let (oh, om) = match rest.len() {
                5 if rest.as_bytes()[2] == b':' => {
                    (rest.get(0..2)?.parse::<i64>().ok()?, rest.get(3..5)?.parse::<i64>().ok()?)
                }
                4 => (rest.get(0..2)?.parse::<i64>().ok()?, rest.get(2..4)?.parse::<i64>().ok()?),
                _ => return None,
            };
            let o = oh * 3600 + om * 60;
            if *c == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(y as i64, mo, d) * 86_400 + (h * 3600 + mi * 60 + sec) as i64 - offset;
    if secs < 0 {
        return None;
    }
    (secs as u64).checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// A JSON value as the text a field shows (`null` → `None`).
pub fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Severity rank where bigger is more severe (Debug 0 … Emergency 7).
pub fn severity(p: Priority) -> u8 {
    7 - p as u8
}

/// An alert to exercise every sink (`/test` and tests).
pub fn test_alert() -> Alert {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut f = BTreeMap::new();
    f.insert("proc.name".to_string(), Value::from("harrier"));
    f.insert("user.name".to_string(), Value::from("root"));
    Alert {
        time_ns: now,
        rule: "Test rule".into(),
        priority: Priority::Debug,
        source: "harrier".into(),
        tags: vec!["test".into(), "example".into()],
        output: "This is a test from Harrier (proc.name=harrier user.name=root)".into(),
        output_fields: f,
        hostname: hostname(),
    }
}

/// This machine's host name (from /proc, no libc call).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_roundtrip_and_errors() {
        let a = test_alert();
        let back = alert_from_json(&a.to_json_value(true, true)).unwrap();
        let mut tags = a.tags.clone();
        tags.sort();
        assert_eq!(back.time_ns, a.time_ns);
        assert_eq!(back.tags, tags);
        assert_eq!(back.output_fields, a.output_fields);
        assert_eq!((back.rule, back.priority), (a.rule, a.priority));
        for (bad, why) in [
            ("[]", "object"),
            (r#"{"rule":"r","priority":"Warning"}"#, "missing field 'time'"),
            (r#"{"rule":1,"priority":"Warning","time":"2024-01-01T00:00:00Z"}"#, "'rule' must be a string"),
            (r#"{"rule":"r","priority":"Loud","time":"2024-01-01T00:00:00Z"}"#, "unknown priority"),
            (r#"{"rule":"r","priority":"Warning","time":"yesterday"}"#, "RFC 3339"),
            (r#"{"rule":"r","priority":"Warning","time":"2024-01-01T00:00:00Z","tags":"x"}"#, "'tags'"),
        ] {
            let e = alert_from_json(&serde_json::from_str(bad).unwrap()).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn times() {
        assert_eq!(parse_rfc3339_ns("2016-08-04T16:17:57.881781397Z"), Some(1_470_327_477_881_781_397));
        assert_eq!(parse_rfc3339_ns("2016-08-04T18:17:57.5+02:00"), Some(1_470_327_477_500_000_000));
        assert_eq!(parse_rfc3339_ns("2016-08-04T16:17:57Z"), Some(1_470_327_477_000_000_000));
        assert_eq!(parse_rfc3339_ns("2016-13-04T16:17:57Z"), None);
        assert_eq!(parse_rfc3339_ns("2016-08-04T16:17:57.Z"), None);
        assert_eq!(rfc3339_micros(1_470_327_477_881_781_397), "2016-08-04T16:17:57.881781Z");
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }
}
