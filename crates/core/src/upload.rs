//! Files people attach (site photos, scanned forms): the types accepted, each checked by what
//! the bytes are rather than what a client claims — images are decoded in full, a PDF must
//! have a PDF's header and end — the size limit and the file name.

use std::io::Cursor;

use crate::msg::Msg;
use crate::text::{self, Lines};

/// The file types accepted, with the bytes each begins with.
pub const FILE_TYPES: [(&str, &[u8]); 4] = [
    ("image/jpeg", b"\xff\xd8\xff"),
    ("image/png", b"\x89PNG\r\n\x1a\n"),
    ("application/pdf", b"%PDF-"),
    ("image/webp", b"RIFF"),
];

/// Longest file name (characters).
pub const MAX_NAME: usize = 100;

/// Largest image accepted, per side (pixels): a 100-megapixel camera is below it.
const MAX_SIDE: u32 = 16_384;
/// Memory an image may take decoded (bytes), so a small file cannot claim gigabytes.
const MAX_DECODED: u64 = 512 << 20;

/// What is wrong with an upload: the field (`file` or `name`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadProblem {
    /// `file` or `name`.
    pub field: &'static str,
    /// Why.
    pub message: Msg,
}

fn problem(field: &'static str, zh: String, en: String) -> UploadProblem {
    UploadProblem {
        field,
        message: Msg::new(zh, en),
    }
}

/// Whether the bytes are a whole file of `content_type`, not just its first bytes.
fn whole(content_type: &str, bytes: &[u8]) -> Result<(), String> {
    let format = match content_type {
        "image/jpeg" => image::ImageFormat::Jpeg,
        "image/png" => image::ImageFormat::Png,
        "image/webp" => {
            // RIFF is a container (WAVE, AVI …): the form type must be WEBP.
            if bytes.get(8..12) != Some(b"WEBP") {
                return Err("not a WebP RIFF file".into());
            }
            image::ImageFormat::WebP
        }
        "application/pdf" => return whole_pdf(bytes),
        other => return Err(format!("unsupported type {other}")),
    };
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED);
    reader.limits(limits);
    reader.decode().map(|_| ()).map_err(|e| e.to_string())
}

/// A PDF starts with its version line and ends with `%%EOF` (within the last kilobyte, as
/// readers look for it there).
fn whole_pdf(bytes: &[u8]) -> Result<(), String> {
    let version_ok = bytes.len() > 8
        && bytes.starts_with(b"%PDF-")
        && bytes[5].is_ascii_digit()
        && bytes[6] == b'.'
        && bytes[7].is_ascii_digit();
    if !version_ok {
        return Err("no PDF version line".into());
    }
    let tail = &bytes[bytes.len().saturating_sub(1024)..];
    if !tail.windows(5).any(|w| w == b"%%EOF") {
        return Err("no %%EOF at the end: truncated or not a PDF".into());
    }
    Ok(())
}

/// Checks a file name and returns it trimmed: 1–[`MAX_NAME`] characters, one line without
/// control or direction characters, no path (`/`, `\\`, `..`).
///
/// # Errors
/// An [`UploadProblem`] on `name`.
pub fn check_name(name: &str) -> Result<&str, UploadProblem> {
    let name = text::check(name, MAX_NAME, Lines::One).map_err(|f| UploadProblem {
        field: "name",
        message: f.message("文件名称", "name"),
    })?;
    if name.contains(['/', '\\']) || name.contains("..") {
        return Err(problem(
            "name",
            "文件名称不能包含路径（/、\\ 或 ..）".into(),
            "the name must not hold a path (/, \\ or ..)".into(),
        ));
    }
    Ok(name)
}

/// Checks an upload and returns its name trimmed: not empty, at most `max_bytes`, one of
/// [`FILE_TYPES`] whose bytes are a whole file of that type, and a name as [`check_name`]
/// accepts.
///
/// # Errors
/// The first [`UploadProblem`].
pub fn check<'n>(
    name: &'n str,
    content_type: &str,
    bytes: &[u8],
    max_bytes: usize,
) -> Result<&'n str, UploadProblem> {
    if bytes.is_empty() {
        return Err(problem(
            "file",
            "文件为空".into(),
            "the file is empty".into(),
        ));
    }
    if bytes.len() > max_bytes {
        #[allow(clippy::cast_precision_loss)]
        let mb = bytes.len() as f64 / 1_048_576.0;
        return Err(problem(
            "file",
            format!("文件不能超过 {} MB（本文件 {mb:.1} MB）", max_bytes >> 20),
            format!(
                "files are limited to {} MiB (this one {mb:.1} MiB)",
                max_bytes >> 20
            ),
        ));
    }
    let Some((_, magic)) = FILE_TYPES.iter().find(|(t, _)| *t == content_type) else {
        return Err(problem(
            "file",
            format!("不支持的文件类型 {content_type}：只接受 JPEG、PNG、WebP 图片和 PDF"),
            format!("unsupported type {content_type}: JPEG, PNG, WebP or PDF only"),
        ));
    };
    if !bytes.starts_with(magic) {
        return Err(problem(
            "file",
            format!("文件内容不是 {content_type}"),
            format!("the file's bytes are not {content_type}"),
        ));
    }
    if let Err(why) = whole(content_type, bytes) {
        return Err(problem(
            "file",
            format!("文件内容不是完整有效的 {content_type}，可能已损坏或是其他类型的文件"),
            format!("the file is not a whole, valid {content_type}: {why}"),
        ));
    }
    check_name(name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn encoded(format: image::ImageFormat) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(4, 4, image::Rgb([10, 200, 30]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn a_file_is_what_its_bytes_decode_as() {
        let png = encoded(image::ImageFormat::Png);
        assert_eq!(
            check(" 照片.png ", "image/png", &png, 1000).unwrap(),
            "照片.png"
        );
        assert!(
            check(
                "a.jpg",
                "image/jpeg",
                &encoded(image::ImageFormat::Jpeg),
                1000
            )
            .is_ok()
        );
        assert!(
            check(
                "a.webp",
                "image/webp",
                &encoded(image::ImageFormat::WebP),
                1000
            )
            .is_ok()
        );
        let pdf = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n";
        assert!(check("a.pdf", "application/pdf", pdf, 1000).is_ok());
        assert_eq!(
            check("a.jpg", "image/jpeg", &png, 1000).unwrap_err().field,
            "file"
        );
        assert_eq!(
            check("a.txt", "text/plain", b"hi", 100).unwrap_err().field,
            "file"
        );
        assert_eq!(
            check("a.png", "image/png", &png, 4).unwrap_err().field,
            "file"
        );
        assert_eq!(
            check("a.png", "image/png", b"", 100).unwrap_err().field,
            "file"
        );
        assert_eq!(
            check("../a.png", "image/png", &png, 1000)
                .unwrap_err()
                .field,
            "name"
        );
        assert_eq!(
            check("  ", "image/png", &png, 1000).unwrap_err().field,
            "name"
        );
    }

    #[test]
    fn a_file_that_only_starts_like_one_is_refused() {
        // A PNG signature followed by a web page.
        let mut fake = b"\x89PNG\r\n\x1a\n".to_vec();
        fake.extend_from_slice(b"<html><script>alert(1)</script></html>");
        let e = check("a.png", "image/png", &fake, 1000).unwrap_err();
        assert_eq!(e.field, "file");
        assert!(e.message.zh.contains("完整有效"), "{e:?}");
        // A WAVE file is RIFF too.
        let wave = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00";
        assert_eq!(
            check("a.webp", "image/webp", wave, 1000).unwrap_err().field,
            "file"
        );
        // A truncated JPEG and a PDF without its end.
        let jpeg = encoded(image::ImageFormat::Jpeg);
        assert!(check("a.jpg", "image/jpeg", &jpeg[..jpeg.len() / 2], 1000).is_err());
        assert!(check("a.pdf", "application/pdf", b"%PDF-1.7\n<html>", 1000).is_err());
    }

    #[test]
    fn names_hold_no_controls_directions_or_paths() {
        let png = encoded(image::ImageFormat::Png);
        for bad in [
            "a\u{0}.png",
            "a\r\nSet-Cookie: x.png",
            "photo\u{202E}gnp.exe",
            "..",
            "a/../b.png",
            "\u{200B}",
        ] {
            assert_eq!(
                check(bad, "image/png", &png, 1000).unwrap_err().field,
                "name",
                "{bad:?}"
            );
        }
        assert_eq!(check_name(&"名".repeat(101)).unwrap_err().field, "name");
    }
}
