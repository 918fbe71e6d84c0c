//! A stateful stand-in for an Immuta tenant, for tests and local runs (Immuta is not reachable
//! here). It serves the API endpoints immuta-view-sync calls, with Immuta's response shapes and
//! paging, a view SQL endpoint whose SQL follows the policy versions, and it emits signed webhooks
//! when its state changes through the control API. Faults (latency, 429, 5xx, hangs) can be
//! injected and every API request is counted per endpoint.
#![forbid(unsafe_code)]

pub mod actions;
pub mod answers;
pub mod faults;
mod holds;
mod server;
pub mod tenant;
pub mod view_sql;
pub mod webhooks;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

use actions::{Action, UnknownObject};
use faults::Faults;
use holds::Holds;
use tenant::Tenant;
use webhooks::{Delivery, Shape, WebhookTarget};

pub struct Shared {
    tenant: Mutex<Tenant>,
    history: Mutex<Vec<webhooks::HistoryRecord>>,
    faults: Mutex<Faults>,
    holds: Holds,
    counters: Mutex<BTreeMap<String, u64>>,
    webhooks: Mutex<Vec<WebhookTarget>>,
    tokens: Mutex<BTreeSet<String>>,
    request_number: AtomicU64,
    api_key: String,
    /// The `VIEW_SQL_PATH` template the view SQL is served at.
    view_sql_path: String,
    http: reqwest::Client,
}

impl Shared {
    fn register(&self, mut target: WebhookTarget) -> WebhookTarget {
        let mut webhooks = self.webhooks.lock().unwrap();
        target.id = webhooks.iter().map(|w| w.id).max().unwrap_or(0) + 1;
        webhooks.push(target.clone());
        target
    }

    fn unregister(&self, id: u64) -> Option<WebhookTarget> {
        let mut webhooks = self.webhooks.lock().unwrap();
        let index = webhooks.iter().position(|w| w.id == id)?;
        Some(webhooks.remove(index))
    }

    async fn act(&self, action: Action) -> Result<Vec<Delivery>, UnknownObject> {
        let flat = action.apply(&mut self.tenant.lock().unwrap())?;
        let notification_type = flat["notificationType"]
            .as_str()
            .or(flat["type"].as_str())
            .unwrap_or_default()
            .to_owned();
        let targets: Vec<WebhookTarget> = self
            .webhooks
            .lock()
            .unwrap()
            .iter()
            .filter(|t| t.wants(&notification_type))
            .cloned()
            .collect();
        let mut deliveries = Vec::new();
        for target in targets {
            let body = if flat.get("type").is_some() {
                flat.clone()
            } else {
                webhooks::shaped(&target, &flat)
            };
            deliveries.push(self.deliver(&target, &notification_type, body, None).await);
        }
        Ok(deliveries)
    }

    /// Delivers `body` and records the attempt in the webhook history, as Immuta does.
    async fn deliver(
        &self,
        target: &WebhookTarget,
        notification_type: &str,
        body: serde_json::Value,
        activity_id: Option<u64>,
    ) -> Delivery {
        let status = webhooks::deliver(&self.http, target, &body).await;
        let mut history = self.history.lock().unwrap();
        let id = history.len() as u64 + 1;
        history.push(webhooks::HistoryRecord {
            id,
            // A retry is another delivery of the same activity (seed 002's retry answer: record
            // 228 of activity 11).
            activity_id: activity_id.unwrap_or(id),
            created_at: view_sync_core::time::format_utc(view_sync_core::time::now_micros()),
            webhook_id: target.id,
            webhook_name: target.name.clone(),
            url: target.url.clone(),
            notification_type: notification_type.to_owned(),
            status_code: status.unwrap_or(500),
            body: body.clone(),
        });
        Delivery {
            webhook_id: target.id,
            notification_type: notification_type.to_owned(),
            status,
            body,
        }
    }

    /// `POST /webhooks/history/retry/{id}`: sends the recorded body again.
    async fn retry(&self, id: u64) -> Option<webhooks::HistoryRecord> {
        let record = self
            .history
            .lock()
            .unwrap()
            .iter()
            .find(|r| r.id == id)
            .cloned()?;
        let target = self
            .webhooks
            .lock()
            .unwrap()
            .iter()
            .find(|t| t.id == record.webhook_id)
            .cloned()?;
        self.deliver(
            &target,
            &record.notification_type,
            record.body,
            Some(record.activity_id),
        )
        .await;
        self.history.lock().unwrap().last().cloned()
    }
}

/// A running simulator on a loopback port. Dropping it stops the server.
/// Where the simulator serves view SQL unless told otherwise, as `VIEW_SQL_PATH` names it (its
/// answer is JSON, the SQL at `/sql`). Immuta documents no such endpoint (IMMUTA_API.md, "The view
/// SQL endpoint"): the path is the simulator's own, and says so, so that no one takes it for
/// Immuta's.
pub const DEFAULT_VIEW_SQL_PATH: &str = "/simulator-only/view-sql/{projectId}/{dataSourceId}";

/// How the counters (and holds) name the view SQL route at [`DEFAULT_VIEW_SQL_PATH`].
pub const DEFAULT_VIEW_SQL_ROUTE: &str = "GET /simulator-only/view-sql/{project}/{source}";

/// A `VIEW_SQL_PATH` template the simulator cannot serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a view SQL path must start with / and hold {{projectId}} and {{dataSourceId}}: {0}")]
pub struct BadViewSqlPath(pub String);

/// The axum route of a `VIEW_SQL_PATH` template: its placeholders as the route's parameters.
fn view_sql_route(path: &str) -> Result<String, BadViewSqlPath> {
    if !path.starts_with('/') || !path.contains("{projectId}") || !path.contains("{dataSourceId}") {
        return Err(BadViewSqlPath(path.to_owned()));
    }
    Ok(path
        .replace("{projectId}", "{project}")
        .replace("{dataSourceId}", "{source}"))
}

pub struct Simulator {
    pub url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Simulator {
    /// The processor's settings that point it at this simulator: `IMMUTA_URL`, `IMMUTA_API_KEY`,
    /// `VIEW_SQL_PATH` and `VIEW_SQL_JSON_POINTER`. A test adds `DATABASE_URL` and its own.
    pub fn processor_settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("IMMUTA_URL", self.url.clone()),
            ("IMMUTA_API_KEY", self.shared.api_key.clone()),
            ("VIEW_SQL_PATH", self.shared.view_sql_path.clone()),
            ("VIEW_SQL_JSON_POINTER", "/sql".to_owned()),
        ]
    }

    /// Starts on a free port of 127.0.0.1, serving view SQL at [`DEFAULT_VIEW_SQL_PATH`].
    pub async fn start(tenant: Tenant, api_key: &str) -> std::io::Result<Self> {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start_on(addr, tenant, api_key, DEFAULT_VIEW_SQL_PATH).await
    }

    /// Starts on `addr`, serving view SQL at `view_sql_path` (a `VIEW_SQL_PATH` template).
    pub async fn start_on(
        addr: SocketAddr,
        tenant: Tenant,
        api_key: &str,
        view_sql_path: &str,
    ) -> std::io::Result<Self> {
        let route = view_sql_route(view_sql_path)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let shared = Arc::new(Shared {
            tenant: Mutex::new(tenant),
            history: Mutex::new(Vec::new()),
            faults: Mutex::new(Faults::default()),
            holds: Holds::default(),
            counters: Mutex::new(BTreeMap::new()),
            webhooks: Mutex::new(Vec::new()),
            tokens: Mutex::new(BTreeSet::new()),
            request_number: AtomicU64::new(0),
            api_key: api_key.to_owned(),
            view_sql_path: view_sql_path.to_owned(),
            http: reqwest::Client::new(),
        });
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let app = server::router(shared.clone(), &route);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            url,
            shared,
            server,
        })
    }

    /// The tenant's state, to read or to change silently (no webhook).
    pub fn tenant(&self) -> MutexGuard<'_, Tenant> {
        self.shared.tenant.lock().unwrap()
    }

    /// Changes the state and delivers the matching webhook to every registered target.
    pub async fn act(&self, action: Action) -> Result<Vec<Delivery>, UnknownObject> {
        self.shared.act(action).await
    }

    pub fn add_webhook(&self, url: &str, secret: Option<&str>, shape: Shape) -> WebhookTarget {
        self.shared.register(WebhookTarget {
            id: 0,
            name: "immuta-view-sync".into(),
            url: url.into(),
            secret: secret.map(Into::into),
            shape,
            notification_type: vec!["ALL_NOTIFICATIONS".into()],
            action_type: None,
            global: true,
        })
    }

    /// Holds back the answers of `route` (as counted: `"GET /dataSource/{id}"`): each is made
    /// from the state its request arrived in, and sent when the route is released.
    pub fn hold(&self, route: &str) {
        self.shared.holds.hold(route);
    }

    pub fn release(&self, route: &str) {
        self.shared.holds.release(route);
    }

    /// Waits until `count` answers are held back, up to `limit`; whether they are.
    pub async fn until_held(&self, count: usize, limit: std::time::Duration) -> bool {
        self.shared.holds.until_waiting(count, limit).await
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.shared.faults.lock().unwrap() = faults;
    }

    /// API requests per endpoint (`"GET /dataSource/{id}"` → n), faulted attempts included.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.shared.counters.lock().unwrap().clone()
    }

    pub fn count(&self, route: &str) -> u64 {
        self.counters().get(route).copied().unwrap_or(0)
    }

    pub fn reset_counters(&self) {
        self.shared.counters.lock().unwrap().clear();
    }

    /// Every delivery so far, oldest first.
    pub fn history(&self) -> Vec<webhooks::HistoryRecord> {
        self.shared.history.lock().unwrap().clone()
    }

    /// Forgets issued tokens, as when they expire: the next call with one gets a 401.
    pub fn expire_tokens(&self) {
        self.shared.tokens.lock().unwrap().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_sql_path_is_served_as_a_route_and_named_as_the_counters_name_it() {
        let route = view_sql_route(DEFAULT_VIEW_SQL_PATH).unwrap();
        assert_eq!(format!("GET {route}"), DEFAULT_VIEW_SQL_ROUTE);
        assert_eq!(
            view_sql_route("/x/{dataSourceId}/{projectId}").unwrap(),
            "/x/{source}/{project}"
        );
        assert!(view_sql_route("/x/{projectId}").is_err());
        assert!(view_sql_route("x/{projectId}/{dataSourceId}").is_err());
    }
}
