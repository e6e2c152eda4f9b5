//! RFC 9457 problem details: a stable `type`, a Chinese `title` and `detail`, English beside them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::Serialize;

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

    /// 503 when the database cannot be reached or failed mid-way (a restart, a failover, a
    /// dropped connection): the request may be tried again; a change is never half saved.
    #[must_use]
    pub fn store_unavailable(doing: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store-unavailable",
            "数据库暂时不可用",
            "数据库暂时无法访问，请稍后重试；未完成的更改不会部分保存（提交时中断的，请先查询是否已保存）",
            format!(
                "the database could not be reached while {doing}; try again shortly. A change is \
                 never half saved (if it was interrupted while committing, check whether it was)"
            ),
        )
    }

    /// The answer to a store failure that is not the caller's fault: 503 when the database is
    /// away (it may be back soon), 507 when its storage is full, else 500.
    #[must_use]
    pub fn from_store(e: &tudi_store::StoreError) -> Self {
        tracing::error!(error = %e, "store failed");
        match e {
            tudi_store::StoreError::Unavailable { doing, .. } => Self::store_unavailable(doing),
            tudi_store::StoreError::StorageFull { .. } => Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "storage-full",
                "服务器存储空间已满",
                "服务器磁盘已满，本次更改未保存；请联系系统管理员清理空间后重试",
                "the server's disk is full and this change was not saved; ask the administrator                  to free space, then try again",
            ),
            _ => Self::internal(),
        }
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

/// The body of an error answer (RFC 9457 problem+json, with the English detail beside the
/// Chinese).
#[derive(Serialize, JsonSchema)]
pub(crate) struct ProblemBody {
    /// `https://tudi.dev/problems/<slug>`.
    #[serde(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    detail: String,
    detail_en: String,
    /// 出错的输入项 / the input fields at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<Vec<FieldError>>,
}

/// An input field at fault.
#[derive(Serialize, JsonSchema)]
pub(crate) struct FieldError {
    field: String,
    detail: String,
    detail_en: String,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let errors = self.field.as_ref().map(|field| {
            vec![FieldError {
                field: field.to_string(),
                detail: self.detail.clone(),
                detail_en: self.detail_en.clone(),
            }]
        });
        let body = ProblemBody {
            kind: format!("https://tudi.dev/problems/{}", self.slug),
            title: self.title,
            status: self.status.as_u16(),
            detail: self.detail,
            detail_en: self.detail_en,
            errors,
        };
        let text = serde_json::to_string(&body).unwrap_or_default();
        let mut res = (self.status, text).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        res
    }
}

/// The kind of a plain error response by its status: slug, Chinese title and detail.
fn kind_of(status: StatusCode) -> (&'static str, &'static str, &'static str) {
    match status.as_u16() {
        400 => (
            "invalid-request",
            "请求无效",
            "请求格式无效，请检查参数和请求内容",
        ),
        401 => ("unauthenticated", "未登录", "请先登录"),
        403 => ("forbidden", "无权操作", "无权执行此操作"),
        404 => ("not-found", "未找到", "没有这个地址"),
        405 => (
            "method-not-allowed",
            "不支持该请求方法",
            "该地址不支持此请求方法",
        ),
        408 => ("request-timeout", "请求超时", "请求发送过慢，已超时"),
        413 => (
            "payload-too-large",
            "请求内容过大",
            "请求内容超过了允许的大小",
        ),
        415 => (
            "unsupported-media-type",
            "不支持的内容类型",
            "请求内容的类型（Content-Type）不受支持",
        ),
        422 => ("unprocessable", "请求内容无法处理", "请求内容无法处理"),
        429 => (
            "too-many-requests",
            "请求过于频繁",
            "请求过于频繁，请稍后再试",
        ),
        s if s >= 500 => (
            "internal",
            "服务器内部错误",
            "服务器处理请求时出错，请稍后再试",
        ),
        _ => ("error", "请求失败", "请求失败"),
    }
}

/// Makes every error an RFC 9457 problem: an error response that is not already one (axum's
/// plain-text rejections, an empty 404 for an unknown path, a body cut at the size limit) gets
/// a problem body with its status kept and its text as the English detail. Answers meant for
/// other clients (JSON, Open311's XML, HTML pages) are left as they are.
pub async fn as_problem(res: Response) -> Response {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let ctype = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if ctype.contains("json") || ctype.contains("xml") || ctype.starts_with("text/html") {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 16 << 10)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let (slug, title, zh) = kind_of(status);
    let en = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let mut out = Problem::new(status, slug, title, zh, en).into_response();
    // Keep what tells the client how to go on (`Allow`, `Retry-After`, the request id).
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    out
}

/// Turns a panic in a handler into a 500 problem (the panic itself is logged by the layer).
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    Problem::internal().into_response()
}
