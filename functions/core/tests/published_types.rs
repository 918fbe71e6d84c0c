//! Every notification type of Immuta's published enum (the `notificationType` enum of the
//! Swagger file in Immuta's terraform-provider-immuta repository, kept as
//! events/immuta-api/webhooks-actions.swagger.json: `ALL_NOTIFICATIONS` and the 80 types, in
//! its order) is a type the catalog knows, and one `view-sync register --types` and
//! `FORWARD_TYPES` accept.

use view_sync_core::forward::ALL_NOTIFICATIONS;
use view_sync_core::{Family, ForwardFilter, NotificationType};

const PUBLISHED: &str = include_str!("../../../events/immuta-api/webhooks-actions.swagger.json");

fn published() -> Vec<String> {
    serde_json::from_str(PUBLISHED).expect("a JSON array of names")
}

#[test]
fn the_published_enum_is_all_notifications_and_80_types() {
    let names = published();
    assert_eq!(names[0], ALL_NOTIFICATIONS);
    assert_eq!(names.len(), 81);
}

#[test]
fn every_published_type_parses_to_a_known_v1_variant() {
    for name in &published()[1..] {
        let kind = NotificationType::parse(name);
        assert!(
            !matches!(kind, NotificationType::Unknown(_)),
            "{name} is not in the catalog"
        );
        assert_eq!(kind.family(), Family::V1, "{name}");
        assert_eq!(kind.as_str(), name);
        assert!(!kind.description().is_empty(), "{name}");
    }
}

#[test]
fn register_types_accepts_each_published_type_and_all_of_them_at_once() {
    // `view-sync register --types` parses its list with ForwardFilter::parse (as FORWARD_TYPES).
    let names = published();
    for name in &names[1..] {
        assert_eq!(
            ForwardFilter::parse(name),
            Ok(ForwardFilter::Only(vec![NotificationType::parse(name)])),
            "{name}"
        );
    }
    let every = names[1..].join(",");
    match ForwardFilter::parse(&every) {
        Ok(ForwardFilter::Only(types)) => assert_eq!(types.len(), 80),
        other => panic!("{other:?}"),
    }
    // `--types all` is how the CLI asks for ALL_NOTIFICATIONS; Immuta's own spelling works too.
    assert_eq!(ForwardFilter::parse("all"), Ok(ForwardFilter::All));
    assert_eq!(ForwardFilter::parse(&names[0]), Ok(ForwardFilter::All));
}
