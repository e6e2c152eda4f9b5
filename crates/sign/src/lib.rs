//! Ed25519 signatures over canonical payloads, for electronic certificates (电子证照) that anyone
//! holding the district's public key can verify offline.
//!
//! A [`KeyRing`] holds the district's keys: one active for signing, retired ones kept so that
//! certificates they signed still verify. The private halves live only in the ring's file (the
//! CLI makes and rotates keys and writes that file with owner-only permissions); the public ring
//! ([`KeyRing::public`]) is what verification needs and may be published.
//!
//! A signed certificate is its payload, the id of the key and the signature of the payload's
//! canonical JSON (keys sorted, `tudi_core::json`), in base64url.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest;
use tudi_core::msg::Msg;

/// One key of the ring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    /// Key id: the first 16 hex digits of the SHA-256 of the public key.
    pub id: String,
    /// Public key, base64url.
    pub public: String,
    /// Private key, base64url (absent in the published ring).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// When it was made.
    pub created: Timestamp,
    /// When it stopped signing (it still verifies what it signed).
    #[serde(default)]
    pub retired: Option<Timestamp>,
}

/// The district's keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRing {
    /// Every key, oldest first; the last unretired one signs.
    pub keys: Vec<KeyEntry>,
}

/// A payload with its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Signed {
    /// What was signed.
    pub payload: Value,
    /// The key that signed it.
    pub key: String,
    /// Ed25519 signature of the canonical payload, base64url.
    pub signature: String,
}

/// Why signing or verifying failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// No key can sign (none made, or all retired).
    #[error("no active signing key")]
    NoActiveKey,
    /// The key that signed is not in the ring.
    #[error("unknown key {0}")]
    UnknownKey(String),
    /// The signature does not match the payload: altered or forged.
    #[error("the signature does not match")]
    BadSignature,
    /// A key or signature is not well formed.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// No randomness for a new key.
    #[error("no randomness: {0}")]
    Random(String),
}

impl SignError {
    /// The message for users.
    #[must_use]
    pub fn message(&self) -> Msg {
        match self {
            Self::NoActiveKey => Msg::new(
                "没有可用的签名密钥：请先用 tudi keys new 生成",
                "no active signing key: run `tudi keys new` first",
            ),
            Self::UnknownKey(k) => Msg::new(
                format!("签名密钥 {k} 不属于本区"),
                format!("key {k} is not one of the district's"),
            ),
            Self::BadSignature => Msg::new(
                "签名无效：证照内容被改动或伪造",
                "the signature does not match: altered or forged",
            ),
            Self::Malformed(what) => {
                Msg::new(format!("{what} 格式不正确"), format!("malformed {what}"))
            }
            Self::Random(e) => Msg::new(
                format!("无法取得随机数：{e}"),
                format!("no randomness: {e}"),
            ),
        }
    }
}

fn key_id(public: &VerifyingKey) -> String {
    let digest = sha2::Sha256::digest(public.to_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn decode<const N: usize>(text: &str, what: &'static str) -> Result<[u8; N], SignError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|v| <[u8; N]>::try_from(v).ok())
        .ok_or(SignError::Malformed(what))
}

impl KeyRing {
    /// Makes a new key and makes it the one that signs; the previous one retires (it still
    /// verifies). Returns the new key's id.
    ///
    /// # Errors
    /// [`SignError::Random`] when the system has no randomness.
    pub fn rotate(&mut self, at: Timestamp) -> Result<String, SignError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| SignError::Random(e.to_string()))?;
        let signing = SigningKey::from_bytes(&secret);
        let public = signing.verifying_key();
        let id = key_id(&public);
        for k in &mut self.keys {
            if k.retired.is_none() {
                k.retired = Some(at);
            }
        }
        self.keys.push(KeyEntry {
            id: id.clone(),
            public: URL_SAFE_NO_PAD.encode(public.to_bytes()),
            secret: Some(URL_SAFE_NO_PAD.encode(secret)),
            created: at,
            retired: None,
        });
        Ok(id)
    }

    /// The ring without private keys, to publish.
    #[must_use]
    pub fn public(&self) -> Self {
        Self {
            keys: self
                .keys
                .iter()
                .map(|k| KeyEntry {
                    secret: None,
                    ..k.clone()
                })
                .collect(),
        }
    }

    /// Whether the ring holds an active key with its private half, so that it can sign.
    #[must_use]
    pub fn can_sign(&self) -> bool {
        self.keys
            .iter()
            .any(|k| k.retired.is_none() && k.secret.is_some())
    }

    /// Signs `payload` with the active key.
    ///
    /// # Errors
    /// [`SignError::NoActiveKey`], or a malformed stored key.
    pub fn sign(&self, payload: Value) -> Result<Signed, SignError> {
        let key = self
            .keys
            .iter()
            .rev()
            .find(|k| k.retired.is_none() && k.secret.is_some())
            .ok_or(SignError::NoActiveKey)?;
        let secret: [u8; 32] = decode(key.secret.as_deref().unwrap_or_default(), "private key")?;
        let signing = SigningKey::from_bytes(&secret);
        let sig: Signature = signing.sign(tudi_core::json::canonical(&payload).as_bytes());
        Ok(Signed {
            payload,
            key: key.id.clone(),
            signature: URL_SAFE_NO_PAD.encode(sig.to_bytes()),
        })
    }

    /// Verifies a signed payload against the ring (retired keys included).
    ///
    /// # Errors
    /// [`SignError::UnknownKey`], [`SignError::BadSignature`], [`SignError::Malformed`].
    pub fn verify(&self, signed: &Signed) -> Result<&KeyEntry, SignError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.id == signed.key)
            .ok_or_else(|| SignError::UnknownKey(signed.key.clone()))?;
        let public: [u8; 32] = decode(&key.public, "public key")?;
        let public =
            VerifyingKey::from_bytes(&public).map_err(|_| SignError::Malformed("public key"))?;
        let sig: [u8; 64] = decode(&signed.signature, "signature")?;
        public
            .verify_strict(
                tudi_core::json::canonical(&signed.payload).as_bytes(),
                &Signature::from_bytes(&sig),
            )
            .map_err(|_| SignError::BadSignature)?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-11-22T02:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_signed_certificate_verifies_offline_and_any_change_breaks_it() {
        let mut ring = KeyRing::default();
        assert_eq!(ring.sign(json!({})), Err(SignError::NoActiveKey));
        assert!(!ring.can_sign());
        ring.rotate(now()).unwrap();
        let cert = json!({"编号": "440605-ZJD-2026-000001", "权利人": "王**", "面积": 78.5});
        let signed = ring.sign(cert).unwrap();
        // Only the published ring (no private keys) is needed to verify.
        let public = ring.public();
        assert!(public.keys.iter().all(|k| k.secret.is_none()));
        public.verify(&signed).unwrap();
        // Key order in the payload does not matter; a changed value does.
        let reordered: Value = serde_json::from_str(
            r#"{"面积": 78.5, "权利人": "王**", "编号": "440605-ZJD-2026-000001"}"#,
        )
        .unwrap();
        public
            .verify(&Signed {
                payload: reordered,
                ..signed.clone()
            })
            .unwrap();
        let mut forged = signed.clone();
        forged.payload["面积"] = json!(120.0);
        assert_eq!(public.verify(&forged), Err(SignError::BadSignature));
        assert_eq!(
            public
                .verify(&Signed {
                    key: "0000".into(),
                    ..signed.clone()
                })
                .unwrap_err(),
            SignError::UnknownKey("0000".into())
        );
        assert_eq!(
            public
                .verify(&Signed {
                    signature: "!!".into(),
                    ..signed
                })
                .unwrap_err(),
            SignError::Malformed("signature")
        );
    }

    #[test]
    fn rotation_keeps_old_certificates_valid_and_signs_with_the_new_key() {
        let mut ring = KeyRing::default();
        let first = ring.rotate(now()).unwrap();
        assert!(ring.can_sign());
        assert!(!ring.public().can_sign(), "the published ring cannot sign");
        let old = ring.sign(json!({"n": 1})).unwrap();
        let second = ring.rotate(now()).unwrap();
        assert_ne!(first, second);
        let new = ring.sign(json!({"n": 2})).unwrap();
        assert_eq!(
            (old.key.as_str(), new.key.as_str()),
            (first.as_str(), second.as_str())
        );
        assert!(
            ring.public().verify(&old).unwrap().retired.is_some(),
            "signed by a retired key, still valid"
        );
        ring.public().verify(&new).unwrap();
        // The ring survives a round trip through its file format.
        let text = serde_json::to_string(&ring).unwrap();
        let back: KeyRing = serde_json::from_str(&text).unwrap();
        back.verify(&new).unwrap();
    }
}
