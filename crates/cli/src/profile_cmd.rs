//! `harrier profile`: review workload profiles (show, diff, accept), learn them from captures, and
//! train or try the learned scorer. The logic is in `harrier_profile`.

use clap::{Args, Subcommand};
use harrier_profile::offline::{examples, observe_capture};
use harrier_profile::{Kind, Model, ProfileSet};
use std::path::PathBuf;
use std::sync::Arc;

const DEFAULT_FILE: &str = "harrier-profiles.json";

#[derive(Subcommand, Debug)]
pub enum ProfileCmd {
    /// Print the profiles of a profile file (every workload, or one), with pending deviations.
    Show {
        /// The profile file (`profile.file` in the config).
        #[arg(long, default_value = DEFAULT_FILE)]
        file: PathBuf,
        /// Only this workload (as printed: `service:nginx.service`, `image:nginx:1.25 /usr/sbin/nginx`).
        #[arg(long)]
        workload: Option<String>,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// What changed between two profile files (`+` in NEW only, `-` in OLD only).
    Diff { old: PathBuf, new: PathBuf },
    /// Accept pending deviations into a workload's profile (all of them, a kind, or one item).
    Accept {
        #[arg(long, default_value = DEFAULT_FILE)]
        file: PathBuf,
        #[arg(long)]
        workload: String,
        /// exec, spawn, write_dir, connect, listen, family or drift.
        #[arg(long)]
        kind: Option<String>,
        #[arg(long, requires = "kind")]
        item: Option<String>,
    },
    /// Learn profiles from captures of normal activity (the whole captures are the learning
    /// window); deviations are reported from the next run that uses the file.
    Learn {
        #[arg(required = true)]
        captures: Vec<PathBuf>,
        #[arg(long, default_value = DEFAULT_FILE)]
        file: PathBuf,
    },
    /// Train the learned scorer: rule hits in attack captures are positives, everything in benign
    /// captures negatives.
    Train(TrainArgs),
    /// Score the events of captures with a model: per capture, the highest score and the events
    /// at or above the threshold (JSON lines).
    Score {
        #[arg(long)]
        model: PathBuf,
        #[arg(required = true)]
        captures: Vec<PathBuf>,
        /// Rules file or directory (default: the default rules); repeatable.
        #[arg(short = 'r', value_name = "FILE|DIR")]
        rules: Vec<PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Captures of attacks (their rule hits are the positives): one or more after the flag, and
    /// the flag repeatable.
    #[arg(long, required = true, num_args = 1..)]
    attack: Vec<PathBuf>,
    /// Captures of normal activity (negatives): one or more after the flag, and the flag repeatable.
    #[arg(long, required = true, num_args = 1..)]
    benign: Vec<PathBuf>,
    /// Where the model goes.
    #[arg(short = 'o', long, default_value = "harrier-scorer.json")]
    out: PathBuf,
    /// Alert threshold stored in the model (0 to 1).
    #[arg(long, default_value_t = 0.8)]
    threshold: f32,
    /// Rules file or directory that labels the attacks (default: the default rules); repeatable.
    #[arg(short = 'r', value_name = "FILE|DIR")]
    rules: Vec<PathBuf>,
}

pub fn run(c: ProfileCmd) -> u8 {
    match go(c) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("harrier profile: {e}");
            1
        }
    }
}

fn rules(paths: &[PathBuf]) -> Result<Arc<harrier_engine::Ruleset>, String> {
    let common = crate::Common { rules: paths.to_vec(), ..Default::default() };
    crate::replay::load_ruleset(&common).map(Arc::new)
}

fn go(c: ProfileCmd) -> Result<u8, String> {
    match c {
        ProfileCmd::Show { file, workload, json } => {
            let p = ProfileSet::load(&file).map_err(|e| e.to_string())?;
            let ws: Vec<_> =
                p.workloads.iter().filter(|(w, _)| workload.as_ref().is_none_or(|x| x == *w)).collect();
            if workload.is_some() && ws.is_empty() {
                return Err(format!("no workload '{}' in {}", workload.unwrap_or_default(), file.display()));
            }
            if json {
                let m: serde_json::Map<String, serde_json::Value> = ws
                    .iter()
                    .map(|(w, p)| (w.to_string(), serde_json::to_value(p).unwrap_or_default()))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&m).unwrap_or_default());
                return Ok(0);
            }
            for (w, wp) in ws {
                let secs = wp.learn_until_ns.saturating_sub(wp.first_seen_ns) / 1_000_000_000;
                let state = if wp.learn_until_ns > wp.last_seen_ns { "learning" } else { "enforcing" };
                println!("{w}  ({state}; window {secs} s; learned from {} events)", wp.learned_events);
                for (k, items) in &wp.items {
                    let sat = if wp.saturated.contains(k) { " (saturated: not checked)" } else { "" };
                    println!("  {} ({}){sat}", k.as_str(), items.len());
                    for i in items {
                        println!("    {i}");
                    }
                }
                for (k, items) in &wp.pending {
                    for (i, p) in items {
                        println!(
                            "  PENDING {} {i}  (seen {} times; e.g. {})  accept: harrier profile accept --workload '{w}' --kind {} --item '{i}'",
                            k.as_str(),
                            p.count,
                            p.example,
                            k.as_str()
                        );
                    }
                }
            }
            Ok(0)
        }
        ProfileCmd::Diff { old, new } => {
            let a = ProfileSet::load(&old).map_err(|e| e.to_string())?;
            let b = ProfileSet::load(&new).map_err(|e| e.to_string())?;
            let d = ProfileSet::diff(&a, &b);
            for (w, k, i, sign) in &d {
                println!("{sign} {w}  {}  {i}", k.as_str());
            }
            Ok(if d.is_empty() { 0 } else { 3 })
        }
        ProfileCmd::Accept { file, workload, kind, item } => {
            let mut p = ProfileSet::load(&file).map_err(|e| e.to_string())?;
            let kind = match kind {
                Some(k) => Some(Kind::parse(&k).ok_or_else(|| format!("unknown kind '{k}'"))?),
                None => None,
            };
            let wp = p
                .workloads
                .get_mut(&workload)
                .ok_or_else(|| format!("no workload '{workload}' in {}", file.display()))?;
            let n = wp.accept(kind, item.as_deref());
            if n == 0 {
                return Err("nothing pending matches".into());
            }
            p.save(&file).map_err(|e| e.to_string())?;
            eprintln!("harrier profile: {n} accepted into '{workload}'");
            Ok(0)
        }
        ProfileCmd::Learn { captures, file } => {
            let mut p = if file.exists() {
                ProfileSet::load(&file).map_err(|e| e.to_string())?
            } else {
                ProfileSet::new(u64::MAX)
            };
            let rs = rules(&[])?;
            p.learn_window_ns = u64::MAX;
            for w in p.workloads.values_mut() {
                w.learn_until_ns = u64::MAX;
            }
            let mut n = 0;
            for cap in &captures {
                let (obs, _) = observe_capture(cap, rs.clone())?;
                n += obs.len();
                for o in &obs {
                    p.observe(o);
                }
            }
            p.end_learning();
            p.save(&file).map_err(|e| e.to_string())?;
            eprintln!(
                "harrier profile: learned {} workloads from {n} observations into {}",
                p.workloads.len(),
                file.display()
            );
            Ok(0)
        }
        ProfileCmd::Train(a) => {
            if !(0.0..=1.0).contains(&a.threshold) {
                return Err("--threshold: expected a number from 0 to 1".into());
            }
            let rs = rules(&a.rules)?;
            let mut attack = Vec::new();
            let mut benign = Vec::new();
            for c in &a.attack {
                attack.extend(observe_capture(c, rs.clone())?.0);
            }
            for c in &a.benign {
                benign.extend(observe_capture(c, rs.clone())?.0);
            }
            let ex = examples(&attack, &benign);
            let pos = ex.iter().filter(|e| e.rule.is_some()).count();
            if pos == 0 {
                return Err("no rule matched any event of the attack captures: nothing to learn from".into());
            }
            if pos == ex.len() {
                return Err(
                    "the benign captures hold no event the scorer looks at: nothing to learn from".into()
                );
            }
            let started = std::time::Instant::now();
            let m = Model::train(&ex, a.threshold);
            m.save(&a.out).map_err(|e| e.to_string())?;
            eprintln!(
                "harrier profile: trained on {pos} positives and {} negatives ({} rules) in {:.2} s; model in {}",
                ex.len() - pos,
                m.centroids.len(),
                started.elapsed().as_secs_f64(),
                a.out.display()
            );
            Ok(0)
        }
        ProfileCmd::Score { model, captures, rules: r } => {
            let m = Model::load(&model).map_err(|e| e.to_string())?;
            let rs = rules(&r)?;
            for cap in &captures {
                let (obs, alerts) = observe_capture(cap, rs.clone())?;
                let mut best: Option<(f32, Option<String>, String)> = None;
                let mut over = 0;
                let mut over_unmatched = 0;
                for o in &obs {
                    let text = o.text();
                    let (s, near) = m.classify(&text);
                    if s >= m.threshold {
                        over += 1;
                        if o.matched.is_none() {
                            over_unmatched += 1;
                        }
                    }
                    if best.as_ref().is_none_or(|b| s > b.0) {
                        best = Some((s, near.map(String::from), text));
                    }
                }
                let (max, nearest, text) = best.unwrap_or((0.0, None, String::new()));
                println!(
                    "{}",
                    serde_json::json!({
                        "capture": cap.display().to_string(),
                        "observations": obs.len(),
                        "rule_alerts": alerts,
                        "max_score": max,
                        "nearest_rule": nearest,
                        "top_event": text,
                        "over_threshold": over,
                        "over_threshold_unmatched": over_unmatched,
                    })
                );
            }
            Ok(0)
        }
    }
}
