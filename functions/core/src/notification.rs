//! One [`Notification`] from any of the three body shapes Immuta sends:
//!
//! 1. flat: `{"notificationType", "modelType", "modelId", "dataSourceId"?, "fields"?, …}`;
//! 2. envelope: `{"text", "attachments"?, "metadata": {…the flat object…}}`, as Immuta's webhook
//!    history stores a request;
//! 3. Marketplace: `{"timestamp", "type": "marketplace.…", "data": {"dataProductId", …}}`.
//!
//! Ids may be JSON numbers or strings. Unknown fields are ignored; unknown types are kept.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use thiserror::Error;

use crate::catalog::{ModelType, NotificationType};
use crate::signature::VerifiedBody;

/// An Immuta object id, normalised to its decimal or string form (`3` and `"3"` are equal).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Id(String);

impl Id {
    /// `None` for an empty or blank id, which names nothing.
    pub fn new(value: impl Into<String>) -> Option<Self> {
        let value = value.into();
        let trimmed = value.trim();
        if trimmed.is_empty() {
            None
        } else if trimmed.len() == value.len() {
            Some(Self(value))
        } else {
            Some(Self(trimmed.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        OptionalId::deserialize(deserializer)?
            .0
            .ok_or_else(|| de::Error::custom("an id must not be null or empty"))
    }
}

/// An id field as sent: a number, a string, null or empty (both of which mean "absent").
#[derive(Debug, Default)]
struct OptionalId(Option<Id>);

impl<'de> Deserialize<'de> for OptionalId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = OptionalId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an id (integer or string)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<OptionalId, E> {
                Ok(OptionalId(Id::new(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<OptionalId, E> {
                Ok(OptionalId(Id::new(v.to_string())))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OptionalId, E> {
                Ok(OptionalId(Id::new(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<OptionalId, E> {
                Ok(OptionalId(None))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

/// Which of the three body shapes a notification arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BodyShape {
    Flat,
    Envelope,
    Marketplace,
}

/// Hints carried in a notification's `fields`: what changed, as Immuta described it. The processor
/// never decides from them alone (it re-reads Immuta); they make logs and triage readable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hints {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
}

impl Hints {
    pub fn is_empty(&self) -> bool {
        self.disabled.is_none() && self.handler.is_none()
    }
}

/// A parsed notification, whatever shape it arrived in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub notification_type: NotificationType,
    pub shape: BodyShape,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_type: Option<ModelType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<Id>,
    /// The data source concerned: `dataSourceId`, or `modelId` of a data-source notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_source_id: Option<Id>,
    /// The project concerned: `projectId`, or `modelId` of a project notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Hints::is_empty")]
    pub hints: Hints,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("the body is not UTF-8 text")]
    NotUtf8,
    #[error("the body is not a JSON object")]
    NotAnObject,
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error(
        "the body names no notification type: expected `notificationType` (flat), \
         `metadata.notificationType` (envelope) or `type` (Marketplace)"
    )]
    MissingType,
}

/// JSON text known to be valid: it was parsed in full by serde_json (whose skipping of unknown
/// values still validates them), so it can be embedded in another document without a second pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonText<'a>(&'a str);

impl<'a> JsonText<'a> {
    /// Validates arbitrary text (for callers that did not get it from [`Notification::parse`]).
    pub fn validate(text: &'a str) -> Option<Self> {
        serde_json::from_str::<serde::de::IgnoredAny>(text)
            .ok()
            .map(|_| Self(text))
    }

    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

/// A verified body, parsed: the notification and the body's text.
#[derive(Debug, Clone)]
pub struct ParsedBody<'a> {
    pub notification: Notification,
    pub json: JsonText<'a>,
}

impl Notification {
    /// Parses a verified body.
    pub fn parse(body: VerifiedBody<'_>) -> Result<ParsedBody<'_>, ParseError> {
        let text = std::str::from_utf8(body.bytes()).map_err(|_| ParseError::NotUtf8)?;
        let notification = Self::parse_json(text)?;
        Ok(ParsedBody {
            notification,
            json: JsonText(text),
        })
    }

    /// Parses JSON text whose authenticity was established elsewhere (Immuta's webhook history,
    /// a queue message, a test fixture).
    pub fn parse_json(text: &str) -> Result<Self, ParseError> {
        // serde accepts a JSON array for a struct (fields by position); only objects are bodies.
        if !text.trim_start().starts_with('{') {
            return Err(ParseError::NotAnObject);
        }
        let wire: WireObject<'_> =
            serde_json::from_str(text).map_err(|e| ParseError::InvalidJson(e.to_string()))?;
        wire.into_notification()
    }
}

/// Every field any of the three shapes uses, at one level; an envelope's `metadata` is the same
/// object again. (One plain struct: `#[serde(flatten)]` would buffer the body and be slower.)
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireObject<'a> {
    #[serde(borrow, default)]
    notification_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    model_type: Option<Cow<'a, str>>,
    #[serde(default)]
    model_id: OptionalId,
    #[serde(default)]
    data_source_id: OptionalId,
    #[serde(default)]
    project_id: OptionalId,
    #[serde(default)]
    fields: Option<WireFields>,
    #[serde(borrow, default)]
    metadata: Option<Box<WireObject<'a>>>,
    #[serde(rename = "type", borrow, default)]
    marketplace_type: Option<Cow<'a, str>>,
    #[serde(default)]
    data: Option<WireMarketplaceData>,
}

#[derive(Deserialize)]
struct WireFields {
    #[serde(default, deserialize_with = "lenient_bool")]
    disabled: Option<bool>,
    #[serde(default, deserialize_with = "lenient_string")]
    handler: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMarketplaceData {
    #[serde(default)]
    data_product_id: OptionalId,
}

impl WireObject<'_> {
    fn into_notification(self) -> Result<Notification, ParseError> {
        if let Some(name) = &self.notification_type {
            let notification_type = NotificationType::parse(name);
            return Ok(self.into_v1(notification_type, BodyShape::Flat));
        }
        if let Some(metadata) = self.metadata
            && let Some(name) = &metadata.notification_type
        {
            let notification_type = NotificationType::parse(name);
            return Ok(metadata.into_v1(notification_type, BodyShape::Envelope));
        }
        let name = self.marketplace_type.ok_or(ParseError::MissingType)?;
        Ok(Notification {
            notification_type: NotificationType::parse(&name),
            shape: BodyShape::Marketplace,
            model_type: Some(ModelType::DataProduct),
            model_id: self.data.and_then(|d| d.data_product_id.0),
            data_source_id: None,
            project_id: None,
            hints: Hints::default(),
        })
    }

    fn into_v1(self, notification_type: NotificationType, shape: BodyShape) -> Notification {
        let model_type = self.model_type.as_deref().map(ModelType::parse);
        let model_id = self.model_id.0;
        let model_id_if = |wanted: ModelType| {
            if model_type.as_ref() == Some(&wanted) {
                model_id.clone()
            } else {
                None
            }
        };
        let data_source_id = self
            .data_source_id
            .0
            .or_else(|| model_id_if(ModelType::DataSource));
        let project_id = self
            .project_id
            .0
            .or_else(|| model_id_if(ModelType::Project));
        let hints = self
            .fields
            .map(|f| Hints {
                disabled: f.disabled,
                handler: f.handler,
            })
            .unwrap_or_default();
        Notification {
            notification_type,
            shape,
            model_type,
            model_id,
            data_source_id,
            project_id,
            hints,
        }
    }
}

/// `fields` is free-form in Immuta; a hint of an unexpected type is dropped rather than failing
/// the notification.
fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Bool(b) => Some(b),
        serde_json::Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        serde_json::Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    })
}

fn lenient_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Notification {
        Notification::parse_json(text).unwrap()
    }

    #[test]
    fn flat_data_source_notification() {
        let n = parse(
            r#"{"dataSourceName":"Customer","fields":{"disabled":true,"handler":"Snowflake"},
               "notificationType":"dataSourceUpdated","modelType":"datasource","modelId":3}"#,
        );
        assert_eq!(n.notification_type, NotificationType::DataSourceUpdated);
        assert_eq!(n.shape, BodyShape::Flat);
        assert_eq!(n.model_type, Some(ModelType::DataSource));
        assert_eq!(n.data_source_id, Id::new("3"));
        assert_eq!(n.project_id, None);
        assert_eq!(
            n.hints,
            Hints {
                disabled: Some(true),
                handler: Some("Snowflake".into())
            }
        );
    }

    #[test]
    fn membership_notification_names_both_ids_and_string_ids_equal_numbers() {
        let n = parse(
            r#"{"dataSourceId":"1","notificationType":"addedToProject","modelType":"project","modelId":7}"#,
        );
        assert_eq!(n.project_id, Id::new("7"));
        assert_eq!(n.data_source_id, Id::new("1"));
        assert_eq!(n.model_id, Id::new("7"));
    }

    #[test]
    fn envelope_uses_its_metadata() {
        let n = parse(
            r#"{"text":"Katie has created the Public project.","attachments":[],
               "metadata":{"modelId":1,"modelType":"project","notificationType":"modelCreated"}}"#,
        );
        assert_eq!(n.shape, BodyShape::Envelope);
        assert_eq!(n.notification_type, NotificationType::ModelCreated);
        assert_eq!(n.project_id, Id::new("1"));
    }

    #[test]
    fn marketplace_body() {
        let n = parse(
            r#"{"timestamp":"2025-07-22T18:16:14.608998951Z","type":"marketplace.data_product.data_sources.updated",
               "data":{"dataProductId":"12345","dataProductName":"US East Customers"}}"#,
        );
        assert_eq!(n.shape, BodyShape::Marketplace);
        assert_eq!(
            n.notification_type,
            NotificationType::MarketplaceDataSourcesUpdated
        );
        assert_eq!(n.model_type, Some(ModelType::DataProduct));
        assert_eq!(n.model_id, Id::new("12345"));
    }

    #[test]
    fn unknown_types_and_extra_fields_are_accepted() {
        let n = parse(
            r#"{"notificationType":"brandNewThing","modelType":"widget","modelId":null,"x":[1,{"y":2}]}"#,
        );
        assert_eq!(
            n.notification_type,
            NotificationType::Unknown("brandNewThing".into())
        );
        assert_eq!(n.model_type, Some(ModelType::Other("widget".into())));
        assert_eq!(n.model_id, None);
    }

    #[test]
    fn odd_hints_are_dropped_not_fatal() {
        let n = parse(
            r#"{"notificationType":"dataSourceUpdated","fields":{"disabled":"yes","handler":4}}"#,
        );
        assert_eq!(n.hints, Hints::default());
        let n = parse(r#"{"notificationType":"dataSourceUpdated","fields":{"disabled":"TRUE"}}"#);
        assert_eq!(n.hints.disabled, Some(true));
    }

    #[test]
    fn malformed_bodies_get_specific_errors() {
        assert_eq!(
            Notification::parse_json("[1,2]").unwrap_err(),
            ParseError::NotAnObject
        );
        assert_eq!(
            Notification::parse_json("\"x\"").unwrap_err(),
            ParseError::NotAnObject
        );
        assert_eq!(
            Notification::parse_json("").unwrap_err(),
            ParseError::NotAnObject
        );
        assert_eq!(
            Notification::parse_json(r#"{"text":"hi"}"#).unwrap_err(),
            ParseError::MissingType
        );
        assert!(matches!(
            Notification::parse_json("{\"a\":"),
            Err(ParseError::InvalidJson(_))
        ));
        assert!(matches!(
            Notification::parse_json("{} trailing"),
            Err(ParseError::InvalidJson(_))
        ));
        assert!(matches!(
            Notification::parse_json(r#"{"notificationType":"policyUpdated","modelId":[1]}"#),
            Err(ParseError::InvalidJson(_))
        ));
    }
}
