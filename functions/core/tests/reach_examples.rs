//! The sample bodies of the types whose payloads Immuta does not document (events/webhooks/,
//! `*.ours.json`) parse, and ask for what the README's table says; a body of no shape we know
//! is no notification (the receiver queues a re-sync for it).

use view_sync_core::keys::{Reaction, ReconcileKey, reaction_to};
use view_sync_core::{Id, Notification, NotificationType, ParseError};

macro_rules! event {
    ($name:literal) => {
        include_str!(concat!("../../../events/webhooks/", $name))
    };
}

fn reaction(body: &str) -> Reaction {
    reaction_to(&Notification::parse_json(body).expect("a notification")).expect("its ids")
}

fn id(value: &str) -> Id {
    Id::new(value).unwrap()
}

#[test]
fn a_policy_adjustment_reconciles_the_project_it_names() {
    let body = event!("policyAdjustmentCreated-project.ours.json");
    let n = Notification::parse_json(body).unwrap();
    assert_eq!(
        n.notification_type,
        NotificationType::PolicyAdjustmentCreated
    );
    assert_eq!(
        reaction(body),
        Reaction::Key(ReconcileKey::Project {
            project_id: id("1")
        })
    );
}

#[test]
fn a_native_view_update_reconciles_its_data_source() {
    assert_eq!(
        reaction(event!("nativeViewUpdated-datasource.ours.json")),
        Reaction::Key(ReconcileKey::DataSource {
            data_source_id: id("1")
        })
    );
}

#[test]
fn a_governance_settings_update_re_syncs_every_project() {
    assert_eq!(
        reaction(event!("governanceSettingsUpdated.ours.json")),
        Reaction::ResyncAll
    );
}

#[test]
fn a_text_and_attachments_body_is_no_notification() {
    assert_eq!(
        Notification::parse_json(event!("unclassifiable-text-attachments.ours.json")),
        Err(ParseError::MissingType)
    );
}
