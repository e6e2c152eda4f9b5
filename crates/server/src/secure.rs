//! Headers that tell browsers what this server's answers may do: pages run only the console's
//! own scripts (no inline script, nothing from elsewhere), cannot be framed, do not leak their
//! address (a verification page's carries its proof) to other sites, and no answer is
//! content-sniffed into something else; and, over HTTPS, that the site is to be reached over
//! HTTPS only (HSTS).

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The policy of HTML pages. MapLibre GL draws in web workers made from `blob:` URLs and
/// loads its images as `data:`/`blob:`; everything else comes from this server.
pub const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; worker-src 'self' blob:; child-src blob:; connect-src 'self'; \
     font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// The policy of everything else (JSON, tiles, files, style sheets): nothing runs in it,
/// nothing frames it.
pub const DATA_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";

/// Adds the headers to every response.
pub async fn headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    // Scripts carry the page's policy too: a worker (MapLibre's draws the map) runs under the
    // policy of the script it is loaded from, and must reach this server for tiles.
    let page = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html") || t.starts_with("text/javascript"));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(if page { PAGE_POLICY } else { DATA_POLICY }),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    res
}

/// How long browsers keep to HTTPS after an answer with HSTS: a year, as the HSTS preload
/// lists ask.
const HSTS: &str = "max-age=31536000";

/// Adds HSTS to answers sent over HTTPS: served with TLS directly, or through a trusted proxy
/// (`--trusted-proxy`) that says the client came over HTTPS (`X-Forwarded-Proto: https`). A
/// client cannot claim HTTPS by sending the header itself.
pub async fn transport(State(st): State<crate::AppState>, req: Request, next: Next) -> Response {
    let https = st.tls.is_some() || {
        let peer = req
            .extensions()
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        peer.is_some_and(|p| st.trusted_proxies.contains(&p))
            && req
                .headers()
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
    };
    let mut res = next.run(req).await;
    if https {
        res.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    res
}
