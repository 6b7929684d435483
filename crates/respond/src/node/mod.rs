//! Node-local actionners, run by the process that saw the alert.

pub mod block;
pub mod capture;
pub mod containerd;
pub mod kill;
pub mod quarantine;
pub mod script;
