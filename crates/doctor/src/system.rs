//! Clock (NTP synchronisation) and hostname.

use crate::{Context, Finding, Status};

/// The hostname alerts carry: `FALCO_HOSTNAME`/`HARRIER_HOSTNAME`, else the kernel's.
pub fn hostname() -> String {
    std::env::var("FALCO_HOSTNAME")
        .or_else(|_| std::env::var("HARRIER_HOSTNAME"))
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|s| s.trim().to_string()))
        .unwrap_or_default()
}

/// Whether the kernel considers the clock synchronised (adjtimex: not `TIME_ERROR`, no `STA_UNSYNC`),
/// and the estimated error in µs.
pub fn adjtimex_synced() -> Option<(bool, i64)> {
    // SAFETY: a zeroed timex with modes = 0 only reads the kernel's state.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a timex for the duration of the call.
    let rc = unsafe { libc::adjtimex(&mut tx) };
    if rc < 0 {
        return None;
    }
    let unsync = tx.status & libc::STA_UNSYNC != 0;
    Some((rc != libc::TIME_ERROR && !unsync, tx.esterror as i64))
}

fn timedatectl() -> Option<(String, String)> {
    let out = std::process::Command::new("timedatectl")
        .args(["show", "-p", "NTPSynchronized", "-p", "NTP"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let get = |k: &str| text.lines().find_map(|l| l.strip_prefix(k)).unwrap_or("").to_string();
    Some((get("NTPSynchronized="), get("NTP=")))
}

pub fn check_clock(_cx: &Context) -> Vec<Finding> {
    let kernel = adjtimex_synced();
    let td = timedatectl();
    let synced = match (&td, kernel) {
        (Some((s, _)), _) if !s.is_empty() => s == "yes",
        (_, Some((k, _))) => k,
        _ => {
            return vec![Finding::new(
                "clock",
                "NTP",
                Status::Warn,
                "cannot tell (no timedatectl, adjtimex failed)",
            )]
        }
    };
    let how = match (&td, kernel) {
        (Some((s, ntp)), Some((_, err))) if !s.is_empty() => {
            format!("timedatectl NTPSynchronized={s} NTP={ntp}; kernel estimated error {err} µs")
        }
        (_, Some((k, err))) => {
            format!("adjtimex: {} (estimated error {err} µs)", if k { "synchronised" } else { "STA_UNSYNC" })
        }
        _ => String::new(),
    };
    if synced {
        vec![Finding::new("clock", "NTP", Status::Ok, format!("synchronised ({how})"))]
    } else {
        vec![Finding::new(
            "clock",
            "NTP",
            Status::Warn,
            format!("not synchronised ({how}): alert times may drift from other nodes'"),
        )
        .fix("enable time sync: `timedatectl set-ntp true` (systemd-timesyncd) or chrony")]
    }
}

pub fn check_hostname(_cx: &Context) -> Vec<Finding> {
    let h = hostname();
    if h.is_empty() {
        return vec![Finding::new("hostname", "hostname", Status::Fail, "empty: alerts carry no hostname")
            .fix("set the node's hostname, or FALCO_HOSTNAME (in Kubernetes: from spec.nodeName)")];
    }
    if h == "localhost" || h == "localhost.localdomain" {
        return vec![Finding::new(
            "hostname",
            "hostname",
            Status::Warn,
            format!("'{h}': alerts from every such node look alike"),
        )
        .fix("set FALCO_HOSTNAME (Kubernetes: valueFrom fieldRef spec.nodeName)")];
    }
    let resolves = crate::net::resolve(&h, 0, std::time::Duration::from_secs(2)).is_ok();
    vec![Finding::new(
        "hostname",
        "hostname",
        Status::Ok,
        format!(
            "'{h}'{}",
            if resolves { "" } else { " (does not resolve; alerts only carry it as a label)" }
        ),
    )]
}
