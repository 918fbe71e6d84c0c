//! View names from `VIEW_NAME_TEMPLATE`.
//!
//! Substituted values are sanitised one by one (lower case, `[a-z0-9_]`, runs of other characters
//! become one `_`), so names are portable identifiers on every dialect and the template's own
//! separators (e.g. the `__` of the default) survive. A name in another script is transliterated
//! first (`deunicode`: "営業" → `ying_ye`, "Отчёты" → `otchioty`, "Café" → `cafe`) and, since
//! transliteration loses what set two names apart, suffixed with a short digest of the name as
//! written; a name that leaves nothing (symbols only) becomes the object's id (`p42`, `d7`).
//! Names longer than [`MAX_NAME_LEN`] (the PostgreSQL limit, the smallest of our dialects) are cut
//! and suffixed with a digest of the full name, so two long names never collide by truncation.
//! Names that still come out alike (e.g. "Orders" and "orders!") are told apart when the view is
//! applied: the second one takes [`alternate`].

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::hex;
use crate::view_sql::ViewLocation;

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
    #[error("an empty template; give a name, e.g. readers_{{project_id}}")]
    Empty,
    #[error(
        "this name is per project: its template may use {{project_id}} and {{project_name}}, not a data source's"
    )]
    NotPerProject,
    #[error(
        "a role named by {{project_name}} must have {{project_id}} too (e.g. {{project_name}}_{{project_id}}): \
         two projects whose names come out alike would share it"
    )]
    RoleByNameOnly,
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
        let parts = parse_parts(template)?;
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
        render_parts(&self.parts, names, 'v')
    }
}

/// A validated template of a name per project: a role of `VIEW_GRANT_ROLES` (that may read the
/// project's views) or the schema of `VIEW_SCHEMA` (that holds them). It may name the project
/// (`{project_id}`, `{project_name}`) or be fixed; it never names a data source. Rendered and
/// sanitised as view names are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectTemplate {
    parts: Vec<Part>,
}

impl ProjectTemplate {
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let parts = parse_parts(template.trim())?;
        if parts.is_empty() {
            return Err(TemplateError::Empty);
        }
        if parts
            .iter()
            .any(|p| matches!(p, Part::DataSourceId | Part::DataSourceName))
        {
            return Err(TemplateError::NotPerProject);
        }
        Ok(Self { parts })
    }

    /// Whether it has text of its own beside its placeholders (`views_{project_id}`), so that
    /// no project's name or id alone can name an existing schema (`public`, say).
    pub fn has_literal(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Literal(_)))
    }

    /// Comma-separated role templates (`VIEW_GRANT_ROLES`), at least one. A role that names the
    /// project by its name must name its id too: names are sanitised, and two projects whose
    /// names come out alike ("Finance", "finance!") would share a role, each reading the
    /// other's views.
    pub fn parse_roles(list: &str) -> Result<Vec<Self>, TemplateError> {
        let templates: Vec<Self> = list.split(',').map(Self::parse).collect::<Result<_, _>>()?;
        for template in &templates {
            if template.parts.contains(&Part::ProjectName)
                && !template.parts.contains(&Part::ProjectId)
            {
                return Err(TemplateError::RoleByNameOnly);
            }
        }
        Ok(templates)
    }

    pub fn render(&self, project_id: &str, project_name: &str) -> String {
        let names = NameParts {
            project_id,
            project_name,
            data_source_id: "",
            data_source_name: "",
        };
        render_parts(&self.parts, names, 'p')
    }
}

/// Where a project's views go: in `base`, or with a schema per project (`VIEW_SCHEMA` as a
/// template, `schemas`), in the schema the template names for it.
pub fn project_location(
    base: &ViewLocation,
    schemas: Option<&ProjectTemplate>,
    project_id: &str,
    project_name: &str,
) -> ViewLocation {
    match schemas {
        Some(template) => ViewLocation {
            schema: Some(template.render(project_id, project_name)),
            ..base.clone()
        },
        None => base.clone(),
    }
}

/// The roles `templates` name for a project, sorted and without repeats.
pub fn project_roles(
    templates: &[ProjectTemplate],
    project_id: &str,
    project_name: &str,
) -> Vec<String> {
    let roles: std::collections::BTreeSet<String> = templates
        .iter()
        .map(|t| t.render(project_id, project_name))
        .collect();
    roles.into_iter().collect()
}

fn parse_parts(template: &str) -> Result<Vec<Part>, TemplateError> {
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
    Ok(parts)
}

/// The name `parts` make of `names`; `fallback` alone if that is empty.
fn render_parts(parts: &[Part], names: NameParts<'_>, fallback: char) -> String {
    let mut name = String::new();
    for part in parts {
        match part {
            Part::Literal(text) => name.push_str(text),
            Part::ProjectId => push_sanitised(&mut name, names.project_id),
            Part::ProjectName => push_name(&mut name, names.project_name, 'p', names.project_id),
            Part::DataSourceId => push_sanitised(&mut name, names.data_source_id),
            Part::DataSourceName => {
                push_name(&mut name, names.data_source_name, 'd', names.data_source_id)
            }
        }
    }
    if name.is_empty() {
        name.push(fallback);
    }
    fit(name)
}

/// The other name of a view whose rendered name another view of ours holds already: the name
/// with a digest of the view's ids, so it is distinct and the same at every apply.
pub fn alternate(name: &str, project_id: &str, data_source_id: &str) -> String {
    let digest = short_digest(&[project_id, data_source_id]);
    let mut base = name.to_owned();
    base.truncate(MAX_NAME_LEN - digest.len() - 1);
    format!("{base}_{digest}")
}

/// `name`, or if it is too long, its head and a digest of it all.
fn fit(mut name: String) -> String {
    if name.len() > MAX_NAME_LEN {
        let digest = hex::encode(&Sha256::digest(name.as_bytes())[..4]);
        name.truncate(MAX_NAME_LEN - digest.len() - 1);
        name.push('_');
        name.push_str(&digest);
    }
    name
}

/// Six hex digits of a digest of `parts`.
fn short_digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hex::encode(&hasher.finalize()[..3])
}

/// Appends a name: transliterated to ASCII and sanitised; with a short digest of `value` when
/// transliteration was needed; the object's id (after `kind`) when nothing is left.
fn push_name(name: &mut String, value: &str, kind: char, id: &str) {
    let start = name.len();
    push_sanitised(name, &deunicode::deunicode(value));
    if name.len() == start {
        name.push(kind);
        push_sanitised(name, id);
    } else if !value.is_ascii() {
        name.push('_');
        name.push_str(&short_digest(&[value]));
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
            format!(
                "unicode_project_{}__a_b",
                short_digest(&["  Ünïcode--Project!! "])
            )
        );
    }

    #[test]
    fn names_in_any_script_are_transliterated_and_told_apart() {
        let t = ViewNameTemplate::default();
        let sales = t.render(parts("営業", "Orders"));
        let accounting = t.render(parts("経理", "Orders"));
        assert!(
            sales.starts_with("ying_ye_") && sales.ends_with("__orders"),
            "{sales}"
        );
        assert!(accounting.starts_with("jing_li_"), "{accounting}");
        let orders = t.render(parts("Sales", "注文"));
        let customers = t.render(parts("Sales", "顧客"));
        assert_ne!(orders, customers);
        assert!(orders.starts_with("sales__zhu_wen_"), "{orders}");
        let reports = t.render(parts("Отчёты", "Café"));
        assert!(reports.starts_with("otch"), "{reports}");
        assert!(reports.contains("__cafe_"), "{reports}");
        // Names alike once transliterated still differ: the digest is of the name as written.
        assert_ne!(
            t.render(parts("Café", "x")),
            t.render(parts("Cafe\u{301}", "x"))
        );
        // The same name renders the same name every time.
        assert_eq!(sales, t.render(parts("営業", "Orders")));
        // Nothing left: the id.
        assert_eq!(t.render(parts("!!!", "???")), "p9__d16");
        for name in [sales, accounting, orders, customers, reports] {
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            );
            assert!(name.len() <= MAX_NAME_LEN);
        }
    }

    #[test]
    fn an_alternate_name_is_distinct_stable_and_short_enough() {
        let name = "sales__orders";
        let first = alternate(name, "5", "7");
        assert!(first.starts_with("sales__orders_"), "{first}");
        assert_eq!(first, alternate(name, "5", "7"));
        assert_ne!(first, alternate(name, "5", "8"));
        let long = alternate(&"a".repeat(MAX_NAME_LEN), "5", "7");
        assert_eq!(long.len(), MAX_NAME_LEN);
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
    fn a_schema_per_project_places_each_projects_views_in_its_own() {
        use crate::dialect::Dialect;
        let base = crate::profile::view_location(Dialect::Postgres, Some("public".into()));
        let template = ProjectTemplate::parse("views_{project_name}").unwrap();
        let placed = project_location(&base, Some(&template), "10", "Sales EU");
        assert_eq!(placed.schema.as_deref(), Some("views_sales_eu"));
        assert_eq!(
            (placed.dialect, placed.rewrite, placed.barrier),
            (base.dialect, base.rewrite, base.barrier)
        );
        assert_eq!(project_location(&base, None, "10", "Sales EU"), base);
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

    #[test]
    fn role_templates_name_a_project_or_a_fixed_role() {
        let templates = ProjectTemplate::parse_roles(
            "readers_{project_id}, {project_name}_analysts_{project_id},auditors",
        )
        .unwrap();
        assert_eq!(
            project_roles(&templates, "10", "Regulated Clients!"),
            ["auditors", "readers_10", "regulated_clients_analysts_10"]
        );
        assert_eq!(
            ProjectTemplate::parse_roles("{project_name}_readers"),
            Err(TemplateError::RoleByNameOnly)
        );
        let twice = ProjectTemplate::parse_roles("r_{project_id},r_{project_id}").unwrap();
        assert_eq!(project_roles(&twice, "7", "x"), ["r_7"]);
        assert_eq!(
            ProjectTemplate::parse("r_{data_source_id}"),
            Err(TemplateError::NotPerProject)
        );
        assert_eq!(
            ProjectTemplate::parse_roles("a,,b"),
            Err(TemplateError::Empty)
        );
        assert_eq!(
            ProjectTemplate::parse("readers; DROP"),
            Err(TemplateError::BadLiteral(';'))
        );
        assert_eq!(
            ProjectTemplate::parse("{project}"),
            Err(TemplateError::UnknownPlaceholder("project".into()))
        );
        let symbols_only = ProjectTemplate::parse("{project_name}").unwrap();
        assert_eq!(symbols_only.render("42", "!!"), "p42");
        let long = ProjectTemplate::parse("{project_name}")
            .unwrap()
            .render("1", &"x".repeat(100));
        assert_eq!(long.len(), MAX_NAME_LEN);
    }
}
