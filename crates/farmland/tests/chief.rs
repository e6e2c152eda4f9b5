//! 田长制 on the demo map: chiefs appointed to the grid's areas with their 责任书, the farmland
//! patches each is responsible for, patrols checked against the chief's cells and the track,
//! and the month's 巡田率 with those behind flagged to the chief above.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use geo::Centroid;
use serde_json::{Value, json};
use tudi_farmland::chief::{self, Level, NewChief, NewPatrol, Pledge};
use tudi_farmland::ledger::LedgerError;
use tudi_geo::crs::{Crs, Transformer};
use tudi_onemap::snapshot::MapView;
use tudi_store::{Change, FeatureQuery, Store};

/// A demo grid cell with farmland in it: (cell code, village code, its centre in lon/lat).
fn farm_cell(store: &dyn Store) -> (String, String, [f64; 2]) {
    let def = store.layer_def("grid").unwrap();
    let back = Transformer::new(Crs::from_epsg(def.epsg).unwrap(), Crs::CGCS2000).unwrap();
    let farmland: Vec<String> = store
        .features("land_survey", &FeatureQuery::default())
        .unwrap()
        .into_iter()
        .filter(|f| f.attributes["land_use"] == "0101")
        .map(|f| {
            f.attributes["code"]
                .as_str()
                .unwrap()
                .trim_start_matches("TB")
                .to_owned()
        })
        .collect();
    let cell = store
        .features("grid", &FeatureQuery::default())
        .unwrap()
        .into_iter()
        .find(|f| {
            f.attributes["level"] == "微网格"
                && farmland.contains(&f.attributes["code"].as_str().unwrap().to_owned())
        })
        .unwrap();
    let c = cell.geometry.centroid().unwrap();
    let (lon, lat) = back.apply(c.x(), c.y()).unwrap();
    let code = cell.attributes["code"].as_str().unwrap().to_owned();
    (code.clone(), code[..12].to_owned(), [lon, lat])
}

fn track(at: [f64; 2], d: f64) -> Value {
    json!({"type": "LineString", "coordinates": [[at[0] - d, at[1]], [at[0], at[1] + d], [at[0] + d, at[1]]]})
}

#[test]
fn chiefs_patrol_their_cells_and_the_month_shows_who_is_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = tudi_store_pg::testing::fresh_store(dir.path());
    tudi_onemap::demo::build(
        &*store,
        tudi_onemap::demo::DemoOptions {
            seed: 7,
            parcels: 20,
            ..Default::default()
        },
        &mut |_| {},
    )
    .unwrap();
    let map = MapView::new(&*store, None);
    let (cell, village, centre) = farm_cell(&*store);
    let town = village[..9].to_owned();
    let c = Change::new("user:quju.shenpi", "farmland.chief");
    let appoint = |name: &str, level: Level, area: &str, user: Option<&str>| {
        chief::appoint(
            &*store,
            "440605",
            &c,
            NewChief {
                name: name.into(),
                level,
                area: area.into(),
                username: user.map(str::to_owned),
                appointed_on: "2026-01-05".parse().unwrap(),
            },
        )
    };
    let town_chief = appoint("镇田长", Level::Town, &town, None).unwrap();
    let village_chief = appoint("村田长", Level::Village, &village, Some("cun.tianzhang")).unwrap();
    let grid_chief = appoint("网格田长", Level::Grid, &cell, Some("wangge.tianzhang")).unwrap();
    assert!(
        village_chief.area_name.ends_with(|c: char| c != ' '),
        "{village_chief:?}"
    );
    // An area of the wrong level, or not on the grid: refused by field.
    let err = appoint("错", Level::Village, &town, None).unwrap_err();
    assert!(
        matches!(&err, LedgerError::Invalid { field, .. } if field == "area"),
        "{err:?}"
    );
    let err = appoint("错", Level::Grid, "440605999999999", None).unwrap_err();
    assert!(
        matches!(&err, LedgerError::Invalid { field, .. } if field == "area"),
        "{err:?}"
    );

    let signed = chief::sign_pledge(
        &*store,
        &c,
        &village_chief.id,
        Pledge {
            document: "耕地保护责任书 2026-018".into(),
            signed_on: "2026-01-10".parse().unwrap(),
            from: "2026-01-01".parse().unwrap(),
            to: "2026-12-31".parse().unwrap(),
        },
    )
    .unwrap();
    assert!(signed.pledge.is_some());

    // The grid chief's responsibility: the one cell and its farmland patches.
    let mine = chief::responsibility(map, &grid_chief).unwrap();
    assert_eq!(mine.cells.len(), 1);
    assert!(mine.farmland_mu > 0.0, "{mine:?}");
    let villages = chief::responsibility(map, &village_chief).unwrap();
    assert!(villages.cells.len() > 1);

    // A patrol of the cell, with its track there.
    let patrol = NewPatrol {
        cell: cell.clone(),
        started_at: "2026-11-03T01:00:00Z".parse().unwrap(),
        ended_at: "2026-11-03T02:00:00Z".parse().unwrap(),
        track: track(centre, 0.0003),
        problem: None,
        note: Some("巡查正常".into()),
    };
    let who = chief::chief_of(&*store, "wangge.tianzhang", &cell).unwrap();
    assert_eq!(who.id, grid_chief.id);
    let length = chief::check_patrol(map, &who, &patrol).unwrap();
    assert!(length > 50.0 && length < 150.0, "{length}");
    chief::record(&*store, &c, &who, patrol.clone(), length, None).unwrap();
    // Outside the chief's cells, or a track elsewhere: refused.
    let err =
        chief::chief_of(&*store, "wangge.tianzhang", &format!("{}001", &town[..6])).unwrap_err();
    assert!(
        matches!(&err, LedgerError::Invalid { field, .. } if field == "cell"),
        "{err:?}"
    );
    let far = NewPatrol {
        track: track([centre[0] + 0.05, centre[1]], 0.0003),
        ..patrol.clone()
    };
    let err = chief::check_patrol(map, &who, &far).unwrap_err();
    assert!(
        matches!(&err, LedgerError::Invalid { field, .. } if field == "track"),
        "{err:?}"
    );
    let err = chief::chief_of(&*store, "nobody", &cell).unwrap_err();
    assert!(matches!(err, LedgerError::Refused(_)));

    // November: the grid chief made 1 of 2; the village chief nothing; the town chief has no
    // quota of its own. Those behind are flagged to the chief above.
    let month = chief::month_report(&*store, "2026-11").unwrap();
    let row = |id: &str| month.iter().find(|m| m.chief == id).unwrap();
    assert_eq!(
        (row(&grid_chief.id).required, row(&grid_chief.id).made),
        (2, 1)
    );
    assert_eq!(row(&grid_chief.id).rate, Some(0.5));
    assert!(row(&grid_chief.id).behind);
    assert!(
        row(&grid_chief.id)
            .superior
            .as_deref()
            .unwrap()
            .contains(&village_chief.id)
    );
    assert!(
        row(&village_chief.id)
            .superior
            .as_deref()
            .unwrap()
            .contains(&town_chief.id)
    );
    assert_eq!(row(&town_chief.id).required, 0);
    assert!(!row(&town_chief.id).behind);
    assert!(chief::month_report(&*store, "2026-13").is_err());
}
