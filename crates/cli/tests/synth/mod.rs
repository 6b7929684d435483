//! Synthetic captures for rule tests: a tiny builder for "process P with parent Q execs X / opens
//! path Y with flags / connects to Z", written with the project's own scap writer, so the tests
//! replay them through exactly the pipeline `harrier replay` uses.
//!
//! Events are the driver's newest exit events (what the live probe produces); parameters are set
//! by name from the event schema and every parameter not given is left empty ("no value").
#![allow(dead_code)]

use harrier_event::consts::{af, open_flags};
use harrier_event::{event_info, ids, newest_exit_id, EventBuf, ParamType};
use harrier_scap::{
    FdInfo, FdKind, FdTable, GroupInfo, Header, MachineInfo, ThreadInfo, UserInfo, Writer, WriterOptions,
};
use std::path::{Path, PathBuf};

/// The repository's default rules file.
pub fn default_rules_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/harrier_rules.yaml")
}

/// Replay `cap` with the default rules, every matching rule reported (`rule_matching=all`), and
/// return the JSON alerts. Panics with harrier's stderr when the replay fails.
pub fn replay_default_rules(cap: &Path) -> Vec<serde_json::Value> {
    replay_default_rules_with(cap, &["-o", "rule_matching=all"])
}

/// Replay `cap` with the default rules and extra arguments (`-o key=value`…); the JSON alerts.
pub fn replay_default_rules_with(cap: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    use crate::common::{harrier, json_alerts, stderr};
    let rules = default_rules_file();
    let mut args =
        vec!["replay", "--quiet", cap.to_str().unwrap(), "--rules", rules.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let o = harrier(&args);
    assert!(o.status.success(), "replay {}: {}", cap.display(), stderr(&o));
    json_alerts(&o)
}

/// Open flags (the driver's `PPM_O_*` values) for [`Synth::open`].
pub mod flags {
    use harrier_event::consts::open_flags as o;
    pub const READ: u32 = o::RDONLY;
    pub const WRITE: u32 = o::WRONLY;
    pub const CREATE: u32 = o::WRONLY | o::CREAT | o::F_CREATED;
    pub const TRUNC: u32 = o::WRONLY | o::TRUNC;
    pub const APPEND: u32 = o::WRONLY | o::APPEND;
}

/// The driver's ptrace request numbers (`PPM_PTRACE_*`).
pub const PTRACE_ATTACH: i64 = 11;
pub const PTRACE_TRACEME: i64 = 1;
/// `PPM_EXE_FROM_MEMFD` / `PPM_EXE_UPPER_LAYER` / `PPM_EXE_LOWER_LAYER` execve flags.
pub const EXE_FROM_MEMFD: i64 = 1 << 2;
pub const EXE_UPPER_LAYER: i64 = 1 << 1;
pub const EXE_LOWER_LAYER: i64 = 1 << 3;
/// A terminal (`/dev/pts/0`: major 136, minor 0).
pub const TTY_PTS0: i64 = 136 << 20;

/// A container id (64 hex digits) and the cgroup entry that puts a process in it.
pub const CONTAINER_ID: &str = "3ad7b26ded6d8e7b23da7d48fe889434573036c27ae5a74837233de441c3601e";

pub fn container_cgroups() -> Vec<String> {
    ["cpuset", "memory", "pids"].iter().map(|c| format!("{c}=/docker/{CONTAINER_ID}")).collect()
}

/// One parameter value.
#[derive(Clone, Debug)]
pub enum V {
    I(i64),
    S(String),
    B(Vec<u8>),
}

pub fn s(x: &str) -> V {
    V::S(x.to_string())
}

/// A socket tuple parameter (IPv4): source and destination `a.b.c.d`, ports in host order.
pub fn tuple4(sip: [u8; 4], sport: u16, dip: [u8; 4], dport: u16) -> V {
    let mut b = vec![af::INET];
    b.extend_from_slice(&sip);
    b.extend_from_slice(&sport.to_le_bytes());
    b.extend_from_slice(&dip);
    b.extend_from_slice(&dport.to_le_bytes());
    V::B(b)
}

/// A NUL-separated list parameter (args, env, cgroups).
pub fn list(items: &[&str]) -> V {
    let mut b = Vec::new();
    for i in items {
        b.extend_from_slice(i.as_bytes());
        b.push(0);
    }
    V::B(b)
}

/// What a process runs: the executable, its arguments and how it runs.
#[derive(Clone, Debug)]
pub struct Cmd {
    /// Path given to execve (`filename`) and argv[0].
    pub exe: String,
    /// The real, resolved executable (`trusted_exepath`); defaults to `exe`.
    pub exepath: Option<String>,
    /// The process name (`comm`); defaults to the last component of `exe`.
    pub comm: Option<String>,
    pub args: Vec<String>,
    pub tty: i64,
    pub uid: Option<i64>,
    pub loginuid: i64,
    pub flags: i64,
    pub in_container: bool,
    pub vpid: Option<i64>,
    /// Use execveat instead of execve (the family is watched whole).
    pub execveat: bool,
}

impl Cmd {
    pub fn new(exe: &str, args: &[&str]) -> Cmd {
        Cmd {
            exe: exe.to_string(),
            exepath: None,
            comm: None,
            args: args.iter().map(|a| a.to_string()).collect(),
            tty: 0,
            uid: None,
            loginuid: -1,
            flags: 0,
            in_container: false,
            vpid: None,
            execveat: false,
        }
    }
    pub fn exepath(mut self, p: &str) -> Cmd {
        self.exepath = Some(p.to_string());
        self
    }
    pub fn comm(mut self, c: &str) -> Cmd {
        self.comm = Some(c.to_string());
        self
    }
    pub fn tty(mut self) -> Cmd {
        self.tty = TTY_PTS0;
        self
    }
    pub fn uid(mut self, uid: i64) -> Cmd {
        self.uid = Some(uid);
        self
    }
    pub fn flags(mut self, f: i64) -> Cmd {
        self.flags |= f;
        self
    }
    pub fn in_container(mut self) -> Cmd {
        self.in_container = true;
        self
    }
    pub fn vpid(mut self, v: i64) -> Cmd {
        self.vpid = Some(v);
        self
    }
    pub fn execveat(mut self) -> Cmd {
        self.execveat = true;
        self
    }
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// A capture under construction.
pub struct Synth {
    pub header: Header,
    events: Vec<(Vec<u8>, u32)>,
    ts: u64,
    next_tid: u64,
    buf: EventBuf,
}

impl Default for Synth {
    fn default() -> Self {
        Self::new()
    }
}

impl Synth {
    /// A machine with users root (0), alice (1000) and nobody (65534), and `init` (pid 1).
    pub fn new() -> Synth {
        let user = |uid: u32, name: &str, home: &str| UserInfo {
            uid,
            gid: uid,
            name: name.into(),
            homedir: home.into(),
            shell: "/bin/bash".into(),
        };
        let header = Header {
            machine: Some(MachineInfo {
                num_cpus: 2,
                memory_size_bytes: 1 << 30,
                max_pid: 4_194_304,
                hostname: "synthetic".into(),
                ..Default::default()
            }),
            users: vec![
                user(0, "root", "/root"),
                user(1000, "alice", "/home/alice"),
                user(65534, "nobody", "/"),
            ],
            groups: vec![
                GroupInfo { gid: 0, name: "root".into() },
                GroupInfo { gid: 1000, name: "alice".into() },
            ],
            ..Default::default()
        };
        let mut s = Synth {
            header,
            events: Vec::new(),
            ts: 1_700_000_000_000_000_000,
            next_tid: 1000,
            buf: EventBuf::new(),
        };
        s.process(1, 0, "/sbin/init", &[]);
        s
    }

    /// A process already running when the capture starts (one thread, pid = tid), as root on the
    /// host, with its standard streams on a terminal-less pipe. Returns it for adjustments.
    pub fn process(&mut self, tid: u64, ptid: u64, exe: &str, args: &[&str]) -> &mut ThreadInfo {
        self.header.threads.push(ThreadInfo {
            tid,
            pid: tid,
            ptid,
            sid: tid,
            vpgid: tid,
            comm: basename(exe).chars().take(15).collect(),
            exe: exe.into(),
            exepath: exe.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            cwd: "/".into(),
            fdlimit: 1024,
            vtid: tid as i64,
            vpid: tid as i64,
            loginuid: u32::MAX,
            pgid: tid as i64,
            ..Default::default()
        });
        self.header.threads.last_mut().expect("just pushed")
    }

    /// Whether the header has thread `tid`.
    pub fn has(&self, tid: u64) -> bool {
        self.header.threads.iter().any(|t| t.tid == tid)
    }

    /// Put a process of the header in the test container.
    pub fn containerize(&mut self, tid: u64) {
        if let Some(t) = self.header.threads.iter_mut().find(|t| t.tid == tid) {
            t.cgroups = container_cgroups();
            t.vpid = 1;
            t.vtid = 1;
        }
    }

    /// An fd of a header process.
    pub fn header_fd(&mut self, tid: u64, fd: i64, kind: FdKind) {
        let info = FdInfo { fd, ino: 0, kind };
        match self.header.fd_tables.iter_mut().find(|t| t.tid == tid) {
            Some(t) => t.fds.push(info),
            None => self.header.fd_tables.push(FdTable { tid, fds: vec![info] }),
        }
    }

    /// One event of type `name` (its newest exit version unless `id` is given) by `tid`.
    pub fn event_id(&mut self, id: u16, tid: u64, params: &[(&str, V)]) {
        let info = event_info(id).unwrap_or_else(|| panic!("no event {id}"));
        for (n, _) in params {
            assert!(info.param_index(n).is_some(), "event {} has no parameter {n}", info.name);
        }
        self.ts += 1_000_000;
        self.buf.begin(self.ts, tid, id);
        for p in info.params {
            match params.iter().find(|(n, _)| *n == p.name).map(|(_, v)| v) {
                None => {
                    self.buf.push_empty();
                }
                Some(V::I(i)) => {
                    match p.ptype.fixed_size() {
                        Some(1) => self.buf.push_u8(*i as u8),
                        Some(2) => self.buf.push_u16(*i as u16),
                        Some(4) => self.buf.push_u32(*i as u32),
                        Some(8) => self.buf.push_i64(*i),
                        _ if p.ptype == ParamType::Dyn => {
                            self.buf.push(&[&[0u8][..], &(*i as u64).to_le_bytes()].concat())
                        }
                        _ => panic!("{}.{} is not a number", info.name, p.name),
                    };
                }
                Some(V::S(x)) => {
                    if p.ptype.is_string() || p.ptype == ParamType::Charbuf {
                        self.buf.push_str(x);
                    } else {
                        self.buf.push(x.as_bytes());
                    }
                }
                Some(V::B(b)) => {
                    self.buf.push(b);
                }
            }
        }
        let ev = self.buf.finish().expect("valid event");
        self.events.push((ev.raw().to_vec(), 0));
    }

    /// One syscall exit event (newest version) by `tid`.
    pub fn syscall(&mut self, tid: u64, name: &str, params: &[(&str, V)]) {
        let id = newest_exit_id(name).unwrap_or_else(|| panic!("no exit event for {name}"));
        self.event_id(id, tid, params);
    }

    /// A container event describing the test container (image, privileged), by `tid`, a thread
    /// in it (as the live pipeline emits it when the runtime's metadata arrives).
    pub fn container(&mut self, tid: u64, image_repo: &str, privileged: bool) {
        let json = serde_json::json!({"container": {
            "id": &CONTAINER_ID[..12], "full_id": CONTAINER_ID, "name": "web-1", "type": 0,
            "image": format!("{image_repo}:1.0"), "imagerepo": image_repo, "imagetag": "1.0",
            "privileged": privileged,
        }});
        self.event_id(ids::PPME_CONTAINER_JSON_2_E, tid, &[("json", V::S(json.to_string()))]);
    }

    /// `parent` forks a child that execs `cmd`. Returns the child's tid.
    pub fn spawn(&mut self, parent: u64, cmd: Cmd) -> u64 {
        self.next_tid += 1;
        let tid = self.next_tid;
        let p = self.header.threads.iter().find(|t| t.tid == parent).cloned();
        let (pcomm, pexe, cg) = match &p {
            Some(t) => (t.comm.clone(), t.exe.clone(), t.cgroups.clone()),
            None => ("unknown".into(), "unknown".into(), Vec::new()),
        };
        let cg = if cmd.in_container { container_cgroups() } else { cg };
        let cg: Vec<&str> = cg.iter().map(String::as_str).collect();
        let vpid = cmd.vpid.unwrap_or(tid as i64);
        self.syscall(
            tid,
            "clone",
            &[
                ("res", V::I(0)),
                ("exe", s(&pexe)),
                ("args", list(&[])),
                ("tid", V::I(tid as i64)),
                ("pid", V::I(tid as i64)),
                ("ptid", V::I(parent as i64)),
                ("cwd", s("/")),
                ("comm", s(&pcomm)),
                ("cgroups", list(&cg)),
                ("flags", V::I(0)),
                ("uid", V::I(p.as_ref().map_or(0, |t| t.uid as i64))),
                ("gid", V::I(0)),
                ("vtid", V::I(vpid)),
                ("vpid", V::I(vpid)),
            ],
        );
        self.exec(tid, parent, cmd);
        tid
    }

    /// `tid` (child of `parent`) executes `cmd`.
    pub fn exec(&mut self, tid: u64, parent: u64, cmd: Cmd) {
        let mut argv: Vec<&str> = vec![cmd.exe.as_str()];
        argv.extend(cmd.args.iter().map(String::as_str));
        let cgroups = if cmd.in_container { container_cgroups() } else { Vec::new() };
        let cg: Vec<&str> = cgroups.iter().map(String::as_str).collect();
        let comm = cmd.comm.clone().unwrap_or_else(|| basename(&cmd.exe).chars().take(15).collect());
        let exepath = cmd.exepath.clone().unwrap_or_else(|| cmd.exe.clone());
        let mut params = vec![
            ("res", V::I(0)),
            ("exe", s(&cmd.exe)),
            ("args", list(&argv[1..])),
            ("tid", V::I(tid as i64)),
            ("pid", V::I(tid as i64)),
            ("ptid", V::I(parent as i64)),
            ("cwd", s("/")),
            ("fdlimit", V::I(1024)),
            ("comm", s(&comm)),
            ("cgroups", list(&cg)),
            ("env", list(&["PATH=/usr/bin:/bin"])),
            ("tty", V::I(cmd.tty)),
            ("vpgid", V::I(tid as i64)),
            ("loginuid", V::I(cmd.loginuid)),
            ("flags", V::I(cmd.flags)),
            ("trusted_exepath", s(&exepath)),
            ("pgid", V::I(tid as i64)),
            ("gid", V::I(0)),
        ];
        if let Some(u) = cmd.uid {
            params.push(("uid", V::I(u)));
        }
        if cmd.execveat {
            self.syscall(tid, "execveat", &params);
        } else {
            params.push(("filename", s(&cmd.exe)));
            self.syscall(tid, "execve", &params);
        }
    }

    /// `tid` opens `path` (absolute) with `flags` ([`flags`]) through `which` (open, openat,
    /// openat2 or creat) and gets `fd` (or an error when negative).
    pub fn open_with(&mut self, which: &str, tid: u64, fd: i64, path: &str, fl: u32) {
        let mut params = vec![
            ("fd", V::I(fd)),
            ("name", s(path)),
            ("mode", V::I(0o644)),
            ("dev", V::I(0)),
            ("ino", V::I(7)),
        ];
        match which {
            "creat" => params.push(("creat_flags", V::I(open_flags::F_CREATED as i64))),
            _ => params.push(("flags", V::I(fl as i64))),
        }
        if which != "open" && which != "creat" {
            params.push(("dirfd", V::I(-100)));
        }
        self.syscall(tid, which, &params);
    }

    /// `tid` opens `path` with openat.
    pub fn open(&mut self, tid: u64, fd: i64, path: &str, fl: u32) {
        self.open_with("openat", tid, fd, path, fl);
    }

    /// `tid` creates a TCP (or UDP) socket `fd` and connects it from 10.0.0.5:40000 to `dip:dport`.
    pub fn connect(&mut self, tid: u64, fd: i64, dip: [u8; 4], dport: u16, udp: bool) {
        self.syscall(
            tid,
            "socket",
            &[
                ("fd", V::I(fd)),
                ("domain", V::I(af::INET as i64)),
                ("type", V::I(if udp { 2 } else { 1 })),
                ("proto", V::I(0)),
                ("flags", V::I(0)),
            ],
        );
        let sip = if dip[0] == 127 { [127, 0, 0, 1] } else { [10, 0, 0, 5] };
        self.syscall(
            tid,
            "connect",
            &[("res", V::I(0)), ("tuple", tuple4(sip, 40000, dip, dport)), ("fd", V::I(fd))],
        );
    }

    /// `tid` duplicates `old` onto `new` (dup2).
    pub fn dup2(&mut self, tid: u64, old: i64, new: i64) {
        self.syscall(tid, "dup2", &[("res", V::I(new)), ("oldfd", V::I(old)), ("newfd", V::I(new))]);
    }

    /// Write the capture (plain, or gzip when the name ends in `.gz`).
    pub fn write(&self, path: &Path) {
        let gzip = path.extension().is_some_and(|e| e == "gz");
        let mut w = Writer::create(path, WriterOptions { gzip, level: 6 }).expect("create capture");
        w.write_header(&self.header).expect("header");
        for (raw, fl) in &self.events {
            let ev = harrier_event::Event::new(raw, 0, *fl).expect("event");
            w.write_event(&ev).expect("event written");
        }
        w.finish().expect("capture finished");
    }
}
