//! The Kubernetes audit event source (`k8s_audit`), native: what Falco gets from its `k8saudit`
//! and `json` plugins, without the plugins.
//!
//! * [`event`]: the payload grammar (array / `EventList` / `Event`), one [`AuditEvent`] per audit
//!   event, parsed once, timed by `stageTimestamp`, bounded by `maxEventSize`; outcome [`Counters`].
//! * [`fields`]: every `ka.*` field and `json.*`/`jevt.*`, as the engine's `EventAccessor`.
//! * [`json`]: the order-preserving JSON tree the fields read.
//! * [`config`]: `init_config` and `open_params` as the plugin reads them.
//! * [`webhook`], [`files`]: the inputs; [`queue`]: the bounded queue between them and the rules;
//!   [`source`]: the source and the rules loop.
//! * [`capture`]: audit events as plugin events (id 1) in `.scap` files, as Falco writes them.

pub mod capture;
pub mod config;
pub mod event;
pub mod fields;
pub mod files;
pub mod fuzzing;
pub mod json;
pub mod queue;
pub mod source;
pub mod webhook;

pub use config::{InitConfig, OpenParams};
pub use event::{parse_payload, AuditEvent, Counters, PayloadError};
pub use fields::{AuditAccessor, SOURCE};
pub use json::Json;
pub use source::{AuditDetector, AuditSource};
