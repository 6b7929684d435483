//! Diagnostics: Falco's error/warning codes, item contexts, per-file load results, and their
//! JSON (`falco -V` shape) and human text renderings.

use serde::Serialize;

use crate::yaml::Mark;
use crate::Location;

/// Error codes (Falco's `falco::load_result::error_code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    FileRead,
    YamlParse,
    YamlValidate,
    CompileCondition,
    CompileOutput,
    Validate,
    Extension,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::FileRead => "LOAD_ERR_FILE_READ",
            ErrorCode::YamlParse => "LOAD_ERR_YAML_PARSE",
            ErrorCode::YamlValidate => "LOAD_ERR_YAML_VALIDATE",
            ErrorCode::CompileCondition => "LOAD_ERR_COMPILE_CONDITION",
            ErrorCode::CompileOutput => "LOAD_ERR_COMPILE_OUTPUT",
            ErrorCode::Validate => "LOAD_ERR_VALIDATE",
            ErrorCode::Extension => "LOAD_ERR_EXTENSION",
        }
    }
    /// Short description (what Falco prints as `codedesc`).
    pub fn desc(self) -> &'static str {
        match self {
            ErrorCode::FileRead => "File read error",
            ErrorCode::YamlParse => "YAML parse error",
            ErrorCode::YamlValidate => "Error validating internal structure of YAML file",
            ErrorCode::CompileCondition => "Error compiling condition",
            ErrorCode::CompileOutput => "Error compiling output",
            ErrorCode::Validate => "Error validating rule/macro/list/exception objects",
            ErrorCode::Extension => "Error in extension item",
        }
    }
}

/// Warning codes (Falco's `falco::load_result::warning_code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WarningCode {
    UnknownSource,
    UnsafeNaCheck,
    NoEvttype,
    UnknownFilter,
    UnusedMacro,
    UnusedList,
    UnknownItem,
    DeprecatedItem,
    WarningExtension,
    AppendNoValues,
    ExceptionNameNotUnique,
    InvalidMacroName,
    InvalidListName,
    CompileCondition,
    UnknownKey,
    /// Harrier's own: a rule watches some members of a syscall family but not all.
    PartialSyscallFamily,
}

impl WarningCode {
    pub fn as_str(self) -> &'static str {
        match self {
            WarningCode::UnknownSource => "LOAD_UNKNOWN_SOURCE",
            WarningCode::UnsafeNaCheck => "LOAD_UNSAFE_NA_CHECK",
            WarningCode::NoEvttype => "LOAD_NO_EVTTYPE",
            WarningCode::UnknownFilter => "LOAD_UNKNOWN_FILTER",
            WarningCode::UnusedMacro => "LOAD_UNUSED_MACRO",
            WarningCode::UnusedList => "LOAD_UNUSED_LIST",
            WarningCode::UnknownItem => "LOAD_UNKNOWN_ITEM",
            WarningCode::DeprecatedItem => "LOAD_DEPRECATED_ITEM",
            WarningCode::WarningExtension => "LOAD_WARNING_EXTENSION",
            WarningCode::AppendNoValues => "LOAD_APPEND_NO_VALUES",
            WarningCode::ExceptionNameNotUnique => "LOAD_EXCEPTION_NAME_NOT_UNIQUE",
            WarningCode::InvalidMacroName => "LOAD_INVALID_MACRO_NAME",
            WarningCode::InvalidListName => "LOAD_INVALID_LIST_NAME",
            WarningCode::CompileCondition => "LOAD_COMPILE_CONDITION",
            WarningCode::UnknownKey => "LOAD_UNKNOWN_KEY",
            WarningCode::PartialSyscallFamily => "LOAD_PARTIAL_SYSCALL_FAMILY",
        }
    }
    /// Long description (what Falco prints as `codedesc` for warnings).
    pub fn desc(self) -> &'static str {
        match self {
            WarningCode::UnknownSource => "A rule has an unknown event source. This can occur when reading rules content without having a corresponding plugin loaded, etc. The rule will be silently ignored.",
            WarningCode::UnsafeNaCheck => "Comparing a field value with <NA> is unsafe and can lead to unpredictable behavior of the rule condition. If you need to check for the existence of a field, consider using the 'exists' operator instead.",
            WarningCode::NoEvttype => "A rule condition matches too many evt.type values. This has a significant performance penalty. Make the condition more specific by adding an evt.type field or further restricting the number of evt.type values in the condition.",
            WarningCode::UnknownFilter => "A rule condition or output refers to a field or evt.type that does not exist. This is normally an error, but if a rule has a skip-if-unknown-filter property, the error is downgraded to a warning.",
            WarningCode::UnusedMacro => "A macro is defined in the rules content but is not used by any other macro or rule.",
            WarningCode::UnusedList => "A list is defined in the rules content but is not used by any other list, macro, or rule.",
            WarningCode::UnknownItem => "An unknown top-level object is in the rules content. It will be ignored.",
            WarningCode::DeprecatedItem => "A deprecated item is employed by lists, macros, or rules.",
            WarningCode::WarningExtension => "An extension item has a warning",
            WarningCode::AppendNoValues => "A rule exception is overriding/appending with no values",
            WarningCode::ExceptionNameNotUnique => "A rule is defining multiple exceptions with the same name",
            WarningCode::InvalidMacroName => "A macro is defined with an invalid name",
            WarningCode::InvalidListName => "A list is defined with an invalid name",
            WarningCode::CompileCondition => "A rule condition or output have been parsed with a warning",
            WarningCode::UnknownKey => "An item in the rules content contains an unrecognized key. The key will be ignored. This may indicate a typo or a property placed on the wrong item type.",
            WarningCode::PartialSyscallFamily => "The rule watches only part of a syscall family; attackers use the member a rule forgot",
        }
    }
}

/// The kind of item a context location refers to (Falco's `rule_loader::context::item_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemType {
    ValueFor,
    Exceptions,
    Exception,
    ExceptionValues,
    ExceptionValue,
    RulesContent,
    RulesContentItem,
    RequiredEngineVersion,
    RequiredPluginVersions,
    RequiredPluginVersionsEntry,
    RequiredPluginVersionsAlternative,
    List,
    ListItem,
    Macro,
    MacroCondition,
    Rule,
    RuleCondition,
    ConditionExpression,
    RuleOutput,
    RuleOutputExpression,
    RulePriority,
    Override,
    ExtensionItem,
}

impl ItemType {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemType::ValueFor => "value for",
            ItemType::Exceptions => "exceptions",
            ItemType::Exception => "exception",
            ItemType::ExceptionValues => "exception values",
            ItemType::ExceptionValue => "exception value",
            ItemType::RulesContent => "rules content",
            ItemType::RulesContentItem => "rules content item",
            ItemType::RequiredEngineVersion => "required_engine_version",
            ItemType::RequiredPluginVersions => "required plugin versions",
            ItemType::RequiredPluginVersionsEntry => "required plugin versions entry",
            ItemType::RequiredPluginVersionsAlternative => "required plugin versions alternative",
            ItemType::List => "list",
            ItemType::ListItem => "list item",
            ItemType::Macro => "macro",
            ItemType::MacroCondition => "macro condition",
            ItemType::Rule => "rule",
            ItemType::RuleCondition => "rule condition",
            ItemType::ConditionExpression => "condition expression",
            ItemType::RuleOutput => "rule output",
            ItemType::RuleOutputExpression => "rule output expression",
            ItemType::RulePriority => "rule priority",
            ItemType::Override => "overrides",
            ItemType::ExtensionItem => "extension item",
        }
    }
}

/// One level of a context: what item, which name, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextLocation {
    pub item_type: ItemType,
    pub item_name: String,
    /// File name, or for a condition expression a short quoted prefix of the condition (as Falco).
    pub name: String,
    /// Falco's position numbers: for YAML items 0-based line/column (yaml-cpp marks); for a
    /// condition expression the parser's 1-based line/column added to the YAML mark.
    pub line: u32,
    pub column: u32,
    pub offset: u32,
    /// The real position in the file (1-based line/column), when it could be determined.
    pub file_location: Option<Location>,
}

/// A stack of locations from the outermost (the file) to the innermost item.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Context {
    pub locations: Vec<ContextLocation>,
}

pub(crate) fn mark_location(file: &str, m: Mark) -> Location {
    Location { file: file.to_string(), line: m.line + 1, column: m.column + 1, offset: m.offset }
}

impl Context {
    /// The root context of a file.
    pub(crate) fn root(file: &str) -> Context {
        Context {
            locations: vec![ContextLocation {
                item_type: ItemType::RulesContent,
                item_name: String::new(),
                name: file.to_string(),
                line: 0,
                column: 0,
                offset: 0,
                file_location: Some(Location { file: file.to_string(), line: 1, column: 1, offset: 0 }),
            }],
        }
    }

    pub(crate) fn file_name(&self) -> &str {
        self.locations.first().map(|l| l.name.as_str()).unwrap_or("")
    }

    /// A child context for a YAML node.
    pub(crate) fn child(&self, mark: Mark, item_type: ItemType, item_name: &str) -> Context {
        let file = self.file_name().to_string();
        let mut c = self.clone();
        c.locations.push(ContextLocation {
            item_type,
            item_name: item_name.to_string(),
            name: file.clone(),
            line: mark.line,
            column: mark.column,
            offset: mark.offset,
            file_location: Some(mark_location(&file, mark)),
        });
        c
    }

    /// A child context for a position inside a condition string (Falco's "condition expression").
    /// `pos` is the parser position (0-based idx, 1-based line/col) in `condition`;
    /// `file_location` is the real file position if it could be mapped.
    pub(crate) fn condition(
        &self,
        pos: harrier_condition::Pos,
        condition: &str,
        file_location: Option<Location>,
    ) -> Context {
        let mut name = String::from("\"");
        if condition.chars().count() > 20 {
            name.extend(condition.chars().take(17));
            name.push_str("...\"");
        } else {
            name.push_str(condition);
            name.push('"');
        }
        let name = name.replace(['\n', '\r'], " ");
        let last = self.locations.last().cloned();
        let (line, column, offset) = match &last {
            Some(l) => (l.line + pos.line, l.column + pos.col, l.offset + pos.idx),
            None => (pos.line, pos.col, pos.idx),
        };
        let mut c = self.clone();
        c.locations.push(ContextLocation {
            item_type: ItemType::ConditionExpression,
            item_name: String::new(),
            name,
            line,
            column,
            offset,
            file_location,
        });
        c
    }

    /// The innermost real file location known for this context.
    pub fn location(&self) -> Option<&Location> {
        self.locations.iter().rev().find_map(|l| l.file_location.as_ref())
    }

    /// The innermost named item, e.g. `("rule", "My rule")`.
    pub fn item(&self) -> Option<(ItemType, &str)> {
        self.locations
            .iter()
            .rev()
            .find(|l| {
                !l.item_name.is_empty()
                    && matches!(
                        l.item_type,
                        ItemType::Rule
                            | ItemType::Macro
                            | ItemType::List
                            | ItemType::Exception
                            | ItemType::RequiredPluginVersionsEntry
                            | ItemType::RequiredPluginVersionsAlternative
                    )
            })
            .map(|l| (l.item_type, l.item_name.as_str()))
    }
}

/// An error or a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// `LOAD_ERR_*` or `LOAD_*`.
    pub code: &'static str,
    pub codedesc: &'static str,
    pub message: String,
    pub context: Context,
}

impl Diagnostic {
    pub(crate) fn error(code: ErrorCode, message: impl Into<String>, context: Context) -> Self {
        Diagnostic { code: code.as_str(), codedesc: code.desc(), message: message.into(), context }
    }
    pub(crate) fn warning(code: WarningCode, message: impl Into<String>, context: Context) -> Self {
        Diagnostic { code: code.as_str(), codedesc: code.desc(), message: message.into(), context }
    }
}

/// The outcome of loading one rules file.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    /// File name as given.
    pub name: String,
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
    /// Items of each kind read from this file (every `rule:` item counts, including
    /// override/append/enable-only entries).
    pub counts: ItemCounts,
}

/// How many items of each kind a file defined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ItemCounts {
    pub rules: usize,
    /// Rule items written with `enabled: false`.
    pub rules_disabled: usize,
    pub macros: usize,
    pub lists: usize,
}

impl LoadResult {
    pub fn successful(&self) -> bool {
        self.errors.is_empty()
    }
}

// ---- JSON rendering (falco -V shape) ----

#[derive(Serialize)]
struct JPosition<'a> {
    line: u32,
    column: u32,
    offset: u32,
    name: &'a str,
}

#[derive(Serialize)]
struct JLocation<'a> {
    item_name: &'a str,
    item_type: &'a str,
    position: JPosition<'a>,
}

#[derive(Serialize)]
struct JContext<'a> {
    locations: Vec<JLocation<'a>>,
    snippet: String,
}

#[derive(Serialize)]
struct JInfo<'a> {
    code: &'a str,
    codedesc: &'a str,
    message: &'a str,
    context: JContext<'a>,
}

#[derive(Serialize)]
struct JResult<'a> {
    name: &'a str,
    successful: bool,
    errors: Vec<JInfo<'a>>,
    warnings: Vec<JInfo<'a>>,
}

#[derive(Serialize)]
struct JRoot<'a> {
    falco_load_results: Vec<JResult<'a>>,
}

fn jinfo<'a>(d: &'a Diagnostic, contents: &dyn Fn(&str) -> Option<&'a str>) -> JInfo<'a> {
    JInfo {
        code: d.code,
        codedesc: d.codedesc,
        message: &d.message,
        context: JContext {
            locations: d
                .context
                .locations
                .iter()
                .map(|l| JLocation {
                    item_name: &l.item_name,
                    item_type: l.item_type.as_str(),
                    position: JPosition { line: l.line, column: l.column, offset: l.offset, name: &l.name },
                })
                .collect(),
            snippet: snippet(d, contents),
        },
    }
}

/// The line around the innermost file location, with a caret under the position.
pub(crate) fn snippet<'a>(d: &Diagnostic, contents: &dyn Fn(&str) -> Option<&'a str>) -> String {
    let Some(loc) = d.context.location() else {
        return "<No context available>\n".to_string();
    };
    let Some(text) = contents(&loc.file) else {
        return format!("<No context for file + {}>\n", loc.file);
    };
    if text.is_empty() {
        return "<No context available>\n".to_string();
    }
    let mut pos = (loc.offset as usize).min(text.len());
    while pos > 0 && (pos >= text.len() || text.as_bytes()[pos] == b'\n') {
        pos -= 1;
    }
    const HALF: usize = 80;
    let bytes = text.as_bytes();
    let mut from = pos;
    while from > 0 && bytes[from] != b'\n' && pos - from < HALF {
        from -= 1;
    }
    if bytes[from] == b'\n' {
        from += 1;
    }
    let mut to = pos;
    while to + 1 < bytes.len() && bytes[to] != b'\n' && to - pos < HALF {
        to += 1;
    }
    if bytes[to] == b'\n' && to > from {
        to -= 1;
    }
    let from = floor_char(text, from.min(pos));
    let to = ceil_char(text, (to + 1).max(from));
    let line = &text[from..to];
    if line.is_empty() {
        return "<No context available>\n".to_string();
    }
    let caret_col = text[from..floor_char(text, pos.max(from))].chars().count();
    format!("{line}\n{}^\n", " ".repeat(caret_col))
}

fn floor_char(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

pub(crate) fn results_to_json<'a>(
    results: &'a [LoadResult],
    contents: &dyn Fn(&str) -> Option<&'a str>,
) -> serde_json::Value {
    let root = JRoot {
        falco_load_results: results
            .iter()
            .map(|r| JResult {
                name: &r.name,
                successful: r.successful(),
                errors: r.errors.iter().map(|d| jinfo(d, contents)).collect(),
                warnings: r.warnings.iter().map(|d| jinfo(d, contents)).collect(),
            })
            .collect(),
    };
    serde_json::to_value(&root).unwrap_or(serde_json::Value::Null)
}

/// Human rendering of one diagnostic:
/// `file.yaml:12:5: error LOAD_ERR_COMPILE_CONDITION: rule 'X': message` + snippet with caret.
pub(crate) fn render_text<'a>(
    d: &Diagnostic,
    severity: &str,
    contents: &dyn Fn(&str) -> Option<&'a str>,
) -> String {
    let mut out = String::new();
    match d.context.location() {
        Some(l) => out.push_str(&format!("{}:{}:{}: ", l.file, l.line, l.column)),
        None => out.push_str(&format!("{}: ", d.context.file_name())),
    }
    out.push_str(&format!("{severity} {}: ", d.code));
    if let Some((t, n)) = d.context.item() {
        out.push_str(&format!("{} '{}': ", t.as_str(), n));
    }
    out.push_str(&d.message);
    out.push('\n');
    let snip = snippet(d, contents);
    if !snip.starts_with('<') {
        for l in snip.lines() {
            out.push_str("    ");
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}
