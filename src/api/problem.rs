//! `application/problem+json` (RFC 9457) errors. Client mistakes are 4xx with the JSON path of
//! every violation; only the cluster or we can cause a 5xx.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::render::RenderError;
use crate::runtime::Error;
use crate::schema::Violation;

#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        slug: &str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            type_: format!("https://mcp-runtime.dev/problems/{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            violations: Vec::new(),
        }
    }

    pub fn not_found(what: &str) -> Problem {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            format!("{what} not found"),
        )
    }

    pub fn bad_json(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-json",
            "The body is not valid JSON",
            detail,
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        resp
    }
}

impl From<RenderError> for Problem {
    fn from(e: RenderError) -> Problem {
        let mut p = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "The server document is invalid",
            e.to_string(),
        );
        if let RenderError::Invalid(v) = e {
            p.detail = format!(
                "{} violation(s) of {}",
                v.violations.len(),
                v.schema.file_name()
            );
            p.violations = v.violations;
        }
        p
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Problem {
        match e {
            Error::Render { source, .. } => source.into(),
            Error::NotFound(what) => Problem::not_found(&format!("server {what}")),
            Error::AlreadyExists(name) => Problem::new(
                StatusCode::CONFLICT,
                "exists",
                "Already exists",
                format!("server {name} already exists"),
            ),
            Error::Conflict { name, message } => Problem::new(
                StatusCode::CONFLICT,
                "conflict",
                "Conflict",
                format!(
                    "server {name} changed meanwhile (send the current resourceVersion): {message}"
                ),
            ),
            Error::Kube(kube::Error::Api(s))
                if (400..500).contains(&s.code) && s.code != 401 && s.code != 403 =>
            {
                Problem::new(
                    StatusCode::from_u16(s.code).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
                    "rejected",
                    "Rejected by the Kubernetes API server",
                    s.message,
                )
            }
            Error::Serialization(e) => {
                tracing::error!(error = %e, "could not serialize a value");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    "a value could not be serialized (logged)",
                )
            }
            other => {
                tracing::error!(error = %other, "request failed on the cluster side");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "The cluster could not be reached",
                    other.reason(),
                )
            }
        }
    }
}
