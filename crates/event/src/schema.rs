//! The event schema types: parameter types, print formats, event metadata and lookups.

use crate::table::{BY_NAME, EVENTS, EVENT_MAX};

/// Parameter type (`PT_*`). The on-disk size of fixed-width types is [`ParamType::fixed_size`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamType {
    None,
    Int8,
    Int16,
    Int32,
    Int64,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    /// NUL-terminated string (the NUL is part of the on-disk length).
    Charbuf,
    Bytebuf,
    /// Negative values are `-errno`.
    Errno,
    Sockaddr,
    Socktuple,
    Fd,
    Pid,
    Fdlist,
    Fspath,
    Syscallid,
    Sigtype,
    Reltime,
    Abstime,
    Port,
    L4proto,
    Sockfamily,
    Bool,
    Ipv4Addr,
    /// First byte selects the real type from a per-parameter table (TODO: those tables).
    Dyn,
    Flags8,
    Flags16,
    Flags32,
    Uid,
    Gid,
    Double,
    Sigset,
    CharbufArray,
    CharbufPairArray,
    Ipv4Net,
    Ipv6Addr,
    Ipv6Net,
    /// 4 or 16 bytes, by length.
    Ipaddr,
    Ipnet,
    Mode,
    /// Path relative to the dirfd parameter of the same event.
    Fsrelpath,
    Enumflags8,
    Enumflags16,
    Enumflags32,
    Fd32,
    Pid32,
}

impl ParamType {
    /// On-disk size in bytes for fixed-width types, `None` for variable-length ones.
    pub const fn fixed_size(self) -> Option<usize> {
        use ParamType::*;
        match self {
            Int8 | Uint8 | Flags8 | Enumflags8 | Sigtype | L4proto | Sockfamily => Some(1),
            Int16 | Uint16 | Flags16 | Enumflags16 | Syscallid | Port => Some(2),
            Int32 | Uint32 | Bool | Ipv4Addr | Uid | Gid | Flags32 | Enumflags32 | Sigset | Mode | Fd32
            | Pid32 => Some(4),
            Int64 | Uint64 | Errno | Fd | Pid | Reltime | Abstime | Double => Some(8),
            _ => Option::None,
        }
    }

    /// True for signed integer types (sign-extension when widening).
    pub const fn is_signed(self) -> bool {
        use ParamType::*;
        matches!(self, Int8 | Int16 | Int32 | Int64 | Errno | Fd | Pid | Fd32 | Pid32)
    }

    /// True for NUL-terminated string types.
    pub const fn is_string(self) -> bool {
        matches!(self, ParamType::Charbuf | ParamType::Fspath | ParamType::Fsrelpath)
    }
}

/// Print format hint (`PF_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrintFormat {
    Na,
    Dec,
    Hex,
    PaddedDec,
    Id,
    Dir,
    Oct,
}

/// Event direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Enter,
    Exit,
}

impl Direction {
    /// `>` for enter, `<` for exit (as `evt.dir` prints it).
    pub const fn as_char(self) -> char {
        match self {
            Direction::Enter => '>',
            Direction::Exit => '<',
        }
    }
}

/// One parameter of an event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamInfo {
    pub name: &'static str,
    pub ptype: ParamType,
    pub fmt: PrintFormat,
}

/// One event type of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventInfo {
    /// PPM event code.
    pub id: u16,
    /// Driver enum name (`PPME_SYSCALL_OPEN_X`).
    pub enum_name: &'static str,
    /// Event name (`open`), shared by all versions and both directions.
    pub name: &'static str,
    pub dir: Direction,
    /// Bitmask of [`cat`] constants.
    pub category: u32,
    /// Bitmask of [`ef`] constants.
    pub flags: u32,
    /// Current (non-old) enter id of this name, if any.
    pub newest_enter: Option<u16>,
    /// Current (non-old) exit id of this name, if any.
    pub newest_exit: Option<u16>,
    pub params: &'static [ParamInfo],
}

impl EventInfo {
    /// The enter half of a syscall whose exit event exists (what exit-only processing folds into
    /// the exit).
    pub fn is_syscall_enter(&self) -> bool {
        self.dir == Direction::Enter && self.newest_exit.is_some()
    }

    pub const fn has_flag(&self, f: u32) -> bool {
        self.flags & f != 0
    }
    /// Parameter lengths on disk are u32 instead of u16.
    pub const fn is_large(&self) -> bool {
        self.flags & ef::LARGE_PAYLOAD != 0
    }
    pub const fn is_old(&self) -> bool {
        self.flags & ef::OLD_VERSION != 0
    }
    pub const fn is_unused(&self) -> bool {
        self.flags & ef::UNUSED != 0
    }
    pub const fn is_syscall(&self) -> bool {
        self.category & cat::SYSCALL != 0
    }
    /// Index of the parameter called `name`.
    #[inline]
    pub fn param_index(&self, name: &str) -> Option<usize> {
        // Names are short: compared inline, without a call to `memcmp` per parameter (this runs
        // per event on the replay path).
        self.params.iter().position(|p| short_eq(p.name.as_bytes(), name.as_bytes()))
    }
}

#[inline(always)]
fn short_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Event flags (`EF_*`).
pub mod ef {
    pub const CREATES_FD: u32 = 1 << 0;
    pub const DESTROYS_FD: u32 = 1 << 1;
    pub const USES_FD: u32 = 1 << 2;
    pub const READS_FROM_FD: u32 = 1 << 3;
    pub const WRITES_TO_FD: u32 = 1 << 4;
    pub const MODIFIES_STATE: u32 = 1 << 5;
    pub const UNUSED: u32 = 1 << 6;
    pub const WAITS: u32 = 1 << 7;
    pub const SKIPPARSERESET: u32 = 1 << 8;
    pub const OLD_VERSION: u32 = 1 << 9;
    pub const LARGE_PAYLOAD: u32 = 1 << 10;
    pub const CONVERTER_MANAGED: u32 = 1 << 11;
}

/// Event categories (`EC_*`) as a bitmask (Harrier's own encoding: one bit per category).
pub mod cat {
    pub const UNKNOWN: u32 = 1 << 0;
    pub const OTHER: u32 = 1 << 1;
    pub const FILE: u32 = 1 << 2;
    pub const NET: u32 = 1 << 3;
    pub const IPC: u32 = 1 << 4;
    pub const MEMORY: u32 = 1 << 5;
    pub const PROCESS: u32 = 1 << 6;
    pub const SLEEP: u32 = 1 << 7;
    pub const SYSTEM: u32 = 1 << 8;
    pub const SIGNAL: u32 = 1 << 9;
    pub const USER: u32 = 1 << 10;
    pub const TIME: u32 = 1 << 11;
    pub const IO_READ: u32 = 1 << 12;
    pub const IO_WRITE: u32 = 1 << 13;
    pub const IO_OTHER: u32 = 1 << 14;
    pub const WAIT: u32 = 1 << 15;
    pub const SCHEDULER: u32 = 1 << 16;
    pub const INTERNAL: u32 = 1 << 17;
    pub const SYSCALL: u32 = 1 << 18;
    pub const TRACEPOINT: u32 = 1 << 19;
    pub const PLUGIN: u32 = 1 << 20;
    pub const METAEVENT: u32 = 1 << 21;
    pub const ITER: u32 = 1 << 22;
}

/// Info used for ids outside the table.
pub static UNKNOWN_EVENT: EventInfo = EventInfo {
    id: u16::MAX,
    enum_name: "PPME_UNKNOWN",
    name: "unknown",
    dir: Direction::Enter,
    category: cat::UNKNOWN,
    flags: 0,
    newest_enter: None,
    newest_exit: None,
    params: &[],
};

/// The whole table, indexed by id.
pub fn all_events() -> &'static [EventInfo] {
    &EVENTS
}

/// Event info by id.
#[inline]
pub fn event_info(id: u16) -> Option<&'static EventInfo> {
    EVENTS.get(id as usize)
}

/// True if `id` is inside the table.
#[inline]
pub const fn is_known(id: u16) -> bool {
    id < EVENT_MAX
}

/// All ids sharing `name`, ascending (both directions, all versions).
pub fn ids_by_name(name: &str) -> &'static [u16] {
    match BY_NAME.binary_search_by(|(n, _)| (*n).cmp(name)) {
        Ok(i) => BY_NAME[i].1,
        Err(_) => &[],
    }
}

/// The current exit event id for `name` (the exit event without `EF_OLD_VERSION`).
pub fn newest_exit_id(name: &str) -> Option<u16> {
    ids_by_name(name).iter().find_map(|&id| EVENTS[id as usize].newest_exit)
}

/// The current enter event id for `name`.
pub fn newest_enter_id(name: &str) -> Option<u16> {
    ids_by_name(name).iter().find_map(|&id| EVENTS[id as usize].newest_enter)
}

/// Index of the `fd` parameter of event `id` (looked up per event on hot paths: computed once
/// for the whole table).
#[inline]
pub fn fd_param_index(id: u16) -> Option<usize> {
    static TABLE: std::sync::OnceLock<Box<[u8]>> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| {
        EVENTS
            .iter()
            .map(|e| e.param_index("fd").and_then(|i| u8::try_from(i).ok()).unwrap_or(u8::MAX))
            .collect()
    });
    t.get(id as usize).copied().filter(|i| *i != u8::MAX).map(usize::from)
}

/// Index of parameter `name` in event `id`.
pub fn param_index(id: u16, name: &str) -> Option<usize> {
    event_info(id)?.param_index(name)
}
