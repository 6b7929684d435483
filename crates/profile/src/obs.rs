//! What the detector's thread takes from an event for the profile and scorer thread: a cheap
//! filter by event type, then a snapshot of a few fields (an [`Observation`]). Everything else
//! (workload profiles, scoring, alert text) happens on the other thread from that snapshot.

use harrier_engine::{BoundField, EventAccessor, FieldId, Value, Values};
use harrier_event::Direction;
use harrier_state::SyscallEvent;
use std::fmt::Write as _;

/// Fields kept for each observed event: the profile checks read some, the scorer renders them all
/// as text, and alert outputs are filled from them.
pub const SNAPSHOT: &[&str] = &[
    "evt.type",
    "proc.name",
    "proc.exepath",
    "proc.cmdline",
    "proc.pname",
    "proc.pexepath",
    "proc.pcmdline",
    "proc.pid",
    "proc.sname",
    "proc.tty",
    "user.name",
    "user.uid",
    "fd.name",
    "fd.directory",
    "fd.typechar",
    "fd.sip",
    "fd.sport",
    "fd.l4proto",
    "evt.is_open_write",
    "evt.res",
    "proc.is_exe_upper_layer",
    "container.id",
    "container.name",
    "container.image.repository",
    "container.image.tag",
];

/// Index of a field in [`SNAPSHOT`].
pub fn slot(name: &str) -> Option<usize> {
    SNAPSHOT.iter().position(|f| *f == name)
}

/// The broad kind of an event the observer keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EvClass {
    Exec,
    Open,
    Connect,
    Listen,
    Send,
    Other,
}

/// Syscalls the observer looks at (exit events only). Families are spelled out: the profile and
/// the scorer see `execveat`, `openat2`, `creat`, `accept4`, `renameat2` like their neighbours.
const WATCHED: &[(&str, EvClass)] = &[
    ("execve", EvClass::Exec),
    ("execveat", EvClass::Exec),
    ("open", EvClass::Open),
    ("openat", EvClass::Open),
    ("openat2", EvClass::Open),
    ("creat", EvClass::Open),
    ("open_by_handle_at", EvClass::Open),
    ("connect", EvClass::Connect),
    ("listen", EvClass::Listen),
    ("bind", EvClass::Listen),
    ("accept", EvClass::Listen),
    ("accept4", EvClass::Listen),
    ("sendto", EvClass::Send),
    ("sendmsg", EvClass::Send),
    ("rename", EvClass::Other),
    ("renameat", EvClass::Other),
    ("renameat2", EvClass::Other),
    ("unlink", EvClass::Other),
    ("unlinkat", EvClass::Other),
    ("symlink", EvClass::Other),
    ("symlinkat", EvClass::Other),
    ("link", EvClass::Other),
    ("linkat", EvClass::Other),
    ("mkdir", EvClass::Other),
    ("mkdirat", EvClass::Other),
    ("chmod", EvClass::Other),
    ("fchmod", EvClass::Other),
    ("fchmodat", EvClass::Other),
    ("setuid", EvClass::Other),
    ("setresuid", EvClass::Other),
    ("setreuid", EvClass::Other),
    ("ptrace", EvClass::Other),
    ("init_module", EvClass::Other),
    ("finit_module", EvClass::Other),
    ("memfd_create", EvClass::Other),
    ("mount", EvClass::Other),
    ("unshare", EvClass::Other),
    ("setns", EvClass::Other),
    ("bpf", EvClass::Other),
];

/// Path prefixes whose opens the scorer sees (reads elsewhere are the bulk of all events and
/// carry little signal); writes are always kept for the profile.
const SCORED_PATHS: &[&str] = &[
    "/etc/",
    "/root/",
    "/usr/bin/",
    "/usr/sbin/",
    "/bin/",
    "/sbin/",
    "/usr/local/bin/",
    "/boot/",
    "/lib/modules/",
    "/var/run/secrets/",
    "/run/secrets/",
    "/proc/",
    "/dev/",
    "/home/",
    "/var/spool/cron",
    "/var/lib/",
];

/// One kept event, on its way to the profile and scorer thread.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub ts: u64,
    pub tid: i64,
    pub class: EvClass,
    /// The event type name (`openat2`).
    pub evt: &'static str,
    /// The workload the process belongs to (see [`workload_key`]); empty when not known yet (a
    /// container whose metadata is being looked up).
    pub workload: String,
    /// The first rule that matched the event, if any.
    pub matched: Option<String>,
    /// Values of [`SNAPSHOT`] (empty: absent).
    pub fields: Vec<String>,
    /// Ctime of the executable's inode (ns), for host drift; 0 unknown.
    pub exe_ctime: u64,
}

impl Observation {
    pub fn get(&self, name: &str) -> &str {
        slot(name).and_then(|i| self.fields.get(i)).map(String::as_str).unwrap_or("")
    }

    /// The text the scorer reads: `field=value` pairs, in [`SNAPSHOT`] order, empty ones left out.
    pub fn text(&self) -> String {
        let mut s = String::with_capacity(256);
        self.write_text(&mut s);
        s
    }

    /// [`Observation::text`] into a reused buffer (cleared first).
    pub fn write_text(&self, s: &mut String) {
        s.clear();
        for (name, v) in SNAPSHOT.iter().zip(&self.fields) {
            if v.is_empty() || *name == "evt.res" || *name == "proc.pid" {
                continue;
            }
            let _ = write!(s, "{name}={v} ");
        }
    }

    /// A test or tool observation from `field=value` pairs.
    pub fn from_pairs(evt: &'static str, workload: &str, pairs: &[(&str, &str)]) -> Observation {
        let mut fields = vec![String::new(); SNAPSHOT.len()];
        fields[0] = evt.to_string();
        for (k, v) in pairs {
            if let Some(i) = slot(k) {
                fields[i] = v.to_string();
            }
        }
        let class = WATCHED.iter().find(|(n, _)| *n == evt).map(|x| x.1).unwrap_or(EvClass::Other);
        Observation {
            ts: 0,
            tid: 0,
            class,
            evt,
            workload: workload.to_string(),
            matched: None,
            fields,
            exe_ctime: 0,
        }
    }
}

/// The detector-side part: event-type table, bound fields and a reusable value buffer.
pub struct Extractor {
    /// Per event code: the class and name when watched.
    table: Vec<Option<(EvClass, &'static str)>>,
    fields: Vec<BoundField>,
    values: Values,
    /// A reused buffer for the values that decide whether an event is kept.
    scratch: String,
    /// Keep reads of watched paths (the scorer reads them; profiles do not).
    pub keep_reads: bool,
    /// Keep the calls profiles only count as syscall families (send, rename, unlink, chmod …):
    /// for the `family` check and the scorer.
    pub keep_other: bool,
}

impl Default for Extractor {
    fn default() -> Self {
        Extractor::new()
    }
}

impl Extractor {
    pub fn new() -> Extractor {
        let mut table = vec![None; harrier_engine::fields::EVENT_CODE_COUNT as usize];
        for (name, class) in WATCHED {
            for &code in harrier_engine::event_codes_for_name(name) {
                if let Some(t) = table.get_mut(code as usize) {
                    *t = Some((*class, *name));
                }
            }
        }
        let fields = SNAPSHOT
            .iter()
            .map(|n| BoundField::new(FieldId::from_name(n).unwrap_or_else(|| panic!("unknown field {n}"))))
            .collect();
        Extractor {
            table,
            fields,
            values: Values::default(),
            scratch: String::new(),
            keep_reads: true,
            keep_other: true,
        }
    }

    /// The cheap part, for every event: is it an exit event of a watched type?
    #[inline]
    pub fn class_of(&self, ev: &SyscallEvent<'_>) -> Option<(EvClass, &'static str)> {
        let info = ev.ev.info();
        if info.dir != Direction::Exit {
            return None;
        }
        *self.table.get(ev.ev.etype() as usize)?
    }

    fn value(&mut self, ev: &SyscallEvent<'_>, i: usize, out: &mut String) {
        self.values.clear();
        if !ev.extract(&self.fields[i], &mut self.values) {
            return;
        }
        if let Some(v) = self.values.get(0) {
            match v {
                Value::Str(b) | Value::Bytes(b) => out.push_str(&String::from_utf8_lossy(b)),
                Value::Int(x) => {
                    let _ = write!(out, "{x}");
                }
                Value::Uint(x) => {
                    let _ = write!(out, "{x}");
                }
                Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
                Value::Ip(ip) => {
                    let _ = write!(out, "{ip}");
                }
                Value::Net(ip, p) => {
                    let _ = write!(out, "{ip}/{p}");
                }
                Value::Double(d) => {
                    let _ = write!(out, "{d}");
                }
            }
        }
    }

    /// Whether an event is kept: `None` for a failed call, and for an open that is a read the
    /// scorer does not look at. Kept: whether it is an open for writing, and the result text; for
    /// opens, `buf` holds the file name.
    fn keep(
        &mut self,
        ev: &SyscallEvent<'_>,
        class: EvClass,
        matched: Option<&str>,
        buf: &mut String,
    ) -> Option<(bool, String)> {
        let mut write = false;
        if class == EvClass::Open {
            buf.clear();
            self.value(ev, 18, buf);
            write = *buf == "true";
            if !write && !self.keep_reads {
                return None;
            }
        }
        buf.clear();
        self.value(ev, 19, buf);
        // Failed calls did nothing (connect in progress on a non-blocking socket did).
        if buf.starts_with('E') && *buf != "EINPROGRESS" {
            return None;
        }
        let res = buf.clone();
        if class == EvClass::Open {
            buf.clear();
            self.value(ev, 12, buf);
            if !write && matched.is_none() && !SCORED_PATHS.iter().any(|p| buf.starts_with(p)) {
                return None;
            }
        }
        Some((write, res))
    }

    /// The kept events' snapshot; `None` for events neither the profiles nor the scorer use
    /// (failed calls, reads of unremarkable files when matched by no rule and not writes).
    pub fn observe(&mut self, ev: &SyscallEvent<'_>, matched: Option<&str>) -> Option<Observation> {
        let (class, evt) = self.class_of(ev)?;
        if !self.keep_other && matches!(class, EvClass::Send | EvClass::Other) {
            return None;
        }
        let res_slot = 19;
        debug_assert_eq!(SNAPSHOT[res_slot], "evt.res");
        // The checks that drop an event come first and render into one reused buffer: an event
        // dropped here allocates nothing.
        let mut scratch = std::mem::take(&mut self.scratch);
        let keep = self.keep(ev, class, matched, &mut scratch);
        self.scratch = scratch;
        let (write, res) = keep?;
        let mut fields = vec![String::new(); SNAPSHOT.len()];
        fields[res_slot] = res;
        if class == EvClass::Open {
            fields[18] = if write { "true" } else { "false" }.to_string();
            fields[12] = self.scratch.clone();
        }
        for (i, f) in fields.iter_mut().enumerate() {
            if f.is_empty() {
                self.value(ev, i, f);
            }
        }
        let tid = ev.ev.tid() as i64;
        let workload = workload_key(ev, &fields);
        let exe_ctime = ev.state.threads.process_of(tid).map(|t| t.exe_ino_ctime).unwrap_or(0);
        Some(Observation {
            ts: ev.ev.ts(),
            tid,
            class,
            evt,
            workload,
            matched: matched.map(str::to_string),
            fields,
            exe_ctime,
        })
    }
}

/// The systemd unit in a cgroup path (`0::/system.slice/nginx.service` → `nginx.service`).
pub fn unit_of_cgroup(path: &str) -> Option<&str> {
    path.rsplit('/').find(|c| c.ends_with(".service") && c.len() > ".service".len())
}

/// Which workload a process belongs to:
/// * in a container: `image:<repository>:<tag> <entrypoint>`, the entry point being the
///   executable of the container's first process that the state knows (the topmost ancestor in
///   the same container); empty while the container's metadata is being looked up;
/// * on the host, in a systemd service: `service:<unit>`;
/// * else `exe:<path>` of the session leader (a daemon, a login shell, a cron job), the process's
///   own executable when its session leader is unknown.
pub fn workload_key(ev: &SyscallEvent<'_>, fields: &[String]) -> String {
    let threads = &ev.state.threads;
    let tid = ev.ev.tid() as i64;
    let Some(t) = threads.process_of(tid) else { return String::new() };
    if !t.container_id.is_empty() && t.container_id != "host" {
        if ev.state.container_pending(t) {
            return String::new();
        }
        let repo = &fields[23];
        let tag = &fields[24];
        let mut top = t;
        for _ in 0..64 {
            match threads.parent_of(top.tid) {
                Some(p) if p.container_id == t.container_id && p.tid != top.tid => top = p,
                _ => break,
            }
        }
        let image = if repo.is_empty() {
            format!("container:{}", &t.container_id)
        } else {
            format!("image:{repo}:{tag}")
        };
        return format!("{image} {}", top.exepath);
    }
    for cg in &t.cgroups {
        let path = cg.split_once('=').map(|x| x.1).unwrap_or(cg);
        if let Some(u) = unit_of_cgroup(path) {
            return format!("service:{u}");
        }
    }
    let leader = threads.get(t.sid).filter(|l| t.sid > 1 && !l.exepath.is_empty());
    format!("exe:{}", leader.map(|l| l.exepath.as_str()).unwrap_or(t.exepath.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_slots_are_where_the_extractor_expects_them() {
        assert_eq!(slot("fd.name"), Some(12));
        assert_eq!(slot("evt.is_open_write"), Some(18));
        assert_eq!(slot("evt.res"), Some(19));
        assert_eq!(slot("container.image.repository"), Some(23));
        assert_eq!(slot("container.image.tag"), Some(24));
        Extractor::new();
    }

    #[test]
    fn units_come_from_cgroup_paths() {
        assert_eq!(unit_of_cgroup("/system.slice/nginx.service"), Some("nginx.service"));
        assert_eq!(unit_of_cgroup("/system.slice/docker-abc.scope"), None);
        assert_eq!(unit_of_cgroup("/user.slice/user-0.slice/session-3.scope"), None);
        assert_eq!(unit_of_cgroup("/.service"), None);
    }

    #[test]
    fn text_names_fields_and_skips_empty_ones() {
        let o = Observation::from_pairs("openat", "w", &[("proc.name", "cat"), ("fd.name", "/etc/shadow")]);
        assert_eq!(o.text(), "evt.type=openat proc.name=cat fd.name=/etc/shadow ");
        assert_eq!(o.get("fd.name"), "/etc/shadow");
        assert_eq!(o.class, EvClass::Open);
    }
}
