//! Accounts, passwords, sessions and API tokens, kept as store records (collections `user`,
//! `session`, `token`), so every change to them is in the audit chain.
//!
//! Passwords are hashed with Argon2id. Session and API tokens are 256-bit random secrets handed
//! out once; the store keeps only their SHA-256, so a copy of the file yields no usable token.
//! A token's roles are checked against the account's current roles on every use: taking a role
//! away, or disabling the account, takes effect at once for its sessions and tokens.

use std::fmt;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tudi_core::msg::{Bilingual, Msg};
use tudi_core::personal::{IdNumber, Phone};
use tudi_store::{Change, Expect, RecordQuery, RecordWrite, Store, StoreError};

use crate::policy::{self, Binding, Principal, Resource, Via};

const USERS: &str = "user";
const SESSIONS: &str = "session";
const TOKENS: &str = "token";
const SESSION_PREFIX: &str = "tds_";
const API_TOKEN_PREFIX: &str = "tdt_";

/// The record collections a credential's check reads (accounts, sessions, API tokens): a cache
/// of checked credentials holds while none of them changes.
pub const CREDENTIAL_COLLECTIONS: [&str; 3] = [USERS, SESSIONS, TOKENS];

/// Settings of authentication.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// How long a console session or login token lasts.
    pub session_ttl: SignedDuration,
    /// Consecutive wrong passwords before the account is locked.
    pub max_failures: u32,
    /// How long a lock lasts.
    pub lockout: SignedDuration,
    /// Argon2id cost (memory KiB, passes, lanes).
    pub argon2: (u32, u32, u32),
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_ttl: SignedDuration::from_hours(8),
            max_failures: 5,
            lockout: SignedDuration::from_mins(15),
            // OWASP's recommended minimum for Argon2id: 19 MiB, 2 passes, 1 lane.
            argon2: (Params::DEFAULT_M_COST, Params::DEFAULT_T_COST, 1),
        }
    }
}

impl AuthConfig {
    /// Cheap hashing for tests and demos that create many accounts; never for production.
    #[must_use]
    pub fn for_tests() -> Self {
        Self {
            argon2: (Params::MIN_M_COST.max(64), 1, 1),
            ..Self::default()
        }
    }

    fn hasher(&self) -> Result<Argon2<'static>, AccessError> {
        let (m, t, p) = self.argon2;
        let params =
            Params::new(m, t, p, None).map_err(|e| AccessError::Internal(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Unknown account or wrong password (not told apart, so names cannot be probed).
    #[error("wrong user name or password")]
    BadCredentials,
    /// Too many wrong passwords: locked until the instant given.
    #[error("account locked until {0}")]
    Locked(Timestamp),
    /// The account is disabled.
    #[error("account disabled")]
    Disabled,
    /// No session or token, or one that does not exist.
    #[error("not signed in or unknown token")]
    InvalidToken,
    /// The session or token has expired.
    #[error("session or token expired")]
    Expired,
    /// The API token was revoked.
    #[error("token revoked")]
    Revoked,
    /// A field is not acceptable.
    #[error("{field}: {msg}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        msg: Msg,
    },
    /// No such account.
    #[error("no account {0:?}")]
    UnknownUser(String),
    /// No such token.
    #[error("no token {0:?}")]
    UnknownToken(String),
    /// The account name is taken, or someone else changed the account first.
    #[error("{0}")]
    Conflict(Msg),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing or randomness failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Bilingual for AccessError {
    fn msg(&self) -> Msg {
        match self {
            Self::BadCredentials => Msg::new("用户名或密码错误", self.to_string()),
            Self::Locked(until) => Msg::new(
                format!(
                    "密码错误次数过多，账户已临时锁定，请于 {} 后重试",
                    until
                        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
                        .strftime("%H:%M")
                ),
                format!("too many wrong passwords: the account is locked until {until}"),
            ),
            Self::Disabled => Msg::new(
                "账户已停用，请联系管理员",
                "the account is disabled; ask an administrator",
            ),
            Self::InvalidToken => Msg::new(
                "未登录或凭证无效，请重新登录",
                "not signed in, or the credentials are not valid: sign in again",
            ),
            Self::Expired => Msg::new(
                "登录已过期，请重新登录",
                "the session or token has expired: sign in again",
            ),
            Self::Revoked => Msg::new("该接口令牌已被吊销", "this API token has been revoked"),
            Self::Invalid { msg, .. } | Self::Conflict(msg) => msg.clone(),
            Self::UnknownUser(u) => Msg::new(format!("用户 {u} 不存在"), self.to_string()),
            Self::UnknownToken(t) => Msg::new(format!("令牌 {t} 不存在"), self.to_string()),
            Self::Store(e) => Msg::new("存储出错", e.to_string()),
            Self::Internal(e) => Msg::new("内部错误", e.clone()),
        }
    }
}

fn invalid(field: &'static str, zh: impl Into<String>, en: impl Into<String>) -> AccessError {
    AccessError::Invalid {
        field,
        msg: Msg::new(zh, en),
    }
}

/// An account as stored. `Debug` shows the name only.
#[derive(Clone, Serialize, Deserialize)]
pub struct User {
    /// Login name (`[a-z][a-z0-9_.-]{2,31}`), never changed.
    pub username: String,
    /// Name shown in the console.
    pub display_name: String,
    /// Roles and where they apply.
    pub bindings: Vec<Binding>,
    /// Contact phone (personal data).
    #[serde(default)]
    pub phone: Option<String>,
    /// 身份证号 for real-name accounts (personal data).
    #[serde(default)]
    pub id_number: Option<String>,
    password_hash: String,
    /// Disabled accounts cannot sign in; their sessions and tokens stop working.
    #[serde(default)]
    pub disabled: bool,
    /// Set by an administrator's reset: the console asks for a new password.
    #[serde(default)]
    pub must_change_password: bool,
    #[serde(default)]
    failed_logins: u32,
    /// Locked after too many wrong passwords, until then.
    #[serde(default)]
    pub locked_until: Option<Timestamp>,
    /// When it was made.
    pub created_at: Timestamp,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "User({})", self.username)
    }
}

impl User {
    /// The jurisdictions of its roles (what the policy checks administrators against).
    #[must_use]
    pub fn scopes(&self) -> Vec<crate::Jurisdiction> {
        self.bindings.iter().map(|b| b.scope.clone()).collect()
    }
}

/// An account as shown to someone: personal data masked unless the policy lets them see it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct UserView {
    /// Login name.
    pub username: String,
    /// Name.
    pub display_name: String,
    /// Roles with their names and scopes.
    pub roles: Vec<BindingView>,
    /// Phone, masked unless allowed.
    pub phone: Option<String>,
    /// 身份证号, masked unless allowed.
    pub id_number: Option<String>,
    /// Disabled.
    pub disabled: bool,
    /// Must choose a new password.
    pub must_change_password: bool,
    /// Locked until.
    pub locked_until: Option<Timestamp>,
    /// Created.
    pub created_at: Timestamp,
    /// Version, for optimistic concurrency of updates.
    pub version: u64,
}

/// A binding as displayed: the role and the scope with their names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct BindingView {
    /// The role's id.
    pub role: &'static str,
    /// 角色名称.
    pub role_name: &'static str,
    /// The role's English name.
    pub role_name_en: &'static str,
    /// The jurisdiction's code.
    pub scope: String,
    /// The jurisdiction's level.
    pub level: policy::Level,
    /// The department, for roles that need one.
    pub department: Option<String>,
}

/// Describes a binding for display.
#[must_use]
pub fn binding_view(b: &Binding) -> BindingView {
    BindingView {
        role: b.role.id(),
        role_name: b.role.name_zh(),
        role_name_en: b.role.name_en(),
        scope: b.scope.as_str().to_owned(),
        level: b.scope.level(),
        department: b.department.clone(),
    }
}

/// Builds what `viewer` may see of `user`.
#[must_use]
pub fn view(user: &User, version: u64, viewer: &Principal) -> UserView {
    let scopes = user.scopes();
    let res = Resource {
        scope: &scopes,
        owner: Some(&user.username),
        ..Resource::default()
    };
    let phone = user
        .phone
        .as_deref()
        .and_then(|p| Phone::parse(p).ok())
        .map(|p| {
            if policy::may_see_phone(viewer, &res) {
                p.expose().to_owned()
            } else {
                p.masked()
            }
        });
    let id_number = user
        .id_number
        .as_deref()
        .and_then(|p| IdNumber::parse(p).ok())
        .map(|p| {
            if policy::may_see_id_number(viewer, &res) {
                p.expose().to_owned()
            } else {
                p.masked()
            }
        });
    UserView {
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        roles: user.bindings.iter().map(binding_view).collect(),
        phone,
        id_number,
        disabled: user.disabled,
        must_change_password: user.must_change_password,
        locked_until: user.locked_until,
        created_at: user.created_at,
        version,
    }
}

/// A new account.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Name shown (defaults to the login name).
    #[serde(default)]
    pub display_name: Option<String>,
    /// Initial password.
    pub password: String,
    /// Roles.
    pub roles: Vec<Binding>,
    /// Phone.
    #[serde(default)]
    pub phone: Option<String>,
    /// 身份证号.
    #[serde(default)]
    pub id_number: Option<String>,
}

/// Changes to an account (absent fields stay as they are).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// Name.
    pub display_name: Option<String>,
    /// All roles (replacing the old list).
    pub roles: Option<Vec<Binding>>,
    /// Phone (empty string clears it).
    pub phone: Option<String>,
    /// 身份证号 (empty string clears it).
    pub id_number: Option<String>,
    /// Disable or enable.
    pub disabled: Option<bool>,
    /// The version read, to refuse an update over someone else's.
    pub version: Option<u64>,
}

/// A signed-in session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The account.
    pub user: String,
    /// The anti-CSRF token state-changing console requests must send back.
    pub csrf: String,
    /// Started.
    pub created_at: Timestamp,
    /// Ends.
    pub expires_at: Timestamp,
}

/// An API token as listed (never the secret).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TokenInfo {
    /// Public id (shown, used to revoke).
    pub id: String,
    /// The account it acts for.
    pub user: String,
    /// What it is for.
    pub name: String,
    /// The roles it carries (a subset of the account's).
    pub roles: Vec<Binding>,
    /// Issued.
    pub created_at: Timestamp,
    /// Ends.
    pub expires_at: Option<Timestamp>,
    /// Revoked at.
    pub revoked_at: Option<Timestamp>,
}

/// Who a credential belongs to.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The principal for the policy.
    pub principal: Principal,
    /// The session's anti-CSRF token (sessions only).
    pub csrf: Option<String>,
    /// The account must choose a new password.
    pub must_change_password: bool,
    /// When the session or token expires, if ever: a caller that keeps this answer for later
    /// requests must not use it past then.
    pub expires_at: Option<Timestamp>,
}

/// 32 random bytes from the operating system, in hex: a secret (tokens, the sign-in limit's key).
///
/// # Errors
/// The operating system gave no randomness.
pub fn random_hex() -> Result<String, AccessError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AccessError::Internal(e.to_string()))?;
    Ok(tudi_store::audit::hex(&bytes))
}

fn secret_id(secret: &str) -> String {
    tudi_store::audit::sha256_hex(secret.as_bytes())
}

/// Whether `u` can be an account name (`[a-z][a-z0-9_.-]{2,31}`): anything else is refused
/// before it is looked up, counted or recorded.
#[must_use]
pub fn is_username(u: &str) -> bool {
    (3..=32).contains(&u.len())
        && u.starts_with(|c: char| c.is_ascii_lowercase())
        && u.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
}

fn check_username(u: &str) -> Result<(), AccessError> {
    if is_username(u) {
        Ok(())
    } else {
        Err(invalid(
            "username",
            format!("用户名 {u:?} 无效：3–32 位小写字母、数字、_ . -，以字母开头"),
            format!(
                "user name {u:?} is not valid: 3–32 lower-case letters, digits, _ . -, starting with a letter"
            ),
        ))
    }
}

/// The password rule: at least 10 characters, not the user name, at least two of letters,
/// digits and other characters.
///
/// # Errors
/// [`AccessError::Invalid`] saying which part fails.
pub fn check_password(username: &str, password: &str) -> Result<(), AccessError> {
    let n = password.chars().count();
    if !(10..=128).contains(&n) {
        return Err(invalid(
            "password",
            "密码长度应为 10–128 个字符",
            "a password has 10–128 characters",
        ));
    }
    if password.to_lowercase().contains(&username.to_lowercase()) {
        return Err(invalid(
            "password",
            "密码不能包含用户名",
            "a password must not contain the user name",
        ));
    }
    let kinds = [
        password.chars().any(char::is_alphabetic),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    if kinds.iter().filter(|k| **k).count() < 2 {
        return Err(invalid(
            "password",
            "密码应至少包含字母、数字、符号中的两类",
            "a password needs at least two of: letters, digits, symbols",
        ));
    }
    Ok(())
}

/// Checks a list of role bindings: the level suits each role, departments where needed.
///
/// # Errors
/// [`AccessError::Invalid`] naming the binding.
pub fn check_bindings(bindings: &[Binding]) -> Result<(), AccessError> {
    if bindings.is_empty() {
        return Err(invalid(
            "roles",
            "至少需要一个角色",
            "an account needs at least one role",
        ));
    }
    for (i, b) in bindings.iter().enumerate() {
        let level = b.scope.level();
        if !b.role.levels().contains(&level) {
            let allowed: Vec<&str> = b.role.levels().iter().map(|l| l.name_zh()).collect();
            return Err(invalid(
                "roles",
                format!(
                    "第 {} 个角色：{}只能授予在{}一级，{} 是{}代码",
                    i + 1,
                    b.role.name_zh(),
                    allowed.join("或"),
                    b.scope,
                    level.name_zh()
                ),
                format!(
                    "role {}: a {} is bound at {:?} level, not {:?}",
                    i + 1,
                    b.role.name_en(),
                    b.role.levels(),
                    level
                ),
            ));
        }
        if b.role.needs_department() && b.department.as_deref().is_none_or(|d| d.trim().is_empty())
        {
            return Err(invalid(
                "roles",
                format!("第 {} 个角色：{}须指定所属部门", i + 1, b.role.name_zh()),
                format!("role {}: a {} needs a department", i + 1, b.role.name_en()),
            ));
        }
    }
    Ok(())
}

/// The name shown for an account: one line of at most 50 characters (`None`: empty).
fn check_display_name(name: &str) -> Result<Option<String>, AccessError> {
    let name =
        tudi_core::text::check_optional(name, 50, tudi_core::text::Lines::One).map_err(|f| {
            AccessError::Invalid {
                field: "display_name",
                msg: f.message("姓名", "display_name"),
            }
        })?;
    Ok((!name.is_empty()).then(|| name.to_owned()))
}

fn check_personal(phone: Option<&str>, id: Option<&str>) -> Result<(), AccessError> {
    if let Some(p) = phone.filter(|p| !p.is_empty()) {
        Phone::parse(p).map_err(|e| AccessError::Invalid {
            field: "phone",
            msg: e.msg(),
        })?;
    }
    if let Some(i) = id.filter(|i| !i.is_empty()) {
        IdNumber::parse(i).map_err(|e| AccessError::Invalid {
            field: "id_number",
            msg: e.msg(),
        })?;
    }
    Ok(())
}

fn conflict(e: StoreError, username: &str) -> AccessError {
    match e {
        StoreError::Conflict { found, .. } if found == "absent" => {
            AccessError::UnknownUser(username.to_owned())
        }
        StoreError::Conflict { expected, .. } if expected == "absent" => {
            AccessError::Conflict(Msg::new(
                format!("用户名 {username} 已被使用"),
                format!("the user name {username} is taken"),
            ))
        }
        StoreError::Conflict { .. } => AccessError::Conflict(Msg::new(
            format!("用户 {username} 已被他人修改，请刷新后重试"),
            format!("account {username} was changed by someone else: reload and try again"),
        )),
        other => AccessError::Store(other),
    }
}

/// The record write of a token under its secret's hash `id`.
fn token_write(
    id: &str,
    info: &TokenInfo,
    expect: Expect,
    revoked: bool,
) -> Result<RecordWrite, AccessError> {
    Ok(RecordWrite {
        collection: TOKENS.into(),
        id: id.to_owned(),
        expect,
        body: Some(serde_json::to_value(info).map_err(|e| AccessError::Internal(e.to_string()))?),
        keys: vec![
            ("user".into(), info.user.clone()),
            ("public_id".into(), info.id.clone()),
        ],
        detail: Some(if revoked {
            json!({"token": info.id, "revoked": true})
        } else {
            json!({"token": info.id, "name": info.name})
        }),
    })
}

/// The account service over a store.
pub struct Accounts<'a> {
    store: &'a dyn Store,
    config: &'a AuthConfig,
}

impl<'a> Accounts<'a> {
    /// The service on `store`.
    #[must_use]
    pub fn new(store: &'a dyn Store, config: &'a AuthConfig) -> Self {
        Self { store, config }
    }

    fn hash(&self, password: &str) -> Result<String, AccessError> {
        self.config
            .hasher()?
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| AccessError::Internal(e.to_string()))
    }

    fn user_write(
        user: &User,
        expect: Expect,
        detail: Option<Value>,
    ) -> Result<RecordWrite, AccessError> {
        let body = serde_json::to_value(user).map_err(|e| AccessError::Internal(e.to_string()))?;
        Ok(RecordWrite {
            collection: USERS.into(),
            id: user.username.clone(),
            expect,
            body: Some(body),
            // Accounts are listed whole and filtered by the policy; no lookup key is needed.
            keys: Vec::new(),
            detail,
        })
    }

    /// One account and its version.
    ///
    /// # Errors
    /// Store errors; a stored account that cannot be read.
    pub fn user(&self, username: &str) -> Result<Option<(User, u64)>, AccessError> {
        let Some(rec) = self.store.record(USERS, username)? else {
            return Ok(None);
        };
        let user: User = serde_json::from_value(rec.body)
            .map_err(|e| AccessError::Internal(format!("account {username}: {e}")))?;
        Ok(Some((user, rec.version)))
    }

    fn existing(&self, username: &str) -> Result<(User, u64), AccessError> {
        self.user(username)?
            .ok_or_else(|| AccessError::UnknownUser(username.to_owned()))
    }

    /// Every account, in name order.
    ///
    /// # Errors
    /// Store errors.
    pub fn users(&self) -> Result<Vec<(User, u64)>, AccessError> {
        let page = self.store.find_records(USERS, &RecordQuery::default())?;
        page.records
            .into_iter()
            .map(|r| {
                let id = r.id.clone();
                serde_json::from_value(r.body)
                    .map(|u| (u, r.version))
                    .map_err(|e| AccessError::Internal(format!("account {id}: {e}")))
            })
            .collect()
    }

    /// Creates an account.
    ///
    /// # Errors
    /// [`AccessError::Invalid`] for a bad name, password, role, phone or 身份证号;
    /// [`AccessError::Conflict`] when the name is taken.
    pub fn create_user(&self, change: &Change, new: NewUser) -> Result<User, AccessError> {
        check_username(&new.username)?;
        check_password(&new.username, &new.password)?;
        check_bindings(&new.roles)?;
        check_personal(new.phone.as_deref(), new.id_number.as_deref())?;
        let display_name = check_display_name(new.display_name.as_deref().unwrap_or(""))?;
        let user = User {
            display_name: display_name.unwrap_or_else(|| new.username.clone()),
            password_hash: self.hash(&new.password)?,
            username: new.username,
            bindings: new.roles,
            phone: new.phone.filter(|p| !p.is_empty()),
            id_number: new
                .id_number
                .filter(|i| !i.is_empty())
                .map(|i| i.trim().to_ascii_uppercase()),
            disabled: false,
            must_change_password: false,
            failed_logins: 0,
            locked_until: None,
            created_at: change.at,
        };
        let roles: Vec<Value> = user
            .bindings
            .iter()
            .map(|b| json!([b.role.id(), b.scope.as_str()]))
            .collect();
        let w = Self::user_write(&user, Expect::Absent, Some(json!({ "roles": roles })))?;
        self.store
            .write_records(change, &[w])
            .map_err(|e| conflict(e, &user.username))?;
        tracing::info!(roles = user.bindings.len(), "account created");
        Ok(user)
    }

    /// Applies an administrator's changes.
    ///
    /// # Errors
    /// As [`Accounts::create_user`]; [`AccessError::Conflict`] when `patch.version` is stale.
    pub fn update_user(
        &self,
        change: &Change,
        username: &str,
        patch: UserPatch,
    ) -> Result<(User, u64), AccessError> {
        let (mut user, version) = self.existing(username)?;
        if let Some(v) = patch.version
            && v != version
        {
            return Err(conflict(
                StoreError::Conflict {
                    collection: USERS.into(),
                    id: username.into(),
                    expected: format!("version {v}"),
                    found: format!("version {version}"),
                },
                username,
            ));
        }
        check_personal(patch.phone.as_deref(), patch.id_number.as_deref())?;
        let mut changed = Vec::new();
        if let Some(roles) = patch.roles {
            check_bindings(&roles)?;
            user.bindings = roles;
            changed.push("roles");
        }
        if let Some(d) = patch.display_name {
            user.display_name = check_display_name(&d)?.unwrap_or_else(|| user.username.clone());
            changed.push("display_name");
        }
        if let Some(p) = patch.phone {
            user.phone = Some(p).filter(|p| !p.is_empty());
            changed.push("phone");
        }
        if let Some(i) = patch.id_number {
            user.id_number = Some(i.trim().to_ascii_uppercase()).filter(|i| !i.is_empty());
            changed.push("id_number");
        }
        if let Some(d) = patch.disabled {
            user.disabled = d;
            changed.push("disabled");
        }
        let w = Self::user_write(
            &user,
            Expect::Version(version),
            Some(json!({ "changed": changed })),
        )?;
        let v = self
            .store
            .write_records(change, &[w])
            .map_err(|e| conflict(e, username))?;
        Ok((user, v.first().copied().unwrap_or(version + 1)))
    }

    /// An administrator sets a new password: the account must change it at next sign-in, its
    /// lock is lifted and its sessions end.
    ///
    /// # Errors
    /// Unknown account, weak password.
    pub fn reset_password(
        &self,
        change: &Change,
        username: &str,
        password: &str,
    ) -> Result<(), AccessError> {
        let (mut user, version) = self.existing(username)?;
        check_password(username, password)?;
        user.password_hash = self.hash(password)?;
        user.must_change_password = true;
        user.failed_logins = 0;
        user.locked_until = None;
        let mut writes = vec![Self::user_write(
            &user,
            Expect::Version(version),
            Some(json!({"password": "reset"})),
        )?];
        writes.extend(self.end_sessions_writes(username)?);
        // A reset means the account may be in the wrong hands: tokens made with it end too.
        writes.extend(self.revoke_tokens_writes(username, change.at)?);
        self.store
            .write_records(change, &writes)
            .map_err(|e| conflict(e, username))?;
        Ok(())
    }

    fn revoke_tokens_writes(
        &self,
        username: &str,
        at: Timestamp,
    ) -> Result<Vec<RecordWrite>, AccessError> {
        let page = self.of_user(TOKENS, username)?;
        let mut out = Vec::new();
        for rec in page.records {
            let mut info: TokenInfo = serde_json::from_value(rec.body)
                .map_err(|e| AccessError::Internal(e.to_string()))?;
            if info.revoked_at.is_some() {
                continue;
            }
            info.revoked_at = Some(at);
            out.push(token_write(
                &rec.id,
                &info,
                Expect::Version(rec.version),
                true,
            )?);
        }
        Ok(out)
    }

    /// The account holder changes their password, giving the current one. Other sessions end.
    ///
    /// # Errors
    /// [`AccessError::BadCredentials`] for a wrong current password; a weak new one.
    pub fn change_password(
        &self,
        change: &Change,
        username: &str,
        current: &str,
        new: &str,
        keep_session: Option<&str>,
    ) -> Result<(), AccessError> {
        let (mut user, version) = self.existing(username)?;
        if let Some(until) = user.locked_until.filter(|u| *u > change.at) {
            self.store.record_denial(
                change,
                &format!("user:{username}"),
                Some(json!({"reason": "locked"})),
            )?;
            return Err(AccessError::Locked(until));
        }
        if !self.verify(&user, current)? {
            // Counted like a wrong password at sign-in: a stolen session cannot be used to
            // guess the password it would need to take the account over.
            return Err(self.count_failure(change, user, version, "user.change_password_failed"));
        }
        check_password(username, new)?;
        if current == new {
            return Err(invalid(
                "password",
                "新密码不能与原密码相同",
                "the new password must differ from the old one",
            ));
        }
        user.password_hash = self.hash(new)?;
        user.must_change_password = false;
        let keep = keep_session.map(secret_id);
        let mut writes = vec![Self::user_write(
            &user,
            Expect::Version(version),
            Some(json!({"password": "changed"})),
        )?];
        writes.extend(
            self.end_sessions_writes(username)?
                .into_iter()
                .filter(|w| Some(&w.id) != keep.as_ref()),
        );
        self.store
            .write_records(change, &writes)
            .map_err(|e| conflict(e, username))?;
        Ok(())
    }

    /// Records a wrong password (`action` names where it was given) and locks the account after
    /// too many in a row; returns the error to answer with.
    fn count_failure(
        &self,
        change: &Change,
        mut user: User,
        version: u64,
        action: &str,
    ) -> AccessError {
        user.failed_logins += 1;
        let locked = user.failed_logins >= self.config.max_failures;
        if locked {
            user.locked_until = Some(change.at + self.config.lockout);
            user.failed_logins = 0;
        }
        let c = Change {
            action: action.into(),
            ..change.clone()
        };
        let written = Self::user_write(
            &user,
            Expect::Version(version),
            Some(json!({"locked": locked})),
        )
        .and_then(|w| {
            self.store
                .write_records(&c, &[w])
                .map(|_| ())
                .map_err(|e| conflict(e, &user.username))
        });
        if let Err(e) = written {
            return e;
        }
        tracing::info!(locked, action, "wrong password");
        match user.locked_until {
            Some(until) if locked => AccessError::Locked(until),
            _ => AccessError::BadCredentials,
        }
    }

    /// The records of `collection` (sessions, tokens) that belong to `username`.
    fn of_user(
        &self,
        collection: &str,
        username: &str,
    ) -> Result<tudi_store::RecordPage, StoreError> {
        self.store.find_records(
            collection,
            &RecordQuery {
                key: Some(("user".into(), username.into())),
                ..RecordQuery::default()
            },
        )
    }

    fn end_sessions_writes(&self, username: &str) -> Result<Vec<RecordWrite>, AccessError> {
        let page = self.of_user(SESSIONS, username)?;
        Ok(page
            .records
            .into_iter()
            .map(|r| RecordWrite {
                collection: SESSIONS.into(),
                id: r.id,
                expect: Expect::Present,
                body: None,
                keys: vec![],
                detail: None,
            })
            .collect())
    }

    fn verify(&self, user: &User, password: &str) -> Result<bool, AccessError> {
        let hash = PasswordHash::new(&user.password_hash)
            .map_err(|e| AccessError::Internal(e.to_string()))?;
        Ok(self
            .config
            .hasher()?
            .verify_password(password.as_bytes(), &hash)
            .is_ok())
    }

    /// Signs in: checks the password, counts failures and locks the account after too many,
    /// and opens a session. Returns the session token (shown once) and the session.
    ///
    /// # Errors
    /// [`AccessError::BadCredentials`], [`AccessError::Locked`], [`AccessError::Disabled`].
    pub fn login(
        &self,
        change: &Change,
        username: &str,
        password: &str,
    ) -> Result<(String, SessionRecord, User), AccessError> {
        let now = change.at;
        if !is_username(username) {
            // No such account can exist; the name is not kept (it may be megabytes long).
            let _ = self.hash(password);
            self.store.record_denial(
                change,
                "user:?",
                Some(json!({"reason": "not a user name", "length": username.len()})),
            )?;
            return Err(AccessError::BadCredentials);
        }
        let Some((mut user, version)) = self.user(username)? else {
            // Spend the same time as a real check, so response times do not reveal names.
            let _ = self.hash(password);
            self.store.record_denial(
                change,
                &format!("user:{username}"),
                Some(json!({"reason": "unknown user"})),
            )?;
            return Err(AccessError::BadCredentials);
        };
        if let Some(until) = user.locked_until.filter(|u| *u > now) {
            self.store.record_denial(
                change,
                &format!("user:{username}"),
                Some(json!({"reason": "locked"})),
            )?;
            return Err(AccessError::Locked(until));
        }
        if !self.verify(&user, password)? {
            return Err(self.count_failure(change, user, version, "auth.login_failed"));
        }
        if user.disabled {
            self.store.record_denial(
                change,
                &format!("user:{username}"),
                Some(json!({"reason": "disabled"})),
            )?;
            return Err(AccessError::Disabled);
        }
        let token = format!("{SESSION_PREFIX}{}", random_hex()?);
        let session = SessionRecord {
            user: username.to_owned(),
            csrf: random_hex()?,
            created_at: now,
            expires_at: now + self.config.session_ttl,
        };
        let mut writes = Vec::new();
        if user.failed_logins > 0 || user.locked_until.is_some() {
            user.failed_logins = 0;
            user.locked_until = None;
            writes.push(Self::user_write(&user, Expect::Version(version), None)?);
        }
        writes.push(RecordWrite {
            collection: SESSIONS.into(),
            id: secret_id(&token),
            expect: Expect::Absent,
            body: Some(
                serde_json::to_value(&session).map_err(|e| AccessError::Internal(e.to_string()))?,
            ),
            keys: vec![("user".into(), username.to_owned())],
            detail: Some(json!({"user": username})),
        });
        self.store
            .write_records(change, &writes)
            .map_err(|e| conflict(e, username))?;
        Ok((token, session, user))
    }

    /// Ends a session.
    ///
    /// # Errors
    /// [`AccessError::InvalidToken`] when there is no such session.
    pub fn logout(&self, change: &Change, token: &str) -> Result<(), AccessError> {
        let w = RecordWrite {
            collection: SESSIONS.into(),
            id: secret_id(token),
            expect: Expect::Present,
            body: None,
            keys: vec![],
            detail: None,
        };
        self.store
            .write_records(change, &[w])
            .map_err(|e| match e {
                StoreError::Conflict { .. } => AccessError::InvalidToken,
                other => AccessError::Store(other),
            })?;
        Ok(())
    }

    /// Who a bearer or cookie credential belongs to, now.
    ///
    /// # Errors
    /// [`AccessError::InvalidToken`], [`AccessError::Expired`], [`AccessError::Revoked`],
    /// [`AccessError::Disabled`].
    pub fn authenticate(
        &self,
        credential: &str,
        now: Timestamp,
    ) -> Result<Authenticated, AccessError> {
        if credential.starts_with(SESSION_PREFIX) {
            let rec = self
                .store
                .record(SESSIONS, &secret_id(credential))?
                .ok_or(AccessError::InvalidToken)?;
            let session: SessionRecord =
                serde_json::from_value(rec.body).map_err(|_| AccessError::InvalidToken)?;
            if session.expires_at <= now {
                return Err(AccessError::Expired);
            }
            let (user, _) = self.user(&session.user)?.ok_or(AccessError::InvalidToken)?;
            if user.disabled {
                return Err(AccessError::Disabled);
            }
            return Ok(Authenticated {
                must_change_password: user.must_change_password,
                principal: Principal {
                    user: Some(user.username),
                    bindings: user.bindings,
                    via: Via::Session,
                },
                csrf: Some(session.csrf),
                expires_at: Some(session.expires_at),
            });
        }
        if credential.starts_with(API_TOKEN_PREFIX) {
            let rec = self
                .store
                .record(TOKENS, &secret_id(credential))?
                .ok_or(AccessError::InvalidToken)?;
            let token: TokenInfo =
                serde_json::from_value(rec.body).map_err(|_| AccessError::InvalidToken)?;
            if token.revoked_at.is_some() {
                return Err(AccessError::Revoked);
            }
            if token.expires_at.is_some_and(|e| e <= now) {
                return Err(AccessError::Expired);
            }
            let (user, _) = self.user(&token.user)?.ok_or(AccessError::InvalidToken)?;
            if user.disabled {
                return Err(AccessError::Disabled);
            }
            // The token's roles, as far as the account still holds them.
            let bindings = token
                .roles
                .into_iter()
                .filter(|b| user.bindings.contains(b))
                .collect();
            return Ok(Authenticated {
                principal: Principal {
                    user: Some(user.username),
                    bindings,
                    via: Via::Token(token.id),
                },
                csrf: None,
                must_change_password: user.must_change_password,
                expires_at: token.expires_at,
            });
        }
        Err(AccessError::InvalidToken)
    }

    /// Issues an API token for `username` carrying `roles` (each one the account holds; empty:
    /// all of them), valid for `days` (`None`: until revoked). Returns the secret (shown once).
    ///
    /// # Errors
    /// A role the account does not hold; a bad name.
    pub fn issue_token(
        &self,
        change: &Change,
        username: &str,
        name: &str,
        roles: Vec<Binding>,
        days: Option<u32>,
    ) -> Result<(String, TokenInfo), AccessError> {
        let (user, _) = self.existing(username)?;
        let name = tudi_core::text::check(name, 64, tudi_core::text::Lines::One).map_err(|f| {
            AccessError::Invalid {
                field: "name",
                msg: f.message("令牌名称", "name"),
            }
        })?;
        let roles = if roles.is_empty() {
            user.bindings.clone()
        } else {
            roles
        };
        if let Some(b) = roles.iter().find(|b| !user.bindings.contains(b)) {
            return Err(invalid(
                "roles",
                format!(
                    "账户不具有角色 {}（{}），令牌不能超出账户权限",
                    b.role.name_zh(),
                    b.scope
                ),
                format!(
                    "the account does not hold {} in {}: a token cannot exceed its account",
                    b.role.name_en(),
                    b.scope
                ),
            ));
        }
        let secret = format!("{API_TOKEN_PREFIX}{}", random_hex()?);
        let hash = secret_id(&secret);
        let info = TokenInfo {
            id: hash[..16].to_owned(),
            user: username.to_owned(),
            name: name.to_owned(),
            roles,
            created_at: change.at,
            expires_at: days.map(|d| change.at + SignedDuration::from_hours(24 * i64::from(d))),
            revoked_at: None,
        };
        let w = token_write(&hash, &info, Expect::Absent, false)?;
        self.store.write_records(change, &[w])?;
        Ok((secret, info))
    }

    /// An account's API tokens.
    ///
    /// # Errors
    /// Store errors.
    pub fn tokens(&self, username: &str) -> Result<Vec<TokenInfo>, AccessError> {
        let page = self.of_user(TOKENS, username)?;
        let mut out: Vec<TokenInfo> = page
            .records
            .into_iter()
            .filter_map(|r| serde_json::from_value(r.body).ok())
            .collect();
        out.sort_by_key(|t| t.created_at);
        Ok(out)
    }

    /// The token with public id `id`, and its record version.
    ///
    /// # Errors
    /// [`AccessError::UnknownToken`].
    pub fn token(&self, id: &str) -> Result<(String, TokenInfo, u64), AccessError> {
        let page = self.store.find_records(
            TOKENS,
            &RecordQuery {
                key: Some(("public_id".into(), id.into())),
                ..RecordQuery::default()
            },
        )?;
        let rec = page
            .records
            .into_iter()
            .next()
            .ok_or_else(|| AccessError::UnknownToken(id.to_owned()))?;
        let info =
            serde_json::from_value(rec.body).map_err(|e| AccessError::Internal(e.to_string()))?;
        Ok((rec.id, info, rec.version))
    }

    /// Revokes a token (it stays listed, marked revoked).
    ///
    /// # Errors
    /// [`AccessError::UnknownToken`]; [`AccessError::Conflict`] when already revoked.
    pub fn revoke_token(&self, change: &Change, id: &str) -> Result<TokenInfo, AccessError> {
        let (hash, mut info, version) = self.token(id)?;
        if info.revoked_at.is_some() {
            return Err(AccessError::Conflict(Msg::new(
                format!("令牌 {id} 已被吊销"),
                format!("token {id} is already revoked"),
            )));
        }
        info.revoked_at = Some(change.at);
        let w = token_write(&hash, &info, Expect::Version(version), true)?;
        self.store
            .write_records(change, &[w])
            .map_err(|e| conflict(e, &info.user))?;
        Ok(info)
    }
}
