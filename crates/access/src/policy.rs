//! The access policy: the one place that decides whether someone may do something.
//!
//! A [`Principal`] holds role [`Binding`]s, each a [`Role`] in a [`Jurisdiction`] (and, for
//! departments, a department). [`decide`] answers for one [`Action`] on one [`Resource`]; every
//! handler asks it and nothing else. The answer is *deny* unless a rule below grants it.
//!
//! The rules are a table: for each action, which roles may take it and how far their reach goes
//! ([`Reach`]): anywhere (reading the reference map), within their jurisdiction (a town's role
//! covers that town's villages and grids, never a sibling town's), or only on their own account.

use std::fmt;

use serde::{Deserialize, Serialize};
use tudi_core::msg::Msg;

use crate::jurisdiction::Jurisdiction;

/// The roles of the platform.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 系统管理员: accounts, roles, settings.
    Admin,
    /// 区局审批人: the district bureau's approver.
    DistrictApprover,
    /// 部门处置人: a department's handler of cases and work orders.
    DepartmentHandler,
    /// 镇街审核人: a town's (street's) reviewer.
    TownReviewer,
    /// 村居经办人: a village (community) clerk.
    VillageClerk,
    /// 网格员: a grid inspector.
    GridInspector,
    /// 热线坐席: a 12345 hotline operator.
    HotlineAgent,
    /// 值班领导: the leader on duty.
    DutyLeader,
    /// 公众: a member of the public.
    Public,
    /// 测绘或规划编制单位: a survey or planning firm submitting results, bound with the firm's
    /// name as its department.
    SurveyFirm,
}

/// The level of a jurisdiction.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// 区县 (6 digits).
    District,
    /// 镇街 (9 digits).
    Town,
    /// 村居 (12 digits).
    Village,
    /// 网格 (15 digits: the village code and a 3-digit cell number).
    Grid,
}

impl Level {
    /// Chinese name.
    #[must_use]
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::District => "区县",
            Self::Town => "镇街",
            Self::Village => "村居",
            Self::Grid => "网格",
        }
    }
}

impl Role {
    /// Every role, in the order the console lists them.
    pub const ALL: [Role; 10] = [
        Role::Admin,
        Role::DistrictApprover,
        Role::DepartmentHandler,
        Role::TownReviewer,
        Role::VillageClerk,
        Role::GridInspector,
        Role::HotlineAgent,
        Role::DutyLeader,
        Role::Public,
        Role::SurveyFirm,
    ];

    /// The identifier used in the API, the CLI and stored accounts.
    #[must_use]
    pub fn id(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::DistrictApprover => "district_approver",
            Self::DepartmentHandler => "department_handler",
            Self::TownReviewer => "town_reviewer",
            Self::VillageClerk => "village_clerk",
            Self::GridInspector => "grid_inspector",
            Self::HotlineAgent => "hotline_agent",
            Self::DutyLeader => "duty_leader",
            Self::Public => "public",
            Self::SurveyFirm => "survey_firm",
        }
    }

    /// The Chinese name.
    #[must_use]
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Admin => "系统管理员",
            Self::DistrictApprover => "区局审批人",
            Self::DepartmentHandler => "部门处置人",
            Self::TownReviewer => "镇街审核人",
            Self::VillageClerk => "村居经办人",
            Self::GridInspector => "网格员",
            Self::HotlineAgent => "热线坐席",
            Self::DutyLeader => "值班领导",
            Self::Public => "公众",
            Self::SurveyFirm => "测绘单位",
        }
    }

    /// The English name.
    #[must_use]
    pub fn name_en(self) -> &'static str {
        match self {
            Self::Admin => "administrator",
            Self::DistrictApprover => "district approver",
            Self::DepartmentHandler => "department handler",
            Self::TownReviewer => "town reviewer",
            Self::VillageClerk => "village clerk",
            Self::GridInspector => "grid inspector",
            Self::HotlineAgent => "hotline operator",
            Self::DutyLeader => "leader on duty",
            Self::Public => "member of the public",
            Self::SurveyFirm => "survey firm",
        }
    }

    /// Reads an identifier or a Chinese name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        Self::ALL
            .into_iter()
            .find(|r| r.id() == t || r.name_zh() == t)
    }

    /// The levels this role may be bound at: a village clerk works in a village, a town
    /// reviewer in a town, the district bureau's roles in the district.
    #[must_use]
    pub fn levels(self) -> &'static [Level] {
        match self {
            Self::Admin | Self::DepartmentHandler | Self::DutyLeader => {
                &[Level::District, Level::Town]
            }
            Self::DistrictApprover | Self::HotlineAgent | Self::Public | Self::SurveyFirm => {
                &[Level::District]
            }
            Self::TownReviewer => &[Level::Town],
            Self::VillageClerk => &[Level::Village],
            Self::GridInspector => &[Level::Village, Level::Grid],
        }
    }

    /// Whether a binding of this role names a department (自然资源, 住建 …).
    #[must_use]
    pub fn needs_department(self) -> bool {
        matches!(self, Self::DepartmentHandler | Self::SurveyFirm)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name_zh())
    }
}

/// A role held in a jurisdiction (and department).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Binding {
    /// The role.
    pub role: Role,
    /// Where it applies.
    pub scope: Jurisdiction,
    /// The department, for roles that need one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
}

/// How the request was authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// No credentials.
    Anonymous,
    /// A console session (cookie) or a login token.
    Session,
    /// An API token, by its public id.
    Token(String),
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The account name (`None`: anonymous).
    pub user: Option<String>,
    /// The roles in force for this request (for an API token, the subset it carries).
    pub bindings: Vec<Binding>,
    /// How they signed in.
    pub via: Via,
}

impl Principal {
    /// Someone who has not signed in.
    #[must_use]
    pub fn anonymous() -> Self {
        Self {
            user: None,
            bindings: Vec::new(),
            via: Via::Anonymous,
        }
    }

    /// The actor as the audit log names them.
    #[must_use]
    pub fn actor(&self) -> String {
        match (&self.user, &self.via) {
            (Some(u), Via::Token(id)) => format!("user:{u}/token:{id}"),
            (Some(u), _) => format!("user:{u}"),
            (None, _) => "anonymous".to_owned(),
        }
    }

    /// Whether they hold `role` anywhere.
    #[must_use]
    pub fn has_role(&self, role: Role) -> bool {
        self.bindings.iter().any(|b| b.role == role)
    }
}

/// Everything the policy decides on. Serialised as its [`Action::id`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read map layers, features, tiles, search.
    MapRead,
    /// Run the compliance analysis of a site.
    MapAnalyse,
    /// Make a layer public or not.
    LayerConfigure,
    /// See the service's internal state (snapshots, revisions).
    ServiceStatus,
    /// List accounts.
    UserList,
    /// Read an account.
    UserRead,
    /// Create an account.
    UserCreate,
    /// Change an account's roles, name, phone, or disable it.
    UserUpdate,
    /// Set a new password for someone else's account.
    UserResetPassword,
    /// Read one's own account, change one's password, manage one's own tokens.
    OwnAccount,
    /// Issue API tokens for other systems.
    TokenIssue,
    /// Read a resource's audit history.
    AuditRead,
    /// Verify the whole audit chain.
    AuditVerify,
    /// See a 身份证号 unmasked.
    SeeIdNumber,
    /// See a phone number unmasked.
    SeePhone,
    /// Take in a work order (hotline, patrol report, another system).
    OrderIntake,
    /// Read work orders in one's jurisdiction.
    OrderRead,
    /// 立案, 不予立案, 核查结案 or 返工, 回访评价 (the supervision centre).
    OrderSupervise,
    /// 派遣 and 并单 (the command centre; a town's sub-centre within the town).
    OrderDispatch,
    /// 签收, 退回, 反馈 on an order sent to one's unit.
    OrderHandle,
    /// Set the responsibility list (权责清单) and the on-duty roster.
    OrderConfigure,
    /// Take in a household's homestead application (村居代办, or the town).
    HomesteadApply,
    /// Read homestead applications, cases and certificates in one's jurisdiction.
    HomesteadRead,
    /// Act on a homestead case's tasks (the step's duty then decides which).
    HomesteadReview,
    /// Keep the village collective's member roll (集体经济组织成员名册).
    HomesteadConfigure,
    /// Revoke an issued certificate.
    CertificateRevoke,
    /// Read survey projects, submissions and their reports, and the firms' records.
    SurveyRead,
    /// Register survey projects; return a submission or accept it into the one map.
    SurveyManage,
    /// Sign off a submission's remaining warnings (the authorised person).
    SurveySignOff,
    /// Submit results to one's firm's projects (and read them and their reports).
    SurveySubmit,
    /// Read the farmland quota ledger: balances, the journal, compensation projects.
    FarmlandRead,
    /// Post to the farmland ledger: register and accept compensation projects, a higher
    /// level's orders, transfers, reversals.
    FarmlandPost,
    /// Record a field chief's patrol (巡田) in one's own cells.
    FarmlandPatrol,
}

impl Action {
    /// Every action (for exhaustive tests).
    pub const ALL: [Action; 33] = [
        Action::MapRead,
        Action::MapAnalyse,
        Action::LayerConfigure,
        Action::ServiceStatus,
        Action::UserList,
        Action::UserRead,
        Action::UserCreate,
        Action::UserUpdate,
        Action::UserResetPassword,
        Action::OwnAccount,
        Action::TokenIssue,
        Action::AuditRead,
        Action::AuditVerify,
        Action::SeeIdNumber,
        Action::SeePhone,
        Action::OrderIntake,
        Action::OrderRead,
        Action::OrderSupervise,
        Action::OrderDispatch,
        Action::OrderHandle,
        Action::OrderConfigure,
        Action::HomesteadApply,
        Action::HomesteadRead,
        Action::HomesteadReview,
        Action::HomesteadConfigure,
        Action::CertificateRevoke,
        Action::SurveyRead,
        Action::SurveyManage,
        Action::SurveySignOff,
        Action::SurveySubmit,
        Action::FarmlandRead,
        Action::FarmlandPost,
        Action::FarmlandPatrol,
    ];

    /// The identifier used in the API (`can` of `/api/v1/auth/me`) and in audit actions.
    #[must_use]
    pub fn id(self) -> &'static str {
        match self {
            Self::MapRead => "map_read",
            Self::MapAnalyse => "map_analyse",
            Self::LayerConfigure => "layer_configure",
            Self::ServiceStatus => "service_status",
            Self::UserList => "user_list",
            Self::UserRead => "user_read",
            Self::UserCreate => "user_create",
            Self::UserUpdate => "user_update",
            Self::UserResetPassword => "user_reset_password",
            Self::OwnAccount => "own_account",
            Self::TokenIssue => "token_issue",
            Self::AuditRead => "audit_read",
            Self::AuditVerify => "audit_verify",
            Self::SeeIdNumber => "see_id_number",
            Self::SeePhone => "see_phone",
            Self::OrderIntake => "order_intake",
            Self::OrderRead => "order_read",
            Self::OrderSupervise => "order_supervise",
            Self::OrderDispatch => "order_dispatch",
            Self::OrderHandle => "order_handle",
            Self::OrderConfigure => "order_configure",
            Self::HomesteadApply => "homestead_apply",
            Self::HomesteadRead => "homestead_read",
            Self::HomesteadReview => "homestead_review",
            Self::HomesteadConfigure => "homestead_configure",
            Self::CertificateRevoke => "certificate_revoke",
            Self::SurveyRead => "survey_read",
            Self::SurveyManage => "survey_manage",
            Self::SurveySignOff => "survey_sign_off",
            Self::SurveySubmit => "survey_submit",
            Self::FarmlandRead => "farmland_read",
            Self::FarmlandPost => "farmland_post",
            Self::FarmlandPatrol => "farmland_patrol",
        }
    }

    /// Chinese description, for messages.
    #[must_use]
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::MapRead => "查看一张图图层",
            Self::MapAnalyse => "合规性分析",
            Self::LayerConfigure => "设置图层公开",
            Self::ServiceStatus => "查看服务状态",
            Self::UserList => "查看用户列表",
            Self::UserRead => "查看用户",
            Self::UserCreate => "创建用户",
            Self::UserUpdate => "修改用户",
            Self::UserResetPassword => "重置他人密码",
            Self::OwnAccount => "管理本人账户",
            Self::TokenIssue => "签发接口令牌",
            Self::AuditRead => "查看审计记录",
            Self::AuditVerify => "校验审计链",
            Self::SeeIdNumber => "查看完整身份证号",
            Self::SeePhone => "查看完整电话号码",
            Self::OrderIntake => "受理工单",
            Self::OrderRead => "查看工单",
            Self::OrderSupervise => "立案、核查、结案和回访工单",
            Self::OrderDispatch => "派遣工单",
            Self::OrderHandle => "签收、退回和反馈工单",
            Self::OrderConfigure => "设置权责清单和值班表",
            Self::HomesteadApply => "受理宅基地申请",
            Self::HomesteadRead => "查看宅基地申请和证照",
            Self::HomesteadReview => "审查宅基地申请",
            Self::HomesteadConfigure => "维护集体经济组织成员名册",
            Self::CertificateRevoke => "注销证照",
            Self::SurveyRead => "查看测绘项目和质检报告",
            Self::SurveyManage => "登记测绘项目、退回或接收成果",
            Self::SurveySignOff => "签认质检警告",
            Self::SurveySubmit => "提交测绘成果",
            Self::FarmlandRead => "查看耕地占补平衡指标台账",
            Self::FarmlandPost => "补充耕地项目入库、指标调剂、冻结和冲正",
            Self::FarmlandPatrol => "田长巡田记录",
        }
    }

    /// English description.
    #[must_use]
    pub fn name_en(self) -> &'static str {
        match self {
            Self::MapRead => "read one-map layers",
            Self::MapAnalyse => "run a compliance analysis",
            Self::LayerConfigure => "make a layer public",
            Self::ServiceStatus => "see the service status",
            Self::UserList => "list accounts",
            Self::UserRead => "read an account",
            Self::UserCreate => "create an account",
            Self::UserUpdate => "change an account",
            Self::UserResetPassword => "reset another user's password",
            Self::OwnAccount => "manage one's own account",
            Self::TokenIssue => "issue API tokens",
            Self::AuditRead => "read audit history",
            Self::AuditVerify => "verify the audit chain",
            Self::SeeIdNumber => "see identity numbers unmasked",
            Self::SeePhone => "see phone numbers unmasked",
            Self::OrderIntake => "take in work orders",
            Self::OrderRead => "read work orders",
            Self::OrderSupervise => "file, check, close and call back work orders",
            Self::OrderDispatch => "dispatch work orders",
            Self::OrderHandle => "sign for, return and report on work orders",
            Self::OrderConfigure => "set the responsibility list and the duty roster",
            Self::HomesteadApply => "take in homestead applications",
            Self::HomesteadRead => "read homestead applications and certificates",
            Self::HomesteadReview => "review homestead applications",
            Self::HomesteadConfigure => "keep the collective's member roll",
            Self::CertificateRevoke => "revoke certificates",
            Self::SurveyRead => "read survey projects and check reports",
            Self::SurveyManage => "register survey projects, return or accept results",
            Self::SurveySignOff => "sign off check warnings",
            Self::SurveySubmit => "submit survey results",
            Self::FarmlandRead => "read the farmland quota ledger",
            Self::FarmlandPost => "post to the farmland quota ledger",
            Self::FarmlandPatrol => "record a field chief's patrol",
        }
    }

    /// Whether a refusal is worth an audit entry (an attempt to change something or to see
    /// personal data).
    #[must_use]
    pub fn is_sensitive(self) -> bool {
        !matches!(
            self,
            Self::MapRead
                | Self::MapAnalyse
                | Self::ServiceStatus
                | Self::OwnAccount
                | Self::UserList
                | Self::OrderRead
                | Self::HomesteadRead
                | Self::SurveyRead
                | Self::FarmlandRead
        )
    }
}

impl Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

/// How far a role's grant of an action reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Any resource: the role's jurisdiction does not matter.
    Anywhere,
    /// Resources whose jurisdictions all lie within the binding's (and, when the resource
    /// belongs to a department, only bindings of that department).
    WithinScope,
    /// Only the unit the resource was sent to (a work order's handling unit): a binding of
    /// that department whose jurisdiction covers the resource, or a binding at exactly that
    /// town or village without a department. A resource sent to no unit is handled by nobody.
    HandlingUnit,
}

/// The unit a resource was sent to for handling (a work order's 承办单位).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit<'a> {
    /// A department of the district (自然资源, 住建 …), by the name its bindings carry.
    Department(&'a str),
    /// A town (street) or village (community) office, by its division code.
    Office(&'a Jurisdiction),
}

/// The rule of an action: the roles it is granted to, how far, and whether the resource's own
/// account holder and the public (for public resources) may take it too.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Roles granted the action.
    pub roles: &'static [Role],
    /// Their reach.
    pub reach: Reach,
    /// The account a resource belongs to may take the action on it.
    pub owner: bool,
    /// Anyone, signed in or not, may take it on a public resource.
    pub public: bool,
}

const STAFF: &[Role] = &[
    Role::Admin,
    Role::DistrictApprover,
    Role::DepartmentHandler,
    Role::TownReviewer,
    Role::VillageClerk,
    Role::GridInspector,
    Role::HotlineAgent,
    Role::DutyLeader,
];

/// The policy table.
#[must_use]
pub fn rule(action: Action) -> Rule {
    use Action as A;
    use Role as R;
    let (roles, reach, owner, public): (&'static [Role], Reach, bool, bool) = match action {
        A::MapRead => (STAFF, Reach::Anywhere, false, true),
        A::MapAnalyse => (
            &[
                R::Admin,
                R::DistrictApprover,
                R::DepartmentHandler,
                R::TownReviewer,
                R::VillageClerk,
                R::GridInspector,
                R::DutyLeader,
            ],
            Reach::Anywhere,
            false,
            false,
        ),
        A::ServiceStatus => (&[R::Admin], Reach::Anywhere, false, false),
        A::LayerConfigure | A::AuditVerify | A::OrderConfigure => {
            (&[R::Admin], Reach::WithinScope, false, false)
        }
        A::UserList | A::UserRead | A::UserCreate | A::UserUpdate | A::UserResetPassword => {
            (&[R::Admin], Reach::WithinScope, false, false)
        }
        A::OwnAccount => (&[], Reach::WithinScope, true, false),
        A::TokenIssue => (STAFF, Reach::Anywhere, false, false),
        A::AuditRead => (
            &[
                R::Admin,
                R::DistrictApprover,
                R::TownReviewer,
                R::DutyLeader,
            ],
            Reach::WithinScope,
            true,
            false,
        ),
        A::SeeIdNumber => (
            &[R::DistrictApprover, R::TownReviewer, R::VillageClerk],
            Reach::WithinScope,
            true,
            false,
        ),
        A::OrderIntake => (
            &[R::Admin, R::HotlineAgent, R::GridInspector],
            Reach::WithinScope,
            false,
            false,
        ),
        A::OrderRead => (STAFF, Reach::WithinScope, false, false),
        A::OrderSupervise => (
            &[R::Admin, R::HotlineAgent, R::DutyLeader],
            Reach::WithinScope,
            false,
            false,
        ),
        A::OrderDispatch => (
            &[R::Admin, R::HotlineAgent, R::TownReviewer, R::DutyLeader],
            Reach::WithinScope,
            false,
            false,
        ),
        A::OrderHandle => (
            &[R::DepartmentHandler, R::TownReviewer, R::VillageClerk],
            Reach::HandlingUnit,
            false,
            false,
        ),
        A::HomesteadApply => (
            &[R::Admin, R::TownReviewer, R::VillageClerk],
            Reach::WithinScope,
            false,
            false,
        ),
        A::HomesteadRead => (
            &[
                R::Admin,
                R::DistrictApprover,
                R::DepartmentHandler,
                R::TownReviewer,
                R::VillageClerk,
            ],
            Reach::WithinScope,
            false,
            false,
        ),
        A::HomesteadReview => (
            &[
                R::DistrictApprover,
                R::DepartmentHandler,
                R::TownReviewer,
                R::VillageClerk,
            ],
            Reach::WithinScope,
            false,
            false,
        ),
        A::HomesteadConfigure => (
            &[R::Admin, R::VillageClerk],
            Reach::WithinScope,
            false,
            false,
        ),
        A::CertificateRevoke => (&[R::DistrictApprover], Reach::WithinScope, false, false),
        A::SurveyRead => (
            &[
                R::Admin,
                R::DistrictApprover,
                R::DepartmentHandler,
                R::DutyLeader,
            ],
            Reach::WithinScope,
            false,
            false,
        ),
        A::SurveyManage => (
            &[R::DistrictApprover, R::DepartmentHandler],
            Reach::WithinScope,
            false,
            false,
        ),
        A::SurveySignOff => (&[R::DistrictApprover], Reach::WithinScope, false, false),
        // A firm's work is its department's: a firm's binding covers only its own projects.
        A::SurveySubmit => (&[R::SurveyFirm], Reach::WithinScope, false, false),
        // The ledger is the district's: its staff at district level read it; the approver and
        // the departments (自然资源) post.
        A::FarmlandRead => (
            &[
                R::Admin,
                R::DistrictApprover,
                R::DepartmentHandler,
                R::DutyLeader,
            ],
            Reach::WithinScope,
            false,
            false,
        ),
        A::FarmlandPost => (
            &[R::DistrictApprover, R::DepartmentHandler],
            Reach::WithinScope,
            false,
            false,
        ),
        // Village and grid chiefs are the village's cadres and its grid inspectors; whether the
        // person is the cell's chief is the roster's to say.
        A::FarmlandPatrol => (
            &[R::VillageClerk, R::GridInspector],
            Reach::WithinScope,
            false,
            false,
        ),
        A::SeePhone => (
            &[
                R::DistrictApprover,
                R::DepartmentHandler,
                R::TownReviewer,
                R::VillageClerk,
                R::GridInspector,
                R::HotlineAgent,
                R::DutyLeader,
            ],
            Reach::WithinScope,
            true,
            false,
        ),
    };
    Rule {
        roles,
        reach,
        owner,
        public,
    }
}

/// What an action is taken on, as far as the policy cares.
#[derive(Debug, Clone, Copy, Default)]
pub struct Resource<'a> {
    /// The jurisdictions it lies in (an account: those of its roles). Empty: none, which only
    /// [`Reach::Anywhere`] grants cover.
    pub scope: &'a [Jurisdiction],
    /// Its department, when it belongs to one.
    pub department: Option<&'a str>,
    /// The unit it was sent to for handling, if any ([`Reach::HandlingUnit`] rules).
    pub unit: Option<Unit<'a>>,
    /// The account it belongs to.
    pub owner: Option<&'a str>,
    /// Configured public (anonymous reads allowed).
    pub public: bool,
}

/// Why the policy answered as it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Granted to a role the principal holds.
    Role(Role),
    /// Granted because the resource is theirs.
    Owner,
    /// Granted because the resource is public.
    Public,
    /// Refused: not signed in.
    NotSignedIn,
    /// Refused: none of their roles may take the action.
    NoRole,
    /// Refused: their roles may, but not here.
    OutOfScope,
}

/// The policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The action.
    pub action: Action,
    /// Granted or not.
    pub allowed: bool,
    /// Why.
    pub reason: Reason,
}

impl Decision {
    /// The message for a refusal (or a grant), in Chinese and English.
    #[must_use]
    pub fn message(&self) -> Msg {
        let (zh, en) = (self.action.name_zh(), self.action.name_en());
        match &self.reason {
            Reason::Role(r) => Msg::new(
                format!("以{r}身份允许{zh}"),
                format!("allowed to {en} as {}", r.name_en()),
            ),
            Reason::Owner => Msg::new(
                format!("本人允许{zh}"),
                format!("allowed to {en} on one's own account"),
            ),
            Reason::Public => Msg::new("公开资源", "public resource"),
            Reason::NotSignedIn => Msg::new(
                format!("请先登录：{zh}需要登录"),
                format!("sign in first: to {en} you must be signed in"),
            ),
            Reason::NoRole => Msg::new(
                format!("您的角色无权{zh}"),
                format!("none of your roles may {en}"),
            ),
            Reason::OutOfScope => Msg::new(
                format!("该对象不在您的管辖范围内，无权{zh}"),
                format!("this is outside your jurisdiction: you may not {en} here"),
            ),
        }
    }
}

fn covers(binding: &Binding, resource: &Resource<'_>) -> bool {
    if resource.scope.is_empty() {
        return false;
    }
    // A department's resource is only for that department's bindings: a binding without a
    // department does not match one.
    if let Some(theirs) = resource.department
        && binding.department.as_deref() != Some(theirs)
    {
        return false;
    }
    resource.scope.iter().all(|j| binding.scope.contains(j))
}

/// Whether `binding` is the unit `resource` was sent to; see [`Reach::HandlingUnit`].
fn is_handling_unit(binding: &Binding, resource: &Resource<'_>) -> bool {
    match resource.unit {
        Some(Unit::Department(d)) => {
            binding.role.needs_department()
                && binding.department.as_deref() == Some(d)
                && !resource.scope.is_empty()
                && resource.scope.iter().all(|j| binding.scope.contains(j))
        }
        Some(Unit::Office(office)) => !binding.role.needs_department() && binding.scope == *office,
        None => false,
    }
}

/// Decides whether `who` may take `action` on `resource`. Deny unless a rule grants it.
#[must_use]
pub fn decide(who: &Principal, action: Action, resource: &Resource<'_>) -> Decision {
    let rule = rule(action);
    let answer = |allowed, reason| Decision {
        action,
        allowed,
        reason,
    };
    if rule.public && resource.public {
        return answer(true, Reason::Public);
    }
    let Some(user) = &who.user else {
        return answer(false, Reason::NotSignedIn);
    };
    if rule.owner && resource.owner == Some(user.as_str()) {
        return answer(true, Reason::Owner);
    }
    let mut holds_role = false;
    for b in &who.bindings {
        if !rule.roles.contains(&b.role) {
            continue;
        }
        holds_role = true;
        let reaches = match rule.reach {
            Reach::Anywhere => true,
            Reach::WithinScope => covers(b, resource),
            Reach::HandlingUnit => is_handling_unit(b, resource),
        };
        if reaches {
            return answer(true, Reason::Role(b.role));
        }
    }
    answer(
        false,
        if holds_role {
            Reason::OutOfScope
        } else {
            Reason::NoRole
        },
    )
}

/// Whether `who` may take `action` on some resource: their own account, anything (for actions
/// granted anywhere), or something within one of their jurisdictions. Lists and menus ask this;
/// each resource is then decided on its own with [`decide`].
#[must_use]
pub fn allowed_somewhere(who: &Principal, action: Action) -> bool {
    let own = Resource {
        owner: who.user.as_deref(),
        ..Resource::default()
    };
    decide(who, action, &own).allowed
        || who.bindings.iter().any(|b| {
            // Something of the binding's own: in its jurisdiction, of its department, sent to
            // its unit.
            let scope = [b.scope.clone()];
            let unit = match &b.department {
                Some(d) => Unit::Department(d),
                None => Unit::Office(&b.scope),
            };
            let res = Resource {
                scope: &scope,
                department: b.department.as_deref(),
                unit: Some(unit),
                ..Resource::default()
            };
            decide(who, action, &res).allowed
        })
}

/// Whether `who` fills a duty of a workflow step: holds `role` with a jurisdiction covering
/// `place` (and, for department roles, in `department`). Workflow tasks are assigned to such
/// duties (candidate groups), so who may sign a step is decided here, with everything else.
#[must_use]
pub fn fills_duty(
    who: &Principal,
    role: Role,
    place: &Jurisdiction,
    department: Option<&str>,
) -> bool {
    who.user.is_some()
        && who.bindings.iter().any(|b| {
            b.role == role
                && b.scope.contains(place)
                && (!role.needs_department()
                    || department.is_none()
                    || b.department.as_deref() == department)
        })
}

/// Whether `who` may see a resource's identity number unmasked.
#[must_use]
pub fn may_see_id_number(who: &Principal, resource: &Resource<'_>) -> bool {
    decide(who, Action::SeeIdNumber, resource).allowed
}

/// Whether `who` may see a resource's phone number unmasked.
#[must_use]
pub fn may_see_phone(who: &Principal, resource: &Resource<'_>) -> bool {
    decide(who, Action::SeePhone, resource).allowed
}
