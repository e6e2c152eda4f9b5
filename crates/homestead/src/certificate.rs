//! The certificate as a PDF: an A4 page with the certificate's fields in Chinese, the signing key
//! and signature, and a QR code that opens the public verification page.
//!
//! Text is set with Noto Sans CJK SC (Debian's `fonts-noto-cjk`; the collection's index 2 is the
//! Simplified Chinese face), which krilla subsets and embeds with a ToUnicode map so the text can
//! be searched and copied. The QR code is drawn as vector squares, with its quiet zone.

use std::sync::{Arc, OnceLock};

use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::text::{Font, TextDirection};
use qrcode::{EcLevel, QrCode};
use serde_json::Value;
use tudi_core::msg::Msg;

use crate::registry::{Certificate, CertificateStatus};

/// Where the CJK font is looked for (the first that exists), after `TUDI_CJK_FONT`.
pub const FONT_PATHS: [&str; 2] = [
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
];

/// The face of the collection with Simplified Chinese glyph forms.
const SC_INDEX: u32 = 2;

/// Why a PDF could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdfError {
    /// No CJK font on this machine.
    #[error("no CJK font found (install fonts-noto-cjk or set TUDI_CJK_FONT)")]
    NoFont,
    /// The QR code could not hold the URL.
    #[error("QR code: {0}")]
    Qr(String),
    /// krilla refused.
    #[error("PDF: {0}")]
    Pdf(String),
}

impl PdfError {
    /// The message for users.
    #[must_use]
    pub fn message(&self) -> Msg {
        match self {
            Self::NoFont => Msg::new(
                "服务器缺少中文字体，无法生成证照 PDF（请安装 fonts-noto-cjk 或设置 TUDI_CJK_FONT）",
                self.to_string(),
            ),
            Self::Qr(e) => Msg::new(format!("无法生成二维码：{e}"), self.to_string()),
            Self::Pdf(e) => Msg::new(format!("无法生成 PDF：{e}"), self.to_string()),
        }
    }
}

fn font_data() -> Option<Arc<Vec<u8>>> {
    static FONT: OnceLock<Option<Arc<Vec<u8>>>> = OnceLock::new();
    FONT.get_or_init(|| {
        let from_env = std::env::var("TUDI_CJK_FONT").ok();
        from_env
            .iter()
            .map(String::as_str)
            .chain(FONT_PATHS)
            .find_map(|p| std::fs::read(p).ok())
            .map(Arc::new)
    })
    .clone()
}

fn font() -> Result<Font, PdfError> {
    let data = font_data().ok_or(PdfError::NoFont)?;
    let index = if std::env::var("TUDI_CJK_FONT").is_ok_and(|p| !p.ends_with(".ttc")) {
        0
    } else {
        SC_INDEX
    };
    Font::new(data.into(), index).ok_or(PdfError::NoFont)
}

/// The text a QR code carries: the verification page, with the start of the signature, which
/// public verification asks for (only the certificate and its holder have it), so a code copied
/// onto another certificate is caught and ids cannot be counted through.
#[must_use]
pub fn qr_target(base_url: &str, cert: &Certificate) -> String {
    let sig: String = cert
        .signed
        .signature
        .chars()
        .take(crate::registry::PROOF_CHARS)
        .collect();
    format!(
        "{}/verify/{}?s={sig}",
        base_url.trim_end_matches('/'),
        cert.id
    )
}

fn black() -> Fill {
    Fill {
        paint: rgb::Color::new(0, 0, 0).into(),
        opacity: NormalizedF32::ONE,
        rule: krilla::paint::FillRule::NonZero,
    }
}

fn colour(r: u8, g: u8, b: u8) -> Fill {
    Fill {
        paint: rgb::Color::new(r, g, b).into(),
        ..black()
    }
}

/// Splits `text` into lines at most `width` ems wide (CJK text has no spaces to break at; Latin
/// letters and digits count about half an em).
fn wrap(text: &str, width: f32) -> Vec<String> {
    let mut lines = vec![String::new()];
    let mut used = 0.0;
    for c in text.chars() {
        let w = if c.is_ascii() { 0.56 } else { 1.0 };
        if used + w > width && !lines.last().is_some_and(String::is_empty) {
            lines.push(String::new());
            used = 0.0;
        }
        if let Some(l) = lines.last_mut() {
            l.push(c);
        }
        used += w;
    }
    lines
}

fn value_text(payload: &Value, key: &str) -> String {
    match payload.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(v) if !v.is_null() => v.to_string(),
        _ => String::new(),
    }
}

/// Renders `cert` as a one-page PDF whose QR code opens `verify_url`.
///
/// # Errors
/// [`PdfError`] when no CJK font is installed or the PDF cannot be written.
pub fn render_pdf(cert: &Certificate, verify_url: &str) -> Result<Vec<u8>, PdfError> {
    let font = font()?;
    let payload = &cert.signed.payload;
    let mut document = Document::new();
    document.set_metadata(
        Metadata::new()
            .title(format!("不动产权证书 {}", cert.number))
            .creator("tudi".to_owned())
            .producer("tudi (krilla)".to_owned()),
    );
    let (w, h) = (595.0_f32, 842.0_f32);
    let mut page = document.start_page_with(
        PageSettings::from_wh(w, h).ok_or_else(|| PdfError::Pdf("page size".into()))?,
    );
    let mut s = page.surface();
    // Frame.
    s.set_fill(None);
    s.set_stroke(Some(Stroke {
        paint: rgb::Color::new(150, 40, 30).into(),
        width: 2.0,
        ..Stroke::default()
    }));
    let mut frame = PathBuilder::new();
    if let Some(r) = Rect::from_xywh(28.0, 28.0, w - 56.0, h - 56.0) {
        frame.push_rect(r);
    }
    if let Some(p) = frame.finish() {
        s.draw_path(&p);
    }
    s.set_stroke(None);
    let text = |s: &mut krilla::surface::Surface<'_>, x: f32, y: f32, size: f32, t: &str| {
        s.draw_text(
            Point::from_xy(x, y),
            font.clone(),
            size,
            t,
            false,
            TextDirection::Auto,
        );
    };
    s.set_fill(Some(colour(150, 40, 30)));
    text(&mut s, 201.0, 100.0, 32.0, "不动产权证书");
    s.set_fill(Some(black()));
    text(&mut s, 250.0, 126.0, 13.0, "（电子证照）");
    text(&mut s, 60.0, 170.0, 12.0, &cert.number);
    let rows: [(&str, &str); 13] = [
        ("权利人", "holder"),
        ("证件号码", "holder_id"),
        ("不动产单元号", "unit_code"),
        ("宗地代码", "parcel_code"),
        ("权利类型", "right"),
        ("权利性质", "nature"),
        ("用途", "use"),
        ("坐落", "location"),
        ("宅基地面积（㎡）", "land_area_m2"),
        ("房屋建筑面积（㎡）", "floor_area_m2"),
        ("宅基地批准书", "homestead_permit"),
        ("乡村建设规划许可证", "planning_permit"),
        ("登记日期", "issued_on"),
    ];
    let mut y = 210.0;
    for (label, key) in rows {
        s.set_fill(Some(colour(90, 90, 90)));
        text(&mut s, 60.0, y, 11.0, label);
        s.set_fill(Some(black()));
        for line in wrap(&value_text(payload, key), 28.0) {
            text(&mut s, 190.0, y, 12.0, &line);
            y += 18.0;
        }
        y += 8.0;
    }
    let issuer = value_text(payload, "issuer");
    text(&mut s, 60.0, y + 10.0, 12.0, &format!("登记机构：{issuer}"));
    if cert.status == CertificateStatus::Revoked {
        s.set_fill(Some(colour(200, 0, 0)));
        text(&mut s, 60.0, y + 40.0, 20.0, "本证照已注销");
    }
    // The QR code, bottom right, with a quiet zone of four modules.
    let code = QrCode::with_error_correction_level(verify_url.as_bytes(), EcLevel::M)
        .map_err(|e| PdfError::Qr(e.to_string()))?;
    let modules = code.width();
    let side = 130.0_f32;
    let cell = side / (modules as f32 + 8.0);
    let (qx, qy) = (w - 60.0 - side, h - 60.0 - side);
    let mut qr = PathBuilder::new();
    for (i, c) in code.to_colors().iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let (col, row) = ((i % modules) as f32, (i / modules) as f32);
            if let Some(r) =
                Rect::from_xywh(qx + (col + 4.0) * cell, qy + (row + 4.0) * cell, cell, cell)
            {
                qr.push_rect(r);
            }
        }
    }
    s.set_fill(Some(black()));
    if let Some(p) = qr.finish() {
        s.draw_path(&p);
    }
    text(&mut s, qx + 28.0, qy + side + 14.0, 10.0, "扫码验证真伪");
    s.set_fill(Some(colour(90, 90, 90)));
    let sig: String = cert.signed.signature.chars().take(32).collect();
    text(
        &mut s,
        60.0,
        h - 120.0,
        9.0,
        &format!("签名算法 Ed25519 · 密钥 {}", cert.signed.key),
    );
    text(&mut s, 60.0, h - 106.0, 9.0, &format!("签名 {sig}…"));
    text(
        &mut s,
        60.0,
        h - 92.0,
        9.0,
        &format!("证照标识 {}", cert.id),
    );
    s.finish();
    page.finish();
    document
        .finish()
        .map_err(|e| PdfError::Pdf(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_wrap_by_characters() {
        assert_eq!(wrap("一二三四五", 2.0), ["一二", "三四", "五"]);
        assert_eq!(wrap("", 3.0), [""]);
        // A 28-character unit code fits on one 28-em line; 28 Chinese characters would not.
        assert_eq!(wrap("440605121208JC00001F00010001", 28.0).len(), 1);
        assert_eq!(wrap(&"坐".repeat(29), 28.0).len(), 2);
    }
}
