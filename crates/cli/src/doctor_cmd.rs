//! `harrier doctor` and `harrier --support`: flags only; the checks live in `harrier-doctor`.

use crate::rules_files;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug)]
#[command(after_help = "\
Checks: config, kernel, probe, inotify, rules, sinks, runtimes, services, clock, hostname, noise.
Each line is ✓ (fine), ! (worth a look), ✗ (broken, with the fix) or - (not applicable).

Examples:
  harrier doctor -c /etc/harrier/harrier.yaml
  harrier doctor -c harrier.yaml --check sinks --post-test     send a test alert to HTTP sinks
  harrier doctor --sample 60                                   rules that fire often on this node now
  harrier doctor --capture build.scap --noisy-per-minute 5     … or on a capture
  harrier doctor --json | jq '.findings[] | select(.status == \"fail\")'

Exit codes: 0 nothing broken (warnings allowed); 1 something broken; 2 bad arguments.")]
pub struct DoctorArgs {
    /// Configuration file (falco.yaml keys and falcosidekick-style sink blocks).
    #[arg(short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Rules file or directory (repeatable); default: the config's rules_files, else the defaults.
    #[arg(short = 'r', value_name = "FILE|DIR")]
    rules: Vec<PathBuf>,
    /// Print the findings as JSON.
    #[arg(long)]
    json: bool,
    /// Run only this check (repeatable).
    #[arg(long = "check", value_name = "NAME")]
    only: Vec<String>,
    /// Also POST a test alert to sinks that take one (webhook, http_output).
    #[arg(long)]
    post_test: bool,
    /// Replay this capture with the rules and report noisy rules.
    #[arg(long, value_name = "FILE.scap")]
    capture: Option<PathBuf>,
    /// Watch the live system this many seconds and report noisy rules (needs the probe).
    #[arg(long, value_name = "SECONDS")]
    sample: Option<u64>,
    /// A rule is noisy at or above this many alerts per minute.
    #[arg(long, value_name = "N", default_value_t = 10.0)]
    noisy_per_minute: f64,
    /// Bound of each network step, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 3)]
    timeout: u64,
}

pub fn run(a: DoctorArgs) -> u8 {
    let opts = harrier_doctor::Options {
        config: a.config,
        rules: a.rules,
        default_rules: vec![rules_files::default_rules_dir()],
        only: a.only,
        post_test: a.post_test,
        capture: a.capture,
        sample: a.sample.map(Duration::from_secs),
        noisy_per_minute: a.noisy_per_minute,
        timeout: Duration::from_secs(a.timeout.max(1)),
    };
    match harrier_doctor::run(opts) {
        Err(e) => {
            eprintln!("harrier doctor: {e}");
            2
        }
        Ok(r) => {
            if a.json {
                println!("{}", serde_json::to_string_pretty(&r.to_json()).unwrap_or_default());
            } else {
                print!("{}", r.to_text());
            }
            u8::from(r.failed())
        }
    }
}

/// `harrier --support [-c FILE] [-r FILE…]`.
pub fn support(c: &crate::Common) -> u8 {
    let files = harrier_doctor::support::rule_files(
        c.config.as_deref(),
        &c.rules,
        &[rules_files::default_rules_dir()],
    );
    let doc = harrier_doctor::support::document(env!("CARGO_PKG_VERSION"), c.config.as_deref(), &files);
    println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    0
}
