//! The kernel record format (mirror of `bpf/harrier.h`) and a bounds-checked parser.
//!
//! A record is a fixed 88-byte header followed by items `u16 tag, u16 len, len bytes`. Nothing
//! here trusts the kernel: every read is checked, and a malformed record is an `Err`.

pub const K_SYSCALL: u16 = 1;
pub const K_EXIT: u16 = 2;
pub const K_EXEC: u16 = 3;
/// The batch timer's wake-up record (a header, nothing else).
pub const K_TICK: u16 = 4;

pub const T_STR0: u16 = 1;
pub const T_FILE: u16 = 10;
pub const T_SOCK: u16 = 11;
pub const T_UNIXPATH: u16 = 12;
pub const T_SOCKADDR: u16 = 13;
pub const T_PROC: u16 = 14;
pub const T_ARGS: u16 = 15;
pub const T_ENV: u16 = 16;
pub const T_CWD: u16 = 17;
pub const T_EXEPATH: u16 = 18;
pub const T_CGROUP: u16 = 19;
pub const T_FDPAIR: u16 = 20;
pub const T_CREDS: u16 = 21;
pub const T_OPENHOW: u16 = 22;
pub const T_CLONEARGS: u16 = 23;
pub const T_DATA: u16 = 24;
pub const T_FILENAME: u16 = 25;
pub const T_OLDTID: u16 = 26;
pub const T_ARGV_USER: u16 = 27;
pub const T_EXEINFO: u16 = 28;

/// `T_EXEINFO` bits: the executable of a successful exec.
pub mod exeinfo {
    /// Writable by the caller (fs ids against the mode bits, or CAP_DAC_OVERRIDE).
    pub const WRITABLE: u32 = 1 << 0;
    /// On overlayfs, with an upper (writable layer) dentry.
    pub const UPPER: u32 = 1 << 1;
    /// On overlayfs, found only in lower (image) layers.
    pub const LOWER: u32 = 1 << 3;
}

/// Spec bits (`hr_spec` map values).
pub mod spec {
    pub const STR0: u32 = 1;
    pub const STR1: u32 = 2;
    pub const STR2: u32 = 4;
    pub const STR3: u32 = 8;
    /// A successful result is a new descriptor (clears its `hr_unseen` mark; see `RO_OPEN`).
    pub const RET_FD: u32 = 1 << 6;
    pub const ON: u32 = 1 << 7;
    pub const FILE_RET: u32 = 1 << 8;
    pub const SOCK_A0: u32 = 1 << 9;
    pub const SOCK_RET: u32 = 1 << 10;
    pub const SADDR_A1: u32 = 1 << 11;
    pub const SADDR_A4: u32 = 1 << 12;
    pub const PROC: u32 = 1 << 13;
    pub const EXEC: u32 = 1 << 14;
    pub const FDPAIR_A0: u32 = 1 << 15;
    pub const FDPAIR_A3: u32 = 1 << 16;
    pub const CREDS: u32 = 1 << 17;
    pub const OPENHOW: u32 = 1 << 18;
    pub const CLONE3: u32 = 1 << 19;
    pub const DATA_A1: u32 = 1 << 20;
    pub const PRCTL: u32 = 1 << 21;
    pub const PROT_EXEC: u32 = 1 << 22;
    pub const URGENT: u32 = 1 << 23;
    /// State only (no rule watches it): its records never wake the consumer by time.
    pub const LAZY: u32 = 1 << 24;
    /// With `URGENT` (open, openat): urgent only when the call succeeded with write access.
    pub const URGENT_WRITES: u32 = 1 << 26;
    /// With `URGENT` (open family): urgent only when the call succeeded and its path starts with
    /// a prefix of the `hr_urgent_paths` map (a relative path: the opened file's top-level
    /// directory is in `hr_urgent_tops`), or, with `URGENT_WRITES`, it opened for writing.
    pub const URGENT_PATH: u32 = 1 << 27;
    /// The `hr_drop` map may drop some of its records (pre-filter).
    pub const FILTERABLE: u32 = 1 << 25;
    pub const CLASS_SHIFT: u32 = 28;
}

/// Counter slots of the per-CPU `hr_stats` map.
pub const C_PROC: u32 = 0;
pub const C_FILE: u32 = 1;
pub const C_NET: u32 = 2;
pub const C_OTHER: u32 = 3;
/// Unused: records submitted are the sum of the `STAT_SENT_C0..` class counters.
pub const STAT_SENT: u32 = 4;
pub const STAT_TRUNC: u32 = 5;
/// Records the pre-filter dropped.
pub const STAT_FILTERED: u32 = 6;
/// 8..11: records submitted, by class (`C_*`).
pub const STAT_SENT_C0: u32 = 8;
/// Records submitted as urgent.
pub const STAT_URGENT: u32 = 12;
/// Forced wake-ups of the consumer (an urgent record, the byte threshold, the batch timer).
pub const STAT_WAKEUPS: u32 = 13;
/// `hr_hdr.flags` of a syscall record: it was submitted as urgent.
pub const F_URGENT: u32 = 1 << 31;
/// Longest prefix in `hr_urgent_paths` (bytes), and how many it holds.
pub const PREFIX_MAX: usize = 64;
pub const PREFIXES_MAX: usize = 256;
/// `struct hr_keep`: at most this many prefixes (more: every path goes to the trie) and thread
/// names.
pub const KEEP_PATHS: usize = 64;
pub const KEEP_COMMS: usize = 16;

/// `struct hr_keep` (see `harrier.h`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Keep {
    pub npaths: u32,
    pub ncomms: u32,
    pub plen: [u32; KEEP_PATHS],
    /// By a path's second byte: the first prefix with that byte there and how many follow.
    pub grp: [[u8; 2]; 256],
    pub comm: [[u64; 2]; KEEP_COMMS],
    pub pfx: [[u64; PREFIX_MAX / 8]; KEEP_PATHS],
}

impl Default for Keep {
    fn default() -> Keep {
        Keep {
            npaths: 0,
            ncomms: 0,
            plen: [0; KEEP_PATHS],
            grp: [[0; 2]; 256],
            comm: [[0; 2]; KEEP_COMMS],
            pfx: [[0; PREFIX_MAX / 8]; KEEP_PATHS],
        }
    }
}

// SAFETY: plain integers without padding (2 + 64 u32, 512 u8, then u64 arrays from offset 1032:
// every field starts at a multiple of its alignment, the size is a multiple of 8), any bit pattern
// is valid.
unsafe impl aya::Pod for Keep {}
pub const NSTATS: u32 = 16;
pub const MAX_SYSCALLS: u32 = 512;

/// `hr_drop` map values: what of a [`spec::FILTERABLE`] syscall's records the kernel drops.
pub mod prefilter {
    /// The call failed (result < 0).
    pub const FAILED: u32 = 1 << 0;
    /// fcntl: a command other than F_DUPFD / F_DUPFD_CLOEXEC.
    pub const FCNTL_NODUP: u32 = 1 << 1;
    /// open, openat: a successful read-only open (without `O_DIRECTORY`) of a clean absolute
    /// path that `hr_keep` (or, past its size, `hr_keep_paths`) does not keep (see
    /// `harrier_engine::prefilter::OpenKeep`); its descriptor is marked in `hr_unseen`.
    pub const RO_OPEN: u32 = 1 << 2;
    /// close: a successful close of a descriptor marked in `hr_unseen` (its open was dropped).
    pub const CLOSE_UNSEEN: u32 = 1 << 3;
    /// open, openat: the bound [`RO_OPEN`] uses is `hr_keep`'s slot 1 (else slot 0). In the
    /// same byte as `RO_OPEN`, so a program reading the word while it is written sees both from
    /// the same write.
    pub const KEEP_SLOT1: u32 = 1 << 4;
}

pub const HDR_LEN: usize = 88;
/// Offsets in the record header (`struct hr_hdr`): kind (u16) and syscall number (u16).
pub const HDR_KIND_OFF: usize = 20;
pub const HDR_NR_OFF: usize = 22;

#[inline]
fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?))
}
#[inline]
fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
}
#[inline]
fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?))
}

/// A parsed record: header fields and the items, by tag (the last item of a tag wins, except
/// cgroups, which repeat).
#[derive(Debug, Clone, Default)]
pub struct Record<'a> {
    pub ts: u64,
    pub tid: u32,
    pub pid: u32,
    pub kind: u16,
    pub nr: u16,
    pub ret: i64,
    pub args: [u64; 6],
    pub cpu: u32,
    pub flags: u32,
    items: [Option<&'a [u8]>; 29],
    cgroups: [Option<&'a [u8]>; 16],
}

impl<'a> Record<'a> {
    pub fn parse(b: &'a [u8]) -> Option<Record<'a>> {
        if b.len() < HDR_LEN {
            return None;
        }
        let len = u32_at(b, 16)? as usize;
        if len < HDR_LEN || len > b.len() {
            return None;
        }
        let b = &b[..len];
        let mut r = Record {
            ts: u64_at(b, 0)?,
            tid: u32_at(b, 8)?,
            pid: u32_at(b, 12)?,
            kind: u16_at(b, 20)?,
            nr: u16_at(b, 22)?,
            ret: u64_at(b, 24)? as i64,
            args: [0; 6],
            cpu: u32_at(b, 80)?,
            flags: u32_at(b, 84)?,
            ..Default::default()
        };
        for (i, a) in r.args.iter_mut().enumerate() {
            *a = u64_at(b, 32 + 8 * i)?;
        }
        let mut o = HDR_LEN;
        let mut ncg = 0;
        while o + 4 <= b.len() {
            let tag = u16_at(b, o)?;
            let l = u16_at(b, o + 2)? as usize;
            let data = b.get(o + 4..o + 4 + l)?;
            if tag == T_CGROUP {
                if ncg < r.cgroups.len() {
                    r.cgroups[ncg] = Some(data);
                    ncg += 1;
                }
            } else if let Some(slot) = r.items.get_mut(tag as usize) {
                *slot = Some(data);
            }
            o += 4 + l;
        }
        Some(r)
    }

    pub fn item(&self, tag: u16) -> Option<&'a [u8]> {
        self.items.get(tag as usize).copied().flatten()
    }

    /// User string read from argument `i`, without its NUL.
    pub fn str_arg(&self, i: u16) -> Option<&'a [u8]> {
        self.item(T_STR0 + i).map(cut_nul)
    }

    pub fn cgroup_items(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.cgroups.iter().flatten().copied()
    }

    pub fn file(&self) -> Option<FileInfo> {
        let b = self.item(T_FILE)?;
        Some(FileInfo {
            dev: u32_at(b, 0)?,
            f_flags: u32_at(b, 4)?,
            ino: u64_at(b, 8)?,
            f_mode: u32_at(b, 16)?,
            i_mode: u32_at(b, 20)?,
            magic: u32_at(b, 24)?,
        })
    }

    pub fn sock(&self) -> Option<SockInfo> {
        let b = self.item(T_SOCK)?;
        Some(SockInfo {
            family: u16_at(b, 0)?,
            stype: u16_at(b, 2)?,
            proto: u16_at(b, 4)?,
            lport: u16_at(b, 6)?,
            rport: u16_at(b, 8)?,
            laddr: b.get(12..28)?.try_into().ok()?,
            raddr: b.get(28..44)?.try_into().ok()?,
            sk: u64_at(b, 44)?,
            peer: u64_at(b, 52)?,
            ino: u64_at(b, 60)?,
        })
    }

    pub fn proc_info(&self) -> Option<ProcInfo> {
        let b = self.item(T_PROC)?;
        let u = |i: usize| u32_at(b, i * 4);
        let mut comm = [0u8; 16];
        comm.copy_from_slice(b.get(168..184)?);
        Some(ProcInfo {
            tid: u(0)?,
            pid: u(1)?,
            ptid: u(2)?,
            ppid: u(3)?,
            uid: u(4)?,
            gid: u(5)?,
            euid: u(6)?,
            egid: u(7)?,
            loginuid: u(8)?,
            tty: u(9)?,
            vtid: u(10)?,
            vpid: u(11)?,
            pgid: u(12)?,
            vpgid: u(13)?,
            sid: u(14)?,
            vm_size: u(15)?,
            vm_rss: u(16)?,
            vm_swap: u(17)?,
            cap_inh: u64_at(b, 72)?,
            cap_perm: u64_at(b, 80)?,
            cap_eff: u64_at(b, 88)?,
            fdlimit: u64_at(b, 96)?,
            pgft_maj: u64_at(b, 104)?,
            pgft_min: u64_at(b, 112)?,
            exe_ino: u64_at(b, 120)?,
            exe_ctime: u64_at(b, 128)?,
            exe_mtime: u64_at(b, 136)?,
            exe_nlink: u32_at(b, 144)?,
            exe_magic: u32_at(b, 148)?,
            pidns_init_start: u64_at(b, 152)?,
            start_time: u64_at(b, 160)?,
            comm,
        })
    }

    pub fn creds(&self) -> Option<Creds> {
        let b = self.item(T_CREDS)?;
        let u = |i: usize| u32_at(b, i * 4);
        Some(Creds {
            uid: u(0)?,
            gid: u(1)?,
            euid: u(2)?,
            egid: u(3)?,
            suid: u(4)?,
            sgid: u(5)?,
            cap_inh: u64_at(b, 32)?,
            cap_perm: u64_at(b, 40)?,
            cap_eff: u64_at(b, 48)?,
        })
    }

    /// `(fd1, fd2, inode of fd1)` of pipe/socketpair.
    pub fn fdpair(&self) -> Option<(i32, i32, u64)> {
        let b = self.item(T_FDPAIR)?;
        Some((u32_at(b, 0)? as i32, u32_at(b, 4)? as i32, u64_at(b, 8)?))
    }

    pub fn open_how(&self) -> Option<(u64, u64, u64)> {
        let b = self.item(T_OPENHOW)?;
        Some((u64_at(b, 0)?, u64_at(b, 8)?, u64_at(b, 16)?))
    }

    pub fn clone3_flags(&self) -> Option<u64> {
        u64_at(self.item(T_CLONEARGS)?, 0)
    }

    pub fn old_tid(&self) -> Option<u32> {
        u32_at(self.item(T_OLDTID)?, 0)
    }

    /// [`exeinfo`] bits of a successful exec's executable.
    pub fn exe_info(&self) -> Option<u32> {
        u32_at(self.item(T_EXEINFO)?, 0)
    }
}

/// The file behind a result fd.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileInfo {
    pub dev: u32,
    pub f_flags: u32,
    pub ino: u64,
    pub f_mode: u32,
    pub i_mode: u32,
    pub magic: u32,
}

/// A socket: family, type, ends (ports in host order, addresses in network order).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SockInfo {
    pub family: u16,
    pub stype: u16,
    pub proto: u16,
    pub lport: u16,
    pub rport: u16,
    pub laddr: [u8; 16],
    pub raddr: [u8; 16],
    pub sk: u64,
    pub peer: u64,
    pub ino: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcInfo {
    pub tid: u32,
    pub pid: u32,
    pub ptid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    pub loginuid: u32,
    pub tty: u32,
    pub vtid: u32,
    pub vpid: u32,
    pub pgid: u32,
    pub vpgid: u32,
    pub sid: u32,
    pub vm_size: u32,
    pub vm_rss: u32,
    pub vm_swap: u32,
    pub cap_inh: u64,
    pub cap_perm: u64,
    pub cap_eff: u64,
    pub fdlimit: u64,
    pub pgft_maj: u64,
    pub pgft_min: u64,
    pub exe_ino: u64,
    pub exe_ctime: u64,
    pub exe_mtime: u64,
    pub exe_nlink: u32,
    pub exe_magic: u32,
    pub pidns_init_start: u64,
    pub start_time: u64,
    pub comm: [u8; 16],
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Creds {
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    pub suid: u32,
    pub sgid: u32,
    pub cap_inh: u64,
    pub cap_perm: u64,
    pub cap_eff: u64,
}

/// Bytes up to the first NUL.
pub fn cut_nul(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// Join path components sent leaf first (`leaf\0parent\0…`) into an absolute path.
pub fn join_components(b: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let comps: Vec<&[u8]> = b.split(|&c| c == 0).filter(|c| !c.is_empty() && *c != b"/").collect();
    if comps.is_empty() {
        out.push(b'/');
        return;
    }
    for c in comps.iter().rev() {
        out.push(b'/');
        out.extend_from_slice(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_join() {
        let mut o = Vec::new();
        join_components(b"c\0b\0a\0", &mut o);
        assert_eq!(o, b"/a/b/c");
        join_components(b"", &mut o);
        assert_eq!(o, b"/");
    }

    #[test]
    fn malformed_records_are_rejected() {
        assert!(Record::parse(&[]).is_none());
        assert!(Record::parse(&[0u8; 87]).is_none());
        let mut b = vec![0u8; 100];
        b[16..20].copy_from_slice(&200u32.to_le_bytes());
        assert!(Record::parse(&b).is_none());
        b[16..20].copy_from_slice(&100u32.to_le_bytes());
        // an item claiming more bytes than remain
        b[88..90].copy_from_slice(&T_ARGS.to_le_bytes());
        b[90..92].copy_from_slice(&50u16.to_le_bytes());
        assert!(Record::parse(&b).is_none());
        b[90..92].copy_from_slice(&8u16.to_le_bytes());
        let r = Record::parse(&b).unwrap();
        assert_eq!(r.item(T_ARGS).map(|a| a.len()), Some(8));
    }
}
