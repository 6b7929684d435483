//! State: the thread, fd and user tables that give events their meaning, rebuilt from capture
//! metadata, `/proc` and the events themselves, and the container identity of each thread.

pub mod container;
pub mod container_json;
pub mod fd;
pub mod thread;
pub mod tracker;

pub use tracker::{ContainerInfo, State, TrackerStats, User};
pub mod fields;
pub mod names;
pub use fields::SyscallEvent;
