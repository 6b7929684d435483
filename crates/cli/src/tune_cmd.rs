//! `harrier tune` (proposals from seen alerts) and `harrier run --learn` (collect, then propose).

use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct TuneArgs {
    /// Falco JSON alerts to learn from: JSON Lines (e.g. Harrier's or Falco's file output with
    /// json_output=true) or one JSON array.
    #[arg(long, value_name = "FILE", required_unless_present = "store", conflicts_with = "store")]
    pub alerts: Option<PathBuf>,
    /// Or the alert store (`sqlite:PATH`, as `harrier ui --store`): every stored alert, or those
    /// of the last --since.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// With --store: only alerts of the last DURATION (e.g. 7d, 24h).
    #[arg(long, value_name = "DURATION", requires = "store")]
    pub since: Option<String>,
    /// Fewest alerts of one rule from one program and place before an exception is proposed.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub min_count: usize,
    /// Write the proposals as a rules overlay (load it after the rules it tunes with -r).
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Print the report as JSON instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

/// `harrier tune`.
pub fn run(a: TuneArgs) -> u8 {
    let res = match (&a.alerts, &a.store) {
        (Some(f), _) => tune_file(f, a.min_count, a.write.as_deref(), a.json),
        (None, Some(url)) => tune_store(url, a.since.as_deref(), a.min_count, a.write.as_deref(), a.json),
        (None, None) => Err("give --alerts FILE or --store URL".into()),
    };
    match res {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("harrier tune: {e}");
            1
        }
    }
}

/// Most stored alerts read for one tuning run.
#[cfg(feature = "ui")]
const STORE_MAX: usize = 1_000_000;

/// Without the store (a build without the `ui` feature): refused naming it.
#[cfg(not(feature = "ui"))]
fn tune_store(_: &str, _: Option<&str>, _: usize, _: Option<&Path>, _: bool) -> Result<(), String> {
    Err(harrier_sinks::not_built("ui", "--store"))
}

/// Read alerts from the store (newest first, paged), then as [`tune_file`].
#[cfg(feature = "ui")]
fn tune_store(
    url: &str,
    since: Option<&str>,
    min_count: usize,
    write: Option<&Path>,
    json: bool,
) -> Result<(), String> {
    let store = harrier_store::open(url)?;
    let mut q = harrier_store::Query::new();
    if let Some(d) = since {
        let d = harrier_fold::parse_duration(d).map_err(|e| format!("--since: {e}"))?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        q.since_ns = Some(now.saturating_sub(d).as_nanos() as u64);
    }
    q.limit = harrier_store::Query::MAX_LIMIT;
    let mut alerts = Vec::new();
    loop {
        let page = store.query(&q).map_err(|e| format!("{url}: {e}"))?;
        let n = page.events.len();
        alerts.extend(page.events.into_iter().map(|e| e.alert));
        if n < q.limit || alerts.len() >= STORE_MAX {
            break;
        }
        q.offset += n;
    }
    report(&alerts, &format!("{url} ({} alerts)", alerts.len()), min_count, write, json)
}

/// Read alerts from `path`, print the report, and write the overlay when asked.
pub fn tune_file(path: &Path, min_count: usize, write: Option<&Path>, json: bool) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let (alerts, skipped) = harrier_tune::read_alerts(&text);
    if skipped > 0 {
        eprintln!("harrier tune: {skipped} line(s) of {} are not alerts and were skipped", path.display());
    }
    report(&alerts, &path.display().to_string(), min_count, write, json)
}

fn report(
    alerts: &[serde_json::Value],
    source: &str,
    min_count: usize,
    write: Option<&Path>,
    json: bool,
) -> Result<(), String> {
    let opts = harrier_tune::Options { min_count: min_count.max(1), ..Default::default() };
    let report = harrier_tune::tune(alerts, &opts);
    if json {
        println!("{}", harrier_tune::to_json(&report));
    } else {
        print!("{}", harrier_tune::summary(&report));
    }
    if let Some(out) = write {
        let y = harrier_tune::overlay(&report, source);
        std::fs::write(out, y).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
        eprintln!(
            "harrier tune: {} exception proposal(s) written to {} (load with -r after your rules)",
            report.proposals.len(),
            out.display()
        );
    }
    Ok(())
}
