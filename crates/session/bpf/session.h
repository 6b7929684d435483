/* SPDX-License-Identifier: GPL-2.0 */
/* ABI between session.bpf.c and crates/session/src/capture.rs (keep both in step). */
#ifndef SESSION_H
#define SESSION_H

#define SS_DATA 256          /* bytes of terminal data per record */
#define SS_MAX_CHUNKS 16     /* records per read: at most 4 KiB of one read() leaves the kernel */

/* record kinds */
#define SS_K_INPUT 1   /* bytes a shell read from its terminal */
#define SS_K_SECRET 2  /* a read while the terminal was canonical without echo: length only, no data */
#define SS_K_OUTPUT 3  /* what a shell wrote right after reading a Tab (its completion) */
#define SS_K_SIGINT 4  /* SIGINT sent to a shell (Ctrl-C abandons the line) */
#define SS_K_EXIT 5    /* a shell that read its terminal exited */
#define SS_K_SHELL 6   /* a shell with a controlling terminal started (exec); for the attach logic */
#define SS_K_GONE 7    /* a tracked shell that never read its terminal exited or exec'd a non-shell */

/* flags */
#define SS_F_TRUNC 1   /* the read returned more than SS_MAX_CHUNKS * SS_DATA bytes */
#define SS_F_LOST 2    /* input of this process was dropped (rate limit) before this record */

/* counters (per-CPU array) */
#define SS_STAT_SENT 0
#define SS_STAT_RING_FULL 1
#define SS_STAT_RATE 2      /* terminal input over the per-process rate limit */
#define SS_STAT_SECRET 3    /* secret reads withheld */
#define SS_STAT_TRUNC 4     /* bytes cut from over-long reads */
#define SS_STAT_GRACED 5    /* bytes let through over the rate limit (the first KiB of a line) */
#define SS_NSTATS 8

struct ss_rec {
	__u64 ts;
	__u32 tgid;
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 loginuid;
	__u32 auditsid;
	__u32 tty;      /* major << 20 | minor of the terminal read or written */
	__u32 lflag;    /* termios c_lflag at the time of the read */
	__u16 kind;
	__u16 len;      /* bytes in data (for SS_K_SECRET: bytes withheld) */
	__u16 chunk;    /* index of this record within one read */
	__u16 flags;
	char comm[16];
	__u8 data[SS_DATA];
};

#endif
