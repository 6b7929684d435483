//! node:block_network on the real kernel (root): a process in its own cgroup v2 is cut off
//! (TCP connect and UDP send refused) after the first alert while the host keeps its network;
//! `unblock` gives it back. The cgroup stands in for a container's (containerd puts each
//! container in one; see the containerd test in crates/cli/tests for the full path).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harrier_respond::node::block::{self, Places};
use harrier_respond::{load_strs, Config, Responder, Status};
use harrier_rules::Priority;
use serde_json::json;

fn host_ipv4() -> Ipv4Addr {
    // The first non-loopback IPv4 address of this machine.
    let mut ifa: *mut libc::ifaddrs = std::ptr::null_mut();
    assert_eq!(unsafe { libc::getifaddrs(&mut ifa) }, 0);
    let mut p = ifa;
    let mut found = None;
    while !p.is_null() {
        let a = unsafe { &*p };
        if !a.ifa_addr.is_null() && unsafe { (*a.ifa_addr).sa_family } as i32 == libc::AF_INET {
            let sin = unsafe { &*(a.ifa_addr as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            if !ip.is_loopback() && found.is_none() {
                found = Some(ip);
            }
        }
        p = a.ifa_next;
    }
    unsafe { libc::freeifaddrs(ifa) };
    found.expect("this test needs a non-loopback IPv4 address")
}

/// bash, moved into `cg`, waiting for a line, then connecting (TCP) and sending (UDP) to ip.
fn prober(cg: &std::path::Path, ip: Ipv4Addr, port: u16) -> Child {
    let script = format!(
        "read go; if exec 3<>/dev/tcp/{ip}/{port}; then echo tcp-ok; else echo tcp-refused; fi; if echo x >/dev/udp/{ip}/{port}; then echo udp-ok; else echo udp-refused; fi"
    );
    let c = Command::new("bash")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::fs::write(cg.join("cgroup.procs"), c.id().to_string()).unwrap();
    c
}

fn go(mut c: Child) -> String {
    c.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut s = String::new();
    c.stdout.take().unwrap().read_to_string(&mut s).unwrap();
    c.wait().unwrap();
    s
}

struct Cleanup(PathBuf, Places);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = block::unblock(&self.1, None);
        let _ = std::fs::remove_file(self.1.pin_root.join("refused"));
        let _ = std::fs::remove_dir(&self.1.pin_root);
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn container_cgroup_is_cut_off_host_keeps_network() {
    assert!(unsafe { libc::geteuid() } == 0, "this test loads eBPF programs: run it as root");
    let mount = block::cgroup2_mount().expect("cgroup2 mounted");
    let cg = mount.join(format!("harrier-block-test-{}", std::process::id()));
    std::fs::create_dir_all(&cg).unwrap();
    let state = tempfile::tempdir().unwrap();
    let places = Places {
        pin_root: PathBuf::from(format!("/sys/fs/bpf/harrier-test-{}", std::process::id())),
        state_dir: state.path().into(),
    };
    let _cleanup = Cleanup(cg.clone(), places.clone());

    let ip = host_ipv4();
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _udp = std::net::UdpSocket::bind(("0.0.0.0", port)).unwrap();

    // Before: the process in the cgroup reaches the host address.
    assert_eq!(go(prober(&cg, ip, port)), "tcp-ok\nudp-ok\n");

    let rules = "- rule: Cut\n  match:\n    rules: [Outbound connection]\n  actions:\n    - action: Block\n      actionner: node:block_network\n";
    let r = Responder::new(
        load_strs(&[("r.yaml", rules)]).unwrap(),
        Config { block: places.clone(), ..Config::default() },
    );
    let victim = prober(&cg, ip, port);
    let alert = |pid: u32, cid: &str| harrier_engine::Alert {
        time_ns: 0,
        rule: "Outbound connection".into(),
        priority: Priority::Notice,
        source: "syscall".into(),
        tags: vec![],
        output: String::new(),
        output_fields: [("proc.pid".to_string(), json!(pid)), ("container.id".to_string(), json!(cid))]
            .into_iter()
            .collect(),
        hostname: String::new(),
    };
    let t = Instant::now();
    let out = r.handle(&alert(victim.id(), "3f4e2a1b5c6d"));
    let took = t.elapsed();
    assert_eq!(out[0].status, Status::Done, "{}", out[0].detail);
    println!("block_network: alert -> programs attached in {took:?}");
    assert_eq!(go(victim), "tcp-refused\nudp-refused\n", "cut off after the first alert");

    // The host keeps its network.
    let s = std::net::TcpStream::connect_timeout(&(ip, port).into(), Duration::from_secs(2));
    assert!(s.is_ok(), "the host still connects: {s:?}");

    let l = block::list(&places);
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].label, "3f4e2a1b5c6d");
    assert!(l[0].refused >= 2, "refusals counted: {}", l[0].refused);

    // Harrier's own (root) cgroup is never blocked, whatever the rule says.
    let out = r.handle(&alert(std::process::id(), "aaaaaaaaaaaa"));
    assert_eq!(out[0].status, Status::Skipped, "{}", out[0].detail);
    assert!(out[0].detail.contains("protected"), "{}", out[0].detail);

    // Unblock by container id: the network is back.
    let removed = block::unblock(&places, Some("3f4e2a1b5c6d")).unwrap();
    assert_eq!(removed.len(), 1);
    assert!(block::list(&places).is_empty());
    assert_eq!(go(prober(&cg, ip, port)), "tcp-ok\nudp-ok\n");
}
