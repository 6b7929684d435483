//! Numeric constants of the driver ABI used by the state tracker
//! (facts from falcosecurity/libs `driver/ppm_events_public.h` and `scap.h`).
//!
//! TODO: the full flag/enum value tables (PPM_CL_*, PPM_MS_*, fcntl, ptrace, sockopt, …) for `evt.arg`
//! rendering and the PT_DYN sub-type tables are not here yet.

/// Open flags (`PPM_O_*`) as carried by the `flags` parameter of open/openat/openat2/creat events.
pub mod open_flags {
    pub const NONE: u32 = 0;
    pub const RDONLY: u32 = 1 << 0;
    pub const WRONLY: u32 = 1 << 1;
    pub const RDWR: u32 = RDONLY | WRONLY;
    pub const CREAT: u32 = 1 << 2;
    pub const APPEND: u32 = 1 << 3;
    pub const DSYNC: u32 = 1 << 4;
    pub const EXCL: u32 = 1 << 5;
    pub const NONBLOCK: u32 = 1 << 6;
    pub const SYNC: u32 = 1 << 7;
    pub const TRUNC: u32 = 1 << 8;
    pub const DIRECT: u32 = 1 << 9;
    pub const DIRECTORY: u32 = 1 << 10;
    pub const LARGEFILE: u32 = 1 << 11;
    pub const CLOEXEC: u32 = 1 << 12;
    pub const TMPFILE: u32 = 1 << 13;
    /// Set by the driver when the open created the file.
    pub const F_CREATED: u32 = 1 << 14;
    /// The fd refers to a file on the upper layer of an overlay filesystem.
    pub const FD_UPPER_LAYER: u32 = 1 << 15;
    /// The fd refers to a file on the lower layer of an overlay filesystem.
    pub const FD_LOWER_LAYER: u32 = 1 << 16;

    /// `(name, bit)` pairs in ascending bit order, for rendering (`O_RDONLY|O_CREAT`).
    pub const NAMES: &[(&str, u32)] = &[
        ("O_RDONLY", RDONLY),
        ("O_WRONLY", WRONLY),
        ("O_CREAT", CREAT),
        ("O_APPEND", APPEND),
        ("O_DSYNC", DSYNC),
        ("O_EXCL", EXCL),
        ("O_NONBLOCK", NONBLOCK),
        ("O_SYNC", SYNC),
        ("O_TRUNC", TRUNC),
        ("O_DIRECT", DIRECT),
        ("O_DIRECTORY", DIRECTORY),
        ("O_LARGEFILE", LARGEFILE),
        ("O_CLOEXEC", CLOEXEC),
        ("O_TMPFILE", TMPFILE),
        ("O_F_CREATED", F_CREATED),
        ("FD_UPPER_LAYER", FD_UPPER_LAYER),
        ("FD_LOWER_LAYER", FD_LOWER_LAYER),
    ];
}

/// File mode bits (`PPM_S_*`).
pub mod mode {
    pub const IXOTH: u32 = 1 << 0;
    pub const IWOTH: u32 = 1 << 1;
    pub const IROTH: u32 = 1 << 2;
    pub const IXGRP: u32 = 1 << 3;
    pub const IWGRP: u32 = 1 << 4;
    pub const IRGRP: u32 = 1 << 5;
    pub const IXUSR: u32 = 1 << 6;
    pub const IWUSR: u32 = 1 << 7;
    pub const IRUSR: u32 = 1 << 8;
    pub const ISVTX: u32 = 1 << 9;
    pub const ISGID: u32 = 1 << 10;
    pub const ISUID: u32 = 1 << 11;
}

/// Socket families (`PPM_AF_*`) as carried in sockaddr/socktuple params and the socket `domain`.
pub mod af {
    pub const UNSPEC: u8 = 0;
    pub const UNIX: u8 = 1;
    pub const INET: u8 = 2;
    pub const INET6: u8 = 10;
    pub const NETLINK: u8 = 16;
    pub const PACKET: u8 = 17;
}

/// Layer-4 protocol codes (`scap_l4_proto`) used in fd tables.
pub mod l4 {
    pub const UNKNOWN: u8 = 0;
    /// Not a socket.
    pub const NA: u8 = 1;
    pub const TCP: u8 = 2;
    pub const UDP: u8 = 3;
    pub const ICMP: u8 = 4;
    pub const RAW: u8 = 5;
}

/// File descriptor types (`scap_fd_type`) used in capture fd lists.
pub mod fd_type {
    pub const UNKNOWN: u8 = 0;
    pub const FILE: u8 = 1;
    pub const DIRECTORY: u8 = 2;
    pub const IPV4_SOCK: u8 = 3;
    pub const IPV6_SOCK: u8 = 4;
    pub const IPV4_SERVSOCK: u8 = 5;
    pub const IPV6_SERVSOCK: u8 = 6;
    pub const FIFO: u8 = 7;
    pub const UNIX_SOCK: u8 = 8;
    pub const EVENT: u8 = 9;
    pub const UNSUPPORTED: u8 = 10;
    pub const SIGNALFD: u8 = 11;
    pub const EVENTPOLL: u8 = 12;
    pub const INOTIFY: u8 = 13;
    pub const TIMERFD: u8 = 14;
    pub const NETLINK: u8 = 15;
    pub const FILE_V2: u8 = 16;
    pub const BPF: u8 = 17;
    pub const USERFAULTFD: u8 = 18;
    pub const IOURING: u8 = 19;
    pub const MEMFD: u8 = 20;
    pub const PIDFD: u8 = 21;
}

/// `PPM_AT_FDCWD`: the dirfd value meaning "relative to the cwd".
pub const AT_FDCWD: i64 = -100;
