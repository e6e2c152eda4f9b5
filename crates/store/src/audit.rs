//! The audit chain: what every entry holds, how it is hashed, and how a chain is checked.
//!
//! Each entry's hash is SHA-256 over the previous entry's hash and a canonical text of its own
//! fields (JSON with keys in a fixed order), so editing, inserting or deleting any entry breaks
//! the chain from that point on. The store also keeps the last sequence number it issued, apart
//! from the entries; a chain cut short at the end therefore no longer reaches it. Replacing the
//! whole tail with freshly hashed entries is only found against a head kept outside the file:
//! verification prints the head hash for that.
//!
//! The hashing and checking here are pure; backends only store rows and hand them back.

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tudi_core::msg::Msg;

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Whether the action took place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The change was made.
    Done,
    /// The policy refused it; nothing changed.
    Denied,
}

impl Outcome {
    /// The stored spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Denied => "denied",
        }
    }

    /// Reads the stored spelling.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "done" => Some(Self::Done),
            "denied" => Some(Self::Denied),
            _ => None,
        }
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AuditEntry {
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    /// When.
    pub at: Timestamp,
    /// Who: `user:<name>`, `token:<id>`, `cli`, `anonymous` …
    pub actor: String,
    /// What, as a dotted name: `layer.import`, `user.create`, `auth.login` …
    pub action: String,
    /// On what: `layer:parcels`, `layer:parcels/<feature id>`, `user:<name>` …
    pub resource: String,
    /// Done or denied.
    pub outcome: Outcome,
    /// SHA-256 of the resource before the change (`None`: it did not exist).
    pub before: Option<String>,
    /// SHA-256 of the resource after the change (`None`: it no longer exists).
    pub after: Option<String>,
    /// The HTTP request that made the change, when there was one.
    pub request_id: Option<String>,
    /// A small structured note (never personal data).
    pub detail: Option<Value>,
    /// Hash of the previous entry.
    pub prev_hash: String,
    /// Hash of this entry.
    pub hash: String,
}

/// The hashed content of an entry: everything except the hashes themselves, in a fixed order.
fn canonical(e: &AuditEntry) -> String {
    let mut out = String::with_capacity(256);
    out.push('[');
    push_json(&mut out, &Value::from(e.seq));
    for s in [
        Some(e.at.to_string()),
        Some(e.actor.clone()),
        Some(e.action.clone()),
        Some(e.resource.clone()),
        Some(e.outcome.as_str().to_owned()),
        e.before.clone(),
        e.after.clone(),
        e.request_id.clone(),
    ] {
        out.push(',');
        push_json(&mut out, &s.map_or(Value::Null, Value::String));
    }
    out.push(',');
    push_json(&mut out, e.detail.as_ref().unwrap_or(&Value::Null));
    out.push(']');
    out
}

/// Writes `v` as JSON with object keys sorted (see [`tudi_core::json::push_canonical`]).
pub fn push_json(out: &mut String, v: &Value) {
    tudi_core::json::push_canonical(out, v);
}

/// Lower-case hexadecimal.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// SHA-256 of `bytes`, in hex.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The digest the audit log records for a JSON value (canonical form, keys sorted).
#[must_use]
pub fn digest_json(v: &Value) -> String {
    let mut s = String::new();
    push_json(&mut s, v);
    sha256_hex(s.as_bytes())
}

/// The hash `entry` must carry, given its `prev_hash`.
#[must_use]
pub fn entry_hash(entry: &AuditEntry) -> String {
    let mut h = Sha256::new();
    h.update(entry.prev_hash.as_bytes());
    h.update(b"\n");
    h.update(canonical(entry).as_bytes());
    hex(&h.finalize())
}

/// What is wrong at one place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChainFault {
    /// The entry's content no longer matches its hash: it was edited.
    Edited {
        /// The entry.
        seq: u64,
    },
    /// The entry does not follow the one before it: an entry was inserted or removed here.
    BrokenLink {
        /// The entry.
        seq: u64,
    },
    /// Sequence numbers jump: entries between were deleted.
    Gap {
        /// The last entry before the gap (0: the start).
        after: u64,
        /// The next entry present.
        next: u64,
    },
    /// The chain does not end where the store's sequence does: entries at the end were deleted
    /// or added outside tudi.
    Head {
        /// The last sequence number the store issued.
        recorded: u64,
        /// The last entry present.
        found: u64,
    },
    /// A row could not be read (bad timestamp or outcome).
    Unreadable {
        /// The entry.
        seq: u64,
    },
}

impl ChainFault {
    /// Says what is wrong, in Chinese and English.
    #[must_use]
    pub fn message(&self) -> Msg {
        match self {
            Self::Edited { seq } => Msg::new(
                format!("第 {seq} 条审计记录的内容与其哈希不符：已被修改"),
                format!("audit entry {seq}: content does not match its hash (edited)"),
            ),
            Self::BrokenLink { seq } => Msg::new(
                format!("第 {seq} 条审计记录未接续上一条：其前有记录被插入或删除"),
                format!(
                    "audit entry {seq}: does not follow the entry before it (an entry was inserted or deleted)"
                ),
            ),
            Self::Gap { after, next } => Msg::new(
                format!("审计记录 {after} 与 {next} 之间缺号：有记录被删除"),
                format!("audit entries between {after} and {next} are missing (deleted)"),
            ),
            Self::Head { recorded, found } => Msg::new(
                format!(
                    "审计链应止于第 {recorded} 条，实际止于第 {found} 条：末尾记录被删除或被外部追加"
                ),
                format!(
                    "the audit chain should end at entry {recorded} but ends at {found} (entries at the end deleted or added outside tudi)"
                ),
            ),
            Self::Unreadable { seq } => Msg::new(
                format!("第 {seq} 条审计记录无法读取"),
                format!("audit entry {seq} cannot be read"),
            ),
        }
    }
}

/// The result of checking a chain.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AuditReport {
    /// Entries read.
    pub entries: u64,
    /// The last entry's hash.
    pub head: Option<String>,
    /// Faults, in chain order (at most [`AuditReport::MAX_FAULTS`]).
    pub faults: Vec<ChainFault>,
}

impl AuditReport {
    /// Faults beyond this many are not listed.
    pub const MAX_FAULTS: usize = 100;

    /// Whether the chain is intact.
    #[must_use]
    pub fn is_intact(&self) -> bool {
        self.faults.is_empty()
    }
}

/// Checks a chain entry by entry; feed it rows in sequence order, then call [`Verifier::finish`].
#[derive(Debug)]
pub struct Verifier {
    last_seq: u64,
    last_hash: String,
    report: AuditReport,
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            last_seq: 0,
            last_hash: GENESIS.to_owned(),
            report: AuditReport {
                entries: 0,
                head: None,
                faults: Vec::new(),
            },
        }
    }
}

impl Verifier {
    fn fault(&mut self, f: ChainFault) {
        if self.report.faults.len() < AuditReport::MAX_FAULTS {
            self.report.faults.push(f);
        }
    }

    /// Checks the next entry.
    pub fn push(&mut self, entry: &AuditEntry) {
        self.report.entries += 1;
        if entry.seq != self.last_seq + 1 {
            self.fault(ChainFault::Gap {
                after: self.last_seq,
                next: entry.seq,
            });
        } else if entry.prev_hash != self.last_hash {
            self.fault(ChainFault::BrokenLink { seq: entry.seq });
        }
        if entry_hash(entry) != entry.hash {
            self.fault(ChainFault::Edited { seq: entry.seq });
        }
        self.last_seq = entry.seq;
        self.last_hash.clone_from(&entry.hash);
    }

    /// Notes a row that could not be decoded.
    pub fn unreadable(&mut self, seq: u64, hash: String) {
        self.report.entries += 1;
        self.fault(ChainFault::Unreadable { seq });
        self.last_seq = seq;
        self.last_hash = hash;
    }

    /// Ends the check against the last sequence number the store issued (`None`: no entry was
    /// ever written).
    #[must_use]
    pub fn finish(mut self, issued: Option<u64>) -> AuditReport {
        let recorded_seq = issued.unwrap_or(0);
        if recorded_seq != self.last_seq {
            self.fault(ChainFault::Head {
                recorded: recorded_seq,
                found: self.last_seq,
            });
        }
        self.report.head = (self.last_seq > 0).then(|| self.last_hash.clone());
        self.report
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn chain(n: u64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let mut e = AuditEntry {
                    seq,
                    at: Timestamp::from_second(1_790_000_000 + seq as i64).unwrap(),
                    actor: "user:admin".into(),
                    action: "user.create".into(),
                    resource: format!("user:u{seq}"),
                    outcome: Outcome::Done,
                    before: None,
                    after: Some(sha256_hex(&seq.to_le_bytes())),
                    request_id: None,
                    detail: Some(serde_json::json!({"b": 1, "a": [seq]})),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                e.hash = entry_hash(&e);
                prev.clone_from(&e.hash);
                e
            })
            .collect()
    }

    fn check(entries: &[AuditEntry], head: Option<u64>) -> AuditReport {
        let mut v = Verifier::default();
        for e in entries {
            v.push(e);
        }
        v.finish(head)
    }

    fn head(entries: &[AuditEntry]) -> Option<u64> {
        entries.last().map(|e| e.seq)
    }

    #[test]
    fn an_intact_chain_verifies() {
        let c = chain(5);
        let r = check(&c, head(&c));
        assert!(r.is_intact(), "{r:?}");
        assert_eq!(r.entries, 5);
        assert!(check(&[], None).is_intact());
    }

    #[test]
    fn each_kind_of_tampering_is_found_where_it_happened() {
        let c = chain(6);
        let h = head(&c);
        let mut edited = c.clone();
        edited[2].actor = "user:mallory".into();
        assert_eq!(
            check(&edited, h).faults,
            vec![ChainFault::Edited { seq: 3 }]
        );

        let mut deleted = c.clone();
        deleted.remove(3);
        assert_eq!(
            check(&deleted, h).faults,
            vec![ChainFault::Gap { after: 3, next: 5 }]
        );

        let mut renumbered = c.clone();
        renumbered.remove(3);
        for e in &mut renumbered[3..] {
            e.seq -= 1;
        }
        let faults = check(&renumbered, h).faults;
        assert!(
            faults.contains(&ChainFault::BrokenLink { seq: 4 }),
            "{faults:?}"
        );

        let mut truncated = c.clone();
        truncated.pop();
        assert_eq!(
            check(&truncated, h).faults,
            vec![ChainFault::Head {
                recorded: 6,
                found: 5
            }]
        );
    }

    #[test]
    fn canonical_json_does_not_depend_on_key_order() {
        let a: Value = serde_json::from_str(r#"{"x":1,"y":{"b":2,"a":3}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"y":{"a":3,"b":2},"x":1}"#).unwrap();
        assert_eq!(digest_json(&a), digest_json(&b));
        assert_ne!(digest_json(&a), digest_json(&serde_json::json!({"x": 2})));
    }
}
