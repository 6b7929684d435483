//! `harrier generate`: perform suspicious behaviours safely, so operators can check that a
//! deployment sees them. Every action names the default rule (rules/harrier_rules.yaml) it should
//! raise. Actions work in a private temporary directory, touch system directories only with
//! uniquely named files they remove at once, connect only to local addresses, and clean up.
//!
//! Processes get the names rules look for by running through uniquely placed symbolic links
//! (the kernel names a process after the path it was started from).

pub mod containers;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Where an action can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// On the host (or wherever the generator runs).
    Any,
    /// Needs to run inside a container (skipped elsewhere).
    Container,
    /// Runs in a throwaway container of a reachable containerd (skipped when none answers).
    Containerd,
}

impl Context {
    pub fn as_str(self) -> &'static str {
        match self {
            Context::Any => "host",
            Context::Container => "container",
            Context::Containerd => "containerd",
        }
    }
}

/// One behaviour.
pub struct Action {
    pub name: &'static str,
    /// The default rule this action should raise.
    pub rule: &'static str,
    pub description: &'static str,
    pub context: Context,
    run: fn(&Workspace) -> Result<(), String>,
}

/// Outcome of running an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Skipped(String),
    Failed(String),
}

/// A private scratch directory, removed on drop, plus a unique tag for file names.
pub struct Workspace {
    pub dir: PathBuf,
    pub tag: String,
}

impl Workspace {
    pub fn new() -> Result<Workspace, String> {
        let tag = format!("harrier-generate-{}-{}", std::process::id(), nanos());
        let dir = std::env::temp_dir().join(&tag);
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(Workspace { dir, tag })
    }

    /// A symbolic link `name` in the workspace pointing at `target` (found on PATH).
    fn named(&self, name: &str, target: &str) -> Result<PathBuf, String> {
        let target = which(target).ok_or_else(|| format!("{target} not found on this machine"))?;
        let sub = self.dir.join(format!("bin-{name}-{}", nanos()));
        fs::create_dir_all(&sub).map_err(|e| e.to_string())?;
        let link = sub.join(name);
        std::os::unix::fs::symlink(&target, &link).map_err(|e| format!("symlink {}: {e}", link.display()))?;
        Ok(link)
    }

    /// A unique file name inside a system directory (removed by the caller).
    fn unique_in(&self, dir: &str) -> PathBuf {
        Path::new(dir).join(format!(".{}-{}", self.tag, nanos()))
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

fn which(bin: &str) -> Option<PathBuf> {
    if bin.starts_with('/') {
        return Path::new(bin).exists().then(|| PathBuf::from(bin));
    }
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin:/usr/sbin:/sbin".into());
    let found = path
        .split(':')
        .chain(["/usr/bin", "/bin", "/usr/sbin", "/sbin"])
        .map(|d| Path::new(d).join(bin))
        .find(|p| p.exists());
    found
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let st = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} exited with {st}"))
    }
}

/// Create `path` (a regular file), write a line, and remove it.
fn touch_and_remove(path: &Path) -> Result<(), String> {
    let mut f = OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let _ = writeln!(f, "# written by harrier generate; safe to delete");
    drop(f);
    fs::remove_file(path).map_err(|e| format!("cannot remove {}: {e}", path.display()))
}

fn errno() -> std::io::Error {
    std::io::Error::last_os_error()
}

// ------------------------------------------------------------------ actions

fn read_sensitive_file(_: &Workspace) -> Result<(), String> {
    File::open("/etc/shadow").map(drop).map_err(|e| format!("open /etc/shadow: {e}"))
}

fn write_below_etc(w: &Workspace) -> Result<(), String> {
    touch_and_remove(&w.unique_in("/etc"))
}

fn write_below_binary_dir(w: &Workspace) -> Result<(), String> {
    touch_and_remove(&w.unique_in("/usr/local/bin"))
}

fn write_below_root(w: &Workspace) -> Result<(), String> {
    touch_and_remove(&w.unique_in("/root"))
}

fn write_below_dev(w: &Workspace) -> Result<(), String> {
    touch_and_remove(&w.unique_in("/dev"))
}

fn search_private_keys(w: &Workspace) -> Result<(), String> {
    run(Command::new("find").arg(&w.dir).args(["-maxdepth", "1", "-iname", "id_rsa"]))
}

fn shell_from_server(w: &Workspace) -> Result<(), String> {
    // A shell (sh) started by a process named like a web server.
    let server = w.named("nginx", "sh")?;
    run(Command::new(server).args(["-c", "sh -c true; true"]))
}

fn reverse_shell(_: &Workspace) -> Result<(), String> {
    // A shell whose standard input and output are a TCP connection (to a local listener).
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    let _peer = listener.accept().map_err(|e| e.to_string())?;
    let fd_in: OwnedFd = stream.try_clone().map_err(|e| e.to_string())?.into();
    let fd_out: OwnedFd = stream.into();
    let st = Command::new(which("sh").ok_or("sh not found")?)
        .args(["-c", "true"])
        .stdin(Stdio::from(fd_in))
        .stdout(Stdio::from(fd_out))
        .stderr(Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    st.success().then_some(()).ok_or_else(|| format!("sh exited with {st}"))
}

fn outbound_connection(_: &Workspace) -> Result<(), String> {
    // bash connects a UDP socket to a documentation address (TEST-NET-2, RFC 5737). A UDP
    // connect only records the peer: no packet leaves the machine.
    run(Command::new(which("bash").ok_or("bash not found")?).args(["-c", "exec 3<>/dev/udp/198.51.100.1/9"]))
}

fn exec_from_tmp(w: &Workspace) -> Result<(), String> {
    let bin = w.dir.join("dropped");
    fs::copy(which("true").ok_or("true not found")?, &bin).map_err(|e| e.to_string())?;
    run(&mut Command::new(&bin))
}

fn exec_from_dev_shm(w: &Workspace) -> Result<(), String> {
    if !Path::new("/dev/shm").is_dir() {
        return Err("/dev/shm does not exist here".into());
    }
    let bin = w.unique_in("/dev/shm");
    fs::copy(which("true").ok_or("true not found")?, &bin).map_err(|e| e.to_string())?;
    let res = run(&mut Command::new(&bin));
    let _ = fs::remove_file(&bin);
    res
}

fn fileless_memfd(_: &Workspace) -> Result<(), String> {
    let bytes = fs::read(which("true").ok_or("true not found")?).map_err(|e| e.to_string())?;
    // SAFETY: memfd_create with a NUL-terminated name; the fd is owned right after.
    let fd = unsafe { libc::memfd_create(c"harrier-generate".as_ptr(), 0) };
    if fd < 0 {
        return Err(format!("memfd_create: {}", errno()));
    }
    // SAFETY: fd is a fresh, valid descriptor that nothing else owns.
    let mut f = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    f.write_all(&bytes).map_err(|e| e.to_string())?;
    // The child inherits the fd (no close-on-exec) and executes it through /proc/self/fd.
    run(&mut Command::new(format!("/proc/self/fd/{}", f.as_raw_fd())))
}

fn ptrace_attach(_: &Workspace) -> Result<(), String> {
    let mut child = Command::new(which("sleep").ok_or("sleep not found")?)
        .arg("30")
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let pid = child.id() as libc::pid_t;
    std::thread::sleep(Duration::from_millis(50));
    // SAFETY: plain ptrace requests on our own child process.
    let res = unsafe { libc::ptrace(libc::PTRACE_ATTACH, pid, 0, 0) };
    let out = if res < 0 {
        Err(format!("ptrace(PTRACE_ATTACH): {}", errno()))
    } else {
        let mut status = 0;
        // SAFETY: waiting for our own traced child.
        unsafe {
            libc::waitpid(pid, &mut status, 0);
            libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0);
        }
        Ok(())
    };
    let _ = child.kill();
    let _ = child.wait();
    out
}

fn kernel_module(_: &Workspace) -> Result<(), String> {
    // An attempt with an empty image: it fails (as it should), and the attempt is what the rule
    // watches. Nothing can be loaded.
    // SAFETY: init_module with a zero-length buffer and an empty parameter string.
    let _ = unsafe { libc::syscall(libc::SYS_init_module, std::ptr::null::<u8>(), 0usize, c"".as_ptr()) };
    Ok(())
}

fn bpf_program(_: &Workspace) -> Result<(), String> {
    // A two-instruction socket filter (`r0 = 0; exit`), loaded and closed at once.
    let insns: [u64; 2] = [0x0000_0000_0000_00b7, 0x0000_0000_0000_0095];
    let license = c"GPL";
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&1u32.to_ne_bytes()); // BPF_PROG_TYPE_SOCKET_FILTER
    attr[4..8].copy_from_slice(&2u32.to_ne_bytes()); // insn_cnt
    attr[8..16].copy_from_slice(&(insns.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    // SAFETY: BPF_PROG_LOAD with a fully initialised attribute buffer that outlives the call.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, 5, attr.as_ptr(), attr.len()) };
    if fd < 0 {
        return Err(format!("bpf(BPF_PROG_LOAD): {}", errno()));
    }
    // SAFETY: closing the descriptor we just got.
    unsafe { libc::close(fd as i32) };
    Ok(())
}

fn setuid_non_sudo(_: &Workspace) -> Result<(), String> {
    // A child drops to nobody, then tries to become root again (which fails).
    let mut cmd = Command::new(which("true").ok_or("true not found")?);
    // SAFETY: only async-signal-safe syscalls in the child before exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setuid(65534) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::setuid(0);
            Ok(())
        });
    }
    run(&mut cmd)
}

fn user_management(w: &Workspace) -> Result<(), String> {
    // A program named useradd (a link to `true`): no account is touched.
    run(&mut Command::new(w.named("useradd", "true")?))
}

fn clear_log(w: &Workspace) -> Result<(), String> {
    let path = w.unique_in("/var/log");
    fs::write(&path, b"harrier generate\n").map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let res = OpenOptions::new().write(true).truncate(true).open(&path).map(drop).map_err(|e| e.to_string());
    let _ = fs::remove_file(&path);
    res
}

fn cron_persistence(w: &Workspace) -> Result<(), String> {
    if !Path::new("/etc/cron.d").is_dir() {
        fs::create_dir_all("/etc/cron.d").map_err(|e| format!("cannot create /etc/cron.d: {e}"))?;
    }
    touch_and_remove(&w.unique_in("/etc/cron.d"))
}

fn shell_config(w: &Workspace) -> Result<(), String> {
    fs::write(w.dir.join(".bashrc"), b"# harrier generate\n").map_err(|e| e.to_string())
}

fn link_sensitive(w: &Workspace) -> Result<(), String> {
    std::os::unix::fs::symlink("/etc/shadow", w.dir.join("shadow-link")).map_err(|e| e.to_string())
}

fn decoded_script(_: &Workspace) -> Result<(), String> {
    // "true", base64-encoded, decoded and piped into a shell.
    run(Command::new(which("sh").ok_or("sh not found")?).args(["-c", "echo dHJ1ZQo= | base64 -d | sh"]))
}

fn system_binary_network(w: &Workspace) -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    // bash under the name `sed` opens a TCP connection to the local listener.
    let sed = w.named("sed", "bash")?;
    run(Command::new(sed).args(["-c", &format!("exec 3<>/dev/tcp/127.0.0.1/{port}")]))
}

fn io_uring(_: &Workspace) -> Result<(), String> {
    let mut params = [0u8; 120];
    // SAFETY: io_uring_setup with a zeroed, large-enough parameter block.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4u32, params.as_mut_ptr()) };
    if fd < 0 {
        return Err(format!("io_uring_setup: {}", errno()));
    }
    // SAFETY: closing the descriptor we just got.
    unsafe { libc::close(fd as i32) };
    Ok(())
}

/// Every action, in the order `--all` runs them.
pub static ACTIONS: &[Action] = &[
    Action {
        name: "read-sensitive-file",
        rule: "Read sensitive file by untrusted program",
        description: "open /etc/shadow for reading",
        context: Context::Any,
        run: read_sensitive_file,
    },
    Action {
        name: "write-below-etc",
        rule: "Write below etc",
        description: "create and remove a uniquely named file in /etc",
        context: Context::Any,
        run: write_below_etc,
    },
    Action {
        name: "write-below-binary-dir",
        rule: "Write below binary directory",
        description: "create and remove a uniquely named file in /usr/local/bin",
        context: Context::Any,
        run: write_below_binary_dir,
    },
    Action {
        name: "write-below-root",
        rule: "Write below root home",
        description: "create and remove a uniquely named file in /root",
        context: Context::Any,
        run: write_below_root,
    },
    Action {
        name: "write-below-dev",
        rule: "Write below dev",
        description: "create and remove a uniquely named regular file in /dev",
        context: Context::Any,
        run: write_below_dev,
    },
    Action {
        name: "search-private-keys",
        rule: "Search for private keys or passwords",
        description: "find id_rsa in a private temporary directory",
        context: Context::Any,
        run: search_private_keys,
    },
    Action {
        name: "shell-from-server",
        rule: "Shell spawned by a server process",
        description: "a process named nginx starts a shell",
        context: Context::Any,
        run: shell_from_server,
    },
    Action {
        name: "reverse-shell",
        rule: "Reverse shell",
        description: "a shell with stdin/stdout on a TCP connection to a local listener",
        context: Context::Any,
        run: reverse_shell,
    },
    Action {
        name: "outbound-connection",
        rule: "Unexpected outbound connection",
        description: "bash connects a UDP socket to 198.51.100.1, a documentation address (nothing is sent)",
        context: Context::Any,
        run: outbound_connection,
    },
    Action {
        name: "exec-from-tmp",
        rule: "Execution from a temporary directory",
        description: "copy true into a temporary directory and run it",
        context: Context::Any,
        run: exec_from_tmp,
    },
    Action {
        name: "exec-from-dev-shm",
        rule: "Execution from shared memory",
        description: "copy true into /dev/shm and run it",
        context: Context::Any,
        run: exec_from_dev_shm,
    },
    Action {
        name: "fileless-memfd",
        rule: "Fileless execution via memfd",
        description: "run true from a memfd_create file",
        context: Context::Any,
        run: fileless_memfd,
    },
    Action {
        name: "ptrace-attach",
        rule: "Ptrace attach or code injection",
        description: "attach to a sleeping child with ptrace and detach",
        context: Context::Any,
        run: ptrace_attach,
    },
    Action {
        name: "kernel-module",
        rule: "Kernel module load",
        description: "call init_module with an empty image (fails harmlessly)",
        context: Context::Any,
        run: kernel_module,
    },
    Action {
        name: "bpf-program",
        rule: "BPF program load",
        description: "load and unload a two-instruction socket filter",
        context: Context::Any,
        run: bpf_program,
    },
    Action {
        name: "setuid-non-sudo",
        rule: "Setuid to root by a non-sudo program",
        description: "a child drops to nobody, then tries setuid(0)",
        context: Context::Any,
        run: setuid_non_sudo,
    },
    Action {
        name: "user-management",
        rule: "User or group management",
        description: "run a program named useradd (a link to true)",
        context: Context::Any,
        run: user_management,
    },
    Action {
        name: "clear-log",
        rule: "Log files cleared",
        description: "truncate a uniquely named file in /var/log, then remove it",
        context: Context::Any,
        run: clear_log,
    },
    Action {
        name: "cron-persistence",
        rule: "Cron or systemd persistence",
        description: "create and remove a uniquely named file in /etc/cron.d",
        context: Context::Any,
        run: cron_persistence,
    },
    Action {
        name: "shell-config",
        rule: "Shell configuration modified",
        description: "write a .bashrc in a private temporary directory",
        context: Context::Any,
        run: shell_config,
    },
    Action {
        name: "link-sensitive-file",
        rule: "Link to a sensitive file",
        description: "symlink /etc/shadow from a private temporary directory",
        context: Context::Any,
        run: link_sensitive,
    },
    Action {
        name: "decoded-script",
        rule: "Decoded or downloaded script executed",
        description: "decode a base64 command and pipe it into sh",
        context: Context::Any,
        run: decoded_script,
    },
    Action {
        name: "system-binary-network",
        rule: "System binary made a network connection",
        description: "a process named sed connects to a local port",
        context: Context::Any,
        run: system_binary_network,
    },
    Action {
        name: "io-uring",
        rule: "io_uring used by an unexpected program",
        description: "set up and close an io_uring instance",
        context: Context::Any,
        run: io_uring,
    },
    containers::TERMINAL_SHELL,
    containers::PACKAGE_MANAGER,
    containers::NAMESPACE_CHANGE,
    containers::PRIVILEGED,
];

/// Find an action by name.
pub fn action(name: &str) -> Option<&'static Action> {
    ACTIONS.iter().find(|a| a.name == name)
}

/// Whether this process runs inside a container (by its cgroup).
pub fn in_container() -> bool {
    fs::read_to_string("/proc/self/cgroup")
        .map(|s| {
            s.lines()
                .any(|l| ["docker", "containerd", "kubepods", "libpod", "crio"].iter().any(|k| l.contains(k)))
        })
        .unwrap_or(false)
        || Path::new("/.dockerenv").exists()
        || Path::new("/run/.containerenv").exists()
}

impl Action {
    /// Perform the action in a fresh workspace.
    pub fn perform(&self) -> Outcome {
        if self.context == Context::Container && !in_container() {
            return Outcome::Skipped("needs to run inside a container".into());
        }
        if self.context == Context::Containerd {
            if let Err(why) = containers::reachable() {
                return Outcome::Skipped(why);
            }
        }
        match Workspace::new().and_then(|w| (self.run)(&w)) {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Failed(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_rules_named() {
        let mut names: Vec<&str> = ACTIONS.iter().map(|a| a.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ACTIONS.len());
        assert!(ACTIONS.iter().all(|a| !a.rule.is_empty() && !a.description.is_empty()));
        assert!(action("reverse-shell").is_some() && action("nope").is_none());
    }

    #[test]
    fn workspace_is_private_and_removed() {
        let dir = {
            let w = Workspace::new().unwrap();
            assert!(w.dir.is_dir());
            let l = w.named("nginx", "sh").unwrap();
            assert!(l.ends_with("nginx"));
            w.dir.clone()
        };
        assert!(!dir.exists());
    }

    #[test]
    fn unprivileged_actions_leave_nothing_behind() {
        for name in
            ["search-private-keys", "shell-config", "link-sensitive-file", "decoded-script", "exec-from-tmp"]
        {
            assert_eq!(action(name).unwrap().perform(), Outcome::Done, "{name}");
        }
        let leftovers = fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("harrier-generate-{}-", std::process::id()))
            })
            .count();
        assert_eq!(leftovers, 0);
    }
}
