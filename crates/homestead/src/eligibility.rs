//! 资格审定: whether a household may be granted a homestead, as rules that each say why.
//!
//! Sources (reference/domain-standards.md §4.4–4.5): one household, one homestead, with the area
//! limits of 《广东省土地管理条例》 Article 42 — plains and suburbs 80 m², hills 120 m², mountains
//! 150 m²; the applicant a member of the village collective; and no new homestead after selling,
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

impl Terrain {
    /// The largest homestead that may be approved, m² (Guangdong, Article 42).
    #[must_use]
    pub fn limit_m2(self) -> f64 {
        match self {
            Self::Plain => 80.0,
            Self::Hill => 120.0,
            Self::Mountain => 150.0,
        }
    }

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

/// Judges `app` against `facts`.
#[must_use]
pub fn check(app: &Application, facts: &Facts) -> Verdict {
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
    let limit = app.terrain.limit_m2();
    let area_ok = app.area_m2.is_finite() && app.area_m2 > 0.0 && app.area_m2 <= limit;
    findings.push(Finding {
        rule: "area",
        passed: area_ok,
        message: if area_ok {
            Msg::new(
                format!("申请面积 {:.2} 平方米，不超过{}标准 {limit} 平方米", app.area_m2, app.terrain.name_zh()),
                format!("{:.2} m² is within the {limit} m² limit", app.area_m2),
            )
        } else {
            Msg::new(
                format!("申请面积 {:.2} 平方米，超过{}标准 {limit} 平方米（广东省土地管理条例第四十二条）", app.area_m2, app.terrain.name_zh()),
                format!("{:.2} m² exceeds the {limit} m² limit (Guangdong regulation art. 42)", app.area_m2),
            )
        },
    });
    Verdict {
        eligible: findings.iter().all(|f| f.passed),
        findings,
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
        let v = check(&app(), &facts());
        assert!(v.eligible, "{v:?}");
        assert_eq!(v.findings.len(), 5);
    }

    #[test]
    fn each_rule_fails_for_its_reason() {
        let mut f = facts();
        f.collective_members.clear();
        assert_eq!(failed(&check(&app(), &f)), ["member"]);

        let mut f = facts();
        f.holdings.push(Holding {
            holder: C.into(),
            reference: "440605011001JC00012F00010001".into(),
            approval: false,
        });
        let v = check(&app(), &f);
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
        assert!(check(&rebuild, &f).eligible);
        f.holdings[0].approval = true;
        assert_eq!(failed(&check(&rebuild, &f)), ["one_homestead"]);

        let mut f = facts();
        f.disposals.push(Disposal {
            owner: B.into(),
            kind: "出卖".into(),
            date: jiff::civil::date(2019, 5, 1),
        });
        let v = check(&app(), &f);
        assert_eq!(failed(&v), ["no_disposal"]);
        assert!(v.findings[3].message.zh.contains("第六十二条"));

        let mut big = app();
        big.area_m2 = 95.0;
        assert_eq!(failed(&check(&big, &facts())), ["area"]);
        big.terrain = Terrain::Hill;
        assert!(check(&big, &facts()).eligible, "120 m² in the hills");

        let mut typo = app();
        typo.family.push("440605200501010017".into());
        assert_eq!(failed(&check(&typo, &facts())), ["id_numbers"]);
    }
}
