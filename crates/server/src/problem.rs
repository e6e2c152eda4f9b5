//! RFC 9457 problem details: a stable `type`, a Chinese `title` and `detail`, English beside them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error response.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable slug, the last part of the `type` URI.
    pub slug: &'static str,
    /// Chinese title.
    pub title: String,
    /// Chinese detail.
    pub detail: String,
    /// English detail.
    pub detail_en: String,
    /// The input field at fault, when one is.
    pub field: Option<std::borrow::Cow<'static, str>>,
}

impl Problem {
    /// A problem of a status and kind with its Chinese and English details.
    #[must_use]
    pub fn new(
        status: StatusCode,
        slug: &'static str,
        title: &str,
        detail: impl Into<String>,
        detail_en: impl Into<String>,
    ) -> Self {
        Self {
            status,
            slug,
            title: title.to_owned(),
            detail: detail.into(),
            detail_en: detail_en.into(),
            field: None,
        }
    }

    /// 400 with a parameter at fault.
    #[must_use]
    pub fn bad_parameter(name: &str, zh: impl Into<String>, en: impl Into<String>) -> Self {
        let (zh, en) = (zh.into(), en.into());
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-parameter",
            "请求参数无效",
            format!("参数 {name}：{zh}"),
            format!("parameter {name}: {en}"),
        )
    }

    /// 404.
    #[must_use]
    pub fn not_found(zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "未找到", zh, en)
    }

    /// 500 without internals.
    #[must_use]
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "服务器内部错误",
            "服务器处理请求时出错，请稍后再试",
            "the server failed to handle the request",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": format!("https://tudi.dev/problems/{}", self.slug),
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
            "detail_en": self.detail_en,
        });
        if let Some(field) = &self.field {
            body["errors"] =
                json!([{"field": field, "detail": self.detail, "detail_en": self.detail_en}]);
        }
        let mut res = (self.status, body.to_string()).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        res
    }
}

/// Turns a panic in a handler into a 500 problem (the panic itself is logged by the layer).
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    Problem::internal().into_response()
}
