//! Sites for demonstrations and tests: squares on a village's planned homestead land that pass
//! the site check, found on the map itself so nothing depends on one map's layout.

use geo::{BoundingRect, Contains};
use geo_types::{Geometry, Polygon, coord};
use serde_json::Value;
use tudi_geo::crs::{Crs, Transformer};
use tudi_onemap::compliance::{self, RuleSet, Verdict};
use tudi_onemap::snapshot::MapView;
use tudi_store::{FeatureQuery, Store, StoreError};

/// The layer of village plans the demo writes.
pub const PLAN_LAYER: &str = "village_plan";

/// The `skip`-th 9 × 8 m square (in a 20 m raster over the plan) lying on `village`'s planned
/// homestead land that passes `rules`, as a GeoJSON Polygon in CGCS2000; `None` when there are
/// not that many.
///
/// # Errors
/// The plan layer cannot be read; its CRS is unknown.
pub fn clear_site(
    store: &dyn Store,
    rules: &RuleSet,
    village: &str,
    skip: usize,
) -> Result<Option<Value>, StoreError> {
    let bad_crs = |e: tudi_geo::crs::CrsError| StoreError::Schema(e.to_string());
    let epsg = store.layer_def(PLAN_LAYER)?.epsg;
    let back = Crs::from_epsg(epsg)
        .and_then(|c| Transformer::new(c, Crs::CGCS2000))
        .map_err(bad_crs)?;
    let plans = store.features(PLAN_LAYER, &FeatureQuery::default())?;
    let Some(plan) = plans
        .iter()
        .find(|f| f.attributes.get("village_code").and_then(Value::as_str) == Some(village))
    else {
        return Ok(None);
    };
    let Some(r) = plan.geometry.bounding_rect() else {
        return Ok(None);
    };
    let mut found = 0;
    let mut y = r.min().y + 5.0;
    while y < r.max().y - 15.0 {
        let mut x = r.min().x + 5.0;
        while x < r.max().x - 15.0 {
            let square = Polygon::new(
                vec![
                    coord! {x: x, y: y},
                    coord! {x: x + 9.0, y: y},
                    coord! {x: x + 9.0, y: y + 8.0},
                    coord! {x: x, y: y + 8.0},
                    coord! {x: x, y: y},
                ]
                .into(),
                vec![],
            );
            x += 20.0;
            if !plan.geometry.contains(&square) {
                continue;
            }
            let mut g = Geometry::Polygon(square);
            back.apply_geometry(&mut g).map_err(bad_crs)?;
            let passes = compliance::analyse(
                MapView::new(store, None),
                rules,
                &g,
                Crs::CGCS2000,
                Some("plain"),
            )
            .is_ok_and(|rep| rep.verdict == Verdict::Pass);
            if passes {
                if found == skip {
                    return Ok(Some(tudi_geo::io::geojson::geometry_to_value(&g)));
                }
                found += 1;
            }
        }
        y += 20.0;
    }
    Ok(None)
}
