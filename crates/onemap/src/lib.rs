//! The one map (一张图): layers of the district's land, their import and export, and the demo
//! district.
//!
//! - [`schema`]: the default attribute schema and geometry type of each layer kind.
//! - [`import`]: bring GeoJSON, GeoPackage, Shapefile and FlatGeobuf files into a layer (reprojecting, validating,
//!   mapping attributes), all-or-nothing by default, reporting every bad feature.
//! - [`export`]: write a layer to GeoJSON, GeoPackage, Shapefile or FlatGeobuf in any supported CRS.
//! - [`shp`]: Shapefile reading (UTF-8 and GBK) and writing, with `.prj` and `.cpg`.
//! - [`fgb`]: FlatGeobuf reading and writing (with the packed R-tree).
//! - [`snapshot`]: layers held in memory for the request paths, never stale.
//! - [`compliance`], [`tiles`]: the site check and vector tiles, from snapshots or the store.
//! - [`demo`]: build 佛山市南海区 with its real towns and villages and synthetic, deterministic
//!   geometry, from a few thousand to a million parcels.
//!
//! **API boundary**: other capabilities use these functions with a [`tudi_store::Store`]; they
//! never reach into the store's tables.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access;
pub mod compliance;
pub mod demo;
pub mod export;
pub mod fgb;
pub mod import;
pub mod locate;
pub mod schema;
pub mod shp;
pub mod snapshot;
pub mod tiles;

/// File formats the one map reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// GeoJSON (`.geojson`, `.json`).
    GeoJson,
    /// GeoPackage (`.gpkg`).
    GeoPackage,
    /// ESRI Shapefile (`.shp` with `.shx`, `.dbf`, `.prj`, `.cpg`).
    Shapefile,
    /// FlatGeobuf (`.fgb`).
    FlatGeobuf,
}

impl Format {
    /// Reads a format name (`geojson`, `gpkg`).
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "geojson" | "json" => Some(Self::GeoJson),
            "gpkg" | "geopackage" => Some(Self::GeoPackage),
            "shp" | "shapefile" => Some(Self::Shapefile),
            "fgb" | "flatgeobuf" => Some(Self::FlatGeobuf),
            _ => None,
        }
    }

    /// Guesses the format from a file's extension.
    #[must_use]
    pub fn from_path(path: &std::path::Path) -> Option<Self> {
        Self::parse(path.extension()?.to_str()?)
    }
}
