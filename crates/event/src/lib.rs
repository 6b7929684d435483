//! Event schema. TODO(scap helper).
