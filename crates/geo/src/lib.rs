//! tudi-geo
