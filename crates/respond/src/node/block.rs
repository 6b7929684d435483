//! `node:block_network`: four eBPF programs (`cgroup/connect4`, `connect6`, `sendmsg4`,
//! `sendmsg6`, built from `bpf/block.bpf.c`) attached to the container's cgroup v2 refuse its
//! outbound connects and sends (loopback excepted). The links are pinned in bpffs, so the block
//! outlives Harrier until `harrier respond unblock` removes them; a JSON record beside them (in
//! the state directory) says which container and cgroup each block is for.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use std::sync::Mutex;

use aya::maps::{HashMap, Map, MapData};
use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::{CgroupAttachMode, CgroupSockAddr};
use serde_json::json;

use crate::safety::Protected;

/// Where the links are pinned (bpffs).
pub const DEFAULT_PIN_ROOT: &str = "/sys/fs/bpf/harrier/block";
/// Where the records of active blocks are kept.
pub const DEFAULT_STATE_DIR: &str = "/run/harrier/block";

const PROGRAMS: [&str; 4] = ["block_connect4", "block_connect6", "block_sendmsg4", "block_sendmsg6"];

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/block.bpf.o"));

/// Where the blocks live.
#[derive(Debug, Clone)]
pub struct Places {
    pub pin_root: PathBuf,
    pub state_dir: PathBuf,
}

impl Default for Places {
    fn default() -> Self {
        Places { pin_root: DEFAULT_PIN_ROOT.into(), state_dir: DEFAULT_STATE_DIR.into() }
    }
}

/// The cgroup v2 mount point (`/sys/fs/cgroup` on v2 hosts, `/sys/fs/cgroup/unified` on hybrid).
pub fn cgroup2_mount() -> Option<PathBuf> {
    let mi = fs::read_to_string("/proc/self/mountinfo").ok()?;
    mi.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        if post.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        pre.split_whitespace().nth(4).map(PathBuf::from)
    })
}

/// The cgroup v2 directory of a process.
pub fn cgroup_of_pid(pid: u32) -> Result<PathBuf, String> {
    let text =
        fs::read_to_string(format!("/proc/{pid}/cgroup")).map_err(|_| format!("pid {pid} has exited"))?;
    let rel = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or_else(|| format!("pid {pid} has no cgroup v2 entry"))?;
    let mount = cgroup2_mount().ok_or("no cgroup2 file system is mounted")?;
    Ok(mount.join(rel.trim_start_matches('/')))
}

/// The cgroup v2 directory of a container, found by its id in the cgroup paths.
pub fn cgroup_of_container(id: &str) -> Result<PathBuf, String> {
    if id.len() < 12 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("'{id}' is not a container id"));
    }
    let mount = cgroup2_mount().ok_or("no cgroup2 file system is mounted")?;
    let mut stack = vec![(mount, 0)];
    while let Some((d, depth)) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = e.file_name().to_string_lossy().to_string();
            if name.contains(id) {
                return Ok(e.path());
            }
            if depth < 6 {
                stack.push((e.path(), depth + 1));
            }
        }
    }
    Err(format!("no cgroup found for container {id}"))
}

fn ensure_bpffs(root: &Path) -> Result<(), String> {
    // The pin root must be on a bpf file system; mount one at /sys/fs/bpf if none is there.
    let bpffs = Path::new("/sys/fs/bpf");
    if root.starts_with(bpffs) {
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        let c = std::ffi::CString::new("/sys/fs/bpf").unwrap_or_default();
        // SAFETY: valid C string and a statfs we own.
        let ok = unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0;
        if !ok || st.f_type as u64 != 0xcafe_4a11 {
            let (src, fstype) = (
                std::ffi::CString::new("bpf").unwrap_or_default(),
                std::ffi::CString::new("bpf").unwrap_or_default(),
            );
            // SAFETY: valid C strings; no data.
            let r = unsafe { libc::mount(src.as_ptr(), c.as_ptr(), fstype.as_ptr(), 0, std::ptr::null()) };
            if r != 0 {
                return Err(format!(
                    "cannot mount bpffs at /sys/fs/bpf: {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
    }
    fs::create_dir_all(root).map_err(|e| format!("{}: {e}", root.display()))
}

/// Why a cgroup must not be cut off.
fn refuse(cgroup: &Path, protected: &Protected) -> Option<String> {
    if Some(cgroup) == cgroup2_mount().as_deref() {
        return Some(
            "the process is in the root cgroup (a host process): blocking it would cut the host off".into(),
        );
    }
    let procs = fs::read_to_string(cgroup.join("cgroup.procs")).ok()?;
    for pid in procs.lines().filter_map(|l| l.trim().parse::<u32>().ok()) {
        if let Some(why) = protected.pid_reason(pid) {
            return Some(format!("its cgroup {} holds a protected process: {why}", cgroup.display()));
        }
    }
    None
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut m = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        m.push_str(&format!(": {s}"));
        src = s.source();
    }
    m
}

/// The block programs, loaded (and verified by the kernel) once, attached to each blocked
/// cgroup; loading ahead of the first alert keeps the cut-off fast.
pub struct Blocker {
    places: Places,
    loaded: Mutex<Option<aya::Ebpf>>,
}

impl Blocker {
    pub fn new(places: Places) -> Self {
        Blocker { places, loaded: Mutex::new(None) }
    }

    pub fn places(&self) -> &Places {
        &self.places
    }

    fn load(&self) -> Result<aya::Ebpf, String> {
        ensure_bpffs(&self.places.pin_root)?;
        let map_pin = self.places.pin_root.join("refused");
        let mut ebpf = aya::EbpfLoader::new()
            .map_pin_path("refused", map_pin)
            .load(OBJECT)
            .map_err(|e| format!("loading the block programs: {}", error_chain(&e)))?;
        for name in PROGRAMS {
            let prog: &mut CgroupSockAddr = ebpf
                .program_mut(name)
                .ok_or_else(|| format!("no program {name} in the object"))?
                .try_into()
                .map_err(|e: aya::programs::ProgramError| error_chain(&e))?;
            prog.load().map_err(|e| format!("loading {name}: {}", error_chain(&e)))?;
        }
        Ok(ebpf)
    }

    /// Load the programs now (needs CAP_BPF + CAP_NET_ADMIN, or root).
    pub fn prepare(&self) -> Result<(), String> {
        let mut g = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_none() {
            *g = Some(self.load()?);
        }
        Ok(())
    }

    /// Cut off a cgroup's outbound network. `label` (container id) is kept in the record.
    /// Returns the block's id (the cgroup's inode number, which is its cgroup id).
    pub fn block(&self, cgroup: &Path, label: &str, protected: &Protected) -> Result<String, BlockError> {
        if let Some(why) = refuse(cgroup, protected) {
            return Err(BlockError::Protected(why));
        }
        let md = fs::metadata(cgroup).map_err(|e| BlockError::Gone(format!("{}: {e}", cgroup.display())))?;
        let id = md.ino().to_string();
        let dir = self.places.pin_root.join(&id);
        if dir.join(PROGRAMS[0]).exists() {
            return Err(BlockError::Already(format!("{label} ({}) is already blocked", cgroup.display())));
        }
        let cg =
            fs::File::open(cgroup).map_err(|e| BlockError::Gone(format!("{}: {e}", cgroup.display())))?;
        let mut g = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_none() {
            *g = Some(self.load().map_err(BlockError::Failed)?);
        }
        let Some(ebpf) = g.as_mut() else { return Err(BlockError::Failed("programs not loaded".into())) };
        fs::create_dir_all(&dir).map_err(|e| BlockError::Failed(format!("{}: {e}", dir.display())))?;
        let result = (|| {
            for name in PROGRAMS {
                let f = |e: &dyn std::error::Error| {
                    BlockError::Failed(format!("attaching {name}: {}", error_chain(e)))
                };
                let prog: &mut CgroupSockAddr = ebpf
                    .program_mut(name)
                    .ok_or_else(|| BlockError::Failed(format!("no program {name}")))?
                    .try_into()
                    .map_err(|e: aya::programs::ProgramError| f(&e))?;
                // With bpf_link (kernel >= 5.7) a cgroup link always composes with other
                // programs (the kernel refuses flags there): `Single` evicts no one.
                let link_id = prog.attach(&cg, CgroupAttachMode::Single).map_err(|e| f(&e))?;
                let link = prog.take_link(link_id).map_err(|e| f(&e))?;
                let fd: FdLink = link.try_into().map_err(|e: aya::programs::links::LinkError| f(&e))?;
                // Pinned: the block outlives this process until `unblock`.
                fd.pin(dir.join(name)).map_err(|e| f(&e))?;
            }
            Ok::<(), BlockError>(())
        })();
        if let Err(e) = result {
            remove_pins(&dir);
            return Err(e);
        }
        let _ = fs::create_dir_all(&self.places.state_dir);
        let rec = json!({"id": id, "label": label, "cgroup": cgroup.to_string_lossy(), "since_ns": crate::now_ns()});
        let _ = fs::write(self.places.state_dir.join(format!("{id}.json")), rec.to_string());
        Ok(id)
    }
}

fn remove_pins(dir: &Path) {
    for name in PROGRAMS {
        let p = dir.join(name);
        if let Ok(l) = PinnedLink::from_pin(&p) {
            // Unpinning drops the last reference: the kernel detaches the program.
            let _ = l.unpin();
        } else {
            let _ = fs::remove_file(&p);
        }
    }
    let _ = fs::remove_dir(dir);
}

/// Why a block did not happen.
#[derive(Debug)]
pub enum BlockError {
    Protected(String),
    Gone(String),
    Already(String),
    Failed(String),
}

/// An active block.
#[derive(Debug, Clone)]
pub struct Blocked {
    pub id: String,
    pub label: String,
    pub cgroup: PathBuf,
    /// Connects and sends refused so far.
    pub refused: u64,
}

fn refused_count(pin_root: &Path, cgroup_id: u64) -> u64 {
    let Ok(md) = MapData::from_pin(pin_root.join("refused")) else { return 0 };
    let Ok(m) = Map::from_map_data(md) else { return 0 };
    let Ok(h) = HashMap::<_, u64, u64>::try_from(m) else { return 0 };
    h.get(&cgroup_id, 0).unwrap_or(0)
}

/// The active blocks.
pub fn list(places: &Places) -> Vec<Blocked> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(&places.pin_root) else { return out };
    for e in rd.flatten() {
        let id = e.file_name().to_string_lossy().to_string();
        let Ok(cgid) = id.parse::<u64>() else { continue };
        let rec: serde_json::Value = fs::read(places.state_dir.join(format!("{id}.json")))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        out.push(Blocked {
            label: rec["label"].as_str().unwrap_or_default().to_string(),
            cgroup: PathBuf::from(rec["cgroup"].as_str().unwrap_or_default()),
            refused: refused_count(&places.pin_root, cgid),
            id,
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Remove the block whose id, container id (or its prefix, 12+ characters) or cgroup path is
/// `key`; `all` removes every block. Returns what was removed.
pub fn unblock(places: &Places, key: Option<&str>) -> Result<Vec<Blocked>, String> {
    let all = list(places);
    let chosen: Vec<Blocked> = match key {
        None => all,
        Some(k) => all
            .into_iter()
            .filter(|b| {
                b.id == k
                    || (!b.label.is_empty()
                        && k.len() >= 12
                        && (b.label.starts_with(k) || k.starts_with(&b.label)))
                    || b.cgroup == Path::new(k)
            })
            .collect(),
    };
    if chosen.is_empty() {
        return Err(match key {
            Some(k) => format!("no active block matches '{k}'"),
            None => "no active block".into(),
        });
    }
    for b in &chosen {
        remove_pins(&places.pin_root.join(&b.id));
        let _ = fs::remove_file(places.state_dir.join(format!("{}.json", b.id)));
    }
    Ok(chosen)
}
