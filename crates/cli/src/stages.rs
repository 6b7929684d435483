//! The stages behind the detector's port (see `harrier_pipeline::port`), built from the
//! configuration, in order: folding (`fold.*`), then the last port (outputs and sinks).

use crate::config::{ConfigError, RawConfig, Settings};
use harrier_fold::{Fold, FoldConfig, RuleFold};
use harrier_pipeline::{AlertPort, Stages};

/// `fold:` — `enabled` (default false), `window` (60s), `keys` (output fields; default
/// container.id and proc.exepath), `max_groups`, and `rules:` entries `{rule, keys, window, fold}`.
pub fn fold_config(raw: &RawConfig) -> Result<Option<FoldConfig>, ConfigError> {
    if !raw.bool("fold.enabled", false)? {
        return Ok(None);
    }
    let mut cfg = FoldConfig::default();
    if let Some(w) = raw.string("fold.window")? {
        cfg.window = harrier_fold::parse_duration(&w)
            .map_err(|e| ConfigError(format!("config key 'fold.window': {e}")))?;
    }
    if raw.get("fold.keys").is_some() {
        cfg.keys = raw.strings("fold.keys")?;
    }
    if let Some(n) = raw.string("fold.max_groups")? {
        cfg.max_groups = n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            ConfigError(format!("config key 'fold.max_groups': expected a positive number, got '{n}'"))
        })?;
    }
    if let Some(list) = raw.get("fold.rules") {
        let items = list.as_sequence().ok_or_else(|| {
            ConfigError("config key 'fold.rules': expected a list of {rule, keys, window, fold}".into())
        })?;
        for (i, item) in items.iter().enumerate() {
            let key = format!("fold.rules[{i}]");
            let one = RawConfig::from_value(item.clone());
            let rule = one.string("rule")?.ok_or_else(|| {
                ConfigError(format!("config key '{key}': 'rule' (a rule name, * wildcards) is required"))
            })?;
            let keys = if one.get("keys").is_some() { Some(one.strings("keys")?) } else { None };
            let window = match one.string("window")? {
                Some(w) => Some(
                    harrier_fold::parse_duration(&w)
                        .map_err(|e| ConfigError(format!("config key '{key}.window': {e}")))?,
                ),
                None => None,
            };
            cfg.rules.push(RuleFold { rule, keys, window, fold: one.bool("fold", true)? });
        }
    }
    Ok(Some(cfg))
}

/// The detector's port: the configured stages, then `last`.
pub fn build<P: AlertPort>(s: &Settings, last: P) -> Stages<P> {
    build_with(s, last, Vec::new())
}

/// The detector's port: `first` (e.g. the metrics counter, which sees every match), the
/// configured stages, then `last`.
pub fn build_with<P: AlertPort>(
    s: &Settings,
    last: P,
    first: Vec<Box<dyn harrier_pipeline::AlertStage>>,
) -> Stages<P> {
    let mut stages = Stages::new(last);
    for st in first {
        stages.push(st);
    }
    if let Some(cfg) = &s.fold {
        stages.push(Box::new(Fold::new(cfg.clone())));
    }
    stages
}
