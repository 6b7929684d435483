//! Compilation of collected items: list expansion and textual substitution, exception text,
//! condition parsing, macro resolution on the AST, and checking through [`ConditionChecker`].

use std::collections::HashMap;

use harrier_condition::{Expr, Pos};

use crate::collector::{Collector, LIST_OPERATORS};
#[cfg(test)]
use crate::diag::Context;
use crate::diag::{Diagnostic, ErrorCode, WarningCode};
use crate::reader::{ExceptionInfo, Segment};
use crate::{ConditionChecker, ListDef, Location, MacroDef, Rule};

/// Falco's `quote_item`: wrap in double quotes if it has a space and is not already quoted.
pub(crate) fn quote_item(s: &str) -> String {
    if s.contains(' ') && !s.starts_with('"') && !s.starts_with('\'') {
        format!("\"{s}\"")
    } else {
        s.to_string()
    }
}

/// Falco's `paren_item`.
fn paren_item(s: &str) -> String {
    if s.starts_with('(') {
        s.to_string()
    } else {
        format!("({s})")
    }
}

/// Build the exception text appended to a rule condition: `(cond) and not (...) and not (...)`.
pub(crate) fn build_exceptions(
    cond: &str,
    exceptions: &[ExceptionInfo],
    fields_out: &mut Vec<String>,
) -> Result<String, Diagnostic> {
    let mut condition = format!("({cond})");
    let mut add_field = |f: &str| {
        if !fields_out.iter().any(|x| x == f) {
            fields_out.push(f.to_string());
        }
    };
    for ex in exceptions {
        let mut icond = String::new();
        if !ex.fields.is_list {
            for val in &ex.values {
                if val.is_list {
                    return Err(Diagnostic::error(
                        ErrorCode::Validate,
                        "Expected values array to contain a list of strings",
                        ex.ctx.clone(),
                    ));
                }
                if icond.is_empty() {
                    icond = format!("({} {} (", ex.fields.item, ex.comps.item);
                } else {
                    icond.push_str(", ");
                }
                add_field(&ex.fields.item);
                icond.push_str(&quote_item(&val.item));
            }
            if !icond.is_empty() {
                icond.push_str("))");
            }
        } else {
            icond.push('(');
            for values in &ex.values {
                if ex.fields.items.len() != values.items.len() {
                    return Err(Diagnostic::error(
                        ErrorCode::Validate,
                        "Fields and values lists must have equal length",
                        ex.ctx.clone(),
                    ));
                }
                if icond != "(" {
                    icond.push_str(" or ");
                }
                icond.push('(');
                for (k, field) in ex.fields.items.iter().enumerate() {
                    if k > 0 {
                        icond.push_str(" and ");
                    }
                    let comp = ex.comps.items.get(k).map(|c| c.item.as_str()).unwrap_or("=");
                    let v = &values.items[k];
                    let istr = if v.is_list {
                        let parts: Vec<String> = v.items.iter().map(|x| quote_item(&x.item)).collect();
                        format!("({})", parts.join(", "))
                    } else if LIST_OPERATORS.contains(&comp) {
                        paren_item(&v.item)
                    } else {
                        quote_item(&v.item)
                    };
                    icond.push(' ');
                    icond.push_str(&field.item);
                    icond.push(' ');
                    icond.push_str(comp);
                    icond.push(' ');
                    icond.push_str(&istr);
                    add_field(&field.item);
                }
                icond.push(')');
            }
            icond.push(')');
            if icond == "()" {
                icond.clear();
            }
        }
        if !icond.is_empty() {
            condition.push_str(" and not ");
            condition.push_str(&icond);
        }
    }
    Ok(condition)
}

const BLANKS: &[u8] = b" \t\n\r";
const DELIMS: &[u8] = b" \t\n\r(),=";

/// FNV-1a over a word's bytes.
fn word_hash(w: &[u8]) -> u64 {
    w.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// The hash set of words holds already-mixed hashes: pass them through.
#[derive(Default)]
struct WordHasher(u64);

impl std::hash::Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = word_hash(bytes);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type BuildWordHasher = std::hash::BuildHasherDefault<WordHasher>;

/// Add the hashes of the words of `text` (runs of bytes between [`DELIMS`]).
fn add_words(words: &mut std::collections::HashSet<u64, BuildWordHasher>, text: &str) {
    for w in text.as_bytes().split(|b| DELIMS.contains(b)) {
        if !w.is_empty() {
            words.insert(word_hash(w));
        }
    }
}

fn find_from(hay: &str, needle: &str, from: usize) -> Option<usize> {
    if from > hay.len() {
        return None;
    }
    let mut f = from;
    while f < hay.len() && !hay.is_char_boundary(f) {
        f += 1;
    }
    hay[f..].find(needle).map(|i| i + f)
}

/// Substitute one list into a condition (Falco's textual algorithm). `map` gives, for each byte of
/// `cnd` (plus one past the end), the offset in the original text; it is kept in sync.
pub(crate) fn resolve_list(cnd: &mut String, map: &mut Vec<u32>, name: &str, items: &[String]) -> bool {
    if name.is_empty() {
        return false;
    }
    let mut used = false;
    let mut start = find_from(cnd, name, 0);
    while let Some(s) = start {
        let b = cnd.as_bytes();
        let end = s + name.len();
        let before_ok = s == 0 || DELIMS.contains(&b[s - 1]);
        let after_ok = end >= b.len() || DELIMS.contains(&b[end]);
        if !(before_ok && after_ok) {
            start = find_from(cnd, name, s + 1);
            continue;
        }
        let mut s2 = s;
        while s2 > 0 && BLANKS.contains(&b[s2 - 1]) {
            s2 -= 1;
        }
        let mut e2 = end;
        while e2 < b.len() && BLANKS.contains(&b[e2]) {
            e2 += 1;
        }
        let sub = items.iter().map(|v| quote_item(v)).collect::<Vec<_>>().join(", ");
        if sub.is_empty() {
            if s2 > 0 && b[s2 - 1] == b',' {
                s2 -= 1;
            } else if e2 < b.len() && b[e2] == b',' {
                e2 += 1;
            }
        }
        let orig_at = map.get(s).copied().unwrap_or(u32::MAX);
        let mut new = String::with_capacity(cnd.len() + sub.len() + 2);
        let mut new_map = Vec::with_capacity(map.len() + sub.len() + 2);
        if s2 > 0 {
            new.push_str(&cnd[..s2]);
            new.push(' ');
            new_map.extend_from_slice(&map[..s2]);
            new_map.push(orig_at);
        }
        new.push_str(&sub);
        new.push(' ');
        new_map.extend(std::iter::repeat_n(orig_at, sub.len() + 1));
        new.push_str(&cnd[e2..]);
        new_map.extend_from_slice(&map[e2..]);
        *cnd = new;
        *map = new_map;
        used = true;
        let next = s2 + sub.len() + 1;
        start = find_from(cnd, name, next + 1);
    }
    used
}

/// A compiled list: items after expanding references to earlier lists.
pub(crate) struct CList {
    pub name: String,
    pub items: Vec<String>,
    pub used: bool,
}

/// Translate an offset inside a scalar value to its position in the file.
pub(crate) fn value_offset_to_location(
    text: &str,
    file: &str,
    span: &crate::reader::ValueSpan,
    value: &str,
    local: usize,
) -> Option<Location> {
    use crate::yaml::Style;
    let tb = text.as_bytes();
    let mut p = span.mark.offset as usize;
    if matches!(span.style, Style::SingleQuoted | Style::DoubleQuoted) {
        p += 1;
    }
    let vb = value.as_bytes();
    // a position past the end (e.g. "unexpected end of input") points just after the last
    // non-blank character rather than at a following line
    let local = local.min(value.trim_end().len());
    let skip_ws = |p: &mut usize| {
        while *p < tb.len() && matches!(tb[*p], b' ' | b'\t' | b'\n' | b'\r') {
            *p += 1;
        }
    };
    for &c in &vb[..local] {
        if p >= tb.len() {
            return None;
        }
        if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            if matches!(tb[p], b' ' | b'\t' | b'\n' | b'\r') {
                p += 1;
            } else if tb[p] == b'\\' && span.style == Style::DoubleQuoted {
                p += 2;
            } else {
                return None;
            }
            continue;
        }
        skip_ws(&mut p);
        if p >= tb.len() {
            return None;
        }
        if tb[p] == c {
            if c == b'\'' && span.style == Style::SingleQuoted && tb.get(p + 1) == Some(&b'\'') {
                p += 2;
            } else {
                p += 1;
            }
        } else if tb[p] == b'\\' && span.style == Style::DoubleQuoted {
            p += 2;
        } else {
            return None;
        }
    }
    if local < vb.len() && !matches!(vb[local], b' ' | b'\t' | b'\n' | b'\r') {
        skip_ws(&mut p);
    }
    let p = p.min(tb.len());
    let mut p = p;
    while p > 0 && !text.is_char_boundary(p) {
        p -= 1;
    }
    let before = &text[..p];
    let line = before.bytes().filter(|&b| b == b'\n').count() as u32 + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = text[line_start..p].chars().count() as u32 + 1;
    Some(Location { file: file.to_string(), line, column, offset: p as u32 })
}

/// Everything needed to translate a parser position back to the file.
pub(crate) struct CondSource<'a> {
    /// The item's condition text (before exceptions and list substitution).
    pub cond: &'a str,
    pub segments: &'a [Segment],
    /// Offset of `cond` inside the text that was prepared (1 when wrapped in parentheses).
    pub cond_shift: usize,
    pub file: &'a str,
    pub contents: Option<&'a str>,
}

impl CondSource<'_> {
    fn locate(&self, map: &[u32], idx: u32) -> Option<Location> {
        let contents = self.contents?;
        let orig = *map.get(idx as usize)?;
        if orig == u32::MAX {
            return None;
        }
        let in_cond = (orig as usize).checked_sub(self.cond_shift)?;
        if in_cond > self.cond.len() {
            return None;
        }
        let seg = self.segments.iter().rev().find(|s| in_cond >= s.start && in_cond <= s.start + s.len)?;
        let value = self.cond.get(seg.start..seg.start + seg.len)?;
        value_offset_to_location(contents, self.file, &seg.span, value, in_cond - seg.start)
    }
}

/// Prepare a condition: substitute lists (marking them used) and parse.
/// Returns the substituted text, the offset map and the parse result.
pub(crate) fn parse_condition(
    text: &str,
    lists: &mut [CList],
) -> (String, Vec<u32>, Result<Expr, harrier_condition::ParseError>) {
    let mut cnd = text.to_string();
    let mut map: Vec<u32> = (0..=text.len() as u32).collect();
    // Only a list whose name appears as a delimited word can be substituted: keep the hashes of
    // the words present (growing as substitutions add items) and skip the textual search for
    // every other list. The substitution itself is unchanged.
    let mut words: std::collections::HashSet<u64, BuildWordHasher> = Default::default();
    add_words(&mut words, &cnd);
    for l in lists.iter_mut() {
        if !words.contains(&word_hash(l.name.as_bytes())) {
            continue;
        }
        if resolve_list(&mut cnd, &mut map, &l.name, &l.items) {
            l.used = true;
            for item in &l.items {
                add_words(&mut words, item);
            }
        }
    }
    let res = harrier_condition::parse(&cnd);
    (cnd, map, res)
}

/// Macro reference resolution on the AST (Falco's filter_macro_resolver).
struct Resolver<'a> {
    macros: &'a HashMap<String, usize>,
    asts: &'a [Option<Expr>],
    path: Vec<String>,
    errors: Vec<(String, Pos)>,
    unknown: Vec<(String, Pos)>,
    resolved: Vec<String>,
}

const MAX_MACRO_NESTING: usize = 128;

impl Resolver<'_> {
    /// Resolve in place; returns a substitute for `e` when `e` itself is a macro reference.
    fn visit(&mut self, e: &mut Expr) {
        match e {
            Expr::And(children, _) | Expr::Or(children, _) => {
                for c in children.iter_mut() {
                    self.visit(c);
                }
            }
            Expr::Not(child, _) => self.visit(child),
            Expr::Identifier(name, pos) => {
                let pos = *pos;
                let name = name.clone();
                let found = self.macros.get(&name).and_then(|&i| self.asts[i].as_ref());
                let Some(ast) = found else {
                    self.unknown.push((name, pos));
                    return;
                };
                if self.path.contains(&name) {
                    self.errors.push((format!("reference loop in macro '{name}'"), pos));
                    self.unknown.push((name, pos));
                    return;
                }
                if self.path.len() >= MAX_MACRO_NESTING {
                    self.errors.push((format!("macro '{name}' is nested too deeply"), pos));
                    return;
                }
                let mut new_node = ast.clone();
                self.path.push(name.clone());
                self.visit(&mut new_node);
                self.path.pop();
                self.resolved.push(name);
                *e = new_node;
            }
            Expr::Exists(..) | Expr::Compare(_) => {}
        }
    }
}

pub(crate) struct CompileEnv<'a> {
    pub checker: Option<&'a dyn ConditionChecker>,
    pub contents: &'a dyn Fn(&str) -> Option<&'a str>,
}

pub(crate) struct CompileOutput {
    pub rules: Vec<Rule>,
    pub macros: Vec<MacroDef>,
    pub lists: Vec<ListDef>,
}

fn err_is_unknown_type_or_field(err: &str) -> bool {
    err.contains("nonexistent field")
        || err.contains("invalid formatting token")
        || err.contains("unknown event type")
}

/// Compile everything collected so far. Diagnostics go to `errors`/`warnings`; compilation stops
/// at the first error, like Falco.
pub(crate) fn compile(
    col: &Collector,
    env: &CompileEnv<'_>,
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) -> CompileOutput {
    let mut out = CompileOutput { rules: Vec::new(), macros: Vec::new(), lists: Vec::new() };

    // lists
    let mut lists: Vec<CList> = Vec::with_capacity(col.lists.items.len());
    let mut used_names: Vec<String> = Vec::new();
    for l in &col.lists.items {
        let mut items = Vec::with_capacity(l.items.len());
        for item in &l.items {
            match col.lists.get(item) {
                Some(r) if r.index < l.visibility => {
                    used_names.push(r.name.clone());
                    items.extend(r.items.iter().cloned());
                }
                _ => items.push(item.clone()),
            }
        }
        lists.push(CList { name: l.name.clone(), items, used: false });
    }
    for n in &used_names {
        if let Some(i) = col.lists.position(n) {
            lists[i].used = true;
        }
    }

    let res = compile_inner(col, env, &mut lists, &mut out, warnings);
    let macro_used = match res {
        Ok(u) => u,
        Err(e) => {
            errors.push(e);
            return finish_defs(col, lists, out, None);
        }
    };

    for (m, used) in col.macros.items.iter().zip(&macro_used) {
        if !used {
            warnings.push(Diagnostic::warning(
                WarningCode::UnusedMacro,
                "Macro not referred to by any other rule/macro",
                m.ctx.clone(),
            ));
        }
    }
    for (l, cl) in col.lists.items.iter().zip(&lists) {
        if !cl.used {
            warnings.push(Diagnostic::warning(
                WarningCode::UnusedList,
                "List not referred to by any other rule/macro",
                l.ctx.clone(),
            ));
        }
    }
    finish_defs(col, lists, out, Some(macro_used))
}

fn finish_defs(
    col: &Collector,
    lists: Vec<CList>,
    mut out: CompileOutput,
    macro_used: Option<Vec<bool>>,
) -> CompileOutput {
    out.lists = col
        .lists
        .items
        .iter()
        .zip(lists)
        .map(|(l, cl)| ListDef {
            name: cl.name,
            items: cl.items,
            used: cl.used,
            location: l.ctx.location().cloned().unwrap_or_default(),
        })
        .collect();
    for (i, m) in out.macros.iter_mut().enumerate() {
        if let Some(u) = macro_used.as_ref().and_then(|v| v.get(i)) {
            m.used = *u;
        }
    }
    out
}

fn compile_inner(
    col: &Collector,
    env: &CompileEnv<'_>,
    lists: &mut [CList],
    out: &mut CompileOutput,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Vec<bool>, Diagnostic> {
    // macros: parse every condition (in first-definition order)
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut asts: Vec<Option<Expr>> = Vec::with_capacity(col.macros.items.len());
    let mut prepared: Vec<(String, Vec<u32>)> = Vec::new();
    for (i, m) in col.macros.items.iter().enumerate() {
        names.insert(m.name.clone(), i);
        let (text, map, res) = parse_condition(&m.cond, lists);
        let src = CondSource {
            cond: &m.cond,
            segments: &m.segments,
            cond_shift: 0,
            file: m.ctx.file_name(),
            contents: (env.contents)(m.ctx.file_name()),
        };
        match res {
            Ok(ast) => asts.push(Some(ast)),
            Err(e) => {
                let loc = src.locate(&map, e.pos.idx);
                return Err(Diagnostic::error(
                    ErrorCode::CompileCondition,
                    e.message,
                    m.cond_ctx.condition(e.pos, &text, loc),
                ));
            }
        }
        prepared.push((text, map));
    }
    let mut used = vec![false; asts.len()];

    // resolve macros in order, each seeing the macros whose first definition precedes its last one
    for (i, m) in col.macros.items.iter().enumerate() {
        let visible: HashMap<String, usize> = col
            .macros
            .items
            .iter()
            .enumerate()
            .filter(|(_, o)| o.index < m.visibility)
            .map(|(j, o)| (o.name.clone(), j))
            .collect();
        let Some(mut ast) = asts[i].clone() else { continue };
        let mut r = Resolver {
            macros: &visible,
            asts: &asts,
            path: Vec::new(),
            errors: Vec::new(),
            unknown: Vec::new(),
            resolved: Vec::new(),
        };
        r.visit(&mut ast);
        if let Some((msg, pos)) = first_problem(&r) {
            let src = CondSource {
                cond: &m.cond,
                segments: &m.segments,
                cond_shift: 0,
                file: m.ctx.file_name(),
                contents: (env.contents)(m.ctx.file_name()),
            };
            let loc = src.locate(&prepared[i].1, pos.idx);
            return Err(Diagnostic::error(ErrorCode::Validate, msg, m.ctx.condition(pos, &m.cond, loc)));
        }
        for n in &r.resolved {
            if let Some(&j) = names.get(n) {
                used[j] = true;
            }
        }
        asts[i] = Some(ast);
    }
    for (i, m) in col.macros.items.iter().enumerate() {
        out.macros.push(MacroDef {
            name: m.name.clone(),
            condition_text: prepared[i].0.clone(),
            condition: asts[i].clone(),
            used: false,
            location: m.ctx.location().cloned().unwrap_or_default(),
        });
    }

    // rules
    let all: HashMap<String, usize> = names.clone();
    for r in &col.rules.items {
        if r.unknown_source {
            continue;
        }
        let mut exception_fields = Vec::new();
        let (condition, shift) = if r.exceptions.is_empty() {
            (r.cond.clone(), 0)
        } else {
            (build_exceptions(&r.cond, &r.exceptions, &mut exception_fields)?, 1)
        };
        let mut output = r.output.clone();
        if output.contains("%container.info") {
            warnings.push(Diagnostic::warning(
                WarningCode::DeprecatedItem,
                "%container.info is deprecated and no more useful, and will be dropped by Falco 1.0.0. The container plugin will automatically add required fields to the output message.",
                r.ctx.clone(),
            ));
            output = output.replace("%container.info", "");
        }
        if let Some(checker) = env.checker {
            if let Err(err) = checker.check_output(&r.source, &output) {
                if err_is_unknown_type_or_field(&err) && r.skip_if_unknown_filter {
                    warnings.push(Diagnostic::warning(WarningCode::UnknownFilter, err, r.output_ctx.clone()));
                    continue;
                }
                return Err(Diagnostic::error(ErrorCode::CompileOutput, err, r.output_ctx.clone()));
            }
        }
        let src = CondSource {
            cond: &r.cond,
            segments: &r.segments,
            cond_shift: shift,
            file: r.ctx.file_name(),
            contents: (env.contents)(r.ctx.file_name()),
        };
        let (text, map, res) = parse_condition(&condition, lists);
        let mut ast = match res {
            Ok(ast) => ast,
            Err(e) => {
                let loc = src.locate(&map, e.pos.idx);
                return Err(Diagnostic::error(
                    ErrorCode::CompileCondition,
                    e.message,
                    r.cond_ctx.condition(e.pos, &text, loc),
                ));
            }
        };
        let mut res = Resolver {
            macros: &all,
            asts: &asts,
            path: Vec::new(),
            errors: Vec::new(),
            unknown: Vec::new(),
            resolved: Vec::new(),
        };
        res.visit(&mut ast);
        if let Some((msg, pos)) = first_problem(&res) {
            let loc = src.locate(&map, pos.idx);
            return Err(Diagnostic::error(ErrorCode::Validate, msg, r.ctx.condition(pos, &condition, loc)));
        }
        for n in &res.resolved {
            if let Some(&j) = names.get(n) {
                used[j] = true;
            }
        }
        if let Some(checker) = env.checker {
            match checker.check_condition(&r.source, &ast) {
                Ok(ws) => {
                    for w in ws {
                        warnings.push(Diagnostic::warning(
                            WarningCode::CompileCondition,
                            w,
                            r.cond_ctx.clone(),
                        ));
                    }
                    for msg in checker.partial_families(&r.source, &ast) {
                        warnings.push(Diagnostic::warning(
                            WarningCode::PartialSyscallFamily,
                            msg,
                            r.cond_ctx.clone(),
                        ));
                    }
                    if r.warn_evttypes && !checker.restricts_event_types(&r.source, &ast) {
                        warnings.push(Diagnostic::warning(
                            WarningCode::NoEvttype,
                            WarningCode::NoEvttype.desc(),
                            r.cond_ctx.clone(),
                        ));
                    }
                }
                Err(err) => {
                    if err_is_unknown_type_or_field(&err) && r.skip_if_unknown_filter {
                        warnings.push(Diagnostic::warning(
                            WarningCode::UnknownFilter,
                            err,
                            r.cond_ctx.clone(),
                        ));
                        continue;
                    }
                    return Err(Diagnostic::error(ErrorCode::CompileCondition, err, r.cond_ctx.clone()));
                }
            }
        }
        out.rules.push(Rule {
            name: r.name.clone(),
            desc: r.desc.clone(),
            condition_text: text,
            condition: ast,
            output,
            priority: r.priority,
            source: r.source.clone(),
            tags: r.tags.iter().cloned().collect(),
            enabled: r.enabled,
            location: r.ctx.location().cloned().unwrap_or_default(),
            warn_evttypes: r.warn_evttypes,
            skip_if_unknown_filter: r.skip_if_unknown_filter,
            capture: r.capture,
            capture_duration: r.capture_duration,
            exception_fields,
        });
    }
    Ok(used)
}

fn first_problem(r: &Resolver<'_>) -> Option<(String, Pos)> {
    if let Some((m, p)) = r.errors.first() {
        return Some((m.clone(), *p));
    }
    r.unknown.first().map(|(n, p)| (format!("Undefined macro '{n}' used in filter."), *p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::Entry;

    fn subst(cond: &str, name: &str, items: &[&str]) -> String {
        let mut c = cond.to_string();
        let mut map: Vec<u32> = (0..=c.len() as u32).collect();
        let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        resolve_list(&mut c, &mut map, name, &items);
        assert_eq!(map.len(), c.len() + 1);
        c
    }

    #[test]
    fn list_substitution() {
        assert_eq!(subst("proc.name in (shells)", "shells", &["sh", "bash"]), "proc.name in ( sh, bash )");
        assert_eq!(subst("proc.name in (shells, zsh)", "shells", &["sh"]), "proc.name in ( sh , zsh)");
        // delimiters: no substitution inside another word
        assert_eq!(subst("proc.name in (myshells)", "shells", &["sh"]), "proc.name in (myshells)");
        assert_eq!(subst("a.shells = x", "shells", &["sh"]), "a.shells = x");
        // items with spaces are quoted
        assert_eq!(subst("f in (l)", "l", &["a b", "c"]), "f in ( \"a b\", c )");
        // empty list eats one adjacent comma (left first, then right)
        assert_eq!(subst("f in (a, l)", "l", &[]), "f in (a  )");
        assert_eq!(subst("f in (l, a)", "l", &[]), "f in (   a)");
        assert_eq!(subst("f in (l)", "l", &[]), "f in (  )");
        // start of string, '=' delimiter
        assert_eq!(subst("l", "l", &["x"]), "x ");
        assert_eq!(subst("f=l", "l", &["x"]), "f= x ");
    }

    fn ex(fields: Entry, comps: Entry, values: Vec<Entry>) -> ExceptionInfo {
        ExceptionInfo { name: "e".into(), fields, comps, values, ctx: Context::root("t") }
    }
    fn l(items: &[&str]) -> Entry {
        Entry { is_list: true, item: String::new(), items: items.iter().map(|s| Entry::scalar(s)).collect() }
    }

    #[test]
    fn exception_text() {
        let mut f = Vec::new();
        let e = ex(
            l(&["proc.name", "fd.name"]),
            l(&["=", "in"]),
            vec![
                Entry {
                    is_list: true,
                    item: String::new(),
                    items: vec![Entry::scalar("a b"), l(&["x", "y z"])],
                },
                Entry {
                    is_list: true,
                    item: String::new(),
                    items: vec![Entry::scalar("c"), Entry::scalar("mylist")],
                },
            ],
        );
        let s = build_exceptions("evt.type = open", &[e], &mut f).unwrap();
        assert_eq!(
            s,
            "(evt.type = open) and not (( proc.name = \"a b\" and  fd.name in (x, \"y z\")) or ( proc.name = c and  fd.name in (mylist)))"
        );
        assert_eq!(f, vec!["proc.name".to_string(), "fd.name".to_string()]);
        let e = ex(
            Entry::scalar("proc.name"),
            Entry::scalar("in"),
            vec![Entry::scalar("a"), Entry::scalar("b c")],
        );
        let s = build_exceptions("x", &[e], &mut f).unwrap();
        assert_eq!(s, "(x) and not (proc.name in (a, \"b c\"))");
        // no values: nothing appended
        let e = ex(l(&["proc.name"]), l(&["="]), vec![]);
        assert_eq!(build_exceptions("x", &[e], &mut f).unwrap(), "(x)");
    }
}
