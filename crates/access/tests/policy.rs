//! The policy's answers for every action, role and place, against rules written out here
//! independently of the policy table.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tudi_access::policy::{Level, Reason};
use tudi_access::{Action, Binding, Jurisdiction, Principal, Resource, Role, decide};

fn j(code: &str) -> Jurisdiction {
    Jurisdiction::parse(code).unwrap()
}

const DISTRICT: &str = "440605";
const TOWN: &str = "440605011";
const VILLAGE: &str = "440605011001";
const GRID: &str = "440605011001002";
const SIBLING_TOWN: &str = "440605012";
const OTHER_DISTRICT: &str = "440604";

/// A principal holding `role` at the narrowest level it may be bound at, inside `TOWN`.
fn holder(role: Role) -> Principal {
    let scope = match role.levels().last().unwrap() {
        Level::District => DISTRICT,
        Level::Town => TOWN,
        Level::Village => VILLAGE,
        Level::Grid => GRID,
    };
    Principal {
        user: Some(format!("{}-user", role.id())),
        bindings: vec![Binding {
            role,
            scope: j(scope),
            department: role.needs_department().then(|| "自然资源".to_owned()),
        }],
        via: tudi_access::policy::Via::Session,
    }
}

/// Which roles may take each action, and whether their jurisdiction limits them: the rules of
/// issue 4 as the product describes them.
fn expected(action: Action) -> (&'static [Role], bool) {
    use Role::*;
    let staff: &'static [Role] = &[
        Admin,
        DistrictApprover,
        DepartmentHandler,
        TownReviewer,
        VillageClerk,
        GridInspector,
        HotlineAgent,
        DutyLeader,
    ];
    match action {
        Action::MapRead | Action::TokenIssue => (staff, false),
        Action::MapAnalyse => (
            &[
                Admin,
                DistrictApprover,
                DepartmentHandler,
                TownReviewer,
                VillageClerk,
                GridInspector,
                DutyLeader,
            ],
            false,
        ),
        Action::ServiceStatus => (&[Admin], false),
        Action::LayerConfigure
        | Action::OrderConfigure
        | Action::AuditVerify
        | Action::UserList
        | Action::UserRead
        | Action::UserCreate
        | Action::UserUpdate
        | Action::UserResetPassword => (&[Admin], true),
        Action::OwnAccount => (&[], true),
        Action::AuditRead => (&[Admin, DistrictApprover, TownReviewer, DutyLeader], true),
        Action::SeeIdNumber => (&[DistrictApprover, TownReviewer, VillageClerk], true),
        // Issue 5: the hotline and grid inspectors take orders in; the supervision centre
        // (hotline, duty leader) files and closes; the command centre and town sub-centres
        // dispatch; the unit an order is sent to handles it; staff read within their area.
        Action::OrderIntake => (&[Admin, HotlineAgent, GridInspector], true),
        Action::OrderRead => (staff, true),
        Action::OrderSupervise => (&[Admin, HotlineAgent, DutyLeader], true),
        Action::OrderDispatch => (&[Admin, HotlineAgent, TownReviewer, DutyLeader], true),
        Action::OrderHandle => (&[DepartmentHandler, TownReviewer, VillageClerk], true),
        // Issue 6: villages (代办) and towns take applications in; the reviewing roles act on
        // the steps (each step's duty decides further); villages keep their member roll; the
        // district's approver revokes certificates.
        Action::HomesteadApply => (&[Admin, TownReviewer, VillageClerk], true),
        Action::HomesteadRead => (
            &[
                Admin,
                DistrictApprover,
                DepartmentHandler,
                TownReviewer,
                VillageClerk,
            ],
            true,
        ),
        Action::HomesteadReview => (
            &[
                DistrictApprover,
                DepartmentHandler,
                TownReviewer,
                VillageClerk,
            ],
            true,
        ),
        Action::HomesteadConfigure => (&[Admin, VillageClerk], true),
        Action::CertificateRevoke => (&[DistrictApprover], true),
        // Issue 19: the bureau reads and manages survey projects, its approver signs off
        // warnings; a firm submits to its own projects (its department is the firm).
        Action::SurveyRead => (
            &[Admin, DistrictApprover, DepartmentHandler, DutyLeader],
            true,
        ),
        Action::SurveyManage => (&[DistrictApprover, DepartmentHandler], true),
        Action::SurveySignOff => (&[DistrictApprover], true),
        Action::SurveySubmit => (&[SurveyFirm], true),
        // Issue 17: the district's staff read the farmland ledger; the approver and the
        // departments post to it.
        Action::FarmlandRead => (
            &[Admin, DistrictApprover, DepartmentHandler, DutyLeader],
            true,
        ),
        Action::FarmlandPost => (&[DistrictApprover, DepartmentHandler], true),
        Action::FarmlandPatrol => (&[VillageClerk, GridInspector], true),
        Action::SeePhone => (
            &[
                DistrictApprover,
                DepartmentHandler,
                TownReviewer,
                VillageClerk,
                GridInspector,
                HotlineAgent,
                DutyLeader,
            ],
            true,
        ),
    }
}

#[test]
fn every_action_role_and_place() {
    let places = [GRID, VILLAGE, TOWN, SIBLING_TOWN, DISTRICT, OTHER_DISTRICT];
    let mut checked = 0;
    for action in Action::ALL {
        let (roles, scoped) = expected(action);
        for role in Role::ALL {
            let who = holder(role);
            let home = &who.bindings[0].scope;
            for place in places {
                let scope = [j(place)];
                let res = Resource {
                    scope: &scope,
                    ..Resource::default()
                };
                // Handling is decided on the unit an order was sent to, which these
                // resources do not name (see `handling_is_for_the_unit_sent_to_and_only_it`).
                let want = roles.contains(&role)
                    && (!scoped || home.contains(&scope[0]))
                    && action != Action::OrderHandle;
                let got = decide(&who, action, &res);
                assert_eq!(
                    got.allowed, want,
                    "{action:?} by {role:?} ({home}) on {place}: {got:?}"
                );
                if !got.allowed {
                    let reason = if roles.contains(&role) {
                        Reason::OutOfScope
                    } else {
                        Reason::NoRole
                    };
                    assert_eq!(got.reason, reason, "{action:?} by {role:?} on {place}");
                }
                checked += 1;
            }
        }
        // Nobody signed in gets nothing that is not public.
        let scope = [j(TOWN)];
        let anon = decide(
            &Principal::anonymous(),
            action,
            &Resource {
                scope: &scope,
                ..Resource::default()
            },
        );
        assert!(
            !anon.allowed && anon.reason == Reason::NotSignedIn,
            "{action:?}"
        );
    }
    assert_eq!(checked, Action::ALL.len() * Role::ALL.len() * places.len());
}

#[test]
fn a_town_role_never_reaches_a_sibling_town() {
    let reviewer = holder(Role::TownReviewer);
    for code in ["440605011", "440605011001", "440605011001002"] {
        let s = [j(code)];
        assert!(
            decide(
                &reviewer,
                Action::AuditRead,
                &Resource {
                    scope: &s,
                    ..Resource::default()
                }
            )
            .allowed
        );
    }
    for code in ["440605012", "440605012001", "440605", "440605012001001"] {
        let s = [j(code)];
        assert!(
            !decide(
                &reviewer,
                Action::AuditRead,
                &Resource {
                    scope: &s,
                    ..Resource::default()
                }
            )
            .allowed,
            "{code}"
        );
    }
    // A resource spanning two towns is only covered when both are.
    let both = [j("440605011001"), j("440605012001")];
    assert!(
        !decide(
            &reviewer,
            Action::AuditRead,
            &Resource {
                scope: &both,
                ..Resource::default()
            }
        )
        .allowed
    );
    let mut admin = holder(Role::Admin);
    admin.bindings[0].scope = j(DISTRICT);
    assert!(
        decide(
            &admin,
            Action::UserRead,
            &Resource {
                scope: &both,
                ..Resource::default()
            }
        )
        .allowed
    );
}

#[test]
fn owners_public_resources_and_departments() {
    let clerk = holder(Role::VillageClerk);
    let elsewhere = [j(SIBLING_TOWN)];
    let own = Resource {
        scope: &elsewhere,
        owner: Some("village_clerk-user"),
        ..Resource::default()
    };
    assert_eq!(
        decide(&clerk, Action::OwnAccount, &own).reason,
        Reason::Owner
    );
    assert!(
        decide(&clerk, Action::SeeIdNumber, &own).allowed,
        "one's own number is never masked"
    );
    assert!(
        !decide(
            &clerk,
            Action::OwnAccount,
            &Resource {
                owner: Some("someone"),
                ..own
            }
        )
        .allowed
    );

    let public = Resource {
        public: true,
        ..Resource::default()
    };
    assert_eq!(
        decide(&Principal::anonymous(), Action::MapRead, &public).reason,
        Reason::Public
    );
    assert!(
        !decide(
            &Principal::anonymous(),
            Action::MapRead,
            &Resource::default()
        )
        .allowed
    );
    assert!(
        !decide(&Principal::anonymous(), Action::MapAnalyse, &public).allowed,
        "public is for reading only"
    );
    assert!(!decide(&holder(Role::Public), Action::MapRead, &Resource::default()).allowed);

    let handler = holder(Role::DepartmentHandler);
    let s = [j(VILLAGE)];
    let theirs = Resource {
        scope: &s,
        department: Some("自然资源"),
        ..Resource::default()
    };
    let other = Resource {
        scope: &s,
        department: Some("住建"),
        ..Resource::default()
    };
    assert!(decide(&handler, Action::SeePhone, &theirs).allowed);
    assert_eq!(
        decide(&handler, Action::SeePhone, &other).reason,
        Reason::OutOfScope
    );
}

/// Issue 14: a handling step (签收, 退回, 反馈) is for the unit the order was sent to, matched
/// exactly — a department's handler for that department only, a town's reviewer or a village's
/// clerk for an order sent to that very office — never for another unit in reach.
#[test]
fn handling_is_for_the_unit_sent_to_and_only_it() {
    use tudi_access::Unit;
    let grid = [j(GRID)];
    let town = j(TOWN);
    let village = j(VILLAGE);
    let sibling = j(SIBLING_TOWN);
    let sent_to = |unit| Resource {
        scope: &grid,
        unit: Some(unit),
        ..Resource::default()
    };
    let cases: [(Role, tudi_access::Unit<'_>, bool); 12] = [
        (Role::DepartmentHandler, Unit::Department("自然资源"), true),
        (Role::DepartmentHandler, Unit::Department("住建"), false),
        (Role::DepartmentHandler, Unit::Office(&town), false),
        (Role::DepartmentHandler, Unit::Office(&village), false),
        (Role::TownReviewer, Unit::Office(&town), true),
        (Role::TownReviewer, Unit::Office(&village), false),
        (Role::TownReviewer, Unit::Office(&sibling), false),
        (Role::TownReviewer, Unit::Department("自然资源"), false),
        (Role::VillageClerk, Unit::Office(&village), true),
        (Role::VillageClerk, Unit::Office(&town), false),
        (Role::VillageClerk, Unit::Department("自然资源"), false),
        (Role::Admin, Unit::Office(&town), false),
    ];
    for (role, unit, want) in cases {
        let got = decide(&holder(role), Action::OrderHandle, &sent_to(unit));
        assert_eq!(
            got.allowed, want,
            "{role:?} on an order sent to {unit:?}: {got:?}"
        );
    }
    // Sent to nobody: nobody handles it.
    let nowhere = Resource {
        scope: &grid,
        ..Resource::default()
    };
    for role in Role::ALL {
        assert!(!decide(&holder(role), Action::OrderHandle, &nowhere).allowed);
    }
    // A department's handler bound to a town reaches only that town's orders of the department.
    let mut town_handler = holder(Role::DepartmentHandler);
    town_handler.bindings[0].scope = j(SIBLING_TOWN);
    assert!(
        !decide(
            &town_handler,
            Action::OrderHandle,
            &sent_to(Unit::Department("自然资源"))
        )
        .allowed
    );
    // A department's resource is never covered by a binding without that department.
    let theirs = Resource {
        scope: &grid,
        department: Some("自然资源"),
        ..Resource::default()
    };
    assert!(!decide(&holder(Role::TownReviewer), Action::SeePhone, &theirs).allowed);
    // Their to-do list knows they handle something somewhere.
    for role in [
        Role::DepartmentHandler,
        Role::TownReviewer,
        Role::VillageClerk,
    ] {
        assert!(tudi_access::policy::allowed_somewhere(
            &holder(role),
            Action::OrderHandle
        ));
    }
}

#[test]
fn a_survey_firm_reaches_only_its_own_projects() {
    let district = [j(DISTRICT)];
    let project_of = |firm| Resource {
        scope: &district,
        department: Some(firm),
        ..Resource::default()
    };
    let mut firm = holder(Role::SurveyFirm);
    firm.bindings[0].department = Some("甲测绘".to_owned());
    assert!(decide(&firm, Action::SurveySubmit, &project_of("甲测绘")).allowed);
    let other = decide(&firm, Action::SurveySubmit, &project_of("乙测绘"));
    assert!(!other.allowed && other.reason == Reason::OutOfScope);
    // A firm reads and decides nothing else of the bureau's.
    for action in [
        Action::SurveyRead,
        Action::SurveyManage,
        Action::SurveySignOff,
    ] {
        assert!(!decide(&firm, action, &project_of("甲测绘")).allowed);
    }
}
