//! Learned detection beside the rules, off the hot path.
//!
//! * [`profile`]: workload profiles — per workload (container image + entry point, systemd
//!   service, or session leader's executable), what it does during a learning window
//!   (executables, parent→child pairs, directories written, outbound destinations, listening
//!   ports, syscall families); after it, each new thing is a deviation alert of source `profile`
//!   (`profile.kind`, `profile.item`, `profile.workload`), and drift (an executable not in the
//!   image, or written after the workload started) is one of the checks.
//! * [`scorer`]: a small learned classifier over events rendered as text (hashed character
//!   n-grams, logistic regression) for events no rule matched.
//! * [`stage`]: the detector's observer ([`harrier_pipeline::EventObserver`]) — a table lookup per
//!   event, a bounded queue (drop and count when full) and a worker thread doing the rest.
//! * [`obs`]: what the detector's thread takes from an event.

pub mod fuzzing;
pub mod obs;
pub mod offline;
pub mod profile;
pub mod scorer;
pub mod stage;

pub use obs::{Extractor, Observation};
pub use profile::{Deviation, Kind, ProfileError, ProfileSet, WorkloadProfile};
pub use scorer::{Example, Model, ModelError, Scratch};
pub use stage::{load, LearnedStage, ProfileConfig};
