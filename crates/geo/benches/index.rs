//! Point-in-grid lookups and spatial-index build, the two in-memory figures of the foundation
//! issue. Run with `cargo bench -p tudi-geo --bench index`; results go to docs/benchmarks.md.
//!
//! The micro-grid mirrors `shared/reference/postgis-baseline.md`: 71 × 71 cells tiling a 50 km
//! square with wavy shared edges (about 21 vertices per cell). The parcels are 1,000,000 jittered
//! 15 m lots, as the demo district makes them.

#![allow(clippy::unwrap_used, clippy::cast_precision_loss)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use geo_types::{Coord, Geometry, LineString, Polygon};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tudi_geo::index::SpatialIndex;

const N: usize = 71;
const EXTENT: f64 = 50_000.0;

/// A wavy edge from `a` to `b` (`a` the lower/left corner), shared exactly by the two cells on
/// either side.
fn edge(a: Coord<f64>, b: Coord<f64>) -> Vec<Coord<f64>> {
    let steps = 5;
    (0..=steps)
        .map(|k| {
            let t = k as f64 / steps as f64;
            let (dx, dy) = (b.x - a.x, b.y - a.y);
            // The wave depends only on the edge's own coordinates, so both neighbours draw the
            // same line; the outer boundary of the grid stays straight.
            let interior = a.x > 475_000.0 + 1.0
                && a.y > 2_515_000.0 + 1.0
                && b.x < 525_000.0 - 1.0
                && b.y < 2_565_000.0 - 1.0;
            let amp = if interior { 30.0 } else { 0.0 };
            let wave = (t * std::f64::consts::PI).sin() * amp;
            // Horizontal edges wave in y, vertical edges in x.
            if dy == 0.0 {
                Coord {
                    x: a.x + dx * t,
                    y: a.y + wave,
                }
            } else {
                Coord {
                    x: a.x + wave,
                    y: a.y + dy * t,
                }
            }
        })
        .collect()
}

fn micro_grid() -> Vec<Geometry<f64>> {
    let s = EXTENT / N as f64;
    let c = |i: usize, j: usize| Coord {
        x: 475_000.0 + j as f64 * s,
        y: 2_515_000.0 + i as f64 * s,
    };
    let mut cells = Vec::with_capacity(N * N);
    for i in 0..N {
        for j in 0..N {
            let (a, b, cc, d) = (c(i, j), c(i, j + 1), c(i + 1, j + 1), c(i + 1, j));
            let mut ring = edge(a, b);
            ring.extend(edge(b, cc));
            // Top and left edges are the neighbours' bottom and right edges, walked backwards.
            ring.extend(edge(d, cc).into_iter().rev());
            ring.extend(edge(a, d).into_iter().rev());
            ring.dedup();
            cells.push(Polygon::new(LineString(ring), vec![]).into());
        }
    }
    cells
}

fn parcels(n: usize) -> Vec<Geometry<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(4547);
    let side = (n as f64).sqrt().ceil() as usize;
    (0..n)
        .map(|k| {
            let (i, j) = (k / side, k % side);
            let (x, y) = (475_000.0 + j as f64 * 16.0, 2_515_000.0 + i as f64 * 16.0);
            let mut jit = || rng.random_range(-1.0..1.0);
            Polygon::new(
                LineString(vec![
                    Coord { x, y },
                    Coord {
                        x: x + 15.0 + jit(),
                        y: y + jit(),
                    },
                    Coord {
                        x: x + 15.0 + jit(),
                        y: y + 15.0 + jit(),
                    },
                    Coord {
                        x: x + jit(),
                        y: y + 15.0 + jit(),
                    },
                    Coord { x, y },
                ]),
                vec![],
            )
            .into()
        })
        .collect()
}

fn point_in_grid(c: &mut Criterion) {
    let cells = micro_grid();
    let index = SpatialIndex::build(&cells);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let points: Vec<Coord<f64>> = (0..100_000)
        .map(|_| Coord {
            x: 475_000.0 + rng.random_range(0.0..EXTENT),
            y: 2_515_000.0 + rng.random_range(0.0..EXTENT),
        })
        .collect();
    let hits = points
        .iter()
        .filter(|p| index.containing(&cells, **p).next().is_some())
        .count();
    // Points exactly on a shared edge belong to no interior; everything else is in one cell.
    assert!(hits > 99_900, "points fall in cells: {hits}");
    let mut k = 0;
    c.bench_function("point_in_micro_grid_5041_cells", |b| {
        b.iter(|| {
            k = (k + 1) % points.len();
            black_box(index.containing(&cells, points[k]).next())
        });
    });
}

fn index_build(c: &mut Criterion) {
    let geoms = parcels(1_000_000);
    let mut group = c.benchmark_group("index_build");
    group.sample_size(10);
    group.bench_function("bulk_load_1m_parcels", |b| {
        b.iter(|| black_box(SpatialIndex::build(&geoms)))
    });
    group.finish();
}

criterion_group!(benches, point_in_grid, index_build);
criterion_main!(benches);
