//! State tables. TODO.
