//! The Falco condition language: parse a condition string into an [`ast::Expr`], print it back in
//! canonical form. See `docs/` and the crate README for the grammar.

pub mod ast;

pub use ast::*;

/// A parse error with the position where it was detected and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub pos: Pos,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at line {} column {} (offset {})", self.message, self.pos.line, self.pos.col, self.pos.idx)
    }
}

impl std::error::Error for ParseError {}

/// Default maximum nesting depth (Falco's rule compiler uses 1000).
pub const DEFAULT_MAX_DEPTH: usize = 1000;

/// Parse a whole condition.
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    parse_with_depth(input, DEFAULT_MAX_DEPTH)
}

/// Parse with an explicit recursion limit.
pub fn parse_with_depth(_input: &str, _max_depth: usize) -> Result<Expr, ParseError> {
    // TODO(parser helper): implement.
    Err(ParseError { pos: Pos::default(), message: "parser not implemented".into() })
}
