//! One authorization decision: `cargo bench -p tudi-access --bench policy`. The goal of issue 4
//! is under 5 µs; results go to docs/benchmarks.md.

#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tudi_access::policy::Via;
use tudi_access::{Action, Binding, Jurisdiction, Principal, Resource, Role, decide};

fn bench(c: &mut Criterion) {
    let j = |s: &str| Jurisdiction::parse(s).unwrap();
    // A busy official: four roles, the match is the last one checked.
    let who = Principal {
        user: Some("huang".into()),
        bindings: vec![
            Binding {
                role: Role::GridInspector,
                scope: j("440605011001001"),
                department: None,
            },
            Binding {
                role: Role::VillageClerk,
                scope: j("440605011001"),
                department: None,
            },
            Binding {
                role: Role::DutyLeader,
                scope: j("440605012"),
                department: None,
            },
            Binding {
                role: Role::TownReviewer,
                scope: j("440605011"),
                department: None,
            },
        ],
        via: Via::Session,
    };
    let inside = [j("440605011003"), j("440605011004002")];
    let outside = [j("440605013001")];
    let mut g = c.benchmark_group("policy");
    g.bench_function("scoped_allow", |b| {
        b.iter(|| {
            decide(
                black_box(&who),
                Action::SeeIdNumber,
                black_box(&Resource {
                    scope: &inside,
                    ..Resource::default()
                }),
            )
        });
    });
    g.bench_function("scoped_deny", |b| {
        b.iter(|| {
            decide(
                black_box(&who),
                Action::AuditRead,
                black_box(&Resource {
                    scope: &outside,
                    ..Resource::default()
                }),
            )
        });
    });
    g.bench_function("map_read", |b| {
        b.iter(|| {
            decide(
                black_box(&who),
                Action::MapRead,
                black_box(&Resource::default()),
            )
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
