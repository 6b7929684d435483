//! Capture metadata as plain structs (what the state tracker consumes).

/// Section header block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SectionHeader {
    pub major: u16,
    pub minor: u16,
    pub section_length: i64,
    /// Raw pcapng-style option bytes after the fixed body (usually empty).
    pub options: Vec<u8>,
}

/// Machine info block (`scap_machine_info`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MachineInfo {
    pub num_cpus: u32,
    pub memory_size_bytes: u64,
    pub max_pid: u64,
    pub hostname: String,
    pub boot_ts_epoch: u64,
    pub flags: u64,
    pub reserved3: u64,
    pub reserved4: u64,
}

/// One interface address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interface {
    /// Addresses in network byte order as stored. `linkspeed` is `None` for the `*_NOLINKSPEED` variants.
    V4 {
        name: String,
        addr: [u8; 4],
        netmask: [u8; 4],
        bcast: [u8; 4],
        linkspeed: Option<u64>,
    },
    V6 {
        name: String,
        addr: [u8; 16],
        netmask: [u8; 16],
        bcast: [u8; 16],
        linkspeed: Option<u64>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserInfo {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
    pub homedir: String,
    pub shell: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupInfo {
    pub gid: u32,
    pub name: String,
}

/// One process-list entry (all fields up to PL V9; fields absent in older versions are 0/empty).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ThreadInfo {
    pub tid: u64,
    pub pid: u64,
    pub ptid: u64,
    pub sid: u64,
    pub vpgid: u64,
    pub comm: String,
    pub exe: String,
    pub exepath: String,
    /// argv without argv[0], NUL-separated on disk, split here.
    pub args: Vec<String>,
    pub cwd: String,
    pub fdlimit: u64,
    pub flags: u32,
    pub uid: u32,
    pub gid: u32,
    pub vmsize_kb: u32,
    pub vmrss_kb: u32,
    pub vmswap_kb: u32,
    pub pfmajor: u64,
    pub pfminor: u64,
    pub env: Vec<String>,
    pub vtid: i64,
    pub vpid: i64,
    /// `subsys=path` entries.
    pub cgroups: Vec<String>,
    pub root: String,
    pub pidns_init_start_ts: u64,
    pub tty: u32,
    pub loginuid: u32,
    pub exe_writable: bool,
    pub cap_inheritable: u64,
    pub cap_permitted: u64,
    pub cap_effective: u64,
    pub exe_upper_layer: bool,
    pub exe_ino: u64,
    pub exe_ino_ctime: u64,
    pub exe_ino_mtime: u64,
    pub exe_from_memfd: bool,
    pub exe_lower_layer: bool,
    pub pgid: i64,
}

/// What an fd refers to. Addresses in network byte order as stored, ports in host order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FdKind {
    Ipv4Sock {
        sip: [u8; 4],
        dip: [u8; 4],
        sport: u16,
        dport: u16,
        l4proto: u8,
    },
    Ipv4ServSock {
        ip: [u8; 4],
        port: u16,
        l4proto: u8,
    },
    Ipv6Sock {
        sip: [u8; 16],
        dip: [u8; 16],
        sport: u16,
        dport: u16,
        l4proto: u8,
    },
    Ipv6ServSock {
        ip: [u8; 16],
        port: u16,
        l4proto: u8,
    },
    UnixSock {
        source: u64,
        dest: u64,
        path: String,
    },
    /// `FILE_V2`: open flags (PPM_O_*), path and, when present, the device.
    File {
        open_flags: u32,
        path: String,
        dev: Option<u32>,
    },
    /// Any other type (`harrier_event::consts::fd_type`) with its name.
    Named {
        fd_type: u8,
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdInfo {
    pub fd: i64,
    pub ino: u64,
    pub kind: FdKind,
}

impl FdInfo {
    /// The `scap_fd_type` code of this entry.
    pub fn fd_type(&self) -> u8 {
        use harrier_event::consts::fd_type as t;
        match &self.kind {
            FdKind::Ipv4Sock { .. } => t::IPV4_SOCK,
            FdKind::Ipv4ServSock { .. } => t::IPV4_SERVSOCK,
            FdKind::Ipv6Sock { .. } => t::IPV6_SOCK,
            FdKind::Ipv6ServSock { .. } => t::IPV6_SERVSOCK,
            FdKind::UnixSock { .. } => t::UNIX_SOCK,
            FdKind::File { .. } => t::FILE_V2,
            FdKind::Named { fd_type, .. } => *fd_type,
        }
    }
}

/// The fd table of one thread (one FDL block).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FdTable {
    pub tid: u64,
    pub fds: Vec<FdInfo>,
}

/// Everything before the first event block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    pub section: SectionHeader,
    pub machine: Option<MachineInfo>,
    pub interfaces: Vec<Interface>,
    pub users: Vec<UserInfo>,
    pub groups: Vec<GroupInfo>,
    pub threads: Vec<ThreadInfo>,
    pub fd_tables: Vec<FdTable>,
}

impl Header {
    /// Fd table of `tid`, if the capture has one.
    pub fn fds_of(&self, tid: u64) -> Option<&FdTable> {
        self.fd_tables.iter().find(|t| t.tid == tid)
    }
}
