//! `harrier respond …`: flags only; the work is in `harrier-respond`.

use std::path::PathBuf;

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum RespondCmd {
    /// Load response rules files (Falco Talon's format) and report errors with file:line.
    Validate {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Run Falco JSON alerts (a file, or stdin; one per line or one document) through response
    /// rules and print the outcomes. Dry run unless --act.
    Test {
        /// Response rules file (repeatable).
        #[arg(short = 'r', long = "rules", value_name = "FILE")]
        rules: Vec<PathBuf>,
        /// A config file with a `response:` block (protected list, limits, sockets, rules_files).
        #[arg(short = 'c', value_name = "FILE")]
        config: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        alert: Option<PathBuf>,
        /// Really perform the actions.
        #[arg(long)]
        act: bool,
    },
    /// Falco Talon drop-in: receive Falco/falcosidekick POSTs (port 2803) and run the rules.
    ///
    /// Reads Talon's config (listen_address, listen_port, rules_files, deduplication) plus
    /// Harrier's `response:` block (dry_run, minimum_priority, protected, rate_limit).
    /// SIGHUP reloads the rules files. Outcomes are printed as alerts of source `response`.
    Serve {
        #[arg(short = 'c', value_name = "FILE")]
        config: PathBuf,
        /// Decide and report only; touch nothing.
        #[arg(long)]
        dry_run: bool,
        /// Override listen_port.
        #[arg(long, value_name = "PORT")]
        port: Option<u16>,
    },
    /// List the containers node:block_network cut off (with refused connects/sends).
    Blocked {
        #[arg(long, value_name = "DIR")]
        pin_dir: Option<PathBuf>,
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Give a container its network back (by container id, block id or cgroup path).
    Unblock {
        #[arg(required_unless_present = "all")]
        key: Option<String>,
        /// Remove every block.
        #[arg(long, conflicts_with = "key")]
        all: bool,
        #[arg(long, value_name = "DIR")]
        pin_dir: Option<PathBuf>,
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Resume a container node:pause_container paused (its full id).
    Resume {
        full_id: String,
        /// A config file with a `response:` block (containerd_sockets).
        #[arg(short = 'c', value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// List the files node:quarantine moved away.
    Quarantined {
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Put a quarantined file back with its owner, mode and times.
    Restore {
        id: String,
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

pub fn run(c: RespondCmd) -> u8 {
    use harrier_respond::cli;
    match c {
        RespondCmd::Validate { files } => cli::validate(&files),
        RespondCmd::Test { rules, config, alert, act } => {
            cli::test(&rules, config.as_deref(), alert.as_deref(), act)
        }
        RespondCmd::Resume { full_id, config } => cli::resume(&full_id, config.as_deref()),
        RespondCmd::Serve { config, dry_run, port } => cli::serve(&config, dry_run, port),
        RespondCmd::Blocked { pin_dir, state_dir } => {
            cli::list_blocked(pin_dir.as_deref(), state_dir.as_deref())
        }
        RespondCmd::Unblock { key, all: _, pin_dir, state_dir } => {
            cli::unblock(key.as_deref(), pin_dir.as_deref(), state_dir.as_deref())
        }
        RespondCmd::Quarantined { dir } => cli::list_quarantine(dir.as_deref()),
        RespondCmd::Restore { id, dir } => cli::restore(&id, dir.as_deref()),
    }
}
