//! Falco rule files: load `list` / `macro` / `rule` items from one or more YAML files, apply Falco's
//! resolution rules (list substitution, macro visibility, overrides, exceptions) and report
//! diagnostics with Falco's codes.
//!
//! Field, operator and value checking is not done here: it belongs to the engine, which the loader
//! calls through [`ConditionChecker`] so that errors still carry file/line/column/item.
//!
//! # Usage
//! [`Loader::new`] → [`Loader::load_file`] / [`Loader::load_str`] (in order) →
//! [`Loader::finish`] with an optional [`ConditionChecker`] → [`Ruleset`] (rules, macros, lists,
//! and one [`LoadResult`] per file; [`Ruleset::to_json`] gives Falco's `-V` JSON,
//! [`Ruleset::to_text`] a human rendering).
//!
//! # Semantics (Falco's rule loader, reproduced)
//! - Each file is read item by item; the first structural error (`LOAD_ERR_YAML_VALIDATE`) or
//!   collector error (`LOAD_ERR_VALIDATE`) ends that file, items before it stay defined. After
//!   every successfully read file everything collected so far is compiled again (lists, macros,
//!   rules) and compile diagnostics (including `LOAD_UNUSED_*`) go to that file's result; so a
//!   rule using a macro that only a later file defines is an error, as in Falco.
//! - Lists are substituted textually before parsing; macros are resolved on the AST (a macro sees
//!   the macros first defined before its last definition; rules see all); exceptions are compiled
//!   to `(cond) and not (...)` text with Falco's exact spacing and quoting.
//! - Last definition wins, keeping the position of the first definition in the output order.
//! - `required_engine_version`: an integer `N` means `0.N.0`; a semver string `x.y.z` is taken as
//!   is. Harrier advertises [`ENGINE_VERSION`] (0.57.0): accepted when the major is equal and the
//!   engine is not older, so 2, 10, 11, 15, 0.31.0, 0.50.0 and 0.57.0 all load.
//! - `required_plugin_versions` are checked (after all files) only when
//!   [`LoaderOptions::plugins`] is given, e.g. [`native_plugins`]; an alternative satisfies the
//!   requirement. Failures are `LOAD_ERR_VALIDATE` on the requirement's context.
//! - An item with none of the known top-level keys is a `LOAD_UNKNOWN_ITEM` *warning* ("Unknown
//!   top level item"), as in current Falco; unknown keys inside items give `LOAD_UNKNOWN_KEY`.
//! - Positions in the JSON follow Falco (yaml-cpp marks: 0-based line/column, byte offset; for a
//!   condition expression the parser's 1-based position is added to the condition's mark).
//!   [`Context::location`] gives real 1-based file positions, translated from inside condition
//!   strings (plain, quoted and block scalars) when possible.
//! - YAML leniency: a line inside a flow collection (`[`…`]`) indented no more than its block
//!   key (e.g. a closing `]` under `items:`) is accepted like yaml-cpp does.
//! - `LOAD_NO_EVTTYPE` comes from the checker (`ConditionChecker::restricts_event_types`); other
//!   evttype/field warnings are the engine's job (see
//!   [`Rule::warn_evttypes`]).

mod collector;
mod compile;
mod diag;
pub mod fuzzing;
mod reader;
mod yaml;

use std::collections::HashMap;
use std::path::Path;

pub use diag::{
    Context, ContextLocation, Diagnostic, ErrorCode, ItemCounts, ItemType, LoadResult, WarningCode,
};
use harrier_condition::Expr;

/// The default `source` of a rule.
pub const DEFAULT_SOURCE: &str = "syscall";

/// The engine version Harrier advertises to `required_engine_version` (Falco-equivalent).
/// Integer requirements `N` mean `0.N.0`; a requirement is met when the major versions are equal
/// and the engine is not older (libsinsp's `compatible_with`).
pub const ENGINE_VERSION: (u32, u32, u32) = (0, 57, 0);

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
    /// `warn_evttypes` (default true): whether the engine should warn when the condition does not
    /// restrict event types (`LOAD_NO_EVTTYPE`).
    pub warn_evttypes: bool,
    /// `skip-if-unknown-filter` (default false).
    pub skip_if_unknown_filter: bool,
    /// `capture` / `capture_duration` (accepted, carried through).
    pub capture: bool,
    pub capture_duration: u64,
    /// Fields used by the rule's exceptions, in first-use order.
    pub exception_fields: Vec<String>,
}

/// Checks a resolved condition against the fields of a source. Implemented by the engine.
pub trait ConditionChecker {
    /// Whether this source is known (rules of unknown sources are skipped with `LOAD_UNKNOWN_SOURCE`).
    fn knows_source(&self, source: &str) -> bool;
    /// Check fields, operators and values. `Err` is a message for `LOAD_ERR_COMPILE_CONDITION`;
    /// `Ok` carries warnings, reported as `LOAD_COMPILE_CONDITION` ("Warning in rule condition").
    /// An `Err` mentioning "nonexistent field", "unknown event type" or "invalid formatting
    /// token" on a rule with `skip-if-unknown-filter: true` becomes a `LOAD_UNKNOWN_FILTER` warning
    /// and the rule is skipped.
    fn check_condition(&self, source: &str, expr: &Expr) -> Result<Vec<String>, String>;
    /// Check an output template (`LOAD_ERR_COMPILE_OUTPUT`).
    fn check_output(&self, source: &str, output: &str) -> Result<(), String>;
    /// Whether a field exists for a source (used to validate exception `fields`, giving Falco's
    /// "'X' is not a supported filter field"). Defaults to accepting every field.
    fn is_field_defined(&self, _source: &str, _field: &str) -> bool {
        true
    }
    /// Whether a condition of an event-typed source (syscall) restricts the event types it can
    /// match. `false` gives `LOAD_NO_EVTTYPE` for rules with `warn_evttypes` (the default).
    /// Defaults to "restricted" (no warning).
    fn restricts_event_types(&self, _source: &str, _expr: &Expr) -> bool {
        true
    }
    /// Syscall families the condition watches only in part, as messages naming what is missing
    /// (`LOAD_PARTIAL_SYSCALL_FAMILY`). Defaults to none.
    fn partial_families(&self, _source: &str, _expr: &Expr) -> Vec<String> {
        Vec::new()
    }
}

impl Priority {
    pub const ALL: [Priority; 8] = [
        Priority::Emergency,
        Priority::Alert,
        Priority::Critical,
        Priority::Error,
        Priority::Warning,
        Priority::Notice,
        Priority::Informational,
        Priority::Debug,
    ];

    /// The name as Falco prints it (`Emergency` … `Debug`).
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Emergency => "Emergency",
            Priority::Alert => "Alert",
            Priority::Critical => "Critical",
            Priority::Error => "Error",
            Priority::Warning => "Warning",
            Priority::Notice => "Notice",
            Priority::Informational => "Informational",
            Priority::Debug => "Debug",
        }
    }
}

impl std::fmt::Display for Priority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for an unknown priority name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPriority(pub String);

impl std::fmt::Display for InvalidPriority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid priority '{}'", self.0)
    }
}

impl std::error::Error for InvalidPriority {}

impl std::str::FromStr for Priority {
    type Err = InvalidPriority;
    /// Case-insensitive; `info` is accepted for `Informational`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("info") {
            return Ok(Priority::Informational);
        }
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| InvalidPriority(s.to_string()))
    }
}

/// A plugin (name and `x.y.z` version) available to satisfy `required_plugin_versions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginVersion {
    pub name: String,
    pub version: String,
}

impl PluginVersion {
    pub fn new(name: &str, version: &str) -> Self {
        PluginVersion { name: name.to_string(), version: version.to_string() }
    }
}

/// The plugins whose fields Harrier provides natively, with the version it claims for each
/// (the highest version the official rule files require).
pub fn native_plugins() -> Vec<PluginVersion> {
    [
        ("container", "0.4.0"),
        ("k8saudit", "0.18.0"),
        ("json", "0.7.0"),
        ("cloudtrail", "0.10.0"),
        ("gcpaudit", "0.3.0"),
        ("github", "0.8.0"),
        ("okta", "0.11.0"),
    ]
    .into_iter()
    .map(|(n, v)| PluginVersion::new(n, v))
    .collect()
}

/// Loader configuration.
#[derive(Debug, Clone)]
pub struct LoaderOptions {
    /// Version compared with `required_engine_version` (default [`ENGINE_VERSION`]).
    pub engine_version: (u32, u32, u32),
    /// Plugins available for `required_plugin_versions`. `None` skips the check.
    pub plugins: Option<Vec<PluginVersion>>,
}

impl Default for LoaderOptions {
    fn default() -> Self {
        LoaderOptions { engine_version: ENGINE_VERSION, plugins: None }
    }
}

/// A macro after loading.
#[derive(Debug, Clone)]
pub struct MacroDef {
    pub name: String,
    /// Condition text after list substitution.
    pub condition_text: String,
    /// Parsed condition with nested macros resolved.
    pub condition: Option<Expr>,
    pub used: bool,
    pub location: Location,
}

/// A list after loading (references to earlier lists expanded).
#[derive(Debug, Clone)]
pub struct ListDef {
    pub name: String,
    pub items: Vec<String>,
    pub used: bool,
    pub location: Location,
}

/// A `required_plugin_versions` entry: the plugin and its accepted alternatives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRequirement {
    /// `(name, version)`; the first is the main requirement, the rest its alternatives.
    pub alternatives: Vec<(String, String)>,
    pub location: Location,
}

struct FileInput {
    name: String,
    contents: String,
    ops: Vec<reader::Op>,
    result: LoadResult,
}

/// Loads rule files in order; state carries across files like Falco's rule collector.
///
/// ```no_run
/// let mut loader = harrier_rules::Loader::new(Default::default());
/// loader.load_file("rules/falco_rules.yaml");
/// let ruleset = loader.finish(None);
/// if ruleset.has_errors() { eprint!("{}", ruleset.to_text()); }
/// ```
pub struct Loader {
    options: LoaderOptions,
    files: Vec<FileInput>,
}

impl Loader {
    pub fn new(options: LoaderOptions) -> Self {
        Loader { options, files: Vec::new() }
    }

    /// Read a rules file from disk. Unreadable files give `LOAD_ERR_FILE_READ`.
    pub fn load_file(&mut self, path: impl AsRef<Path>) {
        let path = path.as_ref();
        let name = path.display().to_string();
        match std::fs::read(path) {
            Ok(bytes) => self.load_bytes(&name, &bytes),
            Err(e) => {
                let mut result = LoadResult { name: name.clone(), ..Default::default() };
                result.errors.push(Diagnostic::error(
                    ErrorCode::FileRead,
                    format!("Could not read file {name}: {e}"),
                    Context::root(&name),
                ));
                self.files.push(FileInput { name, contents: String::new(), ops: Vec::new(), result });
            }
        }
    }

    /// Load rules content given as bytes (must be UTF-8).
    pub fn load_bytes(&mut self, name: &str, bytes: &[u8]) {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.load_str(name, text),
            Err(e) => {
                let valid = e.valid_up_to();
                let text = String::from_utf8_lossy(bytes).into_owned();
                let before = &bytes[..valid];
                let line = before.iter().filter(|&&b| b == b'\n').count() as u32;
                let col = before.iter().rev().take_while(|&&b| b != b'\n').count() as u32;
                let ctx = Context::root(name).child(
                    yaml::Mark { offset: valid as u32, line, column: col },
                    ItemType::ValueFor,
                    "",
                );
                let mut result = LoadResult { name: name.to_string(), ..Default::default() };
                result.errors.push(Diagnostic::error(
                    ErrorCode::YamlParse,
                    "invalid UTF-8 in rules content",
                    ctx,
                ));
                self.files.push(FileInput {
                    name: name.to_string(),
                    contents: text,
                    ops: Vec::new(),
                    result,
                });
            }
        }
    }

    /// Load rules content from a string; `name` is used in diagnostics.
    pub fn load_str(&mut self, name: &str, text: &str) {
        let root = Context::root(name);
        let mut result = LoadResult { name: name.to_string(), ..Default::default() };
        let ops = match yaml::parse_documents(text) {
            Err(e) => {
                let message = yaml_cpp_message(&e.message, e.mark);
                let ctx = root.child(e.mark, ItemType::ValueFor, "");
                result.errors.push(Diagnostic::error(ErrorCode::YamlParse, message, ctx));
                Vec::new()
            }
            Ok(docs) => {
                let mut counts = reader::Counts::default();
                let ops = reader::read_documents(&docs, &root, &mut counts);
                result.counts = ItemCounts {
                    rules: counts.rules,
                    rules_disabled: counts.rules_disabled,
                    macros: counts.macros,
                    lists: counts.lists,
                };
                ops
            }
        };
        self.files.push(FileInput { name: name.to_string(), contents: text.to_string(), ops, result });
    }

    /// Apply every file in order and compile after each successfully read file (as Falco does),
    /// checking conditions and outputs with `checker` when given (`None`: parse only, every
    /// source is known).
    pub fn finish(self, checker: Option<&dyn ConditionChecker>) -> Ruleset {
        let Loader { options, files } = self;
        let contents: HashMap<String, String> =
            files.iter().map(|f| (f.name.clone(), f.contents.clone())).collect();
        let get = |name: &str| contents.get(name).map(|s| s.as_str());
        let env = collector::ApplyEnv { engine_version: options.engine_version, checker };
        let cenv = compile::CompileEnv { checker, contents: &get };
        let mut col = collector::Collector::default();
        let mut results = Vec::with_capacity(files.len());
        let mut last: Option<compile::CompileOutput> = None;
        for f in files {
            let mut result = f.result;
            if result.errors.is_empty() {
                let mut failed = false;
                for op in f.ops {
                    if let Err(e) = col.apply(op, &env, &mut result.warnings) {
                        result.errors.push(e);
                        failed = true;
                        break;
                    }
                }
                if !failed {
                    last = Some(compile::compile(&col, &cenv, &mut result.errors, &mut result.warnings));
                }
            }
            results.push(result);
        }

        // plugin requirements, checked once over everything loaded
        if let Some(plugins) = &options.plugins {
            for req in &col.plugin_requirements {
                if let Some(msg) = check_plugin_requirement(plugins, &req.alternatives) {
                    let file = req.ctx.file_name().to_string();
                    if let Some(r) = results.iter_mut().rev().find(|r| r.name == file) {
                        r.errors.push(Diagnostic::error(ErrorCode::Validate, msg, req.ctx.clone()));
                    }
                }
            }
        }

        let out = last.unwrap_or(compile::CompileOutput {
            rules: Vec::new(),
            macros: Vec::new(),
            lists: Vec::new(),
        });
        Ruleset {
            rules: out.rules,
            macros: out.macros,
            lists: out.lists,
            results,
            required_engine_version: col.required_engine_version.as_ref().map(|(v, _)| *v),
            required_plugin_versions: col
                .plugin_requirements
                .iter()
                .map(|r| PluginRequirement {
                    alternatives: r.alternatives.clone(),
                    location: r.ctx.location().cloned().unwrap_or_default(),
                })
                .collect(),
            contents,
        }
    }
}

/// `None` when satisfied, else the error message.
fn check_plugin_requirement(plugins: &[PluginVersion], alternatives: &[(String, String)]) -> Option<String> {
    for (name, version) in alternatives {
        let want = reader::parse_version(version)?;
        if let Some(p) = plugins.iter().find(|p| &p.name == name) {
            if let Some(have) = reader::parse_version(&p.version) {
                if collector::compatible(have, want) {
                    return None;
                }
            }
        }
    }
    if let [(name, version)] = alternatives {
        return Some(match plugins.iter().find(|p| &p.name == name) {
            None => format!("Plugin '{name}' is required but not loaded"),
            Some(p) => format!(
                "Plugin '{}' version '{}' is not compatible with required plugin version '{}'",
                name, p.version, version
            ),
        });
    }
    let list: Vec<String> = alternatives.iter().map(|(n, v)| format!("{n} (>= {v})")).collect();
    Some(format!("Plugin requirement not satisfied, must load one of: {}", list.join(", ")))
}

/// The outcome of loading: compiled rules, macros, lists and one [`LoadResult`] per file.
#[derive(Debug, Clone)]
pub struct Ruleset {
    /// Rules in order of first definition (disabled rules included, rules of unknown sources not).
    pub rules: Vec<Rule>,
    pub macros: Vec<MacroDef>,
    pub lists: Vec<ListDef>,
    pub results: Vec<LoadResult>,
    /// Highest `required_engine_version` seen.
    pub required_engine_version: Option<(u32, u32, u32)>,
    pub required_plugin_versions: Vec<PluginRequirement>,
    contents: HashMap<String, String>,
}

impl Ruleset {
    pub fn has_errors(&self) -> bool {
        self.results.iter().any(|r| !r.errors.is_empty())
    }
    pub fn has_warnings(&self) -> bool {
        self.results.iter().any(|r| !r.warnings.is_empty())
    }
    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }
    pub fn result(&self, file: &str) -> Option<&LoadResult> {
        self.results.iter().find(|r| r.name == file)
    }
    /// Every error of every file.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.results.iter().flat_map(|r| r.errors.iter())
    }
    /// Every warning of every file.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.results.iter().flat_map(|r| r.warnings.iter())
    }

    /// Falco's `-V` JSON: `{"falco_load_results":[{name, successful, errors, warnings}]}`.
    pub fn to_json_value(&self) -> serde_json::Value {
        let get = |name: &str| self.contents.get(name).map(|s| s.as_str());
        diag::results_to_json(&self.results, &get)
    }

    pub fn to_json(&self) -> String {
        self.to_json_value().to_string()
    }

    /// Human rendering: per file `NAME: Ok|Invalid`, then each diagnostic as
    /// `file:line:col: error CODE: rule 'X': message` with a snippet and caret.
    pub fn to_text(&self) -> String {
        let get = |name: &str| self.contents.get(name).map(|s| s.as_str());
        let mut out = String::new();
        for r in &self.results {
            let status = if !r.successful() {
                "Invalid"
            } else if r.warnings.is_empty() {
                "Ok"
            } else {
                "Ok, with warnings"
            };
            out.push_str(&format!("{}: {}\n", r.name, status));
            for d in &r.errors {
                out.push_str(&diag::render_text(d, "error", &get));
            }
            for d in &r.warnings {
                out.push_str(&diag::render_text(d, "warning", &get));
            }
        }
        out
    }
}

/// A YAML syntax error worded as Falco reports it (its parser is yaml-cpp): `yaml-cpp: error at
/// line L, column C: MESSAGE`, 1-based, with yaml-cpp's message for the same mistake where one
/// corresponds (tools that parse `falco -V` output match on these), else the parser's own.
pub(crate) fn yaml_cpp_message(parser_message: &str, mark: yaml::Mark) -> String {
    let m = parser_message;
    let has = |s: &str| m.contains(s);
    let text = if has("mapping values are not allowed") {
        "illegal map value".to_string()
    } else if has("flow sequence") || has("expected ',' or ']'") {
        "end of sequence flow not found".to_string()
    } else if has("flow mapping") || has("expected ',' or '}'") {
        "end of map flow not found".to_string()
    } else if has("block mapping") {
        "end of map not found".to_string()
    } else if has("block collection") || has("expected '-' indicator") {
        "end of sequence not found".to_string()
    } else if has("block sequence entries are not allowed") {
        "illegal block entry".to_string()
    } else if has("tab") && has("indentation") {
        "illegal tab when looking for indentation".to_string()
    } else if has("quoted scalar") && has("end of stream") {
        "illegal EOF in scalar".to_string()
    } else if has("unknown escape character") {
        let c = m.rsplit(' ').next().unwrap_or("").trim_matches(|c| c == '\'' || c == '"');
        if c.chars().count() == 1 {
            format!("unknown escape character: {c}")
        } else {
            "unknown escape character".to_string()
        }
    } else if has("while scanning an alias") {
        "illegal character found while scanning alias".to_string()
    } else if has("while scanning an anchor") {
        "illegal character found while scanning anchor".to_string()
    } else if has("undefined anchor") || has("unknown anchor") {
        "the referenced anchor is not defined".to_string()
    } else if has("cannot start any token") {
        "unknown token".to_string()
    } else {
        m.to_string()
    };
    format!("yaml-cpp: error at line {}, column {}: {text}", mark.line + 1, mark.column + 1)
}
