//! GeoPackage geometry blobs (header, envelope, WKB), as foreign GeoPackages bring them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tudi_geo::io::wkb::gpkg_header(data);
    let _ = tudi_geo::io::wkb::gpkg_envelope(data);
    if let Ok(g) = tudi_geo::io::wkb::from_gpkg(data) {
        let _ = tudi_geo::validity::problems(&g);
        let _ = tudi_geo::io::wkb::to_gpkg(&g, 4490);
    }
});
