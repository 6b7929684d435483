//! The Falco condition language: parse a condition string into an [`ast::Expr`], print it back in
//! canonical form. See `docs/` and the crate README for the grammar.
//!
//! ```
//! use harrier_condition::{parse, canonical};
//! let e = parse("proc.name in (bash, sh) and not fd.name startswith /dev").unwrap();
//! assert_eq!(canonical(&e), "(proc.name in (bash, sh) and not fd.name startswith /dev)");
//! ```

pub mod ast;
pub mod fuzzing;
mod parser;
mod print;
mod visit;

pub use ast::*;
pub use print::{canonical, field_arg_needs_quotes, libsinsp_form, value_needs_quotes, write_quoted};
pub use visit::{
    substitute_identifiers, try_substitute_identifiers, visit_exprs, walk_fields, walk_identifiers,
    walk_list_refs, EqIgnoringPos,
};

/// A parse error with the position where it was detected and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub pos: Pos,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at line {} column {} (offset {})",
            self.message, self.pos.line, self.pos.col, self.pos.idx
        )
    }
}

impl std::error::Error for ParseError {}

/// Default maximum nesting depth (Falco's rule compiler uses 1000).
pub const DEFAULT_MAX_DEPTH: usize = 1000;

/// Parse a whole condition (maximum nesting depth [`DEFAULT_MAX_DEPTH`]).
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    parse_with_depth(input, DEFAULT_MAX_DEPTH)
}

/// Parse with an explicit nesting limit.
///
/// Every open parenthesis (`(`, `not(`, `and(`, `or(`), transformer call and transformer list
/// counts as one level; more than `max_depth` simultaneously open levels is an error
/// ("exceeded max depth limit of N"). Parentheses are handled without recursion, so the limit
/// is never needed to protect the stack from them; transformer nesting recurses and is bounded
/// by the limit.
pub fn parse_with_depth(input: &str, max_depth: usize) -> Result<Expr, ParseError> {
    parser::Parser::new(input, max_depth).parse()
}
