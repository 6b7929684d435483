//! `harrier tune` (proposals from seen alerts) and `harrier run --learn` (collect, then propose).

use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct TuneArgs {
    /// Falco JSON alerts to learn from: JSON Lines (e.g. Harrier's or Falco's file output with
    /// json_output=true) or one JSON array.
    #[arg(long, value_name = "FILE")]
    pub alerts: PathBuf,
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
    match tune_file(&a.alerts, a.min_count, a.write.as_deref(), a.json) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("harrier tune: {e}");
            1
        }
    }
}

/// Read alerts from `path`, print the report, and write the overlay when asked.
pub fn tune_file(path: &Path, min_count: usize, write: Option<&Path>, json: bool) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let (alerts, skipped) = harrier_tune::read_alerts(&text);
    if skipped > 0 {
        eprintln!("harrier tune: {skipped} line(s) of {} are not alerts and were skipped", path.display());
    }
    let opts = harrier_tune::Options { min_count: min_count.max(1), ..Default::default() };
    let report = harrier_tune::tune(&alerts, &opts);
    if json {
        println!("{}", harrier_tune::to_json(&report));
    } else {
        print!("{}", harrier_tune::summary(&report));
    }
    if let Some(out) = write {
        let y = harrier_tune::overlay(&report, &path.display().to_string());
        std::fs::write(out, y).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
        eprintln!(
            "harrier tune: {} exception proposal(s) written to {} (load with -r after your rules)",
            report.proposals.len(),
            out.display()
        );
    }
    Ok(())
}
