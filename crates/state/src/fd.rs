//! File descriptors: what each open fd of a process refers to.

use harrier_event::consts::l4;
use std::net::IpAddr;

/// What an fd is (the capture format's `scap_fd_type`, with Falco's type names and characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FdKind {
    #[default]
    Unknown,
    File,
    Directory,
    Ipv4Sock,
    Ipv6Sock,
    Ipv4ServSock,
    Ipv6ServSock,
    Fifo,
    UnixSock,
    Event,
    Unsupported,
    SignalFd,
    EventPoll,
    Inotify,
    TimerFd,
    Netlink,
    Bpf,
    UserFaultFd,
    IoUring,
    Memfd,
    PidFd,
}

impl FdKind {
    /// From the capture format's numeric type (`FILE_V2` maps to `File`).
    pub fn from_scap(t: u8) -> FdKind {
        use FdKind::*;
        match t {
            1 | 16 => File,
            2 => Directory,
            3 => Ipv4Sock,
            4 => Ipv6Sock,
            5 => Ipv4ServSock,
            6 => Ipv6ServSock,
            7 => Fifo,
            8 => UnixSock,
            9 => Event,
            10 => Unsupported,
            11 => SignalFd,
            12 => EventPoll,
            13 => Inotify,
            14 => TimerFd,
            15 => Netlink,
            17 => Bpf,
            18 => UserFaultFd,
            19 => IoUring,
            20 => Memfd,
            21 => PidFd,
            _ => Unknown,
        }
    }

    /// The scap numeric type written into capture files.
    pub fn to_scap(self) -> u8 {
        use FdKind::*;
        match self {
            Unknown => 0,
            File => 16,
            Directory => 2,
            Ipv4Sock => 3,
            Ipv6Sock => 4,
            Ipv4ServSock => 5,
            Ipv6ServSock => 6,
            Fifo => 7,
            UnixSock => 8,
            Event => 9,
            Unsupported => 10,
            SignalFd => 11,
            EventPoll => 12,
            Inotify => 13,
            TimerFd => 14,
            Netlink => 15,
            Bpf => 17,
            UserFaultFd => 18,
            IoUring => 19,
            Memfd => 20,
            PidFd => 21,
        }
    }

    /// `fd.type`.
    pub fn type_name(self) -> &'static str {
        use FdKind::*;
        match self {
            Unknown => "<NA>",
            File => "file",
            Directory => "directory",
            Ipv4Sock | Ipv4ServSock => "ipv4",
            Ipv6Sock | Ipv6ServSock => "ipv6",
            Fifo => "pipe",
            UnixSock => "unix",
            Event => "event",
            Unsupported => "unknown",
            SignalFd => "signalfd",
            EventPoll => "eventpoll",
            Inotify => "inotify",
            TimerFd => "timerfd",
            Netlink => "netlink",
            Bpf => "bpf",
            UserFaultFd => "userfaultfd",
            IoUring => "io_uring",
            Memfd => "memfd",
            PidFd => "pidfd",
        }
    }

    /// `fd.typechar`.
    pub fn type_char(self) -> u8 {
        use FdKind::*;
        match self {
            Unknown => b'o',
            File => b'f',
            Directory => b'd',
            Ipv4Sock | Ipv4ServSock => b'4',
            Ipv6Sock | Ipv6ServSock => b'6',
            Fifo => b'p',
            UnixSock => b'u',
            Event => b'e',
            Unsupported => b'o',
            SignalFd => b's',
            EventPoll => b'l',
            Inotify => b'i',
            TimerFd => b't',
            Netlink => b'n',
            Bpf => b'b',
            UserFaultFd => b'u',
            IoUring => b'r',
            Memfd => b'm',
            PidFd => b'P',
        }
    }

    pub fn is_socket(self) -> bool {
        matches!(
            self,
            FdKind::Ipv4Sock
                | FdKind::Ipv6Sock
                | FdKind::Ipv4ServSock
                | FdKind::Ipv6ServSock
                | FdKind::UnixSock
        )
    }

    pub fn is_ip(self) -> bool {
        matches!(self, FdKind::Ipv4Sock | FdKind::Ipv6Sock | FdKind::Ipv4ServSock | FdKind::Ipv6ServSock)
    }
}

/// Layer-4 protocol of an IP socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum L4Proto {
    #[default]
    Unknown,
    Tcp,
    Udp,
    Icmp,
    Raw,
}

impl L4Proto {
    /// From the capture format's `SCAP_L4_*` code.
    pub fn from_scap(v: u8) -> L4Proto {
        match v {
            l4::TCP => L4Proto::Tcp,
            l4::UDP => L4Proto::Udp,
            l4::ICMP => L4Proto::Icmp,
            l4::RAW => L4Proto::Raw,
            _ => L4Proto::Unknown,
        }
    }
    pub fn to_scap(self) -> u8 {
        match self {
            L4Proto::Unknown => l4::UNKNOWN,
            L4Proto::Tcp => l4::TCP,
            L4Proto::Udp => l4::UDP,
            L4Proto::Icmp => l4::ICMP,
            L4Proto::Raw => l4::RAW,
        }
    }
    /// `fd.l4proto`.
    pub fn name(self) -> &'static str {
        match self {
            L4Proto::Unknown => "<NA>",
            L4Proto::Tcp => "tcp",
            L4Proto::Udp => "udp",
            L4Proto::Icmp => "icmp",
            L4Proto::Raw => "raw",
        }
    }
}

/// Addresses of an IP socket. For a connected socket `sip:sport` is the client side and
/// `dip:dport` the server side (Falco's convention); a server socket only has `sip:sport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpTuple {
    pub sip: IpAddr,
    pub dip: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub l4proto: L4Proto,
}

/// One open fd.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FdInfo {
    pub kind: FdKind,
    /// `fd.name`: the path for files, `sip:sport->dip:dport` for sockets, the path for unix sockets.
    pub name: String,
    /// The name as the process passed it, before resolution against the cwd (`fd.nameraw`).
    pub name_raw: String,
    /// Open flags (PPM_O_* bits).
    pub flags: u32,
    pub dev: u32,
    pub ino: u64,
    pub tuple: Option<IpTuple>,
    /// For unix sockets: the peer path.
    pub unix_path: Option<String>,
    /// Set when the socket's role (client/server) is known: true if this side initiated the connection.
    pub is_client: Option<bool>,
    /// The fd's name changed since it was opened (e.g. a socket got connected).
    pub name_changed: bool,
}

impl FdInfo {
    pub fn file(name: impl Into<String>, flags: u32) -> Self {
        let name = name.into();
        FdInfo { kind: FdKind::File, name_raw: name.clone(), name, flags, ..Default::default() }
    }

    /// `fd.directory`: the directory part of a file path.
    pub fn directory(&self) -> Option<&str> {
        if !matches!(self.kind, FdKind::File | FdKind::Directory | FdKind::Memfd) {
            return None;
        }
        if self.kind == FdKind::Directory {
            return Some(&self.name);
        }
        match self.name.rfind('/') {
            Some(0) => Some("/"),
            Some(i) => Some(&self.name[..i]),
            None => None,
        }
    }

    /// `fd.filename`: the last component of a file path.
    pub fn filename(&self) -> Option<&str> {
        if !matches!(self.kind, FdKind::File | FdKind::Directory | FdKind::Memfd) {
            return None;
        }
        Some(match self.name.rfind('/') {
            Some(i) => &self.name[i + 1..],
            None => &self.name,
        })
    }
}

/// The fd table of one process.
#[derive(Debug, Clone, Default)]
pub struct FdTable {
    fds: rustc_hash::FxHashMap<i64, FdInfo>,
}

/// Upper bound on fds kept per process: beyond it, new fds are not tracked (counted as overflow).
pub const MAX_FDS_PER_PROCESS: usize = 65536;

impl FdTable {
    pub fn get(&self, fd: i64) -> Option<&FdInfo> {
        self.fds.get(&fd)
    }
    pub fn get_mut(&mut self, fd: i64) -> Option<&mut FdInfo> {
        self.fds.get_mut(&fd)
    }
    /// Insert or replace; returns false when the table is full and the fd was not added.
    pub fn insert(&mut self, fd: i64, info: FdInfo) -> bool {
        if fd < 0 {
            return false;
        }
        if self.fds.len() >= MAX_FDS_PER_PROCESS && !self.fds.contains_key(&fd) {
            return false;
        }
        self.fds.insert(fd, info);
        true
    }
    pub fn remove(&mut self, fd: i64) -> Option<FdInfo> {
        self.fds.remove(&fd)
    }
    pub fn len(&self) -> usize {
        self.fds.len()
    }
    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = (i64, &FdInfo)> {
        self.fds.iter().map(|(k, v)| (*k, v))
    }
    /// Close every fd flagged close-on-exec (PPM_O_CLOEXEC), as execve does.
    pub fn close_on_exec(&mut self, cloexec_flag: u32) {
        self.fds.retain(|_, f| f.flags & cloexec_flag == 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scap_types_round_trip() {
        for t in 0u8..=21 {
            let k = FdKind::from_scap(t);
            if t == 1 {
                assert_eq!(k, FdKind::File);
                continue;
            }
            assert_eq!(FdKind::from_scap(k.to_scap()), k);
        }
        assert_eq!(FdKind::from_scap(200), FdKind::Unknown);
        for v in [l4::UNKNOWN, l4::TCP, l4::UDP, l4::ICMP, l4::RAW] {
            assert_eq!(L4Proto::from_scap(v).to_scap(), v);
        }
    }

    #[test]
    fn directory_and_filename() {
        let f = FdInfo::file("/etc/shadow", 0);
        assert_eq!(f.directory(), Some("/etc"));
        assert_eq!(f.filename(), Some("shadow"));
        let root = FdInfo::file("/x", 0);
        assert_eq!(root.directory(), Some("/"));
        let sock =
            FdInfo { kind: FdKind::Ipv4Sock, name: "1.2.3.4:5->6.7.8.9:10".into(), ..Default::default() };
        assert_eq!(sock.directory(), None);
        assert_eq!(sock.kind.type_char(), b'4');
    }

    #[test]
    fn table_bounds_and_cloexec() {
        let mut t = FdTable::default();
        assert!(!t.insert(-1, FdInfo::file("/a", 0)));
        assert!(t.insert(3, FdInfo::file("/a", 0)));
        assert!(t.insert(4, FdInfo::file("/b", 0o2000000)));
        t.close_on_exec(0o2000000);
        assert!(t.get(3).is_some() && t.get(4).is_none());
        assert_eq!(t.remove(3).map(|f| f.name), Some("/a".to_string()));
        assert!(t.is_empty());
    }
}
