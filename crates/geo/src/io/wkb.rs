//! WKB and GeoPackage geometry blobs.
//!
//! A GeoPackage blob is a small header (magic `GP`, version, flags, SRS id, optional envelope)
//! followed by standard WKB (GeoPackage 1.2 §2.1.3). Writing goes through `geozero`; the envelope
//! is read straight from the header when present, which is what the R-tree triggers need.

use geo::BoundingRect;
use geo_types::Geometry;
use geozero::{CoordDimensions, ToGeo, ToWkb};

/// Why bytes could not be read as a geometry.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid geometry blob: {0}")]
pub struct BlobError(pub String);

/// Encodes standard (ISO) WKB, 2D.
///
/// # Errors
/// When the geometry cannot be encoded (never for finite 2D input).
pub fn to_wkb(geom: &Geometry<f64>) -> Result<Vec<u8>, BlobError> {
    geom.to_wkb(CoordDimensions::xy())
        .map_err(|e| BlobError(e.to_string()))
}

/// Decodes WKB (also accepts EWKB without SRID flags).
///
/// # Errors
/// On truncated or malformed bytes.
pub fn from_wkb(bytes: &[u8]) -> Result<Geometry<f64>, BlobError> {
    geozero::wkb::Wkb(bytes)
        .to_geo()
        .map_err(|e| BlobError(e.to_string()))
}

/// Encodes a GeoPackage geometry blob with an XY envelope.
///
/// # Errors
/// When the geometry cannot be encoded.
pub fn to_gpkg(geom: &Geometry<f64>, srs_id: i32) -> Result<Vec<u8>, BlobError> {
    let envelope = geom
        .bounding_rect()
        .map(|r| vec![r.min().x, r.max().x, r.min().y, r.max().y])
        .unwrap_or_default();
    geom.to_gpkg_wkb(CoordDimensions::xy(), Some(srs_id), envelope)
        .map_err(|e| BlobError(e.to_string()))
}

/// Decodes a GeoPackage geometry blob.
///
/// # Errors
/// On a bad header or malformed WKB.
pub fn from_gpkg(bytes: &[u8]) -> Result<Geometry<f64>, BlobError> {
    if bytes.len() < 8 || &bytes[..2] != b"GP" {
        return Err(BlobError("missing GP header".into()));
    }
    geozero::wkb::GpkgWkb(bytes)
        .to_geo()
        .map_err(|e| BlobError(e.to_string()))
}

/// The header fields of a GeoPackage blob.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GpkgHeader {
    /// Whether the empty-geometry flag is set.
    pub empty: bool,
    /// `[minx, maxx, miny, maxy]` when the header carries an envelope.
    pub envelope: Option<[f64; 4]>,
    /// Byte offset of the WKB after the header.
    pub wkb_offset: usize,
}

/// Reads the header of a GeoPackage blob without decoding the geometry.
#[must_use]
pub fn gpkg_header(bytes: &[u8]) -> Option<GpkgHeader> {
    if bytes.len() < 8 || &bytes[..2] != b"GP" {
        return None;
    }
    let flags = bytes[3];
    let little = flags & 1 == 1;
    let empty = flags & 0b1_0000 != 0;
    let env_len = match (flags >> 1) & 0b111 {
        0 => 0,
        1 => 32,
        2 | 3 => 48,
        4 => 64,
        _ => return None,
    };
    let wkb_offset = 8 + env_len;
    if bytes.len() < wkb_offset {
        return None;
    }
    let read = |i: usize| -> Option<f64> {
        let raw: [u8; 8] = bytes.get(8 + i * 8..16 + i * 8)?.try_into().ok()?;
        Some(if little {
            f64::from_le_bytes(raw)
        } else {
            f64::from_be_bytes(raw)
        })
    };
    let envelope = if env_len >= 32 {
        Some([read(0)?, read(1)?, read(2)?, read(3)?])
    } else {
        None
    };
    Some(GpkgHeader {
        empty,
        envelope,
        wkb_offset,
    })
}

/// The `[minx, maxx, miny, maxy]` envelope of a blob: from the header, or by decoding the WKB when
/// the header has none. `None` for an empty geometry or unreadable bytes.
#[must_use]
pub fn gpkg_envelope(bytes: &[u8]) -> Option<[f64; 4]> {
    let header = gpkg_header(bytes)?;
    if header.empty {
        return None;
    }
    if let Some(env) = header.envelope {
        return Some(env);
    }
    let geom = from_wkb(bytes.get(header.wkb_offset..)?).ok()?;
    let r = geom.bounding_rect()?;
    Some([r.min().x, r.max().x, r.min().y, r.max().y])
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::polygon;

    #[test]
    fn gpkg_blob_round_trips_with_envelope() {
        let g: Geometry<f64> =
            polygon![(x: 1.0, y: 2.0), (x: 3.0, y: 2.0), (x: 3.0, y: 5.0)].into();
        let blob = to_gpkg(&g, 4547).unwrap();
        assert_eq!(&blob[..2], b"GP");
        assert_eq!(gpkg_envelope(&blob), Some([1.0, 3.0, 2.0, 5.0]));
        assert_eq!(from_gpkg(&blob).unwrap(), g);
        assert!(from_gpkg(&blob[..6]).is_err());
        assert_eq!(from_wkb(&to_wkb(&g).unwrap()).unwrap(), g);
    }
}
