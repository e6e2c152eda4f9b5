//! Query parameters: the `Params` extractor reads the query string into a typed struct and, when
//! a parameter is missing or malformed (`limit=abc`, `offset=-1`, a number too large for its
//! type, an unknown value), answers 400 problem+json naming the parameter — never axum's plain
//! text — so every route's parameters are checked the same way.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// A query string read into `T`; see the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Params<T>(pub T);

impl<T, S> FromRequestParts<S> for Params<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parse(parts.uri.query().unwrap_or_default()).map(Params)
    }
}

/// Reads a query string into `T`.
///
/// # Errors
/// A 400 problem naming the parameter at fault.
pub fn parse<T: DeserializeOwned>(query: &str) -> Result<T, Problem> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let name = if path.is_empty() || path == "." {
            // A missing field names itself in the message: "missing field `from`".
            inner
                .split('`')
                .nth(1)
                .map_or_else(|| "query".to_owned(), str::to_owned)
        } else {
            path
        };
        let mut p = Problem::bad_parameter(&name, explain(&inner), inner.clone());
        p.field = Some(name.into());
        p
    })
}

/// The Chinese for serde's messages about query values.
fn explain(message: &str) -> String {
    if message.starts_with("missing field") {
        "缺少此参数".to_owned()
    } else if message.contains("invalid digit")
        || message.contains("number too large")
        || message.contains("number too small")
        || message.contains("cannot parse integer")
        || message.contains("invalid type")
    {
        format!("应为范围内的非负整数（{message}）")
    } else if message.contains("invalid float") {
        format!("应为数字（{message}）")
    } else if let Some(rest) = message.strip_prefix("unknown variant") {
        format!("取值无效{rest}")
    } else if message.contains("provided string was not `true` or `false`") {
        "应为 true 或 false".to_owned()
    } else {
        format!("格式无效（{message}）")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Page {
        #[allow(dead_code)]
        limit: Option<u64>,
        #[allow(dead_code)]
        offset: Option<u64>,
        #[allow(dead_code)]
        from: Option<jiff::civil::Date>,
        #[allow(dead_code)]
        todo: Option<bool>,
    }

    #[test]
    fn each_bad_parameter_is_named() {
        for (q, name) in [
            ("limit=abc", "limit"),
            ("offset=-1", "offset"),
            ("offset=99999999999999999999999", "offset"),
            ("from=2026-13-01", "from"),
            ("todo=yes", "todo"),
        ] {
            let p = parse::<Page>(q).unwrap_err();
            assert_eq!(p.status, axum::http::StatusCode::BAD_REQUEST, "{q}");
            assert_eq!(p.field.as_deref(), Some(name), "{q}: {p:?}");
            assert!(p.detail.contains(name), "{q}: {}", p.detail);
        }
        assert!(parse::<Page>("limit=5&offset=9223372036854775808").is_ok());
    }

    #[test]
    fn a_missing_parameter_is_named() {
        #[derive(Debug, serde::Deserialize)]
        struct Needs {
            #[allow(dead_code)]
            from: String,
        }
        let p = parse::<Needs>("").unwrap_err();
        assert_eq!(p.field.as_deref(), Some("from"));
        assert!(p.detail.contains("缺少此参数"));
    }
}
