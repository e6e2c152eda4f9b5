//! The homestead approval process as data (`data/process-homestead.json`): 农经发〔2019〕6号's steps
//! — village group discussion and a 公示 period that ends by itself, village review, township
//! intake, joint review by 农业农村, 自然资源 and 住建 in parallel, the three site visits,
//! approval, construction and registration — the same in every district, with tudi's time limits.
//!
//! The limits are tudi's defaults (5 working days a step, 3 for intake, a year to build), not a
//! district's own: the body of 南海's 南宅改〔2021〕2号 could not be retrieved (domain-standards
//! §4.3, §4.6). A district deploys its own version with other limits; running cases keep theirs.

use tudi_flow::definition::{DefinitionError, ProcessDef};

/// The process key.
pub const KEY: &str = "homestead.application";

/// The process as shipped (deployed in a store on first use).
///
/// # Errors
/// When the shipped file does not parse or check (a unit test keeps that from shipping).
pub fn shipped() -> Result<ProcessDef, DefinitionError> {
    let def: ProcessDef = serde_json::from_str(include_str!("../data/process-homestead.json"))
        .map_err(|e| DefinitionError {
            key: KEY.into(),
            reason: e.to_string(),
            reason_zh: format!("内置流程定义无法解析：{e}"),
        })?;
    def.check()?;
    Ok(def)
}

/// The stage a step belongs to, for lists and statistics (the three parallel reviews are one
/// stage, 联审).
#[must_use]
pub fn stage_of(step: &str) -> &str {
    match step {
        "review_agri" | "review_nr" | "review_housing" => "joint_review",
        other => other,
    }
}

/// Chinese name of a stage.
#[must_use]
pub fn stage_name(stage: &str) -> &'static str {
    match stage {
        "group_discussion" => "村民小组讨论",
        "publicity" => "村内公示",
        "village_review" => "村级审查",
        "town_intake" => "镇街受理",
        "joint_review" => "部门联审",
        "site_visit_1" => "到场一：选址踏勘",
        "approval" => "审批发证",
        "staking" => "到场二：丈量批放",
        "construction" => "施工",
        "acceptance" => "到场三：竣工验收",
        "registration" => "不动产登记",
        "registered" => "已登记",
        "refused" => "不予批准",
        _ => "其他",
    }
}

/// Every stage in order.
pub const STAGES: [&str; 13] = [
    "group_discussion",
    "publicity",
    "village_review",
    "town_intake",
    "joint_review",
    "site_visit_1",
    "approval",
    "staking",
    "construction",
    "acceptance",
    "registration",
    "registered",
    "refused",
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_shipped_process_checks_and_names_every_stage() {
        let def = shipped().unwrap();
        assert_eq!(def.key, KEY);
        for s in &def.steps {
            assert_ne!(stage_name(stage_of(&s.id)), "其他", "{}", s.id);
            assert!(STAGES.contains(&stage_of(&s.id)), "{}", s.id);
            assert!(s.level.is_some(), "{} has a level", s.id);
        }
        let joint = def.step("site_visit_1").unwrap();
        assert!(joint.join, "site visit 1 waits for all three reviews");
        assert_eq!(def.incoming("site_visit_1").len(), 3);
    }
}
