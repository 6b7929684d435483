//! What `harrier respond …` runs (the binary only parses flags). Each returns the exit code;
//! user-facing messages go to stdout/stderr, outcomes as Falco JSON alert lines on stdout.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::ServeConfig;
use crate::{load_files, Config, Responder};

fn print_warnings(set: &crate::RuleSet) {
    for w in &set.warnings {
        eprintln!("warning: {w}");
    }
}

/// `harrier respond validate FILE…`
pub fn validate(files: &[PathBuf]) -> u8 {
    match load_files(files) {
        Ok(set) => {
            print_warnings(&set);
            let actions: usize = set.rules.iter().map(|r| r.actions.len()).sum();
            println!("{} response rules, {actions} actions: OK", set.rules.len());
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// The `response:` block of a Harrier config file (or a Talon-style file holding one).
pub fn response_config(config: Option<&Path>) -> Result<(Config, Vec<PathBuf>), String> {
    let mut cfg = Config::default();
    let Some(path) = config else { return Ok((cfg, Vec::new())) };
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {file}: {e}"))?;
    let v = crate::config::yaml_to_json(&text, &file)?;
    let files = crate::config::apply_response_block(
        v.get("response").unwrap_or(&serde_json::Value::Null),
        &file,
        &mut cfg,
    )?;
    Ok((cfg, files))
}

/// `harrier respond test -r FILE… [-c CONFIG] [--alert FILE] [--act]`: Falco JSON alerts (one per
/// line, or one document) through the rules; dry run unless `act`.
pub fn test(files: &[PathBuf], config: Option<&Path>, alert: Option<&Path>, act: bool) -> u8 {
    let (mut cfg, more) = match response_config(config) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let mut files = files.to_vec();
    files.extend(more);
    if files.is_empty() {
        eprintln!("no response rules files (-r FILE, or response.rules_files in -c CONFIG)");
        return 1;
    }
    cfg.dry_run = cfg.dry_run || !act;
    let set = match load_files(&files) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    print_warnings(&set);
    let r = Responder::new(set, cfg);
    let input: Box<dyn BufRead> = match alert {
        None => Box::new(std::io::stdin().lock()),
        Some(p) if p == Path::new("-") => Box::new(std::io::stdin().lock()),
        Some(p) => match std::fs::File::open(p) {
            Ok(f) => Box::new(std::io::BufReader::new(f)),
            Err(e) => {
                eprintln!("cannot read {}: {e}", p.display());
                return 1;
            }
        },
    };
    let mut text = String::new();
    for line in input.lines() {
        match line {
            Ok(l) => {
                text.push_str(&l);
                text.push('\n');
            }
            Err(e) => {
                eprintln!("reading alerts: {e}");
                return 1;
            }
        }
    }
    let docs: Vec<serde_json::Value> = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Array(a)) => a,
        Ok(v) => vec![v],
        Err(_) => {
            let mut v = Vec::new();
            for (i, l) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                match serde_json::from_str(l) {
                    Ok(x) => v.push(x),
                    Err(e) => {
                        eprintln!("alert line {}: malformed JSON: {e}", i + 1);
                        return 1;
                    }
                }
            }
            v
        }
    };
    let mut out = std::io::stdout().lock();
    let mut code = 0;
    for (i, d) in docs.iter().enumerate() {
        let a = match harrier_sinks::alert_from_json(d) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("alert {}: {e}", i + 1);
                code = 1;
                continue;
            }
        };
        for o in r.handle(&a) {
            let _ = writeln!(out, "{}", o.to_alert().to_json());
        }
    }
    code
}

/// `harrier respond serve -c CONFIG`
pub fn serve(config: &Path, dry_run: bool, listen_port: Option<u16>) -> u8 {
    let mut cfg = match ServeConfig::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    if dry_run {
        cfg.response.dry_run = true;
    }
    if let Some(p) = listen_port {
        cfg.listen_port = p;
    }
    let set = match load_files(&cfg.rules_files) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    print_warnings(&set);
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return 1;
        }
    };
    let n = set.rules.len();
    let responder = Arc::new(Responder::new(set, cfg.response.clone()));
    let emit: crate::serve::Emit = Arc::new(|a| {
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{}", a.to_json());
        let _ = o.flush();
    });
    rt.block_on(async move {
        let (l, addr) = match crate::serve::bind(&cfg.listen_address, cfg.listen_port).await {
            Ok(x) => x,
            Err(e) => {
                eprintln!("{e}");
                return 1;
            }
        };
        eprintln!("harrier respond: {n} response rules, listening on {addr}{}", if cfg.response.dry_run { " (dry run)" } else { "" });
        if cfg.auth_token.is_none() && !addr.ip().is_loopback() {
            tracing::warn!(
                "harrier respond: listening on {addr} without auth_token: anyone who reaches this port can trigger the response actions (set auth_token or HARRIER_RESPOND_TOKEN)"
            );
        }
        // SIGHUP reloads the rules files; invalid new rules are reported and the old ones stay.
        let r2 = responder.clone();
        let files = cfg.rules_files.clone();
        tokio::spawn(async move {
            let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
            while hup.recv().await.is_some() {
                match load_files(&files) {
                    Ok(s) => {
                        tracing::info!(rules = s.rules.len(), "response rules reloaded");
                        r2.set_rules(s);
                    }
                    Err(e) => tracing::error!("response rules not reloaded, the old ones stay: {e}"),
                }
            }
        });
        let app = crate::serve::app(
            responder,
            emit,
            cfg.print_all_events,
            cfg.max_body,
            cfg.request_timeout,
            cfg.auth_token.clone(),
        );
        let shutdown = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
        };
        match crate::serve::serve(l, app, shutdown).await {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("harrier respond serve: {e}");
                1
            }
        }
    })
}

/// `harrier respond quarantined [--dir DIR]`
pub fn list_quarantine(dir: Option<&Path>) -> u8 {
    let dir =
        dir.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(crate::node::quarantine::DEFAULT_DIR));
    match crate::node::quarantine::list(&dir) {
        Ok(l) => {
            for e in l {
                println!("{}\t{}\t{}", e.id, e.original_path.display(), e.reason);
            }
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// `harrier respond restore ID [--dir DIR]`
pub fn restore(id: &str, dir: Option<&Path>) -> u8 {
    let dir =
        dir.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(crate::node::quarantine::DEFAULT_DIR));
    match crate::node::quarantine::restore(&dir, id) {
        Ok(p) => {
            println!("restored {}", p.display());
            0
        }
        Err(e) => {
            eprintln!("harrier respond restore: {e}");
            1
        }
    }
}

fn places(pin_dir: Option<&Path>, state_dir: Option<&Path>) -> crate::node::block::Places {
    let mut p = crate::node::block::Places::default();
    if let Some(d) = pin_dir {
        p.pin_root = d.to_path_buf();
    }
    if let Some(d) = state_dir {
        p.state_dir = d.to_path_buf();
    }
    p
}

/// `harrier respond blocked`
pub fn list_blocked(pin_dir: Option<&Path>, state_dir: Option<&Path>) -> u8 {
    for b in crate::node::block::list(&places(pin_dir, state_dir)) {
        println!("{}\t{}\t{}\trefused={}", b.id, b.label, b.cgroup.display(), b.refused);
    }
    0
}

/// `harrier respond unblock KEY | --all`
pub fn unblock(key: Option<&str>, pin_dir: Option<&Path>, state_dir: Option<&Path>) -> u8 {
    match crate::node::block::unblock(&places(pin_dir, state_dir), key) {
        Ok(list) => {
            for b in list {
                println!("unblocked {} ({}, {})", b.label, b.cgroup.display(), b.id);
            }
            0
        }
        Err(e) => {
            eprintln!("harrier respond unblock: {e}");
            1
        }
    }
}

/// `harrier respond resume FULL_ID` (after node:pause_container).
pub fn resume(full_id: &str, config: Option<&Path>) -> u8 {
    let cfg = match response_config(config) {
        Ok((c, _)) => c,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    use crate::node::containerd::{task_op, TaskOp};
    match task_op(&cfg.containerd_sockets, full_id, TaskOp::Resume, std::time::Duration::from_secs(5)) {
        Ok(ns) => {
            println!("resumed {full_id} (containerd namespace {ns})");
            0
        }
        Err(e) => {
            eprintln!("harrier respond resume: {e}");
            1
        }
    }
}
