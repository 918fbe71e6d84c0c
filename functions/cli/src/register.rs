//! Registers the webhook in Immuta: a global webhook for the receiver's URL, as the guide
//! registers one. A webhook of the same name and URL that already is what we ask for is left as
//! it is; one that differs (its notification types, not global, another `actionType`) is replaced,
//! delete then create, since Immuta has no update.

use std::collections::BTreeSet;
use std::time::Instant;

use immuta::webhooks::{NewWebhook, Webhook};
use immuta::{ImmutaClient, ImmutaError};
use serde_json::{Value, json};
use view_sync_core::printable::printable;
use view_sync_core::{Id, NotificationType};

pub use crate::error::RegisterError;

/// The webhook's name in Immuta unless told otherwise.
pub const DEFAULT_NAME: &str = "immuta-view-sync";

/// The notification types the webhook subscribes to by default: those that can change views.
pub fn default_types() -> Vec<String> {
    default_types_offered(None)
}

/// [`default_types`] that the tenant offers (`GET /webhooks/actions`, when it could be read): an
/// older release lacks some newer types, and may refuse a webhook that names them.
pub fn default_types_offered(offered: Option<&[String]>) -> Vec<String> {
    NotificationType::VIEW_AFFECTING
        .iter()
        .map(|t| t.as_str().to_owned())
        .filter(|t| offered.is_none_or(|offered| offered.contains(t)))
        .collect()
}

/// The names of `types` the tenant does not offer.
pub fn not_offered(types: &[NotificationType], offered: &[String]) -> Vec<String> {
    types
        .iter()
        .map(|t| t.as_str().to_owned())
        .filter(|t| !offered.contains(t))
        .collect()
}

/// `types` as names, if the tenant offers each.
pub fn offered_only(
    types: &[NotificationType],
    offered: &[String],
) -> Result<Vec<String>, RegisterError> {
    let missing = not_offered(types, offered);
    if !missing.is_empty() {
        return Err(RegisterError::NotOffered(missing));
    }
    Ok(types.iter().map(|t| t.as_str().to_owned()).collect())
}

/// The types the guide's own registration subscribes to (seed 003): a tenant that does not offer
/// one of these cannot keep views in step.
pub const GUIDE_TYPES: [NotificationType; 4] = [
    NotificationType::DataSourceUpdated,
    NotificationType::PolicyUpdated,
    NotificationType::AddedToProject,
    NotificationType::RemovedFromProject,
];

/// The webhook to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub name: String,
    pub url: String,
    pub notification_types: Vec<String>,
    /// `None` (a global webhook, as Immuta's own), unless a tenant requires one.
    pub action_type: Option<String>,
    /// Replace a webhook of the same name and URL even if it looks the same (its secret, which
    /// Immuta never shows, may differ).
    pub replace: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    AlreadyRegistered {
        id: Id,
    },
    Created {
        id: Id,
    },
    /// The webhooks of the same name and URL were deleted, and one created in their place.
    Replaced {
        deleted: Vec<Id>,
        id: Id,
        why: String,
    },
}

/// What to do about the webhooks already registered, decided without I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Keep(Id),
    Create,
    /// Delete these (every webhook of the same name and URL), then create.
    Replace {
        delete: Vec<Id>,
        why: String,
    },
}

/// Compares the webhooks of `wanted`'s name and URL with what is asked.
pub fn decide(existing: &[Webhook], wanted: &Wanted) -> Step {
    let same: Vec<&Webhook> = existing
        .iter()
        .filter(|h| h.name == wanted.name && h.url == wanted.url)
        .collect();
    let why = match same.as_slice() {
        [] => return Step::Create,
        [hook] => match differences(hook, wanted) {
            None => return Step::Keep(hook.id.clone()),
            Some(why) => why,
        },
        hooks => format!(
            "{} webhooks have this name and URL; one is kept",
            hooks.len()
        ),
    };
    Step::Replace {
        delete: same.iter().map(|h| h.id.clone()).collect(),
        why,
    }
}

/// How a registered webhook differs from what is asked, if it does.
fn differences(hook: &Webhook, wanted: &Wanted) -> Option<String> {
    let has: BTreeSet<&str> = hook.notification_type.iter().map(String::as_str).collect();
    let asked: BTreeSet<&str> = wanted
        .notification_types
        .iter()
        .map(String::as_str)
        .collect();
    let mut why = Vec::new();
    if wanted.replace {
        why.push("--replace asks for it (e.g. a new WEBHOOK_SECRET)".to_owned());
    }
    if has != asked {
        let missing: Vec<&str> = asked.difference(&has).copied().collect();
        let extra: Vec<&str> = has.difference(&asked).copied().collect();
        why.push(format!(
            "its notification types differ (missing: {}; not asked: {})",
            list(&missing),
            list(&extra)
        ));
    }
    if hook.global == Some(false) {
        why.push("it is not global".into());
    }
    // `GET /webhooks` shows no actionType in Immuta's examples: one it does not show is not a
    // difference we can tell.
    if let Some(has) = &hook.action_type
        && wanted.action_type.as_ref() != Some(has)
    {
        why.push(format!(
            "its actionType is {has:?}, not {}",
            shown(wanted.action_type.as_deref())
        ));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

fn list(types: &[&str]) -> String {
    if types.is_empty() {
        "none".into()
    } else {
        types.join(", ")
    }
}

fn shown(action_type: Option<&str>) -> String {
    action_type.map_or_else(|| "null".into(), |t| format!("{t:?}"))
}

/// Registers `wanted` as [`decide`] says, with `secret` for its signatures. A replacement creates
/// the new webhook first and deletes the old ones after, so that no notification falls in a gap
/// (Immuta allows two webhooks of one name and URL; for a moment each notification comes twice,
/// which costs a reconcile, never a view). Deleting a webhook deletes its history: one whose
/// failed deliveries were not brought through is only replaced with `--replace` (`view-sync
/// replay` them first).
pub async fn register(
    client: &ImmutaClient,
    wanted: &Wanted,
    secret: Option<String>,
    deadline: Instant,
) -> Result<Registration, RegisterError> {
    let existing = client.list_webhooks(deadline).await?;
    let (delete, why) = match decide(&existing, wanted) {
        Step::Keep(id) => return Ok(Registration::AlreadyRegistered { id }),
        Step::Create => (Vec::new(), None),
        Step::Replace { delete, why } => (delete, Some(why)),
    };
    if !delete.is_empty() && !wanted.replace {
        let undelivered =
            crate::replay::replay(client, &wanted.name, true, None, deadline, |_, _| {})
                .await?
                .replayed
                .len();
        if undelivered > 0 {
            return Err(RegisterError::UndeliveredHistory { undelivered });
        }
    }
    let hook = NewWebhook {
        url: wanted.url.clone(),
        name: wanted.name.clone(),
        global: true,
        notification_type: wanted.notification_types.clone(),
        action_type: wanted.action_type.clone(),
        secret,
    };
    let created = client
        .create_webhooks(&[hook], deadline)
        .await
        .map_err(|error| match &wanted.action_type {
            None if refuses_a_missing_action_type(&error) => {
                RegisterError::WithoutActionType(error)
            }
            _ => error.into(),
        })?;
    let id = created
        .into_iter()
        .next()
        .map(|h| h.id)
        .ok_or_else(|| ImmutaError::Decode {
            path: "/webhooks".into(),
            detail: "Immuta created no webhook and reported no error".into(),
        })?;
    let Some(why) = why else {
        return Ok(Registration::Created { id });
    };
    for (index, old) in delete.iter().enumerate() {
        if let Err(error) = client.delete_webhook(old, deadline).await {
            return Err(RegisterError::OldNotDeleted {
                created: id,
                left: delete[index..].to_vec(),
                error,
            });
        }
    }
    Ok(Registration::Replaced {
        deleted: delete,
        id,
        why,
    })
}

/// Whether Immuta refused the webhook for its missing `actionType` (a 400 or 422, or an entry of
/// `errors`, that names it); any other refusal is passed on as it is.
fn refuses_a_missing_action_type(error: &ImmutaError) -> bool {
    match error {
        ImmutaError::Status { status, body, .. } => {
            matches!(status, 200 | 400 | 422) && body.to_ascii_lowercase().contains("actiontype")
        }
        _ => false,
    }
}

/// What `view-sync register` did, for a person.
pub fn to_text(wanted: &Wanted, registration: &Registration) -> String {
    let (name, url) = (printable(&wanted.name), printable(&wanted.url));
    match registration {
        Registration::AlreadyRegistered { id } => format!(
            "webhook {name} for {url} is already registered as asked (id {})\n",
            printable(id.as_str())
        ),
        Registration::Created { id } => format!(
            "registered webhook {name} for {url} (id {})\n",
            printable(id.as_str())
        ),
        Registration::Replaced { deleted, id, why } => format!(
            "replaced webhook {name} for {url} ({why}): {} created, then {} deleted\n",
            printable(id.as_str()),
            deleted
                .iter()
                .map(|id| printable(id.as_str()).into_owned())
                .collect::<Vec<_>>()
                .join(", "),
        ),
    }
}

/// What `view-sync register` did, for a script.
pub fn to_json(wanted: &Wanted, registration: &Registration) -> Value {
    let (id, outcome, deleted, why) = match registration {
        Registration::AlreadyRegistered { id } => (id, "unchanged", &[][..], None),
        Registration::Created { id } => (id, "created", &[][..], None),
        Registration::Replaced { deleted, id, why } => {
            (id, "replaced", deleted.as_slice(), Some(why))
        }
    };
    json!({
        "name": wanted.name,
        "url": wanted.url,
        "id": id.as_str(),
        "outcome": outcome,
        "created": outcome != "unchanged",
        "deleted": deleted.iter().map(Id::as_str).collect::<Vec<_>>(),
        "why": why,
        "notificationTypes": wanted.notification_types,
        "actionType": wanted.action_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> Id {
        Id::new(n.to_string()).unwrap()
    }

    fn hook(n: u32, name: &str, types: &[&str], action_type: Option<&str>) -> Webhook {
        Webhook {
            id: id(n),
            name: name.into(),
            url: "https://r/".into(),
            notification_type: types.iter().map(|t| (*t).to_owned()).collect(),
            global: Some(true),
            action_type: action_type.map(Into::into),
        }
    }

    fn wanted(types: &[&str]) -> Wanted {
        Wanted {
            name: "immuta-view-sync".into(),
            url: "https://r/".into(),
            notification_types: types.iter().map(|t| (*t).to_owned()).collect(),
            action_type: None,
            replace: false,
        }
    }

    #[test]
    fn only_a_refusal_that_names_the_action_type_suggests_one() {
        let status = |status, body: &str| ImmutaError::Status {
            path: "/webhooks".into(),
            status,
            body: body.into(),
        };
        assert!(refuses_a_missing_action_type(&status(
            400,
            r#"{"message":"\"actionType\" is required"}"#
        )));
        assert!(refuses_a_missing_action_type(&status(
            200,
            r#"[{"error":"ActionType must be one of triggered, received"}]"#
        )));
        assert!(!refuses_a_missing_action_type(&status(403, "actionType")));
        assert!(!refuses_a_missing_action_type(&status(
            422,
            "unknown notification type"
        )));
        assert!(!refuses_a_missing_action_type(&ImmutaError::Unauthorized {
            path: "/webhooks".into()
        }));
    }

    #[test]
    fn the_same_webhook_is_kept_and_a_new_one_created() {
        let types = ["policyUpdated", "addedToProject"];
        let ours = hook(
            4,
            "immuta-view-sync",
            &["addedToProject", "policyUpdated"],
            None,
        );
        let other = hook(5, "someone-else", &types, None);
        assert_eq!(
            decide(&[other.clone(), ours], &wanted(&types)),
            Step::Keep(id(4))
        );
        assert_eq!(decide(&[other], &wanted(&types)), Step::Create);
    }

    #[test]
    fn a_webhook_that_differs_is_replaced_saying_how() {
        let asked = wanted(&["policyUpdated", "addedToProject"]);
        let older = hook(
            4,
            "immuta-view-sync",
            &["policyUpdated", "modelCreated"],
            None,
        );
        assert_eq!(
            decide(std::slice::from_ref(&older), &asked),
            Step::Replace {
                delete: vec![id(4)],
                why: "its notification types differ (missing: addedToProject; not asked: \
                      modelCreated)"
                    .into()
            }
        );
        let triggered = hook(
            6,
            "immuta-view-sync",
            &["policyUpdated", "addedToProject"],
            Some("triggered"),
        );
        assert_eq!(
            decide(&[triggered], &asked),
            Step::Replace {
                delete: vec![id(6)],
                why: "its actionType is \"triggered\", not null".into()
            }
        );
        let mut not_global = hook(
            7,
            "immuta-view-sync",
            &["policyUpdated", "addedToProject"],
            None,
        );
        not_global.global = Some(false);
        assert!(matches!(
            decide(&[not_global], &asked),
            Step::Replace { why, .. } if why == "it is not global"
        ));
        let same = hook(
            8,
            "immuta-view-sync",
            &["policyUpdated", "addedToProject"],
            None,
        );
        let forced = Wanted {
            replace: true,
            ..asked.clone()
        };
        assert!(matches!(
            decide(std::slice::from_ref(&same), &forced),
            Step::Replace { .. }
        ));
        // Two of the same name and URL: both go, one comes back.
        assert_eq!(
            decide(&[same, older], &asked),
            Step::Replace {
                delete: vec![id(8), id(4)],
                why: "2 webhooks have this name and URL; one is kept".into()
            }
        );
    }
}
