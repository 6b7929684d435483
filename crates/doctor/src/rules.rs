//! Rules: they load, and which of them can never fire or never reach an output, given
//! `priority`, the sinks' `minimumpriority`, `rule_matching: first` and what is disabled.

use crate::{get_path, Context, Finding, Status};
use harrier_engine::{RuleMatching, Ruleset};
use harrier_rules::{Loader, LoaderOptions, Priority};
use serde_yaml::Value;
use std::path::PathBuf;

/// Expand directories into their `*.yaml`/`*.yml` files, sorted.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("cannot read rules directory {}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.is_file() && matches!(f.extension().and_then(|x| x.to_str()), Some("yaml" | "yml"))
                })
                .collect();
            v.sort();
            out.extend(v);
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            return Err(format!("rules file {} does not exist", p.display()));
        }
    }
    Ok(out)
}

/// The rule files doctor looks at: `-r`, else the config's `rules_files`, else the defaults.
pub fn rule_paths(cx: &Context) -> Vec<PathBuf> {
    if !cx.opts.rules.is_empty() {
        return cx.opts.rules.clone();
    }
    let from_cfg: Vec<PathBuf> = match cx.get("rules_files") {
        Some(Value::Sequence(v)) => v.iter().filter_map(|x| x.as_str()).map(PathBuf::from).collect(),
        Some(Value::String(s)) => vec![PathBuf::from(s)],
        _ => Vec::new(),
    };
    if from_cfg.is_empty() {
        cx.opts.default_rules.clone()
    } else {
        from_cfg
    }
}

/// Load and compile the rules with the config's selection applied (as `harrier run` does).
pub fn load(cx: &Context) -> Result<(Ruleset, Vec<PathBuf>), String> {
    let files = expand(&rule_paths(cx))?;
    if files.is_empty() {
        return Err("no rule files (give -r or rules_files)".into());
    }
    let mut loader = Loader::new(LoaderOptions::default());
    for f in &files {
        loader.load_file(f);
    }
    let loaded = loader.finish(Some(&harrier_engine::Checker));
    if loaded.has_errors() {
        return Err(loaded.to_text());
    }
    let (mut rs, errors) = Ruleset::compile(&loaded.rules);
    if let Some(e) = errors.first() {
        return Err(format!("{e:?}"));
    }
    if cx.str("rule_matching").as_deref() == Some("all") {
        rs.set_rule_matching(RuleMatching::All);
    }
    if let Some(Value::Sequence(items)) = cx.get("rules") {
        for item in items {
            for (verb, enable) in [("enable", true), ("disable", false)] {
                if let Some(r) = get_path(item, &format!("{verb}.rule")).and_then(Value::as_str) {
                    rs.set_enabled_by_name(r, enable);
                }
                if let Some(t) = get_path(item, &format!("{verb}.tag")).and_then(Value::as_str) {
                    rs.set_enabled_by_tag(t, enable);
                }
            }
        }
    }
    Ok((rs, files))
}

/// The config's `priority` (Falco's minimum priority; default debug).
pub fn min_priority(cx: &Context) -> Result<Priority, String> {
    match cx.str("priority") {
        None => Ok(Priority::Debug),
        Some(p) => p.parse().map_err(|_| format!("unknown priority '{p}'")),
    }
}

/// The lowest priority any output takes: Falco's local outputs take everything that passed
/// `priority`; each sink only what reaches its `minimumpriority`. `None`: no output at all.
pub fn output_floor(cx: &Context) -> Option<(Priority, String)> {
    let local =
        [("stdout_output.enabled", true), ("file_output.enabled", false), ("program_output.enabled", false)]
            .iter()
            .filter(|(k, def)| cx.bool(k).unwrap_or(*def))
            .map(|(k, _)| k.trim_end_matches(".enabled"))
            .next();
    if let Some(l) = local {
        return Some((Priority::Debug, l.to_string()));
    }
    let mut best: Option<(Priority, String)> = None;
    let mut consider = |name: String, block: &Value| {
        let p = get_path(block, "minimumpriority")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .and_then(|s| s.parse().ok())
            .unwrap_or(Priority::Debug);
        // Priority orders emergency < … < debug (most severe first): the floor is the largest.
        if best.as_ref().is_none_or(|(b, _)| p > *b) {
            best = Some((p, name));
        }
    };
    // Every output `harrier run` would start (the sinks crate's own list: top-level sections,
    // the webhook family, AWS, OTLP, MQTT, PagerDuty… and `sinks:` entries) with its route's
    // minimumpriority. When the outputs cannot all be built, the sink check reports why; the
    // floor then falls back to the blocks doctor can read.
    if let Some(outs) = crate::sinks::enabled(cx) {
        for o in outs {
            if best.as_ref().is_none_or(|(b, _)| o.route.min_priority > *b) {
                best = Some((o.route.min_priority, o.route.name.clone()));
            }
        }
        return best;
    }
    for (name, kind, _) in crate::sinks::configured(&cx.config) {
        let block = if name.contains("(sinks[") {
            let i: usize =
                name.rsplit("sinks[").next().and_then(|x| x.trim_end_matches("])").parse().ok()).unwrap_or(0);
            get_path(&cx.config, "sinks").and_then(|v| v.as_sequence()).and_then(|v| v.get(i)).cloned()
        } else {
            get_path(&cx.config, kind.kind).cloned()
        };
        consider(name, &block.unwrap_or(Value::Null));
    }
    best
}

fn names(v: &[&str]) -> String {
    let mut s = v.iter().take(5).map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ");
    if v.len() > 5 {
        s.push_str(&format!(" and {} more", v.len() - 5));
    }
    s
}

pub fn check(cx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    let (rs, files) = match load(cx) {
        Ok(x) => x,
        Err(e) => {
            return vec![Finding::new("rules", "load", Status::Fail, e).fix(
                "`harrier rules validate FILE` shows every error with its line; fix them or remove the file",
            )]
        }
    };
    let total = rs.rules().len();
    let enabled: Vec<_> = rs.rules().iter().filter(|r| r.enabled).collect();
    out.push(Finding::new(
        "rules",
        "load",
        Status::Ok,
        format!("{total} rules from {} file(s), {} enabled", files.len(), enabled.len()),
    ));
    let disabled: Vec<&str> = rs.rules().iter().filter(|r| !r.enabled).map(|r| r.name.as_str()).collect();
    if !disabled.is_empty() {
        out.push(Finding::new(
            "rules",
            "disabled",
            Status::Ok,
            format!(
                "{} disabled (enabled: false, tags or the rules: selection): {}",
                disabled.len(),
                names(&disabled)
            ),
        ));
    }
    if enabled.is_empty() {
        out.push(
            Finding::new("rules", "enabled", Status::Fail, "no rule is enabled: nothing can ever fire").fix(
                "check the `rules:` selection and -t/-T tags; `harrier rules list` shows what is enabled",
            ),
        );
        return out;
    }
    let min = match min_priority(cx) {
        Ok(p) => p,
        Err(e) => {
            out.push(Finding::new("rules", "priority", Status::Fail, e).fix("use emergency … debug"));
            return out;
        }
    };
    // Priority orders most severe first: a rule fires when its priority <= min.
    let below: Vec<&str> = enabled.iter().filter(|r| r.priority > min).map(|r| r.name.as_str()).collect();
    let most = enabled.iter().map(|r| r.priority).min().unwrap_or(Priority::Debug);
    if below.len() == enabled.len() {
        out.push(
            Finding::new(
                "rules",
                "priority",
                Status::Fail,
                format!(
                    "priority: {} is above every enabled rule (the most severe is {}): no rule can fire",
                    min.as_str().to_lowercase(),
                    most.as_str().to_lowercase()
                ),
            )
            .fix(format!(
                "lower `priority` to {} or below (e.g. -o priority={})",
                most.as_str().to_lowercase(),
                most.as_str().to_lowercase()
            )),
        );
    } else if !below.is_empty() {
        out.push(
            Finding::new(
                "rules",
                "priority",
                Status::Warn,
                format!(
                    "priority: {} filters out {} enabled rule(s): {}",
                    min.as_str().to_lowercase(),
                    below.len(),
                    names(&below)
                ),
            )
            .fix("lower `priority` if those alerts matter"),
        );
    } else {
        out.push(Finding::new(
            "rules",
            "priority",
            Status::Ok,
            format!("priority: {} lets every enabled rule fire", min.as_str().to_lowercase()),
        ));
    }
    // Reaching an output.
    match output_floor(cx) {
        None => out.push(
            Finding::new("rules", "outputs", Status::Fail, "no output is enabled: alerts go nowhere")
                .fix("enable stdout_output, file_output, program_output or a sink"),
        ),
        Some((floor, who)) => {
            let lost: Vec<&str> = enabled
                .iter()
                .filter(|r| r.priority <= min && r.priority > floor)
                .map(|r| r.name.as_str())
                .collect();
            let firing = enabled.iter().filter(|r| r.priority <= min).count();
            if firing > 0 && lost.len() == firing {
                out.push(
                    Finding::new(
                        "rules",
                        "outputs",
                        Status::Fail,
                        format!(
                            "minimumpriority: the most permissive output ({who}) takes {} and above; every rule that \
                             can fire is below it: alerts are silently dropped",
                            floor.as_str().to_lowercase()
                        ),
                    )
                    .fix("lower the sinks' minimumpriority, or enable stdout_output"),
                );
            } else if !lost.is_empty() {
                out.push(
                    Finding::new(
                        "rules",
                        "outputs",
                        Status::Warn,
                        format!(
                            "{} rule(s) fire but reach no output (below every minimumpriority): {}",
                            lost.len(),
                            names(&lost)
                        ),
                    )
                    .fix("lower a sink's minimumpriority, or enable stdout_output"),
                );
            } else {
                out.push(Finding::new(
                    "rules",
                    "outputs",
                    Status::Ok,
                    format!("every firing rule reaches an output ({who})"),
                ));
            }
        }
    }
    // rule_matching: first — a rule whose condition is an earlier enabled rule's never wins.
    if cx.str("rule_matching").as_deref() != Some("all") {
        let mut seen: std::collections::HashMap<(&str, &str), &str> = Default::default();
        let mut shadowed = Vec::new();
        for r in &enabled {
            let key = (r.source.name(), r.condition_text.as_str());
            match seen.get(&key) {
                Some(first) => shadowed.push(format!("'{}' (same condition as '{first}')", r.name)),
                None => {
                    seen.insert(key, r.name.as_str());
                }
            }
        }
        if !shadowed.is_empty() {
            out.push(
                Finding::new(
                    "rules",
                    "rule_matching",
                    Status::Warn,
                    format!(
                        "rule_matching: first: {} rule(s) can never fire: {}",
                        shadowed.len(),
                        shadowed.join(", ")
                    ),
                )
                .fix("set rule_matching: all, or remove the duplicates"),
            );
        }
    }
    out
}
