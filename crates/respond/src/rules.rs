//! Response rules in Falco Talon's format.
//!
//! A file is a YAML list of two kinds of items:
//! - `- action: NAME` defines a reusable action (`actionner`, `parameters`, `description`,
//!   `continue`, `ignore_errors`, `output`, `additional_contexts`);
//! - `- rule: NAME` matches alerts (`match:` `rules`, `priority`, `tags`, `source`,
//!   `output_fields`) and runs its `actions` in order (each names a defined action or carries its
//!   own `actionner`), with `continue`, `dry_run`, `notifiers`, `description`.
//!
//! Items with the same name merge, later files and items winning (Talon's override behaviour):
//! scalars are replaced, lists appended, maps merged. A rule's action takes what it leaves unset
//! from the action of the same name.

use std::fmt;
use std::path::Path;

use harrier_engine::Alert;
use harrier_rules::Priority;
use serde_json::{Map, Value as Json};

use crate::actionners::{self, Support};
use crate::yaml::{self, Kind, Node};

/// Where a rule or action was written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    pub file: String,
    pub line: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A load error: file, line, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub location: Location,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl std::error::Error for LoadError {}

/// Load errors of one or more files (all of them, not just the first).
#[derive(Debug, Clone)]
pub struct LoadErrors(pub Vec<LoadError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadErrors {}

/// How a rule compares an alert's priority (`>=Warning`: Warning or more severe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

/// One `key=value` or `key!=value` test of `match.output_fields`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTest {
    pub key: String,
    pub equal: bool,
    pub value: String,
}

/// What alerts a rule takes. Empty parts match everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Match {
    /// Detection rule names (any of them).
    pub rules: Vec<String>,
    pub priority: Option<(Cmp, Priority)>,
    /// Each entry: tags that must all be present; any entry may match.
    pub tags: Vec<Vec<String>>,
    pub source: Option<String>,
    /// Each entry: tests that must all hold; any entry may match.
    pub output_fields: Vec<Vec<FieldTest>>,
}

/// An action of a rule, resolved against the action definitions.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub name: String,
    /// `category:name`, a known actionner.
    pub actionner: String,
    pub description: String,
    pub parameters: Map<String, Json>,
    /// Whether the rule's next action runs after this one (defaults per actionner, like Talon).
    pub continue_: bool,
    /// Whether a failure lets the next action run.
    pub ignore_errors: bool,
    pub location: Location,
}

/// A response rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub description: String,
    pub matcher: Match,
    pub actions: Vec<Action>,
    /// `continue: false` stops the evaluation of the following rules once this one matched.
    pub continue_: bool,
    pub dry_run: bool,
    pub notifiers: Vec<String>,
    pub location: Location,
}

/// Loaded response rules, in file order.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// Things that load but deserve a word (unknown keys, unsupported actionners).
    pub warnings: Vec<LoadError>,
}

// ---- raw items, before merging ----

#[derive(Debug, Clone, Default)]
struct RawAction {
    name: String,
    actionner: Option<(String, Location)>,
    description: Option<String>,
    parameters: Map<String, Json>,
    continue_: Option<bool>,
    ignore_errors: Option<bool>,
    location: Location,
}

#[derive(Debug, Clone, Default)]
struct RawRule {
    name: String,
    description: Option<String>,
    continue_: Option<bool>,
    dry_run: Option<bool>,
    notifiers: Vec<String>,
    m_rules: Vec<String>,
    m_priority: Option<(String, u32)>,
    m_source: Option<String>,
    m_tags: Vec<(String, u32)>,
    m_fields: Vec<(String, u32)>,
    actions: Vec<RawAction>,
    location: Location,
}

struct Ctx<'a> {
    file: &'a str,
    errors: &'a mut Vec<LoadError>,
    warnings: &'a mut Vec<LoadError>,
}

impl Ctx<'_> {
    fn err(&mut self, line: u32, msg: impl Into<String>) {
        self.errors
            .push(LoadError { location: Location { file: self.file.into(), line }, message: msg.into() });
    }
    fn warn(&mut self, line: u32, msg: impl Into<String>) {
        self.warnings
            .push(LoadError { location: Location { file: self.file.into(), line }, message: msg.into() });
    }
    fn loc(&self, line: u32) -> Location {
        Location { file: self.file.into(), line }
    }
    fn string(&mut self, n: &Node, what: &str) -> Option<String> {
        match &n.kind {
            Kind::Scalar(s, _) => Some(s.clone()),
            Kind::Null => Some(String::new()),
            _ => {
                self.err(n.line, format!("'{what}' must be a string"));
                None
            }
        }
    }
    /// Talon reads these as the strings "true"/"false".
    fn boolean(&mut self, n: &Node, what: &str) -> Option<bool> {
        match n.as_str() {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => {
                self.err(n.line, format!("'{what}' can be 'true' or 'false' only"));
                None
            }
        }
    }
    fn strings(&mut self, n: &Node, what: &str) -> Vec<(String, u32)> {
        match &n.kind {
            Kind::Null => Vec::new(),
            Kind::Scalar(s, _) => vec![(s.clone(), n.line)],
            Kind::Seq(items) => {
                let mut out = Vec::new();
                for i in items {
                    match i.as_str() {
                        Some(s) => out.push((s.to_string(), i.line)),
                        None => self.err(i.line, format!("'{what}' must be a list of strings")),
                    }
                }
                out
            }
            Kind::Map(_) => {
                self.err(n.line, format!("'{what}' must be a list of strings"));
                Vec::new()
            }
        }
    }
    fn params(&mut self, n: &Node, what: &str) -> Map<String, Json> {
        match n.to_json() {
            Json::Object(m) => m,
            Json::Null => Map::new(),
            _ => {
                self.err(n.line, format!("'{what}' must be a map"));
                Map::new()
            }
        }
    }
}

const ACTION_KEYS: &[&str] = &[
    "action",
    "actionner",
    "description",
    "parameters",
    "continue",
    "ignore_errors",
    "output",
    "additional_contexts",
];
const RULE_KEYS: &[&str] = &["rule", "description", "match", "actions", "continue", "dry_run", "notifiers"];
const MATCH_KEYS: &[&str] = &["rules", "priority", "tags", "source", "output_fields"];

fn check_keys(cx: &mut Ctx<'_>, n: &Node, allowed: &[&str], what: &str) {
    for (k, _) in n.as_map().unwrap_or(&[]) {
        match k.as_str() {
            Some(key) if allowed.contains(&key) => {}
            Some(key) => cx.warn(k.line, format!("unknown key '{key}' in {what} (ignored)")),
            None => cx.err(k.line, format!("keys of {what} must be strings")),
        }
    }
}

fn raw_action(cx: &mut Ctx<'_>, n: &Node, name: String) -> RawAction {
    check_keys(cx, n, ACTION_KEYS, "an action");
    let mut a = RawAction { name, location: cx.loc(n.line), ..Default::default() };
    if let Some(v) = n.get("actionner") {
        a.actionner = cx.string(v, "actionner").map(|s| (s, cx.loc(v.line)));
    }
    if let Some(v) = n.get("description") {
        a.description = cx.string(v, "description");
    }
    if let Some(v) = n.get("parameters") {
        a.parameters = cx.params(v, "parameters");
    }
    if let Some(v) = n.get("continue") {
        a.continue_ = cx.boolean(v, "continue");
    }
    if let Some(v) = n.get("ignore_errors") {
        a.ignore_errors = cx.boolean(v, "ignore_errors");
    }
    a
}

fn raw_rule(cx: &mut Ctx<'_>, n: &Node, name: String) -> RawRule {
    check_keys(cx, n, RULE_KEYS, "a rule");
    let mut r = RawRule { name, location: cx.loc(n.line), ..Default::default() };
    if let Some(v) = n.get("description") {
        r.description = cx.string(v, "description");
    }
    if let Some(v) = n.get("continue") {
        r.continue_ = cx.boolean(v, "continue");
    }
    if let Some(v) = n.get("dry_run") {
        r.dry_run = cx.boolean(v, "dry_run");
    }
    if let Some(v) = n.get("notifiers") {
        r.notifiers = cx.strings(v, "notifiers").into_iter().map(|(s, _)| s).collect();
    }
    match n.get("match") {
        Some(m) if m.as_map().is_some() => {
            check_keys(cx, m, MATCH_KEYS, "'match'");
            if let Some(v) = m.get("rules") {
                r.m_rules = cx.strings(v, "match.rules").into_iter().map(|(s, _)| s).collect();
            }
            if let Some(v) = m.get("priority") {
                r.m_priority = cx.string(v, "match.priority").map(|s| (s, v.line));
            }
            if let Some(v) = m.get("source") {
                r.m_source = cx.string(v, "match.source");
            }
            if let Some(v) = m.get("tags") {
                r.m_tags = cx.strings(v, "match.tags");
            }
            if let Some(v) = m.get("output_fields") {
                r.m_fields = cx.strings(v, "match.output_fields");
            }
        }
        Some(m) if m.is_null() => {}
        Some(m) => cx.err(m.line, "'match' must be a map"),
        None => {}
    }
    match n.get("actions") {
        Some(Node { kind: Kind::Seq(items), .. }) => {
            for i in items {
                match i.get("action").and_then(Node::as_str) {
                    Some(name) if !name.is_empty() => {
                        let a = raw_action(cx, i, name.to_string());
                        r.actions.push(a);
                    }
                    _ => cx.err(i.line, "an item of 'actions' needs 'action: NAME'"),
                }
            }
        }
        Some(v) if v.is_null() => {}
        Some(v) => cx.err(v.line, "'actions' must be a list of '- action: NAME' items"),
        None => {}
    }
    r
}

/// Talon's merge of parameter maps: lists append, maps merge, scalars are replaced (`replace`)
/// or only filled in when absent (`!replace`).
fn merge_params(into: &mut Map<String, Json>, from: &Map<String, Json>, replace: bool) {
    for (k, v) in from {
        if v.is_null() {
            continue;
        }
        match (into.get_mut(k), v) {
            (None, _) => {
                into.insert(k.clone(), v.clone());
            }
            (Some(Json::Array(a)), Json::Array(b)) => a.extend(b.iter().cloned()),
            (Some(Json::Object(a)), Json::Object(b)) => {
                for (bk, bv) in b {
                    a.insert(bk.clone(), bv.clone());
                }
            }
            (Some(slot), _) => {
                if replace && std::mem::discriminant(slot) == std::mem::discriminant(v) {
                    *slot = v.clone();
                }
            }
        }
    }
}

fn merge_action(a: &mut RawAction, l: RawAction) {
    if l.actionner.is_some() {
        a.actionner = l.actionner;
    }
    if l.description.is_some() {
        a.description = l.description;
    }
    if l.continue_.is_some() {
        a.continue_ = l.continue_;
    }
    if l.ignore_errors.is_some() {
        a.ignore_errors = l.ignore_errors;
    }
    merge_params(&mut a.parameters, &l.parameters, true);
}

fn merge_rule(r: &mut RawRule, l: RawRule) {
    if l.description.is_some() {
        r.description = l.description;
    }
    if l.continue_.is_some() {
        r.continue_ = l.continue_;
    }
    if l.dry_run.is_some() {
        r.dry_run = l.dry_run;
    }
    if l.m_priority.is_some() {
        r.m_priority = l.m_priority;
    }
    if l.m_source.is_some() {
        r.m_source = l.m_source;
    }
    r.notifiers.extend(l.notifiers);
    r.m_rules.extend(l.m_rules);
    r.m_tags.extend(l.m_tags);
    r.m_fields.extend(l.m_fields);
    r.actions.extend(l.actions);
}

fn parse_priority(s: &str) -> Option<(Cmp, Priority)> {
    let s = s.trim();
    let (cmp, rest) = if let Some(r) = s.strip_prefix(">=") {
        (Cmp::Ge, r)
    } else if let Some(r) = s.strip_prefix("<=") {
        (Cmp::Le, r)
    } else if let Some(r) = s.strip_prefix('>') {
        (Cmp::Gt, r)
    } else if let Some(r) = s.strip_prefix('<') {
        (Cmp::Lt, r)
    } else if let Some(r) = s.strip_prefix('=') {
        (Cmp::Eq, r)
    } else {
        (Cmp::Eq, s)
    };
    rest.trim().parse::<Priority>().ok().map(|p| (cmp, p))
}

fn valid_tag(t: &str) -> bool {
    !t.is_empty()
        && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && !t.ends_with(['_', '.'])
}

fn parse_field_tests(s: &str) -> Option<Vec<FieldTest>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (key, equal, value) = if let Some((k, v)) = part.split_once("!=") {
            (k, false, v)
        } else if let Some((k, v)) = part.split_once('=') {
            (k, true, v)
        } else {
            return None;
        };
        let key = key.trim();
        if key.is_empty()
            || !key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '[' | ']' | '_'))
        {
            return None;
        }
        out.push(FieldTest { key: key.to_string(), equal, value: value.trim().replace('"', "") });
    }
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

/// Load response rules files in order (later files override earlier ones).
pub fn load_files<P: AsRef<Path>>(paths: &[P]) -> Result<RuleSet, LoadErrors> {
    let mut texts = Vec::new();
    for p in paths {
        let p = p.as_ref();
        match std::fs::read_to_string(p) {
            Ok(t) => texts.push((p.display().to_string(), t)),
            Err(e) => {
                return Err(LoadErrors(vec![LoadError {
                    location: Location { file: p.display().to_string(), line: 0 },
                    message: format!("cannot read: {e}"),
                }]))
            }
        }
    }
    load_strs(&texts.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect::<Vec<_>>())
}

/// Load response rules from (name, text) pairs, in order.
pub fn load_strs(files: &[(&str, &str)]) -> Result<RuleSet, LoadErrors> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut actions: Vec<RawAction> = Vec::new();
    let mut rules: Vec<RawRule> = Vec::new();
    for (file, text) in files {
        let mut cx = Ctx { file, errors: &mut errors, warnings: &mut warnings };
        let root = match yaml::parse(text) {
            Ok(r) => r,
            Err(e) => {
                cx.err(e.line, format!("YAML syntax error: {}", e.message));
                continue;
            }
        };
        let items = match &root.kind {
            Kind::Seq(items) => items,
            Kind::Null => continue,
            _ => {
                cx.err(root.line, "a response rules file is a list of '- action:' and '- rule:' items");
                continue;
            }
        };
        for item in items {
            if item.as_map().is_none() {
                cx.err(item.line, "each item must be a map with 'action:' or 'rule:'");
                continue;
            }
            let action_name = item.get("action").and_then(Node::as_str).filter(|s| !s.is_empty());
            let rule_name = item.get("rule").and_then(Node::as_str).filter(|s| !s.is_empty());
            match (action_name, rule_name) {
                (Some(_), Some(_)) => cx.err(item.line, "an item is either an action or a rule, not both"),
                (Some(name), None) => {
                    let a = raw_action(&mut cx, item, name.to_string());
                    match actions.iter_mut().find(|x| x.name == a.name) {
                        Some(prev) => merge_action(prev, a),
                        None => actions.push(a),
                    }
                }
                (None, Some(name)) => {
                    let r = raw_rule(&mut cx, item, name.to_string());
                    match rules.iter_mut().find(|x| x.name == r.name) {
                        Some(prev) => merge_rule(prev, r),
                        None => rules.push(r),
                    }
                }
                (None, None) => cx.err(item.line, "item has neither 'action: NAME' nor 'rule: NAME'"),
            }
        }
    }

    // Resolve and validate.
    let mut out = Vec::new();
    for r in rules {
        let err = |errors: &mut Vec<LoadError>, line: u32, msg: String| {
            errors
                .push(LoadError { location: Location { file: r.location.file.clone(), line }, message: msg })
        };
        let mut ok = true;
        let mut m = Match {
            rules: r.m_rules.clone(),
            source: r.m_source.clone().filter(|s| !s.is_empty()),
            ..Default::default()
        };
        if let Some((p, line)) = &r.m_priority {
            if !p.trim().is_empty() {
                match parse_priority(p) {
                    Some(x) => m.priority = Some(x),
                    None => {
                        err(
                            &mut errors,
                            *line,
                            format!(
                                "rule '{}': incorrect priority '{p}' (expected e.g. '>=Warning')",
                                r.name
                            ),
                        );
                        ok = false;
                    }
                }
            }
        }
        for (t, line) in &r.m_tags {
            let group: Vec<String> =
                t.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect();
            if let Some(bad) = group.iter().find(|x| !valid_tag(x)) {
                err(&mut errors, *line, format!("rule '{}': incorrect tag '{bad}'", r.name));
                ok = false;
            }
            m.tags.push(group);
        }
        for (f, line) in &r.m_fields {
            match parse_field_tests(f) {
                Some(g) => m.output_fields.push(g),
                None => {
                    err(&mut errors, *line, format!("rule '{}': incorrect output field test '{f}' (expected 'key=value' or 'key!=value', comma-separated)", r.name));
                    ok = false;
                }
            }
        }
        if r.actions.is_empty() {
            err(&mut errors, r.location.line, format!("rule '{}': no action specified", r.name));
            ok = false;
        }
        let mut resolved = Vec::new();
        for mut a in r.actions.clone() {
            if let Some(def) = actions.iter().find(|d| d.name == a.name) {
                if a.actionner.is_none() {
                    a.actionner = def.actionner.clone();
                }
                if a.description.is_none() {
                    a.description = def.description.clone();
                }
                if a.continue_.is_none() {
                    a.continue_ = def.continue_;
                }
                if a.ignore_errors.is_none() {
                    a.ignore_errors = def.ignore_errors;
                }
                merge_params(&mut a.parameters, &def.parameters, false);
            }
            let Some((actionner, aloc)) = a.actionner.clone() else {
                err(
                    &mut errors,
                    a.location.line,
                    format!(
                        "rule '{}': action '{}' has no actionner (and no '- action: {}' defines one)",
                        r.name, a.name, a.name
                    ),
                );
                ok = false;
                continue;
            };
            let Some(info) = actionners::lookup(&actionner) else {
                errors.push(LoadError {
                    location: aloc.clone(),
                    message: format!(
                        "rule '{}', action '{}': unknown actionner '{actionner}' (known: {})",
                        r.name,
                        a.name,
                        actionners::known_list()
                    ),
                });
                ok = false;
                continue;
            };
            if let Support::Unsupported(why) = info.support {
                warnings.push(LoadError {
                    location: aloc.clone(),
                    message: format!("rule '{}', action '{}': actionner '{actionner}' is not supported by Harrier ({why}); it will be reported as failed when the rule matches", r.name, a.name),
                });
            }
            if let Err(msg) = (info.check)(&a.parameters) {
                err(
                    &mut errors,
                    a.location.line,
                    format!("rule '{}', action '{}' ({actionner}): {msg}", r.name, a.name),
                );
                ok = false;
            }
            resolved.push(Action {
                name: a.name.clone(),
                actionner: actionner.clone(),
                description: a
                    .description
                    .clone()
                    .filter(|d| !d.is_empty())
                    .unwrap_or_else(|| info.description.to_string()),
                parameters: a.parameters.clone(),
                continue_: a.continue_.unwrap_or(info.continue_default),
                ignore_errors: a.ignore_errors.unwrap_or(false),
                location: a.location.clone(),
            });
        }
        if ok {
            out.push(Rule {
                name: r.name.clone(),
                description: r.description.clone().unwrap_or_default(),
                matcher: m,
                actions: resolved,
                continue_: r.continue_.unwrap_or(true),
                dry_run: r.dry_run.unwrap_or(false),
                notifiers: r.notifiers.clone(),
                location: r.location.clone(),
            });
        }
    }
    if errors.is_empty() {
        Ok(RuleSet { rules: out, warnings })
    } else {
        Err(LoadErrors(errors))
    }
}

/// An output field's value as text (`None` when absent or null).
pub fn field_text(alert: &Alert, key: &str) -> Option<String> {
    match alert.output_fields.get(key)? {
        Json::Null => None,
        Json::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Rank for comparisons: higher is more severe.
fn severity(p: Priority) -> u8 {
    7 - p as u8
}

impl Match {
    /// Whether an alert meets every part of this match.
    pub fn matches(&self, alert: &Alert) -> bool {
        if !self.rules.is_empty() && !self.rules.contains(&alert.rule) {
            return false;
        }
        if let Some((cmp, p)) = self.priority {
            let (a, b) = (severity(alert.priority), severity(p));
            let ok = match cmp {
                Cmp::Eq => a == b,
                Cmp::Gt => a > b,
                Cmp::Ge => a >= b,
                Cmp::Lt => a < b,
                Cmp::Le => a <= b,
            };
            if !ok {
                return false;
            }
        }
        if !self.tags.is_empty()
            && !self.tags.iter().any(|g| g.iter().all(|t| alert.tags.iter().any(|x| x == t)))
        {
            return false;
        }
        if let Some(s) = &self.source {
            if *s != alert.source {
                return false;
            }
        }
        if !self.output_fields.is_empty()
            && !self.output_fields.iter().any(|g| {
                g.iter().all(|t| {
                    let v = field_text(alert, &t.key);
                    if t.equal {
                        v.as_deref() == Some(t.value.as_str())
                    } else {
                        v.as_deref() != Some(t.value.as_str())
                    }
                })
            })
        {
            return false;
        }
        true
    }
}
