//! The HTTP routes: Immuta's API (authenticated, counted, subject to faults) and the control API
//! under `/_sim` (for tests, the demo and people).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::{FaultKind, Faults, Oversized};
use crate::webhooks::{Shape, WebhookTarget};
use crate::{Shared, actions::Action, answers};

type S = State<Arc<Shared>>;

/// The routes, with the view SQL served at `view_sql_route` (see `DEFAULT_VIEW_SQL_PATH`).
pub fn router(shared: Arc<Shared>, view_sql_route: &str) -> Router {
    let api = Router::new()
        .route("/dataSource/{id}", get(data_source))
        .route("/project", get(search_projects))
        .route("/projects", get(search_projects))
        .route("/project/{id}", get(project))
        .route("/project/{id}/dataSources", get(project_data_sources))
        .route("/project/{id}/datasources", get(project_data_sources))
        .route(
            "/project/{id}/checkEqualizationState",
            get(equalization_state),
        )
        .route(view_sql_route, get(view_sql))
        .route("/webhooks", get(list_webhooks).post(create_webhooks))
        .route("/webhooks/{id}", axum::routing::delete(delete_webhook))
        .route("/webhooks/actions", get(webhook_actions))
        .route("/webhooks/history", get(webhook_history))
        .route("/webhooks/history/retry/{id}", post(retry_delivery))
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            authenticate_request,
        ))
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            count_and_inject_faults,
        ));
    let control = Router::new()
        .route("/_sim/actions", post(act))
        .route("/_sim/counters", get(counters).delete(reset_counters))
        .route("/_sim/faults", get(get_faults).put(put_faults))
        .route("/_sim/expected-views", get(expected_views))
        .route("/_sim/tenant", get(get_tenant).put(put_tenant))
        .route("/_sim/webhooks", post(add_webhook));
    Router::new()
        .route("/bim/apikey/authenticate", post(issue_token))
        .merge(api)
        .merge(control)
        .with_state(shared)
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({"statusCode": status.as_u16(), "error": status.canonical_reason(), "message": message});
    (status, Json(body)).into_response()
}

async fn count_and_inject_faults(
    State(shared): S,
    path: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let route = format!(
        "{} {}",
        request.method(),
        path.as_ref().map_or(request.uri().path(), |p| p.as_str())
    );
    *shared
        .counters
        .lock()
        .unwrap()
        .entry(route.clone())
        .or_default() += 1;
    let number = shared.request_number.fetch_add(1, Ordering::Relaxed);
    let (latency, fault, retry_after, hang) = {
        let mut faults = shared.faults.lock().unwrap();
        let retry_after = if faults.retry_after_date {
            httpdate::fmt_http_date(
                std::time::SystemTime::now() + Duration::from_secs(faults.retry_after_secs),
            )
        } else {
            faults.retry_after_secs.to_string()
        };
        (
            faults.latency_ms,
            faults.draw(number),
            retry_after,
            faults.hang_ms,
        )
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    match fault {
        None => {
            let answer = next.run(request).await;
            shared.holds.pass(&route).await;
            answer
        }
        Some(FaultKind::TooManyRequests) => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate limit exceeded (simulated)",
            );
            if let Ok(value) = header::HeaderValue::from_str(&retry_after) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Some(FaultKind::ServerError) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "service unavailable (simulated)",
        ),
        Some(FaultKind::Hang) => {
            tokio::time::sleep(Duration::from_millis(hang)).await;
            error(StatusCode::GATEWAY_TIMEOUT, "hung (simulated)")
        }
    }
}

async fn authenticate_request(
    State(shared): S,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let ok = presented == shared.api_key
        || presented
            .strip_prefix("Bearer ")
            .is_some_and(|token| shared.tokens.lock().unwrap().contains(token));
    if ok {
        next.run(request).await
    } else {
        error(StatusCode::UNAUTHORIZED, "invalid API key or token")
    }
}

async fn issue_token(State(shared): S, Json(body): Json<Value>) -> Response {
    if body["apikey"].as_str() != Some(shared.api_key.as_str()) {
        return error(StatusCode::UNAUTHORIZED, "invalid API key");
    }
    let token = format!(
        "token-{}",
        shared.request_number.fetch_add(1, Ordering::Relaxed)
    );
    shared.tokens.lock().unwrap().insert(token.clone());
    Json(json!({"authenticated": true, "token": token})).into_response()
}

fn id(text: &str) -> Option<u64> {
    text.parse().ok()
}

async fn data_source(State(shared): S, Path(raw): Path<String>) -> Response {
    let tenant = shared.tenant.lock().unwrap();
    match id(&raw).and_then(|id| tenant.data_sources.get(&id)) {
        Some(d) if !d.unreadable_by_key => Json(answers::data_source(&tenant, d)).into_response(),
        _ => error(StatusCode::NOT_FOUND, "data source not found"),
    }
}

async fn project(State(shared): S, Path(raw): Path<String>) -> Response {
    let tenant = shared.tenant.lock().unwrap();
    match id(&raw).and_then(|id| tenant.projects.get(&id)) {
        Some(p) => Json(answers::project(p)).into_response(),
        None => error(StatusCode::NOT_FOUND, "project not found"),
    }
}

async fn equalization_state(State(shared): S, Path(raw): Path<String>) -> Response {
    let tenant = shared.tenant.lock().unwrap();
    match id(&raw).and_then(|id| tenant.projects.get(&id)) {
        Some(p) => Json(answers::equalization_state(p)).into_response(),
        None => error(StatusCode::NOT_FOUND, "project not found"),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageQuery {
    is_equalized: Option<bool>,
    data_source_id: Option<u64>,
    offset: Option<usize>,
    size: Option<usize>,
}

/// How a list announces its count: Immuta's webhook history gives it as a string.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CountAs {
    Number,
    Text,
}

fn page(
    shared: &Shared,
    items: Vec<Value>,
    (offset, size): (Option<usize>, Option<usize>),
    default_size: usize,
    member: &str,
    count_as: CountAs,
) -> Response {
    let faults = shared.faults.lock().unwrap().clone();
    let own_count = items.len();
    let size = size.unwrap_or(default_size).max(1);
    let offset = match (faults.ignore_offset, faults.offset_as_page_number) {
        (true, _) => 0,
        (false, true) => offset.unwrap_or(0).saturating_mul(size),
        (false, false) => offset.unwrap_or(0),
    };
    let end = faults
        .truncate_lists_at
        .unwrap_or(usize::MAX)
        .min(own_count);
    let page: Vec<Value> = items
        .into_iter()
        .take(end)
        .skip(offset)
        .take(size)
        .collect();
    let count = faults.announce_count.unwrap_or(own_count);
    let mut answer = json!({ member: page });
    if !faults.omit_count {
        answer["count"] = match count_as {
            CountAs::Number => json!(count),
            CountAs::Text => json!(count.to_string()),
        };
    }
    Json(answer).into_response()
}

async fn search_projects(State(shared): S, Query(query): Query<PageQuery>) -> Response {
    let hits = answers::search_projects(
        &shared.tenant.lock().unwrap(),
        query.is_equalized.unwrap_or(false),
        query.data_source_id,
    );
    // Immuta's Swagger: `size` defaults to 10.
    page(
        &shared,
        hits,
        (query.offset, query.size),
        10,
        "hits",
        CountAs::Number,
    )
}

async fn project_data_sources(
    State(shared): S,
    Path(raw): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    let rows = id(&raw).and_then(|id| {
        let tenant = shared.tenant.lock().unwrap();
        let project = tenant.projects.get(&id)?;
        Some(answers::project_data_sources(&tenant, project))
    });
    match rows {
        // Immuta's default page size here is 15: clients that do not page lose rows.
        Some(rows) => page(
            &shared,
            rows,
            (query.offset, query.size),
            15,
            "dataSources",
            CountAs::Number,
        ),
        None => error(StatusCode::NOT_FOUND, "project not found"),
    }
}

#[derive(Deserialize)]
struct ViewSqlQuery {
    format: Option<String>,
}

async fn view_sql(
    State(shared): S,
    Path((project, source)): Path<(String, String)>,
    Query(query): Query<ViewSqlQuery>,
) -> Response {
    let oversized = shared.faults.lock().unwrap().oversized_view_sql.clone();
    if let Some(oversized) = oversized.filter(|o| {
        o.data_source_id
            .is_none_or(|wanted| id(&source) == Some(wanted))
    }) {
        return streamed(&oversized);
    }
    let sql = id(&project)
        .zip(id(&source))
        .and_then(|(p, d)| shared.tenant.lock().unwrap().view_sql(p, d));
    match (sql, query.format.as_deref()) {
        (None, _) => error(StatusCode::NOT_FOUND, "no such project or data source"),
        (Some(sql), Some("text")) => ([(header::CONTENT_TYPE, "text/plain")], sql).into_response(),
        (Some(sql), _) => {
            Json(json!({"projectId": project, "dataSourceId": source, "sql": sql})).into_response()
        }
    }
}

/// `SELECT 1 --xxxx…` of `bytes` bytes, generated a chunk at a time as the client reads it.
fn streamed(oversized: &Oversized) -> Response {
    const CHUNK: usize = 64 << 10;
    let total = oversized.bytes;
    let chunks = futures_util::stream::unfold(0u64, move |sent| async move {
        if sent >= total {
            return None;
        }
        let len = (total - sent).min(CHUNK as u64) as usize;
        let mut chunk = vec![b'x'; len];
        if sent == 0 {
            let head = b"SELECT 1 --";
            let n = head.len().min(len);
            chunk[..n].copy_from_slice(&head[..n]);
        }
        Some((
            Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(chunk)),
            sent + len as u64,
        ))
    });
    let mut response = axum::body::Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain"),
    );
    if oversized.declare_length {
        headers.insert(header::CONTENT_LENGTH, header::HeaderValue::from(total));
    }
    response
}

async fn list_webhooks(State(shared): S) -> Response {
    let hooks: Vec<Value> = shared
        .webhooks
        .lock()
        .unwrap()
        .iter()
        .map(WebhookTarget::to_json)
        .collect();
    Json(Value::Array(hooks)).into_response()
}

/// The notification types a webhook can subscribe to: the published Swagger's list (a current
/// tenant; seed 002's older list lacks the newer types).
async fn webhook_actions() -> Response {
    const ACTIONS: &str = include_str!("../../../events/immuta-api/webhooks-actions.swagger.json");
    ([(header::CONTENT_TYPE, "application/json")], ACTIONS).into_response()
}

#[derive(Deserialize)]
struct CreateWebhooks {
    webhooks: Vec<NewWebhook>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewWebhook {
    url: String,
    name: String,
    #[serde(default)]
    notification_type: Vec<String>,
    action_type: Option<String>,
    #[serde(default)]
    global: bool,
    secret: Option<String>,
}

/// A webhook as `POST /webhooks` and `DELETE /webhooks/{id}` answer it: its record (seed 002;
/// a global webhook's `actionType` is null).
fn webhook_answer(target: &WebhookTarget) -> Value {
    json!({"id": target.id, "url": target.url, "name": target.name, "global": target.global,
           "actionType": target.action_type, "createdBy": 1,
           "createdAt": "2026-11-23T00:00:00.000Z", "updatedAt": "2026-11-23T00:00:00.000Z"})
}

async fn create_webhooks(State(shared): S, Json(body): Json<CreateWebhooks>) -> Response {
    let require_action_type = shared.faults.lock().unwrap().require_action_type;
    if require_action_type && body.webhooks.iter().any(|w| w.action_type.is_none()) {
        return error(StatusCode::BAD_REQUEST, "\"actionType\" is required");
    }
    let created: Vec<Value> = body
        .webhooks
        .into_iter()
        .map(|w| {
            let target = shared.register(WebhookTarget {
                id: 0,
                name: w.name,
                url: w.url,
                secret: w.secret,
                shape: Shape::Flat,
                notification_type: w.notification_type,
                action_type: w.action_type,
                global: w.global,
            });
            webhook_answer(&target)
        })
        .collect();
    Json(json!({"createdWebhooks": created, "errors": []})).into_response()
}

async fn delete_webhook(State(shared): S, Path(raw): Path<String>) -> Response {
    match id(&raw).and_then(|id| shared.unregister(id)) {
        Some(target) => Json(webhook_answer(&target)).into_response(),
        None => error(StatusCode::NOT_FOUND, "webhook not found"),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryQuery {
    success_or_failure: Option<String>,
    page_size: Option<usize>,
    offset: Option<usize>,
}

async fn webhook_history(State(shared): S, Query(query): Query<HistoryQuery>) -> Response {
    let records: Vec<Value> = shared
        .history
        .lock()
        .unwrap()
        .iter()
        .filter(|r| match query.success_or_failure.as_deref() {
            Some("success") => r.succeeded(),
            Some("failure") => !r.succeeded(),
            _ => true,
        })
        .map(|r| r.to_json())
        .collect();
    page(
        &shared,
        records,
        (query.offset, query.page_size),
        20,
        "records",
        CountAs::Text,
    )
}

async fn retry_delivery(State(shared): S, Path(raw): Path<String>) -> Response {
    let record = match id(&raw) {
        Some(id) => shared.retry(id).await,
        None => None,
    };
    match record {
        Some(record) => Json(record.to_retry_json()).into_response(),
        None => error(StatusCode::NOT_FOUND, "no such history record"),
    }
}

async fn act(State(shared): S, Json(action): Json<Action>) -> Response {
    match shared.act(action).await {
        Ok(deliveries) => Json(json!({"deliveries": deliveries})).into_response(),
        Err(e) => error(StatusCode::NOT_FOUND, &e.to_string()),
    }
}

async fn counters(State(shared): S) -> Json<BTreeMap<String, u64>> {
    Json(shared.counters.lock().unwrap().clone())
}

async fn reset_counters(State(shared): S) -> StatusCode {
    shared.counters.lock().unwrap().clear();
    StatusCode::NO_CONTENT
}

async fn get_faults(State(shared): S) -> Json<Faults> {
    Json(shared.faults.lock().unwrap().clone())
}

async fn put_faults(State(shared): S, Json(faults): Json<Faults>) -> StatusCode {
    *shared.faults.lock().unwrap() = faults;
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct HandlersQuery {
    handlers: Option<String>,
}

async fn expected_views(State(shared): S, Query(query): Query<HandlersQuery>) -> Response {
    let handlers: Option<Vec<&str>> = query
        .handlers
        .as_deref()
        .map(|h| h.split(',').map(str::trim).collect());
    Json(json!(
        shared
            .tenant
            .lock()
            .unwrap()
            .expected_views(handlers.as_deref())
    ))
    .into_response()
}

async fn get_tenant(State(shared): S) -> Response {
    Json(json!(*shared.tenant.lock().unwrap())).into_response()
}

async fn put_tenant(State(shared): S, Json(tenant): Json<crate::tenant::Tenant>) -> StatusCode {
    *shared.tenant.lock().unwrap() = tenant;
    StatusCode::NO_CONTENT
}

async fn add_webhook(State(shared): S, Json(target): Json<WebhookTarget>) -> Response {
    Json(json!(shared.register(target))).into_response()
}
