//! A tolerant reader of Immuta's answers (`IMMUTA_API.md`): only the fields a model needs are
//! looked at, so fields we do not use never make an answer unreadable, whatever their type; ids
//! and counts may be numbers or strings; a field we need that is missing or of another type is a
//! [`ShapeError`] that names the endpoint and the field.

use serde_json::{Map, Value};
use thiserror::Error;
use view_sync_core::Id;

use crate::endpoint::Endpoint;

/// An answer that does not have the shape we read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("Immuta's answer to {endpoint} does not have the documented shape: `{field}` {problem}")]
pub struct ShapeError {
    pub endpoint: Endpoint,
    /// The field's path in the answer, e.g. `hits[2].id`; `(answer)` for the whole answer.
    pub field: String,
    pub problem: String,
}

/// The fields of one JSON object of an answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields<'a> {
    endpoint: Endpoint,
    /// Where this object sits in the answer (`""` at the top, `hits[2].` in a list).
    path: &'a str,
    map: &'a Map<String, Value>,
}

/// The JSON type of a value, as an error names it.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

impl<'a> Fields<'a> {
    /// The answer itself, which must be a JSON object.
    pub fn of(endpoint: Endpoint, answer: &'a Value) -> Result<Self, ShapeError> {
        Self::at(endpoint, "", answer)
    }

    fn at(endpoint: Endpoint, path: &'a str, value: &'a Value) -> Result<Self, ShapeError> {
        match value {
            Value::Object(map) => Ok(Self {
                endpoint,
                path,
                map,
            }),
            other => Err(ShapeError {
                endpoint,
                field: if path.is_empty() {
                    "(answer)".into()
                } else {
                    path.trim_end_matches('.').to_owned()
                },
                problem: format!("is {} where an object was expected", kind(other)),
            }),
        }
    }

    fn error(&self, name: &str, problem: impl Into<String>) -> ShapeError {
        ShapeError {
            endpoint: self.endpoint,
            field: format!("{}{name}", self.path),
            problem: problem.into(),
        }
    }

    fn mistyped(&self, name: &str, value: &Value, expected: &str) -> ShapeError {
        self.error(
            name,
            format!("is {} where {expected} was expected", kind(value)),
        )
    }

    /// The value, unless absent or null.
    fn present(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    /// A required id: a number or a non-blank string.
    pub fn id(&self, name: &str) -> Result<Id, ShapeError> {
        let value = self
            .present(name)
            .ok_or_else(|| self.error(name, "is missing"))?;
        let text = match value {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            other => return Err(self.mistyped(name, other, "an id (a number or a string)")),
        };
        Id::new(text).ok_or_else(|| self.error(name, "is blank"))
    }

    /// An id (a number or a non-blank string), absent or null.
    pub fn optional_id(&self, name: &str) -> Result<Option<Id>, ShapeError> {
        match self.present(name) {
            None => Ok(None),
            Some(_) => self.id(name).map(Some),
        }
    }

    /// A required string.
    pub fn text(&self, name: &str) -> Result<String, ShapeError> {
        self.optional_text(name)?
            .ok_or_else(|| self.error(name, "is missing"))
    }

    /// A string, absent or null.
    pub fn optional_text(&self, name: &str) -> Result<Option<String>, ShapeError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.mistyped(name, other, "a string")),
        }
    }

    /// A boolean (or the strings `"true"`/`"false"`), absent or null.
    pub fn flag(&self, name: &str) -> Result<Option<bool>, ShapeError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(other) => Err(self.mistyped(name, other, "a boolean")),
        }
    }

    /// A count (a non-negative number, or one written as a string), absent or null.
    pub fn count(&self, name: &str) -> Result<Option<u64>, ShapeError> {
        let expected = "a count (a number or a numeric string)";
        match self.present(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.error(name, format!("is {n}, not a count"))),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| self.error(name, format!("is {s:?}, not {expected}"))),
            Some(other) => Err(self.mistyped(name, other, expected)),
        }
    }

    /// A required list; `read` turns each element into an item.
    pub fn list<T>(
        &self,
        name: &str,
        read: impl Fn(Fields<'_>) -> Result<T, ShapeError>,
    ) -> Result<Vec<T>, ShapeError> {
        match self.present(name) {
            None => Err(self.error(name, "is missing")),
            Some(Value::Array(items)) => {
                read_list(self.endpoint, &format!("{}{name}", self.path), items, read)
            }
            Some(other) => Err(self.mistyped(name, other, "a list")),
        }
    }

    /// Any value, for fields kept as they are (e.g. a delivery's request).
    pub fn raw(&self, name: &str) -> Option<&'a Value> {
        self.present(name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }
}

/// Reads every element of a list of objects; errors name the element (`hits[3].id`).
pub(crate) fn read_list<T>(
    endpoint: Endpoint,
    path: &str,
    items: &[Value],
    read: impl Fn(Fields<'_>) -> Result<T, ShapeError>,
) -> Result<Vec<T>, ShapeError> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let item_path = format!("{path}[{index}].");
            read(Fields::at(endpoint, &item_path, item)?)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const E: Endpoint = Endpoint::Project;

    #[test]
    fn ids_and_counts_may_be_numbers_or_strings() {
        let answer = json!({"id": 3, "other": "4", "count": "12", "n": 5});
        let f = Fields::of(E, &answer).unwrap();
        assert_eq!(f.id("id").unwrap().as_str(), "3");
        assert_eq!(f.id("other").unwrap().as_str(), "4");
        assert_eq!(f.count("count").unwrap(), Some(12));
        assert_eq!(f.count("n").unwrap(), Some(5));
        assert_eq!(f.count("absent").unwrap(), None);
    }

    #[test]
    fn errors_name_the_endpoint_and_the_field() {
        let answer =
            json!({"id": {"x": 1}, "deleted": {}, "name": null, "hits": [{"id": 1}, {"id": []}]});
        let f = Fields::of(E, &answer).unwrap();
        let err = f.id("id").unwrap_err();
        assert_eq!(err.field, "id");
        assert_eq!(
            err.to_string(),
            "Immuta's answer to GET /project/{id} does not have the documented shape: `id` is an \
             object where an id (a number or a string) was expected"
        );
        assert_eq!(f.flag("deleted").unwrap_err().field, "deleted");
        assert_eq!(f.text("name").unwrap_err().problem, "is missing");
        let err = f.list("hits", |item| item.id("id")).unwrap_err();
        assert_eq!(err.field, "hits[1].id");
        assert_eq!(
            f.list("nope", |item| item.id("id")).unwrap_err().problem,
            "is missing"
        );
        assert_eq!(Fields::of(E, &json!([1])).unwrap_err().field, "(answer)");
    }

    #[test]
    fn flags_accept_booleans_and_their_strings() {
        let answer = json!({"a": true, "b": "FALSE", "c": null, "d": 1});
        let f = Fields::of(E, &answer).unwrap();
        assert_eq!(f.flag("a").unwrap(), Some(true));
        assert_eq!(f.flag("b").unwrap(), Some(false));
        assert_eq!(f.flag("c").unwrap(), None);
        assert!(f.flag("d").is_err());
    }
}
