//! Response latency, printed as figures (no assertions):
//! - alert → process dead (`node:kill`: pidfd open, identity check, SIGKILL, exit seen on the pidfd);
//! - alert → container cut off (`node:block_network`: four cgroup programs attached and pinned),
//!   root only;
//! - the response stage's cost for alerts no rule takes (the common case), with 50 rules loaded,
//!   and its cost when no alert comes (no thread of its own: nothing runs).
//!
//! - alert → pod deleted (`kubernetes:terminate`: GET pod, DELETE pod) and alert → pod labelled
//!   (`kubernetes:label`: one merge PATCH), through kube-rs against a local mock API server on
//!   loopback (no API server can run here): the client's own cost, without a real API server's
//!   processing or the network to it.
//!
//! No peer runs here (Falco Talon needs a Kubernetes API server and acts through it: its
//! node-level latency is not comparable).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harrier_engine::Alert;
use harrier_respond::{load_strs, Config, Responder, Status};
use harrier_rules::Priority;
use serde_json::json;

fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn alert(rule: &str, fields: &[(&str, serde_json::Value)]) -> Alert {
    Alert {
        time_ns: now_ns(),
        rule: rule.into(),
        priority: Priority::Critical,
        source: "syscall".into(),
        tags: vec!["container".into()],
        output: String::new(),
        output_fields: fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        hostname: String::new(),
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut v: Vec<f64>) {
    let n = v.len();
    println!(
        "{name:<44} n={n:<5} p50={:>8.3} ms  p99={:>8.3} ms  max={:>8.3} ms",
        pct(&mut v, 0.5),
        pct(&mut v, 0.99),
        pct(&mut v, 1.0)
    );
}

fn cfg() -> Config {
    Config { dedup_window: Duration::ZERO, rate_per_minute: 0, ..Config::default() }
}

fn bench_kill() {
    let rules = "- rule: K\n  match:\n    rules: [Read sensitive file]\n  actions:\n    - action: Kill\n      actionner: node:kill\n";
    let r = Responder::new(load_strs(&[("k.yaml", rules)]).unwrap(), cfg());
    let mut lat = Vec::new();
    for _ in 0..300 {
        let mut c = Command::new("sleep").arg("100").stdin(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(2));
        let a = alert("Read sensitive file", &[("proc.pid", json!(c.id())), ("proc.name", json!("sleep"))]);
        let t = Instant::now();
        let out = r.handle(&a);
        let dt = t.elapsed();
        assert_eq!(out[0].status, Status::Done, "{}", out[0].detail);
        lat.push(dt.as_secs_f64() * 1e3);
        c.wait().unwrap();
    }
    report("alert -> process dead (node:kill)", lat);
}

fn bench_block() {
    if unsafe { libc::geteuid() } != 0 {
        println!("alert -> container cut off: needs root (eBPF), not measured");
        return;
    }
    let mount = harrier_respond::node::block::cgroup2_mount().expect("cgroup2");
    let cg = mount.join(format!("harrier-bench-{}", std::process::id()));
    std::fs::create_dir_all(&cg).unwrap();
    let state = std::env::temp_dir().join(format!("harrier-bench-block-{}", std::process::id()));
    let places = harrier_respond::node::block::Places {
        pin_root: format!("/sys/fs/bpf/harrier-bench-{}", std::process::id()).into(),
        state_dir: state.clone(),
    };
    let mut c = Command::new("sleep").arg("100").spawn().unwrap();
    std::fs::write(cg.join("cgroup.procs"), c.id().to_string()).unwrap();
    let rules = "- rule: B\n  actions:\n    - action: Block\n      actionner: node:block_network\n";
    let t = Instant::now();
    let r =
        Responder::new(load_strs(&[("b.yaml", rules)]).unwrap(), Config { block: places.clone(), ..cfg() });
    println!(
        "{:<44} {:>8.3} ms (once, at start)",
        "block programs loaded and verified",
        t.elapsed().as_secs_f64() * 1e3
    );
    let mut lat = Vec::new();
    for _ in 0..200 {
        let a = alert("Outbound", &[("proc.pid", json!(c.id())), ("container.id", json!("3f4e2a1b5c6d"))]);
        let t = Instant::now();
        let out = r.handle(&a);
        let dt = t.elapsed();
        assert_eq!(out[0].status, Status::Done, "{}", out[0].detail);
        lat.push(dt.as_secs_f64() * 1e3);
        harrier_respond::node::block::unblock(&places, Some("3f4e2a1b5c6d")).unwrap();
    }
    report("alert -> container cut off (block_network)", lat);
    c.kill().unwrap();
    c.wait().unwrap();
    drop(r);
    let _ = std::fs::remove_file(places.pin_root.join("refused"));
    let _ = std::fs::remove_dir(&places.pin_root);
    let _ = std::fs::remove_dir_all(&state);
    let _ = std::fs::remove_dir(&cg);
}

fn bench_idle() {
    let mut text = String::new();
    for i in 0..50 {
        text.push_str(&format!(
            "- rule: R{i}\n  match:\n    rules: [Rule {i}]\n    priority: '>=Warning'\n    output_fields:\n      - k8s.ns.name!=kube-system\n  actions:\n    - action: A{i}\n      actionner: kubernetes:label\n      parameters:\n        labels:\n          x: y\n"
        ));
    }
    let r = Responder::new(load_strs(&[("i.yaml", &text)]).unwrap(), cfg());
    let a = alert("Some other rule", &[("k8s.ns.name", json!("prod")), ("proc.pid", json!(1234))]);
    let n = 200_000;
    let t = Instant::now();
    for _ in 0..n {
        assert!(r.handle(&a).is_empty());
    }
    let per = t.elapsed().as_secs_f64() * 1e9 / n as f64;
    println!(
        "{:<44} {per:>8.0} ns per alert (50 rules, none matching)",
        "response stage, alert taken by no rule"
    );
    // Idle: the stage has no thread; measure this process's CPU over a quiet second.
    let cpu = |_: ()| {
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
        (u.ru_utime.tv_sec * 1_000_000
            + u.ru_utime.tv_usec
            + u.ru_stime.tv_sec * 1_000_000
            + u.ru_stime.tv_usec) as f64
    };
    let c0 = cpu(());
    std::thread::sleep(Duration::from_secs(1));
    let c1 = cpu(());
    println!("{:<44} {:>8.3} % of a core (no alerts, 1 s)", "response stage, idle", (c1 - c0) / 1e4);
    drop(r);
}

/// A minimal stand-in for the API server (loopback): answers GET/DELETE/PATCH of one pod.
fn mock_api() -> (tokio::runtime::Runtime, std::path::PathBuf, tempfile::TempDir) {
    use axum::http::Method;
    use axum::response::IntoResponse;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let addr = rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let router = axum::Router::new().fallback(|m: Method| async move {
            let pod = json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "web-1", "namespace": "prod",
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7f9c", "uid": "u"}]},
                "spec": {"nodeName": "node-7", "containers": [{"name": "app"}]}});
            let _ = m;
            ([("content-type", "application/json")], pod.to_string()).into_response()
        });
        tokio::spawn(async move { axum::serve(l, router).await.unwrap() });
        addr
    });
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, format!("apiVersion: v1\nkind: Config\nclusters:\n- name: m\n  cluster:\n    server: http://{addr}\ncontexts:\n- name: m\n  context:\n    cluster: m\n    user: u\ncurrent-context: m\nusers:\n- name: u\n  user:\n    token: t\n")).unwrap();
    (rt, kc, dir)
}

fn bench_kubernetes() {
    let (_rt, kc, _dir) = mock_api();
    let kube = harrier_respond::kubernetes::KubeSettings { kubeconfig: Some(kc), ..Default::default() };
    for (name, actionner, params) in [
        ("alert -> pod deleted (kubernetes:terminate)", "kubernetes:terminate", ""),
        (
            "alert -> pod labelled (kubernetes:label)",
            "kubernetes:label",
            "      parameters:\n        labels:\n          quarantine: \"true\"\n",
        ),
    ] {
        let rules = format!("- rule: K\n  actions:\n    - action: A\n      actionner: {actionner}\n{params}");
        let r =
            Responder::new(load_strs(&[("k.yaml", &rules)]).unwrap(), Config { kube: kube.clone(), ..cfg() });
        let mut lat = Vec::new();
        for i in 0..500 {
            let a = alert("Shell", &[("k8s.ns.name", json!("prod")), ("k8s.pod.name", json!("web-1"))]);
            let t = Instant::now();
            let out = r.handle(&a);
            let dt = t.elapsed();
            assert_eq!(out[0].status, Status::Done, "{}", out[0].detail);
            if i >= 20 {
                lat.push(dt.as_secs_f64() * 1e3);
            }
        }
        report(name, lat);
    }
}

fn main() {
    bench_idle();
    bench_kubernetes();
    bench_kill();
    bench_block();
}
