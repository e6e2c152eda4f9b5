//! Area units: square metres, 亩 (mu) and 公顷 (hectare).
//!
//! 1 亩 = 2000/3 m² exactly and 1 公顷 = 15 亩 (`reference/domain-standards.md` §9.1). Areas are
//! kept in m² and converted only for display, so no rounding accumulates.

use std::fmt::Write as _;

/// Square metres in one 亩.
pub const M2_PER_MU: f64 = 2000.0 / 3.0;
/// Square metres in one 公顷 (hectare).
pub const M2_PER_HECTARE: f64 = 10_000.0;

/// Converts m² to 亩.
#[must_use]
pub fn m2_to_mu(m2: f64) -> f64 {
    m2 * 3.0 / 2000.0
}

/// Converts 亩 to m².
#[must_use]
pub fn mu_to_m2(mu: f64) -> f64 {
    mu * M2_PER_MU
}

/// Converts m² to 公顷.
#[must_use]
pub fn m2_to_hectare(m2: f64) -> f64 {
    m2 / M2_PER_HECTARE
}

/// Groups the integer part of a decimal with commas every three digits: `1234567.8` → `1,234,567.80`
/// with `decimals = 2`.
#[must_use]
pub fn group_thousands(value: f64, decimals: usize) -> String {
    let raw = format!("{:.*}", decimals, value.abs());
    let (int_part, frac_part) = match raw.split_once('.') {
        Some((i, f)) => (i.to_owned(), Some(f.to_owned())),
        None => (raw.clone(), None),
    };
    let mut grouped = String::new();
    let digits: Vec<char> = int_part.chars().collect();
    for (i, c) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(*c);
    }
    let mut out = String::new();
    if value < 0.0 && raw.chars().any(|c| c != '0' && c != '.') {
        out.push('-');
    }
    out.push_str(&grouped);
    if let Some(f) = frac_part {
        let _ = write!(out, ".{f}");
    }
    out
}

/// Formats an area for a Chinese reader: `1,234.56 平方米（1.85 亩）`; areas of 1 公顷 or more also
/// show 公顷, and 10,000 亩 or more are given in 万亩.
#[must_use]
pub fn format_area_zh(m2: f64) -> String {
    let mu = m2_to_mu(m2);
    let mu_text = if mu.abs() >= 10_000.0 {
        format!("{} 万亩", group_thousands(mu / 10_000.0, 4))
    } else {
        format!("{} 亩", group_thousands(mu, 2))
    };
    if m2.abs() >= M2_PER_HECTARE {
        format!(
            "{} 平方米（{}，{} 公顷）",
            group_thousands(m2, 2),
            mu_text,
            group_thousands(m2_to_hectare(m2), 4)
        )
    } else {
        format!("{} 平方米（{}）", group_thousands(m2, 2), mu_text)
    }
}

/// Formats an area in English: `1,234.56 m² (1.85 mu)`, adding hectares from 1 ha.
#[must_use]
pub fn format_area_en(m2: f64) -> String {
    let mu = group_thousands(m2_to_mu(m2), 2);
    if m2.abs() >= M2_PER_HECTARE {
        format!(
            "{} m² ({mu} mu, {} ha)",
            group_thousands(m2, 2),
            group_thousands(m2_to_hectare(m2), 4)
        )
    } else {
        format!("{} m² ({mu} mu)", group_thousands(m2, 2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_mu_is_two_thousand_thirds_square_metres() {
        assert!((m2_to_mu(2000.0 / 3.0) - 1.0).abs() < 1e-12);
        assert!((mu_to_m2(15.0) - M2_PER_HECTARE).abs() < 1e-9);
        assert!((m2_to_mu(666.667) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn formats_areas_for_chinese_readers() {
        assert_eq!(format_area_zh(1234.5678), "1,234.57 平方米（1.85 亩）");
        assert_eq!(
            format_area_zh(20_000.0),
            "20,000.00 平方米（30.00 亩，2.0000 公顷）"
        );
        assert_eq!(
            format_area_zh(10_000_000.0),
            "10,000,000.00 平方米（1.5000 万亩，1,000.0000 公顷）"
        );
        assert_eq!(format_area_en(120.0), "120.00 m² (0.18 mu)");
    }

    #[test]
    fn groups_thousands_with_sign() {
        assert_eq!(group_thousands(-1234567.891, 1), "-1,234,567.9");
        assert_eq!(group_thousands(999.0, 0), "999");
        assert_eq!(group_thousands(-0.001, 2), "0.00");
    }
}
