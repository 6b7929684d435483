//! Parsers for metadata block bodies.

use crate::block::*;
use crate::error::ScapError;
use crate::meta::*;
use harrier_event::consts::fd_type;

/// Limits for string fields (as libscap enforces them).
pub const MAX_PATH: usize = 1024;
pub const MAX_ARGS: usize = 4096;
pub const MAX_ENV: usize = 4096;
pub const MAX_CRED: usize = 256;

/// A bounds-checked little-endian cursor over a block body; errors name the absolute offset.
pub(crate) struct Cur<'a> {
    pub b: &'a [u8],
    pub pos: usize,
    pub base: u64,
    pub what: &'static str,
}

impl<'a> Cur<'a> {
    pub fn new(b: &'a [u8], base: u64, what: &'static str) -> Self {
        Cur { b, pos: 0, base, what }
    }
    pub fn off(&self) -> u64 {
        self.base + self.pos as u64
    }
    pub fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }
    fn short(&self, field: &str, n: usize) -> ScapError {
        ScapError::Truncated {
            offset: self.off(),
            what: format!("{} block: field {field} needs {n} bytes, {} left", self.what, self.remaining()),
        }
    }
    pub fn corrupt(&self, msg: String) -> ScapError {
        ScapError::Corrupt { offset: self.off(), what: format!("{} block: {msg}", self.what) }
    }
    pub fn bytes(&mut self, n: usize, field: &str) -> Result<&'a [u8], ScapError> {
        if self.remaining() < n {
            return Err(self.short(field, n));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub fn u8(&mut self, f: &str) -> Result<u8, ScapError> {
        Ok(self.bytes(1, f)?[0])
    }
    pub fn u16(&mut self, f: &str) -> Result<u16, ScapError> {
        let b = self.bytes(2, f)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    pub fn u32(&mut self, f: &str) -> Result<u32, ScapError> {
        let b = self.bytes(4, f)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn u64(&mut self, f: &str) -> Result<u64, ScapError> {
        let b = self.bytes(8, f)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    pub fn arr<const N: usize>(&mut self, f: &str) -> Result<[u8; N], ScapError> {
        let b = self.bytes(N, f)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }
    /// `u16 len` + bytes, at most `max` bytes.
    pub fn lbytes(&mut self, f: &str, max: usize) -> Result<&'a [u8], ScapError> {
        let n = self.u16(f)? as usize;
        if n > max {
            return Err(self.corrupt(format!("field {f} is {n} bytes (limit {max})")));
        }
        self.bytes(n, f)
    }
    pub fn lstr(&mut self, f: &str, max: usize) -> Result<String, ScapError> {
        Ok(to_string(self.lbytes(f, max)?))
    }
}

/// Lossy string from bytes, dropping trailing NULs.
pub(crate) fn to_string(b: &[u8]) -> String {
    let end = b.iter().rposition(|&c| c != 0).map_or(0, |p| p + 1);
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Split NUL-separated bytes into strings (no empty trailing element).
pub(crate) fn split_nul(b: &[u8]) -> Vec<String> {
    if b.is_empty() {
        return Vec::new();
    }
    let b = b.strip_suffix(&[0]).unwrap_or(b);
    b.split(|&c| c == 0).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
}

pub(crate) fn parse_shb(body: &[u8], base: u64) -> Result<SectionHeader, ScapError> {
    let mut c = Cur::new(body, base, "section header");
    let magic = c.u32("byte_order_magic")?;
    if magic != SHB_MAGIC {
        return Err(ScapError::BadMagic { offset: base, found: magic });
    }
    let major = c.u16("major_version")?;
    let minor = c.u16("minor_version")?;
    let section_length = c.u64("section_length")? as i64;
    if major != SHB_MAJOR {
        return Err(ScapError::Version { offset: base + 4, major, minor });
    }
    let rest = &body[c.pos..];
    let options = if rest.iter().all(|&b| b == 0) { Vec::new() } else { rest.to_vec() };
    Ok(SectionHeader { major, minor, section_length, options })
}

pub(crate) fn parse_mi(body: &[u8], base: u64) -> Result<MachineInfo, ScapError> {
    let mut c = Cur::new(body, base, "machine info");
    Ok(MachineInfo {
        num_cpus: c.u32("num_cpus")?,
        memory_size_bytes: c.u64("memory_size_bytes")?,
        max_pid: c.u64("max_pid")?,
        hostname: to_string(c.bytes(128, "hostname")?.split(|&b| b == 0).next().unwrap_or(&[])),
        boot_ts_epoch: c.u64("boot_ts_epoch")?,
        flags: c.u64("flags")?,
        reserved3: c.u64("reserved3")?,
        reserved4: c.u64("reserved4")?,
    })
}

pub(crate) fn parse_il(body: &[u8], base: u64, v2: bool, out: &mut Vec<Interface>) -> Result<(), ScapError> {
    let mut c = Cur::new(body, base, "interface list");
    while c.remaining() >= 4 {
        let start = c.pos;
        let entry_len = if v2 { Some(c.u32("entry_len")? as usize) } else { None };
        let body_start = c.pos;
        let ty = c.u16("type")?;
        if ty == 0 && entry_len.is_none_or(|l| l == 0) {
            break; // padding
        }
        let namelen = c.u16("ifnamelen")? as usize;
        if namelen > MAX_PATH {
            return Err(c.corrupt(format!("interface name length {namelen}")));
        }
        match ty {
            1 | 3 => {
                let addr = c.arr::<4>("addr")?;
                let netmask = c.arr::<4>("netmask")?;
                let bcast = c.arr::<4>("bcast")?;
                let linkspeed = if ty == 1 { Some(c.u64("linkspeed")?) } else { None };
                let name = to_string(c.bytes(namelen, "ifname")?);
                out.push(Interface::V4 { name, addr, netmask, bcast, linkspeed });
            }
            2 | 4 => {
                let addr = c.arr::<16>("addr")?;
                let netmask = c.arr::<16>("netmask")?;
                let bcast = c.arr::<16>("bcast")?;
                let linkspeed = if ty == 2 { Some(c.u64("linkspeed")?) } else { None };
                let name = to_string(c.bytes(namelen, "ifname")?);
                out.push(Interface::V6 { name, addr, netmask, bcast, linkspeed });
            }
            _ => {
                c.pos = start;
                return Err(c.corrupt(format!("unknown interface type {ty}")));
            }
        }
        if let Some(l) = entry_len {
            let used = c.pos - body_start;
            if used > l {
                return Err(c.corrupt(format!("interface entry longer ({used}) than its entry_len {l}")));
            }
            c.bytes(l - used, "entry padding")?;
        }
    }
    Ok(())
}

pub(crate) fn parse_ul(
    body: &[u8],
    base: u64,
    v2: bool,
    users: &mut Vec<UserInfo>,
    groups: &mut Vec<GroupInfo>,
) -> Result<(), ScapError> {
    let mut c = Cur::new(body, base, "user list");
    while c.remaining() >= 4 {
        let start = c.pos;
        let entry_len = if v2 { Some(c.u32("entry_len")? as usize) } else { None };
        if entry_len == Some(0) {
            break;
        }
        let ty = c.u8("type")?;
        match ty {
            0 => {
                let uid = c.u32("uid")?;
                let gid = c.u32("gid")?;
                let name = c.lstr("name", MAX_CRED)?;
                let homedir = c.lstr("homedir", MAX_CRED)?;
                let shell = c.lstr("shell", MAX_CRED)?;
                users.push(UserInfo { uid, gid, name, homedir, shell });
            }
            1 => {
                let gid = c.u32("gid")?;
                let name = c.lstr("name", MAX_CRED)?;
                groups.push(GroupInfo { gid, name });
            }
            _ => {
                c.pos = start;
                return Err(c.corrupt(format!("unknown user list entry type {ty}")));
            }
        }
        if let Some(l) = entry_len {
            let used = c.pos - start;
            if used > l {
                return Err(c.corrupt(format!("user entry longer ({used}) than its entry_len {l}")));
            }
            c.bytes(l - used, "entry padding")?;
        }
    }
    Ok(())
}

pub(crate) fn parse_pl(body: &[u8], base: u64, ver: u8, out: &mut Vec<ThreadInfo>) -> Result<(), ScapError> {
    let mut c = Cur::new(body, base, "process list");
    while c.remaining() >= 4 {
        let start = c.pos;
        let entry_len = if ver >= 9 { c.u32("entry_len")? as usize } else { 0 };
        if ver >= 9 && entry_len == 0 {
            break;
        }
        if ver >= 9 && entry_len > body.len() - start {
            return Err(c.corrupt(format!("entry_len {entry_len} exceeds the block")));
        }
        let mut t =
            ThreadInfo { tid: c.u64("tid")?, pid: c.u64("pid")?, ptid: c.u64("ptid")?, ..Default::default() };
        if ver >= 6 {
            t.sid = c.u64("sid")?;
        }
        if ver >= 8 {
            t.vpgid = c.u64("vpgid")?;
        }
        t.comm = c.lstr("comm", MAX_PATH)?;
        t.exe = c.lstr("exe", MAX_PATH)?;
        if ver >= 7 {
            t.exepath = c.lstr("exepath", MAX_PATH)?;
        }
        t.args = split_nul(c.lbytes("args", MAX_ARGS)?);
        t.cwd = c.lstr("cwd", MAX_PATH)?;
        t.fdlimit = c.u64("fdlimit")?;
        t.flags = c.u32("flags")?;
        t.uid = c.u32("uid")?;
        t.gid = c.u32("gid")?;
        if ver >= 2 {
            t.vmsize_kb = c.u32("vmsize_kb")?;
            t.vmrss_kb = c.u32("vmrss_kb")?;
            t.vmswap_kb = c.u32("vmswap_kb")?;
            t.pfmajor = c.u64("pfmajor")?;
            t.pfminor = c.u64("pfminor")?;
        }
        if ver >= 3 {
            t.env = split_nul(c.lbytes("env", MAX_ENV)?);
        }
        if ver >= 4 {
            t.vtid = c.u64("vtid")? as i64;
            t.vpid = c.u64("vpid")? as i64;
            t.cgroups = split_nul(c.lbytes("cgroups", MAX_ENV)?);
        }
        if ver >= 5 {
            t.root = c.lstr("root", MAX_PATH)?;
        }
        if ver >= 9 {
            let end = start + entry_len;
            if c.pos > end {
                return Err(c.corrupt(format!("entry longer than its entry_len {entry_len}")));
            }
            let left = |c: &Cur<'_>| end - c.pos;
            // Files from before libs 0.10 lack pidns_init_start_ts and tty.
            if left(&c) > 29 {
                t.pidns_init_start_ts = c.u64("pidns_init_start_ts")?;
                t.tty = c.u32("tty")?;
            }
            if left(&c) >= 4 {
                t.loginuid = c.u32("loginuid")?;
            }
            if left(&c) >= 1 {
                t.exe_writable = c.u8("exe_writable")? != 0;
            }
            if left(&c) >= 8 {
                t.cap_inheritable = c.u64("cap_inheritable")?;
            }
            if left(&c) >= 8 {
                t.cap_permitted = c.u64("cap_permitted")?;
            }
            if left(&c) >= 8 {
                t.cap_effective = c.u64("cap_effective")?;
            }
            if left(&c) >= 1 {
                t.exe_upper_layer = c.u8("exe_upper_layer")? != 0;
            }
            if left(&c) >= 8 {
                t.exe_ino = c.u64("exe_ino")?;
            }
            if left(&c) >= 8 {
                t.exe_ino_ctime = c.u64("exe_ino_ctime")?;
            }
            if left(&c) >= 8 {
                t.exe_ino_mtime = c.u64("exe_ino_mtime")?;
            }
            if left(&c) >= 1 {
                t.exe_from_memfd = c.u8("exe_from_memfd")? != 0;
            }
            if left(&c) >= 1 {
                t.exe_lower_layer = c.u8("exe_lower_layer")? != 0;
            }
            if left(&c) >= 8 {
                t.pgid = c.u64("pgid")? as i64;
            }
            let rest = left(&c);
            c.bytes(rest, "entry tail")?;
        }
        out.push(t);
    }
    Ok(())
}

pub(crate) fn parse_fdl(body: &[u8], base: u64, v2: bool) -> Result<FdTable, ScapError> {
    let mut c = Cur::new(body, base, "fd list");
    let tid = c.u64("tid")?;
    let mut fds = Vec::new();
    while c.remaining() >= 4 {
        let start = c.pos;
        let entry_len = if v2 { c.u32("entry_len")? as usize } else { 0 };
        if v2 && entry_len == 0 {
            break;
        }
        if v2 && entry_len > body.len() - start {
            return Err(c.corrupt(format!("entry_len {entry_len} exceeds the block")));
        }
        if !v2 && c.remaining() < 17 {
            break; // padding
        }
        let fd = c.u64("fd")? as i64;
        let ino = c.u64("ino")?;
        let ty = c.u8("type")?;
        let kind = match ty {
            fd_type::IPV4_SOCK => FdKind::Ipv4Sock {
                sip: c.arr("sip")?,
                dip: c.arr("dip")?,
                sport: c.u16("sport")?,
                dport: c.u16("dport")?,
                l4proto: c.u8("l4proto")?,
            },
            fd_type::IPV4_SERVSOCK => {
                FdKind::Ipv4ServSock { ip: c.arr("ip")?, port: c.u16("port")?, l4proto: c.u8("l4proto")? }
            }
            fd_type::IPV6_SOCK => FdKind::Ipv6Sock {
                sip: c.arr("sip")?,
                dip: c.arr("dip")?,
                sport: c.u16("sport")?,
                dport: c.u16("dport")?,
                l4proto: c.u8("l4proto")?,
            },
            fd_type::IPV6_SERVSOCK => {
                FdKind::Ipv6ServSock { ip: c.arr("ip")?, port: c.u16("port")?, l4proto: c.u8("l4proto")? }
            }
            fd_type::UNIX_SOCK => FdKind::UnixSock {
                source: c.u64("source")?,
                dest: c.u64("destination")?,
                path: c.lstr("path", MAX_PATH)?,
            },
            fd_type::FILE_V2 => {
                let open_flags = c.u32("open_flags")?;
                let path = c.lstr("path", MAX_PATH)?;
                let dev = if v2 && start + entry_len >= c.pos + 4 { Some(c.u32("dev")?) } else { None };
                FdKind::File { open_flags, path, dev }
            }
            fd_type::UNKNOWN..=fd_type::PIDFD => {
                FdKind::Named { fd_type: ty, name: c.lstr("name", MAX_PATH)? }
            }
            other => {
                if !v2 {
                    return Err(c.corrupt(format!("unknown fd type {other} in a v1 fd list")));
                }
                c.pos = start + entry_len;
                fds.push(FdInfo {
                    fd,
                    ino,
                    kind: FdKind::Named {
                        fd_type: fd_type::UNSUPPORTED,
                        name: format!("unknown-type:[{other}]"),
                    },
                });
                continue;
            }
        };
        if v2 {
            let end = start + entry_len;
            if c.pos > end {
                return Err(c.corrupt(format!("fd entry longer than its entry_len {entry_len}")));
            }
            c.pos = end;
        }
        fds.push(FdInfo { fd, ino, kind });
    }
    Ok(FdTable { tid, fds })
}
