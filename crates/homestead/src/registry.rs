//! Registration (不动产登记, 房地一体) and electronic certificates.
//!
//! Registration allocates the homestead parcel's number in its cadastral sub-district (the same
//! sequence the one map's parcels use, so codes never repeat), forms the 不动产单元代码 of the
//! parcel (`…JC…W00000000`) and of the house (`…JC…F00010001`), and issues the certificate: a
//! canonical payload signed with the district's Ed25519 key. The right, the certificate, the
//! application and the case are written in one transaction; the parcel then joins the parcel
//! layer (retried by the clock if that fails).
//!
//! Verification needs only the public ring: the stored payload's signature is checked, the
//! certificate's status (valid or revoked) read, and a masked summary shown.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tudi_core::bdcdy::UnitCode;
use tudi_core::division::{DivisionCode, DivisionRegistry};
use tudi_core::msg::Msg;
use tudi_sign::{KeyRing, Signed};
use tudi_store::{Change, Expect, FeatureQuery, NewFeature, RecordQuery, RecordWrite, StoreError};

use crate::service::{
    Application, HomesteadError, Homesteads, Registration, decode, encode, local_date, person_key,
};

/// The parcel layer registered homesteads join.
pub const PARCEL_LAYER: &str = "parcels";

/// Whether a right is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RightStatus {
    /// 现势.
    Held,
    /// Ended (transferred, exited).
    Ended,
}

/// A registered homestead use right with its house.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Right {
    /// 不动产单元代码 of the house.
    pub unit_code: String,
    /// Of the parcel.
    pub parcel_code: String,
    /// The holder's name.
    pub holder: String,
    /// The household's identity numbers (holder first).
    pub household: Vec<String>,
    /// Village code.
    pub village: String,
    /// The application it came from.
    pub application: String,
    /// The certificate.
    pub certificate: String,
    /// Homestead area, m².
    pub land_area_m2: f64,
    /// Floor area, m².
    pub floor_area_m2: f64,
    /// The built outline (GeoJSON, CGCS2000).
    pub site: Value,
    /// When registered.
    pub registered_at: Timestamp,
    /// Held or ended.
    pub status: RightStatus,
    /// Whether the parcel is on the parcel layer yet.
    pub on_map: bool,
    /// Earlier holders, oldest first (转让).
    #[serde(default)]
    pub previous: Vec<PreviousHolder>,
    /// Leases recorded (农房出租备案).
    #[serde(default)]
    pub leases: Vec<crate::events::Lease>,
    /// Mortgages registered (抵押登记), the discharged ones too.
    #[serde(default)]
    pub mortgages: Vec<crate::events::Mortgage>,
    /// How the right ended (自愿有偿退出).
    #[serde(default)]
    pub ended: Option<crate::events::Ending>,
}

/// Someone who held a right before it was transferred.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PreviousHolder {
    /// Name.
    pub holder: String,
    /// The household's identity numbers.
    pub household: Vec<String>,
    /// Their certificate (revoked at the transfer).
    pub certificate: String,
    /// The transfer that ended their holding.
    pub event: String,
    /// When.
    pub until: Timestamp,
}

impl Right {
    /// The mortgage in force, if any.
    #[must_use]
    pub fn mortgaged(&self) -> Option<&crate::events::Mortgage> {
        self.mortgages.iter().find(|m| m.discharged_at.is_none())
    }
}

/// The record write of a right, with the keys it is found by (village, whether it is on the
/// map, and each household member's keyed identity number).
pub(crate) fn right_write(right: &Right, expect: Expect) -> Result<RecordWrite, StoreError> {
    let mut keys = vec![
        ("village".to_owned(), right.village.clone()),
        ("on_map".to_owned(), right.on_map.to_string()),
    ];
    for m in &right.household {
        keys.push(("person".into(), person_key(m)));
    }
    Ok(RecordWrite {
        collection: "homestead_right".into(),
        id: right.unit_code.clone(),
        expect,
        body: Some(encode(right)?),
        keys,
        detail: Some(json!({"application": right.application, "status": right.status})),
    })
}

/// Whether a certificate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CertificateStatus {
    /// 有效.
    Valid,
    /// 已注销.
    Revoked,
}

/// An issued certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    /// Id used in URLs and the QR code: `ZS440605-2026-0000001`.
    pub id: String,
    /// The printed number: 粤（2026）佛山市南海区不动产权第0000001号.
    pub number: String,
    /// The signed payload.
    pub signed: Signed,
    /// Valid or revoked.
    pub status: CertificateStatus,
    /// When revoked.
    #[serde(default)]
    pub revoked_at: Option<Timestamp>,
    /// Why.
    #[serde(default)]
    pub revoke_reason: Option<String>,
    /// Village code.
    pub village: String,
    /// Town code.
    pub town: String,
    /// The application.
    pub application: String,
    /// When issued.
    pub issued_at: Timestamp,
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Verification {
    /// Certificate id.
    pub id: String,
    /// Printed number.
    pub number: String,
    /// Signature matches, from a key of the district, and not revoked.
    pub valid: bool,
    /// `valid`, `revoked`, or `bad_signature`.
    pub status: &'static str,
    /// Why, in Chinese and English.
    pub message: Msg,
    /// The key that signed.
    pub key: String,
    /// A summary safe to show anyone: names and numbers masked.
    pub summary: Value,
    /// When revoked.
    pub revoked_at: Option<Timestamp>,
    /// The signature (for matching a QR code's prefix; not part of the JSON answer).
    #[serde(skip)]
    pub signature: String,
}

/// The short province name printed on certificates (粤 for Guangdong), by the first two digits of
/// the division code (GB/T 2260 and the usual abbreviations).
#[must_use]
pub fn province_short(code: &str) -> Option<&'static str> {
    let table = [
        ("11", "京"),
        ("12", "津"),
        ("13", "冀"),
        ("14", "晋"),
        ("15", "蒙"),
        ("21", "辽"),
        ("22", "吉"),
        ("23", "黑"),
        ("31", "沪"),
        ("32", "苏"),
        ("33", "浙"),
        ("34", "皖"),
        ("35", "闽"),
        ("36", "赣"),
        ("37", "鲁"),
        ("41", "豫"),
        ("42", "鄂"),
        ("43", "湘"),
        ("44", "粤"),
        ("45", "桂"),
        ("46", "琼"),
        ("50", "渝"),
        ("51", "川"),
        ("52", "黔"),
        ("53", "云"),
        ("54", "藏"),
        ("61", "陕"),
        ("62", "甘"),
        ("63", "青"),
        ("64", "宁"),
        ("65", "新"),
    ];
    let head = code.get(..2)?;
    table.iter().find(|(c, _)| *c == head).map(|(_, s)| *s)
}

/// City and district names for a county code (佛山市南海区), from the bundled registry.
pub(crate) fn place_name(district: &str) -> String {
    let reg = DivisionRegistry::bundled();
    DivisionCode::parse(district)
        .ok()
        .map(|code| {
            reg.path(&code)
                .iter()
                .skip(1)
                .map(|d| d.name.clone())
                .collect::<String>()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| district.to_owned())
}

/// The masked summary of a payload, for the public.
#[must_use]
pub fn summary(payload: &Value) -> Value {
    let text = |k: &str| payload.get(k).and_then(Value::as_str).unwrap_or_default();
    let id = tudi_core::personal::IdNumber::parse(text("holder_id"))
        .map_or_else(|_| String::new(), |i| i.masked());
    json!({
        "number": text("number"),
        "holder": tudi_core::personal::mask_name(text("holder")),
        "holder_id": id,
        "unit_code": text("unit_code"),
        "right": text("right"),
        "use": text("use"),
        "land_area_m2": payload.get("land_area_m2"),
        "floor_area_m2": payload.get("floor_area_m2"),
        "issued_on": text("issued_on"),
        "issuer": text("issuer"),
    })
}

/// The zone (地籍区 + 地籍子区) of a village: the one its existing parcels near the site use, else
/// the village code itself (its town and village numbers).
fn zone_of(h: &Homesteads<'_>, app: &Application) -> Result<String, HomesteadError> {
    let fallback = app.form.village.clone();
    let Ok(def) = h.store.layer_def(PARCEL_LAYER) else {
        return Ok(fallback);
    };
    let site = crate::form::parse_site("site", &app.form.site)?;
    let Ok(crs) = tudi_geo::crs::Crs::from_epsg(def.epsg) else {
        return Ok(fallback);
    };
    let mut g = site;
    if tudi_geo::crs::Transformer::new(tudi_geo::crs::Crs::CGCS2000, crs)
        .and_then(|t| t.apply_geometry(&mut g))
        .is_err()
    {
        return Ok(fallback);
    }
    let Some(r) = geo::BoundingRect::bounding_rect(&g) else {
        return Ok(fallback);
    };
    let pad = 500.0;
    let near = h.store.features(
        PARCEL_LAYER,
        &FeatureQuery {
            bbox: Some([
                r.min().x - pad,
                r.min().y - pad,
                r.max().x + pad,
                r.max().y + pad,
            ]),
            limit: Some(200),
            ..FeatureQuery::default()
        },
    )?;
    Ok(near
        .iter()
        .filter(|f| {
            f.attributes.get("village_code").and_then(Value::as_str) == Some(&app.form.village)
        })
        .filter_map(|f| f.attributes.get("code").and_then(Value::as_str))
        .find(|c| c.len() == 28)
        .map_or(fallback, |c| c[..12].to_owned()))
}

/// The next certificate's id and printed number of `kind` (不动产权 for a certificate, 不动产证明
/// for a registration of a mortgage): `ZS440605-2026-0000001`, 粤（2026）佛山市南海区不动产权第0000001号.
pub(crate) fn next_certificate(
    h: &Homesteads<'_>,
    kind: &str,
    now: Timestamp,
) -> Result<(String, String), HomesteadError> {
    let district = h.district.as_str();
    let year = local_date(now).year();
    let (sequence, prefix) = if kind == "不动产权" {
        (format!("certificate:{district}:{year}"), "ZS")
    } else {
        (format!("proof:{district}:{year}"), "ZM")
    };
    let serial = h.store.next_in_sequence(&sequence, 0)?;
    Ok((
        format!("{prefix}{district}-{year}-{serial:07}"),
        format!(
            "{}（{year}）{}{kind}第{serial:07}号",
            province_short(district).unwrap_or(""),
            place_name(district)
        ),
    ))
}

/// Registers an accepted homestead: codes, right, certificate, application and case in one
/// transaction.
pub(crate) fn register(
    h: &Homesteads<'_>,
    change: &Change,
    mut app: Application,
    app_version: u64,
    case_write: RecordWrite,
    now: Timestamp,
) -> Result<Application, HomesteadError> {
    let keys = h
        .keys
        .ok_or(HomesteadError::Sign(tudi_sign::SignError::NoActiveKey))?;
    let built = app.built.clone().ok_or_else(|| {
        HomesteadError::Refused(Msg::new(
            "尚未竣工验收，不能登记",
            "no completion check yet",
        ))
    })?;
    let approval = app.approval.clone().ok_or_else(|| {
        HomesteadError::Refused(Msg::new(
            "尚未批准，不能登记",
            "not approved: cannot register",
        ))
    })?;
    let zone = zone_of(h, &app)?;
    let district = h.district.as_str().to_owned();
    // The certificate's serial is taken first: a failed registration leaves a gap in
    // certificate numbers, never in parcel codes.
    let (cert_id, number) = next_certificate(h, "不动产权", now)?;
    let mut out: Option<Application> = None;
    let bad_code = |problems: Vec<tudi_core::bdcdy::CodeProblem>| {
        StoreError::Schema(format!(
            "unit code: {}",
            problems
                .iter()
                .map(|p| tudi_core::msg::Bilingual::msg(p).en)
                .collect::<Vec<_>>()
                .join("; ")
        ))
    };
    h.store
        .write_numbered(change, &format!("bdcdy:parcel:{zone}:JC"), &mut |n| {
            let parcel =
                UnitCode::parse(&format!("{zone}JC{n:05}W00000000"), None).map_err(bad_code)?;
            let house =
                UnitCode::parse(&format!("{zone}JC{n:05}F00010001"), None).map_err(bad_code)?;
            let payload = json!({
                "type": "不动产权证书",
                "id": cert_id,
                "number": number,
                "holder": app.form.applicant.name,
                "holder_id": app.form.applicant.id_number,
                "unit_code": house.as_str(),
                "parcel_code": parcel.as_str(),
                "right": "宅基地使用权/房屋所有权",
                "nature": "集体土地/自建房",
                "use": "宅基地/住宅",
                "location": app.form.address,
                "land_area_m2": approval.area_m2,
                "floor_area_m2": app.form.floor_area_m2,
                "storeys": built.storeys,
                "homestead_permit": approval.homestead_permit,
                "planning_permit": approval.planning_permit,
                "application": app.id,
                "issued_on": local_date(now).to_string(),
                "issuer": place_name(&district),
            });
            let signed = keys
                .sign(payload)
                .map_err(|e| StoreError::Schema(e.to_string()))?;
            let cert = Certificate {
                id: cert_id.clone(),
                number: number.clone(),
                signed,
                status: CertificateStatus::Valid,
                revoked_at: None,
                revoke_reason: None,
                village: app.form.village.clone(),
                town: app.town.clone(),
                application: app.id.clone(),
                issued_at: now,
            };
            let right = Right {
                unit_code: house.as_str().to_owned(),
                parcel_code: parcel.as_str().to_owned(),
                holder: app.form.applicant.name.clone(),
                household: app.form.household().map(str::to_owned).collect(),
                village: app.form.village.clone(),
                application: app.id.clone(),
                certificate: cert_id.clone(),
                land_area_m2: approval.area_m2,
                floor_area_m2: app.form.floor_area_m2,
                site: built.site.clone(),
                registered_at: now,
                status: RightStatus::Held,
                on_map: false,
                previous: Vec::new(),
                leases: Vec::new(),
                mortgages: Vec::new(),
                ended: None,
            };
            let mut done = app.clone();
            done.registration = Some(Registration {
                unit_code: right.unit_code.clone(),
                parcel_code: right.parcel_code.clone(),
                certificate: cert_id.clone(),
                registered_on: local_date(now),
            });
            let writes = vec![
                case_write.clone(),
                crate::service::app_write(&done, Expect::Version(app_version))?,
                right_write(&right, Expect::Absent)?,
                cert_write(&cert, Expect::Absent)?,
            ];
            out = Some(done);
            Ok(writes)
        })?;
    app = out.ok_or_else(|| HomesteadError::NotFound("registration".into()))?;
    Ok(app)
}

pub(crate) fn cert_write(cert: &Certificate, expect: Expect) -> Result<RecordWrite, StoreError> {
    let status = match cert.status {
        CertificateStatus::Valid => "valid",
        CertificateStatus::Revoked => "revoked",
    };
    Ok(RecordWrite {
        collection: "certificate".into(),
        id: cert.id.clone(),
        expect,
        body: Some(encode(cert)?),
        keys: vec![
            ("village".into(), cert.village.clone()),
            ("town".into(), cert.town.clone()),
            ("status".into(), status.into()),
        ],
        detail: Some(json!({"status": status})),
    })
}

/// Puts registered homesteads not yet on the parcel layer there. Returns how many.
pub(crate) fn map_pending(h: &Homesteads<'_>, now: Timestamp) -> Result<usize, HomesteadError> {
    let pending = h.store.find_records(
        "homestead_right",
        &RecordQuery {
            key: Some(("on_map".into(), "false".into())),
            limit: None,
            offset: 0,
            descending: false,
        },
    )?;
    if pending.records.is_empty() {
        return Ok(0);
    }
    let Ok(def) = h.store.layer_def(PARCEL_LAYER) else {
        return Ok(0);
    };
    let Ok(crs) = tudi_geo::crs::Crs::from_epsg(def.epsg) else {
        return Ok(0);
    };
    let mut done = 0;
    for rec in pending.records {
        let mut right: Right = decode(rec.body)?;
        let mut g = crate::form::parse_site("site", &right.site)?;
        tudi_geo::crs::Transformer::new(tudi_geo::crs::Crs::CGCS2000, crs)
            .and_then(|t| t.apply_geometry(&mut g))
            .map_err(|e| {
                HomesteadError::Refused(Msg::new(format!("坐标无法投影：{e}"), e.to_string()))
            })?;
        // The same id every attempt, so a retry after a crash finds the feature already there.
        let digest = sha2::Digest::finalize(sha2::Digest::chain_update(
            <sha2::Sha256 as sha2::Digest>::new(),
            right.unit_code.as_bytes(),
        ));
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        let id = uuid::Builder::from_custom_bytes(bytes).into_uuid();
        let change = Change {
            at: now,
            ..Change::new("system", "homestead.map")
        };
        let exists = h.store.feature(PARCEL_LAYER, id).is_ok();
        if !exists {
            let mut attrs = serde_json::Map::new();
            attrs.insert("code".into(), json!(right.parcel_code));
            attrs.insert("land_use".into(), json!("0702"));
            attrs.insert("land_use_name".into(), json!("农村宅基地"));
            attrs.insert("village_code".into(), json!(right.village));
            attrs.insert("area_m2".into(), json!(right.land_area_m2));
            // Only the fields the layer has.
            attrs.retain(|k, _| def.fields.iter().any(|f| &f.name == k));
            let mut one = std::iter::once(NewFeature {
                id: Some(id),
                geometry: g,
                attributes: attrs,
            });
            h.store
                .insert_features(PARCEL_LAYER, &mut one, &change, &mut |_| true)?;
        }
        right.on_map = true;
        match h.store.write_records(
            &change,
            &[right_write(&right, Expect::Version(rec.version))?],
        ) {
            Ok(_) => done += 1,
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(done)
}

/// Characters of a certificate's signature (base64url, 6 bits each: 96 bits) its QR code
/// carries, and that public verification asks for.
pub const PROOF_CHARS: usize = 16;

impl Homesteads<'_> {
    /// A certificate.
    ///
    /// # Errors
    /// [`HomesteadError::NotFound`].
    pub fn certificate(&self, id: &str) -> Result<(Certificate, u64), HomesteadError> {
        let rec = self
            .store
            .record("certificate", id)?
            .ok_or_else(|| HomesteadError::NotFound(id.to_owned()))?;
        Ok((decode(rec.body)?, rec.version))
    }

    /// Verifies a certificate for someone who presents it: they must give the start of its
    /// signature (the `s` the QR code carries, at least [`PROOF_CHARS`] characters), which only
    /// the certificate holds. Without it a certificate is as unknown as one that does not
    /// exist, so the district's certificates cannot be listed by counting through their ids.
    ///
    /// # Errors
    /// [`HomesteadError::NotFound`] for an unknown id or a missing or wrong proof.
    pub fn verify_presented(
        &self,
        id: &str,
        proof: &str,
        ring: &KeyRing,
    ) -> Result<Verification, HomesteadError> {
        let unknown = || HomesteadError::NotFound(id.to_owned());
        let (cert, _) = self.certificate(id).map_err(|_| unknown())?;
        let signature = cert.signed.signature.as_bytes();
        let proof = proof.as_bytes();
        let matches = proof.len() >= PROOF_CHARS
            && proof.len() <= signature.len()
            && signature[..proof.len()]
                .iter()
                .zip(proof)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !matches {
            return Err(unknown());
        }
        self.verify(id, ring)
    }

    /// Verifies a certificate against the district's public ring.
    ///
    /// # Errors
    /// [`HomesteadError::NotFound`].
    pub fn verify(&self, id: &str, ring: &KeyRing) -> Result<Verification, HomesteadError> {
        let (cert, _) = self.certificate(id)?;
        let signature = ring.verify(&cert.signed);
        let (valid, status, message) = match (&signature, cert.status) {
            (Err(e), _) => (false, "bad_signature", e.message()),
            (Ok(_), CertificateStatus::Revoked) => (
                false,
                "revoked",
                Msg::new(
                    format!(
                        "该证照已注销：{}",
                        cert.revoke_reason.clone().unwrap_or_default()
                    ),
                    "this certificate has been revoked",
                ),
            ),
            (Ok(_), CertificateStatus::Valid) => (
                true,
                "valid",
                Msg::new("证照有效：签名验证通过", "valid: the signature verifies"),
            ),
        };
        Ok(Verification {
            id: cert.id.clone(),
            number: cert.number.clone(),
            valid,
            status,
            message,
            key: cert.signed.key.clone(),
            summary: summary(&cert.signed.payload),
            revoked_at: cert.revoked_at,
            signature: cert.signed.signature.clone(),
        })
    }

    /// Revokes a certificate (注销), with the reason; it then verifies as revoked.
    ///
    /// # Errors
    /// [`HomesteadError::Refused`] when already revoked or without a reason.
    pub fn revoke(
        &self,
        change: &Change,
        id: &str,
        reason: &str,
    ) -> Result<Certificate, HomesteadError> {
        crate::form::text(
            "reason",
            "注销原因",
            reason,
            500,
            tudi_core::text::Lines::Many,
        )?;
        let (mut cert, version) = self.certificate(id)?;
        if cert.status == CertificateStatus::Revoked {
            return Err(HomesteadError::Refused(Msg::new(
                format!("证照 {} 已于此前注销", cert.number),
                format!("{} is already revoked", cert.id),
            )));
        }
        cert.status = CertificateStatus::Revoked;
        cert.revoked_at = Some(change.at);
        cert.revoke_reason = Some(reason.trim().to_owned());
        self.store
            .write_records(change, &[cert_write(&cert, Expect::Version(version))?])?;
        Ok(cert)
    }

    /// Certificates that `visible` lets the caller see, filtered by town, village, status and
    /// issue date, newest first: a page and the total.
    ///
    /// # Errors
    /// Store failures.
    pub fn certificates(
        &self,
        q: &crate::service::ListQuery,
        status: Option<&str>,
        visible: &dyn Fn(&Certificate) -> bool,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<Certificate>, usize), HomesteadError> {
        let key = q
            .village
            .as_ref()
            .map(|v| ("village".to_owned(), v.clone()))
            .or_else(|| q.town.as_ref().map(|t| ("town".to_owned(), t.clone())))
            .or_else(|| status.map(|s| ("status".to_owned(), s.to_owned())));
        let page = self.store.find_records(
            "certificate",
            &RecordQuery {
                key,
                limit: None,
                offset: 0,
                descending: false,
            },
        )?;
        let mut out = Vec::new();
        for rec in page.records {
            let c: Certificate = decode(rec.body)?;
            let day = local_date(c.issued_at);
            let st = match c.status {
                CertificateStatus::Valid => "valid",
                CertificateStatus::Revoked => "revoked",
            };
            if q.village.as_ref().is_none_or(|v| &c.village == v)
                && q.town.as_ref().is_none_or(|t| &c.town == t)
                && status.is_none_or(|s| s == st)
                && q.from.is_none_or(|d| day >= d)
                && q.to.is_none_or(|d| day <= d)
                && visible(&c)
            {
                out.push(c);
            }
        }
        out.sort_by(|a, b| b.issued_at.cmp(&a.issued_at).then(b.id.cmp(&a.id)));
        let total = out.len();
        Ok((out.into_iter().skip(offset).take(limit).collect(), total))
    }
}
