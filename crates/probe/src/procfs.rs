//! Start-up state from /proc: threads, fd tables (files, pipes, sockets resolved through
//! /proc/net), users, groups and machine info, as the same metadata structs the capture reader
//! produces. Processes that vanish mid-scan are skipped; nothing here panics on odd content.

use harrier_event::consts::fd_type;
use harrier_scap::{FdInfo, FdKind, FdTable, GroupInfo, Header, MachineInfo, ThreadInfo, UserInfo};
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Scan the whole system.
pub fn scan() -> Header {
    scan_root(Path::new("/proc"), Path::new("/etc"))
}

/// Scan with another procfs and /etc (tests).
pub fn scan_root(proc_: &Path, etc: &Path) -> Header {
    let socks = Sockets::load(proc_);
    let mut h = Header { machine: Some(machine(proc_)), ..Default::default() };
    h.section.major = 1;
    h.section.minor = 2;
    h.section.section_length = -1;
    h.users = users(&etc.join("passwd"));
    h.groups = groups(&etc.join("group"));
    let Ok(dir) = fs::read_dir(proc_) else { return h };
    let mut pids: Vec<u64> =
        dir.flatten().filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok())).collect();
    pids.sort_unstable();
    for pid in pids {
        let pdir = proc_.join(pid.to_string());
        let Some(main) = thread(&pdir, pid, pid) else { continue };
        let tids: Vec<u64> = fs::read_dir(pdir.join("task"))
            .map(|d| {
                d.flatten().filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok())).collect()
            })
            .unwrap_or_default();
        let fds = fd_table(&pdir, pid, &socks);
        if !fds.fds.is_empty() {
            h.fd_tables.push(fds);
        }
        for tid in tids {
            if tid == pid {
                continue;
            }
            if let Some(mut t) = thread(&pdir.join("task").join(tid.to_string()), tid, pid) {
                // Threads share the process' memory-derived fields.
                t.args.clone_from(&main.args);
                t.env.clone_from(&main.env);
                t.exe.clone_from(&main.exe);
                t.exepath.clone_from(&main.exepath);
                h.threads.push(t);
            }
        }
        h.threads.push(main);
    }
    h
}

fn read_str(p: &Path) -> Option<String> {
    fs::read(p).ok().map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn split_nul(b: &[u8]) -> Vec<String> {
    let b = b.strip_suffix(&[0]).unwrap_or(b);
    if b.is_empty() {
        return Vec::new();
    }
    b.split(|&c| c == 0).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
}

fn link(p: &Path) -> String {
    fs::read_link(p).map(|l| l.to_string_lossy().into_owned()).unwrap_or_default()
}

fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')).map(str::trim))
}

fn nth_u64(s: Option<&str>, n: usize) -> u64 {
    s.and_then(|s| s.split_whitespace().nth(n)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn last_i64(s: Option<&str>) -> Option<i64> {
    s.and_then(|s| s.split_whitespace().last()).and_then(|v| v.parse().ok())
}

fn cap(s: Option<&str>) -> u64 {
    s.and_then(|v| u64::from_str_radix(v, 16).ok()).unwrap_or(0)
}

/// One thread from `/proc/PID` or `/proc/PID/task/TID`.
fn thread(dir: &Path, tid: u64, pid: u64) -> Option<ThreadInfo> {
    let status = read_str(&dir.join("status"))?;
    let stat = read_str(&dir.join("stat")).unwrap_or_default();
    // Fields after the comm (which may hold spaces and parentheses): state is field 3.
    let after = stat.rfind(')').map(|i| &stat[i + 1..]).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let fld = |n: usize| f.get(n.wrapping_sub(3)).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    let cmdline = fs::read(dir.join("cmdline")).unwrap_or_default();
    let mut argv = split_nul(&cmdline);
    let exe = if argv.is_empty() { String::new() } else { argv.remove(0) };
    let comm = read_str(&dir.join("comm")).map(|s| s.trim_end_matches('\n').to_string()).unwrap_or_default();
    let mut t = ThreadInfo {
        tid,
        pid,
        ptid: status_field(&status, "PPid").and_then(|v| v.parse().ok()).unwrap_or(0),
        sid: fld(6) as u64,
        comm,
        exe,
        exepath: link(&dir.join("exe")),
        args: argv,
        cwd: link(&dir.join("cwd")),
        uid: nth_u64(status_field(&status, "Uid"), 1) as u32,
        gid: nth_u64(status_field(&status, "Gid"), 1) as u32,
        env: split_nul(&fs::read(dir.join("environ")).unwrap_or_default()),
        vtid: last_i64(status_field(&status, "NSpid")).unwrap_or(tid as i64),
        vpid: last_i64(status_field(&status, "NStgid")).unwrap_or(pid as i64),
        root: link(&dir.join("root")),
        tty: fld(7) as u32,
        loginuid: read_str(&dir.join("loginuid")).and_then(|s| s.trim().parse::<i64>().ok()).unwrap_or(-1)
            as u32,
        cap_inheritable: cap(status_field(&status, "CapInh")),
        cap_permitted: cap(status_field(&status, "CapPrm")),
        cap_effective: cap(status_field(&status, "CapEff")),
        pgid: fld(5),
        vpgid: fld(5) as u64,
        pfminor: fld(10) as u64,
        pfmajor: fld(12) as u64,
        vmsize_kb: nth_u64(status_field(&status, "VmSize"), 0) as u32,
        vmrss_kb: nth_u64(status_field(&status, "VmRSS"), 0) as u32,
        vmswap_kb: nth_u64(status_field(&status, "VmSwap"), 0) as u32,
        ..Default::default()
    };
    if let Some(l) = read_str(&dir.join("limits")) {
        t.fdlimit = l
            .lines()
            .find(|x| x.starts_with("Max open files"))
            .and_then(|x| x.split_whitespace().nth(3))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
    }
    if let Some(cg) = read_str(&dir.join("cgroup")) {
        for line in cg.lines() {
            let mut it = line.splitn(3, ':');
            let (_, ctrls, path) = (it.next(), it.next().unwrap_or(""), it.next().unwrap_or(""));
            if ctrls.is_empty() {
                // the cgroup v2 hierarchy
                t.cgroups.push(format!("unified={path}"));
            } else {
                for c in ctrls.split(',') {
                    t.cgroups.push(format!("{c}={path}"));
                }
            }
        }
    }
    if let Ok(md) = fs::metadata(dir.join("exe")) {
        t.exe_ino = md.ino();
        t.exe_ino_ctime =
            (md.ctime() as u64).wrapping_mul(1_000_000_000).wrapping_add(md.ctime_nsec() as u64);
        t.exe_ino_mtime =
            (md.mtime() as u64).wrapping_mul(1_000_000_000).wrapping_add(md.mtime_nsec() as u64);
    }
    t.exe_from_memfd = t.exepath.starts_with("/memfd:");
    Some(t)
}

/// Sockets of /proc/net by inode.
#[derive(Default)]
struct Sockets {
    by_ino: HashMap<u64, FdKind>,
}

fn hex_v4(s: &str) -> Option<([u8; 4], u16)> {
    let (a, p) = s.split_once(':')?;
    let addr = u32::from_str_radix(a, 16).ok()?.to_le_bytes();
    Some((addr, u16::from_str_radix(p, 16).ok()?))
}

fn hex_v6(s: &str) -> Option<([u8; 16], u16)> {
    let (a, p) = s.split_once(':')?;
    if a.len() != 32 {
        return None;
    }
    let mut addr = [0u8; 16];
    for i in 0..4 {
        let w = u32::from_str_radix(a.get(i * 8..i * 8 + 8)?, 16).ok()?;
        addr[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
    }
    Some((addr, u16::from_str_radix(p, 16).ok()?))
}

impl Sockets {
    fn load(proc_: &Path) -> Sockets {
        use harrier_event::consts::l4;
        let mut s = Sockets::default();
        for (file, proto, v6) in [
            ("tcp", l4::TCP, false),
            ("udp", l4::UDP, false),
            ("tcp6", l4::TCP, true),
            ("udp6", l4::UDP, true),
        ] {
            let Some(text) = read_str(&proc_.join("net").join(file)) else { continue };
            for line in text.lines().skip(1) {
                let f: Vec<&str> = line.split_whitespace().collect();
                if f.len() < 10 {
                    continue;
                }
                let Ok(ino) = f[9].parse::<u64>() else { continue };
                let listen = proto == l4::TCP && f[3] == "0A";
                let kind = if v6 {
                    let (Some((la, lp)), Some((ra, rp))) = (hex_v6(f[1]), hex_v6(f[2])) else { continue };
                    if listen || (proto == l4::UDP && rp == 0) {
                        FdKind::Ipv6ServSock { ip: la, port: lp, l4proto: proto }
                    } else {
                        FdKind::Ipv6Sock { sip: la, dip: ra, sport: lp, dport: rp, l4proto: proto }
                    }
                } else {
                    let (Some((la, lp)), Some((ra, rp))) = (hex_v4(f[1]), hex_v4(f[2])) else { continue };
                    if listen || (proto == l4::UDP && rp == 0) {
                        FdKind::Ipv4ServSock { ip: la, port: lp, l4proto: proto }
                    } else {
                        FdKind::Ipv4Sock { sip: la, dip: ra, sport: lp, dport: rp, l4proto: proto }
                    }
                };
                s.by_ino.insert(ino, kind);
            }
        }
        if let Some(text) = read_str(&proc_.join("net/unix")) {
            for line in text.lines().skip(1) {
                let f: Vec<&str> = line.split_whitespace().collect();
                if f.len() < 7 {
                    continue;
                }
                let Ok(ino) = f[6].parse::<u64>() else { continue };
                let source = u64::from_str_radix(f[0].trim_end_matches(':'), 16).unwrap_or(0);
                let path = f.get(7).map(|p| p.to_string()).unwrap_or_default();
                s.by_ino.insert(ino, FdKind::UnixSock { source, dest: 0, path });
            }
        }
        s
    }
}

fn bracket_ino(s: &str, prefix: &str) -> Option<u64> {
    s.strip_prefix(prefix)?.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// The fd table of a process.
fn fd_table(pdir: &Path, pid: u64, socks: &Sockets) -> FdTable {
    let mut t = FdTable { tid: pid, fds: Vec::new() };
    let Ok(dir) = fs::read_dir(pdir.join("fd")) else { return t };
    let mut fds: Vec<i64> =
        dir.flatten().filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok())).collect();
    fds.sort_unstable();
    for fd in fds {
        let lp = pdir.join("fd").join(fd.to_string());
        let Ok(target) = fs::read_link(&lp) else { continue };
        let target = target.to_string_lossy().into_owned();
        let info = read_str(&pdir.join("fdinfo").join(fd.to_string())).unwrap_or_default();
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            .unwrap_or(0);
        let ino_info: u64 = info
            .lines()
            .find_map(|l| l.strip_prefix("ino:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let named = |ty: u8, name: &str| FdKind::Named { fd_type: ty, name: name.to_string() };
        let (kind, ino) = if let Some(ino) = bracket_ino(&target, "socket:") {
            match socks.by_ino.get(&ino) {
                Some(k) => (k.clone(), ino),
                None => (named(fd_type::UNSUPPORTED, &target), ino),
            }
        } else if let Some(ino) = bracket_ino(&target, "pipe:") {
            (named(fd_type::FIFO, ""), ino)
        } else if let Some(rest) = target.strip_prefix("anon_inode:") {
            let ty = match rest.trim_start_matches('[').trim_end_matches(']') {
                "eventfd" => fd_type::EVENT,
                "eventpoll" => fd_type::EVENTPOLL,
                "inotify" => fd_type::INOTIFY,
                "signalfd" => fd_type::SIGNALFD,
                "timerfd" => fd_type::TIMERFD,
                "bpf-map" | "bpf-prog" | "bpf_link" | "bpf-link" => fd_type::BPF,
                "[userfaultfd]" | "userfaultfd" => fd_type::USERFAULTFD,
                "[io_uring]" | "io_uring" => fd_type::IOURING,
                "[pidfd]" | "pidfd" => fd_type::PIDFD,
                _ => fd_type::UNSUPPORTED,
            };
            (named(ty, ""), ino_info)
        } else if target.starts_with("/memfd:") {
            (named(fd_type::MEMFD, &target), ino_info)
        } else if target.starts_with('/') {
            let md = fs::metadata(&lp).ok();
            if md.as_ref().is_some_and(|m| m.is_dir()) {
                (named(fd_type::DIRECTORY, &target), md.map_or(ino_info, |m| m.ino()))
            } else {
                let dev = md.as_ref().map(|m| m.dev() as u32);
                let ino = md.map_or(ino_info, |m| m.ino());
                (FdKind::File { open_flags: crate::convert::open_flags(flags), path: target, dev }, ino)
            }
        } else {
            (named(fd_type::UNSUPPORTED, &target), ino_info)
        };
        t.fds.push(FdInfo { fd, ino, kind });
    }
    t
}

fn machine(proc_: &Path) -> MachineInfo {
    let meminfo = read_str(&proc_.join("meminfo")).unwrap_or_default();
    let mem_kb = nth_u64(status_field(&meminfo, "MemTotal"), 0);
    MachineInfo {
        num_cpus: std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1),
        memory_size_bytes: mem_kb * 1024,
        max_pid: read_str(&proc_.join("sys/kernel/pid_max")).and_then(|s| s.trim().parse().ok()).unwrap_or(0),
        hostname: read_str(&proc_.join("sys/kernel/hostname"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        boot_ts_epoch: crate::convert::boot_offset_ns(),
        ..Default::default()
    }
}

fn users(p: &Path) -> Vec<UserInfo> {
    let Some(text) = read_str(p) else { return Vec::new() };
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(UserInfo {
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                name: f[0].to_string(),
                homedir: f[5].to_string(),
                shell: f[6].to_string(),
            })
        })
        .collect()
}

fn groups(p: &Path) -> Vec<GroupInfo> {
    let Some(text) = read_str(p) else { return Vec::new() };
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            Some(GroupInfo { gid: f[2].parse().ok()?, name: f[0].to_string() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_addresses() {
        assert_eq!(hex_v4("0100007F:1F90"), Some(([127, 0, 0, 1], 8080)));
        assert_eq!(hex_v4("zz"), None);
        let (a, p) = hex_v6("00000000000000000000000001000000:0050").unwrap();
        assert_eq!(p, 80);
        assert_eq!(a[15], 1);
    }

    #[test]
    fn missing_root_is_empty() {
        let h = scan_root(Path::new("/nonexistent-proc"), Path::new("/nonexistent-etc"));
        assert!(h.threads.is_empty());
        assert!(h.users.is_empty());
    }
}
