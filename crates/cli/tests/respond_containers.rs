//! Response on real containers (root, a private containerd with runc and a local busybox image,
//! as in containers.rs): `harrier respond test --act` cuts a container's network after its
//! first connection while the host keeps its network (node:block_network), kills one container
//! and pauses another (node:kill_container / node:pause_container through containerd's Tasks
//! service), and `harrier respond resume` / `unblock` undo what can be undone.

mod common;
mod support;
use common::*;
use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{hex_id, run_ok, unique, Containerd, IMAGE};

fn host_ipv4() -> Ipv4Addr {
    // The machine's local addresses from the kernel's FIB: "|-- A.B.C.D" then "/32 host LOCAL".
    let trie = std::fs::read_to_string("/proc/net/fib_trie").expect("/proc/net/fib_trie");
    let lines: Vec<&str> = trie.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[1].trim() == "/32 host LOCAL")
        .filter_map(|w| w[0].trim().trim_start_matches("|-- ").parse::<Ipv4Addr>().ok())
        .find(|ip| !ip.is_loopback())
        .expect("this test needs a non-loopback IPv4 address")
}

/// `harrier respond test --act -c CONFIG -r RULES` on one alert; the outcome alerts.
fn act(
    config: &std::path::Path,
    rules: &std::path::Path,
    alert: serde_json::Value,
) -> Vec<serde_json::Value> {
    let mut c = Command::new(env!("CARGO_BIN_EXE_harrier"))
        .args(["respond", "test", "--act", "-c", config.to_str().unwrap(), "-r", rules.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(alert.to_string().as_bytes()).unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn alert(rule: &str, full: &str) -> serde_json::Value {
    serde_json::json!({"rule": rule, "priority": "Critical", "time": "2026-12-04T10:00:00Z", "output": "o",
        "output_fields": {"container.id": &full[..12], "container.full_id": full}})
}

/// Removes the test's bpffs directory (the shared counter map pinned there) at the end.
struct RemovePins(String);
impl Drop for RemovePins {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(format!("{}/refused", self.0));
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn task_status(ctd: &Containerd, id: &str) -> String {
    let out = ctd.ctr().args(["task", "ls"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with(id))
        .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
        .unwrap_or_default()
}

fn wait_status(ctd: &Containerd, id: &str, want: &str) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        if task_status(ctd, id) == want {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn container_cut_off_killed_and_paused_through_containerd() {
    let mut ctd = Containerd::start();
    let dir = tempfile::tempdir().unwrap();
    let u = unique();
    let pin = format!("/sys/fs/bpf/harrier-ctd-test-{}", std::process::id());
    let _pins = RemovePins(pin.clone());
    let config = write_rules(
        dir.path(),
        "harrier.yaml",
        &format!(
            "response:\n  containerd_sockets: [{}]\n  block_pin_dir: {pin}\n  block_state_dir: {}\n  deduplication:\n    time_window_seconds: 0\n",
            ctd.socket.display(),
            dir.path().join("block").display()
        ),
    );
    let rules = write_rules(
        dir.path(),
        "response.yaml",
        "- rule: Cut off\n  match:\n    rules: [Outbound connection from container]\n  actions:\n    - action: Block\n      actionner: node:block_network\n\
         - rule: Kill\n  match:\n    rules: [Crypto miner]\n  actions:\n    - action: Kill\n      actionner: node:kill_container\n\
         - rule: Freeze\n  match:\n    rules: [Suspicious shell]\n  actions:\n    - action: Pause\n      actionner: node:pause_container\n",
    );

    // A container on the host network connecting out to the host's address in a loop.
    let ip = host_ipv4();
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let a2 = accepted.clone();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            if s.is_ok() {
                a2.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    let net = hex_id(&format!("net{u}"));
    run_ok(
        ctd.ctr()
            .args([
                "run",
                "-d",
                "--net-host",
                IMAGE,
                &net,
                "sh",
                "-c",
                &format!("while :; do nc -w 1 {ip} {port} </dev/null; sleep 0.05; done"),
            ])
            .stdin(Stdio::null()),
        "ctr run net",
    );
    let t = Instant::now();
    while accepted.load(Ordering::SeqCst) == 0 {
        assert!(t.elapsed() < Duration::from_secs(10), "the container never connected");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The first connection is the alert; the response cuts the container off.
    let out = act(&config, &rules, alert("Outbound connection from container", &net));
    assert_eq!(out[0]["output_fields"]["response.status"], "done", "{:?}", out[0]);
    std::thread::sleep(Duration::from_millis(300));
    let after_block = accepted.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        after_block,
        "no connection from the container after the block"
    );
    // The host keeps its network.
    assert!(std::net::TcpStream::connect_timeout(&(ip, port).into(), Duration::from_secs(2)).is_ok());
    let blocked = harrier(&[
        "respond",
        "blocked",
        "--pin-dir",
        &pin,
        "--state-dir",
        dir.path().join("block").to_str().unwrap(),
    ]);
    let line = stdout(&blocked);
    assert!(line.contains(&net[..12]), "{line}");
    let refused: u64 = line.split("refused=").nth(1).and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    assert!(refused >= 3, "the container's attempts are refused and counted: {line}");
    let un = harrier(&[
        "respond",
        "unblock",
        &net[..12],
        "--pin-dir",
        &pin,
        "--state-dir",
        dir.path().join("block").to_str().unwrap(),
    ]);
    assert!(un.status.success(), "{}", stderr(&un));
    let before = accepted.load(Ordering::SeqCst);
    let t = Instant::now();
    while accepted.load(Ordering::SeqCst) == before {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the container's network did not come back after unblock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = ctd.ctr().args(["task", "kill", "-s", "KILL", &net]).output();
    std::thread::sleep(Duration::from_millis(100));
    let _ = ctd.ctr().args(["task", "rm", "-f", &net]).output();
    let _ = ctd.ctr().args(["container", "rm", &net]).output();

    // Kill one container, pause another.
    let miner = hex_id(&format!("miner{u}"));
    let shell = hex_id(&format!("shell{u}"));
    ctd.run(&miner, &[], None, true, &["sleep", "3600"]);
    ctd.run(&shell, &[], None, true, &["sleep", "3600"]);
    assert_eq!(task_status(&ctd, &miner), "RUNNING");
    let out = act(&config, &rules, alert("Crypto miner", &miner));
    assert_eq!(out[0]["output_fields"]["response.status"], "done", "{:?}", out[0]);
    assert!(wait_status(&ctd, &miner, "STOPPED"), "killed: {}", task_status(&ctd, &miner));
    let out = act(&config, &rules, alert("Suspicious shell", &shell));
    assert_eq!(out[0]["output_fields"]["response.status"], "done", "{:?}", out[0]);
    assert!(wait_status(&ctd, &shell, "PAUSED"), "paused: {}", task_status(&ctd, &shell));
    let r = harrier(&["respond", "resume", &shell, "-c", config.to_str().unwrap()]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(wait_status(&ctd, &shell, "RUNNING"), "resumed: {}", task_status(&ctd, &shell));

    // A container that is gone is reported, not retried.
    let ghost = hex_id(&format!("ghost{u}"));
    let out = act(&config, &rules, alert("Crypto miner", &ghost));
    assert_eq!(out[0]["output_fields"]["response.status"], "failed", "{:?}", out[0]);
}
