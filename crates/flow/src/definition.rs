//! Process definitions as data: steps, who acts on each (a role at a jurisdiction level), how many
//! must sign, deadlines, and the transitions — several next steps run in parallel, and a step
//! marked `join` waits for all of its incoming branches. Definitions are versioned: a running
//! case keeps the version it started with.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use tudi_core::msg::Msg;

/// The id of the step that ends a case.
pub const END: &str = "end";

/// How many of a step's signers must approve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "rule", content = "n")]
pub enum Signers {
    /// One person (the step's only assignee).
    One,
    /// Every signer (会签).
    All,
    /// Any one of them (或签).
    Any,
    /// At least this many (票签).
    Threshold(u32),
}

/// A deadline on a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    /// Days allowed.
    pub days: u32,
    /// Working days (else calendar days).
    pub working: bool,
}

/// What happens when a step's deadline passes (a reminder comes a day before in any case, and
/// an overdue notice when it passes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    /// Only the overdue notice: people must still act.
    Notify,
    /// The step completes by itself as approved: a timer, such as a public-notice period (公示)
    /// that ends unless someone objects (rejects or returns) first.
    Advance,
}

/// One step of a process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepDef {
    /// Id, unique in the process (`end` is reserved).
    pub id: String,
    /// Name shown to people.
    pub name: String,
    /// The role that acts (a `tudi-access` role id).
    pub role: String,
    /// The jurisdiction level of the unit that acts (`district`, `town`, `village`), from the
    /// case's place; `None`: the capability decides.
    #[serde(default)]
    pub level: Option<String>,
    /// The department that acts (for department roles), e.g. 自然资源.
    #[serde(default)]
    pub department: Option<String>,
    /// How many signers must approve.
    pub signers: Signers,
    /// Time allowed, if limited.
    #[serde(default)]
    pub deadline: Option<Deadline>,
    /// What happens when the deadline passes (default: an overdue notice only).
    #[serde(default)]
    pub on_timeout: Option<OnTimeout>,
    /// Steps that follow an approval (several: parallel branches; `end` to finish).
    pub next: Vec<String>,
    /// Wait for every incoming branch before opening.
    #[serde(default)]
    pub join: bool,
    /// The form's fields this step fills (names only; the capability defines them).
    #[serde(default)]
    pub form: Vec<String>,
}

/// A versioned process definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessDef {
    /// Key shared by all versions (`homestead.application`).
    pub key: String,
    /// Version, from 1.
    pub version: u32,
    /// Name shown to people.
    pub name: String,
    /// The first step.
    pub start: String,
    /// The steps.
    pub steps: Vec<StepDef>,
}

/// A definition that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("process {key}: {reason}")]
pub struct DefinitionError {
    /// The process.
    pub key: String,
    /// What is wrong.
    pub reason: String,
    /// The same in Chinese.
    pub reason_zh: String,
}

impl DefinitionError {
    /// The message for users.
    #[must_use]
    pub fn message(&self) -> Msg {
        Msg::new(
            format!("流程 {}：{}", self.key, self.reason_zh),
            format!("process {}: {}", self.key, self.reason),
        )
    }
}

impl ProcessDef {
    /// A step by id.
    #[must_use]
    pub fn step(&self, id: &str) -> Option<&StepDef> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// Steps leading into `id`.
    #[must_use]
    pub fn incoming(&self, id: &str) -> Vec<&StepDef> {
        self.steps
            .iter()
            .filter(|s| s.next.iter().any(|n| n == id))
            .collect()
    }

    /// Checks that the definition can run: ids unique and not `end`, the start and every next
    /// step defined, every step reachable and able to reach the end, thresholds at least 1.
    ///
    /// # Errors
    /// The first problem found.
    pub fn check(&self) -> Result<(), DefinitionError> {
        let bad = |en: String, zh: String| DefinitionError {
            key: self.key.clone(),
            reason: en,
            reason_zh: zh,
        };
        if self.version == 0 {
            return Err(bad("versions start at 1".into(), "版本号从 1 开始".into()));
        }
        let mut ids = BTreeSet::new();
        for s in &self.steps {
            if s.id == END || s.id.is_empty() {
                return Err(bad(
                    format!("a step may not be called {:?}", s.id),
                    format!("步骤不能命名为「{}」", s.id),
                ));
            }
            if !ids.insert(s.id.as_str()) {
                return Err(bad(
                    format!("step {} is defined twice", s.id),
                    format!("步骤 {} 重复定义", s.id),
                ));
            }
            if s.next.is_empty() {
                return Err(bad(
                    format!("step {} leads nowhere (use \"end\")", s.id),
                    format!("步骤 {} 没有后续步骤（结束请用 end）", s.id),
                ));
            }
            if s.on_timeout == Some(OnTimeout::Advance) && s.deadline.is_none() {
                return Err(bad(
                    format!("step {} advances on timeout but has no deadline", s.id),
                    format!("步骤 {} 设为到期自动通过，但没有期限", s.id),
                ));
            }
            if matches!(s.signers, Signers::Threshold(0)) {
                return Err(bad(
                    format!("step {} needs a threshold of at least 1", s.id),
                    format!("步骤 {} 的票签门槛至少为 1", s.id),
                ));
            }
        }
        if !ids.contains(self.start.as_str()) {
            return Err(bad(
                format!("start step {} is not defined", self.start),
                format!("开始步骤 {} 未定义", self.start),
            ));
        }
        for s in &self.steps {
            if let Some(n) = s
                .next
                .iter()
                .find(|n| *n != END && !ids.contains(n.as_str()))
            {
                return Err(bad(
                    format!("step {} leads to undefined step {n}", s.id),
                    format!("步骤 {} 指向未定义的步骤 {n}", s.id),
                ));
            }
        }
        // Reachable from the start, and the end reachable from every step.
        let mut seen = BTreeSet::from([self.start.as_str()]);
        let mut todo = vec![self.start.as_str()];
        while let Some(id) = todo.pop() {
            for n in self.step(id).map(|s| s.next.as_slice()).unwrap_or_default() {
                if n != END && seen.insert(n.as_str()) {
                    todo.push(n);
                }
            }
        }
        if let Some(s) = self.steps.iter().find(|s| !seen.contains(s.id.as_str())) {
            return Err(bad(
                format!("step {} cannot be reached from the start", s.id),
                format!("步骤 {} 从开始步骤无法到达", s.id),
            ));
        }
        let mut ends: BTreeSet<&str> = BTreeSet::new();
        loop {
            let before = ends.len();
            for s in &self.steps {
                if s.next.iter().any(|n| n == END || ends.contains(n.as_str())) {
                    ends.insert(s.id.as_str());
                }
            }
            if ends.len() == before {
                break;
            }
        }
        if let Some(s) = self.steps.iter().find(|s| !ends.contains(s.id.as_str())) {
            return Err(bad(
                format!("step {} can never reach the end", s.id),
                format!("步骤 {} 无法到达结束", s.id),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn step(id: &str, next: &[&str]) -> StepDef {
        StepDef {
            id: id.into(),
            name: id.into(),
            role: "town_reviewer".into(),
            level: None,
            department: None,
            signers: Signers::One,
            deadline: None,
            on_timeout: None,
            next: next.iter().map(|s| (*s).to_owned()).collect(),
            join: false,
            form: vec![],
        }
    }

    fn def(steps: Vec<StepDef>) -> ProcessDef {
        ProcessDef {
            key: "t".into(),
            version: 1,
            name: "t".into(),
            start: "a".into(),
            steps,
        }
    }

    #[test]
    fn broken_definitions_are_refused_with_the_reason() {
        let reason = |d: ProcessDef| d.check().unwrap_err().reason_zh;
        assert!(reason(def(vec![step("a", &["b"])])).contains("未定义的步骤 b"));
        assert!(reason(def(vec![step("a", &["end"]), step("a", &["end"])])).contains("重复"));
        assert!(reason(def(vec![step("a", &["end"]), step("b", &["end"])])).contains("无法到达"));
        assert!(reason(def(vec![step("a", &["b"]), step("b", &["a"])])).contains("无法到达结束"));
        assert!(reason(def(vec![step("a", &[])])).contains("没有后续"));
        let mut t = step("a", &["end"]);
        t.signers = Signers::Threshold(0);
        assert!(reason(def(vec![t])).contains("门槛"));
        let mut t = step("a", &["end"]);
        t.on_timeout = Some(OnTimeout::Advance);
        assert!(reason(def(vec![t])).contains("没有期限"));
        assert!(
            def(vec![
                step("a", &["b", "c"]),
                step("b", &["d"]),
                step("c", &["d"]),
                step("d", &["end"])
            ])
            .check()
            .is_ok()
        );
    }
}
