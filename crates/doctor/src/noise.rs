//! Noisy rules: replay a capture (`--capture FILE.scap`) or a short live sample (`--sample SECS`)
//! through the configured rules and report the rules that fire at or above `--noisy-per-minute`
//! (a build tool tripping a rule on every compile, say), so they get an exception before they
//! bury the alerts that matter.

use crate::{Context, Finding, Status};
use harrier_pipeline::live::LiveSource;
use harrier_pipeline::{Detector, Discard, EventSource, ScapSource};
use std::sync::Arc;

/// Alerts per rule (most first), the seconds the sample covered, and what was sampled.
pub type Sample = (Vec<(String, u64)>, f64, String);

/// Run the sample, if one was asked for.
pub fn sample(cx: &Context) -> Result<Option<Sample>, String> {
    if cx.opts.capture.is_none() && cx.opts.sample.is_none() {
        return Ok(None);
    }
    let (mut rs, _) = crate::rules::load(cx)?;
    rs.set_min_priority(crate::rules::min_priority(cx)?);
    let mut det = Detector::new(Arc::new(rs), crate::system::hostname(), Discard);
    let (secs, what) = if let Some(cap) = &cx.opts.capture {
        let mut src =
            ScapSource::open(cap, harrier_event::NormalizeMode::ExitOnly).map_err(|e| e.to_string())?;
        det.run(&mut src).map_err(|e| e.to_string())?;
        let s = &det.stats;
        let secs = (s.last_ts.saturating_sub(s.first_ts)) as f64 / 1e9;
        (secs, format!("{} events of {}", s.events, cap.display()))
    } else {
        let d = cx.opts.sample.unwrap_or_default();
        let names: Vec<&str> = harrier_probe::syscalls::SYSCALLS.iter().map(|s| s.name).collect();
        let cfg = harrier_probe::ProbeConfig {
            syscalls: &names,
            exclude_pid: Some(std::process::id()),
            ..Default::default()
        };
        let mut src = LiveSource::open(&cfg).map_err(|e| format!("live sample: {e}"))?;
        src.set_duration(Some(d));
        let started = std::time::Instant::now();
        let s: &mut dyn EventSource = &mut src;
        det.run(s).map_err(|e| e.to_string())?;
        (
            started.elapsed().as_secs_f64(),
            format!("{} live events in {:.0} s", det.stats.events, d.as_secs_f64()),
        )
    };
    let mut by: Vec<(String, u64)> = det.stats.by_rule.iter().map(|(k, v)| (k.clone(), *v)).collect();
    by.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(Some((by, secs, what)))
}

pub fn check(cx: &Context) -> Vec<Finding> {
    let (by, secs, what) = match sample(cx) {
        Ok(None) => {
            return vec![Finding::new(
                "noise",
                "noise",
                Status::Skip,
                "give --capture FILE.scap or --sample SECONDS to look for noisy rules",
            )]
        }
        Ok(Some(x)) => x,
        Err(e) => return vec![Finding::new("noise", "noise", Status::Fail, e)],
    };
    // A sample shorter than a minute is judged as one minute, so a handful of alerts in a few
    // seconds is not called a flood.
    let minutes = (secs / 60.0).max(1.0);
    let mut out = Vec::new();
    for (rule, n) in &by {
        let rate = *n as f64 / minutes;
        if rate >= cx.opts.noisy_per_minute {
            out.push(
                Finding::new("noise", rule.clone(), Status::Warn, format!("{n} alerts ({rate:.0}/min) in {what}"))
                    .fix(format!(
                        "add an exception for the process or path that triggers it (a `- rule: {rule}` override with \
                         `exceptions:` and `override: {{exceptions: append}}`), or disable it: -o rules[].disable.rule='{rule}'"
                    )),
            );
        }
    }
    if out.is_empty() {
        let total: u64 = by.iter().map(|x| x.1).sum();
        out.push(Finding::new(
            "noise",
            "noise",
            Status::Ok,
            format!(
                "{total} alerts from {} rule(s) in {what}; none at or above {}/min",
                by.len(),
                cx.opts.noisy_per_minute
            ),
        ));
    }
    out
}
