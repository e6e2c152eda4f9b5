//! GeoJSON.
