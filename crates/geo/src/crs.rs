//! Coordinate reference systems and transforms.
//!
//! Supported: EPSG:4490 (CGCS2000 geographic), EPSG:4326 (WGS 84), EPSG:3857 (Web Mercator), and
//! the CGCS2000 3-degree Gauss–Krüger zones EPSG:4513–4533 (false easting with the zone number
//! prefixed) and EPSG:4534–4554 (false easting 500 000). Transforms use `proj4rs`, a pure-Rust
//! port of PROJ whose `tmerc` is the exact Poder/Engsager algorithm; a test compares it with PROJ's
//! `cs2cs` to 1 mm. CGCS2000 and WGS 84 are treated as the same datum (the null transformation PROJ
//! also uses at this accuracy).
//!
//! Coordinates are always `x` = longitude/easting, `y` = latitude/northing inside tudi, whatever
//! the axis order an external format declares.

use std::fmt;

use proj4rs::Proj;
use tudi_core::msg::{Bilingual, Msg};

/// A supported coordinate reference system, identified by its EPSG code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Crs(u32);

/// The kinds of CRS tudi handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrsKind {
    /// Longitude/latitude in degrees.
    Geographic,
    /// Spherical Web Mercator in metres (map display only; never used for area).
    WebMercator,
    /// A CGCS2000 3-degree Gauss–Krüger zone.
    GaussKruger {
        /// Zone number 25–45.
        zone: u32,
        /// Central meridian in degrees east.
        central_meridian: u32,
        /// Whether the false easting carries the zone number (EPSG:4513–4533).
        zone_prefix: bool,
    },
}

/// Why a CRS was refused or a transform failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CrsError {
    /// The text does not name a CRS.
    #[error("cannot read a CRS from {0:?}")]
    Unreadable(String),
    /// A CRS tudi does not support.
    #[error("EPSG:{0} is not supported (supported: 4490, 4326, 3857, 4513-4554)")]
    Unsupported(u32),
    /// No CGCS2000 3° Gauss–Krüger zone covers these longitudes (data from abroad, a wrong
    /// CRS, or a layer wider than one zone).
    #[error(
        "no CGCS2000 3-degree Gauss-Kruger zone covers longitudes {west}..{east} (zones cover 73.5-136.5 E, 3 degrees each)"
    )]
    NoZone {
        /// Westernmost longitude.
        west: f64,
        /// Easternmost longitude.
        east: f64,
    },
    /// A coordinate that cannot be transformed.
    #[error("cannot transform ({x}, {y}) from EPSG:{from} to EPSG:{to}: {reason}")]
    Transform {
        /// Source EPSG code.
        from: u32,
        /// Target EPSG code.
        to: u32,
        /// The coordinate.
        x: f64,
        /// The coordinate.
        y: f64,
        /// Why.
        reason: String,
    },
}

impl Bilingual for CrsError {
    fn msg(&self) -> Msg {
        let zh = match self {
            Self::Unreadable(t) => format!("无法识别坐标系“{t}”"),
            Self::Unsupported(c) => format!(
                "不支持坐标系 EPSG:{c}（支持 4490、4326、3857 及 CGCS2000 三度带 4513–4554）"
            ),
            Self::NoZone { west, east }
                if !(73.4..=136.6).contains(west) || !(73.4..=136.6).contains(east) =>
            {
                if west == east {
                    format!("经度 {west} 不在任何 CGCS2000 三度带内（三度带覆盖东经 73.5°–136.5°）")
                } else {
                    format!(
                        "经度范围 {west}–{east} 不在任何 CGCS2000 三度带内（三度带覆盖东经 73.5°–136.5°）"
                    )
                }
            }
            Self::NoZone { west, east } => format!(
                "经度范围 {west}–{east} 跨越多个 CGCS2000 三度带（每带 3°），不在同一个三度带内"
            ),
            Self::Transform { from, to, x, y, .. } => {
                format!("坐标 ({x}, {y}) 无法从 EPSG:{from} 转换到 EPSG:{to}")
            }
        };
        Msg::new(zh, self.to_string())
    }
}

impl Crs {
    /// CGCS2000 geographic.
    pub const CGCS2000: Crs = Crs(4490);
    /// WGS 84 geographic.
    pub const WGS84: Crs = Crs(4326);
    /// Web Mercator.
    pub const WEB_MERCATOR: Crs = Crs(3857);

    /// A CRS from its EPSG code.
    ///
    /// # Errors
    /// [`CrsError::Unsupported`] for codes outside the supported set.
    pub fn from_epsg(code: u32) -> Result<Self, CrsError> {
        match code {
            4490 | 4326 | 3857 | 4513..=4554 => Ok(Self(code)),
            _ => Err(CrsError::Unsupported(code)),
        }
    }

    /// Reads `EPSG:4547`, `4547`, `urn:ogc:def:crs:EPSG::4547`,
    /// `http://www.opengis.net/def/crs/EPSG/0/4547`, `CRS84` or `OGC:CRS84`.
    ///
    /// # Errors
    /// When the text names no supported CRS.
    pub fn parse(text: &str) -> Result<Self, CrsError> {
        let t = text.trim();
        let upper = t.to_ascii_uppercase();
        let unreadable = || CrsError::Unreadable(t.to_owned());
        // OGC:CRS84 in its spellings: the rest after a known prefix must be exactly it.
        const CRS84: [&str; 5] = [
            "",
            "OGC:",
            "URN:OGC:DEF:CRS:OGC:1.3:",
            "HTTP://WWW.OPENGIS.NET/DEF/CRS/OGC/1.3/",
            "HTTPS://WWW.OPENGIS.NET/DEF/CRS/OGC/1.3/",
        ];
        if CRS84.iter().any(|p| upper.strip_prefix(p) == Some("CRS84")) {
            return Ok(Self::WGS84);
        }
        // An EPSG code: bare, or after one of its prefixes; nothing may follow the digits.
        let code = if upper.bytes().all(|b| b.is_ascii_digit()) {
            upper.as_str()
        } else if let Some(rest) = upper.strip_prefix("EPSG:") {
            rest
        } else if let Some(rest) = upper.strip_prefix("URN:OGC:DEF:CRS:EPSG:") {
            // `urn:ogc:def:crs:EPSG::4547` or with a version: `…:EPSG:9.8:4547`.
            rest.rsplit_once(':').map_or(rest, |(_, c)| c)
        } else if let Some(rest) = upper
            .strip_prefix("HTTP://WWW.OPENGIS.NET/DEF/CRS/EPSG/")
            .or_else(|| upper.strip_prefix("HTTPS://WWW.OPENGIS.NET/DEF/CRS/EPSG/"))
        {
            rest.split_once('/').map_or("", |(_, c)| c)
        } else {
            return Err(unreadable());
        };
        if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(unreadable());
        }
        code.parse::<u32>()
            .map_err(|_| unreadable())
            .and_then(Self::from_epsg)
    }

    /// The Gauss–Krüger zone that contains `lon` (3° zones: n = round(lon / 3)).
    ///
    /// # Errors
    /// When the longitude lies outside 73.5°E–136.5°E.
    pub fn gk_zone_for(lon: f64, zone_prefix: bool) -> Result<Self, CrsError> {
        Self::gk_zone_covering(lon, lon, zone_prefix)
    }

    /// The Gauss–Krüger zone that covers every longitude from `west` to `east` (each zone 1.5°
    /// either side of its central meridian, with 0.1° of slack at the edges, where the scale
    /// error is still below 0.04 %).
    ///
    /// # Errors
    /// [`CrsError::NoZone`] when no one zone covers them (or they are not finite).
    pub fn gk_zone_covering(west: f64, east: f64, zone_prefix: bool) -> Result<Self, CrsError> {
        let none = || CrsError::NoZone { west, east };
        if !(west.is_finite() && east.is_finite()) || west > east {
            return Err(none());
        }
        let zone = (f64::midpoint(west, east) / 3.0).round();
        let cm = zone * 3.0;
        if !(25.0..=45.0).contains(&zone) || west < cm - 1.6 || east > cm + 1.6 {
            return Err(none());
        }
        // The range check above makes the cast exact.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let zone = zone as u32;
        Ok(Self(if zone_prefix {
            4513 + zone - 25
        } else {
            4534 + zone - 25
        }))
    }

    /// The EPSG code.
    #[must_use]
    pub const fn epsg(self) -> u32 {
        self.0
    }

    /// What kind of CRS this is.
    #[must_use]
    pub const fn kind(self) -> CrsKind {
        match self.0 {
            3857 => CrsKind::WebMercator,
            4513..=4533 => CrsKind::GaussKruger {
                zone: self.0 - 4513 + 25,
                central_meridian: (self.0 - 4513 + 25) * 3,
                zone_prefix: true,
            },
            4534..=4554 => CrsKind::GaussKruger {
                zone: self.0 - 4534 + 25,
                central_meridian: (self.0 - 4534 + 25) * 3,
                zone_prefix: false,
            },
            _ => CrsKind::Geographic,
        }
    }

    /// Whether coordinates are degrees.
    #[must_use]
    pub const fn is_geographic(self) -> bool {
        matches!(self.kind(), CrsKind::Geographic)
    }

    /// The PROJ string.
    #[must_use]
    pub fn proj_string(self) -> String {
        match self.kind() {
            CrsKind::Geographic if self.0 == 4326 => "+proj=longlat +datum=WGS84 +no_defs".into(),
            CrsKind::Geographic => "+proj=longlat +ellps=GRS80 +no_defs".into(),
            CrsKind::WebMercator => "+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 +units=m +no_defs".into(),
            CrsKind::GaussKruger {
                zone,
                central_meridian,
                zone_prefix,
            } => {
                let fe = if zone_prefix {
                    u64::from(zone) * 1_000_000 + 500_000
                } else {
                    500_000
                };
                format!(
                    "+proj=tmerc +lat_0=0 +lon_0={central_meridian} +k=1 +x_0={fe} +y_0=0 +ellps=GRS80 +units=m +no_defs"
                )
            }
        }
    }

    /// The OGC WKT 1 definition (for `.prj` files and GeoPackage `gpkg_spatial_ref_sys`).
    #[must_use]
    pub fn wkt(self) -> &'static str {
        u16::try_from(self.0)
            .ok()
            .and_then(crs_definitions::from_code)
            .map_or("undefined", |d| d.wkt)
    }

    /// The official name, e.g. `CGCS2000 / 3-degree Gauss-Kruger CM 114E`.
    #[must_use]
    pub fn name(self) -> String {
        match self.kind() {
            CrsKind::Geographic if self.0 == 4326 => "WGS 84".into(),
            CrsKind::Geographic => "China Geodetic Coordinate System 2000".into(),
            CrsKind::WebMercator => "WGS 84 / Pseudo-Mercator".into(),
            CrsKind::GaussKruger {
                zone,
                central_meridian,
                zone_prefix,
            } => {
                if zone_prefix {
                    format!("CGCS2000 / 3-degree Gauss-Kruger zone {zone}")
                } else {
                    format!("CGCS2000 / 3-degree Gauss-Kruger CM {central_meridian}E")
                }
            }
        }
    }

    /// The Chinese name, e.g. `CGCS2000 三度带 38 带（中央经线 114°E）`.
    #[must_use]
    pub fn name_zh(self) -> String {
        match self.kind() {
            CrsKind::Geographic if self.0 == 4326 => "WGS 84 地理坐标".into(),
            CrsKind::Geographic => "2000 国家大地坐标系（CGCS2000）地理坐标".into(),
            CrsKind::WebMercator => "Web 墨卡托".into(),
            CrsKind::GaussKruger {
                zone,
                central_meridian,
                zone_prefix,
            } => format!(
                "CGCS2000 高斯-克吕格三度带 {zone} 带（中央经线 {central_meridian}°E{}）",
                if zone_prefix { "，带号前缀" } else { "" }
            ),
        }
    }

    /// The area of use of coordinates in this CRS, as `[min x, min y, max x, max y]`: degrees of
    /// longitude and latitude; Web Mercator's square; for a Gauss–Krüger zone, its million
    /// metres of easting (after the zone number where it carries one) and the northern
    /// hemisphere. Coordinates outside it are mistakes, not places.
    #[must_use]
    pub fn bounds(self) -> [f64; 4] {
        match self.kind() {
            CrsKind::Geographic => [-180.0, -90.0, 180.0, 90.0],
            CrsKind::WebMercator => [
                -20_037_508.342_789_244,
                -20_048_966.104_014_6,
                20_037_508.342_789_244,
                20_048_966.104_014_6,
            ],
            CrsKind::GaussKruger {
                zone, zone_prefix, ..
            } => {
                let base = if zone_prefix {
                    f64::from(zone) * 1_000_000.0
                } else {
                    0.0
                };
                [base, 0.0, base + 1_000_000.0, 10_000_000.0]
            }
        }
    }

    /// Whether (x, y) lies in [`Crs::bounds`] (and is finite).
    #[must_use]
    pub fn holds(self, x: f64, y: f64) -> bool {
        let [a, b, c, d] = self.bounds();
        x.is_finite() && y.is_finite() && (a..=c).contains(&x) && (b..=d).contains(&y)
    }

    /// `EPSG:4547` form.
    #[must_use]
    pub fn code_string(self) -> String {
        format!("EPSG:{}", self.0)
    }
}

impl fmt::Display for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EPSG:{}", self.0)
    }
}

/// A prepared transform between two CRSs.
pub struct Transformer {
    from: Crs,
    to: Crs,
    src: Proj,
    dst: Proj,
}

impl fmt::Debug for Transformer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Transformer({} → {})", self.from, self.to)
    }
}

impl Transformer {
    /// Prepares a transform.
    ///
    /// # Errors
    /// When PROJ cannot build either definition (it can for every supported CRS).
    pub fn new(from: Crs, to: Crs) -> Result<Self, CrsError> {
        let build = |c: Crs| {
            Proj::from_proj_string(&c.proj_string()).map_err(|e| CrsError::Transform {
                from: from.0,
                to: to.0,
                x: f64::NAN,
                y: f64::NAN,
                reason: e.to_string(),
            })
        };
        Ok(Self {
            from,
            to,
            src: build(from)?,
            dst: build(to)?,
        })
    }

    /// Source CRS.
    #[must_use]
    pub fn from(&self) -> Crs {
        self.from
    }

    /// Target CRS.
    #[must_use]
    pub fn to(&self) -> Crs {
        self.to
    }

    /// Transforms one coordinate (degrees for geographic CRSs).
    ///
    /// # Errors
    /// When the coordinate is outside the projection's domain or not finite.
    pub fn apply(&self, x: f64, y: f64) -> Result<(f64, f64), CrsError> {
        if self.from == self.to {
            return Ok((x, y));
        }
        let fail = |reason: String| CrsError::Transform {
            from: self.from.0,
            to: self.to.0,
            x,
            y,
            reason,
        };
        if !x.is_finite() || !y.is_finite() {
            return Err(fail("non-finite coordinate".into()));
        }
        let (ix, iy) = if self.from.is_geographic() {
            if !(-180.0..=180.0).contains(&x) || !(-90.0..=90.0).contains(&y) {
                return Err(fail("longitude/latitude out of range".into()));
            }
            (x.to_radians(), y.to_radians())
        } else {
            (x, y)
        };
        let mut pt = (ix, iy, 0.0);
        proj4rs::transform::transform(&self.src, &self.dst, &mut pt)
            .map_err(|e| fail(e.to_string()))?;
        let out = if self.to.is_geographic() {
            (pt.0.to_degrees(), pt.1.to_degrees())
        } else {
            (pt.0, pt.1)
        };
        if out.0.is_finite() && out.1.is_finite() {
            Ok(out)
        } else {
            Err(fail("result is not finite".into()))
        }
    }

    /// Transforms every coordinate of a geometry in place.
    ///
    /// # Errors
    /// The first coordinate that fails; the geometry is then partly transformed and should be
    /// discarded.
    pub fn apply_geometry(&self, geom: &mut geo_types::Geometry<f64>) -> Result<(), CrsError> {
        if self.from == self.to {
            return Ok(());
        }
        for_each_coord_mut(geom, &mut |c| {
            let (x, y) = self.apply(c.x, c.y)?;
            *c = geo_types::Coord { x, y };
            Ok(())
        })
    }
}

/// Visits every coordinate of a geometry mutably, stopping at the first error.
///
/// # Errors
/// The first error `f` returns.
pub fn for_each_coord_mut<E>(
    geom: &mut geo_types::Geometry<f64>,
    f: &mut dyn FnMut(&mut geo_types::Coord<f64>) -> Result<(), E>,
) -> Result<(), E> {
    use geo_types::Geometry as G;
    fn ring<E>(
        ls: &mut geo_types::LineString<f64>,
        f: &mut dyn FnMut(&mut geo_types::Coord<f64>) -> Result<(), E>,
    ) -> Result<(), E> {
        ls.0.iter_mut().try_for_each(f)
    }
    fn poly<E>(
        p: &mut geo_types::Polygon<f64>,
        f: &mut dyn FnMut(&mut geo_types::Coord<f64>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut result = Ok(());
        p.exterior_mut(|ls| result = ring(ls, f));
        result?;
        let mut result = Ok(());
        p.interiors_mut(|holes| {
            result = holes.iter_mut().try_for_each(|h| ring(h, f));
        });
        result
    }
    match geom {
        G::Point(p) => f(&mut p.0),
        G::Line(l) => {
            f(&mut l.start)?;
            f(&mut l.end)
        }
        G::LineString(ls) => ring(ls, f),
        G::Polygon(p) => poly(p, f),
        G::MultiPoint(mp) => mp.0.iter_mut().try_for_each(|p| f(&mut p.0)),
        G::MultiLineString(ml) => ml.0.iter_mut().try_for_each(|l| ring(l, f)),
        G::MultiPolygon(mp) => mp.0.iter_mut().try_for_each(|p| poly(p, f)),
        G::GeometryCollection(gc) => gc.0.iter_mut().try_for_each(|g| for_each_coord_mut(g, f)),
        G::Rect(r) => {
            let (mut a, mut b) = (r.min(), r.max());
            f(&mut a)?;
            f(&mut b)?;
            *r = geo_types::Rect::new(a, b);
            Ok(())
        }
        G::Triangle(t) => {
            let [mut a, mut b, mut c] = t.to_array();
            f(&mut a)?;
            f(&mut b)?;
            f(&mut c)?;
            *t = geo_types::Triangle::new(a, b, c);
            Ok(())
        }
    }
}

/// GCJ-02 ("Mars coordinates", used by Chinese online maps) to WGS 84 / CGCS2000.
///
/// GCJ-02 adds a deliberate, position-dependent offset of a few hundred metres to WGS 84. The
/// forward formula is public; the inverse is found by fixed-point iteration to below 1e-9°
/// (about 0.1 mm). Outside mainland China's bounding box the offset is not applied, as by the
/// online maps themselves.
#[must_use]
pub fn gcj02_to_wgs84(lon: f64, lat: f64) -> (f64, f64) {
    if out_of_china(lon, lat) {
        return (lon, lat);
    }
    let (mut wlon, mut wlat) = (lon, lat);
    for _ in 0..30 {
        let (glon, glat) = wgs84_to_gcj02(wlon, wlat);
        let (dlon, dlat) = (glon - lon, glat - lat);
        wlon -= dlon;
        wlat -= dlat;
        if dlon.abs() < 1e-10 && dlat.abs() < 1e-10 {
            break;
        }
    }
    (wlon, wlat)
}

/// WGS 84 to GCJ-02 (the forward obfuscation).
#[must_use]
pub fn wgs84_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    if out_of_china(lon, lat) {
        return (lon, lat);
    }
    // Krasovsky 1940 ellipsoid, which the published formula uses.
    const A: f64 = 6_378_245.0;
    const EE: f64 = 0.006_693_421_622_965_943;
    let x = lon - 105.0;
    let y = lat - 35.0;
    let pi = std::f64::consts::PI;
    let wave = |u: f64, v: f64| {
        (20.0 * (6.0 * u * pi).sin() + 20.0 * (2.0 * u * pi).sin()) * 2.0 / 3.0
            + (20.0 * (v * pi).sin() + 40.0 * (v / 3.0 * pi).sin()) * 2.0 / 3.0
    };
    let dlat = -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * x.abs().sqrt()
        + (20.0 * (6.0 * x * pi).sin() + 20.0 * (2.0 * x * pi).sin()) * 2.0 / 3.0
        + (20.0 * (y * pi).sin() + 40.0 * (y / 3.0 * pi).sin()) * 2.0 / 3.0
        + (160.0 * (y / 12.0 * pi).sin() + 320.0 * (y * pi / 30.0).sin()) * 2.0 / 3.0;
    let dlon = 300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * x.abs().sqrt()
        + wave(x, x)
        + (150.0 * (x / 12.0 * pi).sin() + 300.0 * (x / 30.0 * pi).sin()) * 2.0 / 3.0;
    let rad_lat = lat.to_radians();
    let magic = 1.0 - EE * rad_lat.sin().powi(2);
    let sqrt_magic = magic.sqrt();
    let dlat = (dlat * 180.0) / ((A * (1.0 - EE)) / (magic * sqrt_magic) * pi);
    let dlon = (dlon * 180.0) / (A / sqrt_magic * rad_lat.cos() * pi);
    (lon + dlon, lat + dlat)
}

fn out_of_china(lon: f64, lat: f64) -> bool {
    !(72.004..=137.8347).contains(&lon) || !(0.8293..=55.8271).contains(&lat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_usual_spelling() {
        for t in [
            "EPSG:4547",
            "4547",
            "urn:ogc:def:crs:EPSG::4547",
            "http://www.opengis.net/def/crs/EPSG/0/4547",
            " epsg:4547 ",
        ] {
            assert_eq!(Crs::parse(t), Ok(Crs(4547)), "{t}");
        }
        assert_eq!(Crs::parse("OGC:CRS84"), Ok(Crs::WGS84));
        assert_eq!(Crs::parse("EPSG:2383"), Err(CrsError::Unsupported(2383)));
        assert!(matches!(Crs::parse("tmerc"), Err(CrsError::Unreadable(_))));
    }

    #[test]
    fn zones_follow_the_epsg_numbering() {
        assert_eq!(Crs::gk_zone_for(113.1, false), Ok(Crs(4547)));
        assert_eq!(Crs::gk_zone_for(113.1, true), Ok(Crs(4526)));
        assert_eq!(
            Crs(4526).kind(),
            CrsKind::GaussKruger {
                zone: 38,
                central_meridian: 114,
                zone_prefix: true
            }
        );
        assert!(Crs(4547).wkt().contains("CM 114E"));
        let abroad = Crs::gk_zone_for(10.0, false).unwrap_err();
        assert!(
            abroad.msg().zh.contains("不在任何 CGCS2000 三度带内"),
            "{abroad}"
        );
        assert!(Crs::gk_zone_for(f64::NAN, false).is_err());
    }

    #[test]
    fn a_zone_must_cover_the_whole_extent() {
        // 南海区 fits the zone of 114°E; Guangdong as a whole (109.6°E–117.3°E) fits none.
        assert_eq!(Crs::gk_zone_covering(112.8, 113.3, false), Ok(Crs(4547)));
        assert_eq!(Crs::gk_zone_covering(112.45, 115.55, false), Ok(Crs(4547)));
        let e = Crs::gk_zone_covering(109.6, 121.7, false).unwrap_err();
        assert!(e.msg().zh.contains("跨越多个"), "{e}");
        let abroad = Crs::gk_zone_covering(24.93, 24.94, false).unwrap_err();
        assert!(abroad.msg().zh.contains("不在任何"), "{abroad}");
        assert!(Crs::gk_zone_covering(113.0, 112.0, false).is_err());
    }

    #[test]
    fn nothing_may_follow_a_crs_name() {
        for t in [
            "EPSG:4490abc",
            "EPSG:4490 4547",
            "4490x",
            "urn:ogc:def:crs:EPSG::4490garbage",
            "http://www.opengis.net/def/crs/EPSG/0/4490/more",
            "fooCRS84",
            "EPSG:",
            "",
        ] {
            assert!(
                matches!(Crs::parse(t), Err(CrsError::Unreadable(_))),
                "{t:?}"
            );
        }
        assert_eq!(
            Crs::parse("urn:ogc:def:crs:EPSG:9.8:4490"),
            Ok(Crs::CGCS2000)
        );
        assert_eq!(
            Crs::parse("http://www.opengis.net/def/crs/OGC/1.3/CRS84"),
            Ok(Crs::WGS84)
        );
        assert_eq!(Crs::parse("urn:ogc:def:crs:OGC:1.3:CRS84"), Ok(Crs::WGS84));
    }

    /// Reference values printed by PROJ 9.1.1's `cs2cs` (see rust-stack.md appendix).
    #[test]
    fn gauss_kruger_matches_proj_to_a_millimetre() {
        let t = Transformer::new(Crs::CGCS2000, Crs(4527)).unwrap();
        let (x, y) = t.apply(117.5, 31.25).unwrap();
        assert!((x - 39_547_627.380_9).abs() < 1e-3, "{x}");
        assert!((y - 3_458_800.037_3).abs() < 1e-3, "{y}");
        let t = Transformer::new(Crs::CGCS2000, Crs(4548)).unwrap();
        let (x, _) = t.apply(117.5, 31.25).unwrap();
        assert!((x - 547_627.380_9).abs() < 1e-3, "{x}");
    }

    #[test]
    fn gcj02_round_trips_and_offsets_by_hundreds_of_metres() {
        let (lon, lat) = (113.15, 23.03);
        let (glon, glat) = wgs84_to_gcj02(lon, lat);
        let offset_m = ((glon - lon) * 102_000.0).hypot((glat - lat) * 111_000.0);
        assert!((300.0..800.0).contains(&offset_m), "{offset_m}");
        let (blon, blat) = gcj02_to_wgs84(glon, glat);
        assert!((blon - lon).abs() < 1e-9 && (blat - lat).abs() < 1e-9);
        assert_eq!(gcj02_to_wgs84(2.35, 48.85), (2.35, 48.85));
    }

    #[test]
    fn refuses_coordinates_outside_the_domain() {
        let t = Transformer::new(Crs::CGCS2000, Crs(4547)).unwrap();
        assert!(t.apply(f64::NAN, 1.0).is_err());
        assert!(t.apply(200.0, 1.0).is_err());
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn geographic_to_zone_and_back_is_exact(lon in 112.6f64..115.4, lat in 18.0f64..45.0) {
            let zone = Crs::gk_zone_for(lon, false).unwrap();
            let fwd = Transformer::new(Crs::CGCS2000, zone).unwrap();
            let inv = Transformer::new(zone, Crs::CGCS2000).unwrap();
            let (x, y) = fwd.apply(lon, lat).unwrap();
            let (lon2, lat2) = inv.apply(x, y).unwrap();
            prop_assert!((lon - lon2).abs() < 1e-9 && (lat - lat2).abs() < 1e-9);
        }
    }
}
