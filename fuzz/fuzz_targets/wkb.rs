//! WKB, as GeoPackages and PostGIS hold geometry: read, validate, and written back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(g) = tudi_geo::io::wkb::from_wkb(data) {
        let _ = tudi_geo::validity::problems(&g);
        let _ = tudi_geo::io::wkb::to_wkb(&g);
    }
});
