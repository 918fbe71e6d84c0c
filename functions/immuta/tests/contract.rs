//! The Immuta contract: `events/immuta-api/` holds documented answers of every endpoint we call
//! (the seeds' own examples, and Swagger-shaped ones with their extra fields and null or absent
//! variants). The client's models must read every one of them, and the simulator must answer in
//! the same shapes, so that neither can drift from the documentation again.
//!
//! A corpus file is named `<endpoint>.<variant>.json`; the endpoint part says which answer it is.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use immuta::Endpoint;
use immuta::webhooks::NewWebhook;
use immuta_simulator::Simulator;
use immuta_simulator::actions::Action;
use immuta_simulator::tenant::Tenant;
use immuta_simulator::webhooks::Shape;
use serde_json::{Value, json};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/immuta-api")
}

/// Which answer (or request) a corpus file holds, by the part of its name before the first dot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Example {
    Answer(Endpoint),
    /// The body of `POST /webhooks`, which we send.
    RegistrationRequest,
}

fn example_kind(file_name: &str) -> Option<Example> {
    let slug = file_name.split('.').next()?;
    Some(match slug {
        "authenticate" => Example::Answer(Endpoint::Authenticate),
        "data-source" => Example::Answer(Endpoint::DataSource),
        "project" => Example::Answer(Endpoint::Project),
        "project-equalization-state" => Example::Answer(Endpoint::EqualizationState),
        "project-search" => Example::Answer(Endpoint::ProjectSearch),
        "project-data-sources" => Example::Answer(Endpoint::ProjectDataSources),
        // `GET /webhooks` is a list; `GET /webhooks/{id}` answers one webhook, a shape the list
        // reader also accepts (one of Immuta's list examples shows it).
        "webhooks-list" | "webhook" => Example::Answer(Endpoint::WebhookList),
        "webhooks-delete" => Example::Answer(Endpoint::WebhookDelete),
        "webhooks-actions" => Example::Answer(Endpoint::WebhookActions),
        "webhooks-create" => Example::Answer(Endpoint::WebhookCreate),
        "webhooks-create-request" => Example::RegistrationRequest,
        "webhooks-history" => Example::Answer(Endpoint::WebhookHistory),
        "webhooks-history-retry" => Example::Answer(Endpoint::WebhookRetry),
        _ => return None,
    })
}

fn corpus() -> Vec<(String, Example, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("events/immuta-api exists")
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let kind = example_kind(&name).unwrap_or_else(|| {
                panic!(
                    "{name}: no test knows which endpoint this is; name it <endpoint>.<variant>.json \
                     with an endpoint of example_kind()"
                )
            });
            let text = std::fs::read_to_string(&path).unwrap();
            let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, kind, value)
        })
        .collect()
}

fn answers_of(endpoint: Endpoint) -> Vec<(String, Value)> {
    corpus()
        .into_iter()
        .filter(|(_, kind, _)| *kind == Example::Answer(endpoint))
        .map(|(name, _, value)| (name, value))
        .collect()
}

/// The first example of `endpoint` whose file name holds `variant`.
fn first(endpoint: Endpoint, variant: &str) -> Value {
    answers_of(endpoint)
        .into_iter()
        .find(|(name, _)| name.contains(variant))
        .unwrap_or_else(|| panic!("no {variant} example of {endpoint}"))
        .1
}

#[test]
fn every_file_of_the_corpus_is_read_by_the_real_model() {
    let corpus = corpus();
    for (name, kind, value) in &corpus {
        if let Example::Answer(endpoint) = kind {
            endpoint
                .check_answer(value)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    // Every endpoint we call has documented examples (the view SQL endpoint has no documented
    // shape: its answer is whatever VIEW_SQL_JSON_POINTER points into).
    for endpoint in Endpoint::ALL
        .into_iter()
        .filter(|e| *e != Endpoint::ViewSql)
    {
        assert!(
            corpus
                .iter()
                .any(|(_, kind, _)| *kind == Example::Answer(endpoint)),
            "no example of {endpoint} in events/immuta-api"
        );
    }
}

#[test]
fn the_documented_examples_say_what_the_models_read() {
    let project = immuta::model::project(&first(Endpoint::Project, "swagger")).unwrap();
    assert_eq!((project.id.as_str(), project.is_equalized), ("9", None));
    let search =
        immuta::model::project_search_page(&first(Endpoint::ProjectSearch, "seed-003")).unwrap();
    assert_eq!(search.count, None, "the seed's example has no count");
    let ids: Vec<&str> = search.items.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["9", "3"]);
    let members =
        immuta::model::project_members_page(&first(Endpoint::ProjectDataSources, "swagger"))
            .unwrap();
    assert_eq!(members.count, Some(31), "a count written as a string");
    assert_eq!(members.items[1].id.as_str(), "23");
    let source = immuta::model::data_source(&first(Endpoint::DataSource, "sparse")).unwrap();
    assert_eq!((source.deleted, source.explicit_disabled), (true, None));
    let history =
        immuta::webhooks::history_page(&first(Endpoint::WebhookHistory, "failure")).unwrap();
    assert_eq!(history.count, Some(1));
    assert_eq!(
        (
            history.items[0].status_code,
            history.items[0].webhook_name.as_deref()
        ),
        (Some(500), Some("webhook"))
    );
    let hooks =
        immuta::webhooks::webhook_list(&first(Endpoint::WebhookList, "get-answer")).unwrap();
    assert_eq!(hooks[0].name, "internal-automatic-subscription-webhook");
}

#[test]
fn our_registration_request_has_the_documented_fields() {
    // IMMUTA_API.md: {"webhooks":[{url, name, global, notificationType[], actionType, secret?}]}.
    let documented: BTreeSet<&str> = [
        "url",
        "name",
        "global",
        "notificationType",
        "actionType",
        "secret",
    ]
    .into_iter()
    .collect();
    for (name, kind, value) in corpus() {
        if kind == Example::RegistrationRequest {
            for hook in value["webhooks"].as_array().unwrap() {
                for field in hook.as_object().unwrap().keys() {
                    assert!(documented.contains(field.as_str()), "{name}: {field}");
                }
            }
        }
    }
    // Ours is a global webhook as the guide registers one (seed 003) and as Immuta's own global
    // webhook is (seed 002: `actionType: null`): no actionType, which would make it fire only
    // for what the registering user does.
    let ours = serde_json::to_value(NewWebhook {
        url: "https://x.lambda-url.us-east-1.on.aws/".into(),
        name: "immuta-view-sync".into(),
        global: true,
        notification_type: vec!["policyUpdated".into()],
        action_type: None,
        secret: Some("s".into()),
    })
    .unwrap();
    let fields: BTreeSet<&str> = ours
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let without_action_type: BTreeSet<&str> = documented
        .iter()
        .copied()
        .filter(|f| *f != "actionType")
        .collect();
    assert_eq!(fields, without_action_type);
    assert_eq!(ours["global"], json!(true));
    let deleted = first(Endpoint::WebhookDelete, "seed-002");
    let immutas_own = immuta::webhooks::deleted(&deleted).unwrap();
    assert_eq!(
        (immutas_own.global, immutas_own.action_type),
        (Some(true), None)
    );
}

// ---------------------------------------------------------------------------------------------
// Shapes: every path in an answer (`hits[].equalization.recommended`) with the JSON kinds seen.

type ShapeMap = BTreeMap<String, BTreeSet<&'static str>>;

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// Paths whose content is not the endpoint's shape: a history record's request holds whatever
/// notification was sent (those are held to `events/webhooks/` by the core's tests).
const OPAQUE: [&str; 2] = ["records[].request.metadata", "request.metadata"];

fn shape(value: &Value) -> ShapeMap {
    fn walk(path: &str, value: &Value, out: &mut ShapeMap) {
        out.entry(path.to_owned()).or_default().insert(kind(value));
        if OPAQUE.contains(&path) {
            return;
        }
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let child_path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    walk(&child_path, child, out);
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(&format!("{path}[]"), item, out);
                }
            }
            _ => {}
        }
    }
    let mut out = ShapeMap::new();
    walk("", value, &mut out);
    out
}

/// The path of the object or list that holds `path` (`""` for a top-level field).
fn parent(path: &str) -> &str {
    if let Some(list) = path.strip_suffix("[]") {
        return list;
    }
    path.rfind('.').map_or("", |dot| &path[..dot])
}

/// What the corpus documents for an endpoint: every path with the kinds seen, and the fields that
/// every example has wherever their parent is an object (a list's elements are never required:
/// a list may be empty).
struct Documented {
    kinds: ShapeMap,
    always: BTreeSet<String>,
}

impl Documented {
    fn of(examples: &[Value]) -> Self {
        let shapes: Vec<ShapeMap> = examples.iter().map(shape).collect();
        let mut kinds = ShapeMap::new();
        for s in &shapes {
            for (path, k) in s {
                kinds.entry(path.clone()).or_default().extend(k);
            }
        }
        let container = |s: &ShapeMap, path: &str| {
            s.get(path)
                .is_some_and(|k| k.contains("object") || k.contains("list"))
        };
        let always = kinds
            .keys()
            .filter(|path| {
                !path.is_empty()
                    && !path.ends_with("[]")
                    && shapes
                        .iter()
                        .filter(|s| container(s, parent(path)))
                        .all(|s| s.contains_key(*path))
            })
            .cloned()
            .collect();
        Self { kinds, always }
    }

    /// The differences between an answer's shape and the documented one, as sentences.
    fn differences(&self, answer: &Value) -> Vec<String> {
        let actual = shape(answer);
        let mut problems = Vec::new();
        for (path, kinds) in &actual {
            match self.kinds.get(path) {
                None => problems.push(format!("`{path}` is not in any documented example")),
                Some(documented) => {
                    for k in kinds.difference(documented) {
                        problems.push(format!(
                            "`{path}` is {k}; the documented examples have {documented:?}"
                        ));
                    }
                }
            }
        }
        for path in &self.always {
            let parent_is_container = actual
                .get(parent(path))
                .is_some_and(|k| k.contains("object") || k.contains("list"));
            if parent_is_container && !actual.contains_key(path) {
                problems.push(format!(
                    "`{path}` is missing; every documented example has it"
                ));
            }
        }
        problems
    }
}

fn documented(endpoint: Endpoint) -> Documented {
    let mut examples: Vec<Value> = answers_of(endpoint).into_iter().map(|(_, v)| v).collect();
    // A created webhook is answered as its record, the record `DELETE /webhooks/{id}` answers:
    // seed 002's delete answer is Immuta's own global webhook, with `actionType: null`, what a
    // global webhook created without one (as ours) is.
    if endpoint == Endpoint::WebhookCreate {
        examples.extend(
            answers_of(Endpoint::WebhookDelete)
                .into_iter()
                .map(|(_, record)| json!({"createdWebhooks": [record], "errors": []})),
        );
    }
    Documented::of(&examples)
}

#[test]
fn the_shape_check_fails_on_the_shapes_that_broke_us() {
    let project = documented(Endpoint::Project);
    let good = answers_of(Endpoint::Project)[0].1.clone();
    assert_eq!(project.differences(&good), Vec::<String>::new());

    // The simulator once answered with our client's assumptions: `isEqualized` in the detail and
    // `equalization` as a boolean.
    let mut assumed = good.clone();
    assumed["isEqualized"] = json!(true);
    assumed["equalization"] = json!(true);
    let problems = project.differences(&assumed);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`isEqualized` is not in any documented example")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("`equalization` is boolean")),
        "{problems:?}"
    );

    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("equalization");
    assert!(
        project
            .differences(&missing)
            .iter()
            .any(|p| p.contains("`equalization` is missing"))
    );

    // A nested difference, inside a list.
    let search = documented(Endpoint::ProjectSearch);
    let bad_hit = json!({"count": 1, "hits": [{"id": 1, "name": "x", "isEqualized": "yes", "status": "open",
        "deleted": false, "updatedAt": "t", "subscriptionPolicy": null, "createdAt": "t", "filterId": 1,
        "subscriptionType": "manual", "acknowledgeRequired": false, "subscriptionStatus": "owner",
        "purposeCount": 0, "hasDeletedPurposes": false, "workspace": null, "allowMaskedJoins": true,
        "description": "d"}]});
    let problems = search.differences(&bad_hit);
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("`hits[].isEqualized` is string")),
        "{problems:?}"
    );
}

const KEY: &str = "contract-test-key";

async fn call(
    http: &reqwest::Client,
    sim: &Simulator,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut request = http
        .request(method, format!("{}{path}", sim.url))
        .header("authorization", KEY);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

#[tokio::test]
async fn the_simulator_answers_in_the_documented_shapes() {
    let mut tenant = Tenant::demo();
    // Equalization configured once and switched off again: the detail keeps its object.
    tenant.add_project(30, "Former", false, &[1, 2]);
    tenant
        .projects
        .get_mut(&30)
        .unwrap()
        .equalization_configured = true;
    let sim = Simulator::start(tenant, KEY).await.unwrap();
    // A failed delivery, so that the history has a record.
    sim.add_webhook("http://127.0.0.1:9/", Some("secret"), Shape::Flat);
    sim.act(Action::BumpProjectPolicy { project_id: 20 })
        .await
        .unwrap();
    let http = reqwest::Client::new();
    use reqwest::Method;
    let get = |path: &'static str| call(&http, &sim, Method::GET, path, None);
    let answers: Vec<(Endpoint, Value)> = vec![
        (
            Endpoint::Authenticate,
            call(&http, &sim, Method::POST, "/bim/apikey/authenticate", Some(json!({"apikey": KEY}))).await,
        ),
        (Endpoint::DataSource, get("/dataSource/3").await),
        (Endpoint::Project, get("/project/20").await),
        (Endpoint::Project, get("/project/10").await),
        (Endpoint::Project, get("/project/30").await),
        (Endpoint::EqualizationState, get("/project/20/checkEqualizationState").await),
        (Endpoint::EqualizationState, get("/project/10/checkEqualizationState").await),
        (Endpoint::ProjectSearch, get("/project?isEqualized=true&dataSourceId=3").await),
        (Endpoint::ProjectSearch, get("/project?isEqualized=true").await),
        (Endpoint::ProjectSearch, get("/project?isEqualized=true&dataSourceId=999").await),
        (Endpoint::ProjectDataSources, get("/project/20/dataSources").await),
        (Endpoint::ProjectDataSources, get("/project/10/dataSources").await),
        (
            Endpoint::WebhookCreate,
            call(&http, &sim, Method::POST, "/webhooks", Some(json!({"webhooks": [{
                "url": "https://x/", "name": "n", "global": true, "notificationType": ["policyUpdated"]}]}))).await,
        ),
        (Endpoint::WebhookList, get("/webhooks").await),
        (Endpoint::WebhookDelete, call(&http, &sim, Method::DELETE, "/webhooks/2", None).await),
        (Endpoint::WebhookActions, get("/webhooks/actions").await),
        (Endpoint::WebhookHistory, get("/webhooks/history?successOrFailure=failure&includeGlobal=true").await),
        (Endpoint::WebhookRetry, call(&http, &sim, Method::POST, "/webhooks/history/retry/1", None).await),
    ];
    let mut problems = Vec::new();
    for (endpoint, answer) in &answers {
        if let Err(e) = endpoint.check_answer(answer) {
            problems.push(format!("{endpoint}: {e}"));
        }
        for difference in documented(*endpoint).differences(answer) {
            problems.push(format!("{endpoint}: {difference}"));
        }
    }
    assert!(
        problems.is_empty(),
        "the simulator left the documented shapes:\n{}",
        problems.join("\n")
    );
    // Immuta's default page sizes when none is asked: 10 project hits, 15 data sources.
    let mut big = Tenant::default();
    for d in 1..=40 {
        big.add_data_source(d, &format!("Source {d}"), "PostgreSQL");
    }
    for p in 1..=25 {
        big.add_project(
            p,
            &format!("Project {p}"),
            true,
            &(1..=40).collect::<Vec<_>>(),
        );
    }
    let sim = Simulator::start(big, KEY).await.unwrap();
    let search = call(&http, &sim, Method::GET, "/project?isEqualized=true", None).await;
    assert_eq!(
        (
            search["count"].as_u64(),
            search["hits"].as_array().unwrap().len()
        ),
        (Some(25), 10)
    );
    let members = call(&http, &sim, Method::GET, "/project/1/dataSources", None).await;
    assert_eq!(members["dataSources"].as_array().unwrap().len(), 15);
}
