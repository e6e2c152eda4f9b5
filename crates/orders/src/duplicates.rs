//! Duplicate suggestions at intake: open orders of the same category, near the new one in space
//! and time, ranked by how alike their descriptions read. The operator decides; a confirmed
//! duplicate is merged (并单) so its reporter follows the surviving order.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::order::Order;

/// How near is near.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Metres between the two locations.
    pub radius_m: f64,
    /// How long before the new order the other may have come in.
    pub within: SignedDuration,
    /// The least description similarity (0–1) for an order further than `close_m`.
    pub min_similarity: f64,
    /// Within this distance an order is suggested whatever its text.
    pub close_m: f64,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            radius_m: 300.0,
            within: SignedDuration::from_hours(24 * 7),
            min_similarity: 0.2,
            close_m: 50.0,
        }
    }
}

/// What is being taken in.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe<'a> {
    /// Category code.
    pub category: &'a str,
    /// Longitude, latitude.
    pub location: [f64; 2],
    /// The description.
    pub description: &'a str,
    /// When.
    pub at: Timestamp,
}

/// One suggested duplicate.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Suggestion {
    /// The open order.
    pub number: String,
    /// Metres apart.
    pub distance_m: f64,
    /// Hours between the two.
    pub hours_apart: f64,
    /// Description similarity, 0–1 (Dice coefficient of character pairs).
    pub similarity: f64,
    /// Its description.
    pub description: String,
}

/// The open orders among `orders` that may be the same matter as `probe`, most likely first.
#[must_use]
pub fn suggest(orders: &[Order], probe: &Probe<'_>, window: &Window) -> Vec<Suggestion> {
    let mut out: Vec<Suggestion> = orders
        .iter()
        .filter(|o| o.category == probe.category && o.state.public().open311() == "open")
        .filter_map(|o| {
            let location = o.location?;
            let distance_m = metres(location, probe.location);
            let apart = probe.at.duration_since(o.received_at);
            if distance_m > window.radius_m || apart.abs() > window.within {
                return None;
            }
            let similarity = dice(&o.description, probe.description);
            if distance_m > window.close_m && similarity < window.min_similarity {
                return None;
            }
            Some(Suggestion {
                number: o.number.clone(),
                distance_m: (distance_m * 10.0).round() / 10.0,
                hours_apart: (apart.as_secs_f64() / 360.0).round() / 10.0,
                similarity: (similarity * 100.0).round() / 100.0,
                description: o.description.clone(),
            })
        })
        .collect();
    // Alike and near first: similarity, less a penalty growing with distance.
    let score = |s: &Suggestion| s.similarity - s.distance_m / 1000.0;
    out.sort_by(|a, b| score(b).total_cmp(&score(a)));
    out
}

/// Great-circle distance in metres (a sphere of the mean Earth radius: ample for "nearby").
fn metres(a: [f64; 2], b: [f64; 2]) -> f64 {
    const R: f64 = 6_371_008.8;
    let (lat1, lat2) = (a[1].to_radians(), b[1].to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b[0] - a[0]).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * R * h.sqrt().asin()
}

/// Dice coefficient of the two texts' adjacent character pairs (works for Chinese without word
/// segmentation); punctuation and spaces are ignored.
fn dice(a: &str, b: &str) -> f64 {
    let pairs = |s: &str| {
        let chars: Vec<char> = s.chars().filter(|c| c.is_alphanumeric()).collect();
        let mut v: Vec<(char, char)> = chars.windows(2).map(|w| (w[0], w[1])).collect();
        v.sort_unstable();
        v
    };
    let (pa, pb) = (pairs(a), pairs(b));
    if pa.is_empty() || pb.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < pa.len() && j < pb.len() {
        match pa[i].cmp(&pb[j]) {
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let score = 2.0 * common as f64 / (pa.len() + pb.len()) as f64;
    score
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn near_and_alike_text_scores_above_unrelated_text() {
        let a = dice(
            "桂澜路口有流动摊贩占道经营",
            "桂澜路口流动摊贩占道经营影响通行",
        );
        let b = dice("桂澜路口有流动摊贩占道经营", "咨询宅基地申请材料");
        assert!(a > 0.5 && b < 0.1, "{a} {b}");
        // 0.001° of latitude is about 111 m.
        let d = metres([113.15, 23.04], [113.15, 23.041]);
        assert!((d - 111.2).abs() < 0.5, "{d}");
    }
}
