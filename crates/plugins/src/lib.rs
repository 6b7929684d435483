//! Falco plugins in Harrier.
//!
//! * [`config`]: `plugins:` / `load_plugins:` from falco.yaml, resolved into plugins served
//!   natively (k8saudit as the `k8s_audit` source, json, container) and libraries to host;
//!   `--enable-source` / `--disable-source`.
//! * [`info`]: `--list-plugins` / `--plugin-info`.
//! * [`host`]: real plugin libraries (`library_path`): load, check, init, source, extract, metrics.

pub mod config;
pub mod feed;
pub mod fuzzing;
pub mod host;
pub mod info;
pub mod rules;

pub use config::{enabled_sources, NativeK8sAudit, PluginEntry, PluginSet};
pub use feed::AuditFeed;
pub use info::PluginInfo;
