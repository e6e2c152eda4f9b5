//! Files people attached (photos, scanned forms), served back as downloads: never shown inline
//! in the console's origin, so a file that decodes as an image but carries a page inside it
//! cannot run there; the name in `Content-Disposition` encoded so no character of it can end
//! the header or forge another.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// A stored file as a download named `name`.
pub(crate) fn download(content_type: &str, bytes: Vec<u8>, name: &str) -> Response {
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition(name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

/// `attachment` with an ASCII fallback name (anything else replaced by `_`) and the RFC 5987
/// form of the real one.
fn disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-._ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        percent(name)
    )
}

/// RFC 5987 encoding of a file name: every byte but unreserved ASCII as `%XX`.
fn percent(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_break_the_header() {
        let d = disposition("现场\r\nSet-Cookie: x=1\".jpg");
        assert!(!d.contains('\r') && !d.contains('\n'));
        assert!(d.starts_with("attachment; filename=\"__"));
        assert!(
            d.contains("filename*=UTF-8''%E7%8E%B0%E5%9C%BA%0D%0ASet-Cookie%3A%20x%3D1%22.jpg")
        );
    }
}
