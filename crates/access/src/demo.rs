//! One demo account per role, with realistic jurisdictions in the demo district, so a new user
//! can try the platform as each of them.

use serde::Serialize;
use tudi_core::division::{DivisionCode, DivisionRegistry};
use tudi_store::{Change, Store};

use crate::accounts::{AccessError, Accounts, AuthConfig, NewUser};
use crate::jurisdiction::Jurisdiction;
use crate::policy::{Binding, Role};

/// A demo account as written to `demo-accounts.json`.
#[derive(Debug, Clone, Serialize)]
pub struct DemoAccount {
    /// Login name.
    pub username: String,
    /// The password (random per demo).
    pub password: String,
    /// Display name.
    pub display_name: String,
    /// Role id.
    pub role: &'static str,
    /// Role name.
    pub role_name: &'static str,
    /// Scope code.
    pub scope: String,
    /// Scope name.
    pub scope_name: String,
    /// Department, where the role has one.
    pub department: Option<String>,
}

impl DemoAccount {
    /// The account as a signed-in principal (for demos acting as it).
    #[must_use]
    pub fn principal(&self) -> Option<crate::Principal> {
        Some(crate::Principal {
            user: Some(self.username.clone()),
            bindings: vec![Binding {
                role: Role::parse(self.role)?,
                scope: Jurisdiction::parse(&self.scope).ok()?,
                department: self.department.clone(),
            }],
            via: crate::policy::Via::Session,
        })
    }
}

fn random_password() -> Result<String, AccessError> {
    let mut bytes = [0u8; 9];
    getrandom::fill(&mut bytes).map_err(|e| AccessError::Internal(e.to_string()))?;
    // Letters, digits and a symbol: passes the password rule, easy to type from the file.
    let alphabet = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let body: String = bytes
        .iter()
        .map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()]))
        .collect();
    Ok(format!("Tudi-{body}"))
}

/// The demo's survey firm (fictitious): its account submits to its projects.
pub const DEMO_FIRM: &str = "鸿图地理信息测绘有限公司";

/// Creates the accounts in `district` (its first town, that town's first village and that
/// village's first grid cell for the local roles).
///
/// # Errors
/// Unknown district; store errors.
pub fn create_accounts(
    store: &dyn Store,
    config: &AuthConfig,
    district: &str,
) -> Result<Vec<DemoAccount>, AccessError> {
    let reg = DivisionRegistry::bundled();
    let bad = |why: &str| AccessError::Internal(format!("demo district {district}: {why}"));
    let code = DivisionCode::parse(district).map_err(|e| bad(&e.to_string()))?;
    let district_name = reg.get(&code).map_or_else(String::new, |d| d.name.clone());
    let town = reg
        .children(&code)
        .into_iter()
        .next()
        .ok_or_else(|| bad("no towns"))?;
    let village = reg
        .children(&town.code)
        .into_iter()
        .next()
        .ok_or_else(|| bad("no villages"))?;
    let grid = format!("{}001", village.code.as_str());
    let plan: [Planned<'_>; 10] = [
        (
            "admin",
            "系统管理员",
            Role::Admin,
            code.as_str(),
            district_name.clone(),
            None,
        ),
        (
            "quju.shenpi",
            "区局审批人（陈）",
            Role::DistrictApprover,
            code.as_str(),
            district_name.clone(),
            None,
        ),
        (
            "bumen.zrzy",
            "自然资源局处置人（李）",
            Role::DepartmentHandler,
            code.as_str(),
            district_name.clone(),
            Some("自然资源"),
        ),
        (
            "zhenjie.shenhe",
            "镇街审核人（黄）",
            Role::TownReviewer,
            town.code.as_str(),
            town.name.clone(),
            None,
        ),
        (
            "cunju.jingban",
            "村居经办人（梁）",
            Role::VillageClerk,
            village.code.as_str(),
            village.name.clone(),
            None,
        ),
        (
            "wangge.xunjian",
            "网格员（何）",
            Role::GridInspector,
            &grid,
            format!("{}第1网格", village.name),
            None,
        ),
        (
            "rexian.zuoxi",
            "12345 坐席（周）",
            Role::HotlineAgent,
            code.as_str(),
            district_name.clone(),
            None,
        ),
        (
            "zhiban.lingdao",
            "值班领导（潘）",
            Role::DutyLeader,
            code.as_str(),
            district_name.clone(),
            None,
        ),
        (
            "gongzhong",
            "公众用户（张）",
            Role::Public,
            code.as_str(),
            district_name.clone(),
            None,
        ),
        (
            "cehui.danwei",
            "测绘单位（吴）",
            Role::SurveyFirm,
            code.as_str(),
            district_name,
            Some(DEMO_FIRM),
        ),
    ];
    create(store, config, &plan)
}

/// An account to make: user name, display name, role, scope, scope name, department.
type Planned<'a> = (&'a str, &'a str, Role, &'a str, String, Option<&'a str>);

fn create(
    store: &dyn Store,
    config: &AuthConfig,
    plan: &[Planned<'_>],
) -> Result<Vec<DemoAccount>, AccessError> {
    let bad = |why: &str| AccessError::Internal(format!("demo account: {why}"));
    let accounts = Accounts::new(store, config);
    let change = Change::new("cli", "demo.accounts");
    let mut out = Vec::new();
    for (username, display, role, scope, scope_name, department) in plan.iter().cloned() {
        let password = random_password()?;
        let scope_j = Jurisdiction::parse(scope).map_err(|m| bad(&m.en))?;
        accounts.create_user(
            &change,
            NewUser {
                username: username.to_owned(),
                display_name: Some(display.to_owned()),
                password: password.clone(),
                roles: vec![Binding {
                    role,
                    scope: scope_j,
                    department: department.map(str::to_owned),
                }],
                phone: None,
                id_number: None,
            },
        )?;
        out.push(DemoAccount {
            username: username.to_owned(),
            password,
            display_name: display.to_owned(),
            role: role.id(),
            role_name: role.name_zh(),
            scope: scope.to_owned(),
            scope_name,
            department: department.map(str::to_owned),
        });
    }
    Ok(out)
}

/// The accounts of the homestead process in a rural town: a clerk for each of `villages` (user
/// names `cunju.zjd1`, `cunju.zjd2` …), the town's reviewer `zhenjie.zjd`, and the 农业农村 and
/// 住建 handlers of the district (`bumen.nync`, `bumen.zj`; 自然资源's is `bumen.zrzy`).
///
/// # Errors
/// A code is not in the bundled division list; store errors.
pub fn create_homestead_accounts(
    store: &dyn Store,
    config: &AuthConfig,
    district: &str,
    town: &str,
    villages: &[String],
) -> Result<Vec<DemoAccount>, AccessError> {
    let reg = DivisionRegistry::bundled();
    let name = |code: &str| {
        DivisionCode::parse(code)
            .ok()
            .and_then(|c| reg.get(&c).map(|d| d.name.clone()))
            .ok_or_else(|| AccessError::Internal(format!("demo: no division {code}")))
    };
    let district_name = name(district)?;
    let town_name = name(town)?;
    let users: Vec<(String, String, String)> = villages
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let vname = name(v)?;
            Ok((
                format!("cunju.zjd{}", i + 1),
                format!("{vname}经办人"),
                vname,
            ))
        })
        .collect::<Result<_, AccessError>>()?;
    let mut plan: Vec<Planned<'_>> = users
        .iter()
        .zip(villages)
        .map(|((user, display, vname), v)| {
            (
                user.as_str(),
                display.as_str(),
                Role::VillageClerk,
                v.as_str(),
                vname.clone(),
                None,
            )
        })
        .collect();
    let town_display = format!("{town_name}审核人（宅基地）");
    plan.push((
        "zhenjie.zjd",
        &town_display,
        Role::TownReviewer,
        town,
        town_name.clone(),
        None,
    ));
    plan.push((
        "bumen.nync",
        "农业农村局处置人（关）",
        Role::DepartmentHandler,
        district,
        district_name.clone(),
        Some("农业农村"),
    ));
    plan.push((
        "bumen.zj",
        "住建局处置人（邓）",
        Role::DepartmentHandler,
        district,
        district_name,
        Some("住建"),
    ));
    create(store, config, &plan)
}
