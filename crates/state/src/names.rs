//! Names for numeric values that fields render as text: errno codes, capabilities, ptrace
//! requests, socket families, open flags and file modes.

/// Linux errno names by number (x86_64 / generic).
pub fn errno_name(e: i64) -> Option<&'static str> {
    const NAMES: [&str; 134] = [
        "",
        "EPERM",
        "ENOENT",
        "ESRCH",
        "EINTR",
        "EIO",
        "ENXIO",
        "E2BIG",
        "ENOEXEC",
        "EBADF",
        "ECHILD",
        "EAGAIN",
        "ENOMEM",
        "EACCES",
        "EFAULT",
        "ENOTBLK",
        "EBUSY",
        "EEXIST",
        "EXDEV",
        "ENODEV",
        "ENOTDIR",
        "EISDIR",
        "EINVAL",
        "ENFILE",
        "EMFILE",
        "ENOTTY",
        "ETXTBSY",
        "EFBIG",
        "ENOSPC",
        "ESPIPE",
        "EROFS",
        "EMLINK",
        "EPIPE",
        "EDOM",
        "ERANGE",
        "EDEADLK",
        "ENAMETOOLONG",
        "ENOLCK",
        "ENOSYS",
        "ENOTEMPTY",
        "ELOOP",
        "",
        "ENOMSG",
        "EIDRM",
        "ECHRNG",
        "EL2NSYNC",
        "EL3HLT",
        "EL3RST",
        "ELNRNG",
        "EUNATCH",
        "ENOCSI",
        "EL2HLT",
        "EBADE",
        "EBADR",
        "EXFULL",
        "ENOANO",
        "EBADRQC",
        "EBADSLT",
        "",
        "EBFONT",
        "ENOSTR",
        "ENODATA",
        "ETIME",
        "ENOSR",
        "ENONET",
        "ENOPKG",
        "EREMOTE",
        "ENOLINK",
        "EADV",
        "ESRMNT",
        "ECOMM",
        "EPROTO",
        "EMULTIHOP",
        "EDOTDOT",
        "EBADMSG",
        "EOVERFLOW",
        "ENOTUNIQ",
        "EBADFD",
        "EREMCHG",
        "ELIBACC",
        "ELIBBAD",
        "ELIBSCN",
        "ELIBMAX",
        "ELIBEXEC",
        "EILSEQ",
        "ERESTART",
        "ESTRPIPE",
        "EUSERS",
        "ENOTSOCK",
        "EDESTADDRREQ",
        "EMSGSIZE",
        "EPROTOTYPE",
        "ENOPROTOOPT",
        "EPROTONOSUPPORT",
        "ESOCKTNOSUPPORT",
        "EOPNOTSUPP",
        "EPFNOSUPPORT",
        "EAFNOSUPPORT",
        "EADDRINUSE",
        "EADDRNOTAVAIL",
        "ENETDOWN",
        "ENETUNREACH",
        "ENETRESET",
        "ECONNABORTED",
        "ECONNRESET",
        "ENOBUFS",
        "EISCONN",
        "ENOTCONN",
        "ESHUTDOWN",
        "ETOOMANYREFS",
        "ETIMEDOUT",
        "ECONNREFUSED",
        "EHOSTDOWN",
        "EHOSTUNREACH",
        "EALREADY",
        "EINPROGRESS",
        "ESTALE",
        "EUCLEAN",
        "ENOTNAM",
        "ENAVAIL",
        "EISNAM",
        "EREMOTEIO",
        "EDQUOT",
        "ENOMEDIUM",
        "EMEDIUMTYPE",
        "ECANCELED",
        "ENOKEY",
        "EKEYEXPIRED",
        "EKEYREVOKED",
        "EKEYREJECTED",
        "EOWNERDEAD",
        "ENOTRECOVERABLE",
        "ERFKILL",
        "EHWPOISON",
    ];
    match e {
        512 => Some("ERESTARTSYS"),
        513 => Some("ERESTARTNOINTR"),
        514 => Some("ERESTARTNOHAND"),
        515 => Some("ENOIOCTLCMD"),
        516 => Some("ERESTART_RESTARTBLOCK"),
        _ => NAMES.get(usize::try_from(e).ok()?).copied().filter(|s| !s.is_empty()),
    }
}

/// Linux capability names by bit number.
pub const CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Write a capability set as blank-separated names.
pub fn write_caps(set: u64, out: &mut Vec<u8>) {
    let mut first = true;
    for (bit, name) in CAPABILITIES.iter().enumerate() {
        if set & (1u64 << bit) != 0 {
            if !first {
                out.push(b' ');
            }
            out.extend_from_slice(name.as_bytes());
            first = false;
        }
    }
}

/// `PPM_PTRACE_*` request names.
pub fn ptrace_request_name(v: u64) -> Option<&'static str> {
    const NAMES: [&str; 34] = [
        "PTRACE_UNKNOWN",
        "PTRACE_TRACEME",
        "PTRACE_PEEKTEXT",
        "PTRACE_PEEKDATA",
        "PTRACE_PEEKUSR",
        "PTRACE_POKETEXT",
        "PTRACE_POKEDATA",
        "PTRACE_POKEUSR",
        "PTRACE_CONT",
        "PTRACE_KILL",
        "PTRACE_SINGLESTEP",
        "PTRACE_ATTACH",
        "PTRACE_DETACH",
        "PTRACE_SYSCALL",
        "PTRACE_SETOPTIONS",
        "PTRACE_GETEVENTMSG",
        "PTRACE_GETSIGINFO",
        "PTRACE_SETSIGINFO",
        "PTRACE_GETREGSET",
        "PTRACE_SETREGSET",
        "PTRACE_SEIZE",
        "PTRACE_INTERRUPT",
        "PTRACE_LISTEN",
        "PTRACE_PEEKSIGINFO",
        "PTRACE_GETSIGMASK",
        "PTRACE_SETSIGMASK",
        "PTRACE_GETREGS",
        "PTRACE_SETREGS",
        "PTRACE_GETFPREGS",
        "PTRACE_SETFPREGS",
        "PTRACE_GETFPXREGS",
        "PTRACE_SETFPXREGS",
        "PTRACE_OLDSETOPTIONS",
        "PTRACE_GET_THREAD_AREA",
    ];
    NAMES.get(usize::try_from(v).ok()?).copied()
}

/// `PPM_AF_*` socket family names.
pub fn socket_family_name(v: u64) -> Option<&'static str> {
    Some(match v {
        0 => "AF_UNSPEC",
        1 => "AF_UNIX",
        2 => "AF_INET",
        10 => "AF_INET6",
        16 => "AF_NETLINK",
        17 => "AF_PACKET",
        _ => return None,
    })
}

/// Write `O_*` flag names joined by `|` (`O_RDONLY` for no access bits, as libs prints it).
pub fn write_open_flags(flags: u32, out: &mut Vec<u8>) {
    use harrier_event::consts::open_flags as of;
    let mut first = true;
    let mut put = |s: &str, out: &mut Vec<u8>| {
        if !first {
            out.push(b'|');
        }
        out.extend_from_slice(s.as_bytes());
        first = false;
    };
    match flags & of::RDWR {
        0 | of::RDONLY => put("O_RDONLY", out),
        of::WRONLY => put("O_WRONLY", out),
        _ => put("O_RDWR", out),
    }
    for (name, bit) in of::NAMES {
        if *bit & of::RDWR != 0 || *bit == 0 {
            continue;
        }
        if flags & bit != 0 {
            put(name, out);
        }
    }
}

/// Write `S_*` mode bit names joined by `|`.
pub fn write_mode(mode: u32, out: &mut Vec<u8>) {
    use harrier_event::consts::mode as m;
    let names = [
        ("S_IXOTH", m::IXOTH),
        ("S_IWOTH", m::IWOTH),
        ("S_IROTH", m::IROTH),
        ("S_IXGRP", m::IXGRP),
        ("S_IWGRP", m::IWGRP),
        ("S_IRGRP", m::IRGRP),
        ("S_IXUSR", m::IXUSR),
        ("S_IWUSR", m::IWUSR),
        ("S_IRUSR", m::IRUSR),
        ("S_ISVTX", m::ISVTX),
        ("S_ISGID", m::ISGID),
        ("S_ISUID", m::ISUID),
    ];
    let mut first = true;
    for (name, bit) in names {
        if mode & bit != 0 {
            if !first {
                out.push(b'|');
            }
            out.extend_from_slice(name.as_bytes());
            first = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(errno_name(2), Some("ENOENT"));
        assert_eq!(errno_name(13), Some("EACCES"));
        assert_eq!(errno_name(115), Some("EINPROGRESS"));
        assert_eq!(errno_name(-1), None);
        assert_eq!(errno_name(9999), None);
        assert_eq!(ptrace_request_name(11), Some("PTRACE_ATTACH"));
        assert_eq!(ptrace_request_name(5), Some("PTRACE_POKETEXT"));
        let mut b = Vec::new();
        write_caps((1 << 21) | 1, &mut b);
        assert_eq!(b, b"CAP_CHOWN CAP_SYS_ADMIN");
        b.clear();
        use harrier_event::consts::open_flags as of;
        write_open_flags(of::RDONLY | of::CLOEXEC, &mut b);
        assert_eq!(String::from_utf8_lossy(&b), "O_RDONLY|O_CLOEXEC");
        b.clear();
        write_open_flags(of::WRONLY | of::CREAT | of::TRUNC, &mut b);
        assert_eq!(String::from_utf8_lossy(&b), "O_WRONLY|O_CREAT|O_TRUNC");
    }
}
