//! The stages behind the detector's port (see `harrier_pipeline::port`), built from the
//! configuration, in order: response (`response.*`), folding (`fold.*`), then the last port
//! (outputs and sinks). Response comes first so that it sees every alert at once (it has its own
//! deduplication and rate limits); its outcome alerts go through folding like any other.

use crate::config::{ConfigError, RawConfig, Settings};
use harrier_fold::{Fold, FoldConfig, RuleFold};
use harrier_pipeline::{AlertPort, Stages};
use harrier_respond::stage::{ResponseStage, StageConfig};
use harrier_respond::Responder;
use std::sync::{Arc, Mutex, Weak};

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

/// `response:` — `rules_files` (Talon-format response rules) and the safety settings read by
/// `harrier_respond::config::apply_response_block`.
pub fn response_config(raw: &RawConfig) -> Result<Option<StageConfig>, ConfigError> {
    let Some(v) = raw.get("response") else { return Ok(None) };
    let json = serde_json::to_value(v).map_err(|e| ConfigError(format!("config key 'response': {e}")))?;
    StageConfig::from_json(&json, "config").map_err(|e| ConfigError(e.replace("config: '", "config key '")))
}

/// Responders of the running stages, for SIGHUP (weak: a finished run lets them go).
static RESPONDERS: Mutex<Vec<(Weak<Responder>, StageConfig)>> = Mutex::new(Vec::new());

/// Load the response rules of `s` (at start: an invalid file is an error, nothing runs).
pub fn check_response(s: &Settings) -> Result<(), String> {
    match &s.response {
        Some(cfg) => cfg.load_rules().map(|_| ()).map_err(|e| e.to_string()),
        None => Ok(()),
    }
}

/// SIGHUP: load the response rules files again; invalid new rules are reported and the old
/// ones stay.
pub fn reload_response() {
    let list = RESPONDERS.lock().unwrap_or_else(|e| e.into_inner());
    for (w, cfg) in list.iter() {
        let Some(r) = w.upgrade() else { continue };
        match cfg.load_rules() {
            Ok(set) => {
                tracing::info!("response rules reloaded ({} rules)", set.rules.len());
                r.set_rules(set);
            }
            Err(e) => tracing::error!(
                "the reloaded response rules are invalid; the previous ones stay active:\n{e}"
            ),
        }
    }
}

/// The port for replayed captures: response rules run in dry run (a capture's processes and
/// files are not this machine's now), outcomes still reported.
pub fn build_replay<P: AlertPort>(s: &Settings, last: P) -> Stages<P> {
    build_inner(s, last, Vec::new(), true)
}

/// The detector's port: `first` (e.g. the metrics counter, which sees every match), the
/// configured stages, then `last`.
pub fn build_with<P: AlertPort>(
    s: &Settings,
    last: P,
    first: Vec<Box<dyn harrier_pipeline::AlertStage>>,
) -> Stages<P> {
    build_inner(s, last, first, false)
}

fn build_inner<P: AlertPort>(
    s: &Settings,
    last: P,
    first: Vec<Box<dyn harrier_pipeline::AlertStage>>,
    replay: bool,
) -> Stages<P> {
    let mut stages = Stages::new(last);
    for st in first {
        stages.push(st);
    }
    if let Some(cfg) = &s.response {
        let mut cfg = cfg.clone();
        cfg.config.dry_run |= replay;
        let cfg = &cfg;
        match cfg.load_rules() {
            Ok(set) => {
                for w in &set.warnings {
                    tracing::warn!("{w}");
                }
                let n = set.rules.len();
                let responder = Arc::new(Responder::new(set, cfg.config.clone()));
                if !replay {
                    *CAPTURES.lock().unwrap_or_else(|e| e.into_inner()) = Some(responder.captures().clone());
                }
                RESPONDERS
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((Arc::downgrade(&responder), cfg.clone()));
                tracing::info!(rules = n, dry_run = cfg.config.dry_run, "response stage ready");
                stages.push(Box::new(ResponseStage::new(responder)));
            }
            // check_response ran at start; a file changed since is reported, detection goes on.
            Err(e) => tracing::error!("response rules not loaded, no response stage: {e}"),
        }
    }
    if let Some(cfg) = &s.fold {
        stages.push(Box::new(Fold::new(cfg.clone())));
    }
    stages
}

/// The `node:capture` registry of the last live response stage built, for [`attach_capture`].
static CAPTURES: Mutex<Option<harrier_respond::node::capture::Captures>> = Mutex::new(None);

/// Let the response stage's `node:capture` actions see the detector's events (live runs).
pub fn attach_capture<P: AlertPort>(det: &mut harrier_pipeline::Detector<P>) {
    if let Some(c) = CAPTURES.lock().unwrap_or_else(|e| e.into_inner()).take() {
        det.add_observer(Box::new(c.tap()));
    }
}

/// `profile:` — workload profiles and the learned scorer (`harrier_profile::ProfileConfig`).
pub fn profile_config(raw: &RawConfig) -> Result<Option<harrier_profile::ProfileConfig>, ConfigError> {
    let Some(v) = raw.get("profile") else { return Ok(None) };
    let json = serde_json::to_value(v).map_err(|e| ConfigError(format!("config key 'profile': {e}")))?;
    harrier_profile::ProfileConfig::from_json(&json).map_err(ConfigError)
}

/// Attach the profile and scorer observer to a detector when `profile:` enables it. A damaged
/// profile or model file is reported and that part stays off; detection runs regardless.
/// `lossless`: replays wait for the worker instead of dropping observations.
pub fn attach_profile<P: AlertPort>(
    s: &Settings,
    det: &mut harrier_pipeline::Detector<P>,
    rules: Arc<harrier_engine::Ruleset>,
    hostname: String,
    lossless: bool,
) -> Option<Arc<harrier_profile::stage::Counters>> {
    let mut cfg = s.profile.clone()?;
    cfg.lossless |= lossless;
    let (loaded, errors) = harrier_profile::load(&cfg);
    for e in &errors {
        tracing::error!("{e}");
    }
    if loaded.profiles.is_none() && loaded.model.is_none() {
        return None;
    }
    tracing::info!(
        profiles = loaded.profiles.is_some(),
        scorer = loaded.model.is_some(),
        learn_secs = cfg.learn.as_secs(),
        "profile stage ready"
    );
    let stage = harrier_profile::LearnedStage::start(&cfg, loaded, rules, hostname);
    let counters = stage.counters.clone();
    det.set_observer(Box::new(stage));
    Some(counters)
}
