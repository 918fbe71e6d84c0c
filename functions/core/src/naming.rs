//! View names from `VIEW_NAME_TEMPLATE`.
//!
//! Substituted values are sanitised one by one (lower case, `[a-z0-9_]`, runs of other characters
//! become one `_`), so names are portable identifiers on every dialect and the template's own
//! separators (e.g. the `__` of the default) survive. Names longer than [`MAX_NAME_LEN`] (the
//! PostgreSQL limit, the smallest of our dialects) are cut and suffixed with a digest of the full
//! name, so two long names never collide by truncation.

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::hex;

pub const DEFAULT_TEMPLATE: &str = "{project_name}__{data_source_name}";
pub const MAX_NAME_LEN: usize = 63;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    #[error(
        "'{{{0}}}' is not a placeholder; use {{project_id}}, {{project_name}}, {{data_source_id}} or {{data_source_name}}"
    )]
    UnknownPlaceholder(String),
    #[error("an unclosed '{{' in the template")]
    Unclosed,
    #[error(
        "the template must name the project ({{project_id}} or {{project_name}}) and the data source ({{data_source_id}} or {{data_source_name}}), or views would share names"
    )]
    NotUnique,
    #[error("literal text in the template may use only letters, digits and '_' (found '{0}')")]
    BadLiteral(char),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    ProjectId,
    ProjectName,
    DataSourceId,
    DataSourceName,
}

/// A validated `VIEW_NAME_TEMPLATE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewNameTemplate {
    parts: Vec<Part>,
}

/// What a view is named after.
#[derive(Debug, Clone, Copy)]
pub struct NameParts<'a> {
    pub project_id: &'a str,
    pub project_name: &'a str,
    pub data_source_id: &'a str,
    pub data_source_name: &'a str,
}

impl Default for ViewNameTemplate {
    fn default() -> Self {
        Self::parse(DEFAULT_TEMPLATE).expect("the default template is valid")
    }
}

impl ViewNameTemplate {
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            push_literal(&mut parts, &rest[..open])?;
            let close = rest[open..].find('}').ok_or(TemplateError::Unclosed)? + open;
            let name = &rest[open + 1..close];
            parts.push(match name {
                "project_id" => Part::ProjectId,
                "project_name" => Part::ProjectName,
                "data_source_id" => Part::DataSourceId,
                "data_source_name" => Part::DataSourceName,
                _ => return Err(TemplateError::UnknownPlaceholder(name.to_owned())),
            });
            rest = &rest[close + 1..];
        }
        push_literal(&mut parts, rest)?;
        let names_project = parts
            .iter()
            .any(|p| matches!(p, Part::ProjectId | Part::ProjectName));
        let names_source = parts
            .iter()
            .any(|p| matches!(p, Part::DataSourceId | Part::DataSourceName));
        if !names_project || !names_source {
            return Err(TemplateError::NotUnique);
        }
        Ok(Self { parts })
    }

    pub fn render(&self, names: NameParts<'_>) -> String {
        let mut name = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => name.push_str(text),
                Part::ProjectId => push_sanitised(&mut name, names.project_id),
                Part::ProjectName => push_sanitised(&mut name, names.project_name),
                Part::DataSourceId => push_sanitised(&mut name, names.data_source_id),
                Part::DataSourceName => push_sanitised(&mut name, names.data_source_name),
            }
        }
        if name.is_empty() {
            name.push('v');
        }
        if name.len() > MAX_NAME_LEN {
            let digest = hex::encode(&Sha256::digest(name.as_bytes())[..4]);
            name.truncate(MAX_NAME_LEN - digest.len() - 1);
            name.push('_');
            name.push_str(&digest);
        }
        name
    }
}

fn push_literal(parts: &mut Vec<Part>, text: &str) -> Result<(), TemplateError> {
    if let Some(bad) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Err(TemplateError::BadLiteral(bad));
    }
    if !text.is_empty() {
        parts.push(Part::Literal(text.to_ascii_lowercase()));
    }
    Ok(())
}

/// Appends `value` lower-cased, with each run of characters outside `[a-z0-9]` as one `_`, and
/// no `_` at either end of the value.
fn push_sanitised(name: &mut String, value: &str) {
    let mut pending_separator = false;
    let mut wrote = false;
    for c in value.chars() {
        if c.is_ascii_alphanumeric() {
            if pending_separator && wrote {
                name.push('_');
            }
            name.push(c.to_ascii_lowercase());
            wrote = true;
            pending_separator = false;
        } else {
            pending_separator = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts<'a>(project: &'a str, source: &'a str) -> NameParts<'a> {
        NameParts {
            project_id: "9",
            project_name: project,
            data_source_id: "16",
            data_source_name: source,
        }
    }

    #[test]
    fn default_template_sanitises_each_value() {
        let t = ViewNameTemplate::default();
        assert_eq!(
            t.render(parts("Regulated Clients", "Client Contact Information")),
            "regulated_clients__client_contact_information"
        );
        assert_eq!(
            t.render(parts("  Ünïcode--Project!! ", "a.b")),
            "n_code_project__a_b"
        );
    }

    #[test]
    fn ids_and_literals() {
        let t = ViewNameTemplate::parse("v_{project_id}_{data_source_id}").unwrap();
        assert_eq!(t.render(parts("x", "y")), "v_9_16");
    }

    #[test]
    fn long_names_are_cut_with_a_digest() {
        let t = ViewNameTemplate::default();
        let long_a = t.render(parts(&"p".repeat(60), &"a".repeat(60)));
        let long_b = t.render(parts(&"p".repeat(60), &"b".repeat(60)));
        assert_eq!(long_a.len(), MAX_NAME_LEN);
        assert_ne!(long_a, long_b);
    }

    #[test]
    fn templates_are_validated() {
        assert_eq!(
            ViewNameTemplate::parse("{project}_{data_source_id}"),
            Err(TemplateError::UnknownPlaceholder("project".into()))
        );
        assert_eq!(
            ViewNameTemplate::parse("{project_name}"),
            Err(TemplateError::NotUnique)
        );
        assert_eq!(
            ViewNameTemplate::parse("{project_name}-{data_source_name}"),
            Err(TemplateError::BadLiteral('-'))
        );
        assert_eq!(
            ViewNameTemplate::parse("{project_name}_{data_source_name"),
            Err(TemplateError::Unclosed)
        );
    }
}
