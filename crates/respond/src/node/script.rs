//! `node:script`: run a program with alert fields as separate arguments. Never through a shell:
//! the program is an absolute path, each argument one argv element, and shells or interpreters
//! given alert text as arguments are refused at load time.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harrier_engine::Alert;

use crate::rules::field_text;

/// Programs that would interpret an argument as code.
const INTERPRETERS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "ash", "fish", "csh", "tcsh", "busybox", "env", "xargs", "python",
    "python3", "perl", "ruby", "node", "php", "lua", "awk", "gawk", "mawk", "eval", "su", "sudo",
];

/// Refuse `command` + `args` that would hand alert text to an interpreter.
pub fn check_no_interpreter(command: &str, args: &[String]) -> Result<(), String> {
    let base = command.rsplit('/').next().unwrap_or(command);
    let interp = INTERPRETERS.iter().any(|i| {
        base == *i || (base.starts_with(i) && base[i.len()..].chars().all(|c| c.is_ascii_digit() || c == '.'))
    });
    if interp && args.iter().any(|a| a.contains("${")) {
        return Err(format!(
            "'{base}' interprets its arguments; alert fields are never passed to a shell or interpreter"
        ));
    }
    Ok(())
}

/// Replace `${field}` with the alert's value (`${rule}`, `${priority}`, `${source}`,
/// `${hostname}`, `${output}` for the alert itself); absent fields become empty.
pub fn substitute(arg: &str, alert: &Alert) -> String {
    let mut out = String::new();
    let mut rest = arg;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find('}') {
            Some(j) => {
                let key = &after[..j];
                let v = match key {
                    "rule" => Some(alert.rule.clone()),
                    "priority" => Some(alert.priority.as_str().to_string()),
                    "source" => Some(alert.source.clone()),
                    "hostname" => Some(alert.hostname.clone()),
                    "output" => Some(alert.output.clone()),
                    k => field_text(alert, k),
                };
                out.push_str(&v.unwrap_or_default());
                rest = &after[j + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Run the program; its stdin gets the alert as Falco's JSON. Killed after `timeout`.
pub fn run(command: &str, args: &[String], alert: &Alert, timeout: Duration) -> Result<String, String> {
    check_no_interpreter(command, args)?;
    let argv: Vec<String> = args.iter().map(|a| substitute(a, alert)).collect();
    let mut child = Command::new(command)
        .args(&argv)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {command}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(alert.to_json().as_bytes());
    }
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(st)) => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    let _ = e.by_ref().take(4096).read_to_string(&mut err);
                }
                return if st.success() {
                    Ok(format!("{command} exited 0"))
                } else {
                    Err(format!("{command} failed ({st}): {}", err.trim()))
                };
            }
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{command} killed after the {}s timeout", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("waiting for {command}: {e}")),
        }
    }
}
