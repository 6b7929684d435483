//! Falco rule files: load `list` / `macro` / `rule` items from one or more YAML files, apply Falco's
//! resolution rules (list substitution, macro visibility, overrides, exceptions) and report
//! diagnostics with Falco's codes.
//!
//! Field, operator and value checking is not done here: it belongs to the engine, which the loader
//! calls through [`ConditionChecker`] so that errors still carry file/line/column/item.

use harrier_condition::Expr;

/// Alert priority (Falco's severities, most severe first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Emergency = 0,
    Alert = 1,
    Critical = 2,
    Error = 3,
    Warning = 4,
    Notice = 5,
    Informational = 6,
    Debug = 7,
}

/// Position of an item or value in a rules file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// File name as given by the user.
    pub file: String,
    /// 1-based line and column, 0-based byte offset.
    pub line: u32,
    pub column: u32,
    pub offset: u32,
}

/// A rule after loading: macros expanded, lists substituted, exceptions appended, overrides applied.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub desc: String,
    /// The final condition text (after list substitution and exceptions), as Falco would compile it.
    pub condition_text: String,
    /// The parsed condition with every macro reference replaced by the macro's condition.
    pub condition: Expr,
    pub output: String,
    pub priority: Priority,
    pub source: String,
    pub tags: Vec<String>,
    pub enabled: bool,
    pub location: Location,
}

/// Checks a resolved condition against the fields of a source. Implemented by the engine.
pub trait ConditionChecker {
    /// Whether this source is known (rules of unknown sources are skipped with `LOAD_UNKNOWN_SOURCE`).
    fn knows_source(&self, source: &str) -> bool;
    /// Check fields, operators and values. `Err` is a message for `LOAD_ERR_COMPILE_CONDITION`;
    /// `Ok` carries warnings (e.g. `LOAD_UNKNOWN_FILTER`-style notes).
    fn check_condition(&self, source: &str, expr: &Expr) -> Result<Vec<String>, String>;
    /// Check an output template (`LOAD_ERR_COMPILE_OUTPUT`).
    fn check_output(&self, source: &str, output: &str) -> Result<(), String>;
}
