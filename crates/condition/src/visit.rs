//! Tree helpers: visitors, identifier (macro) substitution, and structural equality ignoring
//! positions.
//!
//! The walkers use an explicit stack, so they work on arbitrarily deep trees.

use crate::ast::*;

/// Call `f` on every expression node, in pre-order (a node before its children, children left
/// to right).
pub fn visit_exprs<'e>(expr: &'e Expr, f: &mut impl FnMut(&'e Expr)) {
    let mut stack = vec![expr];
    while let Some(e) = stack.pop() {
        f(e);
        match e {
            Expr::And(children, _) | Expr::Or(children, _) => stack.extend(children.iter().rev()),
            Expr::Not(child, _) => stack.push(child),
            Expr::Identifier(..) | Expr::Exists(..) | Expr::Compare(..) => {}
        }
    }
}

/// Call `f(name, pos)` for every bare identifier (macro reference), in source order.
pub fn walk_identifiers(expr: &Expr, f: &mut impl FnMut(&str, Pos)) {
    visit_exprs(expr, &mut |e| {
        if let Expr::Identifier(name, pos) = e {
            f(name, *pos);
        }
    });
}

/// Call `f(name, pos)` for every identifier in list position (`x in some_list`,
/// `x = oneof some_list`), in source order.
pub fn walk_list_refs(expr: &Expr, f: &mut impl FnMut(&str, Pos)) {
    visit_exprs(expr, &mut |e| {
        if let Expr::Compare(c) = e {
            if let Rhs::ListRef(name, pos) = &c.right {
                f(name, *pos);
            }
        }
    });
}

/// Call `f` for every field reference: check left sides, `val()` right sides and every field
/// inside transformer arguments (at any depth), in source order.
pub fn walk_fields<'e>(expr: &'e Expr, f: &mut impl FnMut(&'e FieldRef)) {
    visit_exprs(expr, &mut |e| match e {
        Expr::Exists(left, _) => operand_fields(left, f),
        Expr::Compare(c) => {
            operand_fields(&c.left, f);
            match &c.right {
                Rhs::Val(field) => f(field),
                Rhs::Transformer(t) => transformer_fields(t, f),
                Rhs::Value(..) | Rhs::List(..) | Rhs::ListRef(..) => {}
            }
        }
        _ => {}
    });
}

fn operand_fields<'e>(o: &'e Operand, f: &mut impl FnMut(&'e FieldRef)) {
    match o {
        Operand::Field(field) => f(field),
        Operand::Transformer(t) => transformer_fields(t, f),
    }
}

fn transformer_fields<'e>(t: &'e Transformer, f: &mut impl FnMut(&'e FieldRef)) {
    let mut stack: Vec<&TArg> = t.args.iter().rev().collect();
    while let Some(a) = stack.pop() {
        match a {
            TArg::Field(field) => f(field),
            TArg::Transformer(t) => stack.extend(t.args.iter().rev()),
            TArg::List(items, _) => stack.extend(items.iter().rev()),
            TArg::Str(..) | TArg::Num(..) => {}
        }
    }
}

/// Rebuild `expr`, replacing every identifier node for which `f(name, pos)` returns
/// `Some(replacement)`; identifiers for which it returns `None` are kept. Replacements are
/// inserted as they are (they are not walked again), so a macro body that was already resolved
/// can be substituted as-is.
pub fn substitute_identifiers(expr: Expr, f: &mut impl FnMut(&str, Pos) -> Option<Expr>) -> Expr {
    match try_substitute_identifiers(expr, &mut |name, pos| Ok::<_, std::convert::Infallible>(f(name, pos))) {
        Ok(e) => e,
        Err(never) => match never {},
    }
}

/// Like [`substitute_identifiers`], but `f` may fail (e.g. "Undefined macro"); the first error
/// (in source order) is returned.
pub fn try_substitute_identifiers<E>(
    expr: Expr,
    f: &mut impl FnMut(&str, Pos) -> Result<Option<Expr>, E>,
) -> Result<Expr, E> {
    Ok(match expr {
        Expr::And(children, pos) => Expr::And(
            children.into_iter().map(|c| try_substitute_identifiers(c, f)).collect::<Result<_, _>>()?,
            pos,
        ),
        Expr::Or(children, pos) => Expr::Or(
            children.into_iter().map(|c| try_substitute_identifiers(c, f)).collect::<Result<_, _>>()?,
            pos,
        ),
        Expr::Not(child, pos) => Expr::Not(Box::new(try_substitute_identifiers(*child, f)?), pos),
        Expr::Identifier(name, pos) => match f(&name, pos)? {
            Some(replacement) => replacement,
            None => Expr::Identifier(name, pos),
        },
        e @ (Expr::Exists(..) | Expr::Compare(..)) => e,
    })
}

/// Structural equality that ignores every [`Pos`].
pub trait EqIgnoringPos {
    fn eq_ignoring_pos(&self, other: &Self) -> bool;
}

fn all_eq<T: EqIgnoringPos>(a: &[T], b: &[T]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignoring_pos(y))
}

impl EqIgnoringPos for Expr {
    fn eq_ignoring_pos(&self, other: &Self) -> bool {
        match (self, other) {
            (Expr::And(a, _), Expr::And(b, _)) | (Expr::Or(a, _), Expr::Or(b, _)) => all_eq(a, b),
            (Expr::Not(a, _), Expr::Not(b, _)) => a.eq_ignoring_pos(b),
            (Expr::Identifier(a, _), Expr::Identifier(b, _)) => a == b,
            (Expr::Exists(a, _), Expr::Exists(b, _)) => a.eq_ignoring_pos(b),
            (Expr::Compare(a), Expr::Compare(b)) => {
                a.op == b.op
                    && a.modifier == b.modifier
                    && a.left.eq_ignoring_pos(&b.left)
                    && a.right.eq_ignoring_pos(&b.right)
            }
            _ => false,
        }
    }
}

impl EqIgnoringPos for Operand {
    fn eq_ignoring_pos(&self, other: &Self) -> bool {
        match (self, other) {
            (Operand::Field(a), Operand::Field(b)) => a.eq_ignoring_pos(b),
            (Operand::Transformer(a), Operand::Transformer(b)) => a.eq_ignoring_pos(b),
            _ => false,
        }
    }
}

impl EqIgnoringPos for FieldRef {
    fn eq_ignoring_pos(&self, other: &Self) -> bool {
        self.name == other.name && self.arg == other.arg
    }
}

impl EqIgnoringPos for Transformer {
    fn eq_ignoring_pos(&self, other: &Self) -> bool {
        self.kind == other.kind && self.arg == other.arg && all_eq(&self.args, &other.args)
    }
}

impl EqIgnoringPos for TArg {
    fn eq_ignoring_pos(&self, other: &Self) -> bool {
        match (self, other) {
            (TArg::Field(a), TArg::Field(b)) => a.eq_ignoring_pos(b),
            (TArg::Transformer(a), TArg::Transformer(b)) => a.eq_ignoring_pos(b),
            (TArg::Str(a, _), TArg::Str(b, _)) | (TArg::Num(a, _), TArg::Num(b, _)) => a == b,
            (TArg::List(a, _), TArg::List(b, _)) => all_eq(a, b),
            _ => false,
        }
    }
}

impl EqIgnoringPos for Rhs {
    fn eq_ignoring_pos(&self, other: &Self) -> bool {
        match (self, other) {
            (Rhs::Value(a, _), Rhs::Value(b, _)) | (Rhs::ListRef(a, _), Rhs::ListRef(b, _)) => a == b,
            (Rhs::List(a, _), Rhs::List(b, _)) => a == b,
            (Rhs::Val(a), Rhs::Val(b)) => a.eq_ignoring_pos(b),
            (Rhs::Transformer(a), Rhs::Transformer(b)) => a.eq_ignoring_pos(b),
            _ => false,
        }
    }
}
