//! Real terminals: a private tmux server per test runs a real shell on a real pty; keys are typed
//! with `tmux send-keys`; the session audit (real eBPF capture on this kernel) runs in this process.
//! Needs root and tmux, bash, dash, busybox and zsh (scripts/setup-tests.sh). Each test looks only
//! at records of its own tmux pane's shell (its pid), since other terminals on the machine are
//! audited too.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use harrier_session::audit::{self, AuditConfig, Item, RunStats};
use harrier_session::{TermEvent, TermKind};
use serde_json::Value;

struct Audit {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<RunStats, audit::AuditError>>>,
    events: Arc<Mutex<Vec<TermEvent>>>,
    file: PathBuf,
}

impl Audit {
    fn start(dir: &Path) -> Audit {
        Self::start_with(dir, |_| {})
    }

    fn start_with(dir: &Path, tune: impl FnOnce(&mut AuditConfig)) -> Audit {
        assert!(
            unsafe { libc::geteuid() } == 0,
            "the session audit tests load eBPF programs and must run as root"
        );
        let file = dir.join("audit.jsonl");
        let mut cfg = AuditConfig { file: Some(file.clone()), ..Default::default() };
        tune(&mut cfg);
        let stop = Arc::new(AtomicBool::new(false));
        let events = Arc::new(Mutex::new(Vec::new()));
        let (s, e) = (stop.clone(), events.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            audit::run(&cfg, &s, &mut |item| match item {
                Item::Started => {
                    let _ = ready_tx.send(());
                }
                Item::Event(ev) => e.lock().unwrap().push(ev.clone()),
                Item::Record(_) => {}
            })
        });
        // wait until the programs are attached (or the run failed)
        let _ = ready_rx.recv_timeout(Duration::from_secs(60));
        let mut a = Audit { stop, handle: Some(handle), events, file };
        if a.handle.as_ref().unwrap().is_finished() {
            let r = a.handle.take().unwrap().join().unwrap();
            panic!("session audit failed to start: {:?}", r.err());
        }
        a
    }

    fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.file)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
            .collect()
    }

    fn commands_of(&self, pid: u32) -> Vec<String> {
        self.records()
            .into_iter()
            .filter(|r| r["kind"] == "command" && r["pid"] == pid)
            .map(|r| r["command"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Wait until `pid` has recorded `n` commands.
    fn wait_commands(&self, pid: u32, n: usize, tmux: &Tmux) -> Vec<String> {
        self.wait_commands_for(pid, n, tmux, 30)
    }

    fn wait_commands_for(&self, pid: u32, n: usize, tmux: &Tmux, secs: u64) -> Vec<String> {
        let t = Instant::now();
        loop {
            let c = self.commands_of(pid);
            if c.len() >= n {
                std::thread::sleep(Duration::from_millis(250)); // let the shell return to its prompt
                return c;
            }
            if t.elapsed() > Duration::from_secs(secs) {
                panic!("waited for {n} commands of pid {pid}, have {c:?}\nscreen:\n{}", tmux.screen());
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    fn stop(mut self) -> (RunStats, Vec<TermEvent>) {
        self.stop.store(true, Ordering::Relaxed);
        let stats = self.handle.take().unwrap().join().unwrap().expect("audit run");
        let ev = std::mem::take(&mut *self.events.lock().unwrap());
        (stats, ev)
    }
}

impl Drop for Audit {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

struct Tmux {
    sock: PathBuf,
}

impl Tmux {
    fn start(dir: &Path, env: &[(&str, String)], cmd: &[&str]) -> (Tmux, u32) {
        let sock = dir.join("tmux.sock");
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&sock).args(["-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "50"]);
        c.env_clear().env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        c.env("TERM", "xterm").env("HOME", dir);
        for (k, v) in env {
            c.env(k, v);
        }
        c.arg("--").args(cmd);
        let st = c.status().expect("run tmux (scripts/setup-tests.sh installs it)");
        assert!(st.success(), "tmux new-session failed");
        let t = Tmux { sock };
        let pid: u32 = t.query("#{pane_pid}").parse().expect("pane pid");
        // wait for the first prompt
        let t0 = Instant::now();
        while t.screen().trim().is_empty() {
            assert!(t0.elapsed() < Duration::from_secs(10), "no prompt from {cmd:?}");
            std::thread::sleep(Duration::from_millis(30));
        }
        std::thread::sleep(Duration::from_millis(200));
        (t, pid)
    }

    fn tmux(&self, args: &[&str]) -> String {
        let o = Command::new("tmux").arg("-S").arg(&self.sock).args(args).output().expect("tmux");
        assert!(o.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn query(&self, fmt: &str) -> String {
        self.tmux(&["display-message", "-p", fmt]).trim().to_owned()
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p"])
    }

    /// Type text literally.
    fn text(&self, s: &str) {
        self.tmux(&["send-keys", "-l", s]);
        std::thread::sleep(Duration::from_millis(60));
    }

    /// Press keys by tmux name (Enter, BSpace, C-u, Left, Up, Tab...).
    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", k]);
            std::thread::sleep(Duration::from_millis(40));
        }
    }

    fn line(&self, s: &str) {
        self.text(s);
        self.keys(&["Enter"]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.sock)
            .arg("kill-server")
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn secret() -> String {
    let mut b = [0u8; 8];
    std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b)).unwrap();
    format!("hunter2-{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>())
}

/// What every shell gets typed, in its dialect; returns the commands the shell ran, in order.
#[derive(Clone, Copy, PartialEq)]
enum Shell {
    Bash,
    Dash,
    Ash,
    Zsh,
}

fn drive(shell: Shell, t: &Tmux, a: &Audit, pid: u32, secret: &str) -> Vec<String> {
    let mut want: Vec<String> = Vec::new();
    let step = |want: &mut Vec<String>, expect: &str| {
        want.push(expect.to_owned());
        a.wait_commands(pid, want.len(), t);
    };
    if shell == Shell::Bash {
        t.line("history -c");
        step(&mut want, "history -c");
    }
    t.line("cd /tmp");
    step(&mut want, "cd /tmp");
    t.line("export X=1");
    step(&mut want, "export X=1");
    t.line("echo $X > /dev/null 2>&1");
    step(&mut want, "echo $X > /dev/null 2>&1");
    t.line("for i in 1 2; do echo loop$i; done");
    step(&mut want, "for i in 1 2; do echo loop$i; done");
    // backspaces
    t.text("echo hellx");
    t.keys(&["BSpace", "BSpace"]);
    t.text("lo");
    t.keys(&["Enter"]);
    step(&mut want, "echo hello");
    // Ctrl-U throws the typed text away, Ctrl-W the last word
    t.text("rm -rf /nonexistent-harrier");
    t.keys(&["C-u"]);
    t.text("true");
    t.keys(&["Enter"]);
    step(&mut want, "true");
    t.text("echo one two");
    t.keys(&["C-w"]);
    t.text("three");
    t.keys(&["Enter"]);
    step(&mut want, "echo one three");
    // Ctrl-C abandons a line: it never runs, it is not recorded
    t.text("echo abandoned-line");
    t.keys(&["C-c"]);
    std::thread::sleep(Duration::from_millis(200));
    if shell != Shell::Dash {
        // arrows (line editors only; dash's kernel line discipline has no cursor movement)
        t.text("echo wrld");
        t.keys(&["Left", "Left", "Left"]);
        t.text("o");
        t.keys(&["End"]);
        t.text("!");
        t.keys(&["Enter"]);
        step(&mut want, "echo world!");
        // history recall
        t.keys(&["Up", "Enter"]);
        step(&mut want, "echo world!");
    }
    if shell == Shell::Bash {
        t.text("ls -d /usr/shar");
        t.keys(&["Tab"]);
        std::thread::sleep(Duration::from_millis(200));
        t.keys(&["Enter"]);
        step(&mut want, "ls -d /usr/share/");
    }
    // a secret typed at a no-echo prompt
    let prompt = match shell {
        Shell::Bash | Shell::Zsh | Shell::Ash => "read -s S",
        Shell::Dash => "stty -echo; read S; stty echo",
    };
    t.line(prompt);
    step(&mut want, prompt);
    std::thread::sleep(Duration::from_millis(300));
    t.line(secret);
    t.line("[ -n \"$S\" ] && echo got-secret");
    step(&mut want, "[ -n \"$S\" ] && echo got-secret");
    let t0 = Instant::now();
    while !t.screen().contains("got-secret\n") && !t.screen().lines().any(|l| l == "got-secret") {
        assert!(t0.elapsed() < Duration::from_secs(5), "the shell did not get the secret:\n{}", t.screen());
        std::thread::sleep(Duration::from_millis(30));
    }
    want
}

fn check(shell: Shell, cmd: &[&str], env: &[(&str, String)]) {
    let dir = tempfile::tempdir().unwrap();
    let a = Audit::start(dir.path());
    let secret = secret();
    let mut env = env.to_vec();
    env.push(("HISTFILE", dir.path().join("hist-exit").display().to_string()));
    let (t, pid) = Tmux::start(dir.path(), &env, cmd);
    let mut want = drive(shell, &t, &a, pid, &secret);
    if shell == Shell::Bash {
        // bash's own history of the same session is the reference
        let hist = dir.path().join("bash-history");
        let c = format!("history -w {}", hist.display());
        t.line(&c);
        want.push(c);
        a.wait_commands(pid, want.len(), &t);
        let own: Vec<String> = std::fs::read_to_string(&hist).unwrap().lines().map(str::to_owned).collect();
        let got = a.commands_of(pid);
        let after_clear = got.iter().position(|c| c == "history -c").unwrap() + 1;
        assert_eq!(own, got[after_clear..], "audit log vs bash's history");
    }
    let tty = t.query("#{pane_tty}");
    let loginuid: u32 =
        std::fs::read_to_string(format!("/proc/{pid}/loginuid")).unwrap().trim().parse().unwrap();
    t.line("exit");
    want.push("exit".into());
    // session end
    let t0 = Instant::now();
    while !a.records().iter().any(|r| r["kind"] == "session_end" && r["pid"] == pid) {
        assert!(t0.elapsed() < Duration::from_secs(10), "no session_end for {pid}");
        std::thread::sleep(Duration::from_millis(30));
    }
    let raw = std::fs::read_to_string(&a.file).unwrap();
    let (stats, events) = a.stop();

    let got: Vec<String> = serde_json::Deserializer::from_str(&raw)
        .into_iter::<Value>()
        .map(Result::unwrap)
        .filter(|r| r["kind"] == "command" && r["pid"] == pid)
        .map(|r| r["command"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, want, "commands as the shell ran them");
    assert!(!raw.contains("abandoned-line"), "a Ctrl-C line is not a command");

    let mine: Vec<Value> =
        raw.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).filter(|r| r["pid"] == pid).collect();
    let start = mine.iter().find(|r| r["kind"] == "session_start").expect("session_start");
    let end = mine.iter().find(|r| r["kind"] == "session_end").expect("session_end");
    let sid = start["session_id"].as_u64().unwrap();
    for r in &mine {
        assert_eq!(r["session_id"].as_u64(), Some(sid), "{r}");
        assert_eq!(r["user"], "root");
        assert_eq!(r["uid"], 0);
        assert_eq!(r["loginuid"].as_u64(), Some(loginuid as u64));
        assert_eq!(format!("/dev/{}", r["tty"].as_str().unwrap()), tty);
        assert_eq!(r["session_leader"], pid, "the pane's shell leads its terminal's session");
        assert!(r["time"].as_str().unwrap().ends_with('Z'));
    }
    assert_eq!(end["commands"].as_u64(), Some(want.len() as u64));
    let cwds: Vec<&str> =
        mine.iter().filter(|r| r["kind"] == "command").map(|r| r["cwd"].as_str().unwrap()).collect();
    assert_eq!(cwds[cwds.len() - 1], "/tmp", "cwd follows cd");

    // the secret: nowhere in the log, and it never left the kernel (only its length did)
    assert!(!raw.contains(&secret), "secret in the audit log");
    let my_events: Vec<&TermEvent> = events.iter().filter(|e| e.pid == pid).collect();
    for e in &my_events {
        if let TermKind::Input(d) | TermKind::Output(d) = &e.kind {
            let s = String::from_utf8_lossy(d);
            assert!(
                !s.contains(&secret[..8]) || !s.contains("hunter2-"),
                "secret bytes left the kernel: {s:?}"
            );
        }
    }
    let all_input: Vec<u8> = my_events
        .iter()
        .flat_map(|e| match &e.kind {
            TermKind::Input(d) | TermKind::Output(d) => d.clone(),
            _ => Vec::new(),
        })
        .collect();
    assert!(
        !String::from_utf8_lossy(&all_input).contains(&secret),
        "secret bytes left the kernel across records"
    );
    let withheld: usize =
        my_events.iter().map(|e| if let TermKind::Secret(n) = e.kind { n } else { 0 }).sum();
    assert_eq!(withheld, secret.len() + 1, "the secret read was withheld in the kernel (length only)");
    assert!(stats.kernel.secrets >= 1);
}

#[test]
fn bash_session() {
    check(Shell::Bash, &["bash", "--norc", "--noprofile"], &[("PS1", "bash$ ".into())]);
}

#[test]
fn dash_session() {
    check(Shell::Dash, &["dash"], &[("PS1", "dash$ ".into())]);
}

#[test]
fn busybox_ash_session() {
    check(Shell::Ash, &["busybox", "ash"], &[("PS1", "ash$ ".into())]);
}

#[test]
fn zsh_session() {
    check(Shell::Zsh, &["zsh", "-f"], &[("PS1", "zsh$ ".into())]);
}

/// Bad input on a real bash: binary and escape-sequence floods on the terminal, a pasted 100 KB
/// line (over the line and rate limits: recorded cut and marked incomplete, drops counted; the
/// command typed right after it recorded whole), a second shell on the same terminal, and the shell killed mid-line. What is recorded equals
/// bash's own history, and nothing else (no garbage commands).
#[test]
fn bash_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    // a low per-process budget, so the pasted line is over it whatever the machine's speed
    let a = Audit::start_with(dir.path(), |c| c.capture.rate_bytes_per_sec = 8 * 1024);
    let env =
        vec![("PS1", "bash$ ".to_string()), ("HISTFILE", dir.path().join("hist-exit").display().to_string())];
    let (t, pid) = Tmux::start(dir.path(), &env, &["bash", "--norc", "--noprofile"]);
    let n = std::cell::Cell::new(0);
    let run = |s: &str| {
        t.line(s);
        n.set(n.get() + 1);
        a.wait_commands(pid, n.get(), &t);
    };
    run("history -c");
    // binary output and terminal queries (their answers come back as input), then a full reset
    run("head -c 100000 /dev/urandom; printf '\\033[c\\033[6n\\033[?1049h\\033[?1049l\\033c'; echo; echo flood-done");
    // done when bash has no child left (the screen may be in any state after random bytes)
    let children = format!("/proc/{pid}/task/{pid}/children");
    let t0 = Instant::now();
    while !std::fs::read_to_string(&children).unwrap_or_default().trim().is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(60), "flood did not finish");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    t.keys(&["C-c"]); // drop whatever the terminal's answers left on the line
    std::thread::sleep(Duration::from_millis(200));
    run("echo after-flood");
    // A pasted line of 100 KB: over the per-line limit (MAX_LINE, 64 KiB) and over the test's
    // per-process budget (8 KiB/s), so it is recorded cut and marked incomplete. The next command is
    // typed at once, so its keys reach the shell in the same budget window as the flood: it must
    // still be recorded whole (a new line gets a grace allowance over the budget).
    let big = format!(": {}", "a".repeat(100_000));
    assert!(big.len() > harrier_session::MAX_LINE);
    let bigfile = dir.path().join("big");
    std::fs::write(&bigfile, &big).unwrap();
    t.tmux(&["load-buffer", bigfile.to_str().unwrap()]);
    t.tmux(&["paste-buffer", "-p"]);
    t.keys(&["Enter"]);
    t.line("echo after-big");
    n.set(n.get() + 2);
    a.wait_commands_for(pid, n.get(), &t, 120);
    // a second shell on the same terminal (same session), then back to the first
    t.line("bash --norc --noprofile");
    n.set(n.get() + 1);
    a.wait_commands(pid, n.get(), &t);
    std::thread::sleep(Duration::from_millis(300));
    t.line("echo inner");
    std::thread::sleep(Duration::from_millis(300));
    t.line("exit");
    std::thread::sleep(Duration::from_millis(300));
    let hist = dir.path().join("bash-history");
    run(&format!("history -w {}", hist.display()));
    // killed mid-line: the half-typed line is not a command
    t.text("echo partial-line");
    std::thread::sleep(Duration::from_millis(200));
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let t0 = Instant::now();
    while !a.records().iter().any(|r| r["kind"] == "session_end" && r["pid"] == pid) {
        assert!(t0.elapsed() < Duration::from_secs(10), "no session_end after the shell was killed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let raw = std::fs::read_to_string(&a.file).unwrap();
    let (stats, _) = a.stop();

    let recs: Vec<Value> = raw.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mine: Vec<&Value> = recs.iter().filter(|r| r["kind"] == "command" && r["pid"] == pid).collect();
    let own: Vec<String> = std::fs::read_to_string(&hist).unwrap().lines().map(str::to_owned).collect();
    let got: Vec<String> = mine.iter().map(|r| r["command"].as_str().unwrap().to_owned()).collect();
    let after_clear = got.iter().position(|c| c == "history -c").unwrap() + 1;
    let got = &got[after_clear..];
    assert_eq!(got.len(), own.len(), "commands {got:?}");
    for (i, (g, o)) in got.iter().zip(&own).enumerate() {
        if o.len() > 1000 {
            // the 100 KB line: incomplete (input dropped by the rate limit), marked, never merged
            let r = mine[after_clear + i];
            assert_eq!(r["truncated"], true, "the big line is marked incomplete");
            assert!(g.starts_with(": aaaa") && g[2..].bytes().all(|b| b == b'a'), "garbage in the big line");
            assert!(g.len() < o.len());
        } else {
            assert_eq!(g, o, "command {i}");
        }
    }
    for c in got {
        assert!(!c.chars().any(|ch| ch.is_control()), "control characters in {c:?}");
    }
    assert!(!raw.contains("partial-line"), "a half-typed line of a killed shell is not a command");
    // the inner shell: its own commands, same session
    let sid = mine[0]["session_id"].clone();
    let inner: Vec<&Value> = recs
        .iter()
        .filter(|r| r["kind"] == "command" && r["session_leader"] == pid && r["pid"] != pid)
        .collect();
    let inner_cmds: Vec<&str> = inner.iter().map(|r| r["command"].as_str().unwrap()).collect();
    assert_eq!(inner_cmds, ["echo inner", "exit"]);
    assert!(inner.iter().all(|r| r["session_id"] == sid));
    // drops were counted
    assert!(stats.kernel.rate_limited > 0, "{:?}", stats.kernel);
    assert!(stats.tracker.incomplete > 0);
}

/// A paste of 50 short commands at once, far over a small per-process budget (64 B/s): a
/// paste is typing, not a flood, so every command is recorded exactly as bash ran it (compared
/// with bash's own history), none cut or marked incomplete.
#[test]
fn bash_paste_of_many_short_lines_over_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let a = Audit::start_with(dir.path(), |c| c.capture.rate_bytes_per_sec = 64);
    let env =
        vec![("PS1", "bash$ ".to_string()), ("HISTFILE", dir.path().join("hist").display().to_string())];
    let (t, pid) = Tmux::start(dir.path(), &env, &["bash", "--norc", "--noprofile"]);
    t.line("history -c");
    a.wait_commands(pid, 1, &t);
    let pasted: Vec<String> = (0..50).map(|i| format!("echo pasted-{i:02}")).collect();
    let block = dir.path().join("block");
    std::fs::write(&block, pasted.join("\n") + "\n").unwrap();
    t.tmux(&["load-buffer", block.to_str().unwrap()]);
    // not bracketed: the lines reach bash as typed keys, each ended by a carriage return
    t.tmux(&["paste-buffer"]);
    a.wait_commands(pid, 51, &t);
    let hist = dir.path().join("bash-history");
    t.line(&format!("history -w {}", hist.display()));
    a.wait_commands(pid, 52, &t);
    let raw = std::fs::read_to_string(&a.file).unwrap();
    let (stats, _) = a.stop();

    let mine: Vec<Value> = raw
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["kind"] == "command" && r["pid"] == pid)
        .collect();
    let got: Vec<&str> = mine.iter().map(|r| r["command"].as_str().unwrap()).collect();
    assert_eq!(got[1..51], pasted.iter().map(String::as_str).collect::<Vec<_>>()[..], "{got:?}");
    for r in &mine[1..51] {
        assert_ne!(r["truncated"], true, "a pasted command marked incomplete: {r}");
    }
    let own: Vec<String> = std::fs::read_to_string(&hist).unwrap().lines().map(str::to_owned).collect();
    assert_eq!(own[..50], pasted[..], "bash's own history");
    // (the kernel and tracker counters are machine-wide, other terminals count too: not asserted
    // here; 700 bytes pasted at once are over a 64 B/s budget whatever the machine's speed)
    let _ = stats;
}

/// Ctrl-C over a tiny per-process budget: a line abandoned with Ctrl-C is not merged into the
/// next command, which is recorded exactly (the kernel's line state is reset by the SIGINT).
#[test]
fn bash_ctrl_c_resets_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let a = Audit::start_with(dir.path(), |c| c.capture.rate_bytes_per_sec = 1024);
    let env =
        vec![("PS1", "bash$ ".to_string()), ("HISTFILE", dir.path().join("hist").display().to_string())];
    let (t, pid) = Tmux::start(dir.path(), &env, &["bash", "--norc", "--noprofile"]);
    t.line("true first");
    a.wait_commands(pid, 1, &t);
    t.text("echo abandoned-partial");
    t.keys(&["C-c"]);
    std::thread::sleep(Duration::from_millis(200));
    t.line("echo after-ctrl-c");
    let c = a.wait_commands(pid, 2, &t);
    assert_eq!(c[1], "echo after-ctrl-c", "{c:?}");
    t.line("echo second");
    a.wait_commands(pid, 3, &t);
    let raw = std::fs::read_to_string(&a.file).unwrap();
    let (stats, _) = a.stop();
    let mine: Vec<Value> = raw
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["kind"] == "command" && r["pid"] == pid)
        .collect();
    let cmds: Vec<&str> = mine.iter().map(|r| r["command"].as_str().unwrap()).collect();
    assert!(!raw.contains("abandoned-partial"), "the abandoned line was recorded: {cmds:?}");
    assert_eq!(cmds, ["true first", "echo after-ctrl-c", "echo second"]);
    assert!(mine.iter().all(|r| r["truncated"] != true), "{cmds:?}");
    assert!(stats.tracker.abandoned >= 1, "{:?}", stats.tracker);
}

/// Everything the process logs through `tracing` (all levels), to prove secrets never reach logs.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        struct W(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for W {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let b = buf.clone();
        let sub = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || W(b.clone()))
            .finish();
        tracing::subscriber::set_global_default(sub).expect("the only subscriber of this test binary");
        buf
    })
    .clone()
}

/// A throwaway user with a random password and a sudoers drop-in allowing it `true` only; both
/// removed on drop (also when the test fails), so no credential outlives the test.
struct SudoUser {
    name: String,
    password: String,
    sudoers: PathBuf,
}

impl SudoUser {
    fn create() -> SudoUser {
        let tag = &secret()[8..16];
        let name = format!("hrsudo{tag}");
        let password = format!("{}-sudo", secret());
        let run = |c: &mut Command| {
            let o = c.output().expect("run user tools");
            assert!(o.status.success(), "{c:?}: {}", String::from_utf8_lossy(&o.stderr));
        };
        let sudoers = PathBuf::from(format!("/etc/sudoers.d/harrier-test-{tag}"));
        let u = SudoUser { name: name.clone(), password: password.clone(), sudoers: sudoers.clone() };
        run(Command::new("useradd").args(["-M", "-d", "/nonexistent", "-s", "/bin/bash", &name]));
        let mut c = Command::new("chpasswd").stdin(std::process::Stdio::piped()).spawn().expect("chpasswd");
        std::io::Write::write_all(c.stdin.as_mut().unwrap(), format!("{name}:{password}\n").as_bytes())
            .unwrap();
        drop(c.stdin.take());
        assert!(c.wait().unwrap().success(), "chpasswd");
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f =
                std::fs::OpenOptions::new().write(true).create_new(true).mode(0o440).open(&sudoers).unwrap();
            std::io::Write::write_all(
                &mut f,
                format!("{name} ALL=(root) /bin/true, /usr/bin/true\n").as_bytes(),
            )
            .unwrap();
        }
        run(Command::new("visudo").args(["-c", "-q", "-f"]).arg(&sudoers));
        u
    }
}

impl Drop for SudoUser {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.sudoers);
        // the user's shell is gone: its tmux server is dropped first
        let _ = Command::new("userdel").arg(&self.name).stderr(std::process::Stdio::null()).status();
        let _ = Command::new("rm").arg("-f").arg(format!("/var/lib/sudo/lectured/{}", self.name)).status();
    }
}

/// `sudo -k; sudo true` typed into a real shell of an unprivileged user: the password typed at
/// sudo's no-echo prompt is accepted by sudo and appears nowhere (audit log, any kernel record of
/// any process, the logs); the command itself is recorded.
#[test]
fn sudo_password_never_recorded() {
    let logs = captured_logs();
    let user = SudoUser::create();
    let dir = tempfile::tempdir().unwrap();
    let a = Audit::start(dir.path());
    // setpriv execs the shell in place: the pane's pid is the user's bash
    let (t, pid) = {
        let (tmux, pid) = Tmux::start(
            dir.path(),
            &[],
            &[
                "setpriv",
                "--reuid",
                &user.name,
                "--regid",
                &user.name,
                "--init-groups",
                "--reset-env",
                "env",
                "PS1=sudo$ ",
                "bash",
                "--norc",
                "--noprofile",
            ],
        );
        (tmux, pid)
    };
    t.line("sudo -k; sudo true");
    let t0 = Instant::now();
    while !t.screen().contains("password for") {
        assert!(t0.elapsed() < Duration::from_secs(20), "no sudo prompt:\n{}", t.screen());
        std::thread::sleep(Duration::from_millis(50));
    }
    t.line(&user.password);
    // sudo flushes typed-ahead input when it restores the terminal: wait for the shell's prompt
    let t0 = Instant::now();
    while t.screen().lines().rfind(|l| !l.trim().is_empty()).map(str::trim_end) != Some("sudo$") {
        assert!(t0.elapsed() < Duration::from_secs(20), "sudo did not return:\n{}", t.screen());
        std::thread::sleep(Duration::from_millis(50));
    }
    t.line("echo sudo-rc=$?");
    let t0 = Instant::now();
    while !t.screen().lines().any(|l| l == "sudo-rc=0") {
        assert!(t0.elapsed() < Duration::from_secs(20), "sudo did not accept the password:\n{}", t.screen());
        std::thread::sleep(Duration::from_millis(50));
    }
    let cmds = a.wait_commands(pid, 2, &t);
    assert_eq!(cmds, ["sudo -k; sudo true", "echo sudo-rc=$?"]);
    let uid: u32 = t
        .query("#{pane_pid}")
        .parse::<u32>()
        .map(|p| {
            std::fs::read_to_string(format!("/proc/{p}/status"))
                .unwrap()
                .lines()
                .find_map(|l| {
                    l.strip_prefix("Uid:").map(|v| v.split_whitespace().next().unwrap().parse().unwrap())
                })
                .unwrap()
        })
        .unwrap();
    assert_ne!(uid, 0, "the shell runs as the throwaway user");
    t.line("exit");
    let t0 = Instant::now();
    while !a.records().iter().any(|r| r["kind"] == "session_end" && r["pid"] == pid) {
        assert!(t0.elapsed() < Duration::from_secs(10), "no session_end for {pid}");
        std::thread::sleep(Duration::from_millis(30));
    }
    drop(t);
    let raw = std::fs::read_to_string(&a.file).unwrap();
    let (stats, events) = a.stop();
    let mine: Vec<Value> =
        raw.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).filter(|r| r["pid"] == pid).collect();
    assert!(mine.iter().any(|r| r["kind"] == "command" && r["user"] == user.name.as_str()));
    let pw = &user.password;
    assert!(!raw.contains(pw.as_str()), "the sudo password is in the audit log");
    // no kernel record of any process carried it, alone or split across records
    let mut per_pid: std::collections::HashMap<u32, Vec<u8>> = Default::default();
    for e in &events {
        if let TermKind::Input(d) | TermKind::Output(d) = &e.kind {
            per_pid.entry(e.pid).or_default().extend_from_slice(d);
        }
    }
    for (p, bytes) in &per_pid {
        let s = String::from_utf8_lossy(bytes);
        assert!(!s.contains(pw.as_str()) && !s.contains(&pw[..12]), "the password left the kernel (pid {p})");
    }
    // sudo is not a shell: none of its reads left the kernel at all, not even as a length
    assert!(events.iter().all(|e| e.comm != "sudo"), "records of sudo itself");
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(logs.contains("session audit stopped"), "the logs were captured: {logs}");
    assert!(!logs.contains(pw.as_str()), "the sudo password is in the logs");
    assert!(stats.records >= 3);
}

/// The read/write tracepoints are attached only while a shell with a terminal exists. The audit
/// here records one shell name no other process on the machine has (a symlink to bash), so it
/// starts detached; the shell's first command, typed the moment its first prompt shows, is
/// recorded exactly (the attach happens within the shell's start-up); after the shell
/// exits the tracepoints are detached, and shells started and ended in quick succession within
/// the detach delay do not attach again.
#[test]
fn tracepoints_attach_while_a_terminal_shell_exists() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("hsh{}", std::process::id() % 1_000_000);
    let shell = dir.path().join(&name);
    std::os::unix::fs::symlink("/bin/bash", &shell).unwrap();
    let a = Audit::start_with(dir.path(), |c| {
        c.capture.shells = vec![name.clone()];
        c.capture.detach_after = Duration::from_millis(1500);
    });
    let env = vec![("PS1", "hsh$ ".to_string()), ("HISTFILE", dir.path().join("hist").display().to_string())];
    let start = |n: u32, typed: &str| -> (Tmux, u32) {
        let sock = dir.path().join(format!("tmux{n}.sock"));
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&sock).args(["-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "50"]);
        c.env_clear().env("PATH", "/usr/bin:/bin").env("TERM", "xterm").env("HOME", dir.path());
        for (k, v) in &env {
            c.env(k, v);
        }
        c.arg("--").arg(&shell).args(["--norc", "--noprofile"]);
        assert!(c.status().unwrap().success(), "tmux new-session");
        let t = Tmux { sock };
        // typed as soon as the prompt shows (a read the shell is already blocked in when the
        // tracepoints attach is still seen)
        let t0 = Instant::now();
        while !t.screen().contains("hsh$") {
            assert!(t0.elapsed() < Duration::from_secs(10), "no prompt");
            std::thread::sleep(Duration::from_millis(5));
        }
        t.tmux(&["send-keys", "-l", typed]);
        t.tmux(&["send-keys", "Enter"]);
        let pid: u32 = t.query("#{pane_pid}").parse().expect("pane pid");
        (t, pid)
    };
    let (t, pid) = start(0, "echo first-at-prompt");
    let c = a.wait_commands(pid, 1, &t);
    assert_eq!(c, ["echo first-at-prompt"], "the first command of a new shell was lost");
    t.line("echo second");
    a.wait_commands(pid, 2, &t);
    drop(t); // kills the server and its shell
             // wait for the detach (1.5 s after the exit record)
    std::thread::sleep(Duration::from_millis(3500));
    // a loop of short shells inside the detach delay: one attach for all of them
    for i in 1..=3 {
        let (t, pid) = start(i, &format!("echo loop-{i}"));
        let c = a.wait_commands(pid, 1, &t);
        assert_eq!(c, [format!("echo loop-{i}")]);
        drop(t);
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_millis(3500));
    let (stats, _) = a.stop();
    let k = stats.kernel;
    assert_eq!((k.attaches, k.detaches), (2, 2), "{k:?}");
    assert_eq!(k.tracked_shells, 0, "{k:?}");
    assert!(k.attach_latency_max_us > 0, "{k:?}");
    println!("exec to attached: at most {} us", k.attach_latency_max_us);
}
