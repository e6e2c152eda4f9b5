//! tudi's transforms against PROJ's own `cs2cs` (Debian `proj-bin`, installed by `.ci/run`) on
//! random points in every Gauss–Krüger zone, both prefix conventions and Web Mercator: they must
//! agree to 1 mm.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::process::{Command, Stdio};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tudi_geo::crs::{Crs, Transformer};

/// Runs `cs2cs` on lines of input and returns the first two numbers of each output line.
fn cs2cs(from: &str, to: &str, input: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut child = Command::new("cs2cs")
        .args(["-f", "%.10f", from, to])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("cs2cs from Debian's proj-bin must be installed (see .ci/run)");
    {
        let mut stdin = child.stdin.take().unwrap();
        for (a, b) in input {
            writeln!(stdin, "{a} {b}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let mut it = l.split_whitespace().map(|v| v.parse::<f64>().unwrap());
            (it.next().unwrap(), it.next().unwrap())
        })
        .collect()
}

#[test]
fn gauss_kruger_and_web_mercator_agree_with_cs2cs_to_a_millimetre() {
    let mut rng = ChaCha8Rng::seed_from_u64(4490);
    let mut worst: f64 = 0.0;
    for zone in 25..=45u32 {
        let cm = f64::from(zone * 3);
        let points: Vec<(f64, f64)> = (0..40)
            .map(|_| {
                (
                    cm + rng.random_range(-1.5..1.5),
                    rng.random_range(18.0..53.0),
                )
            })
            .collect();
        for epsg in [4513 + zone - 25, 4534 + zone - 25] {
            let crs = Crs::from_epsg(epsg).unwrap();
            let t = Transformer::new(Crs::CGCS2000, crs).unwrap();
            // EPSG axis order: cs2cs reads latitude first and writes northing first.
            let lat_lon: Vec<(f64, f64)> = points.iter().map(|(lon, lat)| (*lat, *lon)).collect();
            let reference = cs2cs("EPSG:4490", &format!("EPSG:{epsg}"), &lat_lon);
            assert_eq!(reference.len(), points.len());
            for ((lon, lat), (north, east)) in points.iter().zip(&reference) {
                let (x, y) = t.apply(*lon, *lat).unwrap();
                let d = (x - east).hypot(y - north);
                worst = worst.max(d);
                assert!(
                    d < 1e-3,
                    "EPSG:{epsg} ({lon}, {lat}): tudi ({x}, {y}) vs PROJ ({east}, {north})"
                );
            }
            // And back: projected to geographic.
            let inv = Transformer::new(crs, Crs::CGCS2000).unwrap();
            let back = cs2cs(&format!("EPSG:{epsg}"), "EPSG:4490", &reference);
            for ((north, east), (lat, lon)) in reference.iter().zip(&back) {
                let (x, y) = inv.apply(*east, *north).unwrap();
                // 1e-8 degrees is about 1 mm.
                assert!(
                    (x - lon).abs() < 1e-8 && (y - lat).abs() < 1e-8,
                    "EPSG:{epsg} inverse"
                );
            }
        }
    }
    let points: Vec<(f64, f64)> = (0..200)
        .map(|_| (rng.random_range(73.0..135.0), rng.random_range(18.0..53.0)))
        .collect();
    let lat_lon: Vec<(f64, f64)> = points.iter().map(|(lon, lat)| (*lat, *lon)).collect();
    let reference = cs2cs("EPSG:4490", "EPSG:3857", &lat_lon);
    let t = Transformer::new(Crs::CGCS2000, Crs::WEB_MERCATOR).unwrap();
    for ((lon, lat), (east, north)) in points.iter().zip(&reference) {
        let (x, y) = t.apply(*lon, *lat).unwrap();
        assert!((x - east).hypot(y - north) < 1e-3, "3857 ({lon}, {lat})");
    }
    eprintln!(
        "worst Gauss-Kruger difference from PROJ: {:.6} mm",
        worst * 1000.0
    );
}
