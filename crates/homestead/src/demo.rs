//! The demo district's homesteads: sites on a village's planned homestead land that pass the
//! site check (found on the map itself, so nothing depends on one map's layout), and
//! applications in every stage made through the service by the people whose duty each step is.

use std::collections::BTreeMap;

use geo::{BoundingRect, Contains};
use geo_types::{Geometry, Polygon, coord};
use jiff::{SignedDuration, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use tudi_access::Principal;
use tudi_core::personal::IdNumber;
use tudi_flow::case::Op;
use tudi_geo::crs::{Crs, Transformer};
use tudi_onemap::compliance::{self, RuleSet, Verdict};
use tudi_onemap::snapshot::MapView;
use tudi_store::{Change, FeatureQuery, Store, StoreError};

use crate::eligibility::{BuildType, CurrentHomestead, Terrain};
use crate::events::EventRequest;
use crate::form::{ApplicationForm, Neighbour, Person, Side};
use crate::service::{HomesteadError, Homesteads, local_date};

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
    Ok(clear_sites(store, rules, village, skip + 1)?
        .into_iter()
        .nth(skip))
}

/// The first `count` such squares (fewer when the plan has no more), apart from each other.
///
/// # Errors
/// The plan layer cannot be read; its CRS is unknown.
pub fn clear_sites(
    store: &dyn Store,
    rules: &RuleSet,
    village: &str,
    count: usize,
) -> Result<Vec<Value>, StoreError> {
    let mut out = Vec::new();
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
        return Ok(out);
    };
    let Some(r) = plan.geometry.bounding_rect() else {
        return Ok(out);
    };
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
                out.push(tudi_geo::io::geojson::geometry_to_value(&g));
                if out.len() >= count {
                    return Ok(out);
                }
            }
        }
        y += 20.0;
    }
    Ok(out)
}

/// The villages under `prefix` (a town or the district) that have a village plan, in code order.
///
/// # Errors
/// The plan layer cannot be read.
pub fn planned_villages(store: &dyn Store, prefix: &str) -> Result<Vec<String>, StoreError> {
    let mut out: Vec<String> = store
        .features(PLAN_LAYER, &FeatureQuery::default())?
        .iter()
        .filter_map(|f| f.attributes.get("village_code").and_then(Value::as_str))
        .filter(|v| v.len() == 12 && v.starts_with(prefix))
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Who acts in the demo, one person per duty of the process: the clerk of each village (the
/// applications are spread over these villages), the town's reviewer, the three departments'
/// handlers and the district's registrar.
#[derive(Debug, Clone)]
pub struct Cast {
    /// One village clerk per village, scoped to it.
    pub clerks: Vec<Principal>,
    /// The town's reviewer (镇街审核人).
    pub town: Principal,
    /// 农业农村 handler.
    pub agri: Principal,
    /// 自然资源 handler.
    pub natural_resources: Principal,
    /// 住建 handler.
    pub housing: Principal,
    /// The registrar (区局审批人), who also revokes.
    pub registrar: Principal,
}

/// The town whose villages have the most village plans (the first in code order on a tie) and
/// up to `count` of those villages: where the demo's applications go.
///
/// # Errors
/// The plan layer cannot be read.
pub fn rural_villages(
    store: &dyn Store,
    district: &str,
    count: usize,
) -> Result<Option<(String, Vec<String>)>, StoreError> {
    let mut by_town: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for v in planned_villages(store, district)? {
        by_town.entry(v[..9].to_owned()).or_default().push(v);
    }
    let best = by_town.values().map(Vec::len).max().unwrap_or(0);
    Ok(by_town
        .into_iter()
        .find(|(_, vs)| vs.len() == best && best > 0)
        .map(|(t, vs)| (t, vs.into_iter().take(count).collect())))
}

/// Where the demo leaves an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The open step it waits at; for `review_*`, the reviews already signed before it.
    At(&'static str, &'static [&'static str]),
    /// Registered; `true` when its certificate was then revoked.
    Registered(bool),
    /// Refused at a step, with the reason.
    Refused(&'static str, &'static str),
}

/// The demo's applications: every stage, most registered, a few refused.
const PLAN: [Target; 34] = [
    Target::At("group_discussion", &[]),
    Target::At("group_discussion", &[]),
    Target::At("publicity", &[]),
    Target::At("publicity", &[]),
    Target::At("village_review", &[]),
    Target::At("village_review", &[]),
    Target::At("town_intake", &[]),
    Target::At("town_intake", &[]),
    Target::At("review_agri", &[]),
    Target::At("review_nr", &["review_agri"]),
    Target::At("review_nr", &["review_agri", "review_housing"]),
    Target::At("site_visit_1", &[]),
    Target::At("site_visit_1", &[]),
    Target::At("approval", &[]),
    Target::At("approval", &[]),
    Target::At("staking", &[]),
    Target::At("staking", &[]),
    Target::At("construction", &[]),
    Target::At("construction", &[]),
    Target::At("construction", &[]),
    Target::At("acceptance", &[]),
    Target::At("acceptance", &[]),
    Target::At("registration", &[]),
    Target::Registered(false),
    Target::Registered(false),
    Target::Registered(false),
    Target::Registered(false),
    Target::Registered(false),
    Target::Registered(false),
    Target::Registered(false),
    Target::Registered(true),
    Target::Refused(
        "review_agri",
        "申请人不是本村集体经济组织成员，不符合申请条件",
    ),
    Target::Refused("town_intake", "申请材料不全，经一次性告知后逾期未补正"),
    Target::Refused(
        "site_visit_1",
        "踏勘发现西侧相邻权利人对界址有异议，协调未果",
    ),
];

/// The order steps are signed in, for driving an application to its target.
const PATH: [&str; 13] = [
    "group_discussion",
    "publicity",
    "village_review",
    "town_intake",
    "review_agri",
    "review_housing",
    "review_nr",
    "site_visit_1",
    "approval",
    "staking",
    "construction",
    "acceptance",
    "registration",
];

const SURNAMES: [&str; 10] = ["梁", "陈", "何", "关", "冯", "黄", "潘", "李", "邓", "区"];
const GIVEN: [&str; 12] = [
    "志", "明", "丽", "华", "国", "强", "婉", "芳", "伟", "杰", "秀", "文",
];

/// How many working-day hours apart the demo's people sign, at random: half a day to two days.
fn gap(rng: &mut ChaCha8Rng) -> SignedDuration {
    SignedDuration::from_hours(rng.random_range(5..48))
}

/// Fills the demo district with applications in every stage across the cast's villages,
/// registered homesteads with signed certificates (one revoked) and refusals, made through the
/// service as the cast would, dated over the months before `now`; the villages' member rolls
/// are set first. Returns how many applications ended in each stage.
///
/// Villages with fewer clear sites than their share get fewer applications.
///
/// # Errors
/// A step is refused (the demo is consistent, so only the map or the store should fail).
#[allow(clippy::too_many_lines)]
pub fn fill_applications(
    h: &Homesteads<'_>,
    cast: &Cast,
    seed: u64,
    now: Timestamp,
) -> Result<BTreeMap<String, usize>, HomesteadError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5a4a_4400);
    let villages: Vec<String> = cast
        .clerks
        .iter()
        .filter_map(|c| c.bindings.first().map(|b| b.scope.as_str().to_owned()))
        .collect();
    if villages.is_empty() {
        return Ok(BTreeMap::new());
    }
    // Sites taken from each village in turn, so the applications spread over them.
    let per_village = PLAN.len().div_ceil(villages.len());
    let mut found = Vec::new();
    for v in &villages {
        found.push(clear_sites(h.store, h.site_rules, v, per_village)?);
    }
    let mut slots: Vec<(usize, Value)> = Vec::new();
    for k in 0..per_village {
        for (vi, sites) in found.iter().enumerate() {
            if let Some(site) = sites.get(k) {
                slots.push((vi, site.clone()));
            }
        }
    }
    // The applications, each with its village, household and the day it was submitted: the
    // further along, the earlier.
    struct Planned {
        target: Target,
        village: usize,
        site: Value,
        form: ApplicationForm,
        start: Timestamp,
    }
    let mut planned = Vec::new();
    let mut rolls: Vec<Vec<String>> = vec![Vec::new(); villages.len()];
    for (i, (target, (vi, site))) in PLAN.iter().zip(slots).enumerate() {
        let days_ago = match target {
            Target::At(s, _) => match *s {
                "group_discussion" => rng.random_range(0..2),
                "publicity" => rng.random_range(2..4),
                "village_review" => rng.random_range(10..13),
                "town_intake" => rng.random_range(13..18),
                "review_agri" | "review_nr" => rng.random_range(18..24),
                "site_visit_1" | "approval" => rng.random_range(24..32),
                "staking" => rng.random_range(28..40),
                "construction" => rng.random_range(40..60),
                _ => rng.random_range(70..100),
            },
            Target::Registered(_) => rng.random_range(90..200),
            Target::Refused(..) => rng.random_range(30..80),
        };
        let start = now
            .checked_sub(SignedDuration::from_hours(
                days_ago * 24 + rng.random_range(2..8),
            ))
            .unwrap_or(now);
        let name = |rng: &mut ChaCha8Rng, surname: &str| {
            format!(
                "{surname}{}{}",
                GIVEN[rng.random_range(0..GIVEN.len())],
                GIVEN[rng.random_range(0..GIVEN.len())]
            )
        };
        let surname = SURNAMES[rng.random_range(0..SURNAMES.len())];
        let person = |rng: &mut ChaCha8Rng, years: std::ops::Range<i32>, serial: usize| {
            let year = rng.random_range(years);
            // Born in the district: the number starts with its code.
            let digits = format!(
                "{}{year:04}{:02}{:02}{:03}",
                h.district.as_str(),
                rng.random_range(1..13),
                rng.random_range(1..29),
                serial % 1000
            );
            IdNumber::complete(&digits).map(|id| id.expose().to_owned())
        };
        let bad_id = |e: tudi_core::personal::IdNumberError| {
            use tudi_core::msg::Bilingual;
            HomesteadError::Refused(e.msg())
        };
        let applicant = Person {
            name: name(&mut rng, surname),
            id_number: person(&mut rng, 1975..1998, i * 4).map_err(bad_id)?,
            relation: None,
        };
        let mut family = Vec::new();
        if rng.random_bool(0.8) {
            family.push(Person {
                name: {
                    let spouse = SURNAMES[rng.random_range(0..SURNAMES.len())];
                    name(&mut rng, spouse)
                },
                id_number: person(&mut rng, 1976..1999, i * 4 + 1).map_err(bad_id)?,
                relation: Some("配偶".into()),
            });
        }
        for k in 0..rng.random_range(0..3) {
            family.push(Person {
                name: name(&mut rng, surname),
                id_number: person(&mut rng, 2008..2022, i * 4 + 2 + k).map_err(bad_id)?,
                relation: Some(if rng.random_bool(0.5) { "子" } else { "女" }.into()),
            });
        }
        let member = !matches!(target, Target::Refused("review_agri", _));
        let form = ApplicationForm {
            applicant,
            phone: format!(
                "13{}{:08}",
                rng.random_range(5..10),
                rng.random_range(0..100_000_000)
            ),
            family,
            village: villages[vi].clone(),
            terrain: Terrain::Plain,
            build: if rng.random_bool(0.7) {
                BuildType::NewHousehold
            } else {
                BuildType::NewSite
            },
            current: CurrentHomestead::None,
            current_area_m2: None,
            current_certificate: None,
            site: site.clone(),
            address: format!("{}巷{}号", ["一", "二", "三", "四", "五"][i % 5], 2 + i),
            footprint_m2: 60.0,
            storeys: 3,
            height_m: 10.5,
            floor_area_m2: 175.0,
            neighbours: vec![
                neighbour(Side::East, "相邻住户"),
                neighbour(Side::South, "村道"),
                neighbour(Side::West, "相邻住户"),
                neighbour(Side::North, "集体空地"),
            ],
            reason: "分户后无宅基地，申请建房自住".into(),
        };
        if member {
            rolls[vi].extend(form.household().map(str::to_owned));
        }
        planned.push(Planned {
            target: *target,
            village: vi,
            site,
            form,
            start,
        });
    }
    planned.sort_by_key(|p| p.start);
    let first = planned.first().map_or(now, |p| p.start);
    for (vi, v) in villages.iter().enumerate() {
        let change = Change::new(cast.clerks[vi].actor(), "homestead.roll").at(first);
        h.set_roll(&change, v, rolls[vi].clone())?;
    }
    let mut made: BTreeMap<String, usize> = BTreeMap::new();
    let mut registered: Vec<(String, usize, Timestamp)> = Vec::new();
    for p in planned {
        let clerk = &cast.clerks[p.village];
        let mut at = p.start;
        let mut v = h.submit(clerk, p.form, at)?;
        let stop_at = match p.target {
            Target::At(s, _) | Target::Refused(s, _) => Some(s),
            Target::Registered(_) => None,
        };
        for step in PATH {
            if Some(step) == stop_at {
                break;
            }
            if let Target::At(s, done) = p.target
                && s.starts_with("review_")
                && step.starts_with("review_")
                && !done.contains(&step)
            {
                continue;
            }
            let Some(task) = v.case.open_tasks().find(|t| t.step == step).map(|t| t.id) else {
                continue;
            };
            at = at.checked_add(gap(&mut rng)).unwrap_or(at);
            if step == "publicity" {
                // The notice period ends by itself: let the clock run past it.
                let due = v
                    .case
                    .tasks
                    .iter()
                    .find(|t| t.id == task)
                    .and_then(|t| t.due);
                let tz = jiff::tz::TimeZone::fixed(jiff::tz::offset(8));
                at = due
                    .and_then(|d| d.to_zoned(tz).ok())
                    .and_then(|d| {
                        d.timestamp()
                            .checked_add(SignedDuration::from_hours(1))
                            .ok()
                    })
                    .unwrap_or(at);
                if at > now {
                    break;
                }
                h.tick(at)?;
                v = h.read(&v.application.id)?;
                continue;
            }
            let (who, form) = match step {
                "group_discussion" => (
                    clerk,
                    json!({"meeting_date": local_date(at).to_string(), "attendance": 11, "votes_for": 10, "minutes": "村民小组会议讨论通过"}),
                ),
                "village_review" => (
                    clerk,
                    json!({"opinion": "经审查，申请人符合条件，四至无异议"}),
                ),
                "town_intake" => (&cast.town, json!({})),
                "review_agri" => (&cast.agri, json!({"opinion": "资格和面积符合规定"})),
                "review_nr" => (
                    &cast.natural_resources,
                    json!({"opinion": "符合村庄规划和用途管制"}),
                ),
                "review_housing" => (
                    &cast.housing,
                    json!({"opinion": "采用农房设计通用图集，结构安全"}),
                ),
                "site_visit_1" => (
                    &cast.town,
                    json!({"visited_on": local_date(at).to_string(), "findings": "四至清楚，现场与申请一致"}),
                ),
                "approval" | "acceptance" | "staking" => (&cast.town, Value::Null),
                "construction" => (clerk, Value::Null),
                _ => (&cast.registrar, json!({})),
            };
            let form = match step {
                "staking" => json!({"staked_site": p.site}),
                "construction" => {
                    let started = local_date(at);
                    at = at
                        .checked_add(SignedDuration::from_hours(24 * 24))
                        .unwrap_or(at);
                    json!({"started_on": started.to_string(), "finished_on": local_date(at).to_string(), "builder": "本村建筑工匠"})
                }
                "acceptance" => json!({"built_site": p.site, "storeys": 3, "height_m": 10.2}),
                _ => form,
            };
            if at > now {
                // Holidays made this one slower than planned: it waits here.
                break;
            }
            let op = Op::Approve {
                task,
                comment: Some("同意".into()),
            };
            v = h.act(who, &v.application.id, v.case.revision, op, &form, at)?;
        }
        if let Target::Refused(step, reason) = p.target {
            let who = match step {
                "review_agri" => &cast.agri,
                _ => &cast.town,
            };
            let task = v.case.open_tasks().find(|t| t.step == step).map(|t| t.id);
            if let Some(task) = task {
                at = at.checked_add(gap(&mut rng)).unwrap_or(at).min(now);
                let op = Op::Reject {
                    task,
                    reason: reason.into(),
                };
                v = h.act(
                    who,
                    &v.application.id,
                    v.case.revision,
                    op,
                    &Value::Null,
                    at,
                )?;
            }
        }
        if let (Target::Registered(true), Some(r)) = (p.target, &v.application.registration) {
            at = at.checked_add(gap(&mut rng)).unwrap_or(at).min(now);
            let change = Change::new(cast.registrar.actor(), "certificate.revoke").at(at);
            h.revoke(
                &change,
                &r.certificate,
                "权利人姓名登记有误，原证注销后重新登记",
            )?;
        }
        if let (Target::Registered(false), Some(r)) = (p.target, &v.application.registration) {
            registered.push((r.unit_code.clone(), p.village, at));
        }
        for s in &v.application.stage {
            *made.entry(s.clone()).or_default() += 1;
        }
    }
    later_events(h, cast, &registered, &mut rng, now)?;
    // The clock catches up with today: reminders and overdue notices on the waiting steps.
    h.tick(now)?;
    Ok(made)
}

/// Later events on the first registered homesteads: a lease recorded, a mortgage registered, a
/// lease waiting for the village and an exit waiting for the town.
fn later_events(
    h: &Homesteads<'_>,
    cast: &Cast,
    registered: &[(String, usize, Timestamp)],
    rng: &mut ChaCha8Rng,
    now: Timestamp,
) -> Result<(), HomesteadError> {
    let district = h.district.as_str();
    let reg = tudi_core::division::DivisionRegistry::bundled();
    let place = tudi_core::division::DivisionCode::parse(district)
        .map_or_else(|_| district.to_owned(), |c| reg.name_under_parent(&c));
    let lease = |code: &str| EventRequest::Lease {
        right: code.to_owned(),
        lessee: format!("{place}某民宿有限公司"),
        lessee_id: format!("91{district}MA4W1XXXX1"),
        from: local_date(now),
        to: local_date(now).saturating_add(jiff::Span::new().years(5)),
        rent_yuan_per_year: 36_000.0,
        purpose: "民宿".into(),
    };
    for (i, (code, village, registered_at)) in registered.iter().take(4).enumerate() {
        let clerk = &cast.clerks[*village];
        let mut at = registered_at.checked_add(gap(rng)).unwrap_or(now).min(now);
        let (request, signers): (EventRequest, Vec<&Principal>) = match i {
            0 => (lease(code), vec![clerk, &cast.town]),
            1 => (
                EventRequest::Mortgage {
                    right: code.clone(),
                    mortgagee: format!("{place}农村商业银行股份有限公司"),
                    amount_yuan: 300_000.0,
                    from: local_date(now),
                    to: local_date(now).saturating_add(jiff::Span::new().years(3)),
                },
                vec![&cast.town, &cast.registrar],
            ),
            2 => (lease(code), vec![]),
            _ => (
                EventRequest::Exit {
                    right: code.clone(),
                    compensation_yuan: 120_000.0,
                    reason: "进城落户，自愿有偿退出宅基地".into(),
                },
                vec![clerk],
            ),
        };
        let who = if i == 1 { &cast.town } else { clerk };
        let mut e = h.submit_event(who, request, at)?;
        for p in signers {
            at = at.checked_add(gap(rng)).unwrap_or(now).min(now);
            let Some(task) = e.case.open_tasks().next().map(|t| t.id) else {
                break;
            };
            let op = Op::Approve {
                task,
                comment: Some("同意".into()),
            };
            e = h.act_event(p, &e.event.id, e.case.revision, op, at)?;
        }
    }
    Ok(())
}

fn neighbour(side: Side, name: &str) -> Neighbour {
    Neighbour {
        side,
        name: name.into(),
        agrees: true,
        note: None,
    }
}
