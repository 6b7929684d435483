//! The execve exit's `flags` (`PPM_EXE_*`): overlayfs layer of the executable (upper: written
//! after the mount; lower: only in the read-only layers) and whether the caller may write it
//! (root, real kernel, overlayfs mounts made here).
mod common;
use common::*;
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const WRITABLE: u32 = 1 << 0;
const UPPER: u32 = 1 << 1;
const MEMFD: u32 = 1 << 2;
const LOWER: u32 = 1 << 3;

/// Overlay mounts below a temporary directory, lazily unmounted (then removed) on drop.
struct Mounts {
    dir: PathBuf,
    points: Vec<PathBuf>,
}

impl Mounts {
    fn new() -> Mounts {
        let dir = std::env::temp_dir().join(format!("harrier-probe-ovl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // other users (the unprivileged exec below) must be able to walk in
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        Mounts { dir, points: Vec::new() }
    }

    fn sub(&self, name: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn overlay(&mut self, at: &Path, opts: &str) {
        let o = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", opts])
            .arg(at)
            .output()
            .expect("run mount");
        assert!(
            o.status.success(),
            "mount -t overlay -o {opts} failed (needs root and overlayfs): {}",
            String::from_utf8_lossy(&o.stderr)
        );
        self.points.push(at.to_path_buf());
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        for p in self.points.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(p).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A statically linked program to run: busybox (`true` applet) when present, else /bin/true.
fn program() -> PathBuf {
    ["/bin/busybox", "/usr/bin/busybox", "/bin/true", "/usr/bin/true"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("busybox or true")
}

fn install(src: &Path, to: &Path, mode: u32) {
    std::fs::copy(src, to).unwrap_or_else(|e| panic!("copy {} → {}: {e}", src.display(), to.display()));
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Exec `path true` in a child (as `uid`/`gid` when given); the successful execve's flags.
fn exec_flags(probe: &mut harrier_probe::Probe, path: &Path, as_user: Option<(u32, u32)>) -> u32 {
    let p = CString::new(path.to_str().unwrap()).unwrap();
    let (a0, a1) = (cstr("true"), cstr("true"));
    let argv = [a0.as_ptr(), a1.as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null()];
    let pid = run_child(|| unsafe {
        if let Some((uid, gid)) = as_user {
            libc::setgroups(0, std::ptr::null());
            libc::setresgid(gid, gid, gid);
            libc::setresuid(uid, uid, uid);
        }
        libc::execve(p.as_ptr(), argv.as_ptr(), envp.as_ptr());
    });
    let evs = events_of(probe, pid);
    let ok: Vec<&Ev> = evs.iter().filter(|e| e.name() == "execve" && e.i64("res") == 0).collect();
    assert_eq!(ok.len(), 1, "{}: {:?}", path.display(), evs.iter().map(|e| e.name()).collect::<Vec<_>>());
    assert_eq!(ok[0].str("trusted_exepath"), path.to_str().unwrap(), "the exec ran the intended file");
    ok[0].u32("flags")
}

#[test]
fn execve_flags_give_the_overlay_layer_and_writability_of_the_executable() {
    assert_eq!(unsafe { libc::geteuid() }, 0, "this test needs root (overlay mounts, eBPF)");
    let prog = program();
    let mut m = Mounts::new();
    let (lower, upper, work, merged) = (m.sub("lower"), m.sub("upper"), m.sub("work"), m.sub("merged"));
    install(&prog, &lower.join("image-bin"), 0o755);
    install(&prog, &upper.join("upper-bin"), 0o755);
    m.overlay(
        &merged,
        &format!("lowerdir={},upperdir={},workdir={}", lower.display(), upper.display(), work.display()),
    );
    // written through the mount after it was made: the container case ("dropped" binary)
    install(&prog, &merged.join("dropped"), 0o755);
    // a read-only overlay (lower layers only): read-only super block
    let (lower2, ro) = (m.sub("lower2"), m.sub("ro"));
    m.overlay(&ro, &format!("lowerdir={}:{}", lower2.display(), lower.display()));
    // host files for the unprivileged checks
    let host = m.sub("host");
    install(&prog, &host.join("ro-bin"), 0o755);
    install(&prog, &host.join("rw-bin"), 0o777);

    let mut probe = load(&[]);
    let layers = |f: u32| f & (UPPER | LOWER | MEMFD);

    let f = exec_flags(&mut probe, &merged.join("image-bin"), None);
    assert_eq!(layers(f), LOWER, "image file: lower layer only ({f:#x})");
    assert_ne!(f & WRITABLE, 0, "root may write it (CAP_DAC_OVERRIDE) ({f:#x})");

    let f = exec_flags(&mut probe, &merged.join("upper-bin"), None);
    assert_eq!(layers(f), UPPER, "file of the upper directory ({f:#x})");

    let f = exec_flags(&mut probe, &merged.join("dropped"), None);
    assert_eq!(layers(f), UPPER, "file written through the mount ({f:#x})");

    let f = exec_flags(&mut probe, &ro.join("image-bin"), None);
    assert_eq!(f, LOWER, "read-only overlay: lower, not writable even for root ({f:#x})");

    let f = exec_flags(&mut probe, &host.join("ro-bin"), None);
    assert_eq!(f, WRITABLE, "host file: no layer; root may write it ({f:#x})");

    let nobody = Some((65534, 65534));
    let f = exec_flags(&mut probe, &host.join("ro-bin"), nobody);
    assert_eq!(f, 0, "0755 root file run by nobody: not writable ({f:#x})");
    let f = exec_flags(&mut probe, &host.join("rw-bin"), nobody);
    assert_eq!(f, WRITABLE, "0777 file run by nobody: writable ({f:#x})");
    let f = exec_flags(&mut probe, &merged.join("image-bin"), nobody);
    assert_eq!(f, LOWER, "image file run by nobody ({f:#x})");
}
