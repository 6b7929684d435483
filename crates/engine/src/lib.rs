//! The Harrier rule engine: the field registry, the condition compiler (typed predicates), the
//! event-type index, output templates and alerts.
//!
//! The seam with event state is [`EventAccessor`]: the state crate implements it, matching on
//! [`FieldId`] and reading the argument of a [`BoundField`], and appends values into a reusable
//! [`Values`] buffer.

pub mod checker;
pub mod compile;
pub mod evttype;
pub mod fields;
pub mod gen;
pub mod glob;
pub mod output;
pub mod prefilter;
pub mod ruleset;
mod screen;
pub mod sets;
pub mod testing;
pub mod values;

pub use checker::Checker;
pub use compile::{compile_condition, CompileError, Filter, Scratch};
pub use evttype::{evttypes_of, EvtTypeSet};
pub use fields::{event_codes_for_name, FieldId, FieldInfo, FieldType, Source, FIELDS};
pub use output::{Alert, OutputTemplate};
pub use ruleset::{CompiledRule, RuleError, RuleMatching, Ruleset};
pub use values::{BoundField, EventAccessor, FieldArg, One, Value, Values};
