//! tudi-onemap
