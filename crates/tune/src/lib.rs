//! `harrier tune`: from alerts that were seen (Falco's JSON alerts), propose rule exceptions that
//! silence the recurring benign ones, in the Falco rules language (`exceptions` with
//! `override: {exceptions: append}`), so the proposal is a rules overlay loaded after the rules it
//! tunes.
//!
//! Proposals are never wider than the evidence:
//! * alerts are grouped by rule and by who raised them — the program (`proc.exepath`, else
//!   `proc.name`), its parent (`proc.pname`), where (`container.image.repository`, else
//!   `container.id` for the host, and `k8s.ns.name`) — and an exception names every one of those
//!   fields the alerts carry, with the values seen;
//! * the object (`fd.name`, `fs.path.name`) is kept too: the exact values when few, else the
//!   deepest common directory (at least two levels deep) with `startswith`, else no proposal;
//! * a shell or language runtime is never excepted by name alone: its command line
//!   (`proc.cmdline`) must be part of the evidence and of the exception;
//! * a group must recur (`min_count` alerts) to be proposed.
//!
//! Each proposal says how many alerts it silences; every alert not silenced is kept and reported
//! by group with the reason it was kept.

pub mod fuzzing;

use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Programs that run anything: never excepted without their command line.
pub const GENERIC_PROGRAMS: &[&str] = &[
    "ash", "bash", "csh", "dash", "fish", "ksh", "mksh", "sh", "tcsh", "zsh", "busybox", "python", "python2",
    "python3", "perl", "ruby", "node", "nodejs", "java", "php", "env", "sudo", "su", "xargs", "timeout",
    "nohup", "nice", "stdbuf", "strace",
];

/// Tuning options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Fewest alerts of a group for a proposal.
    pub min_count: usize,
    /// Most distinct object values listed exactly (`in`) before a common directory is used.
    pub max_listed: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { min_count: 5, max_listed: 8 }
    }
}

/// One exception row: fields, comparison operators and values.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Exception {
    pub fields: Vec<String>,
    pub comps: Vec<String>,
    /// One value per field; for `in`, the list.
    pub values: Vec<Vec<String>>,
}

impl Exception {
    /// Whether an alert's output fields satisfy this exception (Falco's semantics over the
    /// values the alert carries).
    pub fn matches(&self, fields: &BTreeMap<String, String>) -> bool {
        self.fields.iter().zip(&self.comps).zip(&self.values).all(|((f, c), v)| {
            let Some(x) = fields.get(f) else { return false };
            match c.as_str() {
                "=" => v.first() == Some(x),
                "in" => v.contains(x),
                "startswith" => v.first().is_some_and(|p| x.starts_with(p.as_str())),
                _ => false,
            }
        })
    }
}

/// A proposal for one rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub rule: String,
    pub exception: Exception,
    /// Alerts it silences.
    pub silences: usize,
}

/// A group of alerts not proposed for silencing, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    pub rule: String,
    pub who: Vec<(String, String)>,
    pub alerts: usize,
    pub reason: String,
}

/// The outcome of tuning.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub alerts: usize,
    /// Alerts per rule.
    pub by_rule: BTreeMap<String, usize>,
    pub proposals: Vec<Proposal>,
    pub kept: Vec<Kept>,
}

/// Who raised alerts: (field, value) pairs.
type Who = Vec<(String, String)>;
/// Exceptions sharing fields and operators, by rule.
type ByRule<'a> = BTreeMap<&'a str, BTreeMap<(Vec<String>, Vec<String>), Vec<&'a Proposal>>>;

/// An alert as tuning sees it.
#[derive(Debug, Clone)]
struct Seen {
    rule: String,
    fields: BTreeMap<String, String>,
}

/// Read Falco JSON alerts: JSON Lines (lines that are not JSON objects with a `rule` are skipped
/// and counted), or one JSON array.
pub fn read_alerts(text: &str) -> (Vec<Json>, usize) {
    let t = text.trim_start();
    if t.starts_with('[') {
        if let Ok(Json::Array(items)) = serde_json::from_str::<Json>(t) {
            let n = items.len();
            let ok: Vec<Json> =
                items.into_iter().filter(|a| a.get("rule").is_some_and(Json::is_string)).collect();
            let skipped = n - ok.len();
            return (ok, skipped);
        }
    }
    let mut out = Vec::new();
    let mut skipped = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Json>(line) {
            Ok(a) if a.get("rule").is_some_and(Json::is_string) => out.push(a),
            _ => skipped += 1,
        }
    }
    (out, skipped)
}

fn text(v: &Json) -> Option<String> {
    match v {
        Json::Null => None,
        Json::String(s) if s.is_empty() || s == "<NA>" => None,
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn seen(a: &Json) -> Option<Seen> {
    let rule = a.get("rule")?.as_str()?.to_string();
    let mut fields = BTreeMap::new();
    if let Some(Json::Object(m)) = a.get("output_fields") {
        for (k, v) in m {
            if let Some(t) = text(v) {
                fields.insert(k.clone(), t);
            }
        }
    }
    Some(Seen { rule, fields })
}

/// The identity fields of an alert, in order: (field, value).
fn who(s: &Seen) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let take = |out: &mut Vec<(String, String)>, names: &[&str]| {
        if let Some((n, v)) = names.iter().find_map(|n| s.fields.get(*n).map(|v| (n, v))) {
            out.push((n.to_string(), v.clone()));
        }
    };
    take(&mut out, &["proc.exepath", "proc.name"]);
    take(&mut out, &["proc.pname"]);
    // Where: the image, else (on the host) the host.
    if s.fields.contains_key("container.image.repository") {
        take(&mut out, &["container.image.repository"]);
    } else if s.fields.get("container.id").map(String::as_str) == Some("host") {
        take(&mut out, &["container.id"]);
    }
    take(&mut out, &["k8s.ns.name"]);
    // A generic program is only known by what it runs.
    let program = out.first().map(|(_, v)| v.rsplit('/').next().unwrap_or(v).to_string()).unwrap_or_default();
    if GENERIC_PROGRAMS.contains(&program.as_str()) {
        take(&mut out, &["proc.cmdline"]);
    }
    out
}

/// The object field an alert names (a file path), if any. Socket tuples are not objects.
fn object(s: &Seen) -> Option<(String, String)> {
    ["fd.name", "fs.path.name"]
        .iter()
        .find_map(|f| s.fields.get(*f).filter(|v| v.starts_with('/')).map(|v| (f.to_string(), v.clone())))
}

/// The deepest directory (ending in `/`) all paths are below, if it is at least two levels deep.
fn common_dir(paths: &[&String]) -> Option<String> {
    let first = paths.first()?;
    let mut prefix: &str = first;
    for p in &paths[1..] {
        let mut n = prefix.bytes().zip(p.bytes()).take_while(|(a, b)| a == b).count();
        // Two characters may share their first bytes (é, è): cut before the character.
        while !prefix.is_char_boundary(n) {
            n -= 1;
        }
        prefix = &prefix[..n];
    }
    let dir = &prefix[..prefix.rfind('/')? + 1];
    (dir.matches('/').count() >= 3).then(|| dir.to_string())
}

/// Tune: group, propose, account.
pub fn tune(alerts: &[Json], opts: &Options) -> Report {
    let seen: Vec<Seen> = alerts.iter().filter_map(seen).collect();
    let mut report = Report { alerts: seen.len(), ..Default::default() };
    // rule → who → alerts
    let mut groups: BTreeMap<(String, Who), Vec<&Seen>> = BTreeMap::new();
    for s in &seen {
        *report.by_rule.entry(s.rule.clone()).or_default() += 1;
        groups.entry((s.rule.clone(), who(s))).or_default().push(s);
    }
    for ((rule, who), members) in groups {
        let keep =
            |reason: String| Kept { rule: rule.clone(), who: who.clone(), alerts: members.len(), reason };
        if members.len() < opts.min_count {
            report.kept.push(keep(format!("seen {} time(s), fewer than {}", members.len(), opts.min_count)));
            continue;
        }
        let Some((program_field, program)) = who.first() else {
            report.kept.push(keep("the alerts do not say which program raised them".into()));
            continue;
        };
        let base = program.rsplit('/').next().unwrap_or(program);
        if GENERIC_PROGRAMS.contains(&base) && !who.iter().any(|(f, _)| f == "proc.cmdline") {
            report.kept.push(keep(format!(
                "{program_field}={program} runs anything; its command line is not in the alerts"
            )));
            continue;
        }
        let mut fields: Vec<String> = who.iter().map(|(f, _)| f.clone()).collect();
        let mut comps: Vec<String> = vec!["=".into(); fields.len()];
        let mut values: Vec<Vec<String>> = who.iter().map(|(_, v)| vec![v.clone()]).collect();
        // The object, when the rule's alerts name one.
        let objects: Vec<Option<(String, String)>> = members.iter().map(|s| object(s)).collect();
        if objects.iter().any(Option::is_some) {
            let Some(field) = objects.iter().flatten().map(|(f, _)| f.clone()).next() else { continue };
            let paths: Vec<&String> =
                objects.iter().flatten().filter(|(f, _)| *f == field).map(|(_, v)| v).collect();
            if paths.len() != members.len() {
                report.kept.push(keep("some alerts of the group name no file".into()));
                continue;
            }
            let mut distinct: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
            distinct.sort();
            distinct.dedup();
            fields.push(field);
            if distinct.len() == 1 {
                comps.push("=".into());
                values.push(distinct);
            } else if distinct.len() <= opts.max_listed {
                comps.push("in".into());
                values.push(distinct);
            } else if let Some(dir) = common_dir(&paths) {
                comps.push("startswith".into());
                values.push(vec![dir]);
            } else {
                report.kept.push(keep(format!(
                    "{} different files with no common directory two levels deep",
                    distinct.len()
                )));
                continue;
            }
        }
        let exception = Exception { fields, comps, values };
        let silences = seen.iter().filter(|s| s.rule == rule && exception.matches(&s.fields)).count();
        report.proposals.push(Proposal { rule, exception, silences });
    }
    report
}

fn yaml_str(s: &str) -> String {
    // Quote always: values are paths, command lines and names that may hold YAML syntax. JSON's
    // escaping is YAML's, except that YAML also refuses DEL, the C1 controls, BOMs and
    // U+FFFE/U+FFFF raw in a document, and folds NEL, U+2028 and U+2029 (line breaks to YAML) into
    // a space: those are escaped as well, or the file would not load or not match.
    let json = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn yaml_list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|s| yaml_str(s)).collect::<Vec<_>>().join(", "))
}

/// The proposals as a rules overlay (Falco rules language), one `rule` item per tuned rule with
/// its exceptions appended; exceptions with the same fields and operators share one item.
pub fn overlay(report: &Report, source: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by `harrier tune` from {} alerts ({source}).\n# Load it after the rules it tunes, e.g. `harrier run -r rules/ -r this-file.yaml`.\n# Review every value before you use it: each exception silences what its comment says.",
        report.alerts
    );
    let mut by_rule: ByRule<'_> = BTreeMap::new();
    for p in &report.proposals {
        by_rule
            .entry(&p.rule)
            .or_default()
            .entry((p.exception.fields.clone(), p.exception.comps.clone()))
            .or_default()
            .push(p);
    }
    for (rule, excs) in by_rule {
        let _ = writeln!(out, "\n- rule: {}\n  exceptions:", yaml_str(rule));
        for (i, ((fields, comps), props)) in excs.iter().enumerate() {
            let name = format!(
                "harrier_tune_{}_{}",
                i + 1,
                fields.iter().map(|f| f.replace(['.', '[', ']'], "_")).collect::<Vec<_>>().join("_")
            );
            let _ = writeln!(out, "    - name: {name}");
            let _ = writeln!(out, "      fields: {}", yaml_list(fields));
            let _ = writeln!(out, "      comps: {}", yaml_list(comps));
            let _ = writeln!(out, "      values:");
            for p in props {
                let row: Vec<String> = p
                    .exception
                    .values
                    .iter()
                    .zip(comps)
                    .map(|(v, c)| if c == "in" { yaml_list(v) } else { yaml_str(&v[0]) })
                    .collect();
                let _ = writeln!(out, "        # silences {} alert(s)", p.silences);
                let _ = writeln!(out, "        - [{}]", row.join(", "));
            }
        }
        let _ = writeln!(out, "  override:\n    exceptions: append");
    }
    out
}

/// A human summary: per rule, what each proposal silences and what is kept and why.
pub fn summary(report: &Report) -> String {
    let mut out = String::new();
    let silenced: usize = report.proposals.iter().map(|p| p.silences).sum();
    let _ = writeln!(
        out,
        "{} alerts of {} rules; {} proposal(s) would silence {} of them, {} kept.",
        report.alerts,
        report.by_rule.len(),
        report.proposals.len(),
        silenced,
        report.alerts.saturating_sub(silenced)
    );
    for (rule, n) in &report.by_rule {
        let _ = writeln!(out, "\n{rule} ({n} alerts)");
        for p in report.proposals.iter().filter(|p| &p.rule == rule) {
            let what: Vec<String> = p
                .exception
                .fields
                .iter()
                .zip(&p.exception.comps)
                .zip(&p.exception.values)
                .map(|((f, c), v)| match c.as_str() {
                    "in" => format!("{f} in ({})", v.join(", ")),
                    _ => format!("{f} {c} {}", v[0]),
                })
                .collect();
            let _ = writeln!(out, "  ✓ silence {:>6}  {}", p.silences, what.join(" and "));
        }
        for k in report.kept.iter().filter(|k| &k.rule == rule) {
            let who: Vec<String> = k.who.iter().map(|(f, v)| format!("{f}={v}")).collect();
            let _ = writeln!(out, "  · keep    {:>6}  {} — {}", k.alerts, who.join(" "), k.reason);
        }
    }
    out
}

/// The report as JSON (for scripts).
pub fn to_json(report: &Report) -> Json {
    serde_json::json!({
        "alerts": report.alerts,
        "by_rule": report.by_rule,
        "proposals": report.proposals.iter().map(|p| serde_json::json!({
            "rule": p.rule,
            "fields": p.exception.fields,
            "comps": p.exception.comps,
            "values": p.exception.values,
            "silences": p.silences,
        })).collect::<Vec<_>>(),
        "kept": report.kept.iter().map(|k| serde_json::json!({
            "rule": k.rule,
            "who": k.who.iter().map(|(f, v)| serde_json::json!({"field": f, "value": v})).collect::<Vec<_>>(),
            "alerts": k.alerts,
            "reason": k.reason,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alert(rule: &str, f: &[(&str, &str)]) -> Json {
        let m: serde_json::Map<String, Json> = f.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        json!({"rule": rule, "priority": "Warning", "output_fields": m})
    }

    fn storm(n: usize, exe: &str, parent: &str, path: impl Fn(usize) -> String) -> Vec<Json> {
        (0..n)
            .map(|i| {
                let p = path(i);
                alert(
                    "Read sensitive",
                    &[
                        ("proc.exepath", exe),
                        ("proc.pname", parent),
                        ("container.id", "host"),
                        ("fd.name", &p),
                    ],
                )
            })
            .collect()
    }

    #[test]
    fn a_recurring_program_is_excepted_with_all_its_evidence() {
        let mut a = storm(20, "/usr/sbin/backupd", "systemd", |_| "/etc/shadow".into());
        a.extend(storm(2, "/tmp/x", "bash", |_| "/etc/shadow".into()));
        let r = tune(&a, &Options::default());
        assert_eq!(r.proposals.len(), 1);
        let p = &r.proposals[0];
        assert_eq!(p.silences, 20);
        assert_eq!(p.exception.fields, ["proc.exepath", "proc.pname", "container.id", "fd.name"]);
        assert_eq!(p.exception.comps, ["=", "=", "=", "="]);
        assert_eq!(r.kept.len(), 1);
        assert!(r.kept[0].reason.contains("fewer than 5"), "{:?}", r.kept);
        let s = summary(&r);
        assert!(s.contains("silence     20") && s.contains("keep         2"), "{s}");
    }

    #[test]
    fn objects_are_listed_then_generalised_to_a_deep_directory_only() {
        let few = storm(6, "/opt/agent", "systemd", |i| format!("/var/lib/agent/state/{}", i % 3));
        let r = tune(&few, &Options::default());
        assert_eq!(r.proposals[0].exception.comps.last().unwrap(), "in");
        assert_eq!(r.proposals[0].exception.values.last().unwrap().len(), 3);

        let many = storm(30, "/opt/agent", "systemd", |i| format!("/var/lib/agent/state/{i}"));
        let r = tune(&many, &Options::default());
        assert_eq!(r.proposals[0].exception.comps.last().unwrap(), "startswith");
        assert_eq!(r.proposals[0].exception.values.last().unwrap(), &["/var/lib/agent/state/"]);

        // Spread over / : no directory deep enough, no proposal.
        let wide = storm(30, "/opt/agent", "systemd", |i| format!("/{i}/x"));
        let r = tune(&wide, &Options::default());
        assert!(r.proposals.is_empty());
        assert!(r.kept[0].reason.contains("no common directory"), "{:?}", r.kept);
    }

    #[test]
    fn shells_need_their_command_line() {
        let no_cmd = storm(10, "/usr/bin/bash", "cron", |_| "/etc/shadow".into());
        let r = tune(&no_cmd, &Options::default());
        assert!(r.proposals.is_empty(), "{:?}", r.proposals);
        assert!(r.kept[0].reason.contains("runs anything"));

        let with_cmd: Vec<Json> = (0..10)
            .map(|_| {
                alert(
                    "Read sensitive",
                    &[
                        ("proc.name", "bash"),
                        ("proc.pname", "cron"),
                        ("proc.cmdline", "bash /usr/local/bin/rotate.sh"),
                        ("fd.name", "/etc/shadow"),
                    ],
                )
            })
            .collect();
        let r = tune(&with_cmd, &Options::default());
        assert_eq!(r.proposals.len(), 1);
        assert!(r.proposals[0].exception.fields.contains(&"proc.cmdline".to_string()));
    }

    #[test]
    fn the_overlay_is_valid_yaml_with_appended_exceptions() {
        let mut a = storm(5, "/usr/sbin/backupd", "systemd", |_| "/etc/shadow".into());
        a.extend(storm(5, "/usr/sbin/other: x", "systemd", |_| "/etc/gshadow".into()));
        let r = tune(&a, &Options::default());
        let y = overlay(&r, "test");
        assert!(y.contains("- rule: \"Read sensitive\""), "{y}");
        assert!(y.contains("exceptions: append"));
        assert!(y.contains("\"/usr/sbin/other: x\""), "values are quoted: {y}");
        assert_eq!(y.matches("    - name:").count(), 1, "same fields and comps share one exception: {y}");
        assert_eq!(y.matches("        - [").count(), 2);
    }

    #[test]
    fn reading_alerts_skips_what_is_not_an_alert() {
        let (a, skipped) = read_alerts("{\"rule\": \"R\"}\nnot json\n{\"x\": 1}\n\n{\"rule\": \"S\"}\n");
        assert_eq!((a.len(), skipped), (2, 2));
        let (a, skipped) = read_alerts("[{\"rule\": \"R\"}, 3]");
        assert_eq!((a.len(), skipped), (1, 1));
    }
}
