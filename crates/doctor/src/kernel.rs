//! Kernel, BTF, lockdown and capabilities; whether Harrier's eBPF programs load.

use crate::{Context, Finding, Status};

const CAP_SYS_ADMIN: u32 = 21;
const CAP_SYS_RESOURCE: u32 = 24;
const CAP_SYS_PTRACE: u32 = 19;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// The effective capability set of this process (`CapEff` of /proc/self/status).
pub fn effective_caps() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

fn has(caps: u64, c: u32) -> bool {
    caps & (1u64 << c) != 0
}

/// The capabilities the probe needs that this process lacks (CAP_SYS_ADMIN stands in for
/// CAP_BPF and CAP_PERFMON, as on kernels before 5.8).
pub fn missing_caps(caps: u64) -> Vec<&'static str> {
    let admin = has(caps, CAP_SYS_ADMIN);
    let mut v = Vec::new();
    if !has(caps, CAP_BPF) && !admin {
        v.push("CAP_BPF");
    }
    if !has(caps, CAP_PERFMON) && !admin {
        v.push("CAP_PERFMON");
    }
    v
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// `(major, minor)` of a release string such as `6.1.0-18-amd64`.
pub fn parse_release(r: &str) -> Option<(u32, u32)> {
    let mut it = r.split(|c: char| !c.is_ascii_digit());
    let a = it.next()?.parse().ok()?;
    let b = it.next()?.parse().ok()?;
    Some((a, b))
}

pub fn check_kernel(_cx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    let rel = kernel_release();
    match parse_release(&rel) {
        Some(v) if v >= (5, 8) => out.push(Finding::new(
            "kernel",
            "version",
            Status::Ok,
            format!("{rel} (ring buffer, tp_btf, CAP_BPF)"),
        )),
        Some(_) => {
            out.push(Finding::new("kernel", "version", Status::Fail, format!("{rel}: older than 5.8")).fix(
                "Harrier's modern eBPF probe needs Linux 5.8 or later (BPF ring buffer, BTF tracepoints)",
            ))
        }
        None => out.push(Finding::new(
            "kernel",
            "version",
            Status::Warn,
            format!("cannot read the release ('{rel}')"),
        )),
    }
    match std::fs::metadata("/sys/kernel/btf/vmlinux") {
        Ok(m) => out.push(Finding::new(
            "kernel",
            "BTF",
            Status::Ok,
            format!("/sys/kernel/btf/vmlinux ({} KiB)", m.len() / 1024),
        )),
        Err(e) => out.push(
            Finding::new("kernel", "BTF", Status::Fail, format!("/sys/kernel/btf/vmlinux: {e}")).fix(
                "use a kernel built with CONFIG_DEBUG_INFO_BTF=y; in a container, mount /sys/kernel/btf \
                 from the host (read-only)",
            ),
        ),
    }
    match std::fs::read_to_string("/sys/kernel/security/lockdown") {
        Ok(s) if s.contains("[confidentiality]") => out.push(
            Finding::new(
                "kernel",
                "lockdown",
                Status::Fail,
                "lockdown=confidentiality: eBPF cannot read kernel memory",
            )
            .fix("boot with lockdown=integrity or none (or disable Secure Boot's lockdown) for eBPF tracing"),
        ),
        Ok(s) => {
            let mode = s.split_whitespace().find(|w| w.starts_with('[')).unwrap_or("?").to_string();
            out.push(Finding::new("kernel", "lockdown", Status::Ok, format!("mode {mode}")))
        }
        Err(_) => out.push(Finding::new("kernel", "lockdown", Status::Ok, "no lockdown LSM")),
    }
    let caps = effective_caps();
    let missing = missing_caps(caps);
    let mut extra = Vec::new();
    // BPF memory is charged to RLIMIT_MEMLOCK before 5.11 (to the memory cgroup from then on).
    let memlock_kernel = parse_release(&rel).is_some_and(|v| v < (5, 11));
    if memlock_kernel && !has(caps, CAP_SYS_RESOURCE) {
        extra.push("CAP_SYS_RESOURCE (memlock on kernels before 5.11)");
    }
    if !has(caps, CAP_SYS_PTRACE) {
        extra.push("CAP_SYS_PTRACE (reading other processes' /proc at start-up)");
    }
    if missing.is_empty() {
        let mut f =
            Finding::new("kernel", "capabilities", Status::Ok, format!("CapEff {caps:#x}: eBPF allowed"));
        if !extra.is_empty() {
            f.status = Status::Warn;
            f.detail = format!("CapEff {caps:#x}: eBPF allowed; missing {}", extra.join(", "));
            f.fix = format!(
                "grant {} as well (see deploy/)",
                extra.iter().map(|e| e.split(' ').next().unwrap_or("")).collect::<Vec<_>>().join(" and ")
            );
        }
        out.push(f);
    } else {
        out.push(
            Finding::new(
                "kernel",
                "capabilities",
                Status::Fail,
                format!("CapEff {caps:#x}: missing {}", missing.join(", ")),
            )
            .fix(caps_fix(&missing)),
        );
    }
    if let Ok(v) = std::fs::read_to_string("/proc/sys/kernel/unprivileged_bpf_disabled") {
        out.push(Finding::new(
            "kernel",
            "unprivileged_bpf_disabled",
            Status::Ok,
            format!("{} (Harrier runs privileged eBPF; this setting does not matter)", v.trim()),
        ));
    }
    out
}

fn caps_fix(missing: &[&str]) -> String {
    format!(
        "run as root, or grant {} (plus CAP_SYS_PTRACE, and CAP_SYS_RESOURCE before Linux 5.11): systemd \
         AmbientCapabilities=/CapabilityBoundingSet=, Kubernetes securityContext.capabilities.add, \
         or `setcap cap_bpf,cap_perfmon,cap_sys_ptrace+ep harrier`",
        missing.join(" and ")
    )
}

/// Load, attach and detach the real probe (its three programs), as `harrier run` would.
pub fn check_probe(_cx: &Context) -> Vec<Finding> {
    let cfg = harrier_probe::ProbeConfig {
        syscalls: &["openat", "execve"],
        with_state_events: true,
        ring_bytes: 1 << 20,
        exclude_pid: Some(std::process::id()),
        ..Default::default()
    };
    match harrier_probe::Probe::load(&cfg) {
        Ok(p) => {
            let n = p.syscalls().len();
            drop(p);
            vec![Finding::new(
                "probe",
                "eBPF programs",
                Status::Ok,
                format!(
                    "hr_sys_exit (tp_btf/sys_exit), hr_exec (tp_btf/sched_process_exec), hr_exit \
                     (tp_btf/sched_process_exit) loaded and attached; {n} syscalls filterable"
                ),
            )]
        }
        Err(e) => {
            let caps = effective_caps();
            let missing = missing_caps(caps);
            let fix = match &e {
                harrier_probe::ProbeError::NoBtf(_) => {
                    "use a kernel with CONFIG_DEBUG_INFO_BTF=y; in a container mount /sys/kernel/btf"
                        .to_string()
                }
                _ if !missing.is_empty() => caps_fix(&missing),
                harrier_probe::ProbeError::Load { detail, .. }
                    if detail.contains("Operation not permitted") || detail.contains("ermission") =>
                {
                    "the kernel refused although the capabilities are there: check lockdown \
                     (/sys/kernel/security/lockdown), an LSM policy (SELinux/AppArmor bpf rules), or \
                     seccomp filtering bpf() in the container runtime"
                        .to_string()
                }
                _ => "see the detail (the verifier's log); report it with `harrier --support`".to_string(),
            };
            vec![Finding::new("probe", "eBPF programs", Status::Fail, e.to_string()).fix(fix)]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_and_release() {
        assert_eq!(missing_caps(0), vec!["CAP_BPF", "CAP_PERFMON"]);
        assert!(missing_caps(1 << CAP_SYS_ADMIN).is_empty());
        assert!(missing_caps((1 << CAP_BPF) | (1 << CAP_PERFMON)).is_empty());
        assert_eq!(missing_caps(1 << CAP_BPF), vec!["CAP_PERFMON"]);
        assert_eq!(parse_release("6.1.0-18-amd64"), Some((6, 1)));
        assert_eq!(parse_release("5.15.0"), Some((5, 15)));
        assert_eq!(parse_release("x"), None);
    }
}
