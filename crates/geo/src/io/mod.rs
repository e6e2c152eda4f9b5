//! Readers and writers of geometry formats. They work on bytes and `Read`/`Write`; the caller
//! opens files.

pub mod geojson;
pub mod wkb;
