//! Files people attach (site photos, scanned forms): the types accepted, each recognised by its
//! first bytes so that what a client claims is checked, the size limit and the file name.

use crate::msg::Msg;

/// The file types accepted, with the bytes each begins with.
pub const FILE_TYPES: [(&str, &[u8]); 4] = [
    ("image/jpeg", b"\xff\xd8\xff"),
    ("image/png", b"\x89PNG\r\n\x1a\n"),
    ("application/pdf", b"%PDF-"),
    ("image/webp", b"RIFF"),
];

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

/// Checks an upload and returns its name trimmed: not empty, at most `max_bytes`, one of
/// [`FILE_TYPES`] whose first bytes match, a name of 1–100 characters without a path.
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
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.contains(['/', '\\']) {
        return Err(problem(
            "name",
            "文件名称应为 1 至 100 个字符，且不含路径".into(),
            "the name must be 1–100 characters without a path".into(),
        ));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_file_is_what_its_first_bytes_say() {
        let png = b"\x89PNG\r\n\x1a\nrest";
        assert_eq!(
            check(" 照片.png ", "image/png", png, 100).unwrap(),
            "照片.png"
        );
        assert_eq!(
            check("a.jpg", "image/jpeg", png, 100).unwrap_err().field,
            "file"
        );
        assert_eq!(
            check("a.txt", "text/plain", b"hi", 100).unwrap_err().field,
            "file"
        );
        assert_eq!(
            check("a.png", "image/png", png, 4).unwrap_err().field,
            "file"
        );
        assert_eq!(
            check("a.png", "image/png", b"", 100).unwrap_err().field,
            "file"
        );
        assert_eq!(
            check("../a.png", "image/png", png, 100).unwrap_err().field,
            "name"
        );
        assert_eq!(
            check("  ", "image/png", png, 100).unwrap_err().field,
            "name"
        );
    }
}
