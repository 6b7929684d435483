//! The field registry: a declarative table of every field the engine knows, per field class, and
//! the event sources each class belongs to.
//!
//! The table below is the single source of truth: the [`FieldId`] enum (stable `u16` handles that
//! the state crate matches on), the [`FIELDS`] array (indexed by `FieldId as usize`) and the name
//! lookup are all generated from it by `field_table!`.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Value type of a field (libs `PT_*` types folded into what the engine needs to tell apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// Text (`PT_CHARBUF`).
    String,
    /// Filesystem path (`PT_FSPATH`/`PT_FSRELPATH`); compared like a string.
    Path,
    Int8,
    Int16,
    Int32,
    Int64,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Bool,
    /// IPv4 or IPv6 address (`PT_IPADDR`).
    Ip,
    /// IP network (`PT_IPNET`): the event yields an address; the check tests membership.
    IpNet,
    /// TCP/UDP port (`PT_PORT`).
    Port,
    /// Absolute time in ns since the epoch.
    AbsTime,
    /// Relative time (duration) in ns.
    RelTime,
    /// Binary data (`PT_BYTEBUF`).
    ByteBuf,
    Double,
}

impl FieldType {
    pub fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Path => "path",
            FieldType::Int8 => "int8",
            FieldType::Int16 => "int16",
            FieldType::Int32 => "int32",
            FieldType::Int64 => "int64",
            FieldType::Uint8 => "uint8",
            FieldType::Uint16 => "uint16",
            FieldType::Uint32 => "uint32",
            FieldType::Uint64 => "uint64",
            FieldType::Bool => "bool",
            FieldType::Ip => "ipaddr",
            FieldType::IpNet => "ipnet",
            FieldType::Port => "port",
            FieldType::AbsTime => "abstime",
            FieldType::RelTime => "reltime",
            FieldType::ByteBuf => "bytebuf",
            FieldType::Double => "double",
        }
    }
    pub fn is_string(self) -> bool {
        matches!(self, FieldType::String | FieldType::Path)
    }
    /// Integer-like types (compared numerically).
    pub fn is_integer(self) -> bool {
        matches!(
            self,
            FieldType::Int8
                | FieldType::Int16
                | FieldType::Int32
                | FieldType::Int64
                | FieldType::Uint8
                | FieldType::Uint16
                | FieldType::Uint32
                | FieldType::Uint64
                | FieldType::Port
                | FieldType::AbsTime
                | FieldType::RelTime
        )
    }
    pub fn is_numeric(self) -> bool {
        self.is_integer() || self == FieldType::Double
    }
    pub fn is_ip(self) -> bool {
        matches!(self, FieldType::Ip | FieldType::IpNet)
    }
    /// Inclusive integer range accepted as a right-hand value.
    pub fn int_range(self) -> Option<(i128, i128)> {
        Some(match self {
            FieldType::Int8 => (i8::MIN as i128, i8::MAX as i128),
            FieldType::Int16 => (i16::MIN as i128, i16::MAX as i128),
            FieldType::Int32 => (i32::MIN as i128, i32::MAX as i128),
            FieldType::Int64 => (i64::MIN as i128, i64::MAX as i128),
            FieldType::Uint8 => (0, u8::MAX as i128),
            FieldType::Uint16 | FieldType::Port => (0, u16::MAX as i128),
            FieldType::Uint32 => (0, u32::MAX as i128),
            FieldType::Uint64 | FieldType::AbsTime | FieldType::RelTime => (0, u64::MAX as i128),
            _ => return None,
        })
    }
    /// Two types whose values can be compared with each other (`val()`).
    pub fn compatible(self, other: FieldType) -> bool {
        (self.is_string() && other.is_string())
            || (self.is_numeric() && other.is_numeric())
            || (self.is_ip() && other.is_ip())
            || self == other
    }
    /// Map an event parameter type to a field type (for `evt.rawarg.*`).
    pub fn from_param_type(pt: harrier_event::ParamType) -> FieldType {
        use harrier_event::ParamType as P;
        match pt {
            P::Charbuf => FieldType::String,
            P::Fspath | P::Fsrelpath => FieldType::Path,
            P::Int8 => FieldType::Int8,
            P::Int16 => FieldType::Int16,
            P::Int32 | P::Fd32 | P::Pid32 => FieldType::Int32,
            P::Int64 | P::Errno | P::Fd | P::Pid => FieldType::Int64,
            P::Uint8 | P::Flags8 | P::Enumflags8 | P::Sigtype | P::L4proto | P::Sockfamily => {
                FieldType::Uint8
            }
            P::Uint16 | P::Flags16 | P::Enumflags16 | P::Syscallid => FieldType::Uint16,
            P::Uint32 | P::Flags32 | P::Enumflags32 | P::Uid | P::Gid | P::Mode | P::Sigset => {
                FieldType::Uint32
            }
            P::Uint64 => FieldType::Uint64,
            P::Reltime => FieldType::RelTime,
            P::Abstime => FieldType::AbsTime,
            P::Port => FieldType::Port,
            P::Ipv4Addr | P::Ipv6Addr | P::Ipaddr => FieldType::Ip,
            P::Ipnet | P::Ipv4Net | P::Ipv6Net => FieldType::IpNet,
            P::Bool => FieldType::Bool,
            P::Double => FieldType::Double,
            _ => FieldType::ByteBuf,
        }
    }
}

/// Whether and how a field takes an argument (`field[arg]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    None,
    IndexRequired,
    IndexAllowed,
    KeyRequired,
    KeyAllowed,
    /// A number or a name (`evt.arg[0]`, `evt.arg[fd]`, `container.mount.dest[/var/run*]`).
    IndexOrKeyRequired,
}

impl ArgKind {
    pub fn required(self) -> bool {
        matches!(self, ArgKind::IndexRequired | ArgKind::KeyRequired | ArgKind::IndexOrKeyRequired)
    }
}

/// Field flags (bit set).
pub mod flags {
    /// The field yields a list of values (libs `EPF_IS_LIST`): only `exists`, `in`, `intersects`.
    pub const LIST: u16 = 1 << 0;
    /// Cannot be wrapped in a transformer.
    pub const NO_TRANSFORMER: u16 = 1 << 1;
    /// Cannot be used on the right-hand side (`val()`).
    pub const NO_RHS: u16 = 1 << 2;
    /// Usable in conditions only, not in outputs.
    pub const FILTER_ONLY: u16 = 1 << 3;
    /// Usable in outputs only, not in conditions.
    pub const TABLE_ONLY: u16 = 1 << 4;
    /// Accepts its argument in dotted form too (`evt.arg.name`, `thread.cgroup.cpuacct`).
    pub const DOTTED_ARG: u16 = 1 << 5;
    /// The (name) argument must be an event parameter name.
    pub const EVT_PARAM: u16 = 1 << 6;
    /// The field type is the parameter's own type (`evt.rawarg.*`).
    pub const RAW_PARAM: u16 = 1 << 7;
    /// A time rendered as text; JSON `output_fields` carry the raw timestamp number instead.
    pub const TIME_TEXT: u16 = 1 << 8;
}

/// A field class (a group of fields provided together).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldClass {
    /// Fields of every event, whatever the source (`evt.num`, `evt.time`…).
    Gen,
    /// Syscall event fields (`evt.type`, `evt.arg`…, `syscall.type`).
    SyscallEvt,
    /// `proc.*` and `thread.*`.
    Process,
    User,
    Group,
    Fd,
    FsPath,
    Fdlist,
    Util,
    /// `container.*` (container plugin).
    Container,
    /// `k8s.*` (container plugin, from runtime labels).
    K8s,
    /// `ka.*` (k8saudit plugin).
    K8sAudit,
    /// `json.*` / `jevt.*` (json plugin).
    Json,
    /// `ct.*`, `s3.*`, `ec2.*`, `ecr.*`, `iam.*` (cloudtrail plugin).
    CloudTrail,
    /// `gcp.*` (gcpaudit plugin).
    Gcp,
    /// `github.*` (github plugin).
    Github,
    /// `okta.*` (okta plugin).
    Okta,
    /// Fields a hosted plugin declares, registered at run time ([`register_plugin_source`]).
    Plugin,
    /// `session.*` (Harrier's session audit: commands typed at terminals).
    Session,
}

impl FieldClass {
    pub fn name(self) -> &'static str {
        match self {
            FieldClass::Gen => "evt",
            FieldClass::SyscallEvt => "evt (syscall)",
            FieldClass::Process => "process",
            FieldClass::User => "user",
            FieldClass::Group => "group",
            FieldClass::Fd => "fd",
            FieldClass::FsPath => "fs.path",
            FieldClass::Fdlist => "fdlist",
            FieldClass::Util => "util",
            FieldClass::Container => "container",
            FieldClass::K8s => "k8s",
            FieldClass::K8sAudit => "k8saudit",
            FieldClass::Json => "json",
            FieldClass::CloudTrail => "cloudtrail",
            FieldClass::Gcp => "gcpaudit",
            FieldClass::Github => "github",
            FieldClass::Okta => "okta",
            FieldClass::Plugin => "plugin",
            FieldClass::Session => "session",
        }
    }
}

/// An event source and the field classes it offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    Syscall,
    K8sAudit,
    AwsCloudtrail,
    GcpAuditlog,
    Github,
    Okta,
    /// A source of a hosted plugin, registered at run time: index into the plugin source registry.
    Plugin(u16),
    /// Harrier's session audit (commands typed at terminals, `crates/session`).
    Session,
}

impl Source {
    pub const ALL: [Source; 7] = [
        Source::Syscall,
        Source::K8sAudit,
        Source::AwsCloudtrail,
        Source::GcpAuditlog,
        Source::Github,
        Source::Okta,
        Source::Session,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Source::Syscall => "syscall",
            Source::K8sAudit => "k8s_audit",
            Source::AwsCloudtrail => "aws_cloudtrail",
            Source::GcpAuditlog => "gcp_auditlog",
            Source::Github => "github",
            Source::Okta => "okta",
            Source::Plugin(i) => plugin_sources().get(i as usize).map_or("plugin", |d| d.name),
            Source::Session => "session",
        }
    }
    pub fn from_name(s: &str) -> Option<Source> {
        Source::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .or_else(|| plugin_sources().iter().position(|d| d.name == s).map(|i| Source::Plugin(i as u16)))
    }
    /// The built-in sources, then those registered by hosted plugins.
    pub fn all() -> Vec<Source> {
        let mut v = Source::ALL.to_vec();
        v.extend((0..plugin_sources().len()).map(|i| Source::Plugin(i as u16)));
        v
    }
    /// Position of this source among [`Source::all`].
    pub fn slot(self) -> usize {
        match self {
            Source::Plugin(i) => Source::ALL.len() + i as usize,
            s => Source::ALL.iter().position(|x| *x == s).unwrap_or(0),
        }
    }
    pub fn classes(self) -> &'static [FieldClass] {
        use FieldClass::*;
        match self {
            Source::Syscall => {
                &[Gen, SyscallEvt, Process, User, Group, Fd, FsPath, Fdlist, Util, Container, K8s]
            }
            Source::K8sAudit => &[Gen, K8sAudit, Json],
            Source::AwsCloudtrail => &[Gen, CloudTrail, Json],
            Source::GcpAuditlog => &[Gen, Gcp, Json],
            Source::Github => &[Gen, Github, Json],
            Source::Okta => &[Gen, Okta, Json],
            Source::Plugin(_) => &[Gen],
            Source::Session => &[Gen, Session],
        }
    }
    pub fn has_class(self, c: FieldClass) -> bool {
        self.classes().contains(&c)
    }
    /// Whether events of this source carry a PPM event type (used by the evt.type index).
    pub fn has_event_types(self) -> bool {
        self == Source::Syscall
    }
}

/// Static description of one field.
#[derive(Debug)]
pub struct FieldInfo {
    pub id: FieldId,
    pub name: &'static str,
    pub ty: FieldType,
    pub arg: ArgKind,
    pub flags: u16,
    pub class: FieldClass,
    pub desc: &'static str,
}

impl FieldInfo {
    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }
    pub fn is_list(&self) -> bool {
        self.has(flags::LIST)
    }
}

macro_rules! field_table {
    ($( $v:ident $name:literal $ty:ident $arg:ident [$($fl:ident),*] $class:ident $desc:literal; )*) => {
        /// Stable handle of a field: `FIELDS[id as usize]` describes it.
        #[repr(u16)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum FieldId { $($v,)* }

        /// Every known field, indexed by [`FieldId`].
        pub static FIELDS: &[FieldInfo] = &[
            $( FieldInfo {
                id: FieldId::$v,
                name: $name,
                ty: FieldType::$ty,
                arg: ArgKind::$arg,
                flags: 0 $(| flags::$fl)*,
                class: FieldClass::$class,
                desc: $desc,
            }, )*
        ];
    };
}

field_table! {
    // ---- evt (every source) ----
    EvtNum "evt.num" Uint64 None [] Gen "Sequence number of the event.";
    EvtTime "evt.time" String None [TIME_TEXT] Gen "Event time of day with nanoseconds.";
    EvtTimeS "evt.time.s" String None [TIME_TEXT] Gen "Event time of day, whole seconds.";
    EvtTimeIso8601 "evt.time.iso8601" String None [TIME_TEXT] Gen "Event time in ISO 8601 form (UTC) with nanoseconds.";
    EvtDatetime "evt.datetime" String None [TIME_TEXT] Gen "Event date and time with nanoseconds.";
    EvtDatetimeS "evt.datetime.s" String None [TIME_TEXT] Gen "Event date and time, whole seconds.";
    EvtRawtime "evt.rawtime" AbsTime None [] Gen "Event time as nanoseconds since the epoch.";
    EvtRawtimeS "evt.rawtime.s" AbsTime None [] Gen "Seconds part of the event time since the epoch.";
    EvtRawtimeNs "evt.rawtime.ns" AbsTime None [] Gen "Nanoseconds part of the event time.";
    EvtReltime "evt.reltime" RelTime None [] Gen "Nanoseconds since the capture started.";
    EvtReltimeS "evt.reltime.s" RelTime None [] Gen "Seconds part of the time since the capture started.";
    EvtReltimeNs "evt.reltime.ns" RelTime None [] Gen "Nanoseconds part of the time since the capture started.";
    EvtPluginname "evt.pluginname" String None [] Gen "Name of the plugin that produced the event, if any.";
    EvtPlugininfo "evt.plugininfo" String None [] Gen "One-line summary of a plugin event, written by the plugin.";
    EvtSource "evt.source" String None [] Gen "Name of the event source (syscall, k8s_audit…).";
    EvtIsAsync "evt.is_async" Bool None [] Gen "True for events produced asynchronously (not by a syscall).";
    EvtAsynctype "evt.asynctype" String None [] Gen "Name of the asynchronous event type, if any.";
    EvtHostname "evt.hostname" String None [] Gen "Host name of the machine where the event happened.";
    // ---- evt (syscall events) ----
    EvtLatency "evt.latency" RelTime None [] SyscallEvt "Time between the enter and the exit of the syscall, in ns.";
    EvtLatencyS "evt.latency.s" RelTime None [] SyscallEvt "Seconds part of the syscall latency.";
    EvtLatencyNs "evt.latency.ns" RelTime None [] SyscallEvt "Nanoseconds part of the syscall latency.";
    EvtLatencyQuantized "evt.latency.quantized" Uint64 None [] SyscallEvt "Syscall latency on a logarithmic scale.";
    EvtLatencyHuman "evt.latency.human" String None [] SyscallEvt "Syscall latency as readable text (e.g. 10.3ms).";
    EvtDeltatime "evt.deltatime" RelTime None [] SyscallEvt "Time since the previous event, in ns.";
    EvtDeltatimeS "evt.deltatime.s" RelTime None [] SyscallEvt "Seconds part of the time since the previous event.";
    EvtDeltatimeNs "evt.deltatime.ns" RelTime None [] SyscallEvt "Nanoseconds part of the time since the previous event.";
    EvtDir "evt.dir" String None [] SyscallEvt "Direction: '>' for enter events, '<' for exit events.";
    EvtType "evt.type" String None [] SyscallEvt "Event name, e.g. open or execve.";
    EvtTypeIs "evt.type.is" Uint32 KeyRequired [DOTTED_ARG] SyscallEvt "1 when the event has the named type (evt.type.is.open), else 0.";
    SyscallType "syscall.type" String None [] SyscallEvt "Syscall name for syscall events; absent for other events.";
    EvtCategory "evt.category" String None [] SyscallEvt "Event category (file, net, memory, process…).";
    EvtCpu "evt.cpu" Int16 None [] SyscallEvt "CPU the event happened on.";
    EvtArgs "evt.args" String None [] SyscallEvt "All event parameters as one text.";
    EvtArg "evt.arg" String IndexOrKeyRequired [DOTTED_ARG, EVT_PARAM] SyscallEvt "One event parameter, by name (evt.arg.fd, evt.arg[fd]) or position (evt.arg[0]), as text.";
    EvtRawarg "evt.rawarg" ByteBuf KeyRequired [DOTTED_ARG, EVT_PARAM, RAW_PARAM, NO_TRANSFORMER] SyscallEvt "One event parameter by name, with its own type (evt.rawarg.res).";
    EvtInfo "evt.info" String None [] SyscallEvt "Event parameters as text, or a decoded summary for some events.";
    EvtBuffer "evt.buffer" ByteBuf None [] SyscallEvt "The data buffer of I/O events (read, sendto…).";
    EvtBuflen "evt.buflen" Uint64 None [] SyscallEvt "Length of the data buffer of I/O events.";
    EvtRes "evt.res" String None [] SyscallEvt "Return value as text: SUCCESS or an error name such as ENOENT.";
    EvtRawres "evt.rawres" Int64 None [] SyscallEvt "Return value as a number.";
    EvtFailed "evt.failed" Bool None [] SyscallEvt "True when the syscall returned an error.";
    EvtIsIo "evt.is_io" Bool None [] SyscallEvt "True for events that read or write file descriptors.";
    EvtIsIoRead "evt.is_io_read" Bool None [] SyscallEvt "True for events that read from file descriptors.";
    EvtIsIoWrite "evt.is_io_write" Bool None [] SyscallEvt "True for events that write to file descriptors.";
    EvtIoDir "evt.io_dir" String None [] SyscallEvt "'r' for reads, 'w' for writes.";
    EvtIsWait "evt.is_wait" Bool None [] SyscallEvt "True for events that make the thread wait (sleep, poll…).";
    EvtWaitLatency "evt.wait_latency" RelTime None [] SyscallEvt "Time spent waiting, for waiting events, in ns.";
    EvtIsSyslog "evt.is_syslog" Bool None [] SyscallEvt "True for writes to /dev/log.";
    EvtCount "evt.count" Uint32 None [] SyscallEvt "Always 1 (for counting).";
    EvtCountError "evt.count.error" Uint32 None [] SyscallEvt "1 for events that failed.";
    EvtCountErrorFile "evt.count.error.file" Uint32 None [] SyscallEvt "1 for failed file events.";
    EvtCountErrorNet "evt.count.error.net" Uint32 None [] SyscallEvt "1 for failed network events.";
    EvtCountErrorMemory "evt.count.error.memory" Uint32 None [] SyscallEvt "1 for failed memory events.";
    EvtCountErrorOther "evt.count.error.other" Uint32 None [] SyscallEvt "1 for other failed events.";
    EvtCountExit "evt.count.exit" Uint32 None [] SyscallEvt "1 for exit events.";
    EvtCountProcinfo "evt.count.procinfo" Uint32 None [TABLE_ONLY] SyscallEvt "1 for procinfo events of main threads.";
    EvtCountThreadinfo "evt.count.threadinfo" Uint32 None [TABLE_ONLY] SyscallEvt "1 for procinfo events.";
    EvtAround "evt.around" Uint64 IndexRequired [FILTER_ONLY] SyscallEvt "Matches events within D ms of time T: evt.around[T]=D.";
    EvtAbspath "evt.abspath" String None [] SyscallEvt "Absolute path built from a dirfd and a name (renameat, symlinkat…).";
    EvtAbspathSrc "evt.abspath.src" String None [] SyscallEvt "Absolute source path for two-path syscalls.";
    EvtAbspathDst "evt.abspath.dst" String None [] SyscallEvt "Absolute destination path for two-path syscalls.";
    EvtBuflenIn "evt.buflen.in" Uint64 None [TABLE_ONLY] SyscallEvt "Buffer length of input I/O events.";
    EvtBuflenOut "evt.buflen.out" Uint64 None [TABLE_ONLY] SyscallEvt "Buffer length of output I/O events.";
    EvtBuflenFile "evt.buflen.file" Uint64 None [TABLE_ONLY] SyscallEvt "Buffer length of file I/O events.";
    EvtBuflenFileIn "evt.buflen.file.in" Uint64 None [TABLE_ONLY] SyscallEvt "Buffer length of file input events.";
    EvtBuflenFileOut "evt.buflen.file.out" Uint64 None [TABLE_ONLY] SyscallEvt "Buffer length of file output events.";
    EvtBuflenNet "evt.buflen.net" Uint64 None [TABLE_ONLY] SyscallEvt "Buffer length of network I/O events.";
    EvtBuflenNetIn "evt.buflen.net.in" Uint64 None [TABLE_ONLY] SyscallEvt "Buffer length of network input events.";
    EvtBuflenNetOut "evt.buflen.net.out" Uint64 None [TABLE_ONLY] SyscallEvt "Buffer length of network output events.";
    EvtIsOpenRead "evt.is_open_read" Bool None [] SyscallEvt "True for open-family events that opened the path for reading.";
    EvtIsOpenWrite "evt.is_open_write" Bool None [] SyscallEvt "True for open-family events that opened the path for writing.";
    EvtIsOpenExec "evt.is_open_exec" Bool None [] SyscallEvt "True for open-family or creat events that created an executable file.";
    EvtIsOpenCreate "evt.is_open_create" Bool None [] SyscallEvt "True for open-family events that created the file.";
    // ---- process / thread ----
    ProcExe "proc.exe" String None [] Process "argv[0] of the process (usually the executable as invoked).";
    ProcPexe "proc.pexe" String None [] Process "argv[0] of the parent process.";
    ProcAexe "proc.aexe" String IndexAllowed [NO_TRANSFORMER, NO_RHS] Process "argv[0] of an ancestor: [1] parent, [2] grandparent…; without index, matches any ancestor.";
    ProcExepath "proc.exepath" String None [] Process "Full path of the process executable.";
    ProcPexepath "proc.pexepath" String None [] Process "Full executable path of the parent process.";
    ProcAexepath "proc.aexepath" String IndexAllowed [NO_TRANSFORMER, NO_RHS] Process "Full executable path of an ancestor (by index, or any ancestor).";
    ProcName "proc.name" String None [] Process "Process name (comm, up to 16 characters).";
    ProcPname "proc.pname" String None [] Process "Name of the parent process.";
    ProcAname "proc.aname" String IndexAllowed [NO_TRANSFORMER, NO_RHS] Process "Name of an ancestor: [0] self, [1] parent…; without index, matches any ancestor.";
    ProcArgs "proc.args" String None [] Process "Command-line arguments after argv[0], space separated.";
    ProcCmdline "proc.cmdline" String None [] Process "proc.name followed by proc.args.";
    ProcPcmdline "proc.pcmdline" String None [] Process "Command line of the parent process.";
    ProcAcmdline "proc.acmdline" String IndexAllowed [NO_TRANSFORMER, NO_RHS] Process "Command line of an ancestor (by index, or any ancestor).";
    ProcCmdnargs "proc.cmdnargs" Uint64 None [] Process "Number of command-line arguments.";
    ProcCmdlenargs "proc.cmdlenargs" Uint64 None [] Process "Total characters of the arguments, blanks between them excluded.";
    ProcExeline "proc.exeline" String None [] Process "proc.exe followed by proc.args.";
    ProcEnv "proc.env" String KeyAllowed [] Process "Environment of the process; with [NAME], the value of one variable.";
    ProcCwd "proc.cwd" String None [] Process "Current working directory.";
    ProcLoginshellid "proc.loginshellid" Int64 None [] Process "pid of the oldest shell among the ancestors.";
    ProcTty "proc.tty" Uint32 None [] Process "Controlling terminal number; 0 without a terminal.";
    ProcPid "proc.pid" Int64 None [] Process "Process id.";
    ProcPpid "proc.ppid" Int64 None [] Process "Parent process id.";
    ProcApid "proc.apid" Int64 IndexAllowed [NO_TRANSFORMER, NO_RHS] Process "pid of an ancestor (by index, or any ancestor).";
    ProcVpid "proc.vpid" Int64 None [] Process "Process id inside its pid namespace.";
    ProcPvpid "proc.pvpid" Int64 None [] Process "Parent process id inside its pid namespace.";
    ProcSid "proc.sid" Int64 None [] Process "Session id.";
    ProcSname "proc.sname" String None [] Process "Name of the session leader.";
    ProcSidExe "proc.sid.exe" String None [] Process "argv[0] of the session leader.";
    ProcSidExepath "proc.sid.exepath" String None [] Process "Executable path of the session leader.";
    ProcVpgid "proc.vpgid" Int64 None [] Process "Process group id inside the pid namespace.";
    ProcVpgidName "proc.vpgid.name" String None [] Process "Name of the process group leader.";
    ProcVpgidExe "proc.vpgid.exe" String None [] Process "argv[0] of the process group leader.";
    ProcVpgidExepath "proc.vpgid.exepath" String None [] Process "Executable path of the process group leader.";
    ProcDuration "proc.duration" RelTime None [] Process "Nanoseconds since the process started.";
    ProcPpidDuration "proc.ppid.duration" RelTime None [] Process "Nanoseconds since the parent process started.";
    ProcPidTs "proc.pid.ts" RelTime None [] Process "Process start time, ns since the epoch.";
    ProcPpidTs "proc.ppid.ts" RelTime None [] Process "Parent process start time, ns since the epoch.";
    ProcIsExeWritable "proc.is_exe_writable" Bool None [] Process "True when the executable is writable by the user running it.";
    ProcIsExeUpperLayer "proc.is_exe_upper_layer" Bool None [] Process "True when the executable lives in the upper layer of an overlay filesystem.";
    ProcIsExeLowerLayer "proc.is_exe_lower_layer" Bool None [] Process "True when the executable lives only in a lower (image) layer of an overlay filesystem.";
    ProcIsExeFromMemfd "proc.is_exe_from_memfd" Bool None [] Process "True when the executable is a memfd_create() file (fileless execution).";
    ProcIsSidLeader "proc.is_sid_leader" Bool None [] Process "True when the process leads its session.";
    ProcIsVpgidLeader "proc.is_vpgid_leader" Bool None [] Process "True when the process leads its process group.";
    ProcExeIno "proc.exe_ino" Int64 None [] Process "Inode number of the executable.";
    ProcExeInoCtime "proc.exe_ino.ctime" AbsTime None [] Process "Status-change time (ctime) of the executable, ns since the epoch.";
    ProcExeInoMtime "proc.exe_ino.mtime" AbsTime None [] Process "Modification time (mtime) of the executable, ns since the epoch.";
    ProcExeInoCtimeDurationProcStart "proc.exe_ino.ctime_duration_proc_start" AbsTime None [] Process "ns between the executable's ctime and the process start.";
    ProcExeInoCtimeDurationPidnsStart "proc.exe_ino.ctime_duration_pidns_start" AbsTime None [] Process "ns between the pid namespace start and the executable's ctime.";
    ProcPidnsInitStartTs "proc.pidns_init_start_ts" Uint64 None [] Process "Start time of the pid namespace, ns since the epoch.";
    ThreadCapPermitted "thread.cap_permitted" String None [] Process "Permitted capability set, as names.";
    ThreadCapInheritable "thread.cap_inheritable" String None [] Process "Inheritable capability set, as names.";
    ThreadCapEffective "thread.cap_effective" String None [] Process "Effective capability set, as names.";
    ProcIsContainerHealthcheck "proc.is_container_healthcheck" Bool None [] Process "True when the process runs as a container health check.";
    ProcIsContainerLivenessProbe "proc.is_container_liveness_probe" Bool None [] Process "True when the process runs as a liveness probe.";
    ProcIsContainerReadinessProbe "proc.is_container_readiness_probe" Bool None [] Process "True when the process runs as a readiness probe.";
    ProcFdopencount "proc.fdopencount" Uint64 None [] Process "Number of open file descriptors.";
    ProcFdlimit "proc.fdlimit" Int64 None [] Process "Maximum number of file descriptors.";
    ProcFdusage "proc.fdusage" Double None [] Process "Open file descriptors over the limit.";
    ProcVmsize "proc.vmsize" Uint64 None [] Process "Virtual memory size in kB.";
    ProcVmrss "proc.vmrss" Uint64 None [] Process "Resident memory in kB.";
    ProcVmswap "proc.vmswap" Uint64 None [] Process "Swapped memory in kB.";
    ProcStdinType "proc.stdin.type" String None [] Process "Type of the file descriptor 0.";
    ProcStdoutType "proc.stdout.type" String None [] Process "Type of the file descriptor 1.";
    ProcStderrType "proc.stderr.type" String None [] Process "Type of the file descriptor 2.";
    ProcStdinName "proc.stdin.name" String None [] Process "Name of the file descriptor 0.";
    ProcStdoutName "proc.stdout.name" String None [] Process "Name of the file descriptor 1.";
    ProcStderrName "proc.stderr.name" String None [] Process "Name of the file descriptor 2.";
    ThreadPfmajor "thread.pfmajor" Uint64 None [] Process "Major page faults since the thread started.";
    ThreadPfminor "thread.pfminor" Uint64 None [] Process "Minor page faults since the thread started.";
    ThreadTid "thread.tid" Int64 None [] Process "Thread id.";
    ThreadIsmain "thread.ismain" Bool None [] Process "True for the main thread of the process.";
    ThreadVtid "thread.vtid" Int64 None [] Process "Thread id inside its pid namespace.";
    ThreadNametid "thread.nametid" String None [TABLE_ONLY] Process "Process name and thread id joined.";
    ThreadExectime "thread.exectime" RelTime None [] Process "CPU time of the last scheduled thread (switch events).";
    ThreadTotexectime "thread.totexectime" RelTime None [] Process "Total CPU time of the thread (switch events).";
    ThreadCgroups "thread.cgroups" String None [] Process "All cgroups of the thread, as one text.";
    ThreadCgroup "thread.cgroup" String KeyRequired [DOTTED_ARG] Process "cgroup of the thread for one subsystem (thread.cgroup.cpuacct).";
    ProcNthreads "proc.nthreads" Uint64 None [] Process "Number of live threads of the process.";
    ProcNchilds "proc.nchilds" Uint64 None [] Process "Number of live non-leader threads.";
    ThreadCpu "thread.cpu" Double None [] Process "CPU used by the thread in the last second.";
    ThreadCpuUser "thread.cpu.user" Double None [] Process "User CPU used by the thread in the last second.";
    ThreadCpuSystem "thread.cpu.system" Double None [] Process "System CPU used by the thread in the last second.";
    ThreadVmsize "thread.vmsize" Uint64 None [] Process "Virtual memory in kB (main thread only).";
    ThreadVmrss "thread.vmrss" Uint64 None [] Process "Resident memory in kB (main thread only).";
    ThreadVmsizeB "thread.vmsize.b" Uint64 None [TABLE_ONLY] Process "Virtual memory in bytes (main thread only).";
    ThreadVmrssB "thread.vmrss.b" Uint64 None [TABLE_ONLY] Process "Resident memory in bytes (main thread only).";
    // ---- user / group ----
    UserUid "user.uid" Uint32 None [] User "User id.";
    UserName "user.name" String None [] User "User name.";
    UserHomedir "user.homedir" String None [] User "Home directory of the user.";
    UserShell "user.shell" String None [] User "Login shell of the user.";
    UserLoginuid "user.loginuid" Int64 None [] User "Audit user id (auid); -1 when unset.";
    UserLoginname "user.loginname" String None [] User "Name of the audit user.";
    GroupGid "group.gid" Uint32 None [] Group "Group id.";
    GroupName "group.name" String None [] Group "Group name.";
    // ---- fd ----
    FdNum "fd.num" Int64 None [] Fd "File descriptor number.";
    FdType "fd.type" String None [] Fd "Kind of descriptor: file, directory, ipv4, ipv6, unix, pipe, event, signalfd, eventpoll, inotify, memfd…";
    FdTypechar "fd.typechar" String None [] Fd "Kind of descriptor as one character (f, 4, 6, u, p, e, s, l, i, b, r, m, o).";
    FdName "fd.name" String None [] Fd "Full name: the path for files, the connection tuple for sockets.";
    FdDirectory "fd.directory" String None [] Fd "Directory of a file descriptor's path.";
    FdFilename "fd.filename" String None [] Fd "File name of a file descriptor's path, without the directory.";
    FdIp "fd.ip" Ip None [FILTER_ONLY] Fd "Matches the client or the server address.";
    FdCip "fd.cip" Ip None [] Fd "Client IP address.";
    FdSip "fd.sip" Ip None [] Fd "Server IP address.";
    FdLip "fd.lip" Ip None [] Fd "Local IP address.";
    FdRip "fd.rip" Ip None [] Fd "Remote IP address.";
    FdPort "fd.port" Port None [FILTER_ONLY] Fd "Matches the client or the server port.";
    FdCport "fd.cport" Port None [] Fd "Client port.";
    FdSport "fd.sport" Port None [] Fd "Server port.";
    FdLport "fd.lport" Port None [] Fd "Local port.";
    FdRport "fd.rport" Port None [] Fd "Remote port.";
    FdL4proto "fd.l4proto" String None [] Fd "IP protocol of a socket: tcp, udp, icmp or raw.";
    FdSockfamily "fd.sockfamily" String None [] Fd "Socket family: ip or unix.";
    FdIsServer "fd.is_server" Bool None [] Fd "True when the process is the server end of the connection.";
    FdUid "fd.uid" String None [] Fd "Unique id of the descriptor: fd number and thread id.";
    FdContainername "fd.containername" String None [] Fd "Container id and fd name joined.";
    FdContainerdirectory "fd.containerdirectory" String None [] Fd "Container id and directory joined.";
    FdProto "fd.proto" Port None [FILTER_ONLY] Fd "Matches the client or the server protocol.";
    FdCproto "fd.cproto" String None [] Fd "Client protocol.";
    FdSproto "fd.sproto" String None [] Fd "Server protocol.";
    FdLproto "fd.lproto" String None [] Fd "Local protocol.";
    FdRproto "fd.rproto" String None [] Fd "Remote protocol.";
    FdNet "fd.net" IpNet None [FILTER_ONLY] Fd "Matches when the client or the server address is in the network.";
    FdCnet "fd.cnet" IpNet None [FILTER_ONLY] Fd "Matches when the client address is in the network.";
    FdSnet "fd.snet" IpNet None [FILTER_ONLY] Fd "Matches when the server address is in the network.";
    FdLnet "fd.lnet" IpNet None [FILTER_ONLY] Fd "Matches when the local address is in the network.";
    FdRnet "fd.rnet" IpNet None [FILTER_ONLY] Fd "Matches when the remote address is in the network.";
    FdConnected "fd.connected" Bool None [] Fd "True when the socket is connected.";
    FdNameChanged "fd.name_changed" Bool None [] Fd "True when this event changed the descriptor's name (e.g. a new UDP tuple).";
    FdCipName "fd.cip.name" String None [] Fd "Domain name of the client address.";
    FdSipName "fd.sip.name" String None [] Fd "Domain name of the server address.";
    FdLipName "fd.lip.name" String None [] Fd "Domain name of the local address.";
    FdRipName "fd.rip.name" String None [] Fd "Domain name of the remote address.";
    FdDev "fd.dev" Int32 None [] Fd "Device number of the file.";
    FdDevMajor "fd.dev.major" Int32 None [] Fd "Major device number of the file.";
    FdDevMinor "fd.dev.minor" Int32 None [] Fd "Minor device number of the file.";
    FdIno "fd.ino" Int64 None [] Fd "Inode number of the file.";
    FdNameraw "fd.nameraw" String None [] Fd "Path as passed to the syscall, not made absolute.";
    FdTypes "fd.types" String IndexAllowed [LIST] Fd "Kinds of all open descriptors of the process; [N] for one descriptor.";
    // ---- fs.path ----
    FsPathName "fs.path.name" String None [] FsPath "Absolute path a file syscall acts on.";
    FsPathNameraw "fs.path.nameraw" String None [] FsPath "Path as passed to the file syscall.";
    FsPathSource "fs.path.source" String None [] FsPath "Absolute source path of two-path syscalls (rename, link…).";
    FsPathSourceraw "fs.path.sourceraw" String None [] FsPath "Source path as passed to the syscall.";
    FsPathTarget "fs.path.target" String None [] FsPath "Absolute target path of two-path syscalls.";
    FsPathTargetraw "fs.path.targetraw" String None [] FsPath "Target path as passed to the syscall.";
    // ---- fdlist ----
    FdlistNums "fdlist.nums" String None [] Fdlist "poll-style events: comma-separated descriptor numbers.";
    FdlistNames "fdlist.names" String None [] Fdlist "poll-style events: comma-separated descriptor names.";
    FdlistCips "fdlist.cips" String None [] Fdlist "poll-style events: comma-separated client addresses.";
    FdlistSips "fdlist.sips" String None [] Fdlist "poll-style events: comma-separated server addresses.";
    FdlistCports "fdlist.cports" String None [] Fdlist "poll-style events: comma-separated client ports.";
    FdlistSports "fdlist.sports" String None [] Fdlist "poll-style events: comma-separated server ports.";
    // ---- util ----
    UtilCnt "util.cnt" Uint64 None [] Util "A counter that grows by one per extraction.";
    // ---- container (container plugin) ----
    ContainerId "container.id" String None [] Container "Short container id (12 characters); 'host' outside containers.";
    ContainerFullId "container.full_id" String None [] Container "Full container id.";
    ContainerName "container.name" String None [] Container "Container name; 'host' outside containers.";
    ContainerImage "container.image" String None [] Container "Image name with tag.";
    ContainerImageId "container.image.id" String None [] Container "Image id.";
    ContainerType "container.type" String None [] Container "Runtime kind: docker, containerd, cri-o, podman…";
    ContainerPrivileged "container.privileged" Bool None [] Container "True for privileged containers.";
    ContainerMounts "container.mounts" String None [] Container "All mounts, space separated, each source:dest:mode:rdrw:propagation.";
    ContainerMount "container.mount" String IndexOrKeyRequired [] Container "One mount by index or by source path (glob allowed).";
    ContainerMountSource "container.mount.source" String IndexOrKeyRequired [] Container "Mount source, by index or by destination path (glob allowed).";
    ContainerMountDest "container.mount.dest" String IndexOrKeyRequired [] Container "Mount destination, by index or by source path (glob allowed).";
    ContainerMountMode "container.mount.mode" String IndexOrKeyRequired [] Container "Mount mode, by index or by source path.";
    ContainerMountRdwr "container.mount.rdwr" String IndexOrKeyRequired [] Container "Mount read/write flag, by index or by source path.";
    ContainerMountPropagation "container.mount.propagation" String IndexOrKeyRequired [] Container "Mount propagation, by index or by source path.";
    ContainerImageRepository "container.image.repository" String None [] Container "Image repository (e.g. falcosecurity/falco).";
    ContainerImageTag "container.image.tag" String None [] Container "Image tag (e.g. latest).";
    ContainerImageDigest "container.image.digest" String None [] Container "Image registry digest.";
    ContainerHealthcheck "container.healthcheck" String None [] Container "Health check command line, if any.";
    ContainerLivenessProbe "container.liveness_probe" String None [] Container "Liveness probe command line, if any.";
    ContainerReadinessProbe "container.readiness_probe" String None [] Container "Readiness probe command line, if any.";
    ContainerStartTs "container.start_ts" AbsTime None [] Container "Container start, ns since the epoch.";
    ContainerDuration "container.duration" RelTime None [] Container "Nanoseconds since the container started.";
    ContainerIp "container.ip" String None [] Container "Primary IPv4 address of the container or pod.";
    ContainerCniJson "container.cni.json" String None [] Container "CNI result of the pod, as JSON text.";
    ContainerHostPid "container.host_pid" Bool None [] Container "True when the container shares the host pid namespace.";
    ContainerHostNetwork "container.host_network" Bool None [] Container "True when the container shares the host network namespace.";
    ContainerHostIpc "container.host_ipc" Bool None [] Container "True when the container shares the host IPC namespace.";
    ContainerLabel "container.label" String KeyRequired [DOTTED_ARG] Container "Value of one container label.";
    ContainerLabels "container.labels" String None [] Container "All container labels as key:value pairs, comma separated.";
    // ---- k8s (container plugin) ----
    K8sPodName "k8s.pod.name" String None [] K8s "Pod name.";
    K8sNsName "k8s.ns.name" String None [] K8s "Namespace name.";
    K8sContainerName "k8s.container.name" String None [] K8s "Name of the container in its pod spec.";
    K8sPodId "k8s.pod.id" String None [] K8s "Pod UID (legacy name of k8s.pod.uid).";
    K8sPodUid "k8s.pod.uid" String None [] K8s "Pod UID.";
    K8sPodSandboxId "k8s.pod.sandbox_id" String None [] K8s "Short pod sandbox id.";
    K8sPodFullSandboxId "k8s.pod.full_sandbox_id" String None [] K8s "Full pod sandbox id.";
    K8sPodLabel "k8s.pod.label" String KeyRequired [DOTTED_ARG] K8s "Value of one pod label.";
    K8sPodLabels "k8s.pod.labels" String None [] K8s "All pod labels as key:value pairs.";
    K8sPodIp "k8s.pod.ip" String None [] K8s "Pod IP address.";
    K8sPodCniJson "k8s.pod.cni.json" String None [] K8s "Pod CNI result as JSON text.";
    K8sNsId "k8s.ns.id" String None [] K8s "Namespace id.";
    K8sNsLabel "k8s.ns.label" String KeyRequired [DOTTED_ARG] K8s "Value of one namespace label.";
    K8sNsLabels "k8s.ns.labels" String None [] K8s "All namespace labels.";
    K8sRcName "k8s.rc.name" String None [] K8s "Replication controller name.";
    K8sRcId "k8s.rc.id" String None [] K8s "Replication controller id.";
    K8sRcLabel "k8s.rc.label" String KeyRequired [DOTTED_ARG] K8s "Value of one replication controller label.";
    K8sRcLabels "k8s.rc.labels" String None [] K8s "All replication controller labels.";
    K8sSvcName "k8s.svc.name" String None [] K8s "Service name.";
    K8sSvcId "k8s.svc.id" String None [] K8s "Service id.";
    K8sSvcLabel "k8s.svc.label" String KeyRequired [DOTTED_ARG] K8s "Value of one service label.";
    K8sSvcLabels "k8s.svc.labels" String None [] K8s "All service labels.";
    K8sRsName "k8s.rs.name" String None [] K8s "Replica set name.";
    K8sRsId "k8s.rs.id" String None [] K8s "Replica set id.";
    K8sRsLabel "k8s.rs.label" String KeyRequired [DOTTED_ARG] K8s "Value of one replica set label.";
    K8sRsLabels "k8s.rs.labels" String None [] K8s "All replica set labels.";
    K8sDeploymentName "k8s.deployment.name" String None [] K8s "Deployment name.";
    K8sDeploymentId "k8s.deployment.id" String None [] K8s "Deployment id.";
    K8sDeploymentLabel "k8s.deployment.label" String KeyRequired [DOTTED_ARG] K8s "Value of one deployment label.";
    K8sDeploymentLabels "k8s.deployment.labels" String None [] K8s "All deployment labels.";
    // ---- ka (k8saudit plugin) ----
    KaAuditid "ka.auditid" String None [] K8sAudit "Unique id of the audit event.";
    KaStage "ka.stage" String None [] K8sAudit "Request stage (RequestReceived, ResponseComplete…).";
    KaAuthDecision "ka.auth.decision" String None [] K8sAudit "Authorization decision.";
    KaAuthReason "ka.auth.reason" String None [] K8sAudit "Authorization reason.";
    KaUserName "ka.user.name" String None [] K8sAudit "User that made the request.";
    KaUserGroups "ka.user.groups" String IndexAllowed [LIST] K8sAudit "Groups of the user.";
    KaImpuserName "ka.impuser.name" String None [] K8sAudit "Impersonated user name.";
    KaVerb "ka.verb" String None [] K8sAudit "Request verb (get, create, delete…).";
    KaUri "ka.uri" String None [] K8sAudit "Request URI.";
    KaUriParam "ka.uri.param" String KeyRequired [] K8sAudit "Value of one query parameter of the URI.";
    KaTargetName "ka.target.name" String None [] K8sAudit "Name of the target object.";
    KaTargetNamespace "ka.target.namespace" String None [] K8sAudit "Namespace of the target object.";
    KaTargetResource "ka.target.resource" String None [] K8sAudit "Resource kind of the target object.";
    KaTargetSubresource "ka.target.subresource" String None [] K8sAudit "Subresource of the target object.";
    KaReqBindingSubjects "ka.req.binding.subjects" String IndexAllowed [LIST] K8sAudit "Subjects bound by a (cluster) role binding.";
    KaReqBindingRole "ka.req.binding.role" String None [] K8sAudit "Role bound by a (cluster) role binding.";
    KaReqBindingSubjectHasName "ka.req.binding.subject.has_name" String KeyRequired [] K8sAudit "Deprecated; always N/A.";
    KaReqConfigmapName "ka.req.configmap.name" String None [] K8sAudit "Name of the configmap in the request.";
    KaReqConfigmapObj "ka.req.configmap.obj" String None [] K8sAudit "Whole configmap object in the request.";
    KaReqPodContainersImage "ka.req.pod.containers.image" String IndexAllowed [LIST] K8sAudit "Images of the pod's containers.";
    KaReqContainerImage "ka.req.container.image" String None [] K8sAudit "Image of the first container (deprecated).";
    KaReqPodContainersImageRepository "ka.req.pod.containers.image.repository" String IndexAllowed [LIST] K8sAudit "Image repositories of the pod's containers.";
    KaReqContainerImageRepository "ka.req.container.image.repository" String None [] K8sAudit "Image repository of the first container (deprecated).";
    KaReqPodInitContainersImage "ka.req.pod.initContainers.image" String IndexAllowed [LIST] K8sAudit "Images of the pod's init containers.";
    KaReqPodInitContainersImageRepository "ka.req.pod.initContainers.image.repository" String IndexAllowed [LIST] K8sAudit "Image repositories of the pod's init containers.";
    KaReqPodInitContainersPrivileged "ka.req.pod.initContainers.privileged" String IndexAllowed [LIST] K8sAudit "privileged flags of the pod's init containers.";
    KaReqPodInitContainersHostPort "ka.req.pod.initContainers.host_port" String IndexAllowed [LIST] K8sAudit "hostPort values of the pod's init containers.";
    KaReqPodEphemeralContainersImage "ka.req.pod.ephemeralContainers.image" String IndexAllowed [LIST] K8sAudit "Images of the pod's ephemeral containers.";
    KaReqPodEphemeralContainersImageRepository "ka.req.pod.ephemeralContainers.image.repository" String IndexAllowed [LIST] K8sAudit "Image repositories of the pod's ephemeral containers.";
    KaReqPodEphemeralContainersPrivileged "ka.req.pod.ephemeralContainers.privileged" String IndexAllowed [LIST] K8sAudit "privileged flags of the pod's ephemeral containers.";
    KaReqPodEphemeralContainersHostPort "ka.req.pod.ephemeralContainers.host_port" String IndexAllowed [LIST] K8sAudit "hostPort values of the pod's ephemeral containers.";
    KaReqPodHostIpc "ka.req.pod.host_ipc" String None [] K8sAudit "hostIPC flag of the pod.";
    KaReqPodHostNetwork "ka.req.pod.host_network" String None [] K8sAudit "hostNetwork flag of the pod.";
    KaReqContainerHostNetwork "ka.req.container.host_network" String None [] K8sAudit "Deprecated alias of ka.req.pod.host_network.";
    KaReqPodHostPid "ka.req.pod.host_pid" String None [] K8sAudit "hostPID flag of the pod.";
    KaReqPodContainersHostPort "ka.req.pod.containers.host_port" String IndexAllowed [LIST] K8sAudit "hostPort values of the pod's containers.";
    KaReqPodContainersPrivileged "ka.req.pod.containers.privileged" String IndexAllowed [LIST] K8sAudit "privileged flags of the pod's containers.";
    KaReqContainerPrivileged "ka.req.container.privileged" String None [] K8sAudit "True when any container is privileged (deprecated).";
    KaReqPodContainersAllowPrivilegeEscalation "ka.req.pod.containers.allow_privilege_escalation" String IndexAllowed [LIST] K8sAudit "allowPrivilegeEscalation flags of the pod's containers.";
    KaReqPodContainersReadOnlyFs "ka.req.pod.containers.read_only_fs" String IndexAllowed [LIST] K8sAudit "readOnlyRootFilesystem flags of the pod's containers.";
    KaReqPodRunAsUser "ka.req.pod.run_as_user" String None [] K8sAudit "runAsUser of the pod security context.";
    KaReqPodContainersRunAsUser "ka.req.pod.containers.run_as_user" String IndexAllowed [LIST] K8sAudit "runAsUser of each container.";
    KaReqPodContainersEffRunAsUser "ka.req.pod.containers.eff_run_as_user" String IndexAllowed [LIST] K8sAudit "Effective uid of each container (pod and container contexts combined).";
    KaReqPodRunAsGroup "ka.req.pod.run_as_group" String None [] K8sAudit "runAsGroup of the pod security context.";
    KaReqPodContainersRunAsGroup "ka.req.pod.containers.run_as_group" String IndexAllowed [LIST] K8sAudit "runAsGroup of each container.";
    KaReqPodContainersEffRunAsGroup "ka.req.pod.containers.eff_run_as_group" String IndexAllowed [LIST] K8sAudit "Effective gid of each container.";
    KaReqPodContainersProcMount "ka.req.pod.containers.proc_mount" String IndexAllowed [LIST] K8sAudit "procMount of each container.";
    KaReqRoleRules "ka.req.role.rules" String IndexAllowed [LIST] K8sAudit "Rules of a (cluster) role.";
    KaReqRoleRulesApiGroups "ka.req.role.rules.apiGroups" String IndexAllowed [LIST] K8sAudit "API groups of a role's rules.";
    KaReqRoleRulesNonResourceUrls "ka.req.role.rules.nonResourceURLs" String IndexAllowed [LIST] K8sAudit "Non-resource URLs of a role's rules.";
    KaReqRoleRulesVerbs "ka.req.role.rules.verbs" String IndexAllowed [LIST] K8sAudit "Verbs of a role's rules.";
    KaReqRoleRulesResources "ka.req.role.rules.resources" String IndexAllowed [LIST] K8sAudit "Resources of a role's rules.";
    KaReqPodFsGroup "ka.req.pod.fs_group" String None [] K8sAudit "fsGroup of the pod security context.";
    KaReqPodSupplementalGroups "ka.req.pod.supplemental_groups" String IndexAllowed [LIST] K8sAudit "supplementalGroups of the pod security context.";
    KaReqPodContainersAddCapabilities "ka.req.pod.containers.add_capabilities" String IndexAllowed [LIST] K8sAudit "Capabilities added to the containers.";
    KaReqServiceType "ka.req.service.type" String None [] K8sAudit "Service type.";
    KaReqServicePorts "ka.req.service.ports" String IndexAllowed [LIST] K8sAudit "Service ports.";
    KaReqPodVolumesHostpath "ka.req.pod.volumes.hostpath" String IndexAllowed [LIST] K8sAudit "hostPath paths of the pod's volumes.";
    KaReqVolumeHostpath "ka.req.volume.hostpath" String KeyRequired [] K8sAudit "True when a volume uses the given host path prefix (deprecated).";
    KaReqPodVolumesFlexvolumeDriver "ka.req.pod.volumes.flexvolume_driver" String IndexAllowed [LIST] K8sAudit "flexVolume drivers of the pod's volumes.";
    KaReqPodVolumesVolumeType "ka.req.pod.volumes.volume_type" String IndexAllowed [LIST] K8sAudit "Volume types of the pod's volumes.";
    KaRespName "ka.resp.name" String None [] K8sAudit "Name of the response object.";
    KaResponseCode "ka.response.code" String None [] K8sAudit "Response code.";
    KaResponseReason "ka.response.reason" String None [] K8sAudit "Response reason (mostly for failures).";
    KaUseragent "ka.useragent" String None [] K8sAudit "User agent of the client.";
    KaSourceips "ka.sourceips" String IndexAllowed [LIST] K8sAudit "Source IP addresses of the request.";
    KaAuthOpenshiftDecision "ka.auth.openshift.decision" String None [] K8sAudit "Authentication decision of the OpenShift API server extension.";
    KaValidationsAdmissionPolicyFailure "ka.validations.admission.policy.failure" String None [] K8sAudit "Validation failure reason from a ValidatingAdmissionPolicy.";
    KaSecurityPodViolations "ka.security.pod.violations" String None [] K8sAudit "Pod Security admission audit violations.";
    KaAuthOpenshiftUsername "ka.auth.openshift.username" String None [] K8sAudit "User name of the OpenShift authentication.";
    KaTargetPodName "ka.target.pod.name" String None [] K8sAudit "Name of the pod created (pods resource without subresource).";
    KaReqBindingSubjectsUserNames "ka.req.binding.subjects.user_names" String None [LIST] K8sAudit "Names of the User subjects of a (cluster) role binding.";
    KaReqBindingSubjectsServiceaccountNames "ka.req.binding.subjects.serviceaccount_names" String None [LIST] K8sAudit "Names of the ServiceAccount subjects of a (cluster) role binding.";
    KaReqBindingSubjectsServiceaccountNsNames "ka.req.binding.subjects.serviceaccount_ns_names" String None [LIST] K8sAudit "namespace:name of the ServiceAccount subjects of a (cluster) role binding.";
    KaReqBindingSubjectsGroupNames "ka.req.binding.subjects.group_names" String None [LIST] K8sAudit "Names of the Group subjects of a (cluster) role binding.";
    KaReqPodContainersArgs "ka.req.pod.containers.args" String IndexAllowed [LIST] K8sAudit "args of the pod's containers.";
    KaReqPodContainersCommand "ka.req.pod.containers.command" String IndexAllowed [LIST] K8sAudit "command of the pod's containers.";
    KaReqPodContainersName "ka.req.pod.containers.name" String IndexAllowed [LIST] K8sAudit "name of the pod's containers.";
    KaClusterName "ka.cluster.name" String None [] K8sAudit "Name of the cluster (cluster_name annotation).";
    KaReqPodInitContainersName "ka.req.pod.initContainers.name" String IndexAllowed [LIST] K8sAudit "name of the pod's init containers.";
    KaReqPodInitContainersCommand "ka.req.pod.initContainers.command" String IndexAllowed [LIST] K8sAudit "command of the pod's init containers.";
    KaReqPodInitContainersArgs "ka.req.pod.initContainers.args" String IndexAllowed [LIST] K8sAudit "args of the pod's init containers.";
    KaReqPodInitContainersAllowPrivilegeEscalation "ka.req.pod.initContainers.allow_privilege_escalation" String IndexAllowed [LIST] K8sAudit "allow_privilege_escalation of the pod's init containers.";
    KaReqPodInitContainersReadOnlyFs "ka.req.pod.initContainers.read_only_fs" String IndexAllowed [LIST] K8sAudit "read_only_fs of the pod's init containers.";
    KaReqPodInitContainersRunAsUser "ka.req.pod.initContainers.run_as_user" String IndexAllowed [LIST] K8sAudit "run_as_user of the pod's init containers.";
    KaReqPodInitContainersEffRunAsUser "ka.req.pod.initContainers.eff_run_as_user" String IndexAllowed [LIST] K8sAudit "eff_run_as_user of the pod's init containers.";
    KaReqPodInitContainersRunAsGroup "ka.req.pod.initContainers.run_as_group" String IndexAllowed [LIST] K8sAudit "run_as_group of the pod's init containers.";
    KaReqPodInitContainersEffRunAsGroup "ka.req.pod.initContainers.eff_run_as_group" String IndexAllowed [LIST] K8sAudit "eff_run_as_group of the pod's init containers.";
    KaReqPodInitContainersProcMount "ka.req.pod.initContainers.proc_mount" String IndexAllowed [LIST] K8sAudit "proc_mount of the pod's init containers.";
    KaReqPodInitContainersAddCapabilities "ka.req.pod.initContainers.add_capabilities" String IndexAllowed [LIST] K8sAudit "add_capabilities of the pod's init containers.";
    KaReqPodEphemeralContainersName "ka.req.pod.ephemeralContainers.name" String IndexAllowed [LIST] K8sAudit "name of the pod's ephemeral containers.";
    KaReqPodEphemeralContainersCommand "ka.req.pod.ephemeralContainers.command" String IndexAllowed [LIST] K8sAudit "command of the pod's ephemeral containers.";
    KaReqPodEphemeralContainersArgs "ka.req.pod.ephemeralContainers.args" String IndexAllowed [LIST] K8sAudit "args of the pod's ephemeral containers.";
    KaReqPodEphemeralContainersAllowPrivilegeEscalation "ka.req.pod.ephemeralContainers.allow_privilege_escalation" String IndexAllowed [LIST] K8sAudit "allow_privilege_escalation of the pod's ephemeral containers.";
    KaReqPodEphemeralContainersReadOnlyFs "ka.req.pod.ephemeralContainers.read_only_fs" String IndexAllowed [LIST] K8sAudit "read_only_fs of the pod's ephemeral containers.";
    KaReqPodEphemeralContainersRunAsUser "ka.req.pod.ephemeralContainers.run_as_user" String IndexAllowed [LIST] K8sAudit "run_as_user of the pod's ephemeral containers.";
    KaReqPodEphemeralContainersEffRunAsUser "ka.req.pod.ephemeralContainers.eff_run_as_user" String IndexAllowed [LIST] K8sAudit "eff_run_as_user of the pod's ephemeral containers.";
    KaReqPodEphemeralContainersRunAsGroup "ka.req.pod.ephemeralContainers.run_as_group" String IndexAllowed [LIST] K8sAudit "run_as_group of the pod's ephemeral containers.";
    KaReqPodEphemeralContainersEffRunAsGroup "ka.req.pod.ephemeralContainers.eff_run_as_group" String IndexAllowed [LIST] K8sAudit "eff_run_as_group of the pod's ephemeral containers.";
    KaReqPodEphemeralContainersProcMount "ka.req.pod.ephemeralContainers.proc_mount" String IndexAllowed [LIST] K8sAudit "proc_mount of the pod's ephemeral containers.";
    KaReqPodEphemeralContainersAddCapabilities "ka.req.pod.ephemeralContainers.add_capabilities" String IndexAllowed [LIST] K8sAudit "add_capabilities of the pod's ephemeral containers.";
    // ---- json plugin ----
    JsonValue "json.value" String KeyRequired [] Json "Value at a JSON pointer (json.value[/a/b]).";
    JsonObj "json.obj" String None [] Json "The whole event as JSON text.";
    JsonRawtime "json.rawtime" String None [] Json "Time of the event as written in the JSON.";
    JevtValue "jevt.value" String KeyRequired [] Json "Value at a JSON pointer (jevt.value[/a/b]).";
    JevtObj "jevt.obj" String None [] Json "The whole event as JSON text.";
    JevtRawtime "jevt.rawtime" String None [] Json "Time of the event as written in the JSON.";
    // ---- cloudtrail plugin ----
    CtId "ct.id" String None [] CloudTrail "Unique id of the CloudTrail event (eventID).";
    CtError "ct.error" String None [] CloudTrail "Error code of the event, absent without error.";
    CtErrormessage "ct.errormessage" String None [] CloudTrail "Error message of the event, absent without error.";
    CtTime "ct.time" String None [] CloudTrail "Event time (eventTime).";
    CtSrc "ct.src" String None [] CloudTrail "AWS service of the event (eventSource).";
    CtShortsrc "ct.shortsrc" String None [] CloudTrail "eventSource without the .amazonaws.com suffix.";
    CtName "ct.name" String None [] CloudTrail "Event name (eventName).";
    CtUser "ct.user" String None [] CloudTrail "User of the event.";
    CtUserAccountid "ct.user.accountid" String None [] CloudTrail "Account id of the user.";
    CtUserIdentitytype "ct.user.identitytype" String None [] CloudTrail "Kind of identity (Root, IAMUser, AWSService…).";
    CtUserPrincipalid "ct.user.principalid" String None [] CloudTrail "Principal id of the caller.";
    CtUserArn "ct.user.arn" String None [] CloudTrail "ARN of the caller.";
    CtRegion "ct.region" String None [] CloudTrail "AWS region (awsRegion).";
    CtResponseSubnetid "ct.response.subnetid" String None [] CloudTrail "Subnet id in the response.";
    CtResponseReservationid "ct.response.reservationid" String None [] CloudTrail "Reservation id in the response.";
    CtResponse "ct.response" String None [] CloudTrail "All response elements as JSON text.";
    CtRequestAvailabilityzone "ct.request.availabilityzone" String None [] CloudTrail "Availability zone in the request.";
    CtRequestCluster "ct.request.cluster" String None [] CloudTrail "Cluster in the request.";
    CtRequestFunctionname "ct.request.functionname" String None [] CloudTrail "Function name in the request.";
    CtRequestGroupname "ct.request.groupname" String None [] CloudTrail "Group name in the request.";
    CtRequestHost "ct.request.host" String None [] CloudTrail "Host in the request.";
    CtRequestName "ct.request.name" String None [] CloudTrail "Name of the entity the request acts on.";
    CtRequestPolicy "ct.request.policy" String None [] CloudTrail "Policy in the request.";
    CtRequestSerialnumber "ct.request.serialnumber" String None [] CloudTrail "Serial number in the request.";
    CtRequestServicename "ct.request.servicename" String None [] CloudTrail "Service name in the request.";
    CtRequestSubnetid "ct.request.subnetid" String None [] CloudTrail "Subnet id in the request.";
    CtRequestTaskdefinition "ct.request.taskdefinition" String None [] CloudTrail "Task definition in the request.";
    CtRequestUsername "ct.request.username" String None [] CloudTrail "User name in the request.";
    CtRequest "ct.request" String None [] CloudTrail "All request parameters as JSON text.";
    CtSrcip "ct.srcip" String None [] CloudTrail "Source IP of the caller (sourceIPAddress).";
    CtUseragent "ct.useragent" String None [] CloudTrail "User agent of the caller.";
    CtInfo "ct.info" String None [] CloudTrail "Summary of the event.";
    CtManagementevent "ct.managementevent" String None [] CloudTrail "'true' for management events.";
    CtReadonly "ct.readonly" String None [] CloudTrail "'true' when the event only reads.";
    CtRequestid "ct.requestid" String None [] CloudTrail "Request id.";
    CtEventtype "ct.eventtype" String None [] CloudTrail "Kind of event record.";
    CtApiversion "ct.apiversion" String None [] CloudTrail "API version.";
    CtResources "ct.resources" String None [] CloudTrail "Resources accessed.";
    CtRecipientaccountid "ct.recipientaccountid" String None [] CloudTrail "Account that received the event.";
    CtServiceeventdetails "ct.serviceeventdetails" String None [] CloudTrail "Service event details.";
    CtSharedeventid "ct.sharedeventid" String None [] CloudTrail "Shared event id.";
    CtVpcendpointid "ct.vpcendpointid" String None [] CloudTrail "VPC endpoint of the request.";
    CtEventcategory "ct.eventcategory" String None [] CloudTrail "Event category.";
    CtAddendumReason "ct.addendum.reason" String None [] CloudTrail "Why the event was amended.";
    CtAddendumUpdatedfields "ct.addendum.updatedfields" String None [] CloudTrail "Fields the addendum updated.";
    CtAddendumOriginalrequestid "ct.addendum.originalrequestid" String None [] CloudTrail "Original request id.";
    CtAddendumOriginaleventid "ct.addendum.originaleventid" String None [] CloudTrail "Original event id.";
    CtSessioncredentialfromconsole "ct.sessioncredentialfromconsole" String None [] CloudTrail "Whether the event came from a console session.";
    CtEdgedevicedetails "ct.edgedevicedetails" String None [] CloudTrail "Edge devices targeted by the request.";
    CtTlsdetailsTlsversion "ct.tlsdetails.tlsversion" String None [] CloudTrail "TLS version of the request.";
    CtTlsdetailsCiphersuite "ct.tlsdetails.ciphersuite" String None [] CloudTrail "TLS cipher suite of the request.";
    CtTlsdetailsClientprovidedhostheader "ct.tlsdetails.clientprovidedhostheader" String None [] CloudTrail "Host header sent by the client.";
    CtAdditionaleventdata "ct.additionaleventdata" String None [] CloudTrail "Additional event data as JSON text.";
    S3Uri "s3.uri" String None [] CloudTrail "S3 URI (s3://bucket/key).";
    S3Bucket "s3.bucket" String None [] CloudTrail "S3 bucket name.";
    S3Key "s3.key" String None [] CloudTrail "S3 key name.";
    S3Bytes "s3.bytes" Uint64 None [] CloudTrail "Bytes uploaded or downloaded.";
    S3BytesIn "s3.bytes.in" Uint64 None [] CloudTrail "Bytes uploaded.";
    S3BytesOut "s3.bytes.out" Uint64 None [] CloudTrail "Bytes downloaded.";
    S3CntGet "s3.cnt.get" Uint64 None [] CloudTrail "1 for GetObject events.";
    S3CntPut "s3.cnt.put" Uint64 None [] CloudTrail "1 for PutObject events.";
    S3CntOther "s3.cnt.other" Uint64 None [] CloudTrail "1 for events other than GetObject/PutObject.";
    Ec2Name "ec2.name" String None [] CloudTrail "EC2 instance name.";
    Ec2Imageid "ec2.imageid" String None [] CloudTrail "Image id of the EC2 instance.";
    EcrRepository "ecr.repository" String None [] CloudTrail "ECR repository in the request.";
    EcrImagetag "ecr.imagetag" String None [] CloudTrail "Image tag in the request.";
    IamRole "iam.role" String None [] CloudTrail "IAM role in the request.";
    IamPolicy "iam.policy" String None [] CloudTrail "IAM policy in the request.";
    // ---- gcpaudit plugin ----
    GcpUser "gcp.user" String None [] Gcp "Principal email that acted.";
    GcpCallerIp "gcp.callerIP" String None [] Gcp "Caller IP address.";
    GcpUserAgent "gcp.userAgent" String None [] Gcp "Caller user agent.";
    GcpAuthorizationInfo "gcp.authorizationInfo" String None [] Gcp "Authorization information as JSON text.";
    GcpServiceName "gcp.serviceName" String None [] Gcp "API service name.";
    GcpPolicyDelta "gcp.policyDelta" String None [] Gcp "Access policy changes as JSON text.";
    GcpRequest "gcp.request" String None [] Gcp "Raw API request as JSON text.";
    GcpMethodName "gcp.methodName" String None [] Gcp "API method called.";
    GcpCloudfunctionsFunction "gcp.cloudfunctions.function" String None [] Gcp "Cloud Function name.";
    GcpCloudsqlDatabaseId "gcp.cloudsql.databaseId" String None [] Gcp "Cloud SQL database id.";
    GcpComputeInstanceId "gcp.compute.instanceId" String None [] Gcp "Compute instance id.";
    GcpComputeNetworkId "gcp.compute.networkId" String None [] Gcp "Network id.";
    GcpComputeSubnetwork "gcp.compute.subnetwork" String None [] Gcp "Subnetwork name.";
    GcpComputeSubnetworkId "gcp.compute.subnetworkId" String None [] Gcp "Subnetwork id.";
    GcpDnsZone "gcp.dns.zone" String None [] Gcp "DNS zone.";
    GcpIamServiceAccount "gcp.iam.serviceAccount" String None [] Gcp "Service account.";
    GcpIamServiceAccountId "gcp.iam.serviceAccountId" String None [] Gcp "Service account unique id.";
    GcpLocation "gcp.location" String None [] Gcp "Region or location.";
    GcpLoggingSink "gcp.logging.sink" String None [] Gcp "Logging sink name.";
    GcpProjectId "gcp.projectId" String None [] Gcp "Project id.";
    GcpResourceName "gcp.resourceName" String None [] Gcp "Resource name.";
    GcpResourceType "gcp.resourceType" String None [] Gcp "Resource type.";
    GcpStorageBucket "gcp.storage.bucket" String None [] Gcp "Storage bucket name.";
    // ---- github plugin ----
    GithubType "github.type" String None [] Github "Webhook message type (push, star, repository…).";
    GithubAction "github.action" String None [] Github "Action qualifying the message type (created, deleted…).";
    GithubUser "github.user" String None [] Github "User that triggered the event.";
    GithubRepo "github.repo" String None [] Github "Repository URL (deprecated).";
    GithubRepoUrl "github.repo.url" String None [] Github "Repository URL.";
    GithubRepoName "github.repo.name" String None [] Github "Repository name (owner/name).";
    GithubRepoDescription "github.repo.description" String None [] Github "Repository description.";
    GithubOrg "github.org" String None [] Github "Organization of the repository.";
    GithubOwner "github.owner" String None [] Github "Owner of the repository.";
    GithubRepoPublic "github.repo.public" String None [] Github "'true' when the repository is public.";
    GithubCollaboratorName "github.collaborator.name" String None [] Github "Member added or removed.";
    GithubCollaboratorRole "github.collaborator.role" String None [] Github "Role of the member.";
    GithubWebhookId "github.webhook.id" String None [] Github "Id of a created webhook.";
    GithubWebhookType "github.webhook.type" String None [] Github "Type of a created webhook.";
    GithubCommitAdded "github.commit.added" String None [] Github "Files added, comma separated.";
    GithubCommitModified "github.commit.modified" String None [] Github "Files modified, comma separated.";
    GithubCommitRemoved "github.commit.removed" String None [] Github "Files removed, comma separated.";
    GithubDiffHasSecrets "github.diff.has_secrets" String None [] Github "'true' when a pushed diff contains a secret.";
    GithubDiffCommittedSecretsDesc "github.diff.committed_secrets.desc" String None [] Github "Descriptions of committed secrets.";
    GithubDiffCommittedSecretsFiles "github.diff.committed_secrets.files" String None [] Github "Files holding committed secrets.";
    GithubDiffCommittedSecretsLines "github.diff.committed_secrets.lines" String None [] Github "Lines of committed secrets.";
    GithubDiffCommittedSecretsLinks "github.diff.committed_secrets.links" String None [] Github "Links to committed secrets.";
    GithubWorkflowHasMiners "github.workflow.has_miners" String None [] Github "'true' when a workflow file contains a miner.";
    GithubWorkflowMinersType "github.workflow.miners.type" String None [] Github "Kinds of miners found in a workflow.";
    GithubWorkflowFilename "github.workflow.filename" String None [] Github "Workflow definition file name.";
    // ---- okta plugin ----
    OktaApp "okta.app" String None [] Okta "Application name.";
    OktaEvtType "okta.evt.type" String None [] Okta "Event type.";
    OktaEvtLegacytype "okta.evt.legacytype" String None [] Okta "Legacy event type.";
    OktaSeverity "okta.severity" String None [] Okta "Severity.";
    OktaMessage "okta.message" String None [] Okta "Display message.";
    OktaActorId "okta.actor.id" String None [] Okta "Actor id.";
    OktaActorAlternateid "okta.actor.alternateid" String None [] Okta "Actor alternate id.";
    OktaActorName "okta.actor.name" String None [] Okta "Actor display name.";
    OktaClientZone "okta.client.zone" String None [] Okta "Client zone.";
    OktaClientIp "okta.client.ip" String None [] Okta "Client IP address.";
    OktaClientDevice "okta.client.device" String None [] Okta "Client device.";
    OktaClientId "okta.client.id" String None [] Okta "Client id.";
    OktaClientGeoCity "okta.client.geo.city" String None [] Okta "Client city.";
    OktaClientGeoState "okta.client.geo.state" String None [] Okta "Client state.";
    OktaClientGeoCountry "okta.client.geo.country" String None [] Okta "Client country.";
    OktaClientGeoPostalcode "okta.client.geo.postalcode" String None [] Okta "Client postal code.";
    OktaClientGeoLat "okta.client.geo.lat" Double None [] Okta "Client latitude.";
    OktaClientGeoLon "okta.client.geo.lon" Double None [] Okta "Client longitude.";
    OktaUseragentOs "okta.useragent.os" String None [] Okta "Client operating system.";
    OktaUseragentBrowser "okta.useragent.browser" String None [] Okta "Client browser.";
    OktaUseragentRaw "okta.useragent.raw" String None [] Okta "Raw user agent.";
    OktaResult "okta.result" String None [] Okta "Outcome result.";
    OktaReason "okta.reason" String None [] Okta "Outcome reason.";
    OktaTransactionId "okta.transaction.id" String None [] Okta "Transaction id.";
    OktaTransactionType "okta.transaction.type" String None [] Okta "Transaction type.";
    OktaRequesturi "okta.requesturi" String None [] Okta "Request URI.";
    OktaPrincipalId "okta.principal.id" String None [] Okta "Principal id.";
    OktaPrincipalAlternateid "okta.principal.alternateid" String None [] Okta "Principal alternate id.";
    OktaPrincipalType "okta.principal.type" String None [] Okta "Principal type.";
    OktaPrincipalName "okta.principal.name" String None [] Okta "Principal name.";
    OktaAuthenticationStep "okta.authentication.step" String None [] Okta "Authentication step.";
    OktaAuthenticationSessionid "okta.authentication.sessionid" String None [] Okta "External session id.";
    OktaSecurityAsn "okta.security.asn" Uint64 None [] Okta "Autonomous system number.";
    OktaSecurityIsp "okta.security.isp" String None [] Okta "Internet service provider.";
    OktaSecurityDomain "okta.security.domain" String None [] Okta "Domain.";
    OktaTargetUserId "okta.target.user.id" String None [] Okta "Target user id.";
    OktaTargetUserAlternateid "okta.target.user.alternateid" String None [] Okta "Target user alternate id.";
    OktaTargetUserName "okta.target.user.name" String None [] Okta "Target user name.";
    OktaTargetGroupId "okta.target.group.id" String None [] Okta "Target group id.";
    OktaTargetGroupAlternateid "okta.target.group.alternateid" String None [] Okta "Target group alternate id.";
    OktaTargetGroupName "okta.target.group.name" String None [] Okta "Target group name.";
    OktaTargetAppId "okta.target.app.id" String None [] Okta "Target application id.";
    OktaTargetAppAlternateid "okta.target.app.alternateid" String None [] Okta "Target application alternate id.";
    OktaTargetAppName "okta.target.app.name" String None [] Okta "Target application name.";
    OktaMfaFailureCountlast "okta.mfa.failure.countlast" Uint64 IndexRequired [] Okta "MFA failures of the actor in the last N seconds ([N]).";
    OktaMfaDenyCountlast "okta.mfa.deny.countlast" Uint64 IndexRequired [] Okta "MFA denials of the actor in the last N seconds ([N]).";
    PluginDynamic "plugin.field" String None [] Plugin "A field declared by a hosted plugin; the bound field's info names it.";
    // ---- session (Harrier session audit) ----
    SessionKind "session.kind" String None [] Session "Record kind: command, session_start or session_end.";
    SessionCommand "session.command" String None [] Session "The command line as the shell received it, after line editing, completion and history recall (redacted).";
    SessionCwd "session.cwd" String None [] Session "Working directory of the shell when the command was submitted.";
    SessionUser "session.user" String None [] Session "User name of the shell's uid (as the shell's root filesystem names it).";
    SessionUid "session.uid" Uint32 None [] Session "Uid of the shell.";
    SessionLoginuid "session.loginuid" Uint32 None [] Session "Login uid (audit uid) of the shell; 4294967295 when unset.";
    SessionTty "session.tty" String None [] Session "Terminal of the session (pts/3, tty1, console).";
    SessionId "session.id" Uint64 None [] Session "Id of the terminal session (stable for its lifetime).";
    SessionPid "session.pid" Int64 None [] Session "Pid of the shell.";
    SessionShell "session.shell" String None [] Session "Process name of the shell (bash, zsh, sh…).";
    SessionLeader "session.leader" Int64 None [] Session "Pid of the session leader.";
    SessionContainerId "session.container_id" String None [] Session "Container the shell runs in (12-character id), empty on the host.";
    SessionK8sPodUid "session.k8s_pod_uid" String None [] Session "Pod uid from the container's cgroup path, empty elsewhere.";
    SessionK8sPodName "session.k8s_pod_name" String None [] Session "Pod name from the container runtime's labels (io.kubernetes.pod.name), empty elsewhere.";
    SessionK8sNsName "session.k8s_ns_name" String None [] Session "Pod namespace from the container runtime's labels (io.kubernetes.pod.namespace), empty elsewhere.";
}

impl FieldId {
    pub fn info(self) -> &'static FieldInfo {
        &FIELDS[self as usize]
    }
    pub fn name(self) -> &'static str {
        self.info().name
    }
    /// Look a field up by exact registered name (no argument, no dotted form).
    pub fn from_name(name: &str) -> Option<FieldId> {
        name_index().get(name).copied()
    }
}

fn name_index() -> &'static HashMap<&'static str, FieldId> {
    static INDEX: OnceLock<HashMap<&'static str, FieldId>> = OnceLock::new();
    INDEX.get_or_init(|| FIELDS.iter().map(|f| (f.name, f.id)).collect())
}

/// How a field name written in a rule resolved: the field plus, for dotted forms
/// (`evt.arg.flags`), the argument carried in the name.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub info: &'static FieldInfo,
    pub dotted_arg: Option<String>,
}

/// Resolve a field name for a source. Error text names the field as Falco does.
pub fn resolve(source: Source, name: &str) -> Result<Resolved, String> {
    if let Source::Plugin(i) = source {
        if let Some(info) =
            plugin_sources().get(i as usize).and_then(|d| d.fields.iter().find(|f| f.name == name))
        {
            return Ok(Resolved { info, dotted_arg: None });
        }
    }
    let found = if let Some(id) = FieldId::from_name(name) {
        Some(Resolved { info: id.info(), dotted_arg: None })
    } else {
        // Longest registered prefix with a dotted argument.
        let mut best: Option<Resolved> = None;
        for (i, _) in name.match_indices('.') {
            let prefix = &name[..i];
            if let Some(id) = FieldId::from_name(prefix) {
                let info = id.info();
                if info.has(flags::DOTTED_ARG) && i + 1 < name.len() {
                    best = Some(Resolved { info, dotted_arg: Some(name[i + 1..].to_string()) });
                }
            }
        }
        best
    };
    match found {
        Some(r) if source.has_class(r.info.class) => Ok(r),
        _ => Err(format!("filter_check called with nonexistent field {name}")),
    }
}

/// All fields offered by a source, in table order.
pub fn fields_for(source: Source) -> impl Iterator<Item = &'static FieldInfo> {
    let plugin: &'static [&'static FieldInfo] = match source {
        Source::Plugin(i) => plugin_sources().get(i as usize).map_or(&[], |d| &d.fields[..]),
        _ => &[],
    };
    FIELDS.iter().filter(move |f| source.has_class(f.class)).chain(plugin.iter().copied())
}

/// A field a hosted plugin declares (its `get_fields` entry, in the engine's terms).
#[derive(Debug, Clone)]
pub struct PluginFieldDecl {
    pub name: String,
    pub ty: FieldType,
    pub arg: ArgKind,
    pub list: bool,
    pub desc: String,
}

/// A hosted plugin's source and the fields rules may use on it.
#[derive(Debug)]
pub struct PluginSourceDef {
    pub name: &'static str,
    pub fields: Vec<&'static FieldInfo>,
}

static PLUGIN_SOURCES: std::sync::RwLock<Vec<&'static PluginSourceDef>> = std::sync::RwLock::new(Vec::new());

fn plugin_sources() -> Vec<&'static PluginSourceDef> {
    PLUGIN_SOURCES.read().map(|v| v.clone()).unwrap_or_default()
}

/// Register a hosted plugin's event source and its fields, so rules with `source: NAME` compile
/// and their outputs render (Falco learns them the same way, from the loaded plugins). Plugins
/// are loaded once per process: the definitions live as long as it (leaked on purpose).
/// Registering a name again returns the existing source; a built-in source name is refused.
pub fn register_plugin_source(name: &str, fields: &[PluginFieldDecl]) -> Result<Source, String> {
    if Source::ALL.iter().any(|s| s.name() == name) {
        return Err(format!("source {name} is built in; a hosted plugin cannot redefine it"));
    }
    let mut reg = PLUGIN_SOURCES.write().map_err(|_| "plugin source registry poisoned".to_string())?;
    if let Some(i) = reg.iter().position(|d| d.name == name) {
        return Ok(Source::Plugin(i as u16));
    }
    let mut infos = Vec::with_capacity(fields.len());
    for f in fields {
        if FieldId::from_name(&f.name).is_some() {
            return Err(format!("plugin field {} clashes with a built-in field", f.name));
        }
        let info: &'static FieldInfo = Box::leak(Box::new(FieldInfo {
            id: FieldId::PluginDynamic,
            name: Box::leak(f.name.clone().into_boxed_str()),
            ty: f.ty,
            arg: f.arg,
            flags: if f.list { flags::LIST } else { 0 },
            class: FieldClass::Plugin,
            desc: Box::leak(f.desc.clone().into_boxed_str()),
        }));
        infos.push(info);
    }
    let def: &'static PluginSourceDef = Box::leak(Box::new(PluginSourceDef {
        name: Box::leak(name.to_string().into_boxed_str()),
        fields: infos,
    }));
    reg.push(def);
    Ok(Source::Plugin((reg.len() - 1) as u16))
}

/// PPM event codes (enter and exit) of every event with this name, from the event schema
/// (`harrier-event`). Unknown names (syscalls without a dedicated event) map to the generic
/// syscall events.
pub fn event_codes_for_name(name: &str) -> &'static [u16] {
    match harrier_event::ids_by_name(name) {
        [] => &[0, 1],
        ids => ids,
    }
}

/// Whether `name` is an event name of the schema.
pub fn is_event_name(name: &str) -> bool {
    !harrier_event::ids_by_name(name).is_empty()
}

/// The type of an event parameter (the first event declaring a parameter of that name).
pub fn event_param_type(name: &str) -> Option<harrier_event::ParamType> {
    static TYPES: std::sync::OnceLock<HashMap<&'static str, harrier_event::ParamType>> =
        std::sync::OnceLock::new();
    let t = TYPES.get_or_init(|| {
        let mut m = HashMap::new();
        for e in harrier_event::all_events() {
            for p in e.params {
                m.entry(p.name).or_insert(p.ptype);
            }
        }
        m
    });
    t.get(name).copied()
}

/// Number of PPM event codes.
pub const EVENT_CODE_COUNT: u16 = harrier_event::EVENT_MAX;
