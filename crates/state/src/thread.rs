//! Threads and processes: the thread table with the process tree.

use crate::fd::FdTable;
use rustc_hash::FxHashMap;

/// What Harrier knows about one thread. Process-wide data (fds, cwd) lives on the process's
/// main thread (tid == pid) and is reached through [`ThreadTable::process_of`].
#[derive(Debug, Clone, Default)]
pub struct ThreadInfo {
    pub tid: i64,
    pub pid: i64,
    pub ptid: i64,
    pub sid: i64,
    pub vpgid: i64,
    pub pgid: i64,
    pub vtid: i64,
    pub vpid: i64,
    /// `proc.name`: the command name (comm, at most 15 characters in the kernel).
    pub comm: String,
    /// `proc.exe`: argv\[0] as passed to exec.
    pub exe: String,
    /// `proc.exepath`: the full path of the executable.
    pub exepath: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub root: String,
    pub uid: u32,
    pub gid: u32,
    pub loginuid: u32,
    pub tty: u32,
    pub fdlimit: u64,
    pub flags: u32,
    pub cap_permitted: u64,
    pub cap_effective: u64,
    pub cap_inheritable: u64,
    pub exe_writable: bool,
    pub exe_upper_layer: bool,
    pub exe_lower_layer: bool,
    pub exe_from_memfd: bool,
    pub exe_ino: u64,
    pub exe_ino_ctime: u64,
    pub exe_ino_mtime: u64,
    /// When the thread was created (ns since epoch; 0 if unknown).
    pub clone_ts: u64,
    pub pidns_init_start_ts: u64,
    pub vmsize_kb: u32,
    pub vmrss_kb: u32,
    pub vmswap_kb: u32,
    /// `controller=/path` lines.
    pub cgroups: Vec<String>,
    /// Short container id, empty for host processes.
    pub container_id: String,
    /// Process-wide fd table (only meaningful on the main thread).
    pub fds: FdTable,
    /// The thread has exited but is kept because other threads of its process still run.
    pub dead: bool,
    /// The fd parameter of the thread's last enter event (-1 when it had none; 0 before any).
    /// Only sysdig 0.29 compatibility reads it (see `State::sysdig029`).
    pub last_enter_fd: i64,
}

impl ThreadInfo {
    /// A thread first seen in an event, with nothing known about it: no parent (`ptid` -1) and
    /// unknown user, group and login user (`u32::MAX`, as libsinsp has them).
    pub fn unknown(tid: i64) -> Self {
        ThreadInfo {
            tid,
            pid: tid,
            ptid: -1,
            uid: u32::MAX,
            gid: u32::MAX,
            loginuid: u32::MAX,
            ..Default::default()
        }
    }

    pub fn is_main_thread(&self) -> bool {
        self.tid == self.pid
    }

    /// `proc.cmdline`: the name followed by the arguments, separated by blanks.
    pub fn write_cmdline(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.comm.as_bytes());
        for a in &self.args {
            out.push(b' ');
            out.extend_from_slice(a.as_bytes());
        }
    }

    /// `proc.args`: the arguments separated by blanks.
    pub fn write_args(&self, out: &mut Vec<u8>) {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(a.as_bytes());
        }
    }
}

/// Default bound on the number of threads kept (Falco's `max_thread_table_size` default is 262144).
pub const DEFAULT_MAX_THREADS: usize = 262_144;

/// The thread table: bounded, with exited threads purged.
///
/// Two hint indexes keep a thread exit O(threads of that process + its children) instead of
/// O(all threads): tids by pid (`members`) and by parent pid (`children`). Hints are a superset,
/// checked against the thread itself when used (a thread whose pid or ptid changed leaves a stale
/// hint, pruned when met). They are complete as long as a thread's `pid`/`ptid` change only through
/// [`ThreadTable::insert`], [`ThreadTable::force_insert`], [`ThreadTable::set_lineage`] or the
/// table's own reparenting.
#[derive(Debug, Clone)]
pub struct ThreadTable {
    threads: FxHashMap<i64, ThreadInfo>,
    members: FxHashMap<i64, Vec<i64>>,
    children: FxHashMap<i64, Vec<i64>>,
    max: usize,
    /// Threads not added because the table was full.
    pub overflow: u64,
    /// Threads evicted to make room.
    pub evicted: u64,
}

impl Default for ThreadTable {
    fn default() -> Self {
        Self::with_capacity_limit(DEFAULT_MAX_THREADS)
    }
}

/// Longest ancestor chain followed (guards against loops in inconsistent data).
pub const MAX_ANCESTRY: usize = 64;

impl ThreadTable {
    pub fn with_capacity_limit(max: usize) -> Self {
        ThreadTable {
            threads: FxHashMap::default(),
            members: FxHashMap::default(),
            children: FxHashMap::default(),
            max,
            overflow: 0,
            evicted: 0,
        }
    }

    fn hint(index: &mut FxHashMap<i64, Vec<i64>>, key: i64, tid: i64) {
        let list = index.entry(key).or_default();
        if !list.contains(&tid) {
            list.push(tid);
        }
    }

    fn unhint(index: &mut FxHashMap<i64, Vec<i64>>, key: i64, tid: i64) {
        if let Some(list) = index.get_mut(&key) {
            if let Some(i) = list.iter().position(|x| *x == tid) {
                list.swap_remove(i);
            }
            if list.is_empty() {
                index.remove(&key);
            }
        }
    }

    /// Index `t` under its current pid and ptid.
    fn index(&mut self, tid: i64, pid: i64, ptid: i64) {
        Self::hint(&mut self.members, pid, tid);
        Self::hint(&mut self.children, ptid, tid);
    }

    /// Remove a thread and its hints.
    fn take(&mut self, tid: i64) -> Option<ThreadInfo> {
        let t = self.threads.remove(&tid)?;
        Self::unhint(&mut self.members, t.pid, tid);
        Self::unhint(&mut self.children, t.ptid, tid);
        Some(t)
    }

    /// The tids whose pid is `pid` (verified; stale hints pruned).
    fn members_of(&mut self, pid: i64) -> Vec<i64> {
        Self::verified(&mut self.members, &self.threads, pid, |t| t.pid == pid)
    }

    fn verified(
        index: &mut FxHashMap<i64, Vec<i64>>,
        threads: &FxHashMap<i64, ThreadInfo>,
        key: i64,
        ok: impl Fn(&ThreadInfo) -> bool,
    ) -> Vec<i64> {
        let Some(list) = index.get_mut(&key) else { return Vec::new() };
        list.retain(|tid| threads.get(tid).is_some_and(&ok));
        let out = list.clone();
        if list.is_empty() {
            index.remove(&key);
        }
        out
    }

    /// Change a thread's pid and parent (exec by a non-leader thread, reparenting…), keeping the
    /// indexes complete.
    pub fn set_lineage(&mut self, tid: i64, pid: i64, ptid: i64) {
        if let Some(t) = self.threads.get_mut(&tid) {
            t.pid = pid;
            t.ptid = ptid;
            self.index(tid, pid, ptid);
        }
    }

    /// Live (not exited) threads of process `pid`.
    pub fn live_threads_of(&self, pid: i64) -> usize {
        self.members
            .get(&pid)
            .map(|l| {
                l.iter().filter(|tid| self.threads.get(tid).is_some_and(|t| t.pid == pid && !t.dead)).count()
            })
            .unwrap_or(0)
    }

    pub fn len(&self) -> usize {
        self.threads.len()
    }
    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }
    pub fn get(&self, tid: i64) -> Option<&ThreadInfo> {
        self.threads.get(&tid)
    }
    pub fn get_mut(&mut self, tid: i64) -> Option<&mut ThreadInfo> {
        self.threads.get_mut(&tid)
    }
    pub fn iter(&self) -> impl Iterator<Item = &ThreadInfo> {
        self.threads.values()
    }

    /// Insert or replace a thread. Returns false when the table is full.
    pub fn insert(&mut self, t: ThreadInfo) -> bool {
        if self.threads.len() >= self.max && !self.threads.contains_key(&t.tid) {
            self.overflow += 1;
            return false;
        }
        self.put(t);
        true
    }

    fn put(&mut self, t: ThreadInfo) {
        let (tid, pid, ptid) = (t.tid, t.pid, t.ptid);
        if let Some(old) = self.threads.insert(tid, t) {
            if old.pid != pid {
                Self::unhint(&mut self.members, old.pid, tid);
            }
            if old.ptid != ptid {
                Self::unhint(&mut self.children, old.ptid, tid);
            }
        }
        self.index(tid, pid, ptid);
    }

    /// Insert even when the table is full, evicting an exited (else an arbitrary) thread first;
    /// evictions are counted in `evicted`.
    pub fn force_insert(&mut self, t: ThreadInfo) {
        if self.threads.len() >= self.max && !self.threads.contains_key(&t.tid) {
            let victim = self
                .threads
                .iter()
                .find(|(_, o)| o.dead)
                .or_else(|| self.threads.iter().next())
                .map(|(k, _)| *k);
            if let Some(v) = victim {
                self.take(v);
                self.evicted += 1;
            }
        }
        self.put(t);
    }

    /// The main thread of `tid`'s process (the thread itself when it is the main thread or the
    /// main thread is unknown).
    pub fn process_of(&self, tid: i64) -> Option<&ThreadInfo> {
        let t = self.threads.get(&tid)?;
        Some(self.process_of_thread(t))
    }

    /// The process (main thread) of a thread already looked up (see [`ThreadTable::process_of`]).
    #[inline]
    pub fn process_of_thread<'t>(&'t self, t: &'t ThreadInfo) -> &'t ThreadInfo {
        if t.tid == t.pid {
            return t;
        }
        self.threads.get(&t.pid).unwrap_or(t)
    }

    /// The pid of the main thread holding `tid`'s fd table.
    pub fn process_key(&self, tid: i64) -> Option<i64> {
        self.process_of(tid).map(|t| t.tid)
    }

    /// The parent process of `tid` (its main thread's ptid).
    pub fn parent_of(&self, tid: i64) -> Option<&ThreadInfo> {
        let p = self.process_of(tid)?;
        if p.ptid == p.tid || p.ptid <= 0 {
            return None;
        }
        self.process_of(p.ptid)
    }

    /// The ancestor `n` levels up (0 = the process itself), as `proc.aname[n]` reads it.
    pub fn ancestor(&self, tid: i64, n: usize) -> Option<&ThreadInfo> {
        let mut cur = self.process_of(tid)?;
        for _ in 0..n.min(MAX_ANCESTRY) {
            cur = self.parent_of(cur.tid)?;
        }
        if n > MAX_ANCESTRY {
            return None;
        }
        Some(cur)
    }

    /// Iterate over the ancestors of `tid` (parent first), bounded by [`MAX_ANCESTRY`].
    pub fn ancestors(&self, tid: i64) -> impl Iterator<Item = &ThreadInfo> {
        let mut cur = self.process_of(tid);
        let mut n = 0;
        std::iter::from_fn(move || {
            let t = cur?;
            if n >= MAX_ANCESTRY {
                return None;
            }
            n += 1;
            cur = self.parent_of(t.tid);
            cur
        })
    }

    /// A thread exited. A main thread whose process still has other threads is kept (marked dead)
    /// because it holds the fd table; it goes when the last thread exits. Children are reparented
    /// to `reaper` (the pid the kernel reports, or 1 when unknown).
    pub fn remove_exited(&mut self, tid: i64, reaper: Option<i64>) {
        let Some(t) = self.threads.get(&tid) else { return };
        let pid = t.pid;
        let is_main = t.tid == t.pid;
        let members = self.members_of(pid);
        let others_alive = members.iter().any(|o| *o != tid && self.threads.get(o).is_some_and(|o| !o.dead));
        if is_main && others_alive {
            if let Some(t) = self.threads.get_mut(&tid) {
                t.dead = true;
            }
        } else {
            self.take(tid);
            if !is_main {
                // Last thread of a process whose main thread already exited: drop the main thread too.
                let main_dead = self.threads.get(&pid).is_some_and(|m| m.dead);
                let any_left = members.iter().any(|o| *o != pid && *o != tid);
                if main_dead && !any_left {
                    self.take(pid);
                }
            }
        }
        if is_main && !others_alive {
            let new_parent = reaper.filter(|r| *r > 0).unwrap_or(1);
            let kids = Self::verified(&mut self.children, &self.threads, pid, |o| o.ptid == pid);
            for k in kids {
                if let Some(o) = self.threads.get_mut(&k) {
                    o.ptid = new_parent;
                    Self::unhint(&mut self.children, pid, k);
                    Self::hint(&mut self.children, new_parent, k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn th(tid: i64, pid: i64, ptid: i64, comm: &str) -> ThreadInfo {
        ThreadInfo { tid, pid, ptid, comm: comm.into(), ..Default::default() }
    }

    fn table() -> ThreadTable {
        let mut t = ThreadTable::default();
        t.insert(th(1, 1, 0, "init"));
        t.insert(th(100, 100, 1, "sshd"));
        t.insert(th(200, 200, 100, "bash"));
        t.insert(th(300, 300, 200, "python"));
        t.insert(th(301, 300, 200, "python")); // a second thread of python
        t
    }

    #[test]
    fn ancestry_walks_processes() {
        let t = table();
        let names = |tid| t.ancestors(tid).map(|a| a.comm.clone()).collect::<Vec<_>>();
        assert_eq!(names(301), ["bash", "sshd", "init"]);
        assert_eq!(t.ancestor(301, 0).unwrap().comm, "python");
        assert_eq!(t.ancestor(301, 2).unwrap().comm, "sshd");
        assert!(t.ancestor(301, 4).is_none());
        assert_eq!(t.process_key(301), Some(300));
    }

    #[test]
    fn main_thread_kept_while_threads_live_and_children_reparented() {
        let mut t = table();
        t.remove_exited(300, None);
        assert!(t.get(300).unwrap().dead, "main thread kept for its fd table");
        t.remove_exited(301, None);
        assert!(t.get(300).is_none() && t.get(301).is_none(), "purged with the last thread");
        t.remove_exited(100, Some(1));
        assert_eq!(t.get(200).unwrap().ptid, 1, "orphan reparented to the reaper");
        assert_eq!(t.ancestors(200).map(|a| a.tid).collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn bounded_and_loop_safe() {
        let mut t = ThreadTable::with_capacity_limit(2);
        assert!(t.insert(th(1, 1, 2, "a")));
        assert!(t.insert(th(2, 2, 1, "b"))); // a parent loop
        assert!(!t.insert(th(3, 3, 1, "c")));
        assert_eq!(t.overflow, 1);
        assert!(t.ancestors(1).count() <= MAX_ANCESTRY);
    }

    #[test]
    fn cmdline_and_args() {
        let mut x = th(5, 5, 1, "cat");
        x.args = vec!["-n".into(), "/etc/passwd".into()];
        let mut b = Vec::new();
        x.write_cmdline(&mut b);
        assert_eq!(b, b"cat -n /etc/passwd");
        b.clear();
        x.write_args(&mut b);
        assert_eq!(b, b"-n /etc/passwd");
    }

    /// The indexed exit gives exactly the table the direct definition gives (every thread
    /// scanned), over random clone / thread / exec-by-thread / exit / eviction sequences.
    #[test]
    fn indexed_exit_matches_the_full_scan_definition() {
        type Row = (i64, i64, bool);
        fn reference_exit(m: &mut std::collections::BTreeMap<i64, Row>, tid: i64, reaper: Option<i64>) {
            let Some(&(pid, _, _)) = m.get(&tid) else { return };
            let is_main = tid == pid;
            let others_alive = m.iter().any(|(o, r)| r.0 == pid && *o != tid && !r.2);
            if is_main && others_alive {
                if let Some(r) = m.get_mut(&tid) {
                    r.2 = true;
                }
            } else {
                m.remove(&tid);
                if !is_main {
                    let main_dead = m.get(&pid).is_some_and(|r| r.2);
                    let any_left = m.iter().any(|(o, r)| r.0 == pid && *o != pid);
                    if main_dead && !any_left {
                        m.remove(&pid);
                    }
                }
            }
            if is_main && !others_alive {
                let np = reaper.filter(|r| *r > 0).unwrap_or(1);
                for r in m.values_mut() {
                    if r.1 == pid {
                        r.1 = np;
                    }
                }
            }
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n.max(1)
        };
        for round in 0..40 {
            let mut t = ThreadTable::with_capacity_limit(if round % 4 == 0 { 24 } else { 10_000 });
            let mut m: std::collections::BTreeMap<i64, Row> = Default::default();
            t.insert(th(1, 1, 0, "init"));
            m.insert(1, (1, 0, false));
            for _ in 0..400 {
                if m.is_empty() {
                    t.insert(th(1, 1, 0, "init"));
                    m.insert(1, (1, 0, false));
                }
                let evicted = t.evicted;
                let tids: Vec<i64> = m.keys().copied().collect();
                let pick = |r: u64| tids[r as usize % tids.len()];
                let new_tid = 2 + rnd(60) as i64; // small range: tids get reused
                match rnd(10) {
                    0..=2 => {
                        // fork: a new process whose parent is a random process
                        let parent = m.get(&pick(rnd(1000))).map(|r| r.0).unwrap_or(1);
                        if let std::collections::btree_map::Entry::Vacant(e) = m.entry(new_tid) {
                            t.force_insert(th(new_tid, new_tid, parent, "p"));
                            e.insert((new_tid, parent, false));
                        }
                    }
                    3..=4 => {
                        // a thread of a random process
                        let owner = pick(rnd(1000));
                        let (pid, ptid, _) = m[&owner];
                        if let std::collections::btree_map::Entry::Vacant(e) = m.entry(new_tid) {
                            t.force_insert(th(new_tid, pid, ptid, "t"));
                            e.insert((pid, ptid, false));
                        }
                    }
                    5 => {
                        // exec by a non-leader thread: it takes the pid (the leader goes)
                        let x = pick(rnd(1000));
                        let (pid, ptid, _) = m[&x];
                        t.set_lineage(x, pid, ptid);
                        t.remove_exited(pid, None);
                        reference_exit(&mut m, pid, None);
                    }
                    _ => {
                        let x = pick(rnd(1000));
                        let reaper = if rnd(2) == 0 { Some(pick(rnd(1000))) } else { None };
                        t.remove_exited(x, reaper);
                        reference_exit(&mut m, x, reaper);
                    }
                }
                let got: std::collections::BTreeMap<i64, Row> =
                    t.iter().map(|x| (x.tid, (x.pid, x.ptid, x.dead))).collect();
                if t.evicted != evicted {
                    // the small table evicted a thread to make room: mirror it
                    m.retain(|k, _| got.contains_key(k));
                }
                assert_eq!(got, m, "round {round}");
                for (pid, n) in got.values().fold(std::collections::BTreeMap::new(), |mut a, r| {
                    if !r.2 {
                        *a.entry(r.0).or_insert(0usize) += 1;
                    }
                    a
                }) {
                    assert_eq!(t.live_threads_of(pid), n, "live threads of {pid}");
                }
            }
        }
    }
}
