//! The geometry kernel of tudi.
//!
//! - [`crs`]: coordinate reference systems (CGCS2000 EPSG:4490, WGS 84, Web Mercator, the
//!   Gauss–Krüger 3° zones EPSG:4513–4554) and transforms between them; GCJ-02 conversion for
//!   coordinates taken from online maps.
//! - [`area`]: planar area in a projected CRS and ellipsoidal area on CGCS2000; every figure
//!   carries the method it was computed with.
//! - [`validity`]: OGC validity with the reason and location of every problem. Nothing is
//!   repaired silently.
//! - [`index`]: an R-tree over feature envelopes with exact point-in-polygon and overlap queries.
//! - [`overlay`]: intersection and overlap area of polygons.
//! - [`io`]: GeoJSON, WKB and GeoPackage geometry blobs, Shapefile and FlatGeobuf readers and
//!   writers. They read and write bytes through `Read`/`Write`; opening files is the caller's job.
//!
//! Analysis runs in metres, never in degrees: callers project geographic data into its
//! Gauss–Krüger zone first ([`crs::Crs::gk_zone_for`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod area;
pub mod crs;
pub mod index;
pub mod io;
pub mod mvt;
pub mod overlay;
pub mod validity;

pub use geo_types;
