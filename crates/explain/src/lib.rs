//! `harrier rules explain`: why an alert fired.
//!
//! Given an alert (Falco's JSON) and the rules it came from, the rule's condition is shown as a
//! tree — macros opened in place (with their names), lists as their items, the rule's exceptions as
//! the `and not (…)` the loader appends —
//! and every check is marked with what the alert's output fields say about it: true (✓), false
//! (✗) or unknown (?) when the alert does not carry a field the check reads. `and`/`or`/`not` combine
//! the marks with three-valued logic. The rule's own exceptions are listed, and the narrowest
//! exception that would silence this alert (from `harrier_tune`) is proposed.
//!
//! An alert only carries its output fields, so a check on a field outside the output is unknown;
//! the explanation never guesses.

use harrier_condition::{Expr, Rhs};
use harrier_engine::{compile_condition, BoundField, EventAccessor, FieldType, Scratch, Source, Values};
use harrier_rules::{ListDef, MacroDef, Ruleset};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What an alert says about a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    Unknown,
}

impl Truth {
    fn mark(self) -> &'static str {
        match self {
            Truth::True => "✓",
            Truth::False => "✗",
            Truth::Unknown => "?",
        }
    }
    fn not(self) -> Truth {
        match self {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Truth::True => "true",
            Truth::False => "false",
            Truth::Unknown => "unknown",
        }
    }
}

/// One node of the explained condition.
#[derive(Debug, Clone)]
pub struct Node {
    /// `and`, `or`, `not`, `macro NAME`, or the check's text.
    pub label: String,
    pub truth: Truth,
    /// For checks: the alert's values of the fields it reads (`field=value`), or what is missing.
    pub note: String,
    pub children: Vec<Node>,
}

/// The explanation of one alert.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub rule: String,
    pub condition: Node,
    /// Lists the condition names that were not already substituted by the loader, with their
    /// items (the loader substitutes the rule's own lists into its condition text).
    pub lists: BTreeMap<String, Vec<String>>,
    /// Macros the condition uses.
    pub macros: Vec<String>,
    /// Fields the rule's exceptions test (the exceptions themselves are part of the condition
    /// shown, as `and not (…)`).
    pub exceptions: Vec<String>,
    /// A rules overlay that would silence this alert (from its own fields).
    pub silence: String,
}

/// An alert's output fields as an event: each field's value comes from the alert, typed as the
/// field registry says; absent or null fields are absent.
struct AlertFields<'a> {
    fields: &'a serde_json::Map<String, Json>,
}

impl EventAccessor for AlertFields<'_> {
    fn event_type(&self) -> Option<u16> {
        None
    }

    fn extract(&self, field: &BoundField, out: &mut Values) -> bool {
        let Some(v) = self.fields.get(&field.display_name()).filter(|v| !v.is_null()) else { return false };
        let text = match v {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        };
        match field.info().ty {
            FieldType::String | FieldType::Path => out.push_str(&text),
            FieldType::ByteBuf => out.push_bytes(text.as_bytes()),
            FieldType::Int8 | FieldType::Int16 | FieldType::Int32 | FieldType::Int64 => match text.parse() {
                Ok(n) => out.push_int(n),
                Err(_) => return false,
            },
            FieldType::Uint8
            | FieldType::Uint16
            | FieldType::Uint32
            | FieldType::Uint64
            | FieldType::Port
            | FieldType::AbsTime
            | FieldType::RelTime => match text.parse() {
                Ok(n) => out.push_uint(n),
                Err(_) => return false,
            },
            FieldType::Bool => out.push_bool(text == "true"),
            FieldType::Ip | FieldType::IpNet => match text.parse() {
                Ok(ip) => out.push_ip(ip),
                Err(_) => return false,
            },
            FieldType::Double => match text.parse() {
                Ok(d) => out.push_double(d),
                Err(_) => return false,
            },
        }
        true
    }
}

struct Ctx<'a> {
    source: Source,
    macros: &'a [MacroDef],
    lists: &'a [ListDef],
    alert: AlertFields<'a>,
    used_lists: BTreeMap<String, Vec<String>>,
    used_macros: Vec<String>,
}

const MAX_DEPTH: usize = 64;

impl Ctx<'_> {
    /// The items of list `name`, with nested list names expanded.
    fn list_items(&self, name: &str, depth: usize) -> Option<Vec<String>> {
        let l = self.lists.iter().rev().find(|l| l.name == name)?;
        let mut out = Vec::new();
        for it in &l.items {
            match (depth < MAX_DEPTH).then(|| self.list_items(it, depth + 1)).flatten() {
                Some(sub) => out.extend(sub),
                None => out.push(it.clone()),
            }
        }
        Some(out)
    }

    /// A check with its list names replaced by their items (noting which lists were used).
    fn substitute_lists(&mut self, e: &Expr) -> Expr {
        let Expr::Compare(c) = e else { return e.clone() };
        let mut c = c.clone();
        let expand = |ctx: &mut Self, items: &[String]| -> Vec<String> {
            let mut out = Vec::new();
            for it in items {
                match ctx.list_items(it, 0) {
                    Some(sub) => {
                        ctx.used_lists.insert(it.clone(), sub.clone());
                        out.extend(sub)
                    }
                    None => out.push(it.clone()),
                }
            }
            out
        };
        c.right = match &c.right {
            Rhs::List(items, pos) => Rhs::List(expand(self, items), *pos),
            Rhs::ListRef(name, pos) => Rhs::List(expand(self, std::slice::from_ref(name)), *pos),
            other => other.clone(),
        };
        Expr::Compare(c)
    }

    /// What the alert says about a check.
    fn check(&mut self, e: &Expr) -> (Truth, String) {
        let e = self.substitute_lists(e);
        let mut fields = Vec::new();
        harrier_condition::walk_fields(&e, &mut |f| {
            let name = match &f.arg {
                None => f.name.clone(),
                Some(a) => format!("{}[{a}]", f.name),
            };
            if !fields.contains(&name) {
                fields.push(name);
            }
        });
        let missing: Vec<&String> =
            fields.iter().filter(|f| self.alert.fields.get(*f).is_none_or(Json::is_null)).collect();
        let is_exists = matches!(e, Expr::Exists(..));
        if !missing.is_empty() && !is_exists {
            let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            return (Truth::Unknown, format!("not in the alert: {}", names.join(", ")));
        }
        let seen: Vec<String> = fields
            .iter()
            .filter_map(|f| self.alert.fields.get(f).map(|v| format!("{f}={}", show(v))))
            .collect();
        match compile_condition(self.source, &e) {
            Ok((filter, _)) => {
                let mut scratch = Scratch::new();
                scratch.ensure(filter.depth());
                let t = if filter.eval(&self.alert, &mut scratch) { Truth::True } else { Truth::False };
                (t, seen.join(" "))
            }
            Err(err) => (Truth::Unknown, format!("cannot evaluate: {err}")),
        }
    }

    fn node(&mut self, e: &Expr, depth: usize) -> Node {
        let leaf =
            |label: String, (truth, note): (Truth, String)| Node { label, truth, note, children: Vec::new() };
        if depth > MAX_DEPTH {
            return leaf("…".into(), (Truth::Unknown, "nested too deeply".into()));
        }
        match e {
            Expr::And(xs, _) | Expr::Or(xs, _) => {
                let and = matches!(e, Expr::And(..));
                let children: Vec<Node> = xs.iter().map(|x| self.node(x, depth + 1)).collect();
                let truth = combine(and, children.iter().map(|c| c.truth));
                Node { label: if and { "and" } else { "or" }.into(), truth, note: String::new(), children }
            }
            Expr::Not(x, _) => {
                let child = self.node(x, depth + 1);
                Node {
                    label: "not".into(),
                    truth: child.truth.not(),
                    note: String::new(),
                    children: vec![child],
                }
            }
            Expr::Identifier(name, _) => {
                let Some(m) = self.macros.iter().rev().find(|m| &m.name == name) else {
                    return leaf(name.clone(), (Truth::Unknown, "not a macro of these rules".into()));
                };
                if !self.used_macros.contains(name) {
                    self.used_macros.push(name.clone());
                }
                match harrier_condition::parse(&m.condition_text) {
                    Ok(body) => {
                        let child = self.node(&body, depth + 1);
                        Node {
                            label: format!("macro {name}"),
                            truth: child.truth,
                            note: String::new(),
                            children: vec![child],
                        }
                    }
                    Err(err) => leaf(format!("macro {name}"), (Truth::Unknown, err.message)),
                }
            }
            Expr::Exists(..) | Expr::Compare(_) => {
                let label = harrier_condition::canonical(e);
                let r = self.check(e);
                leaf(label, r)
            }
        }
    }
}

fn show(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Three-valued `and` / `or`.
fn combine(and: bool, xs: impl Iterator<Item = Truth>) -> Truth {
    let (decisive, neutral) = if and { (Truth::False, Truth::True) } else { (Truth::True, Truth::False) };
    let mut unknown = false;
    for t in xs {
        if t == decisive {
            return decisive;
        }
        if t == Truth::Unknown {
            unknown = true;
        }
    }
    if unknown {
        Truth::Unknown
    } else {
        neutral
    }
}

/// Explain `alert` with `rules` (loaded rule files).
pub fn explain(rules: &Ruleset, alert: &Json) -> Result<Explanation, String> {
    let name = alert
        .get("rule")
        .and_then(Json::as_str)
        .ok_or("the alert has no \"rule\" (expected Falco's JSON alert)")?;
    let rule = rules.rules.iter().rev().find(|r| r.name == name).ok_or_else(|| {
        format!("rule '{name}' is not in the loaded rules (pass the rule files it came from with -r)")
    })?;
    let source =
        Source::from_name(&rule.source).ok_or_else(|| format!("unknown source '{}'", rule.source))?;
    let empty = serde_json::Map::new();
    let fields = match alert.get("output_fields") {
        Some(Json::Object(m)) => m,
        _ => &empty,
    };
    let cond = harrier_condition::parse(&rule.condition_text)
        .map_err(|e| format!("rule '{name}': condition does not parse: {}", e.message))?;
    let mut ctx = Ctx {
        source,
        macros: &rules.macros,
        lists: &rules.lists,
        alert: AlertFields { fields },
        used_lists: BTreeMap::new(),
        used_macros: Vec::new(),
    };
    let condition = ctx.node(&cond, 0);
    let report = harrier_tune::tune(
        std::slice::from_ref(alert),
        &harrier_tune::Options { min_count: 1, max_listed: 8 },
    );
    let silence = if report.proposals.is_empty() {
        let why: Vec<String> = report.kept.iter().map(|k| k.reason.clone()).collect();
        format!("# No exception proposed: {}\n", why.join("; "))
    } else {
        harrier_tune::overlay(&report, "one alert")
    };
    Ok(Explanation {
        rule: name.to_string(),
        condition,
        lists: ctx.used_lists,
        macros: ctx.used_macros,
        exceptions: rule.exception_fields.clone(),
        silence,
    })
}

fn render_node(out: &mut String, n: &Node, indent: usize) {
    let pad = "  ".repeat(indent);
    let note = if n.note.is_empty() { String::new() } else { format!("    [{}]", n.note) };
    let _ = writeln!(out, "{pad}{} {}{note}", n.truth.mark(), n.label);
    for c in &n.children {
        render_node(out, c, indent + 1);
    }
}

/// The explanation for people.
pub fn render(e: &Explanation) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Rule: {}", e.rule);
    let _ = writeln!(out, "Condition (✓ true, ✗ false, ? not decidable from the alert's fields):");
    render_node(&mut out, &e.condition, 1);
    if !e.macros.is_empty() {
        let _ = writeln!(out, "Macros: {}", e.macros.join(", "));
    }
    for (l, items) in &e.lists {
        let _ = writeln!(out, "List {l}: [{}]", items.join(", "));
    }
    if !e.exceptions.is_empty() {
        let _ = writeln!(
            out,
            "The rule's exceptions test: {} (shown in the condition as `not …`)",
            e.exceptions.join(", ")
        );
    }
    let _ = writeln!(out, "To silence alerts like this one, load after the rules:\n{}", e.silence);
    out
}

fn node_json(n: &Node) -> Json {
    serde_json::json!({
        "label": n.label,
        "truth": n.truth.as_str(),
        "note": n.note,
        "children": n.children.iter().map(node_json).collect::<Vec<_>>(),
    })
}

/// The explanation for scripts.
pub fn to_json(e: &Explanation) -> Json {
    serde_json::json!({
        "rule": e.rule,
        "condition": node_json(&e.condition),
        "macros": e.macros,
        "lists": e.lists,
        "exceptions": e.exceptions,
        "silence": e.silence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RULES: &str = r#"
- list: shells
  items: [bash, sh]
- list: more_shells
  items: [shells, zsh]
- macro: spawned
  condition: evt.type in (execve, execveat)
- rule: Shell by web server
  desc: d
  condition: spawned and proc.name in (more_shells) and (proc.pname = nginx or proc.pname = httpd) and not user.name = backup
  output: "shell %proc.name parent %proc.pname user %user.name"
  priority: WARNING
  exceptions:
    - name: known_cron
      fields: [proc.pname]
      values: [[cron]]
"#;

    fn rules() -> Ruleset {
        let mut l = harrier_rules::Loader::new(Default::default());
        l.load_str("r.yaml", RULES);
        let rs = l.finish(Some(&harrier_engine::Checker));
        assert!(!rs.has_errors(), "{:?}", rs.results);
        rs
    }

    fn find<'a>(n: &'a Node, label: &str) -> Option<&'a Node> {
        if n.label == label {
            return Some(n);
        }
        n.children.iter().find_map(|c| find(c, label))
    }

    #[test]
    fn checks_are_marked_from_the_alert_and_unknown_fields_stay_unknown() {
        let alert = json!({
            "rule": "Shell by web server",
            "output_fields": {"proc.name": "zsh", "proc.pname": "nginx", "user.name": "www-data"}
        });
        let e = explain(&rules(), &alert).unwrap();
        let c = &e.condition;
        assert_eq!(c.label, "and");
        // evt.type is not in the alert: the macro is unknown, so the whole `and` is unknown.
        assert_eq!(find(c, "macro spawned").unwrap().truth, Truth::Unknown);
        assert_eq!(c.truth, Truth::Unknown);
        let shells = find(c, "proc.name in (bash, sh, zsh)").unwrap();
        assert_eq!(shells.truth, Truth::True, "zsh is in more_shells through the nested list");
        assert_eq!(find(c, "proc.pname = nginx").unwrap().truth, Truth::True);
        assert_eq!(find(c, "proc.pname = httpd").unwrap().truth, Truth::False);
        assert_eq!(find(c, "or").unwrap().truth, Truth::True);
        assert_eq!(find(c, "not").unwrap().truth, Truth::True);
        assert_eq!(e.macros, ["spawned"]);
        assert_eq!(e.exceptions, ["proc.pname"]);
        // The rule's exception is part of the condition, and holds here.
        assert_eq!(find(c, "proc.pname = cron").unwrap().truth, Truth::False);
        assert!(
            e.silence.contains("No exception proposed") && e.silence.contains("runs anything"),
            "{}",
            e.silence
        );
        let text = render(&e);
        assert!(text.contains("✓ proc.pname = nginx    [proc.pname=nginx]"), "{text}");
        assert!(text.contains("? macro spawned"), "{text}");
        let mut with_cmd = alert.clone();
        with_cmd["output_fields"]["proc.cmdline"] = json!("zsh -c deploy.sh");
        let e = explain(&rules(), &with_cmd).unwrap();
        assert!(
            e.silence.contains("exceptions: append") && e.silence.contains("\"zsh -c deploy.sh\""),
            "{}",
            e.silence
        );
        assert_eq!(to_json(&e)["condition"]["truth"], "unknown");
    }

    #[test]
    fn a_false_check_makes_the_and_false_and_bad_alerts_are_errors() {
        let alert = json!({
            "rule": "Shell by web server",
            "output_fields": {"proc.name": "python3", "proc.pname": "nginx", "user.name": "x", "evt.type": "execve"}
        });
        let e = explain(&rules(), &alert).unwrap();
        assert_eq!(e.condition.truth, Truth::False);
        assert!(explain(&rules(), &json!({"rule": "Nope"})).unwrap_err().contains("not in the loaded rules"));
        assert!(explain(&rules(), &json!({"x": 1})).is_err());
    }
}
