//! The `.scap` capture file format: a streaming [`Reader`] (plain or gzip, every block version) and a
//! [`Writer`] producing files that libscap-based tools (Debian's sysdig 0.29 included) read back.

pub mod block;
pub mod error;
pub mod fuzzing;
pub mod meta;
mod parse;
pub mod reader;
pub mod repeat;
pub mod writer;

pub use error::ScapError;
pub use meta::{
    FdInfo, FdKind, FdTable, GroupInfo, Header, Interface, MachineInfo, SectionHeader, ThreadInfo, UserInfo,
};
pub use reader::{sysdig029_counts, Progress, RawEventRef, Reader, ReaderStats, SYSDIG029_EVENT_MAX};
pub use writer::{Writer, WriterOptions};
