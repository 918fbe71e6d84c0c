//! What a body looks like, for the log line of one the receiver could not classify: its size,
//! whether it is JSON, and for a JSON object its top-level keys with the JSON type of each
//! value. Never a value: a body we do not understand may carry anything.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Keys listed at most: enough to recognise a shape, bounded whatever the body.
const MAX_KEYS: usize = 20;
/// Characters of a key shown at most.
const MAX_KEY_CHARS: usize = 64;

/// The JSON type of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl JsonKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool => "boolean",
            Self::Number => "number",
            Self::String => "string",
            Self::Array => "array",
            Self::Object => "object",
        }
    }
}

/// What a body is, as far as its outline goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outline {
    NotUtf8,
    NotJson,
    /// JSON, but not an object.
    Value(JsonKind),
    /// A JSON object: its first keys (escaped, cut) and their types, and how many more it has.
    Object {
        keys: Vec<(String, JsonKind)>,
        more: usize,
    },
}

/// A body's outline and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyOutline {
    pub bytes: usize,
    pub outline: Outline,
}

impl BodyOutline {
    pub fn of(body: &[u8]) -> Self {
        let outline = match std::str::from_utf8(body) {
            Err(_) => Outline::NotUtf8,
            Ok(text) => {
                let mut deserializer = serde_json::Deserializer::from_str(text);
                match OutlineOf::deserialize(&mut deserializer)
                    .and_then(|outline| deserializer.end().map(|()| outline))
                {
                    Ok(OutlineOf(outline)) => outline,
                    Err(_) => Outline::NotJson,
                }
            }
        };
        Self {
            bytes: body.len(),
            outline,
        }
    }
}

impl fmt::Display for BodyOutline {
    /// E.g. `a JSON object {text: string, attachments: array} of 87 bytes`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outline {
            Outline::NotUtf8 => f.write_str("not UTF-8 text")?,
            Outline::NotJson => f.write_str("not JSON")?,
            Outline::Value(kind) => write!(f, "a JSON {}", kind.as_str())?,
            Outline::Object { keys, more } => {
                f.write_str("a JSON object {")?;
                for (i, (key, kind)) in keys.iter().enumerate() {
                    let separator = if i == 0 { "" } else { ", " };
                    write!(f, "{separator}{key}: {}", kind.as_str())?;
                }
                if *more > 0 {
                    write!(f, ", … {more} more")?;
                }
                f.write_str("}")?;
            }
        }
        write!(f, " of {} bytes", self.bytes)
    }
}

/// The outline of a whole JSON document.
struct OutlineOf(Outline);

impl<'de> Deserialize<'de> for OutlineOf {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TopLevel;
        impl<'de> Visitor<'de> for TopLevel {
            type Value = Outline;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Outline, A::Error> {
                let mut keys = Vec::new();
                let mut more = 0;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let KindOf(kind) = map.next_value()?;
                    if keys.len() < MAX_KEYS {
                        let cut: String = key.chars().take(MAX_KEY_CHARS).collect();
                        keys.push((crate::printable::printable(&cut).into_owned(), kind));
                    } else {
                        more += 1;
                    }
                }
                Ok(Outline::Object { keys, more })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Outline, A::Error> {
                KindVisitor.visit_seq(seq).map(Outline::Value)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Outline, E> {
                Ok(Outline::Value(JsonKind::Null))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Outline, E> {
                Ok(Outline::Value(JsonKind::Bool))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Outline, E> {
                Ok(Outline::Value(JsonKind::Number))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Outline, E> {
                Ok(Outline::Value(JsonKind::Number))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Outline, E> {
                Ok(Outline::Value(JsonKind::Number))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Outline, E> {
                Ok(Outline::Value(JsonKind::String))
            }
        }
        deserializer.deserialize_any(TopLevel).map(OutlineOf)
    }
}

/// The JSON type of a value, its contents skipped (still validated, never kept).
struct KindOf(JsonKind);

impl<'de> Deserialize<'de> for KindOf {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KindVisitor).map(KindOf)
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = JsonKind;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<JsonKind, E> {
        Ok(JsonKind::Null)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<JsonKind, E> {
        Ok(JsonKind::Bool)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<JsonKind, E> {
        Ok(JsonKind::Number)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<JsonKind, E> {
        Ok(JsonKind::Number)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<JsonKind, E> {
        Ok(JsonKind::Number)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<JsonKind, E> {
        Ok(JsonKind::String)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonKind, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(JsonKind::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonKind, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(JsonKind::Object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(body: &[u8]) -> String {
        BodyOutline::of(body).to_string()
    }

    #[test]
    fn an_object_shows_its_keys_and_their_types_never_their_values() {
        let body = br#"{"text":"Steve Touw has deleted the test data source.","attachments":[{"text":"secret"}],"n":1,"ok":true,"none":null,"meta":{"a":1}}"#;
        let text = shown(body);
        assert_eq!(
            text,
            format!(
                "a JSON object {{text: string, attachments: array, n: number, ok: boolean, none: null, meta: object}} of {} bytes",
                body.len()
            )
        );
        assert!(!text.contains("Steve") && !text.contains("secret"));
    }

    #[test]
    fn what_is_not_an_object_says_what_it_is() {
        assert_eq!(shown(b"[1,2,3]"), "a JSON array of 7 bytes");
        assert_eq!(shown(b"\"x\""), "a JSON string of 3 bytes");
        assert_eq!(
            shown(b"notification: policyUpdated"),
            "not JSON of 27 bytes"
        );
        assert_eq!(shown(b""), "not JSON of 0 bytes");
        assert_eq!(shown(b"{} trailing"), "not JSON of 11 bytes");
        assert_eq!(shown(&[0xff, 0xfe]), "not UTF-8 text of 2 bytes");
    }

    #[test]
    fn many_long_or_odd_keys_stay_bounded_and_printable() {
        let keys: Vec<String> = (0..25).map(|i| format!(r#""k{i}":{i}"#)).collect();
        let body = format!("{{{}}}", keys.join(","));
        let outline = BodyOutline::of(body.as_bytes());
        let Outline::Object { keys, more } = &outline.outline else {
            panic!("{outline:?}");
        };
        assert_eq!((keys.len(), *more), (MAX_KEYS, 5));
        assert!(outline.to_string().contains(", … 5 more}"));

        let long = format!(r#"{{"{}\u001b[2J":1}}"#, "k".repeat(100));
        let Outline::Object { keys, .. } = BodyOutline::of(long.as_bytes()).outline else {
            panic!("an object");
        };
        assert_eq!(keys[0].0, "k".repeat(MAX_KEY_CHARS));
        let escape = r#"{"a\u001b[2Jb":1}"#;
        let Outline::Object { keys, .. } = BodyOutline::of(escape.as_bytes()).outline else {
            panic!("an object");
        };
        assert!(!keys[0].0.contains('\u{1b}'), "{:?}", keys[0].0);
    }
}
