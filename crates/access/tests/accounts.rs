//! Accounts on a real store: sign-in, lockout, sessions, tokens, resets, masking, audit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use jiff::SignedDuration;
use tudi_access::accounts::{AccessError, Accounts, AuthConfig, NewUser, UserPatch, view};
use tudi_access::policy::Via;
use tudi_access::{Binding, Jurisdiction, Principal, Role};
use tudi_store::gpkg::GeoPackageStore;
use tudi_store::{AuditQuery, Change, Store};

fn binding(role: Role, scope: &str) -> Binding {
    Binding {
        role,
        scope: Jurisdiction::parse(scope).unwrap(),
        department: None,
    }
}

fn new_user(name: &str, role: Role, scope: &str) -> NewUser {
    NewUser {
        username: name.into(),
        display_name: Some("王小明".into()),
        password: "correct horse 42".into(),
        roles: vec![binding(role, scope)],
        phone: Some("13800138000".into()),
        id_number: Some("11010519491231002X".into()),
    }
}

fn c(action: &str) -> Change {
    Change::new("user:admin", action)
}

#[test]
fn sign_in_lockout_sessions_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let store = GeoPackageStore::create(&dir.path().join("s.gpkg")).unwrap();
    let config = AuthConfig {
        max_failures: 3,
        ..AuthConfig::for_tests()
    };
    let acc = Accounts::new(&store, &config);
    acc.create_user(
        &c("user.create"),
        new_user("wang", Role::TownReviewer, "440605011"),
    )
    .unwrap();
    assert!(matches!(
        acc.create_user(
            &c("user.create"),
            new_user("wang", Role::TownReviewer, "440605011")
        ),
        Err(AccessError::Conflict(_))
    ));

    let (token, session, _) = acc
        .login(&c("auth.login"), "wang", "correct horse 42")
        .unwrap();
    let who = acc.authenticate(&token, session.created_at).unwrap();
    assert_eq!(who.principal.user.as_deref(), Some("wang"));
    assert_eq!(who.csrf.as_deref(), Some(session.csrf.as_str()));
    assert!(matches!(
        acc.authenticate(&token, session.expires_at),
        Err(AccessError::Expired)
    ));
    assert!(matches!(
        acc.authenticate("tds_forged", session.created_at),
        Err(AccessError::InvalidToken)
    ));

    // Wrong passwords: the third locks the account, even the right password is then refused.
    for _ in 0..2 {
        assert!(matches!(
            acc.login(&c("auth.login"), "wang", "wrong password 1"),
            Err(AccessError::BadCredentials)
        ));
    }
    assert!(matches!(
        acc.login(&c("auth.login"), "wang", "wrong password 1"),
        Err(AccessError::Locked(_))
    ));
    assert!(matches!(
        acc.login(&c("auth.login"), "wang", "correct horse 42"),
        Err(AccessError::Locked(_))
    ));
    let later = Change::new("user:wang", "auth.login")
        .at(jiff::Timestamp::now() + SignedDuration::from_mins(16));
    acc.login(&later, "wang", "correct horse 42")
        .expect("the lock ends");
    assert!(matches!(
        acc.login(&c("auth.login"), "nobody", "whatever 123"),
        Err(AccessError::BadCredentials)
    ));

    // API tokens carry a subset of the account's roles and stop working when revoked.
    let (secret, info) = acc
        .issue_token(&c("token.issue"), "wang", "规划系统对接", vec![], Some(30))
        .unwrap();
    let by_token = acc.authenticate(&secret, info.created_at).unwrap();
    assert_eq!(by_token.principal.via, Via::Token(info.id.clone()));
    assert_eq!(by_token.principal.bindings.len(), 1);
    assert!(matches!(
        acc.issue_token(
            &c("token.issue"),
            "wang",
            "越权",
            vec![binding(Role::Admin, "440605")],
            None
        ),
        Err(AccessError::Invalid { field: "roles", .. })
    ));
    acc.revoke_token(&c("token.revoke"), &info.id).unwrap();
    assert!(matches!(
        acc.authenticate(&secret, info.created_at),
        Err(AccessError::Revoked)
    ));
    assert!(matches!(
        acc.revoke_token(&c("token.revoke"), &info.id),
        Err(AccessError::Conflict(_))
    ));

    // A reset ends every session and asks for a new password; disabling stops sign-in.
    acc.reset_password(&c("user.reset_password"), "wang", "temporary pass 9")
        .unwrap();
    assert!(matches!(
        acc.authenticate(&token, session.created_at),
        Err(AccessError::InvalidToken)
    ));
    let (t2, s2, u) = acc
        .login(&c("auth.login"), "wang", "temporary pass 9")
        .unwrap();
    assert!(u.must_change_password);
    acc.change_password(
        &c("user.change_password"),
        "wang",
        "temporary pass 9",
        "my own pass 77",
        Some(&t2),
    )
    .unwrap();
    assert!(
        !acc.authenticate(&t2, s2.created_at)
            .unwrap()
            .must_change_password
    );
    let (_, v) = acc.user("wang").unwrap().unwrap();
    acc.update_user(
        &c("user.update"),
        "wang",
        UserPatch {
            disabled: Some(true),
            version: Some(v),
            ..UserPatch::default()
        },
    )
    .unwrap();
    assert!(matches!(
        acc.authenticate(&t2, s2.created_at),
        Err(AccessError::Disabled)
    ));
    assert!(
        matches!(
            acc.update_user(
                &c("user.update"),
                "wang",
                UserPatch {
                    disabled: Some(false),
                    version: Some(v),
                    ..UserPatch::default()
                }
            ),
            Err(AccessError::Conflict(_))
        ),
        "a stale version is refused"
    );

    // Every step is in the audit chain, including refusals; no password or token appears.
    let trail = store
        .audit_trail(&AuditQuery {
            resource: Some("user:wang".into()),
            ..AuditQuery::default()
        })
        .unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"auth.login_failed") && actions.contains(&"user.create"),
        "{actions:?}"
    );
    assert!(
        store
            .audit_trail(&AuditQuery::default())
            .unwrap()
            .iter()
            .all(|e| {
                let text = format!("{e:?}");
                !text.contains("correct horse") && !text.contains(&secret) && !text.contains(&token)
            })
    );
    assert!(store.verify_audit().unwrap().is_intact());
}

#[test]
fn bad_input_is_refused_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = GeoPackageStore::create(&dir.path().join("s.gpkg")).unwrap();
    let config = AuthConfig::for_tests();
    let acc = Accounts::new(&store, &config);
    let field = |u: NewUser| match acc.create_user(&c("user.create"), u) {
        Err(AccessError::Invalid { field, msg }) => {
            assert!(!msg.zh.is_empty());
            field
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        field(NewUser {
            username: "W".into(),
            ..new_user("x", Role::Admin, "440605")
        }),
        "username"
    );
    assert_eq!(
        field(NewUser {
            password: "short".into(),
            ..new_user("abc", Role::Admin, "440605")
        }),
        "password"
    );
    assert_eq!(
        field(NewUser {
            password: "onlyletterslong".into(),
            ..new_user("abc", Role::Admin, "440605")
        }),
        "password"
    );
    assert_eq!(
        field(new_user("abc", Role::VillageClerk, "440605011")),
        "roles"
    );
    assert_eq!(
        field(new_user("abc", Role::DepartmentHandler, "440605")),
        "roles"
    );
    assert_eq!(
        field(NewUser {
            id_number: Some("110105194912310021".into()),
            ..new_user("abc", Role::Admin, "440605")
        }),
        "id_number"
    );
    assert_eq!(
        field(NewUser {
            phone: Some("12345".into()),
            ..new_user("abc", Role::Admin, "440605")
        }),
        "phone"
    );
    assert_eq!(
        store.audit_trail(&AuditQuery::default()).unwrap().len(),
        0,
        "nothing was written"
    );
}

#[test]
fn personal_data_is_masked_unless_the_viewer_may_see_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = GeoPackageStore::create(&dir.path().join("s.gpkg")).unwrap();
    let config = AuthConfig::for_tests();
    let acc = Accounts::new(&store, &config);
    let user = acc
        .create_user(
            &c("user.create"),
            new_user("clerk", Role::VillageClerk, "440605011001"),
        )
        .unwrap();
    let as_role = |role, scope: &str| Principal {
        user: Some("someone".into()),
        bindings: vec![binding(role, scope)],
        via: Via::Session,
    };
    let admin = view(&user, 1, &as_role(Role::Admin, "440605"));
    assert_eq!(admin.id_number.as_deref(), Some("110105********002X"));
    assert_eq!(admin.phone.as_deref(), Some("138****8000"));
    let reviewer = view(&user, 1, &as_role(Role::TownReviewer, "440605011"));
    assert_eq!(reviewer.id_number.as_deref(), Some("11010519491231002X"));
    let sibling = view(&user, 1, &as_role(Role::TownReviewer, "440605012"));
    assert_eq!(sibling.id_number.as_deref(), Some("110105********002X"));
    let own = view(
        &user,
        1,
        &Principal {
            user: Some("clerk".into()),
            ..as_role(Role::VillageClerk, "440605011001")
        },
    );
    assert_eq!(own.phone.as_deref(), Some("13800138000"));
    assert_eq!(
        format!("{user:?}"),
        "User(clerk)",
        "debug output carries no personal data"
    );
}
