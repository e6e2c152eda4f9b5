//! The TSV a district administrator uploads: work-order categories and the holiday calendar.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(t) = tudi_orders::category::Taxonomy::from_tsv(text) {
            for c in t.iter() {
                let _ = t.lineage(&c.code);
            }
        }
        if let Ok(cal) = tudi_core::calendar::WorkCalendar::from_tsv(text) {
            let _ = cal.years();
        }
        let _ = tudi_core::calendar::WorkCalendar::china_with(text);
    }
});
