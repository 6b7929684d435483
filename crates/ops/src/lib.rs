//! Operations around detection: Falco's webserver (`/healthz`, `/versions`, `/metrics`), the
//! metrics snapshots (`metrics.*`: Prometheus, output file, output rule), liveness and readiness
//! of the event loop, and `watch_config_files`. The binary wires them to the live loop; nothing
//! here runs in replay or `--dry-run`.

pub mod fuzzing;
pub mod health;
pub mod metrics;
pub mod remote;
pub mod watch;
pub mod web;

pub use health::Health;
pub use metrics::{render_prometheus, RuleMatches, SinkCounters, Snapshot};
pub use watch::{watch_files, FileWatch, Fingerprints, WatchMode};
pub use web::{parse_listen_address, start, versions_json, WebConfig, WebServer, WebState};
