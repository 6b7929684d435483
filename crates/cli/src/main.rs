//! `harrier`: the binary. Flags and subcommands, configuration, wiring of the pipeline stages.
//! No detection logic lives here.

mod base_syscalls;
mod config;
mod delivery;
mod doctor_cmd;
mod drops;
mod falco_log;
mod live;
mod ops_wire;
mod plugins;
mod profile_cmd;
mod replay;
mod respond_cmd;
mod rules_cmd;
mod rules_files;
mod session_cmd;
mod stages;
mod store_glue;
mod tune_cmd;

use clap::{Args, Parser, Subcommand};

/// A faster allocator: rule loading and alert rendering allocate a lot of small objects.
/// (`--features system-alloc` builds with the C library's allocator instead, for heap profilers
/// such as heaptrack or valgrind's massif, which follow malloc.)
#[cfg_attr(not(feature = "system-alloc"), global_allocator)]
#[cfg_attr(feature = "system-alloc", allow(dead_code))]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long mimalloc keeps freed memory before returning it to the kernel (ms). Its default
/// (1 s) stacks the start-up phases' transient memory (rule files' YAML, the kernel's BTF parsed
/// twice by the eBPF loader, the /proc scan) into one resident peak nearly twice the steady size;
/// returning it at once keeps the peak near the largest phase. Steady-state allocation reuses
/// memory and rarely frees whole pages, so there is no throughput cost (measured on replay).
fn set_alloc_purge_delay_ms(ms: i64) {
    /// `mi_option_purge_delay` in mimalloc's option enum (v2 and v3).
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets one integer option; mimalloc reads options atomically.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, ms as _) }
}
use std::path::PathBuf;
use std::process::ExitCode;

const AFTER_HELP: &str = "\
Examples:
  harrier run                                  live detection with the default rules
  harrier replay capture.scap                  run the default rules over a capture
  harrier replay capture.scap --filter 'proc.name = cat and evt.type = openat'
  harrier rules validate my_rules.yaml         check rule files (like falco -V)
  harrier rules check-condition --source syscall 'fd.name startswith /etc'
  harrier --list syscall                       every field with its type and description

Falco-compatible form:
  harrier -r rules.yaml -o engine.kind=replay -o engine.replay.capture_file=x.scap [-c falco.yaml] [-o key=value…]
  harrier -V rules.yaml      harrier -L -r rules.yaml      harrier -l 'Rule name' -r rules.yaml

Exit codes: 0 success; 1 invalid rules, configuration or arguments, or a failed run.";

#[derive(Parser, Debug)]
#[command(
    name = "harrier",
    version,
    about = "Runtime security for Linux hosts, containers and Kubernetes, speaking the Falco rules language",
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true,
    disable_version_flag = true
)]
struct Cli {
    /// Print the version and exit.
    #[arg(long = "version", action = clap::ArgAction::Version)]
    version: Option<bool>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    common: Common,
    /// Validate rule files and exit (Falco's -V). Repeatable.
    #[arg(short = 'V', value_name = "FILE")]
    validate: Vec<PathBuf>,
    /// List the loaded rules and exit (Falco's -L).
    #[arg(short = 'L')]
    list_rules: bool,
    /// Describe one rule and exit (Falco's -l).
    #[arg(short = 'l', value_name = "RULE")]
    describe: Option<String>,
    /// List the fields of every source, or of SOURCE, and exit.
    #[arg(long = "list", value_name = "SOURCE", num_args = 0..=1, default_missing_value = "")]
    list_fields: Option<String>,
    /// List the plugins the configuration loads (built-in k8saudit/json/container and libraries).
    #[arg(long = "list-plugins")]
    list_plugins: bool,
    /// Describe one plugin: capabilities, init_config schema, open params.
    #[arg(long = "plugin-info", value_name = "NAME")]
    plugin_info: Option<String>,
    /// Print a support document (version, system, config and rules files' contents) as JSON.
    #[arg(long = "support")]
    support: bool,
}

/// Options shared by the Falco-compatible form, `run` and `replay`.
#[derive(Args, Debug, Clone, Default)]
pub struct Common {
    /// Rules file or directory; repeatable, loaded in order. Default: the config's `rules_files`,
    /// else Harrier's default rules.
    #[arg(short = 'r', value_name = "FILE|DIR")]
    pub rules: Vec<PathBuf>,
    /// Configuration file (falco.yaml keys).
    #[arg(short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override a configuration key: -o json_output=true, -o rules[].disable.rule=NAME. Repeatable.
    #[arg(short = 'o', value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Only enable rules with this tag (repeatable).
    #[arg(short = 't', value_name = "TAG")]
    pub tags: Vec<String>,
    /// Disable rules with this tag (repeatable).
    #[arg(short = 'T', value_name = "TAG")]
    pub disable_tags: Vec<String>,
    /// Disable a rule by name (wildcards allowed; repeatable).
    #[arg(short = 'D', value_name = "RULE")]
    pub disable_rules: Vec<String>,
    /// Write each alert immediately (no output buffering).
    #[arg(short = 'U', long = "unbuffered")]
    pub unbuffered: bool,
    /// Stop after this many seconds.
    #[arg(short = 'M', value_name = "SECONDS")]
    pub stop_after: Option<u64>,
    /// Run only this event source (syscall, k8s_audit, …); repeatable.
    #[arg(long = "enable-source", value_name = "SOURCE")]
    pub enable_source: Vec<String>,
    /// Run every event source but this one; repeatable.
    #[arg(long = "disable-source", value_name = "SOURCE")]
    pub disable_source: Vec<String>,
    /// Unknown or misplaced configuration keys are errors (default: warnings naming the file,
    /// line, column and the nearest valid key).
    #[arg(long = "strict-config")]
    pub strict_config: bool,
    /// Learning mode (live): collect alerts for DURATION (e.g. 24h, 30m) without sending them
    /// anywhere, then propose exceptions for the recurring ones (see `harrier tune`).
    #[arg(long, value_name = "DURATION")]
    pub learn: Option<String>,
    /// Load the configuration and the rules, report, and exit without processing events (Falco's
    /// --dry-run): no probe, no webserver.
    #[arg(long)]
    pub dry_run: bool,
    /// Where --learn writes its rules overlay (the alerts it saw go beside it, FILE.alerts.jsonl).
    #[arg(long, value_name = "FILE", default_value = "harrier-learned.yaml", requires = "learn")]
    pub learn_out: PathBuf,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Live detection on this machine with the default rules (or -r); alerts on stdout.
    Run(Common),
    /// Run rules over a .scap capture file, or select events with a filter.
    Replay(replay::ReplayArgs),
    /// Work with rule files.
    #[command(subcommand)]
    Rules(rules_cmd::RulesCmd),
    /// Write live events to a capture file that Harrier replays and sysdig reads.
    Capture(live::CaptureArgs),
    /// Receive alerts over HTTP (what Falco's http_output posts) and forward them to the sinks of a
    /// falcosidekick-style config (listens on port 2801 by default; /healthz, /test).
    Forward {
        #[arg(short = 'c', value_name = "FILE")]
        config: PathBuf,
        /// Unknown or misplaced configuration keys are errors.
        #[arg(long = "strict-config")]
        strict_config: bool,
    },
    /// Write the k8s audit events of a falco.yaml's k8saudit source (webhook or files) to a .scap
    /// capture as plugin events, exchangeable with Falco.
    K8sauditCapture(plugins::CaptureArgs),
    /// Perform suspicious behaviours safely, to check that detection works end to end.
    Generate(live::GenerateArgs),
    /// Response: act on alerts with Falco Talon's rules format (validate, test, serve, restore).
    #[command(subcommand)]
    Respond(respond_cmd::RespondCmd),
    /// Propose rule exceptions (a rules overlay) that silence recurring benign alerts, from alerts
    /// seen (never wider than the evidence; each proposal says what it silences).
    Tune(tune_cmd::TuneArgs),
    /// The alert store's web UI and API (falcosidekick-ui compatible; port 2802 on 127.0.0.1 by default).
    #[cfg(feature = "ui")]
    Ui(harrier_ui::cli::UiArgs),
    /// The alert store's web UI (not in this build: it was built without the `ui` feature).
    #[cfg(not(feature = "ui"))]
    Ui {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        args: Vec<String>,
    },
    /// List fields (all sources, or one), with types and descriptions.
    Fields {
        /// syscall, k8s_audit, aws_cloudtrail, gcp_auditlog, github, okta or session.
        source: Option<String>,
    },
    /// Session audit: every command typed at a terminal (host or container), secrets never, as a
    /// JSON Lines audit log (session_audit.file, default stdout); `source: session` rules alert
    /// through the configured outputs. Needs root (eBPF).
    Session(Common),
    /// Workload profiles and the learned scorer: show, diff, accept, learn, train, score.
    #[command(subcommand)]
    Profile(profile_cmd::ProfileCmd),
    /// Check this node and a config: kernel/eBPF, inotify, rules, sinks, runtimes, services, clock.
    Doctor(doctor_cmd::DoctorArgs),
}

/// Log lines (the `tracing` macros of every crate) go to stderr as Falco writes them (`TIME:
/// message`, see `falco_log`); `HARRIER_LOG` filters them (`HARRIER_LOG=debug`,
/// `HARRIER_LOG=harrier_sinks=trace`), default `info`.
fn init_logging() {
    falco_log::init();
}

fn main() -> ExitCode {
    set_alloc_purge_delay_ms(0);
    init_logging();
    let cli = Cli::parse();
    let code = match cli.cmd {
        Some(Cmd::Rules(c)) => rules_cmd::run(c),
        Some(Cmd::Fields { source }) => rules_cmd::list_fields(source.as_deref().unwrap_or("")),
        Some(Cmd::Replay(a)) => replay::friendly(a),
        Some(Cmd::Run(c)) => replay::falco_form(&c, true),
        Some(Cmd::Capture(a)) => live::capture(a),
        Some(Cmd::K8sauditCapture(a)) => plugins::capture(a),
        Some(Cmd::Generate(a)) => live::generate(a),
        Some(Cmd::Doctor(a)) => doctor_cmd::run(a),
        Some(Cmd::Respond(c)) => respond_cmd::run(c),
        Some(Cmd::Session(c)) => session_cmd::run(c),
        Some(Cmd::Tune(a)) => tune_cmd::run(a),
        Some(Cmd::Profile(c)) => profile_cmd::run(c),
        #[cfg(feature = "ui")]
        Some(Cmd::Ui(a)) => return harrier_ui::cli::main(a),
        #[cfg(not(feature = "ui"))]
        Some(Cmd::Ui { .. }) => {
            eprintln!("harrier ui: {}", harrier_sinks::not_built("ui", "the web UI"));
            2
        }
        Some(Cmd::Forward { config, strict_config }) => {
            // The alert store (`store:` block) is a sink of `harrier forward` too.
            let store = harrier_sinks::forward::ExtraSinks {
                keys: &["store"],
                add: &|text, router| store_glue::add_store_sink(text, router).map(|_| ()),
            };
            match harrier_sinks::forward::run_forwarder_with(&config, strict_config, Some(&store)) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("harrier forward: {e}");
                    1
                }
            }
        }
        None => {
            if cli.list_plugins {
                plugins::list(&cli.common)
            } else if let Some(name) = cli.plugin_info {
                plugins::info(&cli.common, &name)
            } else if cli.support {
                doctor_cmd::support(&cli.common)
            } else if let Some(src) = cli.list_fields {
                rules_cmd::list_fields(&src)
            } else if !cli.validate.is_empty() {
                rules_cmd::validate_falco(&cli.validate, &cli.common)
            } else if cli.list_rules {
                rules_cmd::list_rules_falco(&cli.common)
            } else if let Some(r) = cli.describe {
                rules_cmd::describe_falco(&r, &cli.common)
            } else {
                replay::falco_form(&cli.common, false)
            }
        }
    };
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
