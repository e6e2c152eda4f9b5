//! Every route and the access rule it runs under. The guard middleware refuses any route missing
//! here, and the tests check that this table and the router list the same routes, so no route
//! can be added without a decision on who may call it.

use tudi_access::Action;

/// How a route is guarded before its handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Anyone (pages, OGC metadata, sign-in).
    Public,
    /// Anyone signed in (their own account).
    SignedIn,
    /// The policy decides on the action alone (no particular resource).
    Action(Action),
    /// The handler decides, on the resource it loads (an account, an audit trail); the guard
    /// only turns away anonymous callers of actions that are never public.
    InHandler(Action),
    /// Reading the layer named by the `{id}` path parameter (public layers: anyone).
    Layer,
}

/// One route.
#[derive(Debug, Clone, Copy)]
pub struct RouteSpec {
    /// HTTP method.
    pub method: &'static str,
    /// Path pattern, as registered with the router.
    pub path: &'static str,
    /// Its guard.
    pub guard: Guard,
}

const fn r(method: &'static str, path: &'static str, guard: Guard) -> RouteSpec {
    RouteSpec {
        method,
        path,
        guard,
    }
}

/// The table.
pub const ROUTES: &[RouteSpec] = &[
    // The console's pages and assets.
    r("GET", "/", Guard::Public),
    r("GET", "/console", Guard::Public),
    r("GET", "/console/app.js", Guard::Public),
    r("GET", "/console/admin.js", Guard::Public),
    r("GET", "/console/orders", Guard::Public),
    r("GET", "/console/orders.js", Guard::Public),
    r("GET", "/console/homestead", Guard::Public),
    r("GET", "/console/homestead.js", Guard::Public),
    r("GET", "/console/survey", Guard::Public),
    r("GET", "/console/survey.js", Guard::Public),
    r("GET", "/console/farmland", Guard::Public),
    r("GET", "/console/farmland.js", Guard::Public),
    r("GET", "/console/style.css", Guard::Public),
    r("GET", "/console/verify.css", Guard::Public),
    r("GET", "/console/vendor/maplibre-gl/{file}", Guard::Public),
    // OGC API: metadata is public; collections and their content follow the layer's setting.
    // Liveness and readiness (no data in them).
    r("GET", "/healthz", Guard::Public),
    r("GET", "/readyz", Guard::Public),
    // Not signed in (Prometheus does not sign in): the operator's address list or token decides
    // (`metrics::MetricsAccess`).
    r("GET", "/metrics", Guard::Public),
    r("GET", "/ogc", Guard::Public),
    r("GET", "/ogc/", Guard::Public),
    r("GET", "/ogc/conformance", Guard::Public),
    r("GET", "/ogc/api", Guard::Public),
    r("GET", "/ogc/tileMatrixSets", Guard::Public),
    r("GET", "/ogc/tileMatrixSets/WebMercatorQuad", Guard::Public),
    r("GET", "/ogc/collections", Guard::InHandler(Action::MapRead)),
    r("GET", "/ogc/collections/{id}", Guard::Layer),
    r("GET", "/ogc/collections/{id}/items", Guard::Layer),
    r("GET", "/ogc/collections/{id}/items/{fid}", Guard::Layer),
    r("GET", "/ogc/collections/{id}/tiles", Guard::Layer),
    r(
        "GET",
        "/ogc/collections/{id}/tiles/WebMercatorQuad",
        Guard::Layer,
    ),
    r(
        "GET",
        "/ogc/collections/{id}/tiles/WebMercatorQuad/{z}/{y}/{x}",
        Guard::Layer,
    ),
    // One-map services.
    r(
        "POST",
        "/api/v1/compliance",
        Guard::Action(Action::MapAnalyse),
    ),
    r("GET", "/api/v1/compliance/rule-sets", Guard::Public),
    r("GET", "/api/v1/search", Guard::InHandler(Action::MapRead)),
    r(
        "GET",
        "/api/v1/status",
        Guard::Action(Action::ServiceStatus),
    ),
    // Staff only, even for a public layer (the records name who imported); the handler hides
    // layers the caller may not read.
    r(
        "GET",
        "/api/v1/layers/{id}/checks",
        Guard::Action(Action::MapRead),
    ),
    r(
        "PUT",
        "/api/v1/layers/{id}/access",
        Guard::InHandler(Action::LayerConfigure),
    ),
    // Sign-in and one's own account.
    r("POST", "/api/v1/auth/login", Guard::Public),
    r("POST", "/api/v1/auth/logout", Guard::SignedIn),
    r("GET", "/api/v1/auth/me", Guard::SignedIn),
    r("POST", "/api/v1/auth/password", Guard::SignedIn),
    r("GET", "/api/v1/roles", Guard::Public),
    r("GET", "/api/v1/openapi.json", Guard::Public),
    r("GET", "/api/v1/tokens", Guard::SignedIn),
    r("POST", "/api/v1/tokens", Guard::Action(Action::TokenIssue)),
    r("DELETE", "/api/v1/tokens/{id}", Guard::SignedIn),
    // The work-order centre: categories are public; the handlers decide on the order (its grid
    // cell, or the unit it was sent to) and on the duty a step needs.
    r("GET", "/api/v1/orders/categories", Guard::Public),
    // Homesteads: the handlers decide on the application's village; a step's duty decides who
    // signs it. Certificates verify publicly (the QR code's page and its JSON).
    r(
        "GET",
        "/api/v1/homestead/applications",
        Guard::InHandler(Action::HomesteadRead),
    ),
    r(
        "POST",
        "/api/v1/homestead/applications",
        Guard::InHandler(Action::HomesteadApply),
    ),
    r(
        "GET",
        "/api/v1/homestead/applications/{id}",
        Guard::InHandler(Action::HomesteadRead),
    ),
    r(
        "POST",
        "/api/v1/homestead/applications/{id}/actions",
        Guard::InHandler(Action::HomesteadReview),
    ),
    r(
        "POST",
        "/api/v1/homestead/applications/{id}/documents",
        Guard::InHandler(Action::HomesteadReview),
    ),
    r(
        "GET",
        "/api/v1/homestead/applications/{id}/documents/{sha256}",
        Guard::InHandler(Action::HomesteadRead),
    ),
    r(
        "GET",
        "/api/v1/homestead/collectives/{village}",
        Guard::InHandler(Action::HomesteadConfigure),
    ),
    r(
        "PUT",
        "/api/v1/homestead/collectives/{village}",
        Guard::InHandler(Action::HomesteadConfigure),
    ),
    r(
        "GET",
        "/api/v1/homestead/events",
        Guard::InHandler(Action::HomesteadRead),
    ),
    r(
        "POST",
        "/api/v1/homestead/events",
        Guard::InHandler(Action::HomesteadApply),
    ),
    r(
        "GET",
        "/api/v1/homestead/events/{id}",
        Guard::InHandler(Action::HomesteadRead),
    ),
    r(
        "POST",
        "/api/v1/homestead/events/{id}/actions",
        Guard::InHandler(Action::HomesteadReview),
    ),
    r(
        "GET",
        "/api/v1/homestead/rights/{code}",
        Guard::InHandler(Action::HomesteadRead),
    ),
    r(
        "GET",
        "/api/v1/homestead/ledger",
        Guard::InHandler(Action::HomesteadRead),
    ),
    r(
        "GET",
        "/api/v1/homestead/stats",
        Guard::InHandler(Action::HomesteadRead),
    ),
    r(
        "GET",
        "/api/v1/certificates",
        Guard::InHandler(Action::HomesteadRead),
    ),
    r(
        "GET",
        "/api/v1/certificates/{id}",
        Guard::InHandler(Action::HomesteadRead),
    ),
    r("GET", "/api/v1/certificates/{id}/verify", Guard::Public),
    r(
        "GET",
        "/api/v1/certificates/{id}/pdf",
        Guard::InHandler(Action::HomesteadRead),
    ),
    r(
        "POST",
        "/api/v1/certificates/{id}/revoke",
        Guard::InHandler(Action::CertificateRevoke),
    ),
    r("GET", "/verify/{id}", Guard::Public),
    r("GET", "/api/v1/calendar/holidays", Guard::Public),
    r(
        "PUT",
        "/api/v1/calendar/holidays",
        Guard::InHandler(Action::OrderConfigure),
    ),
    r(
        "PUT",
        "/api/v1/orders/categories",
        Guard::InHandler(Action::OrderConfigure),
    ),
    r("GET", "/api/v1/orders", Guard::InHandler(Action::OrderRead)),
    r(
        "POST",
        "/api/v1/orders",
        Guard::InHandler(Action::OrderIntake),
    ),
    r(
        "POST",
        "/api/v1/orders/duplicates",
        Guard::InHandler(Action::OrderIntake),
    ),
    r(
        "GET",
        "/api/v1/orders/stats",
        Guard::InHandler(Action::OrderRead),
    ),
    r(
        "POST",
        "/api/v1/orders/supervise",
        Guard::InHandler(Action::OrderSupervise),
    ),
    r(
        "GET",
        "/api/v1/orders/responsibilities",
        Guard::InHandler(Action::OrderRead),
    ),
    r(
        "PUT",
        "/api/v1/orders/responsibilities",
        Guard::InHandler(Action::OrderConfigure),
    ),
    r(
        "GET",
        "/api/v1/orders/roster",
        Guard::InHandler(Action::OrderRead),
    ),
    r(
        "PUT",
        "/api/v1/orders/roster",
        Guard::InHandler(Action::OrderConfigure),
    ),
    r(
        "GET",
        "/api/v1/orders/{number}",
        Guard::InHandler(Action::OrderRead),
    ),
    r(
        "POST",
        "/api/v1/orders/{number}/steps",
        Guard::InHandler(Action::OrderRead),
    ),
    r(
        "POST",
        "/api/v1/orders/{number}/attachments",
        Guard::InHandler(Action::OrderHandle),
    ),
    r(
        "GET",
        "/api/v1/orders/{number}/attachments/{sha256}",
        Guard::InHandler(Action::OrderRead),
    ),
    // Open311 GeoReport v2: public reads of the public fields; creating a request needs an
    // API key (an API token) or a signed-in caller allowed to take orders in (checked in the
    // handler, as the key comes in the form).
    r("GET", "/open311/v2/discovery.json", Guard::Public),
    r("GET", "/open311/v2/discovery.xml", Guard::Public),
    r("GET", "/open311/v2/services.json", Guard::Public),
    r("GET", "/open311/v2/services.xml", Guard::Public),
    r("GET", "/open311/v2/services/{file}", Guard::Public),
    r("GET", "/open311/v2/requests.json", Guard::Public),
    r("GET", "/open311/v2/requests.xml", Guard::Public),
    r("POST", "/open311/v2/requests.json", Guard::Public),
    r("POST", "/open311/v2/requests.xml", Guard::Public),
    r("GET", "/open311/v2/requests/{file}", Guard::Public),
    r("GET", "/open311/v2/tokens/{file}", Guard::Public),
    // Account administration.
    r("GET", "/api/v1/users", Guard::InHandler(Action::UserList)),
    r(
        "POST",
        "/api/v1/users",
        Guard::InHandler(Action::UserCreate),
    ),
    r(
        "GET",
        "/api/v1/users/{name}",
        Guard::InHandler(Action::UserRead),
    ),
    r(
        "PATCH",
        "/api/v1/users/{name}",
        Guard::InHandler(Action::UserUpdate),
    ),
    r(
        "POST",
        "/api/v1/users/{name}/password",
        Guard::InHandler(Action::UserResetPassword),
    ),
    // Survey projects and submissions (综合测绘, 成果质检): the bureau reads and decides, a
    // firm reads and submits to its own projects (decided in the handler, on the project).
    r(
        "GET",
        "/api/v1/survey/projects",
        Guard::InHandler(Action::SurveyRead),
    ),
    r(
        "POST",
        "/api/v1/survey/projects",
        Guard::InHandler(Action::SurveyManage),
    ),
    r(
        "GET",
        "/api/v1/survey/projects/{id}",
        Guard::InHandler(Action::SurveyRead),
    ),
    r(
        "POST",
        "/api/v1/survey/projects/{id}/submissions",
        Guard::InHandler(Action::SurveySubmit),
    ),
    r(
        "GET",
        "/api/v1/survey/submissions/{id}",
        Guard::InHandler(Action::SurveyRead),
    ),
    r(
        "GET",
        "/api/v1/survey/submissions/{id}/files/{file}",
        Guard::InHandler(Action::SurveyRead),
    ),
    r(
        "POST",
        "/api/v1/survey/submissions/{id}/actions",
        Guard::InHandler(Action::SurveyManage),
    ),
    r(
        "GET",
        "/api/v1/survey/firms",
        Guard::InHandler(Action::SurveyRead),
    ),
    // The farmland quota ledger (耕地占补平衡): the district's staff read it; the approver and
    // the departments post.
    r(
        "GET",
        "/api/v1/farmland/balances",
        Guard::InHandler(Action::FarmlandRead),
    ),
    r(
        "GET",
        "/api/v1/farmland/journal",
        Guard::InHandler(Action::FarmlandRead),
    ),
    r(
        "POST",
        "/api/v1/farmland/postings",
        Guard::InHandler(Action::FarmlandPost),
    ),
    r(
        "GET",
        "/api/v1/farmland/postings/{no}",
        Guard::InHandler(Action::FarmlandRead),
    ),
    r(
        "POST",
        "/api/v1/farmland/postings/{no}/reversal",
        Guard::InHandler(Action::FarmlandPost),
    ),
    r(
        "GET",
        "/api/v1/farmland/projects",
        Guard::InHandler(Action::FarmlandRead),
    ),
    r(
        "POST",
        "/api/v1/farmland/projects",
        Guard::InHandler(Action::FarmlandPost),
    ),
    r(
        "GET",
        "/api/v1/farmland/projects/{id}",
        Guard::InHandler(Action::FarmlandRead),
    ),
    r(
        "POST",
        "/api/v1/farmland/projects/{id}/acceptance",
        Guard::InHandler(Action::FarmlandPost),
    ),
    r(
        "GET",
        "/api/v1/farmland/inout",
        Guard::InHandler(Action::FarmlandRead),
    ),
    r(
        "PUT",
        "/api/v1/farmland/inout/plan",
        Guard::InHandler(Action::FarmlandPost),
    ),
    r(
        "GET",
        "/api/v1/farmland/chiefs",
        Guard::InHandler(Action::FarmlandRead),
    ),
    r(
        "POST",
        "/api/v1/farmland/chiefs",
        Guard::InHandler(Action::FarmlandPost),
    ),
    r(
        "GET",
        "/api/v1/farmland/chiefs/{id}",
        Guard::InHandler(Action::FarmlandRead),
    ),
    r(
        "PUT",
        "/api/v1/farmland/chiefs/{id}/pledge",
        Guard::InHandler(Action::FarmlandPost),
    ),
    r(
        "GET",
        "/api/v1/farmland/patrols",
        Guard::InHandler(Action::FarmlandRead),
    ),
    r(
        "POST",
        "/api/v1/farmland/patrols",
        Guard::InHandler(Action::FarmlandPatrol),
    ),
    r(
        "GET",
        "/api/v1/farmland/patrols/report",
        Guard::InHandler(Action::FarmlandRead),
    ),
    r(
        "PUT",
        "/api/v1/farmland/patrol-rule",
        Guard::InHandler(Action::FarmlandPost),
    ),
    r(
        "GET",
        "/api/v1/farmland/compensation",
        Guard::InHandler(Action::FarmlandRead),
    ),
    r(
        "PUT",
        "/api/v1/farmland/compensation/rates",
        Guard::InHandler(Action::FarmlandPost),
    ),
    // The audit log.
    r("GET", "/api/v1/audit", Guard::InHandler(Action::AuditRead)),
    r(
        "GET",
        "/api/v1/audit/verify",
        Guard::InHandler(Action::AuditVerify),
    ),
];
