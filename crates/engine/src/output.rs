//! Output templates (`%field`, `%field[arg]`, `%(field)`, `%%`), rendering, and the [`Alert`].

use std::collections::BTreeMap;

use harrier_condition::Pos;
use harrier_rules::Priority;
use serde_json::{json, Value as Json};

use crate::compile::{bind_field, render_value, Usage};
use crate::fields::{flags, Source};
use crate::values::{BoundField, EventAccessor, Value, Values};

/// Text rendered for an absent field.
pub const NA: &str = "<NA>";

#[derive(Debug, Clone)]
enum Part {
    Lit(String),
    /// Field index and optional width (`%20proc.name`: padded with blanks or cut to 20).
    Field(usize, usize),
}

/// A compiled output template.
#[derive(Debug, Clone)]
pub struct OutputTemplate {
    parts: Vec<Part>,
    /// Fields in order of first appearance: name as written, bound field.
    fields: Vec<(String, BoundField)>,
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'.'
}

impl OutputTemplate {
    /// Parse and check a template for a source.
    pub fn compile(source: Source, text: &str) -> Result<OutputTemplate, String> {
        // A leading '*' (print even when values are missing) is accepted; absent values always
        // print as <NA> here.
        let text = text.strip_prefix('*').unwrap_or(text);
        let b = text.as_bytes();
        let mut parts: Vec<Part> = Vec::new();
        let mut fields: Vec<(String, BoundField)> = Vec::new();
        let mut lit = String::new();
        let mut i = 0;
        let mut lit_start = 0;
        while i < b.len() {
            if b[i] != b'%' {
                i += 1;
                continue;
            }
            lit.push_str(&text[lit_start..i]);
            if i + 1 >= b.len() {
                return Err(format!("invalid output format: it ends with a '%' (offset {i})"));
            }
            if b[i + 1] == b'%' {
                lit.push('%');
                i += 2;
                lit_start = i;
                continue;
            }
            // Optional width: `%20proc.name`.
            let mut width = 0usize;
            let mut k = i + 1;
            while k < b.len() && b[k].is_ascii_digit() {
                width = width.saturating_mul(10).saturating_add((b[k] - b'0') as usize).min(1 << 16);
                k += 1;
            }
            if k >= b.len() {
                return Err(format!("invalid output format: it ends with a width (offset {i})"));
            }
            i = k - 1;
            let (name, arg, next, written) = if b[i + 1] == b'(' {
                let Some(close) = text[i + 2..].find(')') else {
                    return Err(format!("invalid output format: missing ')' after '%(' (offset {i})"));
                };
                let inner = &text[i + 2..i + 2 + close];
                let (n, a) = split_arg(inner).ok_or_else(|| format!("invalid formatting token {inner}"))?;
                (n.to_string(), a.map(str::to_string), i + 3 + close, inner.to_string())
            } else {
                let mut j = i + 1;
                while j < b.len() && is_name_char(b[j]) {
                    j += 1;
                }
                while j > i + 1 && b[j - 1] == b'.' {
                    j -= 1;
                }
                if j == i + 1 {
                    return Err(format!(
                        "invalid output format: '%' must be followed by a field name (offset {i})"
                    ));
                }
                let mut name_end = j;
                let mut arg = None;
                if j < b.len() && b[j] == b'[' {
                    let Some(close) = text[j..].find(']') else {
                        return Err(format!(
                            "invalid output format: missing ']' in field argument (offset {j})"
                        ));
                    };
                    arg = Some(text[j + 1..j + close].to_string());
                    j += close + 1;
                } else {
                    // Longest known prefix (so "%proc.name.x" is proc.name followed by ".x").
                    let full = &text[i + 1..j];
                    if crate::fields::resolve(source, full).is_err() {
                        let mut cut = full.len();
                        while let Some(d) = full[..cut].rfind('.') {
                            cut = d;
                            if crate::fields::resolve(source, &full[..cut]).is_ok() {
                                name_end = i + 1 + cut;
                                j = name_end;
                                break;
                            }
                        }
                    }
                }
                let name = text[i + 1..name_end].to_string();
                (name, arg, j, text[i + 1..j].to_string())
            };
            let (bf, _) = bind_field(source, &name, arg.as_deref(), Pos::default(), Usage::Output)
                .map_err(|e| format!("invalid formatting token {written}: {}", e.message))?;
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit)));
            }
            let idx = match fields.iter().position(|(n, _)| *n == written) {
                Some(p) => p,
                None => {
                    fields.push((written, bf));
                    fields.len() - 1
                }
            };
            parts.push(Part::Field(idx, width));
            i = next;
            lit_start = i;
        }
        lit.push_str(&text[lit_start..]);
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(OutputTemplate { parts, fields })
    }

    /// Names of the fields (as written) in order of first appearance.
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(n, _)| n.as_str())
    }

    /// Render the message text.
    pub fn render<E: EventAccessor + ?Sized>(&self, ev: &E) -> String {
        let mut vals = Values::new();
        let mut out: Vec<u8> = Vec::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.extend_from_slice(s.as_bytes()),
                Part::Field(i, width) => {
                    let Some((_, bf)) = self.fields.get(*i) else { continue };
                    let start = out.len();
                    vals.clear();
                    if ev.extract(bf, &mut vals) {
                        render_values(bf, &vals, &mut out);
                    } else {
                        out.extend_from_slice(NA.as_bytes());
                    }
                    if *width > 0 {
                        out.resize(start + width, b' ');
                    }
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The `output_fields` map: field name → JSON value (null when absent).
    pub fn render_fields<E: EventAccessor + ?Sized>(&self, ev: &E, time_ns: u64) -> BTreeMap<String, Json> {
        let mut vals = Values::new();
        let mut map = BTreeMap::new();
        for (name, bf) in &self.fields {
            vals.clear();
            let v = if !ev.extract(bf, &mut vals) {
                Json::Null
            } else if bf.info().has(flags::TIME_TEXT) {
                json!(time_ns)
            } else if bf.info().is_list() {
                Json::Array(vals.iter().map(value_json).collect())
            } else if vals.len() == 1 {
                vals.get(0).map(value_json).unwrap_or(Json::Null)
            } else {
                let mut buf = Vec::new();
                render_values(bf, &vals, &mut buf);
                Json::String(String::from_utf8_lossy(&buf).into_owned())
            };
            map.insert(name.clone(), v);
        }
        map
    }
}

fn split_arg(s: &str) -> Option<(&str, Option<&str>)> {
    match s.find('[') {
        Some(o) => {
            let rest = &s[o + 1..];
            let close = rest.rfind(']')?;
            Some((&s[..o], Some(&rest[..close])))
        }
        None => Some((s, None)),
    }
}

fn render_values(bf: &BoundField, vals: &Values, out: &mut Vec<u8>) {
    if !bf.info().is_list() && vals.len() == 1 {
        if let Some(v) = vals.get(0) {
            render_value(v, out);
        }
        return;
    }
    out.push(b'(');
    for (i, v) in vals.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        render_value(v, out);
    }
    out.push(b')');
}

fn value_json(v: Value<'_>) -> Json {
    match v {
        Value::Int(i) => json!(i),
        Value::Uint(u) => json!(u),
        Value::Bool(b) => json!(b),
        Value::Double(d) => json!(d),
        other => {
            let mut buf = Vec::new();
            render_value(other, &mut buf);
            Json::String(String::from_utf8_lossy(&buf).into_owned())
        }
    }
}

/// An alert: a rule that matched an event.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Event time, ns since the epoch.
    pub time_ns: u64,
    pub rule: String,
    pub priority: Priority,
    pub source: String,
    pub tags: Vec<String>,
    /// The rendered output message.
    pub output: String,
    /// Output fields (sorted by name, as Falco's JSON prints them); `null` when absent.
    pub output_fields: BTreeMap<String, Json>,
    pub hostname: String,
}

impl Alert {
    /// Falco's JSON document (`time` in UTC with nanoseconds and `Z`).
    pub fn to_json_value(&self, include_output: bool, include_tags: bool) -> Json {
        let mut m = serde_json::Map::new();
        m.insert("hostname".into(), json!(self.hostname));
        if include_output {
            m.insert("output".into(), json!(self.output));
        }
        m.insert("output_fields".into(), Json::Object(self.output_fields.clone().into_iter().collect()));
        m.insert("priority".into(), json!(self.priority.as_str()));
        m.insert("rule".into(), json!(self.rule));
        m.insert("source".into(), json!(self.source));
        if include_tags {
            let mut tags = self.tags.clone();
            tags.sort();
            tags.dedup();
            m.insert("tags".into(), json!(tags));
        }
        m.insert("time".into(), json!(format_time_json(self.time_ns)));
        Json::Object(m)
    }

    /// The JSON document as one line, with output and tags.
    pub fn to_json(&self) -> String {
        self.to_json_value(true, true).to_string()
    }

    /// Falco's text line: `HH:MM:SS.nnnnnnnnn: Priority message` in local time, or with
    /// `iso8601` the date form `2016-08-04T16:17:57.881781397+0000`.
    pub fn text_line(&self, iso8601: bool) -> String {
        self.text_line_with_offset(iso8601, local_offset_secs(self.time_ns))
    }

    /// Text line with an explicit UTC offset in seconds (0 for UTC).
    pub fn text_line_with_offset(&self, iso8601: bool, offset_secs: i32) -> String {
        let t = if iso8601 {
            format_time_iso8601(self.time_ns, offset_secs)
        } else {
            format_time_hms(self.time_ns, offset_secs)
        };
        format!("{}: {} {}", t, self.priority.as_str(), self.output)
    }
}

fn local_offset_secs(time_ns: u64) -> i32 {
    use chrono::{Local, Offset, TimeZone};
    let secs = (time_ns / 1_000_000_000) as i64;
    match Local.timestamp_opt(secs, 0) {
        chrono::LocalResult::Single(t) => t.offset().fix().local_minus_utc(),
        chrono::LocalResult::Ambiguous(t, _) => t.offset().fix().local_minus_utc(),
        chrono::LocalResult::None => 0,
    }
}

fn civil(time_ns: u64, offset_secs: i32) -> (chrono::NaiveDateTime, u32) {
    let nanos = (time_ns % 1_000_000_000) as u32;
    let secs = (time_ns / 1_000_000_000) as i64 + offset_secs as i64;
    let dt = chrono::DateTime::from_timestamp(secs, 0).map(|d| d.naive_utc()).unwrap_or_default();
    (dt, nanos)
}

/// `2016-08-04T16:17:57.881781397Z` (UTC), as in Falco's JSON `time`.
pub fn format_time_json(time_ns: u64) -> String {
    let (dt, ns) = civil(time_ns, 0);
    format!("{}.{:09}Z", dt.format("%Y-%m-%dT%H:%M:%S"), ns)
}

/// `2016-08-04T16:17:57.881781397+0000` with the given UTC offset.
pub fn format_time_iso8601(time_ns: u64, offset_secs: i32) -> String {
    let (dt, ns) = civil(time_ns, offset_secs);
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let o = offset_secs.unsigned_abs();
    format!("{}.{:09}{}{:02}{:02}", dt.format("%Y-%m-%dT%H:%M:%S"), ns, sign, o / 3600, (o % 3600) / 60)
}

/// `16:17:57.881781397` with the given UTC offset.
pub fn format_time_hms(time_ns: u64, offset_secs: i32) -> String {
    let (dt, ns) = civil(time_ns, offset_secs);
    format!("{}.{:09}", dt.format("%H:%M:%S"), ns)
}
