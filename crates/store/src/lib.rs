//! tudi-store
