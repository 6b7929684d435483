/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * Harrier probe ABI: the records the kernel programs put on the ring buffer and the per-syscall
 * capture spec userspace sets in the `hr_spec` table (.rodata). Mirrored by crates/probe/src/abi.rs —
 * change both together.
 *
 * A record is a fixed header followed by items (`u16 tag, u16 len, len bytes`), unaligned.
 */
#ifndef HARRIER_H
#define HARRIER_H

/* record kinds */
#define HR_K_SYSCALL 1 /* one syscall exit, with what the spec asked for */
#define HR_K_EXIT 2    /* sched_process_exit */
#define HR_K_EXEC 3    /* sched_process_exec: filename, exe path, old tid */
#define HR_K_TICK 4    /* header only: the batch timer's wake-up (carries nothing) */

/* item tags */
#define HR_T_STR0 1 /* 1..6: NUL-terminated user string read from argument 0..5 */
#define HR_T_FILE 10      /* struct hr_file: the file of the result fd */
#define HR_T_SOCK 11      /* struct hr_sock: the socket of an fd */
#define HR_T_UNIXPATH 12  /* unix socket path (bytes) */
#define HR_T_SOCKADDR 13  /* raw user sockaddr bytes */
#define HR_T_PROC 14      /* struct hr_proc */
#define HR_T_ARGS 15      /* argv, NUL separated */
#define HR_T_ENV 16       /* environment, NUL separated */
#define HR_T_CWD 17       /* path components, leaf first, NUL separated */
#define HR_T_EXEPATH 18   /* path components, leaf first, NUL separated */
#define HR_T_CGROUP 19    /* "subsys\0" then components leaf first, NUL separated (one item per subsys) */
#define HR_T_FDPAIR 20    /* int fds[2] then u64 inode of fds[0] */
#define HR_T_CREDS 21     /* struct hr_creds (after the call) */
#define HR_T_OPENHOW 22   /* struct open_how (24 bytes) */
#define HR_T_CLONEARGS 23 /* u64 flags of clone3's struct clone_args */
#define HR_T_DATA 24      /* I/O data (bounded) */
#define HR_T_FILENAME 25  /* exec filename (kernel string) */
#define HR_T_OLDTID 26    /* u32 tid before exec */
#define HR_T_ARGV_USER 27 /* argv read from the user pointer array (failed exec) */
#define HR_T_EXEINFO 28   /* u32 HR_X_* bits: the executable of a successful exec */

/* HR_T_EXEINFO bits */
#define HR_X_WRITABLE (1u << 0) /* writable by the caller (its fs ids, mode bits, CAP_DAC_OVERRIDE) */
#define HR_X_UPPER (1u << 1)    /* overlayfs file with an upper (writable layer) dentry */
#define HR_X_LOWER (1u << 3)    /* overlayfs file found only in lower (image) layers */

/* spec bits (hr_spec value, one u32 per syscall number; 0 = not wanted) */
#define HR_S_STRMASK 0x3fu        /* bit i: argument i is a user string */
#define HR_S_RET_FD (1u << 6)     /* a successful result is a new descriptor (dup, fcntl) */
#define HR_S_ON (1u << 7)         /* syscall is wanted */
#define HR_S_FILE_RET (1u << 8)   /* file info of fd = result */
#define HR_S_SOCK_A0 (1u << 9)    /* socket info of fd = arg0 */
#define HR_S_SOCK_RET (1u << 10)  /* socket info of fd = result */
#define HR_S_SADDR_A1 (1u << 11)  /* sockaddr at arg1, length arg2 */
#define HR_S_SADDR_A4 (1u << 12)  /* sockaddr at arg4, length arg5 (sendto) */
#define HR_S_PROC (1u << 13)      /* process info, args, cwd, cgroups */
#define HR_S_EXEC (1u << 14)      /* env, exe path, user argv on failure */
#define HR_S_FDPAIR_A0 (1u << 15) /* int[2] at arg0 */
#define HR_S_FDPAIR_A3 (1u << 16) /* int[2] at arg3 */
#define HR_S_CREDS (1u << 17)     /* credentials after the call */
#define HR_S_OPENHOW (1u << 18)   /* struct open_how at arg2 */
#define HR_S_CLONE3 (1u << 19)    /* struct clone_args at arg0 */
#define HR_S_DATA_A1 (1u << 20)   /* data at arg1, bounded by the result */
#define HR_S_PRCTL (1u << 21)     /* arg1 is a string when arg0 is PR_SET_NAME */
#define HR_S_PROT_EXEC (1u << 22) /* only when arg2 (prot) has PROT_EXEC */
#define HR_S_URGENT (1u << 23)    /* wake the consumer within hr_urgent_ns */
#define HR_S_LAZY (1u << 24)      /* state only (no rule watches it): no wake-up by time */
#define HR_S_URGENT_WRITES (1u << 26) /* with HR_S_URGENT (open, openat): urgent only when it
					  * succeeded with write access; else an ordinary record */
#define HR_S_URGENT_PATH (1u << 27) /* with HR_S_URGENT (open family): urgent only when it
					* succeeded and its path starts with a prefix in hr_urgent_paths
					* (relative: its file's top directory is in hr_urgent_tops), or,
					* with HR_S_URGENT_WRITES, it opened for writing */
#define HR_S_FILTERABLE (1u << 25) /* the hr_drop map may drop some of its records (pre-filter) */
#define HR_S_CLASS_SHIFT 28       /* bits 28..31: drop-counter class */

/* drop/stat counter slots (hr_stats per-CPU array) */
#define HR_C_PROC 0
#define HR_C_FILE 1
#define HR_C_NET 2
#define HR_C_OTHER 3
#define HR_NCLASS 4
#define HR_STAT_SENT 4      /* unused (records submitted: the sum of HR_STAT_SENT_C0..) */
#define HR_STAT_TRUNC 5     /* records cut short (scratch full) */
#define HR_STAT_FILTERED 6  /* records the pre-filter dropped (no rule or state uses them) */
#define HR_STAT_SENT_C0 8   /* 8..11: records submitted, by class (HR_C_*) */
#define HR_STAT_URGENT 12   /* records submitted as urgent */
#define HR_STAT_WAKEUPS 13  /* forced wake-ups of the consumer (urgent, bytes, timer) */
#define HR_NSTATS 16

/* hr_drop values (per syscall number, set by userspace, changed on a rules reload): what of a
 * HR_S_FILTERABLE syscall's records no loaded rule can match and state tracking ignores */
#define HR_D_FAILED (1u << 0)     /* the call failed (result < 0) */
#define HR_D_FCNTL_NODUP (1u << 1) /* fcntl: a command other than F_DUPFD / F_DUPFD_CLOEXEC */
#define HR_D_RO_OPEN (1u << 2)  /* open, openat: a successful read-only open (no O_DIRECTORY) of a
				 * clean absolute path that hr_keep (past its size hr_keep_paths) does not
				 * keep; its descriptor is marked in hr_unseen */
#define HR_D_CLOSE_UNSEEN (1u << 3) /* close: a successful close of a descriptor marked in hr_unseen */
#define HR_D_KEEP_SLOT1 (1u << 4) /* open, openat: the bound HR_D_RO_OPEN uses is hr_keep's slot 1 (else 0);
				   * in HR_D_RO_OPEN's byte, so a program reading the word while
				   * userspace writes it sees both from the same write */

/* hr_keep: the kept path prefixes (up to HR_PREFIX_MAX bytes each, whole) and thread names */
#define HR_KEEP_PATHS 64
#define HR_KEEP_COMMS 16
struct hr_keep {
	/* what every check reads comes first: counts, lengths, the index and names in the first
	 * kilobyte, the prefixes after */
	__u32 npaths; /* prefixes in use (HR_KEEP_PATHS + 1: too many, ask hr_keep_paths) */
	__u32 ncomms;
	__u32 plen[HR_KEEP_PATHS]; /* bytes */
	/* by a path's second byte (the one after its leading '/'): the first of the prefixes that
	 * have it there (sorted so) and how many; only they are compared */
	__u8 grp[256][2];
	__u64 comm[HR_KEEP_COMMS][2];  /* NUL-padded comm */
	__u64 pfx[HR_KEEP_PATHS][8]; /* HR_PREFIX_MAX little-endian bytes, zero-padded */
};

/* the longest path HR_D_RO_OPEN checks for cleanliness (a longer one is kept) */
#define HR_CLEAN_MAX 256

/* hr_hdr.flags of a HR_K_SYSCALL record */
#define HR_F_URGENT (1u << 31) /* submitted as urgent */

/* hr_urgent_paths: LPM trie keys (prefixlen in bits, then path bytes) */
#define HR_PREFIX_MAX 64
#define HR_PREFIXES_MAX 256

#define HR_MAX_SYSCALLS 512
#define HR_SCRATCH 65536
#define HR_HALF 32768
#define HR_STR_MAX 4096    /* paths, argv, env */
#define HR_COMP_MAX 256    /* one path component */
#define HR_PATH_DEPTH 48   /* path components walked */
#define HR_ARGV_MAX 64     /* argv entries read from the user array on failed exec */
#define HR_DATA_MAX 128    /* send/recv data */
#define HR_CG_DEPTH 12     /* cgroup path components */
#define HR_CG_SUBSYS 16    /* cgroup subsystems looked at */

struct hr_hdr {
	__u64 ts; /* CLOCK_BOOTTIME ns */
	__u32 tid;
	__u32 pid;
	__u32 len; /* whole record */
	__u16 kind;
	__u16 nr;
	__s64 ret;
	__u64 args[6];
	__u32 cpu;
	__u32 flags; /* HR_K_EXIT: group_dead */
} __attribute__((packed, aligned(8))); /* naturally aligned: lets clang use whole-word stores */
_Static_assert(sizeof(struct hr_hdr) == 88, "hr_hdr is 88 bytes");

struct hr_file {
	__u32 dev; /* userland (new_encode_dev) encoding */
	__u32 f_flags;
	__u64 ino;
	__u32 f_mode;
	__u32 i_mode;
	__u32 magic; /* super block magic */
	__u32 pad;
} __attribute__((packed));

struct hr_sock {
	__u16 family;
	__u16 type;
	__u16 proto;
	__u16 lport; /* host order */
	__u16 rport; /* host order */
	__u16 pad;
	__u8 laddr[16];
	__u8 raddr[16];
	__u64 sk;
	__u64 peer;
	__u64 ino;
} __attribute__((packed));

struct hr_proc {
	__u32 tid, pid, ptid, ppid;
	__u32 uid, gid, euid, egid;
	__u32 loginuid, tty;
	__u32 vtid, vpid;
	__u32 pgid, vpgid, sid;
	__u32 vm_size, vm_rss, vm_swap; /* kB */
	__u64 cap_inh, cap_perm, cap_eff;
	__u64 fdlimit;
	__u64 pgft_maj, pgft_min;
	__u64 exe_ino, exe_ctime, exe_mtime; /* ns */
	__u32 exe_nlink, exe_magic;
	__u64 pidns_init_start; /* boot ns */
	__u64 start_time;
	char comm[16];
} __attribute__((packed));

struct hr_creds {
	__u32 uid, gid, euid, egid, suid, sgid, fsuid, fsgid;
	__u64 cap_inh, cap_perm, cap_eff;
} __attribute__((packed));

#endif
