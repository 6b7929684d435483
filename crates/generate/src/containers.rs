//! Actions that need a container. Each one runs in a throwaway container of a reachable containerd
//! (found like `harrier run` finds it: `HARRIER_CONTAINERD_SOCKET`, else the usual sockets) and
//! leaves nothing behind: the image (a busybox root file system built here from the host's static
//! busybox, no registry needed) is imported under a unique tag into the containerd namespace
//! [`NAMESPACE`], and the containers, the image and the namespace are removed afterwards, also
//! when the action fails. Everything goes through containerd's own client, `ctr`.

use crate::{Action, Context, Workspace};
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The containerd namespace the throwaway containers and images live in.
pub const NAMESPACE: &str = "harrier-generate";

/// Image repository of the throwaway image (the tag is unique per action).
pub const IMAGE_REPOSITORY: &str = "localhost/harrier-generate";

/// Label on every throwaway container: the action that started it.
pub const ACTION_LABEL: &str = "io.harrier.generate.action";

/// Longest any one `ctr` call may take.
const CTR_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) const TERMINAL_SHELL: Action = Action {
    name: "container-terminal-shell",
    rule: "Terminal shell in container",
    description: "exec a shell with a terminal into a throwaway containerd container",
    context: Context::Containerd,
    run: terminal_shell,
};

pub(crate) const PACKAGE_MANAGER: Action = Action {
    name: "container-package-manager",
    rule: "Package manager run in container",
    description: "run dpkg -l (busybox) in a throwaway containerd container",
    context: Context::Containerd,
    run: package_manager,
};

pub(crate) const NAMESPACE_CHANGE: Action = Action {
    name: "container-namespace-change",
    rule: "Mount or namespace change in container",
    description: "unshare a user namespace in a throwaway containerd container",
    context: Context::Containerd,
    run: namespace_change,
};

pub(crate) const PRIVILEGED: Action = Action {
    name: "container-privileged",
    rule: "Privileged container started",
    description: "start a throwaway privileged containerd container that sleeps",
    context: Context::Containerd,
    run: privileged,
};

// ------------------------------------------------------------------ actions

fn terminal_shell(w: &Workspace) -> Result<(), String> {
    let mut s = Sandbox::open(w, TERMINAL_SHELL.name)?;
    let id = s.start_detached(&[], &["sleep", "60"])?;
    // `ctr task exec -t` gives the shell a terminal of its own; ctr itself needs one too.
    with_terminal(
        s.ctr()
            .args(["task", "exec", "-t", "--exec-id", "harrier-generate-sh", &id])
            .args(["/bin/sh", "-c", "exit 0"]),
    )
}

fn package_manager(w: &Workspace) -> Result<(), String> {
    let mut s = Sandbox::open(w, PACKAGE_MANAGER.name)?;
    // Executed directly (a shell might run the busybox applet without executing it), in a
    // container that outlives it: a runtime lookup must still find the container afterwards.
    let id = s.start_detached(&[], &["sleep", "60"])?;
    s.exec(&id, "harrier-generate-dpkg", &["dpkg", "-l"])
}

fn namespace_change(w: &Workspace) -> Result<(), String> {
    let mut s = Sandbox::open(w, NAMESPACE_CHANGE.name)?;
    let id = s.start_detached(&[], &["sleep", "60"])?;
    s.exec(&id, "harrier-generate-unshare", &["unshare", "-U", "true"])
}

fn privileged(w: &Workspace) -> Result<(), String> {
    let mut s = Sandbox::open(w, PRIVILEGED.name)?;
    // The first process sleeps, then replaces itself: two starts of process 1 in the container.
    s.run_to_end(&["--privileged"], &["/bin/sh", "-c", "sleep 1; exec sleep 1"])
}

// ------------------------------------------------------------------ containerd

/// The containerd socket that answers, or why none does.
pub fn containerd_socket() -> Result<PathBuf, String> {
    first_answering(&harrier_containers::RuntimeConfig::from_env().containerd_sockets)
}

/// The first of `sockets` where containerd answers `ctr version`.
fn first_answering(sockets: &[PathBuf]) -> Result<PathBuf, String> {
    if sockets.is_empty() {
        return Err("no containerd socket configured (HARRIER_CONTAINERD_SOCKET is empty)".into());
    }
    let mut why = Vec::new();
    for s in sockets {
        if !s.exists() {
            why.push(format!("{}: no such socket", s.display()));
            continue;
        }
        if crate::which("ctr").is_none() {
            return Err(
                "containerd's client `ctr` is not installed (Debian: apt-get install containerd)".into()
            );
        }
        match output(Command::new("ctr").arg("-a").arg(s).arg("version"), Duration::from_secs(10)) {
            Ok(_) => return Ok(s.clone()),
            Err(e) => why.push(format!("{}: {e}", s.display())),
        }
    }
    Err(format!(
        "containerd is not reachable ({}); start containerd, or point the generator at its socket with \
         HARRIER_CONTAINERD_SOCKET=/path/to/containerd.sock",
        why.join("; ")
    ))
}

/// A throwaway image in [`NAMESPACE`] and the containers started from it; all removed on drop.
struct Sandbox<'w> {
    w: &'w Workspace,
    socket: PathBuf,
    action: &'static str,
    image: String,
    imported: bool,
    containers: Vec<String>,
}

impl<'w> Sandbox<'w> {
    /// Find containerd and import the busybox image.
    fn open(w: &'w Workspace, action: &'static str) -> Result<Sandbox<'w>, String> {
        let socket = containerd_socket()?;
        let image = format!("{IMAGE_REPOSITORY}:{}", w.tag.trim_start_matches("harrier-generate-"));
        let mut s = Sandbox { w, socket, action, image, imported: false, containers: Vec::new() };
        let archive = w.dir.join("image.tar");
        let (arch, layer) = (oci_arch()?, busybox_rootfs()?);
        std::fs::write(&archive, oci_archive(&layer, &s.image, arch))
            .map_err(|e| format!("cannot write {}: {e}", archive.display()))?;
        s.imported = true;
        output(s.ctr().args(["images", "import"]).arg(&archive), CTR_TIMEOUT)
            .map_err(|e| format!("ctr images import: {e}"))?;
        Ok(s)
    }

    fn ctr(&self) -> Command {
        let mut c = Command::new("ctr");
        c.arg("-a").arg(&self.socket).args(["-n", NAMESPACE]);
        c
    }

    /// A fresh 64-hex container id (registered for removal).
    fn new_id(&mut self) -> String {
        let seed = format!("{}-{}-{}-{}", self.w.tag, self.action, self.containers.len(), crate::nanos());
        let id = hex(&sha256(seed.as_bytes()));
        self.containers.push(id.clone());
        id
    }

    fn run_args(&mut self, detach: bool, opts: &[&str], cmd: &[&str]) -> (Command, String) {
        let id = self.new_id();
        let mut c = self.ctr();
        c.arg("run").arg(if detach { "-d" } else { "--rm" }).args(opts);
        c.arg("--label").arg(format!("{ACTION_LABEL}={}", self.action));
        c.arg(&self.image).arg(&id).args(cmd);
        (c, id)
    }

    /// Start a container in the background; its id.
    fn start_detached(&mut self, opts: &[&str], cmd: &[&str]) -> Result<String, String> {
        let (mut c, id) = self.run_args(true, opts, cmd);
        output(&mut c, CTR_TIMEOUT).map_err(|e| format!("ctr run: {e}"))?;
        Ok(id)
    }

    /// Run `cmd` in the running container `id` until it ends (no terminal).
    fn exec(&self, id: &str, exec_id: &str, cmd: &[&str]) -> Result<(), String> {
        let mut c = self.ctr();
        c.args(["task", "exec", "--exec-id", exec_id, id]).args(cmd);
        output(&mut c, CTR_TIMEOUT).map(drop).map_err(|e| format!("ctr task exec: {e}"))
    }

    /// Run a container until its command ends.
    fn run_to_end(&mut self, opts: &[&str], cmd: &[&str]) -> Result<(), String> {
        let (mut c, _) = self.run_args(false, opts, cmd);
        output(&mut c, CTR_TIMEOUT).map(drop).map_err(|e| format!("ctr run: {e}"))
    }
}

impl Drop for Sandbox<'_> {
    fn drop(&mut self) {
        let quick = Duration::from_secs(20);
        for id in std::mem::take(&mut self.containers) {
            let _ = output(self.ctr().args(["task", "kill", "-s", "SIGKILL", &id]), quick);
            let _ = output(self.ctr().args(["task", "rm", "-f", &id]), quick);
            let _ = output(self.ctr().args(["containers", "rm", &id]), quick);
        }
        if self.imported {
            let _ = output(self.ctr().args(["images", "rm", "--sync", &self.image]), CTR_TIMEOUT);
        }
        // Fails while another generator still uses the namespace; that one removes it.
        let _ = output(
            Command::new("ctr").arg("-a").arg(&self.socket).args(["namespaces", "rm", NAMESPACE]),
            quick,
        );
    }
}

/// Run `cmd` to completion (stdin closed) within `limit`; its stdout, or an error with its
/// stderr.
fn output(cmd: &mut Command, limit: Duration) -> Result<String, String> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let mut stdout = String::new();
    if let Some(o) = out.as_mut() {
        let _ = o.read_to_string(&mut stdout);
    }
    let status = wait_within(&mut child, limit)?;
    let stderr = reader.join().unwrap_or_default();
    if status.success() {
        Ok(stdout)
    } else {
        Err(format!("exited with {status}: {}", stderr.trim()))
    }
}

/// Wait for a child, killing it when `limit` passes.
fn wait_within(child: &mut std::process::Child, limit: Duration) -> Result<std::process::ExitStatus, String> {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Ok(st),
            Ok(None) if start.elapsed() < limit => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("did not finish within {limit:?} (killed)"));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Run `cmd` with a new pseudo-terminal as its controlling terminal and standard streams.
fn with_terminal(cmd: &mut Command) -> Result<(), String> {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two descriptors; no name buffer, default terminal settings.
    let rc = unsafe {
        libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null())
    };
    if rc != 0 {
        return Err(format!("openpty: {}", crate::errno()));
    }
    // SAFETY: both descriptors are fresh and owned from here on.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let clone = |fd: &OwnedFd| fd.try_clone().map_err(|e| e.to_string());
    cmd.stdin(Stdio::from(clone(&slave)?)).stdout(Stdio::from(clone(&slave)?)).stderr(Stdio::from(slave));
    // SAFETY: only async-signal-safe calls in the child before exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    // Drop the parent's copies of the terminal's slave side (held by `cmd`) by replacing them.
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    // Drain what the terminal shows, so the child never blocks on a full terminal.
    let mut reader = std::fs::File::from(master);
    let drain = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut shown = Vec::new();
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            if shown.len() < 64 * 1024 {
                shown.extend_from_slice(&buf[..n]);
            }
        }
        String::from_utf8_lossy(&shown).into_owned()
    });
    let status = wait_within(&mut child, CTR_TIMEOUT)?;
    let shown = drain.join().unwrap_or_default();
    if status.success() {
        Ok(())
    } else {
        Err(format!("{:?} exited with {status}: {}", cmd.get_program(), shown.trim()))
    }
}

// ------------------------------------------------------------------ the image

/// The OCI architecture name of this machine.
fn oci_arch() -> Result<&'static str, String> {
    match std::env::consts::ARCH {
        "x86_64" => Ok("amd64"),
        "aarch64" => Ok("arm64"),
        "x86" => Ok("386"),
        "arm" => Ok("arm"),
        "riscv64" => Ok("riscv64"),
        "powerpc64" => Ok("ppc64le"),
        "s390x" => Ok("s390x"),
        other => Err(format!("no OCI architecture name for {other}")),
    }
}

/// The host's busybox, when it is a static ELF executable (busybox-static).
fn static_busybox() -> Result<Vec<u8>, String> {
    let path = crate::which("busybox")
        .ok_or("busybox is not installed (the throwaway image is built from busybox-static)")?;
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if is_static_elf64(&bytes) {
        Ok(bytes)
    } else {
        Err(format!(
            "{} is not a statically linked 64-bit busybox (install busybox-static: the throwaway image \
             has no C library)",
            path.display()
        ))
    }
}

/// Whether `b` is a 64-bit little-endian ELF executable without a program interpreter.
fn is_static_elf64(b: &[u8]) -> bool {
    if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 || b[5] != 1 {
        return false;
    }
    let u16_at = |o: usize| b.get(o..o + 2).map(|s| u16::from_le_bytes([s[0], s[1]]) as usize);
    let u64_at = |o: usize| b.get(o..o + 8).and_then(|s| s.try_into().ok()).map(u64::from_le_bytes);
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else {
        return false;
    };
    let Ok(phoff) = usize::try_from(phoff) else { return false };
    (0..phnum).all(|i| {
        let at = phoff.saturating_add(i.saturating_mul(phentsize));
        // PT_INTERP (3): a dynamic executable.
        b.get(at..at + 4).is_some_and(|t| t != [3, 0, 0, 0])
    }) && phnum > 0
}

/// The image's root file system as an uncompressed tar layer: busybox with the applets the
/// actions use, /etc/passwd and /etc/group, and the usual empty directories.
fn busybox_rootfs() -> Result<Vec<u8>, String> {
    let busybox = static_busybox()?;
    let mut t = Tar::default();
    for d in [
        "bin",
        "dev",
        "etc",
        "proc",
        "root",
        "sys",
        "usr",
        "usr/bin",
        "mnt",
        "var",
        "var/lib",
        "var/lib/dpkg",
    ] {
        t.dir(d, 0o755);
    }
    t.dir("tmp", 0o1777);
    t.file("bin/busybox", 0o755, &busybox);
    for applet in ["sh", "true", "sleep", "cat", "unshare", "mount", "ls", "id", "tty"] {
        t.symlink(&format!("bin/{applet}"), "busybox");
    }
    t.symlink("usr/bin/dpkg", "/bin/busybox");
    t.file("etc/passwd", 0o644, b"root:x:0:0:root:/root:/bin/sh\n");
    t.file("etc/group", 0o644, b"root:x:0:\n");
    t.file("var/lib/dpkg/status", 0o644, b"");
    Ok(t.finish())
}

/// A minimal ustar writer (directories, regular files, symbolic links; short names).
#[derive(Default)]
struct Tar {
    out: Vec<u8>,
}

impl Tar {
    fn header(&mut self, name: &str, mode: u32, size: usize, kind: u8, link: &str) {
        let mut h = [0u8; 512];
        let put = |h: &mut [u8; 512], at: usize, len: usize, v: &[u8]| {
            let n = v.len().min(len);
            h[at..at + n].copy_from_slice(&v[..n]);
        };
        let octal = |v: u64, width: usize| format!("{v:0w$o}\0", w = width - 1).into_bytes();
        put(&mut h, 0, 100, name.as_bytes());
        put(&mut h, 100, 8, &octal(u64::from(mode), 8));
        put(&mut h, 108, 8, &octal(0, 8));
        put(&mut h, 116, 8, &octal(0, 8));
        put(&mut h, 124, 12, &octal(size as u64, 12));
        put(&mut h, 136, 12, &octal(0, 12));
        h[156] = kind;
        put(&mut h, 157, 100, link.as_bytes());
        put(&mut h, 257, 8, b"ustar\x0000");
        put(&mut h, 265, 32, b"root");
        put(&mut h, 297, 32, b"root");
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        put(&mut h, 148, 8, format!("{sum:06o}\0 ").as_bytes());
        self.out.extend_from_slice(&h);
    }

    fn dir(&mut self, name: &str, mode: u32) {
        self.header(&format!("{name}/"), mode, 0, b'5', "");
    }

    fn file(&mut self, name: &str, mode: u32, data: &[u8]) {
        self.header(name, mode, data.len(), b'0', "");
        self.out.extend_from_slice(data);
        self.out.resize(self.out.len().div_ceil(512) * 512, 0);
    }

    fn symlink(&mut self, name: &str, target: &str) {
        self.header(name, 0o777, 0, b'2', target);
    }

    fn finish(mut self) -> Vec<u8> {
        self.out.resize(self.out.len() + 1024, 0);
        self.out
    }
}

fn sha256(data: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, data).as_ref().to_vec()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// An OCI image layout archive (one uncompressed layer) naming the image `reference`, as
/// `ctr images import` reads it.
fn oci_archive(layer: &[u8], reference: &str, arch: &str) -> Vec<u8> {
    let digest = |b: &[u8]| format!("sha256:{}", hex(&sha256(b)));
    let layer_digest = digest(layer);
    let config = serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": {"Env": ["PATH=/bin:/usr/bin"], "Cmd": ["/bin/sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    })
    .to_string();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config.as_bytes()),
                   "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest,
                    "size": layer.len()}],
    })
    .to_string();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": digest(manifest.as_bytes()), "size": manifest.len(),
                       "annotations": {"org.opencontainers.image.ref.name": reference,
                                       "io.containerd.image.name": reference}}],
    })
    .to_string();
    let mut t = Tar::default();
    t.file("oci-layout", 0o644, br#"{"imageLayoutVersion":"1.0.0"}"#);
    t.file("index.json", 0o644, index.as_bytes());
    t.dir("blobs", 0o755);
    t.dir("blobs/sha256", 0o755);
    for blob in [layer, config.as_bytes(), manifest.as_bytes()] {
        t.file(&format!("blobs/sha256/{}", hex(&sha256(blob))), 0o644, blob);
    }
    t.finish()
}

/// Whether the containerd the generator would use answers (for `--all`: container actions are
/// skipped, with the reason, when it does not).
pub fn reachable() -> Result<(), String> {
    containerd_socket().map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_entries_are_well_formed() {
        let mut t = Tar::default();
        t.dir("bin", 0o755);
        t.file("bin/x", 0o755, b"hello");
        t.symlink("bin/sh", "busybox");
        let out = t.finish();
        assert_eq!(out.len() % 512, 0);
        assert_eq!(&out[257..263], b"ustar\0");
        // Checksum of the first header.
        let stored = std::str::from_utf8(&out[148..154]).unwrap();
        let mut h = out[..512].to_vec();
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        assert_eq!(u32::from_str_radix(stored, 8).unwrap(), sum);
        assert_eq!(&out[512..517], b"bin/x");
        assert_eq!(&out[1024..1029], b"hello");
        assert_eq!(out[1536 + 156], b'2');
        assert_eq!(&out[1536 + 157..1536 + 164], b"busybox");
    }

    #[test]
    fn static_elf_detection() {
        assert!(!is_static_elf64(b""));
        assert!(!is_static_elf64(&[0x7f, b'E', b'L', b'F', 2, 1, 0, 0]));
        // This test binary is dynamically linked (it has an interpreter).
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(!is_static_elf64(&me));
        // A minimal static header: one PT_LOAD program header.
        let mut b = vec![0u8; 64 + 56];
        b[..6].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1]);
        b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        b[64] = 1;
        assert!(is_static_elf64(&b));
        b[64] = 3;
        assert!(!is_static_elf64(&b));
        // Truncated program headers never panic.
        for cut in 0..b.len() {
            let _ = is_static_elf64(&b[..cut]);
        }
    }

    #[test]
    fn oci_archive_names_the_image_and_its_blobs() {
        let layer = {
            let mut t = Tar::default();
            t.file("etc/passwd", 0o644, b"root:x:0:0::/:/bin/sh\n");
            t.finish()
        };
        let a = oci_archive(&layer, "localhost/harrier-generate:t1", "amd64");
        let text = String::from_utf8_lossy(&a);
        assert!(text.contains(r#""io.containerd.image.name":"localhost/harrier-generate:t1""#));
        assert!(text.contains(&format!("blobs/sha256/{}", hex(&sha256(&layer)))));
        assert!(text.contains(r#""diff_ids":["sha256:"#));
    }

    #[test]
    fn an_unreachable_containerd_is_a_clear_error() {
        let e = first_answering(&[PathBuf::from("/nonexistent/harrier-test/containerd.sock")]).unwrap_err();
        assert!(e.contains("/nonexistent/harrier-test/containerd.sock: no such socket"), "{e}");
        assert!(e.contains("HARRIER_CONTAINERD_SOCKET"), "{e}");
        assert!(first_answering(&[]).unwrap_err().contains("no containerd socket configured"));
    }
}
