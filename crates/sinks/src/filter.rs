//! Route filters: a condition in the rules language evaluated over an alert.
//!
//! Fields: `alert.rule`, `alert.priority`, `alert.source`, `alert.tags` (several values),
//! `alert.hostname`, `alert.output` (dotted, as every field of the rules language), and any
//! output field by its name (`proc.name`, `k8s.ns.name`, `fd.name[…]` as written in the alert).
//! An output field that is absent or `null` has no value: `exists` is false and every comparison
//! is false (`!=` is true). `alert.priority` compares case-insensitively (`= warning`, `in (Error,
//! Critical)`); ordering is what each output's `minimumpriority` does. `in` on `alert.tags` is true when every tag is in the set,
//! `intersects` when one is. Transformers `tolower`, `toupper` and `basename` are supported.

use crate::alert::{severity, value_text};
use harrier_condition::{Expr, Op, Operand, Rhs, TransformerKind};
use harrier_engine::Alert;
use harrier_rules::Priority;
use serde_json::Value;
use std::borrow::Cow;

/// A compiled alert filter.
#[derive(Debug, Clone)]
pub struct AlertFilter {
    text: String,
    expr: F,
}

#[derive(Debug, Clone)]
enum F {
    And(Vec<F>),
    Or(Vec<F>),
    Not(Box<F>),
    Exists(Sel),
    Cmp { sel: Sel, op: Op, vals: Vec<String>, re: Option<regex::Regex>, prio: Option<Priority> },
}

#[derive(Debug, Clone)]
enum Sel {
    Rule,
    Priority,
    Source,
    Tags,
    Hostname,
    Output,
    Field(String),
    Tr(TransformerKind, Box<Sel>),
}

impl AlertFilter {
    /// Parse and check a filter. Errors name the position and what is wrong.
    pub fn compile(text: &str) -> Result<AlertFilter, String> {
        let e = harrier_condition::parse(text).map_err(|e| format!("filter '{text}': {e}"))?;
        let expr = lower(&e).map_err(|m| format!("filter '{text}': {m}"))?;
        Ok(AlertFilter { text: text.to_string(), expr })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn matches(&self, a: &Alert) -> bool {
        eval(&self.expr, a)
    }
}

fn at(p: harrier_condition::Pos) -> String {
    format!("line {} column {}", p.line, p.col)
}

fn lower(e: &Expr) -> Result<F, String> {
    Ok(match e {
        Expr::And(v, _) => F::And(v.iter().map(lower).collect::<Result<_, _>>()?),
        Expr::Or(v, _) => F::Or(v.iter().map(lower).collect::<Result<_, _>>()?),
        Expr::Not(x, _) => F::Not(Box::new(lower(x)?)),
        Expr::Identifier(n, p) => {
            return Err(format!(
                "'{n}' at {}: macros and bare names are not available in alert filters",
                at(*p)
            ))
        }
        Expr::Exists(o, _) => F::Exists(sel(o)?),
        Expr::Compare(c) => {
            if let Some(m) = c.modifier {
                return Err(format!(
                    "modifier '{}' at {} is not supported in alert filters",
                    m.as_str(),
                    at(c.pos)
                ));
            }
            let s = sel(&c.left)?;
            let vals = match &c.right {
                Rhs::Value(v, _) => vec![v.clone()],
                Rhs::List(v, _) => v.clone(),
                Rhs::ListRef(n, p) => return Err(format!("unknown list '{n}' at {}", at(*p))),
                Rhs::Val(_) | Rhs::Transformer(_) => {
                    return Err(format!(
                        "only literal values may follow '{}' at {}",
                        c.op.as_str(),
                        at(c.pos)
                    ))
                }
            };
            if !c.op.is_list_op() && vals.len() != 1 {
                return Err(format!("'{}' at {} takes one value", c.op.as_str(), at(c.pos)));
            }
            if c.op.is_numeric_op() && matches!(s, Sel::Priority) {
                return Err(format!(
                    "'{}' at {} cannot order priorities: use the output's minimumpriority or 'alert.priority in (…)'",
                    c.op.as_str(),
                    at(c.pos)
                ));
            }
            let re = if c.op == Op::Regex {
                Some(regex::Regex::new(&vals[0]).map_err(|e| format!("bad regex at {}: {e}", at(c.pos)))?)
            } else {
                None
            };
            let prio = if matches!(s, Sel::Priority)
                && !c.op.is_list_op()
                && !matches!(
                    c.op,
                    Op::Contains
                        | Op::IContains
                        | Op::StartsWith
                        | Op::EndsWith
                        | Op::Glob
                        | Op::IGlob
                        | Op::Regex
                        | Op::BContains
                        | Op::BStartsWith
                ) {
                Some(vals[0].parse::<Priority>().map_err(|_| {
                    format!("'{}' at {} is not a priority (Emergency … Debug)", vals[0], at(c.pos))
                })?)
            } else {
                None
            };
            if c.op.is_numeric_op() && vals[0].parse::<f64>().is_err() {
                return Err(format!("'{}' at {} needs a number", c.op.as_str(), at(c.pos)));
            }
            F::Cmp { sel: s, op: c.op, vals, re, prio }
        }
    })
}

fn sel(o: &Operand) -> Result<Sel, String> {
    match o {
        Operand::Field(f) => {
            let name = match &f.arg {
                None => f.name.clone(),
                Some(a) => format!("{}[{}]", f.name, a),
            };
            Ok(match name.as_str() {
                "alert.rule" => Sel::Rule,
                "alert.priority" => Sel::Priority,
                "alert.source" => Sel::Source,
                "alert.tags" => Sel::Tags,
                "alert.hostname" => Sel::Hostname,
                "alert.output" => Sel::Output,
                _ => Sel::Field(name),
            })
        }
        Operand::Transformer(t) => {
            if !matches!(
                t.kind,
                TransformerKind::ToLower | TransformerKind::ToUpper | TransformerKind::Basename
            ) || t.args.len() != 1
            {
                return Err(format!(
                    "transformer '{}' at {} is not supported in alert filters",
                    t.kind.name(),
                    at(t.pos)
                ));
            }
            let inner = match &t.args[0] {
                harrier_condition::TArg::Field(f) => sel(&Operand::Field(f.clone()))?,
                harrier_condition::TArg::Transformer(t2) => sel(&Operand::Transformer(t2.clone()))?,
                _ => return Err(format!("transformer '{}' at {} takes a field", t.kind.name(), at(t.pos))),
            };
            Ok(Sel::Tr(t.kind, Box::new(inner)))
        }
    }
}

fn values<'a>(s: &Sel, a: &'a Alert) -> Vec<Cow<'a, str>> {
    match s {
        Sel::Rule => vec![Cow::Borrowed(a.rule.as_str())],
        Sel::Priority => vec![Cow::Borrowed(a.priority.as_str())],
        Sel::Source => vec![Cow::Borrowed(a.source.as_str())],
        Sel::Tags => a.tags.iter().map(|t| Cow::Borrowed(t.as_str())).collect(),
        Sel::Hostname => vec![Cow::Borrowed(a.hostname.as_str())],
        Sel::Output => vec![Cow::Borrowed(a.output.as_str())],
        Sel::Field(n) => match a.output_fields.get(n) {
            None | Some(Value::Null) => vec![],
            Some(Value::String(s)) => vec![Cow::Borrowed(s.as_str())],
            Some(Value::Array(v)) => v.iter().filter_map(value_text).map(Cow::Owned).collect(),
            Some(v) => value_text(v).map(Cow::Owned).into_iter().collect(),
        },
        Sel::Tr(k, inner) => values(inner, a)
            .into_iter()
            .map(|v| {
                Cow::Owned(match k {
                    TransformerKind::ToLower => v.to_lowercase(),
                    TransformerKind::ToUpper => v.to_uppercase(),
                    _ => v.rsplit('/').next().unwrap_or("").to_string(),
                })
            })
            .collect(),
    }
}

fn glob(p: &[u8], s: &[u8], ci: bool) -> bool {
    let eq = |a: u8, b: u8| if ci { a.eq_ignore_ascii_case(&b) } else { a == b };
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || (p[pi] != b'*' && eq(p[pi], s[si]))) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

fn eval(f: &F, a: &Alert) -> bool {
    match f {
        F::And(v) => v.iter().all(|x| eval(x, a)),
        F::Or(v) => v.iter().any(|x| eval(x, a)),
        F::Not(x) => !eval(x, a),
        F::Exists(s) => !values(s, a).is_empty(),
        F::Cmp { sel, op, vals, re, prio } => {
            if let (Some(p), Sel::Priority) = (prio, sel) {
                let (x, y) = (severity(a.priority), severity(*p));
                return match op {
                    Op::Eq | Op::Eq2 => x == y,
                    Op::Ne => x != y,
                    Op::Lt => x < y,
                    Op::Le => x <= y,
                    Op::Gt => x > y,
                    Op::Ge => x >= y,
                    _ => false,
                };
            }
            let vs = values(sel, a);
            let v0 = vals[0].as_str();
            let any = |pred: &dyn Fn(&str) -> bool| vs.iter().any(|v| pred(v));
            match op {
                Op::Eq | Op::Eq2 => any(&|v| v == v0),
                Op::Ne => !any(&|v| v == v0),
                Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                    let Ok(y) = v0.parse::<f64>() else { return false };
                    any(&|v| match v.parse::<f64>() {
                        Ok(x) => match op {
                            Op::Lt => x < y,
                            Op::Le => x <= y,
                            Op::Gt => x > y,
                            _ => x >= y,
                        },
                        Err(_) => false,
                    })
                }
                Op::Contains | Op::BContains => any(&|v| v.contains(v0)),
                Op::IContains => {
                    let l = v0.to_lowercase();
                    any(&|v| v.to_lowercase().contains(&l))
                }
                Op::StartsWith | Op::BStartsWith => any(&|v| v.starts_with(v0)),
                Op::EndsWith => any(&|v| v.ends_with(v0)),
                Op::Glob => any(&|v| glob(v0.as_bytes(), v.as_bytes(), false)),
                Op::IGlob => any(&|v| glob(v0.as_bytes(), v.as_bytes(), true)),
                Op::Regex => re.as_ref().is_some_and(|r| any(&|v| r.is_match(v))),
                Op::In => {
                    let inset = |v: &str| match sel {
                        Sel::Priority => vals.iter().any(|x| x.eq_ignore_ascii_case(v)),
                        _ => vals.iter().any(|x| x == v),
                    };
                    !vs.is_empty() && vs.iter().all(|v| inset(v))
                }
                Op::Intersects => any(&|v| vals.iter().any(|x| x == v)),
                Op::PMatch => any(&|v| {
                    vals.iter().any(|p| {
                        v == p
                            || (v.starts_with(p.as_str())
                                && (p.ends_with('/') || v.as_bytes().get(p.len()) == Some(&b'/')))
                    })
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn alert() -> Alert {
        let mut f = BTreeMap::new();
        f.insert("proc.name".to_string(), Value::from("bash"));
        f.insert("k8s.ns.name".to_string(), Value::from("prod"));
        f.insert("fd.num".to_string(), Value::from(7));
        f.insert("container.id".to_string(), Value::Null);
        Alert {
            time_ns: 0,
            rule: "Terminal shell in container".into(),
            priority: Priority::Warning,
            source: "syscall".into(),
            tags: vec!["shell".into(), "mitre_execution".into()],
            output: "A shell was spawned".into(),
            output_fields: f,
            hostname: "node-1".into(),
        }
    }

    fn m(t: &str) -> bool {
        AlertFilter::compile(t).unwrap_or_else(|e| panic!("{e}")).matches(&alert())
    }

    #[test]
    fn evaluates_alert_fields() {
        assert!(m("alert.rule = 'Terminal shell in container'"));
        assert!(
            m("alert.priority = warning") && !m("alert.priority = Error") && m("alert.priority != Error")
        );
        assert!(m("alert.priority in (Warning, Error)"));
        assert!(m("alert.tags contains shell and not alert.tags contains network"));
        assert!(m("alert.tags intersects (shell, x)"));
        assert!(!m("alert.tags in (shell)"));
        assert!(m("alert.tags in (shell, mitre_execution, x)"));
        assert!(m("proc.name in (bash, sh) and k8s.ns.name startswith pro"));
        assert!(m("fd.num > 5 and fd.num <= 7"));
        assert!(!m("container.id exists") && m("proc.name exists") && m("container.id != abc"));
        assert!(m("alert.hostname glob 'node-*'") && m("alert.rule iglob '*SHELL*'"));
        assert!(m("alert.rule regex '^Terminal'") && m("toupper(proc.name) = BASH"));
        assert!(m("alert.source = syscall or alert.source = k8s_audit"));
        assert!(m("alert.output icontains 'SHELL'"));
    }

    #[test]
    fn rejects_what_it_cannot_evaluate() {
        for (t, why) in [
            ("alert.rule =", "filter 'alert.rule ='"),
            ("some_macro", "macros"),
            ("proc.name in some_list", "unknown list"),
            ("alert.priority = Loud", "not a priority"),
            ("alert.priority > 3", "cannot order priorities"),
            ("fd.num > abc", "expected a number"),
            ("alert.rule regex '('", "bad regex"),
            ("len(alert.tags) > 1", "not supported"),
        ] {
            let e = AlertFilter::compile(t).unwrap_err();
            assert!(e.contains(why), "{t}: {e}");
        }
    }
}
