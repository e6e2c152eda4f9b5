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

/// Decodes ISO WKB (2D, Z, M or ZM; Z and M are dropped).
///
/// # Errors
/// On truncated or malformed bytes.
pub fn from_wkb(bytes: &[u8]) -> Result<Geometry<f64>, BlobError> {
    check_counts(bytes)?;
    geozero::wkb::Wkb(bytes)
        .to_geo()
        .map_err(|e| BlobError(e.to_string()))
}

/// Checks that every count in WKB (points, rings, parts) fits in the bytes that follow it, before
/// a decoder allocates for it: a blob of a hundred bytes claiming four billion points would
/// otherwise ask for tens of gigabytes (found by the `wkb` fuzz target). Curved and surface
/// types (CircularString, CompoundCurve, CurvePolygon, MultiCurve, MultiSurface,
/// PolyhedralSurface, TIN, Triangle), which GDAL and ArcGIS write and tudi does not hold, are
/// refused by name.
///
/// # Errors
/// Truncated bytes, a count larger than the data, an unknown or curved type, nesting deeper
/// than 32.
pub fn check_counts(bytes: &[u8]) -> Result<(), BlobError> {
    walk(bytes, 0, 0).map(|_| ())
}

/// Where a geometry ends, its base type and its dimensions.
struct Walked {
    end: usize,
    base: u32,
    dims: usize,
}

fn walk(b: &[u8], pos: usize, depth: u32) -> Result<Walked, BlobError> {
    let bad = |why: &str| BlobError(format!("{why} at byte {pos}"));
    if depth > 32 {
        return Err(bad("geometry nested too deeply"));
    }
    let order = *b.get(pos).ok_or_else(|| bad("truncated"))?;
    let little = match order {
        0 => false,
        1 => true,
        _ => return Err(bad("not a byte-order mark")),
    };
    let u32_at = |at: usize| -> Result<u32, BlobError> {
        let w: [u8; 4] = b
            .get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| BlobError(format!("truncated at byte {at}")))?;
        Ok(if little {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        })
    };
    // ISO WKB, as the decoders here read it: the type's thousands give Z (1000), M (2000) or
    // both (3000). EWKB's flag bits are not read by them, so a type that has any is refused
    // rather than read two ways (found by the `wkb` fuzz target).
    let raw = u32_at(pos + 1)?;
    let at = pos + 5;
    if raw >= 4000 {
        return Err(bad(&format!("unknown geometry type {raw:#x}")));
    }
    let (base, thousands) = (raw % 1000, raw / 1000);
    let dims =
        2 + usize::from(matches!(thousands, 1 | 3)) + usize::from(matches!(thousands, 2 | 3));
    let point = dims * 8;
    let remaining = |at: usize| b.len().saturating_sub(at);
    let done = |end: usize| Walked { end, base, dims };
    let points = |at: usize| -> Result<usize, BlobError> {
        let n = u32_at(at)? as usize;
        let need = n
            .checked_mul(point)
            .filter(|need| *need <= remaining(at + 4))
            .ok_or_else(|| BlobError(format!("{n} points at byte {at} do not fit in the data")))?;
        Ok(at + 4 + need)
    };
    match base {
        // Point.
        1 => {
            if point > remaining(at) {
                return Err(bad("truncated point"));
            }
            Ok(done(at + point))
        }
        2 => points(at).map(done),
        3 => {
            let rings = u32_at(at)? as usize;
            if rings.saturating_mul(4) > remaining(at + 4) {
                return Err(bad("more rings than the data holds"));
            }
            let mut at = at + 4;
            for _ in 0..rings {
                at = points(at)?;
            }
            Ok(done(at))
        }
        // Multi*, GeometryCollection: parts that are geometries themselves (9 bytes at least).
        4..=7 => {
            let parts = u32_at(at)? as usize;
            if parts.saturating_mul(9) > remaining(at + 4) {
                return Err(bad("more parts than the data holds"));
            }
            // A decoder reads a multi-geometry's parts as its own kind and dimensions, whatever
            // they say (found by the `wkb` fuzz target): they must agree.
            let part_kind = match base {
                4 => Some(1),
                5 => Some(2),
                6 => Some(3),
                _ => None,
            };
            let mut at = at + 4;
            for _ in 0..parts {
                let part = walk(b, at, depth + 1)?;
                if part_kind.is_some_and(|k| k != part.base)
                    || (part_kind.is_some() && part.dims != dims)
                {
                    return Err(bad(
                        "a part of another kind or dimension than its multi-geometry",
                    ));
                }
                at = part.end;
            }
            Ok(done(at))
        }
        8..=17 => {
            let name = match base {
                8 => "CircularString",
                9 => "CompoundCurve",
                10 => "CurvePolygon",
                11 => "MultiCurve",
                12 => "MultiSurface",
                13 => "Curve",
                14 => "Surface",
                15 => "PolyhedralSurface",
                16 => "TIN",
                _ => "Triangle",
            };
            Err(BlobError(format!(
                "{name} (曲线或曲面几何，tudi 不支持 / a curved or surface geometry tudi does not hold): 请先转为直线段，如 ogr2ogr -nlt CONVERT_TO_LINEAR / convert it to straight segments first, e.g. ogr2ogr -nlt CONVERT_TO_LINEAR"
            )))
        }
        other => Err(bad(&format!("unknown geometry type {other}"))),
    }
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
    let header = gpkg_header(bytes).ok_or_else(|| BlobError("missing GP header".into()))?;
    if header.wkb_offset > bytes.len() {
        return Err(BlobError("the header is longer than the blob".into()));
    }
    // The WKB after the header carries its own byte order, which may differ from the header's
    // (GeoPackage 1.3, 2.1.3). geozero's GeoPackage reader reads the geometry in the header's
    // order, so a big-endian WKB under a little-endian header was misread, counts and all (found
    // by the `gpkg_blob` fuzz target: a 600-byte blob asked for 42 GB); it is read as WKB.
    from_wkb(&bytes[header.wkb_offset..])
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
    fn a_gpkg_blob_reads_its_wkb_in_the_wkb_byte_order() {
        // A little-endian header (flags 1, no envelope, srs 4490) over a big-endian point.
        let mut blob = vec![b'G', b'P', 0, 1];
        blob.extend(4490_i32.to_le_bytes());
        blob.push(0);
        blob.extend(1_u32.to_be_bytes());
        blob.extend(113.25_f64.to_be_bytes());
        blob.extend(23.5_f64.to_be_bytes());
        let g = from_gpkg(&blob).unwrap();
        assert_eq!(g, Geometry::Point(geo_types::Point::new(113.25, 23.5)));
        // The fuzz target's find: a polygon whose counts, read in the header's order, were
        // billions of points. Refused or read, never allocated for.
        let mut blob = vec![b'G', b'P', 71, 1, 71, 186, 0, 0, 0];
        blob.extend(3_u32.to_be_bytes());
        blob.extend(3_u32.to_be_bytes());
        blob.extend([0, 0, 0, 0, 0, 0, 15, 159]);
        blob.extend([0; 64]);
        assert!(from_gpkg(&blob).is_err());
    }

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

    /// Found by the `wkb` fuzz target: a polygon whose ring claims 4,294,901,764 points made the
    /// decoder ask for 64 GiB and abort.
    #[test]
    fn counts_larger_than_the_data_are_refused_before_anything_is_allocated() {
        let mut poly = vec![1u8, 3, 0, 0, 0, 1, 0, 0, 0];
        poly.extend_from_slice(&0xffff_0004u32.to_le_bytes());
        poly.extend_from_slice(&[0u8; 64]);
        let e = from_wkb(&poly).unwrap_err();
        assert!(e.0.contains("do not fit"), "{e}");
        // A multipolygon claiming a billion parts, a collection nested past any sense.
        let mut multi = vec![1u8, 6, 0, 0, 0];
        multi.extend_from_slice(&1_000_000_000u32.to_le_bytes());
        assert!(from_wkb(&multi).is_err());
        let mut deep = Vec::new();
        for _ in 0..40 {
            deep.extend_from_slice(&[1u8, 7, 0, 0, 0, 1, 0, 0, 0]);
        }
        assert!(from_wkb(&deep).unwrap_err().0.contains("nested"));
        // A multipolygon whose second part says it is a big-endian point (a decoder would read
        // it as a polygon anyway).
        let mut odd = vec![1u8, 6, 0, 0, 0, 2, 0, 0, 0];
        let square =
            to_wkb(&polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0)].into()).unwrap();
        odd.extend_from_slice(&square);
        odd.extend_from_slice(&[0, 0, 0, 0, 1]);
        odd.extend_from_slice(&[0u8; 16]);
        assert!(from_wkb(&odd).unwrap_err().0.contains("another kind"));
        // A GeoPackage blob with the same ring.
        let mut blob = b"GP\x00\x01".to_vec();
        blob.extend_from_slice(&4490i32.to_le_bytes());
        blob.extend_from_slice(&[0u8; 32]);
        blob.extend_from_slice(&poly);
        assert!(from_gpkg(&blob).is_err());
        // ISO Z is measured with its dimension; EWKB flags, which the decoders do not read,
        // are refused.
        let mut z = vec![1u8];
        z.extend_from_slice(&1001u32.to_le_bytes());
        z.extend_from_slice(&[0u8; 24]);
        assert!(check_counts(&z).is_ok());
        assert!(check_counts(&z[..20]).is_err());
        let mut ewkb = vec![1u8];
        ewkb.extend_from_slice(&(0x2000_0001u32).to_le_bytes());
        ewkb.extend_from_slice(&4326u32.to_le_bytes());
        ewkb.extend_from_slice(&[0u8; 16]);
        assert!(check_counts(&ewkb).is_err());
        // Found by the fuzz target: a part with flag bits, read one way here and another there.
        let mut flagged = vec![1u8, 6, 0, 0, 0, 1, 0, 0, 0, 1];
        flagged.extend_from_slice(&0x3000_0003u32.to_le_bytes());
        flagged.extend_from_slice(&[1, 0, 0, 0, 4, 0, 0, 0]);
        flagged.extend_from_slice(&[0u8; 64]);
        assert!(from_wkb(&flagged).is_err());
    }
}
