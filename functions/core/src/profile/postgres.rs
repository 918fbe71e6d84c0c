//! PostgreSQL 13 or newer, natively or through psqlODBC: the statements the store runs there.
//!
//! DDL is transactional: one transaction holds a view's DDL and its ledger row, and the row is
//! the view's lock (inserted as a placeholder unless there is one, then read `FOR UPDATE`).
//! The store's locks on the names a view may take and on its scopes (advisory locks) are its
//! own, beside the section (see the `views` crate's `section`).

use std::time::Duration;

use super::{
    AddIndex, AppliedSql, CatalogRead, Clauses, ColumnTypes, DropView, ErrorCode, ErrorMeaning,
    HeldGrant, LockKey, NameError, NameLimit, ParserDialect, Privilege, Profile, ReaderProtection,
    Refusals, Replace, Rewrite, Section, SessionSettings, StoreIndex, Upsert, ViewColumn, Views,
};
use crate::dialect::Dialect;

/// Views per read of the catalog ([`Profile::catalog_page`]).
const CATALOG_PAGE: usize = 500;

#[derive(Debug, Clone, Copy)]
pub struct Postgres;

impl Profile for Postgres {
    fn name(&self) -> &'static str {
        Dialect::Postgres.name()
    }

    fn parser(&self) -> ParserDialect {
        ParserDialect::PostgreSql
    }

    fn name_limit(&self) -> NameLimit {
        // NAMEDATALEN - 1; a longer name is cut, not refused, by the server.
        NameLimit::Bytes(63)
    }

    fn quote(&self, identifier: &str) -> Result<String, NameError> {
        self.name_limit().check(identifier)?;
        Ok(Dialect::Postgres.quote(identifier))
    }

    fn placeholder(&self, n: usize) -> String {
        format!("${n}")
    }

    /// Refused with [`ErrorMeaning::ColumnsDiffer`] where the new columns do not extend the old
    /// ones as they are: the store then drops and creates the view in the same transaction.
    fn replace_view(&self, view: &str, clauses: Clauses, query: &str) -> Replace {
        super::create_or_replace(view, clauses, query)
    }

    fn drop_view(&self, view: &str) -> DropView {
        super::drop_view_if_exists(view)
    }

    /// PostgreSQL keeps what others built on a view (a reader's `TEMP VIEW`, an analyst's view
    /// over ours), and serves them the new definition of a replace. A reader could otherwise
    /// hold a view at an older, less restrictive policy for as long as they like.
    fn refusals(&self) -> Option<Refusals> {
        Some(Refusals {
            lock_holders: "SELECT DISTINCT 'session ' || a.pid || ' of ' || COALESCE(quote_ident(a.usename), 'the server') || \
             ' (' || COALESCE(a.state, 'unknown') || COALESCE(', in a transaction since ' || \
             to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') || ')' \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'relation' AND l.relation = to_regclass($1) AND l.granted",
            // Each object with its kind, its schema (a temporary one is `pg_temp_N`) and its
            // owner. (The view's own rule refers to the view itself, and is no blocker.) What may
            // be depended on (the view, its row type, that type's array type) is listed first,
            // so that `pg_depend` is read by its index on what is referenced: as an `OR` with a
            // subquery on `pg_type` it was a scan of `pg_depend` that read `pg_type` once per
            // row, past 30 s when the catalog held 100,000 views' worth of rows.
            dependents: "WITH target AS (SELECT c.oid, c.reltype FROM pg_class c WHERE c.oid = to_regclass($1)), \
             referenced (refclassid, refobjid) AS ( \
               SELECT 'pg_class'::regclass::oid, t.oid FROM target t \
               UNION ALL SELECT 'pg_type'::regclass::oid, t.reltype FROM target t \
               UNION ALL SELECT 'pg_type'::regclass::oid, ty.typarray FROM target t \
                 JOIN pg_type ty ON ty.oid = t.reltype WHERE ty.typarray <> 0) \
             SELECT DISTINCT CASE WHEN d.classid = 'pg_rewrite'::regclass THEN ( \
                 SELECT CASE WHEN dc.relpersistence = 't' THEN 'temporary ' ELSE '' END || \
                   CASE dc.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'relation' END || \
                   ' ' || quote_ident(dn.nspname) || '.' || quote_ident(dc.relname) || \
                   ' (owner ' || quote_ident(pg_get_userbyid(dc.relowner)) || ')' \
                 FROM pg_rewrite r JOIN pg_class dc ON dc.oid = r.ev_class \
                 JOIN pg_namespace dn ON dn.oid = dc.relnamespace WHERE r.oid = d.objid) \
               ELSE pg_describe_object(d.classid, d.objid, d.objsubid) END AS blocker \
             FROM referenced ref JOIN pg_depend d \
               ON d.refclassid = ref.refclassid AND d.refobjid = ref.refobjid \
             CROSS JOIN target t WHERE d.deptype = 'n' \
             AND NOT EXISTS (SELECT FROM pg_rewrite own WHERE d.classid = 'pg_rewrite'::regclass \
               AND own.oid = d.objid AND own.ev_class = t.oid) \
             ORDER BY blocker",
            columns: "SELECT CAST(a.attname AS TEXT) AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, \
             CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation \
               THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END AS collation \
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             LEFT JOIN pg_collation co ON co.oid = a.attcollation \
             LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
        })
    }

    /// By setting the option it has anyway. A session that holds the view (a reader's open
    /// transaction) makes this wait, up to the section's lock timeout.
    fn lock_view(&self, view: &str) -> Option<String> {
        Some(format!(
            "ALTER VIEW IF EXISTS {view} SET (security_barrier = true)"
        ))
    }

    /// Names, types and collations as they were, so that the replace is accepted, and no rows.
    fn closed_view(&self, view: &str, columns: &[ViewColumn]) -> Option<String> {
        let select: Vec<String> = columns
            .iter()
            .map(|column| {
                let collate = column
                    .collation
                    .as_ref()
                    .map(|collation| format!(" COLLATE {collation}"))
                    .unwrap_or_default();
                format!(
                    "CAST(NULL AS {}){collate} AS {}",
                    column.type_name,
                    Dialect::Postgres.quote(&column.name)
                )
            })
            .collect();
        Some(format!(
            "CREATE OR REPLACE VIEW {view} WITH (security_barrier = true) AS SELECT {} WHERE false",
            select.join(", ")
        ))
    }

    fn reader_protection(&self) -> ReaderProtection {
        ReaderProtection::Rewritten {
            rewrite: Rewrite::SecurityBarrier,
            how: "WITH (security_barrier = true) and a top-level OFFSET 0 on a view whose query \
                  can exclude rows (view-sql's barrier)",
        }
    }

    fn ddl_is_transactional(&self) -> bool {
        true
    }

    /// `pg_get_viewdef` (the query as the server prints it back), the owner and the options.
    /// The views are chosen in a subquery, so that a page's `LIMIT` applies before
    /// `pg_get_viewdef` runs (and locks), not after it ran for every view to sort them; one is
    /// asked for by its name alone (a prepared statement's generic plan cannot use the catalog's
    /// name index for `($2 IS NULL OR …)`, and scans every relation).
    fn view_definitions(&self, schema: Option<&str>, views: Views<'_>) -> CatalogRead {
        let (names, name) = match views {
            Views::All => (") AS v".to_owned(), None),
            Views::Named(name) => (" AND c.relname = $2) AS v".to_owned(), Some(name)),
            // Compared and ordered as `name`s (in the C collation, bytes), so that the next page
            // starts right after this one's last view.
            Views::After(after) => (
                format!(
                    " AND c.relname > CAST($2 AS name) ORDER BY c.relname LIMIT {CATALOG_PAGE}) \
                     AS v ORDER BY v.relname"
                ),
                Some(after),
            ),
        };
        CatalogRead {
            statement: format!(
                "SELECT CAST(v.relname AS TEXT) AS name, \
                 pg_get_viewdef(v.oid) || '|' || pg_get_userbyid(v.relowner) || '|' || \
                 COALESCE(array_to_string(v.reloptions, ','), '') AS definition \
                 FROM (SELECT c.oid, c.relname, c.relowner, c.reloptions \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind = 'v' AND n.nspname = COALESCE($1, current_schema()){names}"
            ),
            binds: [
                Some(schema.map(str::to_owned)),
                name.map(|n| Some(n.to_owned())),
            ]
            .into_iter()
            .flatten()
            .collect(),
        }
    }

    /// Each view read is locked until its read's transaction ends, in the lock table all
    /// sessions share (`max_locks_per_transaction` × `max_connections` entries, 6,400 by
    /// default), beside the locks of the applies running at once: one read over 100,000 views
    /// runs out of them ("out of shared memory").
    fn catalog_page(&self) -> Option<usize> {
        Some(CATALOG_PAGE)
    }

    fn definition_is_the_query(&self) -> bool {
        true
    }

    /// `pg_class.relacl` and the columns' `attacl`, the owner left out (it needs no grant); an
    /// empty grantee for `PUBLIC` (everyone); a view asked for by its name alone, never `(name IS NULL OR …)`, which no index serves.
    fn view_grants(&self, schema: Option<&str>, view: Option<&str>) -> Option<CatalogRead> {
        Some(CatalogRead {
            statement: format!(
                "SELECT CAST(c.relname AS TEXT) AS name, \
                 CASE WHEN a.grantee = 0 THEN '' ELSE CAST(pg_get_userbyid(a.grantee) AS TEXT) END AS grantee, \
                 CAST(NULL AS TEXT) AS host, a.level, CASE WHEN a.is_grantable THEN 'yes' ELSE 'no' END AS grantable, \
                 'yes' AS selects, 'SELECT' AS privilege \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 CROSS JOIN LATERAL ( \
                   SELECT t.grantee, t.privilege_type, t.is_grantable, 'view' AS level FROM aclexplode(c.relacl) t \
                   UNION ALL \
                   SELECT t.grantee, t.privilege_type, t.is_grantable, 'columns' FROM pg_attribute col \
                   CROSS JOIN LATERAL aclexplode(col.attacl) t \
                   WHERE col.attrelid = c.oid AND col.attnum > 0 AND NOT col.attisdropped \
                 ) a \
                 WHERE c.relkind = 'v' AND n.nspname = COALESCE($1, current_schema()){} \
                 AND a.grantee <> c.relowner AND a.privilege_type = 'SELECT'",
                if view.is_some() {
                    " AND c.relname = $2"
                } else {
                    ""
                }
            ),
            binds: super::schema_and_view(schema, view),
        })
    }

    /// `USAGE` on the view's schema first (a view is read through its schema): granted again
    /// with each view, a no-op once held, never revoked (the schema may hold others' views).
    fn grant_select(&self, view: &str, grantee: &str) -> Vec<String> {
        let mut statements = Vec::with_capacity(2);
        if let Some((Some(schema), _)) = Dialect::Postgres.unqualified(view) {
            statements.push(format!(
                "GRANT USAGE ON SCHEMA {} TO {grantee}",
                Dialect::Postgres.quote(&schema)
            ));
        }
        statements.push(format!("GRANT SELECT ON {view} TO {grantee}"));
        statements
    }

    /// `CASCADE` takes back what the grantee granted on (privileges only: nothing is dropped);
    /// the view's revoke takes its columns' grants too.
    fn revoke(&self, view: &str, grantee: &str, held: &HeldGrant<'_>) -> Option<String> {
        (held.privilege == Privilege::Select)
            .then(|| format!("REVOKE SELECT ON {view} FROM {grantee} CASCADE"))
    }

    fn roles_found(&self, roles: &[&str]) -> Option<CatalogRead> {
        let placeholders: Vec<String> = (1..=roles.len()).map(|n| self.placeholder(n)).collect();
        Some(CatalogRead {
            statement: format!(
                "SELECT CAST(rolname AS TEXT) AS name, 'role' AS kind FROM pg_roles WHERE rolname IN ({}) \
                 UNION ALL SELECT CAST(current_user AS TEXT), 'self'",
                placeholders.join(", ")
            ),
            binds: roles.iter().map(|role| Some((*role).to_owned())).collect(),
        })
    }

    fn grantees_are_roles(&self) -> bool {
        true
    }

    fn replace_keeps_grants(&self) -> bool {
        true
    }

    fn create_schema(&self, schema: &str) -> Option<String> {
        Some(format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
    }

    /// In a block that tolerates the object made meanwhile: its unique violation would abort
    /// the section's transaction. The names are `[a-z0-9_]` from a template, safe in the block.
    fn tolerating_a_concurrent_create(&self, create: String) -> String {
        format!(
            "DO $$ BEGIN {create}; \
             EXCEPTION WHEN duplicate_object OR duplicate_schema OR unique_violation THEN NULL; END $$"
        )
    }

    /// `pg_namespace` lists every schema; `information_schema` only those the user may use.
    fn find_schema(&self) -> String {
        "SELECT 'found' AS found FROM pg_namespace WHERE nspname = $1".to_owned()
    }

    fn section(&self) -> Section {
        Section::LedgerRow
    }

    fn take_lock(&self, _locks: &str, _key: &LockKey, _wait: Duration) -> Option<String> {
        None
    }

    /// Literals and identifiers read as the view SQL validation read them, whatever the server's
    /// defaults.
    fn session_settings(&self) -> Option<SessionSettings> {
        Some(SessionSettings {
            statements: "SET statement_timeout = '30s'; SET standard_conforming_strings = on",
            refused_flags: None,
        })
    }

    /// Read committed, whatever the server's default: each view of a transaction that several
    /// share reads the rows and marks committed before its locks.
    fn begin_section(&self) -> &'static str {
        "BEGIN ISOLATION LEVEL READ COMMITTED"
    }

    /// The timeouts bound every statement of the section, the first one's lock waits included.
    /// No sequential scans: a session's cached generic plan is made from the statistics of a
    /// statement's sixth run and kept until the table is analyzed, and the ledger grows from
    /// nothing during a re-sync; a plan made for an empty ledger scans all of it (30-60 ms an
    /// apply at 60,000 views, where the index takes a tenth of a millisecond). Every statement
    /// of a section looks up rows by an index, so the plan made once per session is the right
    /// one at any size (planning each run instead cost 0.5 ms a view). No JIT: a plan that
    /// cannot avoid a scan is costed past JIT's threshold, and these statements are far too
    /// small to gain from compiling.
    fn section_settings(&self, wait: Duration) -> Option<String> {
        let timeout = wait.as_millis().max(1);
        Some(format!(
            "SET LOCAL lock_timeout = '{timeout}ms'; \
             SET LOCAL statement_timeout = '{timeout}ms'; \
             SET LOCAL enable_seqscan = off; SET LOCAL jit = off"
        ))
    }

    fn release_lock(&self, _key: &LockKey) -> Option<String> {
        None
    }

    fn column_types(&self) -> ColumnTypes {
        super::STANDARD_TYPES
    }

    /// Two processes making it at once: one of them may fail with [`ErrorMeaning::Exists`]
    /// (the catalog's unique index on type names) in spite of `IF NOT EXISTS`.
    fn create_ledger(&self, table: &str) -> String {
        super::create_ledger_if_absent(self, table)
    }

    /// Looked for first, without a lock: `CREATE INDEX IF NOT EXISTS` takes a share lock on the
    /// table before it looks, and would wait for each open section that wrote to the table
    /// while every later section queued behind it. Made in the table's schema.
    fn add_index(&self, index: &StoreIndex<'_>) -> Result<AddIndex, NameError> {
        let StoreIndex { schema, name, .. } = *index;
        Ok(AddIndex {
            find: Some(CatalogRead {
                statement: "SELECT CAST(to_regclass($1) AS TEXT)".to_owned(),
                binds: vec![Some(Dialect::Postgres.qualified(schema, name))],
            }),
            create: format!(
                "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
                Dialect::Postgres.quote(name),
                Dialect::Postgres.qualified(schema, index.table),
                index.column
            ),
        })
    }

    fn upsert_ledger_row(&self, table: &str, applied_sql: AppliedSql) -> Upsert {
        super::upsert_on_conflict(self, table, applied_sql)
    }

    fn error_meaning(&self, code: ErrorCode<'_>) -> Option<ErrorMeaning> {
        let sqlstate = code.sqlstate?;
        match sqlstate {
            // lock_not_available (lock_timeout), query_canceled (statement_timeout),
            // deadlock_detected.
            "55P03" | "57014" | "40P01" => Some(ErrorMeaning::LockWait),
            // invalid_authorization_specification and its subclasses (28P01: a wrong password).
            _ if sqlstate.starts_with("28") => Some(ErrorMeaning::LoginRefused),
            "42P01" => Some(ErrorMeaning::Absent),
            // duplicate_table; unique_violation of the catalog's own index, where two sessions
            // made the same object at once.
            "42P07" | "23505" | "42710" => Some(ErrorMeaning::Exists),
            // undefined_object: a role that does not exist.
            "42704" => Some(ErrorMeaning::GranteeMissing),
            // invalid_table_definition (a replace whose columns differ).
            "42P16" => Some(ErrorMeaning::ColumnsDiffer),
            "2BP01" => Some(ErrorMeaning::OthersDepend),
            _ => None,
        }
    }
}
