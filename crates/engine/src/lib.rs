//! The rule engine. TODO(engine helper).
