//! A Shapefile's `.shp` and `.dbf` (in GBK or UTF-8), as imports bring them: the input is cut
//! in two at the point its first two bytes name.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use tudi_onemap::shp::{DbfEncoding, read_from};

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let rest = &data[3..];
    let cut = usize::from(u16::from_le_bytes([data[0], data[1]])).min(rest.len());
    let (shp, dbf) = rest.split_at(cut);
    let encoding = if data[2] & 1 == 0 {
        DbfEncoding::Gbk
    } else {
        DbfEncoding::Utf8
    };
    if let Ok(features) = read_from(Cursor::new(shp), Cursor::new(dbf), encoding) {
        for f in features {
            if let Ok(Some(g)) = f.geometry {
                let _ = tudi_geo::validity::problems(&g);
            }
        }
    }
});
