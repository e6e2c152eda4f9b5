//! A district moved from a GeoPackage into PostgreSQL and back out keeps everything: layers with
//! their history, records with their keys, files, sequences, and the audit chain with the same
//! entry count and head hash; and the copies go on working.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use tudi_store::contract::{parcel_def, square};
use tudi_store::gpkg::GeoPackageStore;
use tudi_store::transfer;
use tudi_store::{
    AuditQuery, BlobWrite, Change, Expect, FeatureQuery, NewFeature, RecordQuery, RecordWrite,
    Store,
};
use tudi_store_pg::PgStore;

fn at(secs: i64) -> Change {
    Change::new("user:wang", "test.write")
        .at(jiff::Timestamp::from_second(1_750_000_000 + secs).unwrap())
}

fn feature(x: f64, code: &str) -> NewFeature {
    let mut attributes = serde_json::Map::new();
    attributes.insert("code".into(), json!(code));
    attributes.insert("floors".into(), json!(2));
    NewFeature {
        id: None,
        geometry: square(500_000.0 + x, 2_550_000.0, 10.0),
        attributes,
    }
}

fn fill(s: &dyn Store) {
    s.create_layer(&parcel_def("parcels"), &at(0)).unwrap();
    let ids = s
        .insert_features(
            "parcels",
            &mut (0..50).map(|i| feature(f64::from(i) * 20.0, &format!("P{i:03}"))),
            &at(1),
            &mut |_| true,
        )
        .unwrap();
    let mut attributes = serde_json::Map::new();
    attributes.insert("code".into(), json!("P000-b"));
    s.update_feature(
        "parcels",
        ids[0],
        square(499_990.0, 2_550_000.0, 12.0),
        attributes,
        &at(2),
    )
    .unwrap();
    s.delete_feature("parcels", ids[1], &at(3)).unwrap();
    let (n, _) = s
        .write_numbered(&at(4), "order:day", &mut |n| {
            Ok(vec![RecordWrite {
                collection: "order".into(),
                id: format!("o{n}"),
                expect: Expect::Absent,
                body: Some(json!({"n": n, "名称": "占道经营"})),
                keys: vec![("status".into(), "open".into())],
                detail: Some(json!({"b": 1, "a": 2})),
            }])
        })
        .unwrap();
    assert_eq!(n, 1);
    s.write_blob_with_records(
        &at(5),
        &BlobWrite {
            content_type: "image/jpeg",
            bytes: b"\xff\xd8\xff a photo",
            resource: "order:o1",
        },
        &[],
    )
    .unwrap();
    s.set_meta("district", "440605", &at(6)).unwrap();
    s.record_denial(&at(7), "order:o1", Some(json!({"why": "scope"})))
        .unwrap();
}

fn same(a: &dyn Store, b: &dyn Store) {
    let (ra, rb) = (a.verify_audit().unwrap(), b.verify_audit().unwrap());
    assert!(ra.is_intact() && rb.is_intact(), "{ra:?} {rb:?}");
    assert_eq!((ra.entries, &ra.head), (rb.entries, &rb.head), "same chain");
    assert_eq!(a.layer_defs().unwrap(), b.layer_defs().unwrap());
    assert_eq!(
        a.layer_revision("parcels").unwrap(),
        b.layer_revision("parcels").unwrap()
    );
    for as_of in [None, Some(at(1).at), Some(at(2).at)] {
        let q = FeatureQuery {
            as_of,
            ..Default::default()
        };
        assert_eq!(
            a.features("parcels", &q).unwrap(),
            b.features("parcels", &q).unwrap(),
            "the map as of {as_of:?}"
        );
    }
    let first = a.features("parcels", &FeatureQuery::default()).unwrap()[0].id;
    assert_eq!(
        a.feature_history("parcels", first).unwrap(),
        b.feature_history("parcels", first).unwrap()
    );
    let q = RecordQuery {
        key: Some(("status".into(), "open".into())),
        ..Default::default()
    };
    assert_eq!(
        a.find_records("order", &q).unwrap(),
        b.find_records("order", &q).unwrap()
    );
    let sha = tudi_store::audit::sha256_hex(b"\xff\xd8\xff a photo");
    assert_eq!(a.blob(&sha).unwrap(), b.blob(&sha).unwrap());
    assert!(b.blob(&sha).unwrap().is_some());
    assert_eq!(a.meta("district").unwrap(), b.meta("district").unwrap());
    assert_eq!(
        a.audit_trail(&AuditQuery {
            resource: Some("layer:parcels".into()),
            ..Default::default()
        })
        .unwrap(),
        b.audit_trail(&AuditQuery {
            resource: Some("layer:parcels".into()),
            ..Default::default()
        })
        .unwrap(),
        "the history of a layer reads the same"
    );
}

#[test]
fn a_district_moves_to_postgresql_and_back_with_its_chain() {
    let dir = tempfile::tempdir().unwrap();
    let file = GeoPackageStore::create(&dir.path().join("a.gpkg")).unwrap();
    fill(&file);
    let pg = PgStore::scratch(&tudi_store_pg::testing::database()).unwrap();
    let empty = pg.revisions().unwrap();
    let copied = transfer::copy(&file, &pg, &mut |_| {}).unwrap();
    assert!(copied > 50);
    same(&file, &pg);
    // What a server cached of the empty store is not taken for what was copied in.
    let full = pg.revisions().unwrap();
    assert!(
        full.layers > empty.layers && full.changes > empty.changes + full.layers,
        "the change counter reads on from the copied chain and layers: {full:?}"
    );
    assert_ne!(
        full.settings, empty.settings,
        "the settings' revision moved"
    );
    assert_ne!(
        full.of_collections(&["order"]),
        empty.of_collections(&["order"]),
        "the copied collections' revisions moved"
    );
    let back = GeoPackageStore::create(&dir.path().join("b.gpkg")).unwrap();
    transfer::copy(&pg, &back, &mut |_| {}).unwrap();
    same(&pg, &back);
    // The copies go on: numbers continue, the chain stays intact.
    for s in [&pg as &dyn Store, &back] {
        assert_eq!(s.next_in_sequence("order:day", 0).unwrap(), 2);
        s.write_records(
            &at(8),
            &[RecordWrite {
                collection: "order".into(),
                id: "o9".into(),
                expect: Expect::Absent,
                body: Some(json!({})),
                keys: vec![],
                detail: None,
            }],
        )
        .unwrap();
        assert!(s.verify_audit().unwrap().is_intact());
    }
    // A target that is not empty is refused and keeps what it has.
    let before = pg.verify_audit().unwrap();
    assert!(transfer::copy(&file, &pg, &mut |_| {}).is_err());
    assert_eq!(pg.verify_audit().unwrap(), before);
}
