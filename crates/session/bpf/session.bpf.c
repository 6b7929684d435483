// SPDX-License-Identifier: GPL-2.0
/*
 * Harrier session audit, kernel side (its own object, separate from crates/probe).
 *
 * tracepoint/syscalls/sys_exit_read and sys_exit_write (only these two syscalls run the program;
 *   an earlier version on tp_btf/sys_exit ran it at every syscall's exit), and only for tasks
 *   with a controlling terminal,
 *   looks the fd up (task->files->fdt->fd[fd]->f_inode) and continues only for terminal devices
 *   (char major 4 ttyN/serial, 5 /dev/tty and /dev/console, 136-143 pty slaves; never the pty
 *   master /dev/ptmx). Only processes whose comm is in ss_shells (shells, set by userspace) get
 *   past the second check.
 *   - read: the bytes read, unless the terminal was canonical without echo (ICANON on, ECHO off:
 *     password prompts, `read -s`). Then only a SS_K_SECRET record with the length leaves the
 *     kernel: the bytes are never copied anywhere.
 *   - write: only the first write after a read that ended in a Tab (the shell's completion).
 * tp_btf/signal_generate: SIGINT to a recorded shell (Ctrl-C abandons the edited line).
 * tp_btf/sched_process_exit: end of a recorded or tracked shell.
 * tp_btf/sched_process_exec: a shell with a controlling terminal starts (SS_K_SHELL), or a tracked
 *   one execs something else (SS_K_GONE). Userspace attaches the read/write tracepoints only while
 *   at least one such shell exists: an attached syscall tracepoint puts every task on the kernel's
 *   slower syscall path, so with no terminal shell the capture costs nothing per read or write.
 *   The exec, exit and signal hooks stay attached (they run per exec/exit/signal, not per syscall).
 * Bounded: at most SS_MAX_CHUNKS * SS_DATA bytes per read, and ss_rate_bytes per process per
 * second (over that, records are dropped and counted; see over_budget for the grace every line's
 * first KiB gets, so a flood does not eat the commands typed or pasted with it).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "session.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 ss_excl_tgid = 0;
const volatile __u64 ss_rate_bytes = 65536;
/* wake the consumer only once this much is pending; it also polls every 100 ms */
const volatile __u64 ss_wake_bytes = 64 * 1024;

#define ICANON_F 0x2
#define ECHO_F 0x8

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} ss_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SS_NSTATS);
	__type(key, __u32);
	__type(value, __u64);
} ss_stats SEC(".maps");

/* Process names recorded (shells), set by userspace at load time: up to SS_MAX_SHELLS names of
 * up to 15 bytes, each as two little-endian words of the NUL-padded 16-byte comm. A plain compare
 * against read-only data: no helper call, no map lookup on the path every reader with a terminal
 * takes. */
#define SS_MAX_SHELLS 16
const volatile __u64 ss_shells[SS_MAX_SHELLS * 2] = {};
const volatile __u32 ss_nshells = 0;

static __always_inline int is_shell(struct task_struct *t)
{
	__u64 c[2];
	/* comm is in the task; one small read (the verifier does not let a u64 load span a char
	 * array of a BTF pointer) */
	if (bpf_probe_read_kernel(c, sizeof(c), t->comm))
		return 0;
	for (int i = 0; i < SS_MAX_SHELLS; i++) {
		if (i >= ss_nshells)
			break;
		if (c[0] == ss_shells[2 * i] && c[1] == ss_shells[2 * i + 1])
			return 1;
	}
	return 0;
}

struct ss_rate {
	__u64 win;
	__u64 bytes;
	__u64 lost;   /* reads dropped since the last record sent */
	__u64 line;   /* bytes read since the last line end (Enter, Ctrl-C) */
	__u64 graced; /* bytes let through over the byte budget in this window (line grace) */
	__u32 ends;   /* line ends sent alone over the budget in this window */
	__u32 pad;
};

/* processes that read their terminal: rate window; presence also marks "seen" for exit/SIGINT */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct ss_rate);
} ss_seen SEC(".maps");

/* shells with a controlling terminal seen at exec (or by userspace's /proc scan at start) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u8);
} ss_tracked SEC(".maps");

/* processes whose last read ended in a Tab: their next terminal write is the completion */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} ss_tab SEC(".maps");

/* Adaptive wake-up: a wake-up per record costs more than the record (an IPI and a context
 * switch); records wait at most the consumer's poll timeout instead. */
static __always_inline __u64 wake_flags(void)
{
	return bpf_ringbuf_query(&ss_ring, BPF_RB_AVAIL_DATA) >= ss_wake_bytes ? BPF_RB_FORCE_WAKEUP
									 : BPF_RB_NO_WAKEUP;
}

static __always_inline void stat_add(__u32 i, __u64 v)
{
	__u64 *c = bpf_map_lookup_elem(&ss_stats, &i);
	if (c)
		*c += v;
}

static __always_inline __u32 B(__u32 x)
{
	asm volatile("" : "+r"(x));
	return x;
}

static __always_inline int is_tty_major(__u32 major, __u32 minor)
{
	if (major >= 136 && major <= 143)
		return 1;
	if (major == 4)
		return 1;
	if (major == 5 && minor <= 1) /* /dev/tty, /dev/console; not /dev/ptmx (2) */
		return 1;
	return 0;
}

static __always_inline void fill_hdr(struct ss_rec *r, struct task_struct *t, __u16 kind, __u32 tty, __u32 lflag)
{
	__u64 id = bpf_get_current_pid_tgid();
	r->ts = bpf_ktime_get_boot_ns();
	r->tgid = id >> 32;
	r->tid = (__u32)id;
	r->ppid = BPF_CORE_READ(t, real_parent, tgid);
	r->uid = (__u32)bpf_get_current_uid_gid();
	r->loginuid = BPF_CORE_READ(t, loginuid.val);
	r->auditsid = BPF_CORE_READ(t, sessionid);
	r->tty = tty;
	r->lflag = lflag;
	r->kind = kind;
	r->len = 0;
	r->chunk = 0;
	r->flags = 0;
	bpf_get_current_comm(r->comm, sizeof(r->comm));
}

static __always_inline void emit_small(struct task_struct *t, __u16 kind, __u32 tty, __u32 lflag, __u32 len)
{
	struct ss_rec *r = bpf_ringbuf_reserve(&ss_ring, sizeof(*r), 0);
	if (!r) {
		stat_add(SS_STAT_RING_FULL, 1);
		return;
	}
	fill_hdr(r, t, kind, tty, lflag);
	r->len = len > 0xffff ? 0xffff : len;
	bpf_ringbuf_submit(r, wake_flags());
	stat_add(SS_STAT_SENT, 1);
}

/* A control record for the attach logic: woken at once (the shell's first keys wait on it). */
static __always_inline void emit_ctl(struct task_struct *t, __u16 kind, __u32 tgid)
{
	struct ss_rec *r = bpf_ringbuf_reserve(&ss_ring, sizeof(*r), 0);
	if (!r) {
		stat_add(SS_STAT_RING_FULL, 1);
		return;
	}
	fill_hdr(r, t, kind, 0, 0);
	r->tgid = tgid;
	bpf_ringbuf_submit(r, BPF_RB_FORCE_WAKEUP);
}

/* The process's rate state (created on its first terminal read). */
static __always_inline struct ss_rate *seen(__u32 tgid)
{
	struct ss_rate *s = bpf_map_lookup_elem(&ss_seen, &tgid);
	if (s)
		return s;
	struct ss_rate n = {};
	bpf_map_update_elem(&ss_seen, &tgid, &n, BPF_ANY);
	return bpf_map_lookup_elem(&ss_seen, &tgid);
}

/* Over the per-process byte budget of the current second? 0: no. 1: drop the read. 2: send only
 * its last byte (Enter or Ctrl-C), flagged SS_F_LOST, so line boundaries survive a flood: a line
 * that lost input is recorded marked incomplete instead of merging with the next one.
 * Typing and pasting must not be cut by a flood or by each other: over the budget, the first
 * SS_GRACE_BYTES of every line still get through (the "line grace"), up to SS_GRACE_TOTAL graced
 * bytes per window, and at most SS_MAX_ENDS lone line ends are sent per window. The grace is by
 * the line's length, not by whether the line started over the budget: a line that starts under it
 * and crosses it midway (the budget runs out while the shell reads a pasted block) keeps its
 * first KiB too, and a paste of many short lines spends grace bytes, not a count of lines. A
 * shell's completion output (written after a Tab) in a short line is graced the same way.
 * A flood (a line longer than SS_GRACE_BYTES, terminal answers that never end a line) gets no
 * grace past its first KiB, so the command typed right after it (its keys arrive in the same
 * window) still finds grace left. One process pushes at most budget + SS_GRACE_TOTAL bytes and
 * as many records (a record holds at least one byte), plus SS_MAX_ENDS lone ends, a second. */
#define SS_GRACE_BYTES 1024
#define SS_GRACE_TOTAL (32 * 1024)
#define SS_MAX_ENDS 256
static __always_inline int over_budget(struct ss_rate *s, long nr, const char *buf, __u64 len)
{
	__u64 now = bpf_ktime_get_boot_ns();
	__u64 win = now / 1000000000ull;
	if (s->win != win) {
		s->win = win;
		s->bytes = 0;
		s->graced = 0;
		s->ends = 0;
	}
	if (nr == 0)
		s->line += len;
	s->bytes += len;
	char last = 0;
	if (nr == 0)
		bpf_probe_read_user(&last, 1, buf + len - 1);
	int eol = nr == 0 && (last == '\r' || last == '\n' || last == 3);
	int r = 0;
	if (s->bytes > ss_rate_bytes) {
		if (s->line <= SS_GRACE_BYTES && s->graced + len <= SS_GRACE_TOTAL) {
			s->graced += len;
			stat_add(SS_STAT_GRACED, len);
		} else {
			s->lost++;
			r = 1;
			if (eol && s->ends < SS_MAX_ENDS) {
				s->ends++;
				r = 2;
			}
		}
	}
	if (eol)
		s->line = 0;
	return r;
}

/* The syscalls/sys_exit_read and sys_exit_write tracepoints' record (see their format files). */
struct ss_exit_args {
	__u64 common;
	__s32 nr;
	__s32 pad;
	long ret;
};

/* A read (nr 0) or write (nr 1) returned `ret`. Attached to the read and write syscalls' own
 * tracepoints, not to every syscall's exit: the other syscalls never run this program. */
static __always_inline int on_exit(long nr, long ret)
{
	if (ret <= 0)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	/* cheap first: no controlling terminal, not a session's process */
	struct signal_struct *sig = t->signal;
	if (!sig || !sig->tty)
		return 0;
	/* only shells: everything else with a terminal stops here */
	if (!is_shell(t))
		return 0;
	/* the syscall's arguments (fd, buffer) from the registers saved at its entry */
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(t);
	if (!regs)
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (nr == 1) {
		/* a write is wanted only right after a Tab was read */
		if (!bpf_map_lookup_elem(&ss_tab, &tgid))
			return 0;
	}
	long fd = regs->di;
	if (fd < 0)
		return 0;
	struct files_struct *files = t->files;
	if (!files)
		return 0;
	struct fdtable *fdt = files->fdt;
	if (!fdt || (unsigned long)fd >= fdt->max_fds)
		return 0;
	struct file **fds = fdt->fd;
	struct file *f = 0;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	if (!f)
		return 0;
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	if (!ino)
		return 0;
	umode_t mode = BPF_CORE_READ(ino, i_mode);
	if ((mode & 00170000) != 0020000) /* S_ISCHR */
		return 0;
	dev_t rdev = BPF_CORE_READ(ino, i_rdev);
	if (!is_tty_major(rdev >> 20, rdev & 0xfffff))
		return 0;
	if (tgid == ss_excl_tgid)
		return 0;

	/* the tty behind the file (for /dev/tty and /dev/console: the real one) and its mode */
	struct tty_file_private *priv = BPF_CORE_READ(f, private_data);
	struct tty_struct *tty = BPF_CORE_READ(priv, tty);
	if (!tty)
		return 0;
	__u32 lflag = BPF_CORE_READ(tty, termios.c_lflag);
	__u32 major = BPF_CORE_READ(tty, driver, major);
	__u32 minor = BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index);
	__u32 dev = (major << 20) | (minor & 0xfffff);
	const char *buf = (const char *)regs->si;

	if (nr == 0 && (lflag & ICANON_F) && !(lflag & ECHO_F)) {
		/* a secret: nothing of it is read, only that it happened */
		stat_add(SS_STAT_SECRET, 1);
		emit_small(t, SS_K_SECRET, dev, lflag, ret);
		bpf_map_delete_elem(&ss_tab, &tgid);
		return 0;
	}
	struct ss_rate *rs = seen(tgid);
	if (!rs)
		return 0;
	__u64 total = ret;
	int over = over_budget(rs, nr, buf, ret);
	if (over)
		stat_add(SS_STAT_RATE, 1);
	if (over == 1)
		return 0;
	if (over == 2) {
		buf += ret - 1;
		total = 1;
	}
	__u16 flags = 0;
	if (rs->lost) {
		flags |= SS_F_LOST;
		rs->lost = 0;
	}
	__u16 kind = nr == 0 ? SS_K_INPUT : SS_K_OUTPUT;
	if (nr == 1)
		bpf_map_delete_elem(&ss_tab, &tgid);
	if (total > SS_MAX_CHUNKS * SS_DATA) {
		stat_add(SS_STAT_TRUNC, total - SS_MAX_CHUNKS * SS_DATA);
		total = SS_MAX_CHUNKS * SS_DATA;
		flags |= SS_F_TRUNC;
	}
	__u8 last = 0;
	for (__u32 i = 0; i < SS_MAX_CHUNKS; i++) {
		__u32 off = i * SS_DATA;
		if (off >= total)
			break;
		__u32 n = total - off;
		if (n > SS_DATA)
			n = SS_DATA;
		if (n == 0)
			break;
		/* n is 1..SS_DATA; this form proves it to the verifier whatever clang keeps in registers */
		n = (B(n - 1) & (SS_DATA - 1)) + 1;
		struct ss_rec *r = bpf_ringbuf_reserve(&ss_ring, sizeof(*r), 0);
		if (!r) {
			stat_add(SS_STAT_RING_FULL, 1);
			rs->lost++;
			break;
		}
		fill_hdr(r, t, kind, dev, lflag);
		r->chunk = i;
		r->flags = flags;
		if (bpf_probe_read_user(r->data, n, buf + off)) {
			bpf_ringbuf_discard(r, 0);
			break;
		}
		r->len = n;
		last = r->data[(n - 1) & (SS_DATA - 1)];
		bpf_ringbuf_submit(r, wake_flags());
		stat_add(SS_STAT_SENT, 1);
	}
	if (nr == 0 && last == '\t') {
		__u8 one = 1;
		bpf_map_update_elem(&ss_tab, &tgid, &one, BPF_ANY);
	}
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_read")
int ss_exit_read(struct ss_exit_args *ctx)
{
	return on_exit(0, ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_write")
int ss_exit_write(struct ss_exit_args *ctx)
{
	return on_exit(1, ctx->ret);
}

SEC("tp_btf/signal_generate")
int ss_signal(__u64 *ctx)
{
	int signo = (int)ctx[0];
	if (signo != 2)
		return 0;
	struct task_struct *t = (struct task_struct *)ctx[2];
	__u32 tgid = BPF_CORE_READ(t, tgid);
	struct ss_rate *s = bpf_map_lookup_elem(&ss_seen, &tgid);
	if (!s)
		return 0;
	/* Ctrl-C abandons the line (a line editor gets SIGINT, not the byte): the next key starts
	 * a new line for the rate limit's grace, as after Enter */
	s->line = 0;
	struct ss_rec *r = bpf_ringbuf_reserve(&ss_ring, sizeof(*r), 0);
	if (!r) {
		stat_add(SS_STAT_RING_FULL, 1);
		return 0;
	}
	fill_hdr(r, bpf_get_current_task_btf(), SS_K_SIGINT, 0, 0);
	r->tgid = tgid; /* the target, not the sender */
	r->tid = BPF_CORE_READ(t, pid);
	BPF_CORE_READ_STR_INTO(&r->comm, t, comm);
	bpf_ringbuf_submit(r, wake_flags());
	return 0;
}

SEC("tp_btf/sched_process_exec")
int ss_exec(__u64 *ctx)
{
	struct task_struct *t = bpf_get_current_task_btf();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct signal_struct *sig = t->signal;
	if (sig && sig->tty && is_shell(t)) {
		__u8 one = 1;
		bpf_map_update_elem(&ss_tracked, &tgid, &one, BPF_ANY);
		emit_ctl(t, SS_K_SHELL, tgid);
		return 0;
	}
	if (bpf_map_lookup_elem(&ss_tracked, &tgid)) {
		bpf_map_delete_elem(&ss_tracked, &tgid);
		emit_ctl(t, SS_K_GONE, tgid);
	}
	return 0;
}

SEC("tp_btf/sched_process_exit")
int ss_exit(__u64 *ctx)
{
	struct task_struct *t = (struct task_struct *)ctx[0];
	__u64 id = bpf_get_current_pid_tgid();
	if ((__u32)id != (__u32)(id >> 32)) /* the group leader's exit ends the process */
		return 0;
	__u32 tgid = id >> 32;
	int tracked = bpf_map_lookup_elem(&ss_tracked, &tgid) != 0;
	if (tracked)
		bpf_map_delete_elem(&ss_tracked, &tgid);
	if (!bpf_map_lookup_elem(&ss_seen, &tgid)) {
		if (tracked)
			emit_ctl(t, SS_K_GONE, tgid);
		return 0;
	}
	bpf_map_delete_elem(&ss_seen, &tgid);
	bpf_map_delete_elem(&ss_tab, &tgid);
	emit_small(t, SS_K_EXIT, 0, 0, 0);
	return 0;
}
