//! GeoJSON as imports and requests bring it: a geometry (compliance, homestead sites), a whole
//! file streamed feature by feature, the parallel reader of large files, and a file that is a
//! single Feature or a bare Geometry. None may panic;
//! what parses must validate without panicking too (validity is the next thing done to it).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(g) = tudi_geo::io::geojson::parse_geometry(text)
    {
        let _ = tudi_geo::validity::problems(&g);
    }
    for f in tudi_geo::io::geojson::read_features(data).take(64) {
        let _ = f;
    }
    let _ = tudi_geo::io::geojson::read_features_parallel(data);
    if let Some(Ok(f)) = tudi_geo::io::geojson::single_feature(data)
        && let Some(g) = f.geometry
    {
        let _ = tudi_geo::validity::problems(&g);
    }
    let _ = tudi_geo::io::geojson::detect_crs(data);
});
