//! 资格审定: whether a household may be granted a homestead, as rules that each say why.
//!
//! Sources (reference/domain-standards.md §4.4–4.5): one household, one homestead, with the area
//! limits of the district's province ([`AreaStandard`]): 《广东省土地管理条例》 Article 42 — plains
//! and suburbs 80 m², hills 120 m², mountains 150 m²; 《浙江省土地管理条例》 Article 55 — 140 m² on
//! land other than cultivated land, 160 m² using waste land and slopes in mountain areas (125 m² on
//! cultivated land, which the site check measures against the land survey); the applicant a member of the village collective; and no new homestead after selling,
//! leasing out or giving away one's house (土地管理法 Article 62). The facts (who belongs to the
//! collective, who holds which homestead, who disposed of a house) come from the registry and the
//! approval records; this module only judges them.

use serde::{Deserialize, Serialize};
use tudi_core::msg::Msg;
use tudi_core::personal::IdNumber;

/// The terrain of the village, which sets the area limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Terrain {
    /// 平原地区和城市郊区.
    Plain,
    /// 丘陵地区.
    Hill,
    /// 山区.
    Mountain,
}

/// A province's limits on the area of a newly approved homestead.
#[derive(Debug, PartialEq)]
pub struct AreaStandard {
    /// Province code (2 digits).
    pub province: &'static str,
    /// Limits for plains, hills and mountains, m².
    limits_m2: [f64; 3],
    /// What the law calls each limit where it does not go by terrain.
    names_zh: Option<[&'static str; 3]>,
    /// The provision, in Chinese.
    pub source_zh: &'static str,
    /// The provision, in English.
    pub source_en: &'static str,
}

/// 《广东省土地管理条例》 (2022) Article 42.
pub const GUANGDONG: AreaStandard = AreaStandard {
    province: "44",
    limits_m2: [80.0, 120.0, 150.0],
    names_zh: None,
    source_zh: "广东省土地管理条例第四十二条",
    source_en: "Guangdong regulation art. 42",
};

/// 《浙江省土地管理条例》 (2021) Article 55: 140 m² on other land, 160 m² using waste land and
/// slopes in mountain areas; the 125 m² on cultivated land depends on the site, so the site
/// check (`homestead_site_zj`) applies it.
pub const ZHEJIANG: AreaStandard = AreaStandard {
    province: "33",
    limits_m2: [140.0, 140.0, 160.0],
    names_zh: Some(["使用其他土地", "使用其他土地", "山区利用荒地、荒坡"]),
    source_zh: "浙江省土地管理条例第五十五条",
    source_en: "Zhejiang regulation art. 55",
};

impl AreaStandard {
    /// The standard of the province `district` (a division code) lies in, if tudi knows it.
    #[must_use]
    pub fn for_district(district: &str) -> Option<&'static AreaStandard> {
        [&GUANGDONG, &ZHEJIANG]
            .into_iter()
            .find(|s| district.starts_with(s.province))
    }

    /// The largest homestead that may be approved on `terrain`, m².
    #[must_use]
    pub fn limit_m2(&self, terrain: Terrain) -> f64 {
        self.limits_m2[terrain as usize]
    }

    /// What the law calls the limit that applies on `terrain`.
    #[must_use]
    pub fn name_zh(&self, terrain: Terrain) -> &'static str {
        self.names_zh
            .map_or_else(|| terrain.name_zh(), |n| n[terrain as usize])
    }
}

impl Terrain {
    /// Chinese name.
    #[must_use]
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Plain => "平原地区和城市郊区",
            Self::Hill => "丘陵地区",
            Self::Mountain => "山区",
        }
    }
}

/// What is being built (申请表: 建房类型).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BuildType {
    /// 原址翻建: rebuild on one's own homestead.
    RebuildInPlace,
    /// 改扩建: alter or extend.
    Extend,
    /// 异址新建: build elsewhere.
    NewSite,
    /// 分户新建: a new household builds.
    NewHousehold,
}

impl BuildType {
    /// Chinese name, as on the 申请表.
    #[must_use]
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::RebuildInPlace => "原址翻建",
            Self::Extend => "改扩建",
            Self::NewSite => "异址新建",
            Self::NewHousehold => "分户新建",
        }
    }
}

/// What happens to the homestead the household holds now (申请表: 现宅基地处置).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CurrentHomestead {
    /// The household has none.
    None,
    /// Kept (only for rebuilding or extending on it).
    Keep,
    /// Returned to the collective once the new one is approved.
    Return,
}

/// A homestead someone holds: a registered parcel or an approval not yet registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holding {
    /// The holder's 身份证号.
    pub holder: String,
    /// 不动产单元代码 or approval number.
    pub reference: String,
    /// Whether it is only approved (not yet registered).
    pub approval: bool,
}

/// A house someone sold, leased out or gave away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disposal {
    /// The former owner's 身份证号.
    pub owner: String,
    /// 出卖, 出租 or 赠与.
    pub kind: String,
    /// When.
    pub date: jiff::civil::Date,
}

/// The facts the rules judge, from the registry, the approvals and the collective's roll.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// 身份证号 of the members of the village collective.
    pub collective_members: Vec<String>,
    /// Homesteads held (registered or approved) by anyone.
    pub holdings: Vec<Holding>,
    /// Houses disposed of.
    pub disposals: Vec<Disposal>,
}

/// What a household applies for (the parts of the 申请表 the rules read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    /// The applicant's 身份证号.
    pub applicant: String,
    /// Every other member of the household.
    pub family: Vec<String>,
    /// The village's terrain.
    pub terrain: Terrain,
    /// Proposed homestead area, m².
    pub area_m2: f64,
    /// What is built.
    pub build: BuildType,
    /// What happens to the current homestead.
    pub current: CurrentHomestead,
}

/// One rule's finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Rule id (`member`, `one_homestead`, `no_disposal`, `area`, `id_numbers`).
    pub rule: &'static str,
    /// Whether it passed.
    pub passed: bool,
    /// Why, in Chinese and English.
    pub message: Msg,
}

/// The verdict: eligible only if every rule passed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// Every rule passed.
    pub eligible: bool,
    /// Each rule's finding, in order.
    pub findings: Vec<Finding>,
}

fn masked(id: &str) -> String {
    IdNumber::parse(id).map_or_else(|_| "（无效号码）".to_owned(), |i| i.masked())
}

/// Judges `app` against `facts` and the province's area `standard` (none: the area cannot be
/// judged, so the household is not found eligible).
#[must_use]
pub fn check(app: &Application, facts: &Facts, standard: Option<&AreaStandard>) -> Verdict {
    let mut findings = Vec::new();
    let household: Vec<&String> = std::iter::once(&app.applicant).chain(&app.family).collect();
    let bad_ids: Vec<String> = household
        .iter()
        .filter(|id| IdNumber::parse(id).is_err())
        .map(|id| (*id).clone())
        .collect();
    findings.push(Finding {
        rule: "id_numbers",
        passed: bad_ids.is_empty(),
        message: if bad_ids.is_empty() {
            Msg::new(
                "户内成员身份证号均有效",
                "every member's identity number is valid",
            )
        } else {
            Msg::new(
                format!(
                    "有 {} 个身份证号无效（校验码或出生日期不符）",
                    bad_ids.len()
                ),
                format!("{} identity numbers are not valid", bad_ids.len()),
            )
        },
    });
    let member = facts.collective_members.contains(&app.applicant);
    findings.push(Finding {
        rule: "member",
        passed: member,
        message: if member {
            Msg::new(
                "申请人是本村集体经济组织成员",
                "the applicant is a member of the village collective",
            )
        } else {
            Msg::new(
                format!("申请人 {} 不是本村集体经济组织成员", masked(&app.applicant)),
                "the applicant is not a member of the village collective",
            )
        },
    });
    // One household, one homestead: a holding counts unless it is the one rebuilt or extended,
    // or the household returns it to the collective.
    let replaces = matches!(app.build, BuildType::RebuildInPlace | BuildType::Extend)
        || app.current == CurrentHomestead::Return;
    let held: Vec<&Holding> = facts
        .holdings
        .iter()
        .filter(|h| household.iter().any(|m| **m == h.holder))
        .collect();
    let (passed, message) = match (held.as_slice(), replaces) {
        ([], _) => (
            true,
            Msg::new(
                "户内成员均无宅基地",
                "no member of the household holds a homestead",
            ),
        ),
        ([only], true) if !only.approval => (
            true,
            Msg::new(
                format!(
                    "现有宅基地 {} 将原址翻建或退还集体，符合一户一宅",
                    only.reference
                ),
                format!(
                    "the current homestead {} is rebuilt or returned: one household, one homestead",
                    only.reference
                ),
            ),
        ),
        (list, _) => {
            let names: Vec<String> = list
                .iter()
                .map(|h| {
                    format!(
                        "{}（{}{}）",
                        masked(&h.holder),
                        if h.approval { "已批准 " } else { "" },
                        h.reference
                    )
                })
                .collect();
            (
                false,
                Msg::new(
                    format!("违反一户一宅：户内已有宅基地 {}", names.join("、")),
                    format!(
                        "one household, one homestead: the household already holds {}",
                        list.len()
                    ),
                ),
            )
        }
    };
    findings.push(Finding {
        rule: "one_homestead",
        passed,
        message,
    });
    let disposed: Vec<&Disposal> = facts
        .disposals
        .iter()
        .filter(|d| household.iter().any(|m| **m == d.owner))
        .collect();
    findings.push(Finding {
        rule: "no_disposal",
        passed: disposed.is_empty(),
        message: match disposed.first() {
            None => Msg::new("户内成员无出卖、出租、赠与住宅记录", "no member sold, leased out or gave away a house"),
            Some(d) => Msg::new(
                format!("{} 已于 {} {}住宅，不得再申请宅基地（土地管理法第六十二条）", masked(&d.owner), d.date, d.kind),
                format!("a member disposed of a house ({}) on {}: no new homestead (Land Administration Law art. 62)", d.kind, d.date),
            ),
        },
    });
    findings.push(match standard {
        Some(standard) => area_finding(app, standard),
        None => Finding {
            rule: "area",
            passed: false,
            message: Msg::new(
                "本辖区所在省份没有已配置的宅基地面积标准，无法审定面积",
                "no homestead area standard is configured for this district's province",
            ),
        },
    });
    Verdict {
        eligible: findings.iter().all(|f| f.passed),
        findings,
    }
}

fn area_finding(app: &Application, standard: &AreaStandard) -> Finding {
    let limit = standard.limit_m2(app.terrain);
    let name = standard.name_zh(app.terrain);
    let area_ok = app.area_m2.is_finite() && app.area_m2 > 0.0 && app.area_m2 <= limit;
    Finding {
        rule: "area",
        passed: area_ok,
        message: if area_ok {
            Msg::new(
                format!(
                    "申请面积 {:.2} 平方米，不超过{name}标准 {limit} 平方米",
                    app.area_m2
                ),
                format!("{:.2} m² is within the {limit} m² limit", app.area_m2),
            )
        } else {
            Msg::new(
                format!(
                    "申请面积 {:.2} 平方米，超过{name}标准 {limit} 平方米（{}）",
                    app.area_m2, standard.source_zh
                ),
                format!(
                    "{:.2} m² exceeds the {limit} m² limit ({})",
                    app.area_m2, standard.source_en
                ),
            )
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // Valid GB 11643 numbers (check characters computed for these made-up people).
    const A: &str = "44060519800101001X";
    const B: &str = "440605198203020021";
    const C: &str = "440605200501010016";

    fn app() -> Application {
        Application {
            applicant: A.into(),
            family: vec![B.into(), C.into()],
            terrain: Terrain::Plain,
            area_m2: 78.5,
            build: BuildType::NewHousehold,
            current: CurrentHomestead::None,
        }
    }

    fn facts() -> Facts {
        Facts {
            collective_members: vec![A.into(), B.into()],
            ..Facts::default()
        }
    }

    fn failed(v: &Verdict) -> Vec<&'static str> {
        v.findings
            .iter()
            .filter(|f| !f.passed)
            .map(|f| f.rule)
            .collect()
    }

    #[test]
    fn the_test_numbers_are_valid() {
        for id in [A, B, C] {
            assert!(IdNumber::parse(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn an_eligible_household_passes_every_rule() {
        let v = check(&app(), &facts(), Some(&GUANGDONG));
        assert!(v.eligible, "{v:?}");
        assert_eq!(v.findings.len(), 5);
    }

    #[test]
    fn each_rule_fails_for_its_reason() {
        let mut f = facts();
        f.collective_members.clear();
        assert_eq!(failed(&check(&app(), &f, Some(&GUANGDONG))), ["member"]);

        let mut f = facts();
        f.holdings.push(Holding {
            holder: C.into(),
            reference: "440605011001JC00012F00010001".into(),
            approval: false,
        });
        let v = check(&app(), &f, Some(&GUANGDONG));
        assert_eq!(failed(&v), ["one_homestead"]);
        let why = &v
            .findings
            .iter()
            .find(|x| x.rule == "one_homestead")
            .unwrap()
            .message
            .zh;
        assert!(
            why.contains("440605011001JC00012") && !why.contains(C),
            "names the parcel, masks the person: {why}"
        );
        // Rebuilding on that homestead, or returning it, is allowed; an approval elsewhere is not.
        let mut rebuild = app();
        rebuild.build = BuildType::RebuildInPlace;
        assert!(check(&rebuild, &f, Some(&GUANGDONG)).eligible);
        f.holdings[0].approval = true;
        assert_eq!(
            failed(&check(&rebuild, &f, Some(&GUANGDONG))),
            ["one_homestead"]
        );

        let mut f = facts();
        f.disposals.push(Disposal {
            owner: B.into(),
            kind: "出卖".into(),
            date: jiff::civil::date(2019, 5, 1),
        });
        let v = check(&app(), &f, Some(&GUANGDONG));
        assert_eq!(failed(&v), ["no_disposal"]);
        assert!(v.findings[3].message.zh.contains("第六十二条"));

        let mut big = app();
        big.area_m2 = 95.0;
        let v = check(&big, &facts(), Some(&GUANGDONG));
        assert_eq!(failed(&v), ["area"]);
        assert!(
            v.findings[4]
                .message
                .zh
                .contains("广东省土地管理条例第四十二条")
        );
        big.terrain = Terrain::Hill;
        assert!(
            check(&big, &facts(), Some(&GUANGDONG)).eligible,
            "120 m² in the hills"
        );

        let mut typo = app();
        typo.family.push("440605200501010017".into());
        assert_eq!(
            failed(&check(&typo, &facts(), Some(&GUANGDONG))),
            ["id_numbers"]
        );
    }

    /// The area limit is the district's province's: 95 m² on the plain is too much in Guangdong
    /// and allowed in Zhejiang, 150 m² too much there except in the mountains; a district whose
    /// province has no configured standard is not judged eligible.
    #[test]
    fn the_area_limit_is_the_provinces() {
        assert_eq!(AreaStandard::for_district("440605"), Some(&GUANGDONG));
        assert_eq!(AreaStandard::for_district("330402"), Some(&ZHEJIANG));
        assert_eq!(AreaStandard::for_district("110101"), None);
        let mut a = app();
        a.area_m2 = 95.0;
        assert!(check(&a, &facts(), Some(&ZHEJIANG)).eligible);
        a.area_m2 = 150.0;
        let v = check(&a, &facts(), Some(&ZHEJIANG));
        assert_eq!(failed(&v), ["area"]);
        assert!(
            v.findings[4].message.zh.contains("使用其他土地标准 140")
                && v.findings[4]
                    .message
                    .zh
                    .contains("浙江省土地管理条例第五十五条"),
            "{}",
            v.findings[4].message.zh
        );
        a.terrain = Terrain::Mountain;
        assert!(check(&a, &facts(), Some(&ZHEJIANG)).eligible);
        let v = check(&app(), &facts(), None);
        assert_eq!(failed(&v), ["area"]);
    }
}
