//! Every webhook example of the seeds (events/webhooks/ and the request bodies kept in webhook
//! history records) parses into the notification it describes.

use view_sync_core::{BodyShape, Hints, Id, ModelType, Notification, NotificationType};

macro_rules! event {
    ($name:literal) => {
        include_str!(concat!("../../../events/webhooks/", $name))
    };
}

fn id(value: &str) -> Option<Id> {
    Id::new(value)
}

struct Expect {
    kind: NotificationType,
    shape: BodyShape,
    model: Option<ModelType>,
    data_source: Option<Id>,
    project: Option<Id>,
}

fn check(name: &str, body: &str, expect: Expect) -> Notification {
    let n = Notification::parse_json(body).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(n.notification_type, expect.kind, "{name}");
    assert_eq!(n.shape, expect.shape, "{name}");
    assert_eq!(n.model_type, expect.model, "{name}");
    assert_eq!(n.data_source_id, expect.data_source, "{name}");
    assert_eq!(n.project_id, expect.project, "{name}");
    n
}

fn flat(
    kind: NotificationType,
    model: ModelType,
    data_source: Option<&str>,
    project: Option<&str>,
) -> Expect {
    Expect {
        kind,
        shape: BodyShape::Flat,
        model: Some(model),
        data_source: data_source.and_then(id),
        project: project.and_then(id),
    }
}

#[test]
fn seed_003_notifications() {
    use NotificationType as T;
    let disabled = check(
        "dataSourceUpdated-disabled",
        event!("dataSourceUpdated-disabled.json"),
        flat(T::DataSourceUpdated, ModelType::DataSource, Some("3"), None),
    );
    assert_eq!(
        disabled.hints,
        Hints {
            disabled: Some(true),
            handler: Some("Snowflake".into())
        }
    );
    let enabled = check(
        "dataSourceUpdated-enabled",
        event!("dataSourceUpdated-enabled.json"),
        flat(T::DataSourceUpdated, ModelType::DataSource, Some("3"), None),
    );
    assert_eq!(enabled.hints.disabled, Some(false));

    for (name, body) in [
        ("addedToProject", event!("addedToProject.json")),
        ("removedFromProject", event!("removedFromProject.json")),
    ] {
        let kind = NotificationType::parse(name);
        check(
            name,
            body,
            flat(kind, ModelType::Project, Some("1"), Some("1")),
        );
    }
    for (name, body, ds) in [
        (
            "local applied",
            event!("policyUpdated-datasource-local-applied.json"),
            "2",
        ),
        (
            "local removed",
            event!("policyUpdated-datasource-local-removed.json"),
            "2",
        ),
        (
            "global applied",
            event!("policyUpdated-datasource-global-applied.json"),
            "2",
        ),
        (
            "global removed",
            event!("policyUpdated-datasource-global-removed.json"),
            "3",
        ),
    ] {
        check(
            name,
            body,
            flat(T::PolicyUpdated, ModelType::DataSource, Some(ds), None),
        );
    }
    check(
        "policyUpdated-project",
        event!("policyUpdated-project.json"),
        flat(T::PolicyUpdated, ModelType::Project, None, Some("1")),
    );
    check(
        "modelCreated-project",
        event!("modelCreated-project.json"),
        flat(T::ModelCreated, ModelType::Project, None, Some("1")),
    );
}

#[test]
fn seed_002_envelopes() {
    for (name, body, project) in [
        ("public", event!("envelope-modelCreated-public.json"), "1"),
        (
            "sheep man",
            event!("envelope-modelCreated-sheep-man.json"),
            "11",
        ),
    ] {
        check(
            name,
            body,
            Expect {
                kind: NotificationType::ModelCreated,
                shape: BodyShape::Envelope,
                model: Some(ModelType::Project),
                data_source: None,
                project: id(project),
            },
        );
    }
}

#[test]
fn seed_002_history_records_hold_parseable_requests() {
    for (name, body) in [
        (
            "history",
            include_str!("../../../events/immuta-api/webhooks-history.failure.seed-002.json"),
        ),
        (
            "retry",
            include_str!("../../../events/immuta-api/webhooks-history-retry.seed-002.json"),
        ),
    ] {
        let doc: serde_json::Value = serde_json::from_str(body).unwrap();
        let requests: Vec<&serde_json::Value> = match doc.get("records") {
            Some(records) => records
                .as_array()
                .unwrap()
                .iter()
                .map(|r| &r["request"])
                .collect(),
            None => vec![&doc["request"]],
        };
        assert!(!requests.is_empty());
        for request in requests {
            let n = Notification::parse_json(&request.to_string())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(n.shape, BodyShape::Envelope);
            assert_eq!(n.notification_type, NotificationType::ModelCreated);
        }
    }
}

#[test]
fn seed_000_001_marketplace() {
    let n = check(
        "marketplace",
        event!("marketplace-data_sources-updated.json"),
        Expect {
            kind: NotificationType::MarketplaceDataSourcesUpdated,
            shape: BodyShape::Marketplace,
            model: Some(ModelType::DataProduct),
            data_source: None,
            project: None,
        },
    );
    assert_eq!(n.model_id, id("12345"));
}
