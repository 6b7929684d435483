//! The collector: applies reader operations in load order (definitions, appends, overrides,
//! enabling), keeping Falco's index/visibility bookkeeping used for macro and list visibility.

use std::collections::HashMap;

use crate::diag::{Context, Diagnostic, ErrorCode, WarningCode};
use crate::reader::{
    Entry, ExceptionInfo, ListInfo, MacroInfo, Op, PluginRequirement, RuleInfo, RuleUpdate, Segment,
    ERROR_NO_PREVIOUS_LIST, ERROR_NO_PREVIOUS_MACRO, ERROR_NO_PREVIOUS_RULE_APPEND,
    ERROR_NO_PREVIOUS_RULE_REPLACE,
};
use crate::ConditionChecker;

/// Items by name, in order of first definition.
#[derive(Debug, Clone)]
pub(crate) struct Indexed<T> {
    pub items: Vec<T>,
    by_name: HashMap<String, usize>,
}

impl<T> Default for Indexed<T> {
    fn default() -> Self {
        Indexed { items: Vec::new(), by_name: HashMap::new() }
    }
}

impl<T> Indexed<T> {
    pub fn get(&self, name: &str) -> Option<&T> {
        self.by_name.get(name).map(|&i| &self.items[i])
    }
    pub fn get_mut(&mut self, name: &str) -> Option<&mut T> {
        self.by_name.get(name).map(|&i| &mut self.items[i])
    }
    pub fn position(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }
    /// Insert or replace in place (keeping the first-definition slot).
    pub fn upsert(&mut self, name: &str, item: T) {
        match self.by_name.get(name) {
            Some(&i) => self.items[i] = item,
            None => {
                self.by_name.insert(name.to_string(), self.items.len());
                self.items.push(item);
            }
        }
    }
}

/// The supported comparison operators (libsinsp's list, used to validate exception `comps`).
pub(crate) const OPERATORS: &[&str] = &[
    "=",
    "==",
    "!=",
    "<=",
    ">=",
    "<",
    ">",
    "contains",
    "icontains",
    "bcontains",
    "glob",
    "iglob",
    "bstartswith",
    "startswith",
    "endswith",
    "regex",
    "exists",
    "in",
    "intersects",
    "pmatch",
];
pub(crate) const LIST_OPERATORS: &[&str] = &["in", "intersects", "pmatch"];

#[derive(Default)]
pub(crate) struct Collector {
    cur_index: u32,
    pub lists: Indexed<ListInfo>,
    pub macros: Indexed<MacroInfo>,
    pub rules: Indexed<RuleInfo>,
    pub required_engine_version: Option<((u32, u32, u32), Context)>,
    pub plugin_requirements: Vec<PluginRequirement>,
}

pub(crate) struct ApplyEnv<'a> {
    pub engine_version: (u32, u32, u32),
    pub checker: Option<&'a dyn ConditionChecker>,
}

impl ApplyEnv<'_> {
    fn knows_source(&self, source: &str) -> bool {
        self.checker.is_none_or(|c| c.knows_source(source))
    }
}

fn vfail(msg: impl Into<String>, ctx: &Context) -> Diagnostic {
    Diagnostic::error(ErrorCode::Validate, msg, ctx.clone())
}

fn version_str(v: (u32, u32, u32)) -> String {
    format!("{}.{}.{}", v.0, v.1, v.2)
}

/// libsinsp `compatible_with`: same major, and not older.
pub(crate) fn compatible(have: (u32, u32, u32), want: (u32, u32, u32)) -> bool {
    have.0 == want.0 && have >= want
}

/// Fill default comps and check fields/comps shapes (Falco's `validate_exception_info`).
pub(crate) fn validate_exception(
    ex: &mut ExceptionInfo,
    source: Option<&str>,
    env: &ApplyEnv<'_>,
) -> Result<(), Diagnostic> {
    let field_ok = |f: &str| match (source, env.checker) {
        (Some(src), Some(c)) => c.is_field_defined(src, f),
        _ => true,
    };
    if ex.fields.is_list {
        if !ex.comps.is_valid() {
            ex.comps = Entry {
                is_list: true,
                item: String::new(),
                items: ex.fields.items.iter().map(|_| Entry::scalar("=")).collect(),
            };
        }
        if ex.fields.items.len() != ex.comps.items.len() {
            return Err(vfail("Fields and comps lists must have equal length", &ex.ctx));
        }
        for c in &ex.comps.items {
            if !OPERATORS.contains(&c.item.as_str()) {
                return Err(vfail(format!("'{}' is not a supported comparison operator", c.item), &ex.ctx));
            }
        }
        for f in &ex.fields.items {
            if !field_ok(&f.item) {
                return Err(vfail(format!("'{}' is not a supported filter field", f.item), &ex.ctx));
            }
        }
    } else {
        if !ex.comps.is_valid() {
            ex.comps = Entry::scalar("in");
        }
        if ex.comps.is_list {
            return Err(vfail("Fields and comps must both be strings", &ex.ctx));
        }
        if !LIST_OPERATORS.contains(&ex.comps.item.as_str()) {
            return Err(vfail(
                "When fields is a single value, comps must be one of (in, pmatch, intersects)",
                &ex.ctx,
            ));
        }
        if !field_ok(&ex.fields.item) {
            return Err(vfail(format!("'{}' is not a supported filter field", ex.fields.item), &ex.ctx));
        }
    }
    Ok(())
}

impl Collector {
    fn next_index(&mut self) -> u32 {
        let i = self.cur_index;
        self.cur_index += 1;
        i
    }

    /// Apply one operation. Warnings go to `warnings`; an error stops the file.
    pub fn apply(
        &mut self,
        op: Op,
        env: &ApplyEnv<'_>,
        warnings: &mut Vec<Diagnostic>,
    ) -> Result<(), Diagnostic> {
        match op {
            Op::Warn(d) => warnings.push(d),
            Op::Error(d) => return Err(d),
            Op::EngineVersion { version, ctx } => {
                if !compatible(env.engine_version, version) {
                    return Err(vfail(
                        format!(
                            "Rules require engine version {}, but engine version is {}",
                            version_str(version),
                            version_str(env.engine_version)
                        ),
                        &ctx,
                    ));
                }
                if self.required_engine_version.as_ref().is_none_or(|(v, _)| *v < version) {
                    self.required_engine_version = Some((version, ctx));
                }
            }
            Op::PluginVersions(req) => {
                let mut seen: Vec<&str> = Vec::new();
                for (name, version) in &req.alternatives {
                    if crate::reader::parse_version(version).is_none() {
                        return Err(vfail(
                            format!("Invalid required version '{version}' for plugin '{name}'"),
                            &req.ctx,
                        ));
                    }
                    if seen.contains(&name.as_str()) {
                        return Err(vfail(
                            format!("Defined multiple alternative version requirements for plugin '{name}'"),
                            &req.ctx,
                        ));
                    }
                    seen.push(name);
                }
                self.plugin_requirements.push(req);
            }
            Op::DefineList(mut info) => {
                let id = self.next_index();
                match self.lists.get(&info.name) {
                    Some(prev) => info.index = prev.index,
                    None => info.index = id,
                }
                info.visibility = id;
                let name = info.name.clone();
                self.lists.upsert(&name, info);
            }
            Op::AppendList(info) => {
                if self.lists.get(&info.name).is_none() {
                    return Err(vfail(ERROR_NO_PREVIOUS_LIST, &info.ctx));
                }
                let id = self.next_index();
                if let Some(prev) = self.lists.get_mut(&info.name) {
                    prev.items.extend(info.items);
                    prev.visibility = id;
                }
            }
            Op::DefineMacro(mut info) => {
                let id = self.next_index();
                match self.macros.get(&info.name) {
                    Some(prev) => info.index = prev.index,
                    None => info.index = id,
                }
                info.visibility = id;
                let name = info.name.clone();
                self.macros.upsert(&name, info);
            }
            Op::AppendMacro(info) => {
                if self.macros.get(&info.name).is_none() {
                    return Err(vfail(ERROR_NO_PREVIOUS_MACRO, &info.ctx));
                }
                let id = self.next_index();
                if let Some(prev) = self.macros.get_mut(&info.name) {
                    prev.cond.push(' ');
                    let start = prev.cond.len();
                    prev.cond.push_str(&info.cond);
                    for s in info.segments {
                        prev.segments.push(Segment { start: start + s.start, ..s });
                    }
                    prev.visibility = id;
                }
            }
            Op::DefineRule(info) => {
                let mut info = *info;
                if let Some(prev) = self.rules.get(&info.name) {
                    if prev.source != info.source {
                        return Err(vfail("Rule has been re-defined with a different source", &info.ctx));
                    }
                }
                let known = env.knows_source(&info.source);
                if !known {
                    info.unknown_source = true;
                    warnings.push(Diagnostic::warning(
                        WarningCode::UnknownSource,
                        format!("Unknown source {}, skipping", info.source),
                        info.ctx.clone(),
                    ));
                }
                let source = info.source.clone();
                for ex in &mut info.exceptions {
                    if !ex.fields.is_valid() {
                        return Err(vfail(
                            "Rule exception item must have fields property with a list of fields",
                            &ex.ctx,
                        ));
                    }
                    validate_exception(ex, known.then_some(source.as_str()), env)?;
                }
                let id = self.next_index();
                match self.rules.get(&info.name) {
                    Some(prev) => info.index = prev.index,
                    None => info.index = id,
                }
                info.visibility = id;
                let name = info.name.clone();
                self.rules.upsert(&name, info);
            }
            Op::AppendRule(v) => self.append_rule(*v, env)?,
            Op::ReplaceRule(v) => self.replace_rule(*v, env)?,
            Op::EnableRule { name, enabled, ctx } => match self.rules.get_mut(&name) {
                Some(prev) => prev.enabled = enabled,
                None => {
                    return Err(vfail("Rule has 'enabled' key but no rule by that name already exists", &ctx))
                }
            },
        }
        Ok(())
    }

    fn append_rule(&mut self, v: RuleUpdate, env: &ApplyEnv<'_>) -> Result<(), Diagnostic> {
        let Some(pos) = self.rules.position(&v.name) else {
            return Err(vfail(ERROR_NO_PREVIOUS_RULE_APPEND, &v.ctx));
        };
        if !v.has_any_value() {
            return Err(vfail("Appended rule must have exceptions or condition property", &v.ctx));
        }
        let id = self.next_index();
        let prev = &mut self.rules.items[pos];
        let source = (!prev.unknown_source).then(|| prev.source.clone());
        if let Some((cond, span, _)) = v.cond {
            if !cond.is_empty() {
                prev.cond.push(' ');
                let start = prev.cond.len();
                prev.cond.push_str(&cond);
                if let Some(span) = span {
                    prev.segments.push(Segment { start, len: cond.len(), span });
                }
            }
        }
        if let Some(output) = v.output.filter(|s| !s.is_empty()) {
            prev.output.push(' ');
            prev.output.push_str(&output);
        }
        if let Some(desc) = v.desc.filter(|s| !s.is_empty()) {
            prev.desc.push(' ');
            prev.desc.push_str(&desc);
        }
        if let Some(tags) = v.tags {
            prev.tags.extend(tags);
        }
        if let Some(exceptions) = v.exceptions {
            for mut ex in exceptions {
                match prev.exceptions.iter_mut().find(|e| e.name == ex.name) {
                    None => {
                        if !ex.fields.is_valid() {
                            return Err(vfail(
                                "Rule exception must have fields property with a list of fields",
                                &ex.ctx,
                            ));
                        }
                        if ex.values.is_empty() {
                            return Err(vfail(
                                "Rule exception must have values property with a list of values",
                                &ex.ctx,
                            ));
                        }
                        validate_exception(&mut ex, source.as_deref(), env)?;
                        prev.exceptions.push(ex);
                    }
                    Some(prev_ex) => {
                        if ex.fields.is_valid() {
                            return Err(vfail(
                                "Can not append exception fields to existing exception, only values",
                                &ex.ctx,
                            ));
                        }
                        if ex.comps.is_valid() {
                            return Err(vfail(
                                "Can not append exception comps to existing exception, only values",
                                &ex.ctx,
                            ));
                        }
                        prev_ex.values.extend(ex.values);
                    }
                }
            }
        }
        prev.visibility = id;
        Ok(())
    }

    fn replace_rule(&mut self, v: RuleUpdate, env: &ApplyEnv<'_>) -> Result<(), Diagnostic> {
        let Some(pos) = self.rules.position(&v.name) else {
            return Err(vfail(ERROR_NO_PREVIOUS_RULE_REPLACE, &v.ctx));
        };
        if !v.has_any_value() {
            return Err(vfail("The rule must have at least one field that can be replaced", &v.ctx));
        }
        let id = self.next_index();
        let prev = &mut self.rules.items[pos];
        let source = (!prev.unknown_source).then(|| prev.source.clone());
        if let Some((cond, span, cctx)) = v.cond {
            prev.segments =
                span.map(|span| vec![Segment { start: 0, len: cond.len(), span }]).unwrap_or_default();
            prev.cond = cond;
            prev.cond_ctx = cctx;
        }
        if let Some(o) = v.output {
            prev.output = o;
        }
        if let Some(d) = v.desc {
            prev.desc = d;
        }
        if let Some(t) = v.tags {
            prev.tags = t;
        }
        if let Some(mut exs) = v.exceptions {
            // Falco does not re-validate replaced exceptions; we do, so that default comps exist.
            for ex in &mut exs {
                if !ex.fields.is_valid() {
                    return Err(vfail(
                        "Rule exception item must have fields property with a list of fields",
                        &ex.ctx,
                    ));
                }
                validate_exception(ex, source.as_deref(), env)?;
            }
            prev.exceptions = exs;
        }
        if let Some(p) = v.priority {
            prev.priority = p;
        }
        if let Some(e) = v.enabled {
            prev.enabled = e;
        }
        if let Some(w) = v.warn_evttypes {
            prev.warn_evttypes = w;
        }
        if let Some(s) = v.skip_if_unknown_filter {
            prev.skip_if_unknown_filter = s;
        }
        prev.visibility = id;
        Ok(())
    }
}
