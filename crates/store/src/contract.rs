//! The behaviour every [`Store`] backend must show, written only against the trait.
//!
//! A backend's test calls [`run_all`] with a function that makes a fresh, empty store. The
//! GeoPackage backend runs it in `tests/contract.rs`; the PostgreSQL backend will run the same
//! function unchanged. Each check panics with a message naming the rule it enforces.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use geo_types::{Geometry, polygon};
use jiff::Timestamp;
use serde_json::{Map, Value, json};
use tudi_core::layer::{FieldDef, FieldType, LayerKind};

use crate::audit::Outcome;
use crate::{
    AuditQuery, Change, Expect, FeatureQuery, LayerDef, NewFeature, RecordQuery, RecordWrite,
    Store, StoreError,
};

/// Runs every contract check, each on a fresh store from `make`.
pub fn run_all(make: &dyn Fn() -> Box<dyn Store>) {
    layers_round_trip(&*make());
    bad_definitions_are_refused(&*make());
    inserts_are_all_or_nothing(&*make());
    bbox_queries_use_envelopes(&*make());
    history_answers_as_of_any_instant(&*make());
    unknown_ids_are_reported(&*make());
    sequences_never_repeat(&*make());
    metadata_round_trips(&*make());
    new_layers_are_created_with_their_features_or_not_at_all(&*make());
    text_search_matches_literally(&*make());
    pagination_is_stable(&*make());
    revisions_follow_every_change(&*make());
    records_keep_versions_and_refuse_stale_writes(&*make());
    every_change_appends_to_an_intact_audit_chain(&*make());
    files_are_stored_once_with_the_records_that_use_them(&*make());
    numbered_writes_use_a_number_only_when_they_succeed(&*make());
    the_change_counter_moves_for_every_kind_of_write(&*make());
}

/// Caches of settings and records (the public layers, the stored rule sets) key on the change
/// counter too: a record, a setting, a file and a refusal each move it.
fn the_change_counter_moves_for_every_kind_of_write(s: &dyn Store) {
    let c = Change::new("user:a", "test.write");
    let mut counter = s.change_counter().unwrap();
    let mut moved = |what: &str, s: &dyn Store| {
        let now = s.change_counter().unwrap();
        assert_ne!(now, counter, "{what} moves the change counter");
        counter = now;
    };
    s.write_records(
        &c,
        &[RecordWrite {
            collection: "note".into(),
            id: "n1".into(),
            expect: Expect::Absent,
            body: Some(serde_json::json!({"n": 1})),
            keys: vec![],
            detail: None,
        }],
    )
    .unwrap();
    moved("a record write", s);
    s.set_meta("some-setting", "on", &c).unwrap();
    moved("a setting", s);
    s.write_blob_with_records(
        &c,
        &crate::BlobWrite {
            bytes: b"file",
            content_type: "text/plain",
            resource: "note:n1",
        },
        &[],
    )
    .unwrap();
    moved("a file", s);
    s.record_denial(&c, "note:n1", None).unwrap();
    moved("a recorded refusal", s);
}

fn numbered_writes_use_a_number_only_when_they_succeed(s: &dyn Store) {
    let c = Change::new("user:a", "order.intake");
    let write = |n: u64| RecordWrite {
        collection: "order".into(),
        id: format!("no-{n}"),
        expect: Expect::Absent,
        body: Some(serde_json::json!({"n": n})),
        keys: vec![],
        detail: None,
    };
    let (n, v) = s
        .write_numbered(&c, "order:day", &mut |n| Ok(vec![write(n)]))
        .expect("first");
    assert_eq!((n, v), (1, vec![1]));
    // The builder refuses, then a write conflicts: neither uses a number.
    let refused = s.write_numbered(&c, "order:day", &mut |_| {
        Err(StoreError::BadName("x".into()))
    });
    assert!(matches!(refused, Err(StoreError::BadName(_))));
    let conflict = s.write_numbered(&c, "order:day", &mut |_| Ok(vec![write(1)]));
    assert!(
        matches!(conflict, Err(StoreError::Conflict { .. })),
        "{conflict:?}"
    );
    let (n, _) = s
        .write_numbered(&c, "order:day", &mut |n| Ok(vec![write(n)]))
        .expect("next");
    assert_eq!(n, 2, "no number was lost");
    assert!(s.record("order", "no-2").expect("read").is_some());
}

fn files_are_stored_once_with_the_records_that_use_them(s: &dyn Store) {
    let photo: &[u8] = b"\xff\xd8\xff\xe0 a photo of a stall";
    let blob = crate::BlobWrite {
        content_type: "image/jpeg",
        bytes: photo,
        resource: "order:1",
    };
    let record = |expect, n: u64| RecordWrite {
        collection: "order".into(),
        id: "1".into(),
        expect,
        body: Some(serde_json::json!({"photos": n})),
        keys: vec![],
        detail: None,
    };
    let c = Change::new("user:a", "order.attach");
    let (sha, versions) = s
        .write_blob_with_records(&c, &blob, &[record(Expect::Absent, 1)])
        .expect("a file with its record");
    assert_eq!(sha, crate::audit::sha256_hex(photo));
    assert_eq!(versions, vec![1]);
    let back = s.blob(&sha).expect("read").expect("stored");
    assert_eq!(
        (back.content_type.as_str(), back.bytes.as_slice()),
        ("image/jpeg", photo)
    );
    // The same bytes again: one copy, the record still moves on.
    let (again, _) = s
        .write_blob_with_records(&c, &blob, &[record(Expect::Version(1), 2)])
        .expect("the same file again");
    assert_eq!(again, sha);
    // A stale record write stores no file either.
    let other = crate::BlobWrite {
        bytes: b"another photo",
        ..blob
    };
    let err = s.write_blob_with_records(&c, &other, &[record(Expect::Version(1), 3)]);
    assert!(matches!(err, Err(StoreError::Conflict { .. })), "{err:?}");
    let other_sha = crate::audit::sha256_hex(b"another photo");
    assert!(
        s.blob(&other_sha).expect("read").is_none(),
        "nothing written"
    );
    assert!(s.blob("0000").expect("read").is_none());
    let trail = s
        .audit_trail(&AuditQuery {
            resource: Some(format!("blob:{sha}")),
            ..AuditQuery::default()
        })
        .expect("trail");
    assert_eq!(trail.len(), 2, "each storing is audited");
    assert!(s.verify_audit().expect("verify").is_intact());
}

/// A parcel layer definition used by the checks.
#[must_use]
pub fn parcel_def(name: &str) -> LayerDef {
    LayerDef {
        name: name.into(),
        title: "宗地".into(),
        kind: LayerKind::Parcel,
        epsg: 4547,
        geometry_type: "MULTIPOLYGON".into(),
        fields: vec![
            FieldDef::new("code", "不动产单元代码", FieldType::Text).required(),
            FieldDef::new("area", "面积", FieldType::Real),
            FieldDef::new("floors", "层数", FieldType::Integer),
            FieldDef::new("surveyed", "测量日期", FieldType::Date),
            FieldDef::new("homestead", "是否宅基地", FieldType::Boolean),
        ],
    }
}

/// A square parcel at `(x, y)` with side `s` metres.
#[must_use]
pub fn square(x: f64, y: f64, s: f64) -> Geometry<f64> {
    polygon![(x: x, y: y), (x: x + s, y: y), (x: x + s, y: y + s), (x: x, y: y + s)].into()
}

fn attrs(code: &str) -> Map<String, Value> {
    json!({"code": code, "area": 100.5, "floors": 3, "surveyed": "2024-05-01", "homestead": true})
        .as_object()
        .cloned()
        .unwrap()
}

fn feature(x: f64, code: &str) -> NewFeature {
    NewFeature {
        id: None,
        geometry: square(500_000.0 + x, 2_550_000.0, 10.0),
        attributes: attrs(code),
    }
}

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_767_225_600 + secs).unwrap()
}

/// A change by the contract's test actor at `t(secs)`.
fn c(secs: i64) -> Change {
    Change::new("user:contract", "test.write").at(t(secs))
}

fn layers_round_trip(s: &dyn Store) {
    let def = parcel_def("parcels");
    s.create_layer(&def, &c(0)).unwrap();
    assert!(
        matches!(s.create_layer(&def, &c(0)), Err(StoreError::LayerExists(_))),
        "a second layer of the same name must be refused"
    );
    let ids = s
        .insert_features(
            "parcels",
            &mut vec![feature(0.0, "A"), feature(20.0, "B")].into_iter(),
            &c(0),
            &mut |_| true,
        )
        .unwrap();
    assert_eq!(ids.len(), 2);
    let info = s.layer("parcels").unwrap();
    assert_eq!(info.def, def, "the definition must read back unchanged");
    assert_eq!(s.layer_def("parcels").unwrap(), def);
    assert_eq!(s.layer_defs().unwrap(), vec![def.clone()]);
    assert_eq!(info.feature_count, 2);
    let ext = info.extent.expect("a layer with features has an extent");
    assert_eq!(ext, [500_000.0, 2_550_000.0, 500_030.0, 2_550_010.0]);
    let f = s.feature("parcels", ids[0]).unwrap();
    assert_eq!(
        f.attributes,
        attrs("A"),
        "attributes must read back with their types"
    );
    assert!(
        matches!(f.geometry, Geometry::MultiPolygon(_)),
        "polygons are stored as the layer's type"
    );
    assert_eq!(s.layers().unwrap().len(), 1);
    s.drop_layer("parcels", &c(0)).unwrap();
    assert!(matches!(
        s.layer("parcels"),
        Err(StoreError::UnknownLayer(_))
    ));
}

fn bad_definitions_are_refused(s: &dyn Store) {
    let mut def = parcel_def("宗地");
    assert!(
        matches!(s.create_layer(&def, &c(0)), Err(StoreError::Schema(_))),
        "non-ASCII names are refused"
    );
    def.name = "ok".into();
    def.fields
        .push(FieldDef::new("code", "重复", FieldType::Text));
    assert!(
        matches!(s.create_layer(&def, &c(0)), Err(StoreError::Schema(_))),
        "duplicate fields are refused"
    );
    def.fields.pop();
    def.geometry_type = "CIRCLE".into();
    assert!(matches!(
        s.create_layer(&def, &c(0)),
        Err(StoreError::Schema(_))
    ));
    def.geometry_type = "POLYGON".into();
    def.epsg = 2383;
    assert!(
        matches!(s.create_layer(&def, &c(0)), Err(StoreError::Schema(_))),
        "unsupported CRSs are refused"
    );
    assert!(
        s.layers().unwrap().is_empty(),
        "refused definitions leave nothing behind"
    );
}

fn inserts_are_all_or_nothing(s: &dyn Store) {
    s.create_layer(&parcel_def("p"), &c(0)).unwrap();
    let mut bad = feature(40.0, "C");
    bad.attributes.insert("floors".into(), json!("three"));
    let err = s
        .insert_features(
            "p",
            &mut vec![feature(0.0, "A"), bad].into_iter(),
            &c(0),
            &mut |_| true,
        )
        .unwrap_err();
    match err {
        StoreError::Attribute { index, field, .. } => {
            assert_eq!(
                (index, field.as_str()),
                (1, "floors"),
                "the error names the feature and field"
            );
        }
        other => panic!("expected an attribute error, got {other:?}"),
    }
    assert_eq!(
        s.layer("p").unwrap().feature_count,
        0,
        "a failed batch writes nothing"
    );
    let mut missing = feature(0.0, "A");
    missing.attributes.remove("code");
    assert!(
        matches!(
            s.insert_features("p", &mut std::iter::once(missing), &c(0), &mut |_| true),
            Err(StoreError::Attribute { .. })
        ),
        "required fields are enforced"
    );
    let mut unknown = feature(0.0, "A");
    unknown.attributes.insert("colour".into(), json!("red"));
    assert!(
        matches!(
            s.insert_features("p", &mut std::iter::once(unknown), &c(0), &mut |_| true),
            Err(StoreError::Attribute { .. })
        ),
        "fields outside the schema are refused"
    );
    let point = NewFeature {
        id: None,
        geometry: geo_types::Point::new(1.0, 2.0).into(),
        attributes: attrs("P"),
    };
    assert!(
        matches!(
            s.insert_features("p", &mut std::iter::once(point), &c(0), &mut |_| true),
            Err(StoreError::Attribute { .. })
        ),
        "geometry of the wrong type is refused"
    );
    let ids = s
        .insert_features(
            "p",
            &mut std::iter::once(feature(0.0, "A")),
            &c(0),
            &mut |_| true,
        )
        .unwrap();
    let dup = NewFeature {
        id: Some(ids[0]),
        ..feature(50.0, "D")
    };
    assert!(matches!(
        s.insert_features("p", &mut std::iter::once(dup), &c(1), &mut |_| true),
        Err(StoreError::DuplicateFeature { .. })
    ));
    assert!(
        matches!(
            s.insert_features(
                "p",
                &mut (0..20_000).map(|i| feature(f64::from(i) * 20.0, "X")),
                &c(1),
                &mut |_| false
            ),
            Err(StoreError::Cancelled)
        ),
        "a progress callback can cancel"
    );
    assert_eq!(
        s.layer("p").unwrap().feature_count,
        1,
        "a cancelled batch writes nothing"
    );
    assert!(matches!(
        s.insert_features("nope", &mut std::iter::empty(), &c(0), &mut |_| true),
        Err(StoreError::UnknownLayer(_))
    ));
}

fn bbox_queries_use_envelopes(s: &dyn Store) {
    s.create_layer(&parcel_def("p"), &c(0)).unwrap();
    s.insert_features(
        "p",
        &mut (0..100).map(|i| feature(f64::from(i) * 20.0, &format!("F{i}"))),
        &c(0),
        &mut |_| true,
    )
    .unwrap();
    let q = FeatureQuery {
        bbox: Some([500_085.0, 2_550_000.0, 500_145.0, 2_550_005.0]),
        ..FeatureQuery::default()
    };
    let mut codes: Vec<String> = s
        .features("p", &q)
        .unwrap()
        .into_iter()
        .map(|f| f.attributes["code"].as_str().unwrap().to_owned())
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        ["F4", "F5", "F6", "F7"],
        "bbox selects exactly the features it meets"
    );
}

fn history_answers_as_of_any_instant(s: &dyn Store) {
    s.create_layer(&parcel_def("p"), &c(0)).unwrap();
    let ids = s
        .insert_features(
            "p",
            &mut vec![feature(0.0, "A"), feature(20.0, "B")].into_iter(),
            &c(0),
            &mut |_| true,
        )
        .unwrap();
    let v2 = s
        .update_feature(
            "p",
            ids[0],
            square(500_000.0, 2_550_000.0, 30.0),
            attrs("A2"),
            &c(100),
        )
        .unwrap();
    assert_eq!(v2, 2);
    s.delete_feature("p", ids[1], &c(200)).unwrap();
    let codes_at = |at: Option<Timestamp>| -> Vec<String> {
        let mut c: Vec<String> = s
            .features(
                "p",
                &FeatureQuery {
                    as_of: at,
                    ..FeatureQuery::default()
                },
            )
            .unwrap()
            .into_iter()
            .map(|f| f.attributes["code"].as_str().unwrap().to_owned())
            .collect();
        c.sort();
        c
    };
    assert_eq!(
        codes_at(Some(t(-1))),
        Vec::<String>::new(),
        "nothing existed before the import"
    );
    assert_eq!(codes_at(Some(t(50))), ["A", "B"]);
    assert_eq!(codes_at(Some(t(150))), ["A2", "B"]);
    assert_eq!(codes_at(Some(t(250))), ["A2"]);
    assert_eq!(codes_at(None), ["A2"]);
    let h = s.feature_history("p", ids[0]).unwrap();
    assert_eq!(h.iter().map(|f| f.version).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(h[0].valid_to, Some(t(100)));
    assert_eq!(h[1].valid_to, None);
    let gone = s.feature_history("p", ids[1]).unwrap();
    assert_eq!(gone.len(), 1, "a deleted feature keeps its history");
    assert!(
        matches!(
            s.update_feature("p", ids[0], square(0.0, 0.0, 1.0), attrs("A3"), &c(10)),
            Err(StoreError::Schema(_))
        ),
        "a change dated before the current version is refused"
    );
    let at_x25 = |at: Option<Timestamp>| -> Vec<String> {
        s.features(
            "p",
            &FeatureQuery {
                as_of: at,
                bbox: Some([500_025.0, 2_550_000.0, 500_026.0, 2_550_001.0]),
                ..FeatureQuery::default()
            },
        )
        .unwrap()
        .into_iter()
        .map(|f| f.attributes["code"].as_str().unwrap().to_owned())
        .collect()
    };
    assert_eq!(
        at_x25(Some(t(50))),
        ["B"],
        "bbox and as_of combine: then only B reached x=25"
    );
    assert_eq!(
        at_x25(None),
        ["A2"],
        "now A's enlarged geometry reaches x=25 and B is gone"
    );
}

fn unknown_ids_are_reported(s: &dyn Store) {
    s.create_layer(&parcel_def("p"), &c(0)).unwrap();
    let id = uuid::Uuid::now_v7();
    assert!(matches!(
        s.feature("p", id),
        Err(StoreError::UnknownFeature { .. })
    ));
    assert!(matches!(
        s.delete_feature("p", id, &c(0)),
        Err(StoreError::UnknownFeature { .. })
    ));
    assert!(matches!(
        s.update_feature("p", id, square(0.0, 0.0, 1.0), attrs("x"), &c(0)),
        Err(StoreError::UnknownFeature { .. })
    ));
    assert!(matches!(
        s.feature_history("p", id),
        Err(StoreError::UnknownFeature { .. })
    ));
}

fn sequences_never_repeat(s: &dyn Store) {
    assert_eq!(s.next_in_sequence("k", 0).unwrap(), 1);
    assert_eq!(s.next_in_sequence("k", 0).unwrap(), 2);
    assert_eq!(
        s.next_in_sequence("k", 10).unwrap(),
        11,
        "the floor raises the counter"
    );
    assert_eq!(
        s.next_in_sequence("k", 3).unwrap(),
        12,
        "a lower floor never lowers it"
    );
    assert_eq!(s.next_in_sequence("other", 0).unwrap(), 1);
}

fn metadata_round_trips(s: &dyn Store) {
    assert_eq!(s.meta("district").unwrap(), None);
    s.set_meta("district", "440605", &c(0)).unwrap();
    s.set_meta("district", "440606", &c(0)).unwrap();
    assert_eq!(s.meta("district").unwrap().as_deref(), Some("440606"));
}

fn pagination_is_stable(s: &dyn Store) {
    s.create_layer(&parcel_def("p"), &c(0)).unwrap();
    s.insert_features(
        "p",
        &mut (0..25).map(|i| feature(f64::from(i) * 20.0, &format!("F{i}"))),
        &c(0),
        &mut |_| true,
    )
    .unwrap();
    let mut seen = Vec::new();
    for page in 0..3 {
        let q = FeatureQuery {
            limit: Some(10),
            offset: page * 10,
            ..FeatureQuery::default()
        };
        seen.extend(s.features("p", &q).unwrap().into_iter().map(|f| f.id));
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 25, "pages cover every feature exactly once");
    // An offset past anything a database counts in (SQLite and PostgreSQL take signed 64-bit
    // offsets) is simply past the end.
    let far = FeatureQuery {
        limit: Some(10),
        offset: u64::MAX,
        ..FeatureQuery::default()
    };
    assert!(s.features("p", &far).unwrap().is_empty());
    let far = crate::AuditQuery {
        offset: u64::MAX,
        limit: Some(10),
        ..crate::AuditQuery::default()
    };
    assert!(s.audit_trail(&far).unwrap().is_empty());
    let far = crate::RecordQuery {
        offset: u64::MAX,
        limit: Some(10),
        ..crate::RecordQuery::default()
    };
    assert!(s.find_records("user", &far).unwrap().records.is_empty());
}

fn new_layers_are_created_with_their_features_or_not_at_all(s: &dyn Store) {
    let def = parcel_def("fresh");
    let mut bad = feature(40.0, "C");
    bad.attributes.insert("floors".into(), json!("three"));
    assert!(
        s.create_layer_with_features(
            &def,
            &mut vec![feature(0.0, "A"), bad].into_iter(),
            &c(0),
            &mut |_| true
        )
        .is_err()
    );
    assert!(
        matches!(s.layer("fresh"), Err(StoreError::UnknownLayer(_))),
        "a failed creation leaves no layer behind"
    );
    let ids = s
        .create_layer_with_features(
            &def,
            &mut vec![feature(0.0, "A")].into_iter(),
            &c(0),
            &mut |_| true,
        )
        .unwrap();
    assert_eq!(ids.len(), 1);
    assert_eq!(s.layer("fresh").unwrap().feature_count, 1);
}

fn text_search_matches_literally(s: &dyn Store) {
    use crate::Match;
    s.create_layer(&parcel_def("p"), &c(0)).unwrap();
    let codes = [
        "440605011001JC00001",
        "440605011001JC00002",
        "440605011002JC00001",
        "A_%B",
    ];
    s.insert_features(
        "p",
        &mut codes
            .iter()
            .enumerate()
            .map(|(i, c)| feature(i as f64 * 20.0, c)),
        &c(0),
        &mut |_| true,
    )
    .unwrap();
    let found = |needle: &str, mode: Match| -> Vec<String> {
        s.search("p", "code", needle, mode, 10)
            .unwrap()
            .into_iter()
            .map(|f| f.attributes["code"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        found("440605011001", Match::Prefix),
        ["440605011001JC00001", "440605011001JC00002"]
    );
    assert_eq!(
        found("440605011001JC00002", Match::Exact),
        ["440605011001JC00002"]
    );
    assert_eq!(found("011002", Match::Contains), ["440605011002JC00001"]);
    assert_eq!(
        found("_%", Match::Contains),
        ["A_%B"],
        "wildcards in the needle match literally"
    );
    assert_eq!(
        s.search("p", "code", "4406", Match::Prefix, 1)
            .unwrap()
            .len(),
        1,
        "limit"
    );
    assert!(matches!(
        s.search("p", "colour", "x", Match::Exact, 1),
        Err(StoreError::Schema(_))
    ));
}

fn revisions_follow_every_change(s: &dyn Store) {
    s.create_layer(&parcel_def("rev_a"), &c(0)).unwrap();
    s.create_layer(&parcel_def("rev_b"), &c(0)).unwrap();
    let counter = s.change_counter().unwrap();
    assert_eq!(
        s.change_counter().unwrap(),
        counter,
        "the change counter holds still while nothing is written"
    );
    let a0 = s.layer_revision("rev_a").unwrap();
    let b0 = s.layer_revision("rev_b").unwrap();
    let ids = s
        .insert_features(
            "rev_a",
            &mut std::iter::once(feature(0.0, "A")),
            &c(0),
            &mut |_| true,
        )
        .unwrap();
    assert_ne!(
        s.change_counter().unwrap(),
        counter,
        "an insert moves the change counter"
    );
    let a1 = s.layer_revision("rev_a").unwrap();
    assert_ne!(a1, a0, "an insert gives the layer a new revision");
    assert_eq!(
        s.layer_revision("rev_b").unwrap(),
        b0,
        "other layers keep theirs"
    );
    let counter = s.change_counter().unwrap();
    s.update_feature("rev_a", ids[0], square(5.0, 5.0, 2.0), attrs("A2"), &c(10))
        .unwrap();
    assert_ne!(
        s.change_counter().unwrap(),
        counter,
        "an update moves the change counter"
    );
    let a2 = s.layer_revision("rev_a").unwrap();
    assert!(a2 != a1 && a2 != a0, "an update gives a new revision");
    s.delete_feature("rev_a", ids[0], &c(20)).unwrap();
    let a3 = s.layer_revision("rev_a").unwrap();
    assert!(
        ![a0, a1, a2].contains(&a3),
        "a deletion gives a new revision"
    );
    let refused = s.insert_features(
        "rev_a",
        &mut [feature(0.0, "B"), {
            let mut bad = feature(1.0, "C");
            bad.attributes.insert("floors".into(), json!("three"));
            bad
        }]
        .into_iter(),
        &c(30),
        &mut |_| true,
    );
    assert!(refused.is_err());
    assert_eq!(
        s.layer_revision("rev_a").unwrap(),
        a3,
        "a refused write changes nothing"
    );
    s.drop_layer("rev_a", &c(0)).unwrap();
    assert!(matches!(
        s.layer_revision("rev_a"),
        Err(StoreError::UnknownLayer(_))
    ));
    s.create_layer(&parcel_def("rev_a"), &c(0)).unwrap();
    let again = s.layer_revision("rev_a").unwrap();
    assert!(
        ![a0, a1, a2, a3].contains(&again),
        "a layer made again never repeats an earlier revision"
    );
}

fn put(
    collection: &str,
    id: &str,
    expect: Expect,
    body: Value,
    keys: &[(&str, &str)],
) -> RecordWrite {
    RecordWrite {
        collection: collection.into(),
        id: id.into(),
        expect,
        body: Some(body),
        keys: keys
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
        detail: None,
    }
}

fn records_keep_versions_and_refuse_stale_writes(s: &dyn Store) {
    let v = s
        .write_records(
            &c(0),
            &[
                put(
                    "user",
                    "wang",
                    Expect::Absent,
                    json!({"name": "王"}),
                    &[("town", "440605011")],
                ),
                put(
                    "user",
                    "li",
                    Expect::Absent,
                    json!({"name": "李"}),
                    &[("town", "440605012")],
                ),
                put(
                    "user",
                    "zhao",
                    Expect::Absent,
                    json!({"name": "赵"}),
                    &[("town", "440605011")],
                ),
            ],
        )
        .unwrap();
    assert_eq!(v, vec![1, 1, 1], "new records start at version 1");
    let wang = s.record("user", "wang").unwrap().unwrap();
    assert_eq!((wang.version, wang.body["name"].as_str()), (1, Some("王")));
    assert_eq!(s.record("user", "nobody").unwrap(), None);

    let by_town = s
        .find_records(
            "user",
            &RecordQuery {
                key: Some(("town".into(), "440605011".into())),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(by_town.total, 2);
    let ids: Vec<&str> = by_town.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["wang", "zhao"], "key lookups list in id order");
    let page = s
        .find_records(
            "user",
            &RecordQuery {
                limit: Some(1),
                offset: 1,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        (page.total, page.records[0].id.as_str()),
        (3, "wang"),
        "pages count everything"
    );
    for key in [None, Some(("town".to_owned(), "440605011".to_owned()))] {
        let only_count = s
            .find_records(
                "user",
                &RecordQuery {
                    key: key.clone(),
                    limit: Some(0),
                    offset: 0,
                    descending: false,
                },
            )
            .unwrap();
        assert_eq!(
            (only_count.total, only_count.records.len()),
            (if key.is_some() { 2 } else { 3 }, 0),
            "an empty page still counts ({key:?})"
        );
    }
    let newest = s
        .find_records(
            "user",
            &RecordQuery {
                key: Some(("town".into(), "440605011".into())),
                limit: Some(1),
                offset: 0,
                descending: true,
            },
        )
        .unwrap();
    assert_eq!(
        (newest.total, newest.records[0].id.as_str()),
        (2, "zhao"),
        "newest first: the highest id, the total still counted"
    );
    let all_desc = s
        .find_records(
            "user",
            &RecordQuery {
                limit: Some(2),
                offset: 1,
                descending: true,
                ..Default::default()
            },
        )
        .unwrap();
    let ids: Vec<&str> = all_desc.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!((all_desc.total, ids.len()), (3, 2));
    assert!(
        ids[0] > ids[1],
        "descending pages run from the highest id: {ids:?}"
    );

    // Two writers read version 1; the first wins, the second is told why and changes nothing.
    s.write_records(
        &c(1),
        &[put(
            "user",
            "wang",
            Expect::Version(1),
            json!({"name": "王一"}),
            &[("town", "440605012")],
        )],
    )
    .unwrap();
    let stale = s.write_records(
        &c(2),
        &[
            put(
                "user",
                "li",
                Expect::Version(1),
                json!({"name": "李二"}),
                &[],
            ),
            put(
                "user",
                "wang",
                Expect::Version(1),
                json!({"name": "王二"}),
                &[],
            ),
        ],
    );
    assert!(
        matches!(&stale, Err(StoreError::Conflict { id, found, .. }) if id == "wang" && found == "version 2"),
        "a stale write is a conflict naming the record: {stale:?}"
    );
    assert_eq!(
        s.record("user", "li").unwrap().unwrap().version,
        1,
        "a failed batch writes nothing"
    );
    assert_eq!(
        s.record("user", "wang").unwrap().unwrap().body["name"],
        "王一"
    );
    assert!(
        matches!(
            s.write_records(&c(2), &[put("user", "li", Expect::Absent, json!({}), &[])]),
            Err(StoreError::Conflict { .. })
        ),
        "creating over an existing record is a conflict"
    );
    let moved = s
        .find_records(
            "user",
            &RecordQuery {
                key: Some(("town".into(), "440605012".into())),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(moved.total, 2, "keys follow the latest write");

    let deleted = s
        .write_records(
            &c(3),
            &[RecordWrite {
                body: None,
                ..put("user", "zhao", Expect::Present, json!(null), &[])
            }],
        )
        .unwrap();
    assert_eq!(deleted, vec![0]);
    assert_eq!(s.record("user", "zhao").unwrap(), None);
    assert!(matches!(
        s.write_records(
            &c(3),
            &[put("User Table", "x", Expect::Absent, json!({}), &[])]
        ),
        Err(StoreError::BadName(_))
    ));
}

fn every_change_appends_to_an_intact_audit_chain(s: &dyn Store) {
    assert!(
        s.verify_audit().unwrap().is_intact(),
        "an empty chain is intact"
    );
    s.create_layer(&parcel_def("p"), &c(0)).unwrap();
    let ids = s
        .insert_features(
            "p",
            &mut (0..3).map(|i| feature(f64::from(i) * 20.0, "A")),
            &c(1),
            &mut |_| true,
        )
        .unwrap();
    s.update_feature("p", ids[0], square(0.0, 0.0, 2.0), attrs("B"), &c(2))
        .unwrap();
    s.update_feature("p", ids[0], square(0.0, 0.0, 3.0), attrs("C"), &c(3))
        .unwrap();
    s.delete_feature("p", ids[1], &c(4)).unwrap();
    s.write_records(
        &c(5).in_request("req-1"),
        &[put("user", "wang", Expect::Absent, json!({"n": 1}), &[])],
    )
    .unwrap();
    s.record_denial(
        &Change::new("user:li", "user.delete").at(t(6)),
        "user:wang",
        Some(json!({"why": "scope"})),
    )
    .unwrap();
    // A refused write leaves no entry.
    let _ = s.write_records(
        &c(7),
        &[put("user", "wang", Expect::Absent, json!({}), &[])],
    );

    let all = s.audit_trail(&AuditQuery::default()).unwrap();
    let summary: Vec<(u64, &str)> = all.iter().map(|e| (e.seq, e.resource.as_str())).collect();
    let f0 = format!("layer:p/{}", ids[0]);
    let f1 = format!("layer:p/{}", ids[1]);
    assert_eq!(
        summary,
        vec![
            (7, "user:wang"),
            (6, "user:wang"),
            (5, f1.as_str()),
            (4, f0.as_str()),
            (3, f0.as_str()),
            (2, "layer:p"),
            (1, "layer:p"),
        ],
        "one entry per change, newest first"
    );
    assert_eq!(all[0].outcome, Outcome::Denied);
    assert_eq!(all[1].request_id.as_deref(), Some("req-1"));
    assert_eq!(
        (all[1].before.as_ref(), all[1].after.is_some()),
        (None, true)
    );
    assert_eq!(
        all[3].before, all[4].after,
        "the digests of successive versions line up"
    );
    assert_ne!(all[3].before, all[3].after);
    assert!(
        all[2].before.is_some() && all[2].after.is_none(),
        "a deletion has no after"
    );
    assert_eq!(all[5].actor, "user:contract");

    let feature_history = s
        .audit_trail(&AuditQuery {
            resource: Some("layer:p".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        feature_history.len(),
        5,
        "a layer's trail includes its features'"
    );
    let one = s
        .audit_trail(&AuditQuery {
            resource: Some(f0.clone()),
            limit: Some(1),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].seq, 4);
    let denied = s
        .audit_trail(&AuditQuery {
            actor: Some("user:li".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(denied.len(), 1);

    let report = s.verify_audit().unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.entries, 7);
    assert_eq!(report.head.as_deref(), Some(all[0].hash.as_str()));
}

/// Two handles on one store (two servers on one database, or a server and a command-line tool on
/// one file), as [`run_concurrent`] needs them.
pub type HandlePair = (Box<dyn Store>, Box<dyn Store>);

/// The behaviour two handles on the same store must show when they write at once: numbers
/// unique and gapless, stale writes refused (no update lost), the audit chain intact, and each
/// handle seeing the other's commits at once. `make` gives two handles on one fresh store.
pub fn run_concurrent(make: &dyn Fn() -> HandlePair) {
    let (a, b) = make();
    numbers_stay_gapless_across_handles(&*a, &*b);
    let (a, b) = make();
    no_update_is_lost_across_handles(&*a, &*b);
    let (a, b) = make();
    each_handle_sees_the_others_commits(&*a, &*b);
    let (a, b) = make();
    a_request_sees_what_was_committed_before_it_arrived(&*a, &*b);
    let (a, b) = make();
    writes_at_once_from_many_threads_each_keep_their_promises(&*a, &*b);
    let (a, b) = make();
    revisions_move_with_what_they_cover(&*a, &*b);
}

/// Caches key on one part of [`Store::revisions`] (the settings, the layers, the credentials'
/// collections): whatever is written through one handle moves the part that covers it, as the
/// other handle reads it, and no part ever goes back. (A backend may move the other parts too.)
fn revisions_move_with_what_they_cover(a: &dyn Store, b: &dyn Store) {
    let mut last = b.revisions().unwrap();
    let mut moved = |what: &str, part: &dyn Fn(&crate::Revisions) -> u64| {
        let now = b.revisions().unwrap();
        assert_ne!(part(&now), part(&last), "{what} moves its part");
        assert_ne!(now.changes, last.changes, "{what} moves the change counter");
        for (name, p) in [
            ("changes", now.changes.cmp(&last.changes)),
            ("layers", now.layers.cmp(&last.layers)),
            ("settings", now.settings.cmp(&last.settings)),
            (
                "user",
                now.of_collections(&["user"])
                    .cmp(&last.of_collections(&["user"])),
            ),
        ] {
            assert_ne!(p, std::cmp::Ordering::Less, "{what}: {name} went back");
        }
        assert_eq!(b.change_counter().unwrap(), now.changes);
        last = now;
    };
    a.write_records(&c(0), &[put("user", "li", Expect::Absent, json!({}), &[])])
        .unwrap();
    moved("an account written", &|r| {
        r.of_collections(&["user", "session"])
    });
    a.write_records(
        &c(1),
        &[put("session", "s1", Expect::Absent, json!({}), &[])],
    )
    .unwrap();
    moved("a session written", &|r| {
        r.of_collections(&["user", "session"])
    });
    a.write_records(&c(2), &[put("user", "li", Expect::Absent, json!({}), &[])])
        .unwrap_err();
    a.write_records(
        &c(3),
        &[put("session", "s1", Expect::Present, json!({"n": 2}), &[])],
    )
    .unwrap();
    moved("a session changed after a refused write", &|r| {
        r.of_collections(&["session"])
    });
    a.write_records(
        &c(4),
        &[RecordWrite {
            collection: "session".into(),
            id: "s1".into(),
            expect: Expect::Present,
            body: None,
            keys: vec![],
            detail: None,
        }],
    )
    .unwrap();
    moved("a session ended", &|r| r.of_collections(&["session"]));
    a.set_meta("orders:holidays", "", &c(5)).unwrap();
    moved("a setting", &|r| r.settings);
    a.create_layer(&parcel_def("p"), &c(6)).unwrap();
    moved("a layer made", &|r| r.layers);
    a.insert_features(
        "p",
        &mut std::iter::once(feature(0.0, "A")),
        &c(7),
        &mut |_| true,
    )
    .unwrap();
    moved("features added", &|r| r.layers);
    a.drop_layer("p", &c(8)).unwrap();
    moved("a layer dropped", &|r| r.layers);
}

/// Many threads on each handle at once (a backend may make writes that arrive together in one
/// transaction): each write is still all or nothing, a refused one uses no number and leaves no
/// entry, and the numbers stay gapless.
fn writes_at_once_from_many_threads_each_keep_their_promises(a: &dyn Store, b: &dyn Store) {
    const THREADS: u64 = 8;
    const EACH: u64 = 40;
    a.write_records(
        &c(0),
        &[put("counter", "x", Expect::Absent, json!({"n": 0}), &[])],
    )
    .unwrap();
    let work = |s: &dyn Store, who: String| {
        let change = Change::new(format!("user:{who}"), "order.intake");
        let mut made = 0;
        for i in 0..EACH {
            match i % 5 {
                3 => {
                    let refused = s.write_numbered(&change, "order:day", &mut |n| {
                        Err(StoreError::BadName(format!("refused-{n}")))
                    });
                    assert!(refused.is_err(), "a refused numbered write fails");
                }
                4 => {
                    // Two records, the second not as expected: neither is written.
                    let stale = s.write_records(
                        &change,
                        &[
                            put(
                                "note",
                                &format!("{who}-{i}"),
                                Expect::Absent,
                                json!({}),
                                &[],
                            ),
                            put("counter", "x", Expect::Version(7), json!({}), &[]),
                        ],
                    );
                    assert!(
                        matches!(stale, Err(StoreError::Conflict { .. })),
                        "a stale write is refused as a conflict: {stale:?}"
                    );
                    // A new record that is there already (found only when it is inserted).
                    let taken = s.write_records(
                        &change,
                        &[
                            put(
                                "note",
                                &format!("{who}-{i}-again"),
                                Expect::Absent,
                                json!({}),
                                &[("by", &who)],
                            ),
                            put("counter", "x", Expect::Absent, json!({}), &[]),
                        ],
                    );
                    assert!(
                        matches!(taken, Err(StoreError::Conflict { .. })),
                        "a record made twice is refused as a conflict: {taken:?}"
                    );
                }
                _ => {
                    let (n, _) = s
                        .write_numbered(&change, "order:day", &mut |n| {
                            Ok(vec![put(
                                "order",
                                &format!("o{n:05}"),
                                Expect::Absent,
                                json!({"n": n, "by": who}),
                                &[("by", &who)],
                            )])
                        })
                        .unwrap();
                    assert!(n > 0);
                    made += 1;
                }
            }
        }
        made
    };
    let work = &work;
    let made: u64 = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let s = if t % 2 == 0 { a } else { b };
                scope.spawn(move || work(s, format!("t{t}")))
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).sum()
    });
    let orders = a.find_records("order", &RecordQuery::default()).unwrap();
    let mut numbers: Vec<u64> = orders
        .records
        .iter()
        .map(|r| r.body["n"].as_u64().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (1..=made).collect::<Vec<_>>(),
        "numbers are unique and gapless"
    );
    assert_eq!(
        a.find_records("note", &RecordQuery::default())
            .unwrap()
            .total,
        0,
        "no half of a refused write was kept"
    );
    for t in 0..THREADS {
        let who = format!("t{t}");
        let mine = b
            .find_records(
                "order",
                &RecordQuery {
                    key: Some(("by".into(), who.clone())),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(mine.total, EACH * 3 / 5, "{who}'s orders are all there");
    }
    for handle in [a, b] {
        let report = handle.verify_audit().unwrap();
        assert!(report.is_intact(), "the chain never forks: {report:?}");
        assert_eq!(
            report.entries,
            1 + made,
            "one entry per write made, none for refused ones"
        );
    }
}

const ROUNDS: u64 = 60;

fn numbers_stay_gapless_across_handles(a: &dyn Store, b: &dyn Store) {
    let work = |s: &dyn Store, who: &str| {
        let change = Change::new(format!("user:{who}"), "order.intake");
        for i in 0..ROUNDS {
            // Every third attempt fails after taking its number: it must give the number back.
            let fail = i % 3 == 2;
            let result = s.write_numbered(&change, "order:day", &mut |n| {
                if fail {
                    return Err(StoreError::BadName(format!("refused-{n}")));
                }
                Ok(vec![RecordWrite {
                    collection: "order".into(),
                    id: format!("{n:06}"),
                    expect: Expect::Absent,
                    body: Some(json!({"n": n, "by": who})),
                    keys: vec![("by".into(), who.into())],
                    detail: None,
                }])
            });
            assert_eq!(result.is_err(), fail, "{who} round {i}: {result:?}");
            s.record_denial(&change, "order:probe", None).unwrap();
        }
    };
    std::thread::scope(|scope| {
        scope.spawn(|| work(a, "a"));
        scope.spawn(|| work(b, "b"));
    });
    let made = 2 * (ROUNDS - ROUNDS / 3);
    let page = a.find_records("order", &RecordQuery::default()).unwrap();
    let numbers: Vec<u64> = page
        .records
        .iter()
        .map(|r| r.body["n"].as_u64().unwrap())
        .collect();
    assert_eq!(
        numbers,
        (1..=made).collect::<Vec<_>>(),
        "numbers are unique and gapless: a failed write uses none"
    );
    for (who, handle) in [("a", a), ("b", b)] {
        let by = handle
            .find_records(
                "order",
                &RecordQuery {
                    key: Some(("by".into(), who.into())),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            by.total,
            ROUNDS - ROUNDS / 3,
            "{who}'s orders are all there"
        );
    }
    for handle in [a, b] {
        let report = handle.verify_audit().unwrap();
        assert!(report.is_intact(), "the chain never forks: {report:?}");
        assert_eq!(
            report.entries,
            made + 2 * ROUNDS,
            "one entry per order and per denial, none for failed writes"
        );
    }
}

fn no_update_is_lost_across_handles(a: &dyn Store, b: &dyn Store) {
    a.write_records(
        &c(0),
        &[put("counter", "x", Expect::Absent, json!({"n": 0}), &[])],
    )
    .unwrap();
    let work = |s: &dyn Store| {
        let mut done = 0;
        while done < ROUNDS {
            let current = s.record("counter", "x").unwrap().unwrap();
            let n = current.body["n"].as_u64().unwrap();
            match s.write_records(
                &Change::new("user:c", "counter.add"),
                &[put(
                    "counter",
                    "x",
                    Expect::Version(current.version),
                    json!({"n": n + 1}),
                    &[],
                )],
            ) {
                Ok(v) => {
                    assert_eq!(v, vec![current.version + 1]);
                    done += 1;
                }
                // Someone else wrote first: read again and retry.
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => panic!("a stale write is refused as a conflict, not {e:?}"),
            }
        }
    };
    std::thread::scope(|scope| {
        scope.spawn(|| work(a));
        scope.spawn(|| work(b));
    });
    for handle in [a, b] {
        let x = handle.record("counter", "x").unwrap().unwrap();
        assert_eq!(x.body["n"], json!(2 * ROUNDS), "no update was lost");
        assert_eq!(x.version, 1 + 2 * ROUNDS);
        assert!(handle.verify_audit().unwrap().is_intact());
    }
}

/// Two servers: a request on `b` must see every commit made through `a` before it arrived, even
/// though `b` may answer the counter from a reading it shares among requests
/// ([`crate::horizon`]).
fn a_request_sees_what_was_committed_before_it_arrived(a: &dyn Store, b: &dyn Store) {
    use crate::horizon::reading_since;
    use std::time::Instant;
    let write = |i: i64| {
        a.write_records(
            &c(i),
            &[put(
                "counter",
                "x",
                if i == 0 {
                    Expect::Absent
                } else {
                    Expect::Present
                },
                json!({ "n": i }),
                &[],
            )],
        )
        .unwrap();
    };
    write(0);
    let mut seen = reading_since(Instant::now(), || b.change_counter().unwrap());
    for i in 1..=20_i64 {
        // A request that arrived before the write may answer from what it read.
        let first = Instant::now();
        let earlier = reading_since(first, || b.change_counter().unwrap());
        write(i);
        let again = reading_since(first, || b.change_counter().unwrap());
        assert!(again >= earlier, "the counter never goes back");
        // One arriving after the write was acknowledged sees it.
        let arrived = Instant::now();
        let now = reading_since(arrived, || b.change_counter().unwrap());
        assert_ne!(
            now, seen,
            "a request that arrived after commit {i} saw the counter move"
        );
        assert_ne!(now, earlier, "and not the reading of an earlier request");
        // So does a call outside any request.
        assert_eq!(b.change_counter().unwrap(), now, "nothing else was written");
        seen = now;
    }
    // Its own writes: after a commit through `b`, the same request reads again.
    let arrived = Instant::now();
    reading_since(arrived, || {
        let before = b.change_counter().unwrap();
        b.write_records(
            &c(99),
            &[put("counter", "y", Expect::Absent, json!({}), &[])],
        )
        .unwrap();
        assert_ne!(
            b.change_counter().unwrap(),
            before,
            "a request sees its own write"
        );
    });
}

fn each_handle_sees_the_others_commits(a: &dyn Store, b: &dyn Store) {
    let counter = b.change_counter().unwrap();
    a.create_layer(&parcel_def("p"), &c(0)).unwrap();
    assert!(
        b.layer_defs().unwrap().iter().any(|d| d.name == "p"),
        "a layer made through one handle is listed by the other"
    );
    assert_ne!(
        b.change_counter().unwrap(),
        counter,
        "the other's change counter moved"
    );
    let revision = b.layer_revision("p").unwrap();
    let ids = a
        .insert_features(
            "p",
            &mut std::iter::once(feature(0.0, "A")),
            &c(1),
            &mut |_| true,
        )
        .unwrap();
    assert_ne!(b.layer_revision("p").unwrap(), revision, "and its revision");
    assert_eq!(
        b.feature("p", ids[0]).unwrap().attributes["code"],
        json!("A")
    );
    b.update_feature("p", ids[0], square(0.0, 0.0, 5.0), attrs("B"), &c(2))
        .unwrap();
    assert_eq!(
        a.feature("p", ids[0]).unwrap().attributes["code"],
        json!("B")
    );
    b.write_records(
        &c(3),
        &[put("user", "wang", Expect::Absent, json!({}), &[])],
    )
    .unwrap();
    assert_eq!(a.record("user", "wang").unwrap().unwrap().version, 1);
    assert_eq!(
        a.next_in_sequence("k", 0).unwrap() + 1,
        b.next_in_sequence("k", 0).unwrap()
    );
    let report = a.verify_audit().unwrap();
    assert!(report.is_intact());
    assert_eq!(report.entries, b.verify_audit().unwrap().entries);
}
