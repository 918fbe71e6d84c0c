//! `view-sync doctor`: checks a tenant and a database with the processor's configuration before
//! the first deploy. Each check passes or fails with what to do; a check whose prerequisite
//! failed is skipped. It changes nothing but the schema and ledger the processor would create
//! anyway, and a probe view it drops again.

use std::time::Instant;

use std::collections::BTreeMap;

use futures_util::future::join_all;
use immuta::webhooks::Webhook;
use immuta::{AuthMode, Endpoint, ImmutaClient, ImmutaConfig, ImmutaError, ViewSqlEndpoint};
use processor::ProcessorConfig;
use serde_json::Value;
use view_sync_core::reads::{DataSource, Project};
use view_sync_core::settings;
use view_sync_core::signature::{self, Algorithm, Secret};
use view_sync_core::view_sql::{ViewLocation, ViewSql};
use view_sync_core::want::{self, HandlerFilter};
use view_sync_core::{Id, NotificationType};
use views::{StoreConfig, ViewStore};

mod report;

pub use report::{Check, Outcome, Report};

/// What to check beyond the configuration.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// The equalized project to try the view SQL with (the first one found when unset).
    pub project: Option<Id>,
    /// Its data source to try (the first one of a served type when unset).
    pub data_source: Option<Id>,
    /// The receiver's Function URL, to send it a signed test notification; the registered
    /// webhook must point at it.
    pub receiver_url: Option<String>,
    /// The webhook's name in Immuta.
    pub webhook_name: String,
}

impl Default for DoctorOptions {
    fn default() -> Self {
        Self {
            project: None,
            data_source: None,
            receiver_url: None,
            webhook_name: crate::register::DEFAULT_NAME.to_owned(),
        }
    }
}

pub const CONFIGURATION: &str = "configuration";
pub const IMMUTA_AUTH: &str = "Immuta answers and accepts the key";
pub const WEBHOOKS: &str = "the key can manage webhooks (APPLICATION_ADMIN)";
pub const NOTIFICATION_TYPES: &str = "the tenant offers the view-affecting notification types";
pub const REGISTERED: &str = "the webhook is registered: global, for the receiver, with the types";
pub const READABLE: &str = "the key can read every data source of the equalized projects";
pub const PROJECT_SEARCH: &str = "project search";
pub const PROJECT: &str = "project detail and equalization state";
pub const PROJECT_DATA_SOURCES: &str = "project data sources";
pub const DATA_SOURCE: &str = "data source";
pub const DISABLED_EVIDENCE: &str = "disabled data sources";
pub const VIEW_SQL: &str = "view SQL (VIEW_SQL_PATH, VIEW_SQL_JSON_POINTER)";
pub const DATABASE: &str = "database, VIEW_SCHEMA and the ledger";
pub const PROBE_VIEW: &str = "the database user can create, read and drop a view";
pub const GRANTS: &str = "the database user can see who reads the views (VIEW_GRANT_ROLES)";
pub const RECEIVER: &str = "the receiver accepts a signed notification";

/// Bytes of the receiver's answer shown.
const RECEIVER_ANSWER_SHOWN: usize = 2_000;

/// The checks that need Immuta's answers.
const IMMUTA_CHECKS: [&str; 10] = [
    IMMUTA_AUTH,
    WEBHOOKS,
    NOTIFICATION_TYPES,
    PROJECT_SEARCH,
    READABLE,
    PROJECT,
    PROJECT_DATA_SOURCES,
    DATA_SOURCE,
    DISABLED_EVIDENCE,
    VIEW_SQL,
];

/// Runs every check with the configuration `lookup` gives (the processor's variables, secrets
/// resolved).
pub async fn run(
    lookup: &dyn Fn(&str) -> Option<String>,
    options: &DoctorOptions,
    deadline: Instant,
) -> Report {
    let mut report = Report::default();
    let immuta = ImmutaConfig::from_lookup(lookup);
    let view_sql = ViewSqlEndpoint::from_lookup(lookup);
    let store = StoreConfig::from_lookup(lookup);
    let processor = match ProcessorConfig::from_lookup(lookup) {
        Ok(config) => {
            report.pass(
                CONFIGURATION,
                "the processor's settings are complete and valid",
            );
            Some(config)
        }
        Err(e) => {
            report.fail(
                CONFIGURATION,
                e.to_string(),
                format!(
                    "set {} as the README's configuration table says",
                    e.variable
                ),
            );
            None
        }
    };
    match immuta {
        Ok(config) => {
            check_immuta(
                &mut report,
                config,
                view_sql.ok(),
                store.as_ref().ok().and_then(StoreConfig::location),
                processor,
                options,
                deadline,
            )
            .await
        }
        Err(_) => {
            for check in IMMUTA_CHECKS {
                report.skip(check, "the Immuta settings are not valid");
            }
        }
    }
    match store {
        Ok(config) => check_database(&mut report, &config).await,
        Err(_) => {
            report.skip(DATABASE, "DATABASE_URL is not valid");
            report.skip(PROBE_VIEW, "DATABASE_URL is not valid");
        }
    }
    if let Some(url) = &options.receiver_url {
        check_receiver(&mut report, lookup, url).await;
    }
    report
}

async fn check_immuta(
    report: &mut Report,
    config: ImmutaConfig,
    view_sql: Option<ViewSqlEndpoint>,
    location: Option<ViewLocation>,
    processor: Option<ProcessorConfig>,
    options: &DoctorOptions,
    deadline: Instant,
) {
    let client = match ImmutaClient::new(config.clone()) {
        Ok(client) => client,
        Err(e) => {
            report.fail(IMMUTA_AUTH, e.to_string(), "check IMMUTA_URL");
            return;
        }
    };
    if !check_auth(report, &client, &config, deadline).await {
        for check in &IMMUTA_CHECKS[1..] {
            report.skip(check, "Immuta did not accept the key");
        }
        return;
    }
    let offered = match client.webhook_actions(deadline).await {
        Ok(offered) => {
            check_offered(report, &offered);
            Some(offered)
        }
        Err(e) => {
            report.fail(NOTIFICATION_TYPES, e.to_string(), fix_for(&e));
            None
        }
    };
    match client.list_webhooks(deadline).await {
        Ok(hooks) => {
            report.pass(
                WEBHOOKS,
                format!("GET /webhooks lists {} webhook(s)", hooks.len()),
            );
            let expected = crate::register::default_types_offered(offered.as_deref());
            check_registered(report, &hooks, &expected, options);
        }
        Err(e @ ImmutaError::Unauthorized { .. }) => report.fail(
            WEBHOOKS,
            e.to_string(),
            "give the API key's user APPLICATION_ADMIN: `view-sync register` and `replay` need it, \
             and only it sees every project",
        ),
        Err(e) => report.fail(WEBHOOKS, e.to_string(), fix_for(&e)),
    }

    let handlers = processor
        .as_ref()
        .map(|p| p.handlers.clone())
        .unwrap_or_default();
    let hits = match client.equalized_projects(deadline).await {
        Ok(hits) => {
            report.pass(
                PROJECT_SEARCH,
                format!(
                    "{} equalized project(s); the answers have the documented shape",
                    hits.len()
                ),
            );
            hits
        }
        Err(e) => {
            report.fail(PROJECT_SEARCH, e.to_string(), fix_for(&e));
            report.skip(READABLE, "the equalized projects could not be listed");
            Vec::new()
        }
    };
    if report
        .get(PROJECT_SEARCH)
        .is_some_and(|c| c.outcome == Outcome::Pass)
    {
        check_readable(report, &client, &hits, &handlers, deadline).await;
    }
    let Some(project_id) = options.project.clone().or_else(|| first_project(&hits)) else {
        for check in [
            PROJECT,
            PROJECT_DATA_SOURCES,
            DATA_SOURCE,
            DISABLED_EVIDENCE,
            VIEW_SQL,
        ] {
            report.skip(
                check,
                "no equalized project to try; pass --project and --data-source",
            );
        }
        return;
    };
    match client.project(&project_id, deadline).await {
        Ok(project) => match client.is_equalized(&project, deadline).await {
            Ok(equalized) => report.pass(
                PROJECT,
                format!(
                    "project {project_id} ({}) is {}equalized",
                    project.name,
                    if equalized { "" } else { "not " }
                ),
            ),
            Err(e) => report.fail(PROJECT, e.to_string(), fix_for(&e)),
        },
        Err(e) => report.fail(PROJECT, e.to_string(), fix_for(&e)),
    }
    let data_source_id = match client.project_data_sources(&project_id, deadline).await {
        Ok(members) => {
            report.pass(
                PROJECT_DATA_SOURCES,
                format!(
                    "project {project_id} holds {} data source(s)",
                    members.len()
                ),
            );
            options.data_source.clone().or_else(|| {
                members
                    .iter()
                    .find(|m| !m.deleted && handlers.serves(m.blob_handler_type.as_deref()))
                    .map(|m| m.id.clone())
            })
        }
        Err(e) => {
            report.fail(PROJECT_DATA_SOURCES, e.to_string(), fix_for(&e));
            options.data_source.clone()
        }
    };
    let Some(data_source_id) = data_source_id else {
        for check in [DATA_SOURCE, DISABLED_EVIDENCE, VIEW_SQL] {
            report.skip(
                check,
                "the project holds no data source of a served type; pass --data-source",
            );
        }
        return;
    };
    check_data_source(report, &client, &data_source_id, deadline).await;

    let Some(endpoint) = view_sql else {
        report.skip(
            VIEW_SQL,
            "VIEW_SQL_PATH or VIEW_SQL_JSON_POINTER is not valid",
        );
        return;
    };
    let Some(location) = location else {
        report.skip(
            VIEW_SQL,
            "DATABASE_URL is not valid, and its dialect decides which view SQL is valid",
        );
        return;
    };
    match client
        .view_sql(&endpoint, &project_id, &data_source_id, deadline)
        .await
    {
        Ok(text) => match ViewSql::parse(&text, &location) {
            Ok(sql) => {
                report.pass(
                    VIEW_SQL,
                    format!(
                        "project {project_id}, data source {data_source_id}: the answer is {}, valid {} SQL:\n{}",
                        match sql.own_name() {
                            None => "a query, created as a view under VIEW_NAME_TEMPLATE",
                            Some(_) => "a CREATE VIEW statement, run under its own name",
                        },
                        location.dialect.name(),
                        text.trim()
                    ),
                );
            }
            Err(e) => report.fail(
                VIEW_SQL,
                format!("project {project_id}, data source {data_source_id}: {e}"),
                "point VIEW_SQL_PATH (and VIEW_SQL_JSON_POINTER for a JSON answer) at the \
                 endpoint that answers the view's SQL",
            ),
        },
        Err(e) => {
            let fix = match e {
                ImmutaError::NotFound { .. } => {
                    "VIEW_SQL_PATH answered 404: check the path template \
                    (with {projectId} and {dataSourceId}) against your tenant"
                        .to_owned()
                }
                ImmutaError::Decode { .. } => {
                    "check VIEW_SQL_JSON_POINTER (empty for a text answer)".to_owned()
                }
                _ => fix_for(&e),
            };
            report.fail(
                VIEW_SQL,
                format!("project {project_id}, data source {data_source_id}: {e}"),
                fix,
            );
        }
    }
}

/// The view-affecting types the tenant offers to subscribe to: the guide's own are required; a
/// newer type an older release does not offer is left out of the registration, and the re-sync
/// covers what it would announce.
fn check_offered(report: &mut Report, offered: &[String]) {
    let required = crate::register::not_offered(&crate::register::GUIDE_TYPES, offered);
    let newer = crate::register::not_offered(NotificationType::VIEW_AFFECTING, offered);
    if !required.is_empty() {
        return report.fail(
            NOTIFICATION_TYPES,
            format!(
                "GET /webhooks/actions does not offer {}",
                required.join(", ")
            ),
            "this release of Immuta names these notifications differently: report it, and rely \
             on `view-sync resync` for what they would have announced",
        );
    }
    let offered_count = NotificationType::VIEW_AFFECTING.len() - newer.len();
    let detail = if newer.is_empty() {
        format!("all {offered_count} can be subscribed to")
    } else {
        format!(
            "{offered_count} of {} can be subscribed to; this release does not offer {} (left \
             out of the registration; the scheduled re-sync covers what they would announce)",
            NotificationType::VIEW_AFFECTING.len(),
            newer.join(", ")
        )
    };
    report.pass(NOTIFICATION_TYPES, detail);
}

/// The registered webhook read back: global, for the receiver's URL (when `--url` says it), and
/// subscribed to every view-affecting type the tenant offers (`expected`). No webhook of that name yet is only a failure when
/// `--url` says where it should point (a doctor before the first deploy has none).
fn check_registered(
    report: &mut Report,
    hooks: &[Webhook],
    expected: &[String],
    options: &DoctorOptions,
) {
    let name = &options.webhook_name;
    let ours: Vec<&Webhook> = hooks.iter().filter(|h| &h.name == name).collect();
    let register = match &options.receiver_url {
        Some(url) => format!("run `view-sync register --url {url}` (it replaces one that differs)"),
        None => "run `view-sync register --url <the receiver's FunctionUrl>`".to_owned(),
    };
    let hook = match (ours.as_slice(), &options.receiver_url) {
        ([], None) => return,
        ([], Some(_)) => {
            return report.fail(REGISTERED, format!("no webhook is named {name}"), register);
        }
        (hooks, Some(url)) => match hooks.iter().find(|h| &h.url == url) {
            Some(hook) => *hook,
            None => {
                let urls: Vec<&str> = hooks.iter().map(|h| h.url.as_str()).collect();
                return report.fail(
                    REGISTERED,
                    format!("webhook {name} points at {}, not at {url}", urls.join(", ")),
                    register,
                );
            }
        },
        ([hook, ..], None) => *hook,
    };
    let problems = webhook_problems(hook, expected);
    if problems.is_empty() {
        report.pass(
            REGISTERED,
            format!(
                "webhook {name} (id {}) is global, for {}, and subscribed to every view-affecting \
                 notification type",
                hook.id, hook.url
            ),
        );
    } else {
        report.fail(
            REGISTERED,
            format!("webhook {name} (id {}): {}", hook.id, problems.join("; ")),
            register,
        );
    }
}

/// What keeps a registered webhook from bringing every notification that can change views.
fn webhook_problems(hook: &Webhook, expected: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    if hook.global == Some(false) {
        problems.push("it is not global, so it hears only its owner's events".to_owned());
    }
    if let Some(action_type) = &hook.action_type {
        problems.push(format!(
            "its actionType is {action_type:?}: it fires only for events its registering user \
             {}",
            if action_type == "received" {
                "receives"
            } else {
                "triggers"
            }
        ));
    }
    let all = hook
        .notification_type
        .iter()
        .any(|t| t == "ALL_NOTIFICATIONS");
    let missing: Vec<&str> = expected
        .iter()
        .map(String::as_str)
        .filter(|t| !all && !hook.notification_type.iter().any(|h| h == t))
        .collect();
    if !missing.is_empty() {
        problems.push(format!("it is not subscribed to {}", missing.join(", ")));
    }
    problems
}

/// Data sources named in a failure, at most.
const UNREADABLE_NAMED: usize = 10;

/// Every data source a view could be made of (in a live equalized project, of a served type, not
/// deleted) read with `GET /dataSource/{id}`, as a data source's reconcile reads it: one that
/// answers 404 to the key, though its project lists it, is one whose views such a reconcile
/// drops, since Immuta answers a key without the right as it answers for a deleted source.
async fn check_readable(
    report: &mut Report,
    client: &ImmutaClient,
    hits: &[Project],
    handlers: &HandlerFilter,
    deadline: Instant,
) {
    let projects: Vec<&Project> = hits
        .iter()
        .filter(|h| want::hit_is_live_and_equalized(h))
        .collect();
    let listed = join_all(
        projects
            .iter()
            .map(|p| client.project_data_sources(&p.id, deadline)),
    )
    .await;
    // Each source once, with the first project that lists it.
    let mut sources: BTreeMap<Id, (&Project, String)> = BTreeMap::new();
    let mut unlisted = Vec::new();
    for (project, listing) in projects.iter().zip(listed) {
        match listing {
            Ok(members) => {
                for member in members
                    .into_iter()
                    .filter(|m| !m.deleted && handlers.serves(m.blob_handler_type.as_deref()))
                {
                    sources.entry(member.id).or_insert((*project, member.name));
                }
            }
            Err(e) => unlisted.push(format!("project {}: {e}", project.id)),
        }
    }
    let reads = join_all(sources.keys().map(|id| client.data_source(id, deadline))).await;
    let mut unreadable = Vec::new();
    let mut unknown = unlisted;
    for ((id, (project, name)), read) in sources.iter().zip(reads) {
        let described = || {
            format!(
                "data source {id} ({name}) of project {} ({})",
                project.id, project.name
            )
        };
        match read {
            Ok(_) => {}
            Err(ImmutaError::NotFound { .. }) => unreadable.push(described()),
            Err(e @ ImmutaError::Unauthorized { .. }) => {
                unreadable.push(format!("{} (refused: {e})", described()))
            }
            Err(e) => unknown.push(format!("{}: {e}", described())),
        }
    }
    let named = |mut list: Vec<String>| {
        let more = list.len().saturating_sub(UNREADABLE_NAMED);
        list.truncate(UNREADABLE_NAMED);
        let more = if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        };
        format!("{}{more}", list.join("; "))
    };
    match (unreadable.is_empty(), unknown.is_empty()) {
        (true, true) => report.pass(
            READABLE,
            format!(
                "all {} data source(s) of {} equalized project(s) answer GET /dataSource/{{id}}",
                sources.len(),
                projects.len()
            ),
        ),
        (true, false) => report.fail(
            READABLE,
            format!("could not read {}: {}", unknown.len(), named(unknown)),
            "run doctor again; check IMMUTA_URL and the tenant's health",
        ),
        (false, _) => report.fail(
            READABLE,
            format!(
                "{} of {} data source(s) answer 404 (or 403) to this key though their project \
                 lists them: {}{}",
                unreadable.len(),
                sources.len(),
                named(unreadable),
                if unknown.is_empty() {
                    String::new()
                } else {
                    format!(" ({} more could not be read)", unknown.len())
                }
            ),
            "give the API key's user GOVERNANCE (or make it the owner or a subscriber of those \
             data sources): GET /dataSource/{id} answers a key without the right as it answers \
             for a deleted source, so the processor would drop their views",
        ),
    }
}

fn first_project(hits: &[Project]) -> Option<Id> {
    hits.iter()
        .find(|h| !h.deleted && h.is_equalized != Some(false))
        .map(|h| h.id.clone())
}

/// Probes the key in the configured mode, and says whether the other mode would work.
async fn check_auth(
    report: &mut Report,
    client: &ImmutaClient,
    config: &ImmutaConfig,
    deadline: Instant,
) -> bool {
    async fn probe(client: &ImmutaClient, deadline: Instant) -> Result<(), ImmutaError> {
        let path = format!("{}?size=1", client.config().project_search_path);
        let answer = client
            .get_json(Endpoint::ProjectSearch, &path, deadline)
            .await?;
        Ok(Endpoint::ProjectSearch.check_answer(&answer)?)
    }
    let mode = |auth| match auth {
        AuthMode::ApiKey => "apikey",
        AuthMode::Token => "token",
    };
    let other_auth = match config.auth {
        AuthMode::ApiKey => AuthMode::Token,
        AuthMode::Token => AuthMode::ApiKey,
    };
    let other = {
        let mut other = config.clone();
        other.auth = other_auth;
        match ImmutaClient::new(other) {
            Ok(client) => probe(&client, deadline).await.is_ok(),
            Err(_) => false,
        }
    };
    let other_says = format!(
        "IMMUTA_AUTH={} would {}work",
        mode(other_auth),
        if other { "also " } else { "not " }
    );
    match probe(client, deadline).await {
        Ok(()) => {
            report.pass(
                IMMUTA_AUTH,
                format!(
                    "{} accepts the key with IMMUTA_AUTH={} ({other_says})",
                    config.base_url,
                    mode(config.auth)
                ),
            );
            true
        }
        Err(e @ ImmutaError::Unauthorized { .. }) => {
            let fix = if other {
                format!(
                    "set IMMUTA_AUTH={}: the key works that way",
                    mode(other_auth)
                )
            } else {
                "check IMMUTA_API_KEY: Immuta refuses it in both modes".to_owned()
            };
            report.fail(IMMUTA_AUTH, e.to_string(), fix);
            false
        }
        Err(e) => {
            report.fail(IMMUTA_AUTH, e.to_string(), fix_for(&e));
            false
        }
    }
}

async fn check_data_source(report: &mut Report, client: &ImmutaClient, id: &Id, deadline: Instant) {
    let path = format!("/dataSource/{id}");
    let answer = match client.get_json(Endpoint::DataSource, &path, deadline).await {
        Ok(answer) => answer,
        Err(e) => {
            report.fail(DATA_SOURCE, e.to_string(), fix_for(&e));
            report.skip(DISABLED_EVIDENCE, "the data source could not be read");
            return;
        }
    };
    let source: DataSource = match immuta::model::data_source(&answer) {
        Ok(source) => source,
        Err(e) => {
            report.fail(DATA_SOURCE, e.to_string(), fix_for(&e.into()));
            report.skip(DISABLED_EVIDENCE, "the data source could not be read");
            return;
        }
    };
    match client.equalized_projects_with(id, deadline).await {
        Ok(projects) => report.pass(
            DATA_SOURCE,
            format!(
                "data source {id} ({}, {}) is in {} equalized project(s)",
                source.name,
                source
                    .blob_handler_type
                    .as_deref()
                    .unwrap_or("no handler type"),
                projects.len()
            ),
        ),
        Err(e) => report.fail(DATA_SOURCE, e.to_string(), fix_for(&e)),
    }
    let explicit = answer.get("disabled").is_some_and(|v| !v.is_null());
    report.pass(
        DISABLED_EVIDENCE,
        if explicit {
            "data source answers carry a `disabled` field: it decides, as read".to_owned()
        } else {
            format!(
                "data source answers carry no disabled state (status {:?} is health): the newest \
                 `fields.disabled` of a dataSourceUpdated notification decides, kept beside the ledger",
                answer.get("status").and_then(Value::as_str).unwrap_or("absent")
            )
        },
    );
}

async fn check_database(report: &mut Report, config: &StoreConfig) {
    let store = match ViewStore::connect_lazy(config) {
        Ok(store) => store,
        Err(e) => {
            report.fail(DATABASE, e.to_string(), "check DATABASE_URL");
            report.skip(PROBE_VIEW, "no database connection");
            return;
        }
    };
    match store.ensure_ledger().await {
        Ok(()) => report.pass(
            DATABASE,
            format!(
                "{} database reached; schema {} and the ledger {} are ready",
                store.dialect().name(),
                config.schema.as_deref().unwrap_or("(default)"),
                config.ledger_table
            ),
        ),
        Err(e) => {
            let fix = if e.is_retryable() {
                "check DATABASE_URL and that the database is reachable from here (network, VPC)"
            } else if matches!(e, views::ViewsError::Unauthenticated(_)) {
                "check the user and password in DATABASE_URL (or its secret): after a rotation, \
                 that the secret's current version holds the password the database has"
            } else {
                "check VIEW_SCHEMA and LEDGER_TABLE, and that the user may create them"
            };
            report.fail(DATABASE, e.to_string(), fix);
            report.skip(PROBE_VIEW, "the schema or ledger could not be created");
            return;
        }
    }
    // A constant query: text from Immuta never runs outside the processor's validation.
    match store.probe_view("SELECT 1 AS probe").await {
        Ok(()) => report.pass(
            PROBE_VIEW,
            format!("{} was created, read and dropped", views::probe::PROBE_VIEW),
        ),
        Err(e) => report.fail(
            PROBE_VIEW,
            e.to_string(),
            "grant the user CREATE (and DROP) of views in VIEW_SCHEMA; see the README's security section",
        ),
    }
    if store.manages_grants() {
        match store.check_grants_readable().await {
            Ok(()) => report.pass(
                GRANTS,
                "the grants on the views can be read, so they can be managed",
            ),
            Err(e) => report.fail(
                GRANTS,
                e.to_string(),
                "see the README's \"Who may read the views\" for the rights the user needs",
            ),
        }
    }
}

async fn check_receiver(report: &mut Report, lookup: &dyn Fn(&str) -> Option<String>, url: &str) {
    let secret = lookup("WEBHOOK_SECRET").or_else(|| {
        lookup("WEBHOOK_SECRETS").and_then(|list| settings::items(&list).next().map(str::to_owned))
    });
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        report.fail(
            RECEIVER,
            "no secret to sign the test notification with",
            "set WEBHOOK_SECRET (or WEBHOOK_SECRET_SECRET_ARN) to the secret the receiver verifies",
        );
        return;
    };
    // A type of our own that no view depends on (`viewSyncDoctorProbe`): the receiver verifies
    // it, answers 200 and queues nothing.
    let body =
        br#"{"notificationType":"viewSyncDoctorProbe","modelType":"none","modelId":"doctor"}"#;
    let secret = Secret::new(secret.as_bytes());
    let request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header(
            signature::SHA256_HEADER,
            signature::sign(&secret, body, Algorithm::Sha256),
        )
        .header(
            signature::SHA1_HEADER,
            signature::sign(&secret, body, Algorithm::Sha1),
        )
        .timeout(std::time::Duration::from_secs(10))
        .body(body.to_vec());
    match request.send().await {
        Ok(response) if response.status().is_success() => {
            let status = response.status().as_u16();
            // The receiver's answer is a short JSON document; more is not read.
            let mut text = String::new();
            let mut response = response;
            while let Ok(Some(chunk)) = response.chunk().await {
                text.push_str(&String::from_utf8_lossy(&chunk));
                if text.len() > RECEIVER_ANSWER_SHOWN {
                    text.truncate(text.floor_char_boundary(RECEIVER_ANSWER_SHOWN));
                    text.push('…');
                    break;
                }
            }
            report.pass(RECEIVER, format!("{url} answered {status}: {text}"));
        }
        Ok(response) if response.status().as_u16() == 401 => report.fail(
            RECEIVER,
            format!("{url} refused the signature (401)"),
            "WEBHOOK_SECRET must be one of the receiver's WEBHOOK_SECRETS",
        ),
        Ok(response) => report.fail(
            RECEIVER,
            format!("{url} answered {}", response.status()),
            "read the receiver's log group; a 503 means it could not reach SQS",
        ),
        Err(e) => report.fail(
            RECEIVER,
            format!("could not reach {url}: {e}"),
            "pass the FunctionUrl output of the stack as --url",
        ),
    }
}

/// What to do about an Immuta error, naming the variable.
fn fix_for(error: &ImmutaError) -> String {
    match error {
        ImmutaError::Unauthorized { .. } => "check IMMUTA_API_KEY and IMMUTA_AUTH".into(),
        ImmutaError::Connect { .. }
        | ImmutaError::Timeout { .. }
        | ImmutaError::OutOfTime { .. } => {
            "check IMMUTA_URL and the network path to it (VPC, proxy)".into()
        }
        ImmutaError::NotFound { .. } => {
            "check IMMUTA_URL (and IMMUTA_PROJECT_SEARCH_PATH for the search)".into()
        }
        ImmutaError::Shape(_) | ImmutaError::Decode { .. } | ImmutaError::Truncated { .. } => {
            "this tenant answers in a shape the client does not read: report it with the answer"
                .into()
        }
        ImmutaError::Status { .. } => {
            "Immuta failed the request; try again, or read its logs".into()
        }
        ImmutaError::Inconsistent { .. } => {
            "the list changed while it was paged, or something between here and Immuta (a proxy) \
             does not page it; try again, and check the path to IMMUTA_URL if it persists"
                .into()
        }
        ImmutaError::TooLarge { .. } => {
            "this answer is larger than any tenant's should be: check that IMMUTA_URL (and \
             VIEW_SQL_PATH) point at Immuta's API"
                .into()
        }
    }
}
