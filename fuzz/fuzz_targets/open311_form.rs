//! The GeoReport v2 `POST requests` form any client may send, and the free-text checks intake
//! then applies to what it carries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tudi_core::text::{Lines, check_optional};

fuzz_target!(|data: &[u8]| {
    if let Ok(form) = tudi_server::parse_request_form(data) {
        let o = form.order;
        let _ = check_optional(&o.description, 2000, Lines::Many);
        let _ = o.address.as_deref().map(|a| check_optional(a, 200, Lines::One));
        if let Some(r) = o.reporter {
            let _ = r.name.as_deref().map(|n| check_optional(n, 50, Lines::One));
            let _ = r.phone.as_deref().map(tudi_core::personal::Phone::parse);
        }
    }
});
