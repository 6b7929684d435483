//! scap reader/writer. TODO(scap helper).
