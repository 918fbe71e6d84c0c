//! What keeps a view's readers from the rows its filter excludes. A reader may put any function,
//! operator or error into their own query over the view; a database that evaluated the reader's
//! condition on a row before the view's filter had ruled the row out would hand that row to the
//! reader's code (a function with a side effect, an error raised only for some values), and a
//! database that searched the base table by the reader's value (an index) before applying the
//! view's filter would tell, through the plan's row counts, the statistics views or the time it
//! took, whether a hidden row holds that value.
//!
//! So a view whose query can exclude rows is worked out in full before a reader's condition
//! touches it:
//! - PostgreSQL: `WITH (security_barrier = true)` and a top-level `OFFSET 0`. The barrier keeps
//!   a reader's functions off hidden rows and the planner's statistics of the base tables out of
//!   the estimates of a reader's conditions; the `OFFSET` keeps every condition of the reader's,
//!   even one PostgreSQL deems leakproof (`=`, `<` on text and numbers), out of the view, where
//!   it would search the hidden rows by the reader's value.
//! - MariaDB/MySQL have no barrier. A view the server merges into the reader's query, or one it
//!   materialises but pushes the reader's conditions into (MariaDB's condition pushdown into
//!   derived tables), mixes the reader's conditions with its filter. So the view is made
//!   `ALGORITHM = TEMPTABLE` with a top-level `LIMIT` (the largest the server takes, so it cuts
//!   nothing): with a `LIMIT`, the server neither merges the view nor pushes a condition into it.
//!
//! Either way the view's rows are made at each query, which costs a reader's indexed query
//! (BENCHMARKS.md). A query that only projects one table excludes no row: it keeps the server's
//! optimisations (and on PostgreSQL the barrier). `VIEW_BARRIER=false` gives them back to every
//! view where readers are trusted with what the filters leave out: MariaDB then merges views,
//! PostgreSQL keeps only the barrier. SQLite has no readers of its own: whoever can open the
//! file reads every table.

use std::ops::ControlFlow;

use sqlparser::ast::{
    CreateTableOptions, CreateView, CreateViewAlgorithm, CreateViewParams, Expr, GroupByExpr,
    Ident, LimitClause, ObjectName, ObjectNamePart, Offset, OffsetRows, Query, SetExpr, SqlOption,
    TableFactor, Value, Visit, Visitor,
};

/// The largest `LIMIT` MariaDB and MySQL take: the documented way to say "every row".
const EVERY_ROW: &str = "18446744073709551615";

/// PostgreSQL's option that makes a view a barrier.
const SECURITY_BARRIER: &str = "security_barrier";

/// A rewrite of a view's statement that keeps its readers' conditions out of the view: which one
/// a database takes, if any, is its profile's word (`view_sync_core::profile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rewrite {
    /// PostgreSQL's: `WITH (security_barrier = true)` on every view, and a top-level `OFFSET 0`
    /// on one whose query can exclude rows (unless `VIEW_BARRIER=false`).
    SecurityBarrier,
    /// MariaDB's and MySQL's: `ALGORITHM = TEMPTABLE` and a top-level `LIMIT` on a view whose
    /// query can exclude rows (unless `VIEW_BARRIER=false`); nothing on one that cannot.
    TempTable,
}

/// What a wrapped query's `CREATE VIEW` says before `VIEW` and after the view's name (each
/// empty, or a clause with the spacing it needs), as its database's profile places them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clauses {
    pub before_view: &'static str,
    pub after_name: &'static str,
}

impl Clauses {
    pub const NONE: Self = Self {
        before_view: "",
        after_name: "",
    };
}

/// How a view is protected from its readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protection {
    /// Nothing: no rewrite (SQLite), a MariaDB view that excludes no row, or MariaDB's
    /// `VIEW_BARRIER=false`.
    None,
    /// PostgreSQL: `WITH (security_barrier = true)`; `isolated`: and `OFFSET 0`.
    SecurityBarrier { isolated: bool },
    /// MariaDB/MySQL: `ALGORITHM = TEMPTABLE` and a top-level `LIMIT`.
    Materialized,
}

impl Protection {
    /// The protection a view with `query` takes from `rewrite`, with the barrier on or off.
    pub(crate) fn of(rewrite: Option<Rewrite>, barrier: bool, query: &Query) -> Self {
        let isolated = barrier && can_exclude_rows(query);
        match rewrite {
            Some(Rewrite::SecurityBarrier) => Self::SecurityBarrier { isolated },
            Some(Rewrite::TempTable) if isolated => Self::Materialized,
            Some(Rewrite::TempTable) | None => Self::None,
        }
    }

    /// Gives `query` what the protection needs of it: PostgreSQL's `OFFSET 0` or MariaDB's
    /// `LIMIT` at its top (one it has already does the same).
    pub(crate) fn apply_to_query(self, query: &mut Query) {
        if query.limit_clause.is_some() || query.fetch.is_some() {
            return;
        }
        let (limit, offset) = match self {
            Self::Materialized => (
                Some(Expr::value(Value::Number(EVERY_ROW.into(), false))),
                None,
            ),
            Self::SecurityBarrier { isolated: true } => (
                None,
                Some(Offset {
                    value: Expr::value(Value::Number("0".into(), false)),
                    rows: OffsetRows::None,
                }),
            ),
            Self::None | Self::SecurityBarrier { isolated: false } => return,
        };
        query.limit_clause = Some(LimitClause::LimitOffset {
            limit,
            offset,
            limit_by: Vec::new(),
        });
    }

    /// Gives a `CREATE VIEW` answer the protection, whatever it asked for itself: PostgreSQL's
    /// `security_barrier` set to true among its other options, MariaDB's `ALGORITHM = TEMPTABLE`.
    pub(crate) fn apply_to_view(self, view: &mut CreateView) {
        self.apply_to_query(&mut view.query);
        match self {
            Self::None => {}
            Self::SecurityBarrier { .. } => {
                let mut options = match std::mem::take(&mut view.options) {
                    CreateTableOptions::With(options) => options,
                    _ => Vec::new(),
                };
                options.retain(|option| !names_barrier(option));
                options.push(SqlOption::KeyValue {
                    key: ObjectName::from(vec![Ident::new(SECURITY_BARRIER)]),
                    value: Expr::value(Value::Boolean(true)),
                });
                view.options = CreateTableOptions::With(options);
            }
            Self::Materialized => {
                let params = view.params.get_or_insert(CreateViewParams {
                    algorithm: None,
                    definer: None,
                    security: None,
                });
                params.algorithm = Some(CreateViewAlgorithm::TempTable);
            }
        }
    }

    /// What a wrapped query's `CREATE VIEW` says before `VIEW` and after the view's name.
    pub(crate) fn clauses(self) -> Clauses {
        match self {
            Self::None => Clauses::NONE,
            Self::SecurityBarrier { .. } => Clauses {
                before_view: "",
                after_name: " WITH (security_barrier = true)",
            },
            Self::Materialized => Clauses {
                before_view: "ALGORITHM = TEMPTABLE ",
                after_name: "",
            },
        }
    }
}

/// Whether `option` sets `security_barrier`, however it is written (`"security_barrier"` too).
fn names_barrier(option: &SqlOption) -> bool {
    let name = match option {
        SqlOption::Ident(name) | SqlOption::KeyValue { key: name, .. } => name,
        _ => return false,
    };
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(ident)] => ident.value.eq_ignore_ascii_case(SECURITY_BARRIER),
        _ => false,
    }
}

/// Whether `query` can leave out a row of what it reads: anything but a projection of one table,
/// or of none (no filter, join, grouping, `DISTINCT`, limit, set operation, `WITH` or subquery). Errs on
/// the side of "yes": a view that excludes nothing pays only the materialisation.
pub(crate) fn can_exclude_rows(query: &Query) -> bool {
    if query.with.is_some()
        || query.limit_clause.is_some()
        || query.fetch.is_some()
        || !query.locks.is_empty()
        || !query.pipe_operators.is_empty()
        || has_nested_query(query)
    {
        return true;
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return true;
    };
    let groups = match &select.group_by {
        GroupByExpr::All(_) => true,
        GroupByExpr::Expressions(expressions, modifiers) => {
            !expressions.is_empty() || !modifiers.is_empty()
        }
    };
    let one_plain_table = match select.from.as_slice() {
        // Constants: no row of anything is read.
        [] => true,
        [only] if only.joins.is_empty() => matches!(
            &only.relation,
            TableFactor::Table {
                args: None,
                with_hints,
                version: None,
                with_ordinality: false,
                partitions,
                json_path: None,
                sample: None,
                ..
            } if with_hints.is_empty() && partitions.is_empty()
        ),
        _ => false,
    };
    !one_plain_table
        || groups
        || select.distinct.is_some()
        || select.top.is_some()
        || select.selection.is_some()
        || select.prewhere.is_some()
        || select.having.is_some()
        || select.qualify.is_some()
        || !select.connect_by.is_empty()
        || !select.lateral_views.is_empty()
}

/// Whether a query is nested anywhere inside `query` (a subquery, `EXISTS`, `IN (SELECT …)`).
fn has_nested_query(query: &Query) -> bool {
    struct Nested {
        queries: usize,
    }
    impl Visitor for Nested {
        type Break = ();
        fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.queries += 1;
            if self.queries > 1 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
    }
    query.visit(&mut Nested { queries: 0 }).is_break()
}

#[cfg(test)]
mod tests {
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::parser::Parser;

    use super::*;

    fn query(sql: &str) -> Query {
        match Parser::parse_sql(&MySqlDialect {}, sql).unwrap().remove(0) {
            sqlparser::ast::Statement::Query(query) => *query,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn only_a_projection_of_one_table_excludes_no_row() {
        for keeps_every_row in [
            "SELECT id, name FROM people",
            "SELECT id, MD5(email) AS email, CASE WHEN region = 'EU' THEN name END AS name FROM db.people AS p",
            "SELECT * FROM people ORDER BY id",
            "SELECT 1 AS version",
        ] {
            assert!(
                !can_exclude_rows(&query(keeps_every_row)),
                "{keeps_every_row}"
            );
        }
        for excludes in [
            "SELECT id FROM people WHERE region = 'EU'",
            "SELECT p.id FROM people p JOIN allowed a ON a.id = p.id",
            "SELECT p.id FROM people p LEFT JOIN allowed a ON a.id = p.id",
            "SELECT id FROM people, allowed",
            "SELECT region, COUNT(*) FROM people GROUP BY region",
            "SELECT region FROM people GROUP BY region HAVING COUNT(*) > 1",
            "SELECT DISTINCT region FROM people",
            "SELECT id FROM people LIMIT 10",
            "SELECT id FROM people UNION SELECT id FROM others",
            "WITH p AS (SELECT id FROM people) SELECT id FROM p",
            "SELECT id FROM (SELECT id FROM people WHERE region = 'EU') AS eu",
            "SELECT id, (SELECT MAX(id) FROM others) AS top FROM people",
            "SELECT id FROM people PARTITION (p0)",
            "SELECT 1 WHERE 1 = 0",
        ] {
            assert!(can_exclude_rows(&query(excludes)), "{excludes}");
        }
    }

    #[test]
    fn a_materialized_query_gets_a_limit_unless_it_has_one() {
        let mut filtered = query("SELECT id FROM people WHERE region = 'EU' ORDER BY id");
        Protection::Materialized.apply_to_query(&mut filtered);
        assert_eq!(
            filtered.to_string(),
            "SELECT id FROM people WHERE region = 'EU' ORDER BY id LIMIT 18446744073709551615"
        );
        let mut limited = query("SELECT id FROM people WHERE region = 'EU' LIMIT 5");
        Protection::Materialized.apply_to_query(&mut limited);
        assert!(limited.to_string().ends_with("LIMIT 5"));
        let mut union = query("SELECT id FROM a UNION SELECT id FROM b");
        Protection::Materialized.apply_to_query(&mut union);
        assert!(
            union
                .to_string()
                .ends_with("UNION SELECT id FROM b LIMIT 18446744073709551615")
        );
        let mut unprotected = query("SELECT id FROM people WHERE region = 'EU'");
        Protection::None.apply_to_query(&mut unprotected);
        assert!(!unprotected.to_string().contains("LIMIT"));
    }

    #[test]
    fn an_isolated_barrier_gets_an_offset_unless_it_has_a_limit() {
        let mut filtered = query("SELECT id FROM people WHERE region = 'EU' ORDER BY id");
        let isolated = Protection::SecurityBarrier { isolated: true };
        isolated.apply_to_query(&mut filtered);
        assert_eq!(
            filtered.to_string(),
            "SELECT id FROM people WHERE region = 'EU' ORDER BY id OFFSET 0"
        );
        let mut limited = query("SELECT id FROM people WHERE region = 'EU' LIMIT 5");
        isolated.apply_to_query(&mut limited);
        assert!(limited.to_string().ends_with("LIMIT 5"));
        let mut barrier_only = query("SELECT id FROM people WHERE region = 'EU'");
        Protection::SecurityBarrier { isolated: false }.apply_to_query(&mut barrier_only);
        assert!(!barrier_only.to_string().contains("OFFSET"));
    }

    #[test]
    fn a_security_barrier_always_holds_both_rewrites_isolate_where_rows_can_be_excluded() {
        let filtered = query("SELECT id FROM people WHERE region = 'EU'");
        let projection = query("SELECT id FROM people");
        assert_eq!(
            Protection::of(Some(Rewrite::SecurityBarrier), true, &projection),
            Protection::SecurityBarrier { isolated: false }
        );
        assert_eq!(
            Protection::of(Some(Rewrite::SecurityBarrier), true, &filtered),
            Protection::SecurityBarrier { isolated: true }
        );
        assert_eq!(
            Protection::of(Some(Rewrite::SecurityBarrier), false, &filtered),
            Protection::SecurityBarrier { isolated: false }
        );
        assert_eq!(
            Protection::of(Some(Rewrite::TempTable), true, &filtered),
            Protection::Materialized
        );
        assert_eq!(
            Protection::of(Some(Rewrite::TempTable), true, &projection),
            Protection::None
        );
        assert_eq!(
            Protection::of(Some(Rewrite::TempTable), false, &filtered),
            Protection::None
        );
        assert_eq!(Protection::of(None, true, &filtered), Protection::None);
    }
}
