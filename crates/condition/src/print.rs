//! Canonical printer.
//!
//! The canonical form is the one of the reference implementation — `(a and b)`, `(a or b)`,
//! `not x`, `left op [modifier] right`, `left exists`, lists `(v1, v2)`, transformers
//! `name(x,y)`, `val(f)`, field arguments `f[arg]` — with a few extra rules that make printing an
//! exact inverse of parsing (`parse(print(e))` is structurally equal to `e` for every tree the
//! parser produces):
//!
//! * a value is printed bare only if it would lex back as the same bare string; otherwise it is
//!   printed `"…"`-quoted with escapes (`\b \f \n \r \t \\ \" \x00`);
//! * `not` directly applied to `not` is printed `not (not x)` (a bare `not not x` would cancel out);
//! * the identifier `not` (a macro named `not`, only reachable as `(not)`) is printed `(not)`.

use crate::ast::*;
use crate::parser::{is_bare_char, is_field_arg_bare_char};
use std::fmt;

/// Print `expr` in canonical form.
pub fn canonical(expr: &Expr) -> String {
    let mut out = String::new();
    write_expr(&mut out, expr);
    out
}

thread_local! {
    /// Print as libsinsp does (see [`libsinsp_form`]) instead of the re-parsable canonical form.
    static LIBSINSP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn libsinsp_style() -> bool {
    LIBSINSP.with(|c| c.get())
}

/// Print `expr` exactly as libsinsp's `ast::as_string` does: the canonical shape, with values
/// quoted only when they hold one of `\b \f \n \r \t space = \ " '` or NUL (and then with
/// only `\b \f \n \r \t \\ \"` escaped), an empty value printed as nothing, field
/// arguments the same way (`[""]` when empty), string arguments of transformers unquoted unless
/// they need it, transformer lists joined with `,`, and `not not x` as is. Unlike [`canonical`],
/// the result does not always parse back (an empty value, a value with `(`, `)` or `,`).
pub fn libsinsp_form(expr: &Expr) -> String {
    LIBSINSP.with(|c| c.set(true));
    let s = canonical(expr);
    LIBSINSP.with(|c| c.set(false));
    s
}

/// libsinsp's `escape_str`.
fn write_libsinsp_value(out: &mut String, s: &str) {
    if !s.bytes().any(must_escape) {
        out.push_str(s);
        return;
    }
    out.push('"');
    for ch in s.chars() {
        match ch {
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Does `s` need quoting as a value (string right-hand side or list element)?
///
/// True if it contains one of `\b \f \n \r \t space = \ " '` or NUL (the reference rule), or if
/// it would not lex back as one bare string (empty, or contains `( ) ,` or other blanks).
pub fn value_needs_quotes(s: &str) -> bool {
    s.is_empty() || s.bytes().any(|c| must_escape(c) || !is_bare_char(c))
}

/// Does `s` need quoting as a field argument (`f[arg]`)?
pub fn field_arg_needs_quotes(s: &str) -> bool {
    s.is_empty() || s.bytes().any(|c| must_escape(c) || !is_field_arg_bare_char(c))
}

fn must_escape(c: u8) -> bool {
    matches!(c, 0x08 | 0x0c | b'\n' | b'\r' | b'\t' | b' ' | b'=' | b'\\' | b'"' | b'\'' | 0)
}

/// Append `s` as a `"…"`-quoted string whose unescaped content is exactly `s`.
pub fn write_quoted(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\0' => out.push_str("\\x00"),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_value(out: &mut String, s: &str) {
    if libsinsp_style() {
        write_libsinsp_value(out, s);
    } else if value_needs_quotes(s) {
        write_quoted(out, s);
    } else {
        out.push_str(s);
    }
}

fn write_expr(out: &mut String, e: &Expr) {
    match e {
        Expr::And(children, _) => write_chain(out, children, " and "),
        Expr::Or(children, _) => write_chain(out, children, " or "),
        Expr::Not(child, _) => {
            if matches!(**child, Expr::Not(..)) && !libsinsp_style() {
                out.push_str("not (");
                write_expr(out, child);
                out.push(')');
            } else {
                out.push_str("not ");
                write_expr(out, child);
            }
        }
        Expr::Identifier(name, _) => {
            if name == "not" && !libsinsp_style() {
                out.push_str("(not)");
            } else {
                out.push_str(name);
            }
        }
        Expr::Exists(left, _) => {
            write_operand(out, left);
            out.push_str(" exists");
        }
        Expr::Compare(c) => write_compare(out, c),
    }
}

fn write_chain(out: &mut String, children: &[Expr], sep: &str) {
    out.push('(');
    for (i, c) in children.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        write_expr(out, c);
    }
    out.push(')');
}

fn write_compare(out: &mut String, c: &Compare) {
    write_operand(out, &c.left);
    out.push(' ');
    out.push_str(c.op.as_str());
    if let Some(m) = c.modifier {
        out.push(' ');
        out.push_str(m.as_str());
    }
    out.push(' ');
    match &c.right {
        // Numbers are never quoted (a quoted number does not parse after `<` & co).
        Rhs::Value(v, _) if c.op.is_numeric_op() => out.push_str(v),
        r => write_rhs(out, r),
    }
}

fn write_operand(out: &mut String, o: &Operand) {
    match o {
        Operand::Field(f) => write_field(out, f),
        Operand::Transformer(t) => write_transformer(out, t),
    }
}

fn write_field_arg(out: &mut String, arg: &Option<String>) {
    if let Some(a) = arg {
        out.push('[');
        if libsinsp_style() {
            if a.is_empty() {
                out.push_str("\"\"");
            } else {
                write_libsinsp_value(out, a);
            }
        } else if field_arg_needs_quotes(a) {
            write_quoted(out, a);
        } else {
            out.push_str(a);
        }
        out.push(']');
    }
}

fn write_field(out: &mut String, f: &FieldRef) {
    out.push_str(&f.name);
    write_field_arg(out, &f.arg);
}

fn write_transformer(out: &mut String, t: &Transformer) {
    out.push_str(t.kind.name());
    out.push('(');
    for (i, a) in t.args.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_targ(out, a);
    }
    out.push(')');
    write_field_arg(out, &t.arg);
}

fn write_targ(out: &mut String, a: &TArg) {
    match a {
        TArg::Field(f) => write_field(out, f),
        TArg::Transformer(t) => write_transformer(out, t),
        TArg::Str(s, _) if libsinsp_style() => write_libsinsp_value(out, s),
        TArg::Str(s, _) => write_quoted(out, s),
        TArg::Num(n, _) => out.push_str(n),
        TArg::List(items, _) => {
            out.push('(');
            for (i, a) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(if libsinsp_style() { "," } else { ", " });
                }
                write_targ(out, a);
            }
            out.push(')');
        }
    }
}

fn write_rhs(out: &mut String, r: &Rhs) {
    match r {
        Rhs::Value(v, _) => write_value(out, v),
        Rhs::List(values, _) => {
            out.push('(');
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, v);
            }
            out.push(')');
        }
        Rhs::ListRef(name, _) => out.push_str(name),
        Rhs::Val(f) => {
            out.push_str("val(");
            write_field(out, f);
            out.push(')');
        }
        Rhs::Transformer(t) => write_transformer(out, t),
    }
}

macro_rules! display_via {
    ($ty:ty, $writer:ident) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut out = String::new();
                $writer(&mut out, self);
                f.write_str(&out)
            }
        }
    };
}

display_via!(Expr, write_expr);
display_via!(Operand, write_operand);
display_via!(FieldRef, write_field);
display_via!(Transformer, write_transformer);
display_via!(TArg, write_targ);
display_via!(Compare, write_compare);

/// A right-hand side on its own. A bare value is printed as a string value (quoted if needed);
/// numbers after `<`-style operators are printed verbatim by the [`Compare`] printer.
impl fmt::Display for Rhs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        write_rhs(&mut out, self);
        f.write_str(&out)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Modifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for TransformerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
