//! inotify limits: `fs.inotify.max_user_instances` / `max_user_watches` against what this user
//! already holds, and a real `inotify_init1` (what `watch_config_files` needs; when it fails,
//! Falco goes into CrashLoopBackOff).

use crate::{Context, Finding, Status};

fn read_num(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Instances and watches held by processes of effective uid `uid` (what this user's limits
/// count). A forked descriptor is counted in each process that holds it, so this can overcount.
pub fn usage(uid: u32) -> (u64, u64) {
    let (mut instances, mut watches) = (0, 0);
    let Ok(procs) = std::fs::read_dir("/proc") else { return (0, 0) };
    for p in procs.flatten() {
        let name = p.file_name();
        let Some(pid) = name.to_str().filter(|s| s.bytes().all(|b| b.is_ascii_digit())) else { continue };
        let euid = std::fs::read_to_string(format!("/proc/{pid}/status")).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).and_then(|x| x.parse::<u32>().ok()))
        });
        if euid != Some(uid) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { continue };
        for fd in fds.flatten() {
            let is_inotify =
                std::fs::read_link(fd.path()).map(|t| t.as_os_str() == "anon_inode:inotify").unwrap_or(false);
            if !is_inotify {
                continue;
            }
            instances += 1;
            if let Ok(info) =
                std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy()))
            {
                watches += info.lines().filter(|l| l.starts_with("inotify wd:")).count() as u64;
            }
        }
    }
    (instances, watches)
}

/// Try to create one inotify instance, as Harrier's config watcher does.
pub fn try_init() -> Result<(), std::io::Error> {
    // SAFETY: no pointers; the returned fd is closed at once.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a descriptor this function owns.
    unsafe { libc::close(fd) };
    Ok(())
}

const FIX_INSTANCES: &str = "raise the limit: `sysctl -w fs.inotify.max_user_instances=8192` and keep it in \
     /etc/sysctl.d/99-harrier.conf (on Kubernetes nodes, a node-tuning DaemonSet or the node image); \
     or find the process holding many instances (`find /proc/*/fd -lname anon_inode:inotify`)";

pub fn check(_cx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    let max_inst = read_num("/proc/sys/fs/inotify/max_user_instances");
    let max_watch = read_num("/proc/sys/fs/inotify/max_user_watches");
    // Per-user-namespace limits (Linux ≥ 5.11); the smaller applies.
    let ns_inst = read_num("/proc/sys/user/max_inotify_instances");
    let ns_watch = read_num("/proc/sys/user/max_inotify_watches");
    let lim_inst = [max_inst, ns_inst].into_iter().flatten().min();
    let lim_watch = [max_watch, ns_watch].into_iter().flatten().min();
    let (used_inst, used_watch) = usage(uid);
    let show = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or_else(|| "?".into());
    match try_init() {
        Ok(()) => {
            let near = lim_inst.is_some_and(|m| m > 0 && used_inst * 10 >= m * 9);
            let f = Finding::new(
                "inotify",
                "instances",
                if near { Status::Warn } else { Status::Ok },
                format!(
                    "uid {uid} holds {used_inst} of max {} (fs.inotify.max_user_instances)",
                    show(lim_inst)
                ),
            );
            out.push(if near { f.fix(FIX_INSTANCES) } else { f });
        }
        Err(e) => {
            let exhausted = e.raw_os_error() == Some(libc::EMFILE);
            let detail = if exhausted {
                format!(
                    "inotify_init1 failed: {e}: uid {uid} holds {used_inst} of max {} instances; \
                     watch_config_files falls back to polling (Falco crash-loops here)",
                    show(lim_inst)
                )
            } else {
                format!("inotify_init1 failed: {e}")
            };
            out.push(Finding::new("inotify", "instances", Status::Fail, detail).fix(if exhausted {
                FIX_INSTANCES
            } else {
                "check fs.inotify limits and the process's file descriptor limit (ulimit -n)"
            }));
        }
    }
    let near_w = lim_watch.is_some_and(|m| m > 0 && used_watch * 10 >= m * 9);
    let f = Finding::new(
        "inotify",
        "watches",
        if near_w { Status::Warn } else { Status::Ok },
        format!("uid {uid} holds {used_watch} of max {} (fs.inotify.max_user_watches)", show(lim_watch)),
    );
    out.push(if near_w {
        f.fix("raise fs.inotify.max_user_watches (e.g. 524288) in /etc/sysctl.d/99-harrier.conf")
    } else {
        f
    });
    out
}
