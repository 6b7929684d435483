//! The Kubernetes audit event source (`k8s_audit`), native: what Falco gets from its `k8saudit`
//! and `json` plugins, without the plugins.
//!
//! * [`event`]: the payload grammar (array / `EventList` / `Event`), one [`AuditEvent`] per audit
//!   event, parsed once, timed by `stageTimestamp`, bounded by `maxEventSize`; outcome [`Counters`].
//! * [`fields`]: every `ka.*` field and `json.*`/`jevt.*`, as the engine's `EventAccessor`.
//! * [`json`]: the order-preserving JSON tree the fields read.

pub mod event;
pub mod fields;
pub mod json;

pub use event::{parse_payload, AuditEvent, Counters, PayloadError};
pub use fields::{AuditAccessor, SOURCE};
pub use json::Json;
