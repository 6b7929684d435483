//! Harrier's event schema and event type.
//!
//! * [`schema`]: the declarative event table (generated into [`table`] from the libs event table by
//!   `gen/gen_table.py`), parameter types and lookups by id and name.
//! * [`Event`]: a zero-copy view over one event in the driver format; [`EventBuf`] builds events.
//! * [`Normalizer`]: converts old-schema enter/exit streams into current exit-only events.
//! * [`consts`]: driver ABI constants (open flags, socket families, l4 protocols, fd types).

pub mod buf;
pub mod consts;
pub mod event;
pub mod normalize;
pub mod ppm_sc;
pub mod schema;
pub mod table;

pub use buf::EventBuf;
pub use event::{Event, EventError, FdList, SockAddr, SockTuple, HEADER_LEN, LEGACY_HEADER_LEN, MAX_PARAMS};
pub use normalize::{NormalizeMode, NormalizeStats, Normalizer};
pub use ppm_sc::ppm_sc_name;
pub use schema::{
    all_events, cat, ef, event_info, fd_param_index, ids_by_name, newest_enter_id, newest_exit_id,
    param_index, Direction, EventInfo, ParamInfo, ParamType, PrintFormat,
};
pub use table::{ids, EVENT_MAX};
