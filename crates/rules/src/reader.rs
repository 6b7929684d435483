//! Reading rules-file items from the YAML tree into a sequence of operations for the collector.
//!
//! Validation here follows Falco's rule reader: the first structural error (`LOAD_ERR_YAML_VALIDATE`)
//! stops the file; items read before it stay in effect. Message strings are Falco's.

use std::collections::BTreeSet;

use crate::diag::{Context, Diagnostic, ErrorCode, ItemType, WarningCode};
use crate::yaml::{Kind, Mark, Node, Style};
use crate::Priority;

pub(crate) const WARNING_APPEND: &str =
    "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.";
pub(crate) const WARNING_ENABLED: &str = "The standalone 'enabled' key usage is deprecated. The correct approach requires also a 'replace' entry under the 'override' key (i.e. 'enabled: replace').";
pub(crate) const ERROR_OVERRIDE_APPEND: &str = "Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.";
pub(crate) const ERROR_NO_PREVIOUS_MACRO: &str =
    "Macro uses 'append' or 'override.condition: append' but no macro by that name already exists";
pub(crate) const ERROR_NO_PREVIOUS_LIST: &str =
    "List uses 'append' or 'override.items: append' but no list by that name already exists";
pub(crate) const ERROR_NO_PREVIOUS_RULE_APPEND: &str =
    "Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists";
pub(crate) const ERROR_NO_PREVIOUS_RULE_REPLACE: &str =
    "An 'override.<key>: replace' to a rule was requested but no rule by that name already exists";

const RGX_IDENTIFIER: &str = "([a-zA-Z]+[a-zA-Z0-9_]*)";
const RGX_BARESTR: &str = "([^()\"'[:space:]=,]+)";

/// Where a scalar value sits in the file, to translate offsets inside it to file positions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ValueSpan {
    pub mark: Mark,
    pub style: Style,
}

/// A piece of a (possibly appended) condition: bytes `start..start+len` of the condition text come
/// from the scalar at `span`.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub start: usize,
    pub len: usize,
    pub span: ValueSpan,
}

/// An exception `fields` / `comps` / value entry: a scalar or a (nested) list.
#[derive(Debug, Clone, Default)]
pub(crate) struct Entry {
    pub is_list: bool,
    pub item: String,
    pub items: Vec<Entry>,
}

impl Entry {
    pub fn scalar(s: &str) -> Entry {
        Entry { is_list: false, item: s.to_string(), items: Vec::new() }
    }
    pub fn is_valid(&self) -> bool {
        (self.is_list && !self.items.is_empty()) || (!self.is_list && !self.item.is_empty())
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ExceptionInfo {
    pub name: String,
    pub fields: Entry,
    pub comps: Entry,
    pub values: Vec<Entry>,
    pub ctx: Context,
}

#[derive(Debug, Clone)]
pub(crate) struct ListInfo {
    pub name: String,
    pub items: Vec<String>,
    pub ctx: Context,
    pub index: u32,
    pub visibility: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct MacroInfo {
    pub name: String,
    pub cond: String,
    pub segments: Vec<Segment>,
    pub ctx: Context,
    pub cond_ctx: Context,
    pub index: u32,
    pub visibility: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct RuleInfo {
    pub name: String,
    pub cond: String,
    pub segments: Vec<Segment>,
    pub cond_ctx: Context,
    pub output: String,
    pub output_ctx: Context,
    pub desc: String,
    pub priority: Priority,
    pub source: String,
    pub tags: BTreeSet<String>,
    pub enabled: bool,
    pub warn_evttypes: bool,
    pub skip_if_unknown_filter: bool,
    pub capture: bool,
    pub capture_duration: u64,
    pub exceptions: Vec<ExceptionInfo>,
    pub ctx: Context,
    pub unknown_source: bool,
    pub index: u32,
    pub visibility: u32,
}

/// A partial rule used by `append`/`override` (only the keys present are `Some`).
#[derive(Debug, Clone)]
pub(crate) struct RuleUpdate {
    pub name: String,
    pub ctx: Context,
    pub cond: Option<(String, Option<ValueSpan>, Context)>,
    pub output: Option<String>,
    pub desc: Option<String>,
    pub tags: Option<BTreeSet<String>>,
    pub exceptions: Option<Vec<ExceptionInfo>>,
    pub priority: Option<Priority>,
    pub enabled: Option<bool>,
    pub warn_evttypes: Option<bool>,
    pub skip_if_unknown_filter: Option<bool>,
}

impl RuleUpdate {
    fn new(name: &str, ctx: &Context) -> Self {
        RuleUpdate {
            name: name.to_string(),
            ctx: ctx.clone(),
            cond: None,
            output: None,
            desc: None,
            tags: None,
            exceptions: None,
            priority: None,
            enabled: None,
            warn_evttypes: None,
            skip_if_unknown_filter: None,
        }
    }
    pub fn has_any_value(&self) -> bool {
        self.cond.is_some()
            || self.output.is_some()
            || self.desc.is_some()
            || self.tags.is_some()
            || self.exceptions.is_some()
            || self.priority.is_some()
            || self.enabled.is_some()
            || self.warn_evttypes.is_some()
            || self.skip_if_unknown_filter.is_some()
    }
}

/// One plugin requirement with its alternatives (name, version) — the first is the main one.
#[derive(Debug, Clone)]
pub(crate) struct PluginRequirement {
    pub alternatives: Vec<(String, String)>,
    pub ctx: Context,
}

/// What the reader produces, applied in order by the collector.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Warn(Diagnostic),
    Error(Diagnostic),
    EngineVersion { version: (u32, u32, u32), ctx: Context },
    PluginVersions(PluginRequirement),
    DefineList(ListInfo),
    AppendList(ListInfo),
    DefineMacro(MacroInfo),
    AppendMacro(MacroInfo),
    DefineRule(Box<RuleInfo>),
    AppendRule(Box<RuleUpdate>),
    ReplaceRule(Box<RuleUpdate>),
    EnableRule { name: String, enabled: bool, ctx: Context },
}

type R<T> = Result<T, Diagnostic>;

fn verr(msg: impl Into<String>, ctx: &Context) -> Diagnostic {
    Diagnostic::error(ErrorCode::YamlValidate, msg, ctx.clone())
}

/// Parse `x.y.z` like libsinsp's `sinsp_version` (three leading unsigned integers).
pub(crate) fn parse_version(s: &str) -> Option<(u32, u32, u32)> {
    let mut nums = [0u32; 3];
    let mut rest = s;
    for (i, n) in nums.iter_mut().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix('.')?;
        }
        let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        *n = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
    }
    Some((nums[0], nums[1], nums[2]))
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Some(true),
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn parse_unsigned(s: &str) -> Option<u64> {
    let t = s.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u64::from_str_radix(h, 16).ok();
    }
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

fn is_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    let alpha = b.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    alpha > 0 && b[alpha..].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

fn is_barestr(s: &str) -> bool {
    !s.is_empty()
        && !s.chars().any(|c| {
            matches!(c, '(' | ')' | '"' | '\'' | '=' | ',')
                || matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
        })
}

/// Falco's `trim`: strip leading and trailing whitespace.
fn trim(s: &str) -> String {
    s.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')).to_string()
}

/// `decode_val` for a scalar: returns the value node and text, `None` when optional and missing.
fn decode_scalar<'n>(
    item: &'n Node,
    key: &str,
    ctx: &Context,
    optional: bool,
) -> R<Option<(&'n Node, String)>> {
    let Some(val) = item.get(key) else {
        if optional {
            return Ok(None);
        }
        return Err(verr(format!("Item has no mapping for key '{key}'"), ctx));
    };
    if val.is_null() {
        return Err(verr(format!("Mapping for key '{key}' is empty"), ctx));
    }
    let valctx = ctx.child(val.mark, ItemType::ValueFor, key);
    let Some(s) = val.as_scalar() else {
        return Err(verr("Value is not a scalar value", &valctx));
    };
    if s.is_empty() {
        return Err(verr("Value must be non-empty", &valctx));
    }
    Ok(Some((val, s.to_string())))
}

fn decode_string(item: &Node, key: &str, ctx: &Context) -> R<String> {
    Ok(decode_scalar(item, key, ctx, false)?.map(|(_, s)| s).unwrap_or_default())
}

fn decode_opt_string(item: &Node, key: &str, ctx: &Context) -> R<Option<String>> {
    Ok(decode_scalar(item, key, ctx, true)?.map(|(_, s)| s))
}

fn decode_bool(item: &Node, key: &str, ctx: &Context, optional: bool) -> R<Option<bool>> {
    match decode_scalar(item, key, ctx, optional)? {
        None => Ok(None),
        Some((node, s)) => match parse_bool(&s) {
            Some(b) => Ok(Some(b)),
            None => {
                Err(verr("Can't decode YAML scalar value", &ctx.child(node.mark, ItemType::ValueFor, key)))
            }
        },
    }
}

fn decode_u64(item: &Node, key: &str, ctx: &Context, optional: bool) -> R<Option<u64>> {
    match decode_scalar(item, key, ctx, optional)? {
        None => Ok(None),
        Some((node, s)) => match parse_unsigned(&s) {
            Some(v) => Ok(Some(v)),
            None => {
                Err(verr("Can't decode YAML scalar value", &ctx.child(node.mark, ItemType::ValueFor, key)))
            }
        },
    }
}

/// `decode_seq`: a sequence of scalars (`items`, `tags`).
fn decode_seq(item: &Node, key: &str, ctx: &Context, optional: bool) -> R<Option<Vec<String>>> {
    let Some(val) = item.get(key) else {
        if optional {
            return Ok(None);
        }
        return Err(verr(format!("Item has no mapping for key '{key}'"), ctx));
    };
    let valctx = ctx.child(val.mark, ItemType::ValueFor, key);
    let Some(seq) = val.as_seq() else {
        return Err(verr("Value is not a sequence", &valctx));
    };
    let mut out = Vec::with_capacity(seq.len());
    for v in seq {
        match v.as_scalar() {
            Some(s) => out.push(s.to_string()),
            None => {
                return Err(verr(
                    "sequence value is not scalar",
                    &valctx.child(v.mark, ItemType::ListItem, ""),
                ))
            }
        }
    }
    Ok(Some(out))
}

fn decode_tags(item: &Node, ctx: &Context) -> R<BTreeSet<String>> {
    Ok(decode_seq(item, "tags", ctx, true)?.unwrap_or_default().into_iter().collect())
}

#[derive(Default)]
struct Overrides {
    append: Vec<String>,
    replace: Vec<String>,
}

impl Overrides {
    fn is_empty(&self) -> bool {
        self.append.is_empty() && self.replace.is_empty()
    }
}

fn decode_overrides(item: &Node, can_append: &[&str], can_replace: &[&str], ctx: &Context) -> R<Overrides> {
    let mut out = Overrides::default();
    let Some(val) = item.get("override") else {
        return Ok(out);
    };
    let overridectx = ctx.child(item.mark, ItemType::Override, "");
    let entries = match &val.kind {
        Kind::Null => return Ok(out),
        Kind::Map(entries) => entries,
        _ => {
            return Err(verr(
                "Value of 'override' must be a mapping of keys to 'append' or 'replace'",
                &ctx.child(val.mark, ItemType::Override, ""),
            ))
        }
    };
    for (k, v) in entries {
        let key = k.as_scalar().unwrap_or("").to_string();
        let keyctx = overridectx.child(k.mark, ItemType::Override, &key);
        let op = v.as_scalar().unwrap_or("");
        let appendable = can_append.contains(&key.as_str());
        let replaceable = can_replace.contains(&key.as_str());
        match op {
            "append" => {
                if !appendable {
                    return Err(verr(
                        format!("Key '{key}' cannot be appended to, use 'replace' instead"),
                        &keyctx,
                    ));
                }
                out.append.push(key);
            }
            "replace" => {
                if !replaceable {
                    return Err(verr(format!("Key '{key}' cannot be replaced"), &keyctx));
                }
                out.replace.push(key);
            }
            _ => {
                let mut msg =
                    format!("Invalid override operation for key '{key}': '{op}'. Allowed values are: ");
                if appendable {
                    msg.push_str("append ");
                }
                if replaceable {
                    msg.push_str("replace ");
                }
                return Err(verr(msg, &overridectx.child(v.mark, ItemType::ValueFor, &key)));
            }
        }
    }
    Ok(out)
}

/// `decode_exception_info_entry`: `key` None means `node` itself is the value.
fn decode_entry(node: Option<&Node>, key: Option<&str>, ctx: &Context, optional: bool) -> R<Entry> {
    let val = match (node, key) {
        (Some(n), Some(k)) => n.get(k),
        (n, None) => n,
        (None, Some(_)) => None,
    };
    let Some(val) = val else {
        if optional {
            return Ok(Entry::default());
        }
        return Err(verr(format!("Item has no mapping for key '{}'", key.unwrap_or("")), ctx));
    };
    let valctx = ctx.child(val.mark, ItemType::ValueFor, key.unwrap_or(""));
    let mut out = Entry::default();
    match &val.kind {
        Kind::Scalar(s, _) => {
            if s.is_empty() {
                return Err(verr("Value must be non-empty", &valctx));
            }
            out.item = s.clone();
        }
        Kind::Seq(items) => {
            out.is_list = true;
            for v in items {
                let lctx = valctx.child(v.mark, ItemType::Exception, "");
                out.items.push(decode_entry(Some(v), None, &lctx, false)?);
            }
        }
        _ => {}
    }
    Ok(out)
}

fn read_exceptions(ops: &mut Vec<Op>, item: &Node, parent: &Context, append: bool) -> R<Vec<ExceptionInfo>> {
    let mut out: Vec<ExceptionInfo> = Vec::new();
    let Some(exs) = item.get("exceptions") else {
        return Ok(out);
    };
    if exs.is_null() {
        return Ok(out);
    }
    let exes_ctx = parent.child(exs.mark, ItemType::Exceptions, "");
    let Some(seq) = exs.as_seq() else {
        return Err(verr("Rule exceptions must be a sequence", &exes_ctx));
    };
    for ex in seq {
        let tmp = exes_ctx.child(ex.mark, ItemType::Exception, "");
        if !ex.is_map() {
            return Err(verr("Rule exception must be a mapping", &tmp));
        }
        let name = decode_string(ex, "name", &tmp)?;
        let ex_ctx = parent.child(ex.mark, ItemType::Exception, &name);
        if out.iter().any(|e| e.name == name) {
            ops.push(Op::Warn(Diagnostic::warning(
                WarningCode::ExceptionNameNotUnique,
                format!("Multiple definitions of exception '{name}' in the same rule"),
                ex_ctx.clone(),
            )));
        }
        let fields = decode_entry(Some(ex), Some("fields"), &ex_ctx, append)?;
        let comps = decode_entry(Some(ex), Some("comps"), &ex_ctx, true)?;
        let mut values = Vec::new();
        if let Some(exvals) = ex.get("values") {
            let vals_ctx = ex_ctx.child(exvals.mark, ItemType::ExceptionValues, "");
            let Some(vs) = exvals.as_seq() else {
                return Err(verr("Rule exception values must be a sequence", &vals_ctx));
            };
            for v in vs {
                let vctx = vals_ctx.child(v.mark, ItemType::ExceptionValue, "");
                values.push(decode_entry(Some(v), None, &vctx, false)?);
            }
        } else if append {
            ops.push(Op::Warn(Diagnostic::warning(
                WarningCode::AppendNoValues,
                "Overriding/appending exception with no values",
                ex_ctx.clone(),
            )));
        }
        out.push(ExceptionInfo { name, fields, comps, values, ctx: ex_ctx });
    }
    Ok(out)
}

fn warn_unknown_keys(ops: &mut Vec<Op>, item: &Node, known: &[&str], what: &str, ctx: &Context) {
    if let Some(entries) = item.as_map() {
        for (k, _) in entries {
            let key = k.as_scalar().unwrap_or("");
            if !known.contains(&key) {
                ops.push(Op::Warn(Diagnostic::warning(
                    WarningCode::UnknownKey,
                    format!("Unknown key '{key}' in {what} definition. The key will be ignored."),
                    ctx.child(k.mark, ItemType::ValueFor, key),
                )));
            }
        }
    }
}

fn span_of(item: &Node, key: &str) -> Option<ValueSpan> {
    item.get(key).and_then(|n| match &n.kind {
        Kind::Scalar(_, style) => Some(ValueSpan { mark: n.mark, style: *style }),
        _ => None,
    })
}

fn cond_ctx_of(item: &Node, it: ItemType, ctx: &Context) -> Context {
    match item.get("condition") {
        Some(n) => ctx.child(n.mark, it, ""),
        None => ctx.clone(),
    }
}

const LIST_KEYS: &[&str] = &["list", "items", "append", "override"];
const MACRO_KEYS: &[&str] = &["macro", "condition", "append", "override"];
const RULE_KEYS: &[&str] = &[
    "rule",
    "desc",
    "condition",
    "output",
    "priority",
    "tags",
    "enabled",
    "source",
    "exceptions",
    "override",
    "append",
    "warn_evttypes",
    "skip-if-unknown-filter",
    "capture",
    "capture_duration",
];
const RULE_APPENDABLE: &[&str] = &["condition", "output", "desc", "tags", "exceptions"];
const RULE_REPLACEABLE: &[&str] = &[
    "condition",
    "output",
    "desc",
    "priority",
    "tags",
    "exceptions",
    "enabled",
    "warn_evttypes",
    "skip-if-unknown-filter",
];

/// Per-file counters updated while reading.
#[derive(Default)]
pub(crate) struct Counts {
    pub rules: usize,
    pub rules_disabled: usize,
    pub macros: usize,
    pub lists: usize,
}

fn read_item(ops: &mut Vec<Op>, counts: &mut Counts, item: &Node, parent: &Context) -> R<()> {
    if !item.is_map() {
        let tmp = parent.child(item.mark, ItemType::RulesContentItem, "");
        return Err(verr("Unexpected element type. Each element should be a yaml associative array.", &tmp));
    }

    if item.has("required_engine_version") {
        let ctx = parent.child(item.mark, ItemType::RequiredEngineVersion, "");
        let s = decode_string(item, "required_engine_version", &ctx)?;
        let version = match parse_unsigned(&s).filter(|v| *v <= u32::MAX as u64) {
            Some(v) if s.trim().bytes().all(|b| b.is_ascii_digit() || b == b'+') => {
                (0, v as u32, 0)
            }
            _ => parse_version(&s).ok_or_else(|| {
                verr(
                    format!("Unable to parse engine version '{s}' as a semver string. Expected \"x.y.z\" semver format."),
                    &ctx,
                )
            })?,
        };
        ops.push(Op::EngineVersion { version, ctx });
    } else if let Some(rpv) = item.get("required_plugin_versions") {
        let ctx = parent.child(rpv.mark, ItemType::RequiredPluginVersions, "");
        let Some(plugins) = rpv.as_seq() else {
            return Err(verr("Value of required_plugin_versions must be a sequence", &ctx));
        };
        for plugin in plugins {
            let tmp = ctx.child(plugin.mark, ItemType::RequiredPluginVersionsEntry, "");
            if !plugin.is_map() {
                return Err(verr("Plugin version must be a mapping", &tmp));
            }
            let name = decode_string(plugin, "name", &tmp)?;
            let pctx = ctx.child(plugin.mark, ItemType::RequiredPluginVersionsEntry, &name);
            let version = decode_string(plugin, "version", &pctx)?;
            let mut alternatives = vec![(name, version)];
            if let Some(alts) = plugin.get("alternatives") {
                let Some(alts) = alts.as_seq() else {
                    return Err(verr("Value of plugin version alternatives must be a sequence", &pctx));
                };
                for req in alts {
                    let tmp = pctx.child(req.mark, ItemType::RequiredPluginVersionsAlternative, "");
                    if !req.is_map() {
                        return Err(verr("Plugin version alternative must be a mapping", &tmp));
                    }
                    let aname = decode_string(req, "name", &tmp)?;
                    let actx = pctx.child(req.mark, ItemType::RequiredPluginVersionsAlternative, &aname);
                    let aversion = decode_string(req, "version", &actx)?;
                    alternatives.push((aname, aversion));
                }
            }
            ops.push(Op::PluginVersions(PluginRequirement { alternatives, ctx: pctx }));
        }
    } else if item.has("list") {
        let tmp = parent.child(item.mark, ItemType::List, "");
        let name = decode_string(item, "list", &tmp)?;
        let ctx = parent.child(item.mark, ItemType::List, &name);
        counts.lists += 1;
        if !is_barestr(&name) {
            ops.push(Op::Warn(Diagnostic::warning(
                WarningCode::InvalidListName,
                format!(
                    "List has an invalid name. List names should match a regular expression: {RGX_BARESTR}"
                ),
                ctx.clone(),
            )));
        }
        warn_unknown_keys(ops, item, LIST_KEYS, "list", &ctx);
        let items = decode_seq(item, "items", &ctx, false)?.unwrap_or_default();
        let mut append = decode_bool(item, "append", &ctx, true)?.unwrap_or(false);
        if append {
            ops.push(Op::Warn(Diagnostic::warning(WarningCode::DeprecatedItem, WARNING_APPEND, ctx.clone())));
        }
        let ov = decode_overrides(item, &["items"], &["items"], &ctx)?;
        if append && !ov.is_empty() {
            return Err(verr(ERROR_OVERRIDE_APPEND, &ctx));
        }
        append |= ov.append.iter().any(|k| k == "items");
        let info = ListInfo { name, items, ctx, index: 0, visibility: 0 };
        ops.push(if append { Op::AppendList(info) } else { Op::DefineList(info) });
    } else if item.has("macro") {
        let tmp = parent.child(item.mark, ItemType::Macro, "");
        let name = decode_string(item, "macro", &tmp)?;
        let ctx = parent.child(item.mark, ItemType::Macro, &name);
        counts.macros += 1;
        if !is_identifier(&name) {
            ops.push(Op::Warn(Diagnostic::warning(
                WarningCode::InvalidMacroName,
                format!("Macro has an invalid name. Macro names should match a regular expression: {RGX_IDENTIFIER}"),
                ctx.clone(),
            )));
        }
        warn_unknown_keys(ops, item, MACRO_KEYS, "macro", &ctx);
        let cond = decode_string(item, "condition", &ctx)?;
        let cond_ctx = cond_ctx_of(item, ItemType::MacroCondition, &ctx);
        let segments = span_of(item, "condition")
            .map(|span| vec![Segment { start: 0, len: cond.len(), span }])
            .unwrap_or_default();
        let mut append = decode_bool(item, "append", &ctx, true)?.unwrap_or(false);
        if append {
            ops.push(Op::Warn(Diagnostic::warning(WarningCode::DeprecatedItem, WARNING_APPEND, ctx.clone())));
        }
        let ov = decode_overrides(item, &["condition"], &["condition"], &ctx)?;
        if append && !ov.is_empty() {
            return Err(verr(ERROR_OVERRIDE_APPEND, &ctx));
        }
        append |= ov.append.iter().any(|k| k == "condition");
        let info = MacroInfo { name, cond, segments, ctx, cond_ctx, index: 0, visibility: 0 };
        ops.push(if append { Op::AppendMacro(info) } else { Op::DefineMacro(info) });
    } else if item.has("rule") {
        let tmp = parent.child(item.mark, ItemType::Rule, "");
        let name = decode_string(item, "rule", &tmp)?;
        let ctx = parent.child(item.mark, ItemType::Rule, &name);
        counts.rules += 1;
        if let Some(n) = item.get("enabled") {
            if n.as_scalar().and_then(parse_bool) == Some(false) {
                counts.rules_disabled += 1;
            }
        }
        warn_unknown_keys(ops, item, RULE_KEYS, "rule", &ctx);
        let has_append_flag = decode_bool(item, "append", &ctx, true)?.unwrap_or(false);
        if has_append_flag {
            ops.push(Op::Warn(Diagnostic::warning(WarningCode::DeprecatedItem, WARNING_APPEND, ctx.clone())));
        }
        let ov = decode_overrides(item, RULE_APPENDABLE, RULE_REPLACEABLE, &ctx)?;
        if has_append_flag && !ov.is_empty() {
            return Err(verr(ERROR_OVERRIDE_APPEND, &ctx));
        }
        if !ov.is_empty() {
            read_rule_overrides(ops, item, &name, &ctx, &ov)?;
        } else if has_append_flag {
            let mut v = RuleUpdate::new(&name, &ctx);
            if item.has("condition") {
                let cond = decode_string(item, "condition", &ctx)?;
                let cctx = cond_ctx_of(item, ItemType::RuleCondition, &ctx);
                v.cond = Some((cond, span_of(item, "condition"), cctx));
            }
            if item.has("exceptions") {
                v.exceptions = Some(read_exceptions(ops, item, &ctx, true)?);
            }
            ops.push(Op::AppendRule(Box::new(v)));
        } else if !item.has("condition") && !item.has("output") && !item.has("desc") && !item.has("priority")
        {
            let enabled = decode_bool(item, "enabled", &ctx, false)?.unwrap_or(true);
            ops.push(Op::Warn(Diagnostic::warning(
                WarningCode::DeprecatedItem,
                WARNING_ENABLED,
                ctx.clone(),
            )));
            ops.push(Op::EnableRule { name, enabled, ctx });
        } else {
            let cond = decode_string(item, "condition", &ctx)?;
            let cond_ctx = cond_ctx_of(item, ItemType::RuleCondition, &ctx);
            let output = decode_string(item, "output", &ctx)?;
            let output_ctx = match item.get("output") {
                Some(n) => ctx.child(n.mark, ItemType::RuleOutput, ""),
                None => ctx.clone(),
            };
            let desc = decode_string(item, "desc", &ctx)?;
            let priority_s = decode_string(item, "priority", &ctx)?;
            let prictx = match item.get("priority") {
                Some(n) => ctx.child(n.mark, ItemType::RulePriority, ""),
                None => ctx.clone(),
            };
            let priority: Priority = priority_s.parse().map_err(|_| verr("Invalid priority", &prictx))?;
            let source =
                decode_opt_string(item, "source", &ctx)?.unwrap_or_else(|| crate::DEFAULT_SOURCE.to_string());
            let enabled = decode_bool(item, "enabled", &ctx, true)?.unwrap_or(true);
            let warn_evttypes = decode_bool(item, "warn_evttypes", &ctx, true)?.unwrap_or(true);
            let skip_if_unknown_filter =
                decode_bool(item, "skip-if-unknown-filter", &ctx, true)?.unwrap_or(false);
            let capture = decode_bool(item, "capture", &ctx, true)?.unwrap_or(false);
            let capture_duration = decode_u64(item, "capture_duration", &ctx, true)?.unwrap_or(0);
            let tags = decode_tags(item, &ctx)?;
            let exceptions = read_exceptions(ops, item, &ctx, false)?;
            let segments = span_of(item, "condition")
                .map(|span| vec![Segment { start: 0, len: cond.len(), span }])
                .unwrap_or_default();
            ops.push(Op::DefineRule(Box::new(RuleInfo {
                name,
                cond,
                segments,
                cond_ctx,
                output: trim(&output),
                output_ctx,
                desc,
                priority,
                source,
                tags,
                enabled,
                warn_evttypes,
                skip_if_unknown_filter,
                capture,
                capture_duration,
                exceptions,
                ctx,
                unknown_source: false,
                index: 0,
                visibility: 0,
            })));
        }
    } else {
        let ctx = parent.child(item.mark, ItemType::RulesContentItem, "");
        ops.push(Op::Warn(Diagnostic::warning(WarningCode::UnknownItem, "Unknown top level item", ctx)));
    }
    Ok(())
}

fn read_rule_overrides(ops: &mut Vec<Op>, item: &Node, name: &str, ctx: &Context, ov: &Overrides) -> R<()> {
    // expected keys: (appendable ∪ replaceable) that are present in the item, in Falco's order
    let mut expected: BTreeSet<&str> = BTreeSet::new();
    for k in RULE_APPENDABLE.iter().chain(RULE_REPLACEABLE.iter()) {
        if item.has(k) {
            expected.insert(k);
        }
    }
    let check = |expected: &mut BTreeSet<&str>, list: &[String], kind: &str, key: &'static str| {
        if !list.iter().any(|k| k == key) {
            return Ok(false);
        }
        if !expected.remove(key) {
            return Err(verr(
                format!("An {kind} override for '{key}' was specified but '{key}' is not defined"),
                ctx,
            ));
        }
        Ok(true)
    };

    if !ov.append.is_empty() {
        let mut v = RuleUpdate::new(name, ctx);
        if check(&mut expected, &ov.append, "append", "condition")? {
            let cond = decode_string(item, "condition", ctx)?;
            let cctx = cond_ctx_of(item, ItemType::RuleCondition, ctx);
            v.cond = Some((cond, span_of(item, "condition"), cctx));
        }
        if check(&mut expected, &ov.append, "append", "exceptions")? {
            v.exceptions = Some(read_exceptions(ops, item, ctx, true)?);
        }
        if check(&mut expected, &ov.append, "append", "output")? {
            v.output = Some(decode_string(item, "output", ctx)?);
        }
        if check(&mut expected, &ov.append, "append", "desc")? {
            v.desc = Some(decode_string(item, "desc", ctx)?);
        }
        if check(&mut expected, &ov.append, "append", "tags")? {
            v.tags = Some(decode_tags(item, ctx)?);
        }
        ops.push(Op::AppendRule(Box::new(v)));
    }

    if !ov.replace.is_empty() {
        let mut v = RuleUpdate::new(name, ctx);
        if check(&mut expected, &ov.replace, "replace", "condition")? {
            let cond = decode_string(item, "condition", ctx)?;
            let cctx = cond_ctx_of(item, ItemType::RuleCondition, ctx);
            v.cond = Some((cond, span_of(item, "condition"), cctx));
        }
        if check(&mut expected, &ov.replace, "replace", "exceptions")? {
            v.exceptions = Some(read_exceptions(ops, item, ctx, false)?);
        }
        if check(&mut expected, &ov.replace, "replace", "output")? {
            v.output = Some(decode_string(item, "output", ctx)?);
        }
        if check(&mut expected, &ov.replace, "replace", "desc")? {
            v.desc = Some(decode_string(item, "desc", ctx)?);
        }
        if check(&mut expected, &ov.replace, "replace", "tags")? {
            v.tags = Some(decode_tags(item, ctx)?);
        }
        if check(&mut expected, &ov.replace, "replace", "priority")? {
            let s = decode_string(item, "priority", ctx)?;
            let prictx = match item.get("priority") {
                Some(n) => ctx.child(n.mark, ItemType::RulePriority, ""),
                None => ctx.clone(),
            };
            v.priority = Some(s.parse().map_err(|_| verr("Invalid priority", &prictx))?);
        }
        if check(&mut expected, &ov.replace, "replace", "enabled")? {
            v.enabled = decode_bool(item, "enabled", ctx, false)?;
        }
        if check(&mut expected, &ov.replace, "replace", "warn_evttypes")? {
            v.warn_evttypes = decode_bool(item, "warn_evttypes", ctx, false)?;
        }
        if check(&mut expected, &ov.replace, "replace", "skip-if-unknown-filter")? {
            v.skip_if_unknown_filter = decode_bool(item, "skip-if-unknown-filter", ctx, false)?;
        }
        ops.push(Op::ReplaceRule(Box::new(v)));
    }

    if let Some(key) = expected.iter().next() {
        let keyctx = match item.get(key) {
            Some(n) => ctx.child(n.mark, ItemType::Override, key),
            None => ctx.clone(),
        };
        return Err(verr(
            format!("Unexpected key '{key}': no corresponding entry under 'override' is defined."),
            &keyctx,
        ));
    }
    Ok(())
}

/// Read all documents of a file into operations. The first validation error ends the list.
pub(crate) fn read_documents(docs: &[Node], root: &Context, counts: &mut Counts) -> Vec<Op> {
    let mut ops = Vec::new();
    for doc in docs {
        if doc.is_null() {
            continue;
        }
        let res = (|| -> R<()> {
            if !doc.is_map() && !doc.is_seq() {
                return Err(verr("Rules content is not yaml", root));
            }
            let Some(items) = doc.as_seq() else {
                return Err(verr("Rules content is not yaml array of objects", root));
            };
            for item in items {
                if !item.is_null() {
                    read_item(&mut ops, counts, item, root)?;
                }
            }
            Ok(())
        })();
        if let Err(e) = res {
            ops.push(Op::Error(e));
            break;
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("0.31.0"), Some((0, 31, 0)));
        assert_eq!(parse_version("1.2.3-rc1"), Some((1, 2, 3)));
        assert_eq!(parse_version("1.2"), None);
        assert_eq!(parse_version("x.2.3"), None);
    }

    #[test]
    fn names() {
        assert!(is_identifier("abc_1"));
        assert!(!is_identifier("1abc"));
        assert!(!is_identifier("a-b"));
        assert!(is_barestr("a-b/c.d"));
        assert!(!is_barestr("a b"));
    }
}
