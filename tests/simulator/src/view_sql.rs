//! View SQL as a policy engine writes it for the target database, over real base tables.
//!
//! Every data source is a table of people (`id`, `name`, `email`, `region`) with the same four
//! rows. A view applies the data source's masking policy to `email` and the project's row filter
//! (a region), and starts with constant columns naming the view and its policy versions:
//!
//! ```sql
//! SELECT '2' AS data_source_id, 'Customer' AS data_source_name, '10' AS project_id,
//!        'Demo Project' AS project_name, 'ds2-p1' AS policy,
//!        t.id, t.name, '***' || substr(t.email, instr(t.email, '@')) AS email, t.region
//! FROM "customer" AS t WHERE t.region = 'EU'
//! ```

use serde::{Deserialize, Serialize};

/// The dialect view SQL is written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqlDialect {
    #[default]
    Sqlite,
    Postgres,
    /// MariaDB and MySQL.
    Mysql,
}

/// The data policy on the `email` column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Masking {
    /// Shown as stored.
    Clear,
    /// The local part hidden: `***@example.com`.
    #[default]
    Partial,
    /// Replaced by a constant.
    Redacted,
}

impl Masking {
    /// The next policy in the cycle a generic "policy changed" walks through.
    pub fn next(self) -> Self {
        match self {
            Self::Partial => Self::Redacted,
            Self::Redacted => Self::Clear,
            Self::Clear => Self::Partial,
        }
    }
}

/// The regions a project's row filter cycles through (`None`: every row).
pub fn next_region(region: Option<&str>) -> Option<String> {
    match region {
        None => Some("EU".into()),
        Some("EU") => Some("US".into()),
        Some(_) => None,
    }
}

/// The rows of every base table: two in each region, so a filtered view is never empty.
pub const ROWS: [(i64, &str, &str, &str); 4] = [
    (1, "Ada Lovelace", "ada@example.com", "EU"),
    (2, "Grace Hopper", "grace@example.org", "US"),
    (3, "Alan Turing", "alan@example.co.uk", "EU"),
    (4, "Katherine Johnson", "katherine@example.net", "US"),
];

impl SqlDialect {
    fn identifier(self, name: &str) -> String {
        let quote = if self == Self::Mysql { '`' } else { '"' };
        let escaped = name.replace(quote, &format!("{quote}{quote}"));
        format!("{quote}{escaped}{quote}")
    }

    /// A string literal. MariaDB also treats `\` as an escape character in literals.
    pub fn literal(self, text: &str) -> String {
        let mut escaped = text.replace('\'', "''");
        if self == Self::Mysql {
            escaped = escaped.replace('\\', "\\\\");
        }
        format!("'{escaped}'")
    }

    fn table(self, schema: Option<&str>, table: &str) -> String {
        match schema {
            Some(schema) => format!("{}.{}", self.identifier(schema), self.identifier(table)),
            None => self.identifier(table),
        }
    }

    fn email(self, masking: Masking) -> String {
        match (masking, self) {
            (Masking::Clear, _) => "t.email".into(),
            (Masking::Redacted, _) => "'REDACTED'".into(),
            (Masking::Partial, Self::Sqlite) => {
                "'***' || substr(t.email, instr(t.email, '@'))".into()
            }
            (Masking::Partial, Self::Postgres) => {
                "'***' || substr(t.email, strpos(t.email, '@'))".into()
            }
            (Masking::Partial, Self::Mysql) => {
                "CONCAT('***', SUBSTRING(t.email, LOCATE('@', t.email)))".into()
            }
        }
    }
}

/// What a view's SQL shows: its data source and project, and the policies on them.
#[derive(Debug, Clone, Copy)]
pub struct ViewOf<'a> {
    pub data_source_id: u64,
    pub data_source_name: &'a str,
    /// The data source's base table.
    pub table: &'a str,
    pub masking: Masking,
    pub project_id: u64,
    pub project_name: &'a str,
    /// The project's row filter (`None`: every row).
    pub region: Option<&'a str>,
    /// The policy versions the view carries, as a constant column.
    pub policy: &'a str,
}

pub fn view_sql(dialect: SqlDialect, schema: Option<&str>, view: ViewOf<'_>) -> String {
    let constant = |value: &str, column: &str| format!("{} AS {column}", dialect.literal(value));
    let mut sql = format!(
        "SELECT {}, {}, {}, {}, {}, t.id, t.name, {} AS email, t.region FROM {} AS t",
        constant(&view.data_source_id.to_string(), "data_source_id"),
        constant(view.data_source_name, "data_source_name"),
        constant(&view.project_id.to_string(), "project_id"),
        constant(view.project_name, "project_name"),
        constant(view.policy, "policy"),
        dialect.email(view.masking),
        dialect.table(schema, view.table),
    );
    if let Some(region) = view.region {
        sql.push_str(&format!(" WHERE t.region = {}", dialect.literal(region)));
    }
    sql
}

/// `CREATE TABLE IF NOT EXISTS` of a base table, then its rows (any old ones removed first).
pub fn base_table(dialect: SqlDialect, schema: Option<&str>, table: &str) -> Vec<String> {
    let table = dialect.table(schema, table);
    let rows: Vec<String> = ROWS
        .iter()
        .map(|(id, name, email, region)| {
            format!(
                "({id}, {}, {}, {})",
                dialect.literal(name),
                dialect.literal(email),
                dialect.literal(region)
            )
        })
        .collect();
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {table} (id INTEGER NOT NULL PRIMARY KEY, \
             name VARCHAR(100) NOT NULL, email VARCHAR(200) NOT NULL, region VARCHAR(10) NOT NULL)"
        ),
        format!("DELETE FROM {table}"),
        format!(
            "INSERT INTO {table} (id, name, email, region) VALUES {}",
            rows.join(", ")
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::Tenant;

    #[test]
    fn views_follow_masking_and_the_row_filter_per_dialect() {
        let mut t = Tenant::demo();
        t.projects.get_mut(&20).unwrap().region = Some("EU".into());
        let sql = t.view_sql(20, 3).unwrap();
        assert!(
            sql.contains("substr(t.email, instr(t.email, '@')) AS email"),
            "{sql}"
        );
        assert!(
            sql.ends_with("FROM \"date_dim\" AS t WHERE t.region = 'EU'"),
            "{sql}"
        );
        t.sql_dialect = SqlDialect::Mysql;
        t.table_schema = Some("views".into());
        t.data_sources.get_mut(&3).unwrap().masking = Masking::Redacted;
        let sql = t.view_sql(20, 3).unwrap();
        assert!(
            sql.contains("'REDACTED' AS email, t.region FROM `views`.`date_dim` AS t"),
            "{sql}"
        );
        assert_eq!(SqlDialect::Mysql.literal("a\\'b"), "'a\\\\''b'");
    }

    #[test]
    fn policies_cycle_through_every_state() {
        assert_eq!(Masking::Partial.next().next().next(), Masking::Partial);
        assert_eq!(
            next_region(next_region(next_region(None).as_deref()).as_deref()),
            None
        );
    }
}
