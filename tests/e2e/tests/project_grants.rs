//! Who may read the views (`VIEW_GRANT_ROLES`), end to end on PostgreSQL and MariaDB (when
//! TEST_POSTGRES_URL / TEST_MYSQL_URL are set; SQLite has no roles): a project's role reads its
//! views and not another project's; a grant revoked or added by hand is reported by `plan` and
//! put right by a re-sync; a dropped view takes its grants with it; a role that does not exist
//! fails its views unless `VIEW_CREATE_ROLES` creates it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use e2e::pipeline::{Database, Options, Pipeline};
use e2e::unique_name;
use immuta_simulator::actions::Action;
use immuta_simulator::tenant::Tenant;
use processor::{ProcessorConfig, Reconciler};
use sqlx::{AnyConnection, AssertSqlSafe, Connection};
use view_sync_core::plan::{Decision, Drift, RowState, Scope};

const READER_PASSWORD: &str = "reader-pw";

fn databases() -> Vec<Database> {
    Database::all()
        .into_iter()
        .filter(|db| !matches!(db, Database::Sqlite))
        .collect()
}

fn admin_url(db: &Database) -> &str {
    match db {
        Database::Postgres(url) | Database::MariaDb(url) => url,
        Database::Sqlite => unreachable!("SQLite has no roles"),
    }
}

/// The test's roles and, on MariaDB, the login that takes them on.
struct Readers {
    db: Database,
    prefix: String,
    login: String,
}

impl Readers {
    /// Roles named `<prefix>_<n>_<project id>` for this run.
    fn new(db: &Database, prefix: &str) -> Self {
        Self {
            db: db.clone(),
            prefix: unique_name(prefix),
            login: unique_name("ivs_reader"),
        }
    }

    fn role(&self, project_id: &str) -> String {
        format!("{}_{project_id}", self.prefix)
    }

    /// MariaDB: a user that may take on the test's roles (`SET ROLE`); PostgreSQL's test user
    /// is a superuser, which `SET ROLE` to a plain role leaves behind.
    async fn create_login(&self, pipeline: &Pipeline, roles: &[String]) {
        if let Database::MariaDb(_) = self.db {
            pipeline
                .run_sql(format!(
                    "CREATE USER '{}'@'%' IDENTIFIED BY '{READER_PASSWORD}'",
                    self.login
                ))
                .await;
            for role in roles {
                pipeline
                    .run_sql(format!("GRANT `{role}` TO '{}'@'%'", self.login))
                    .await;
            }
        }
    }

    /// Whether `role` may read the view `reference` names, asked of the database as that role.
    async fn can_read(&self, role: &str, reference: &str) -> Result<(), String> {
        let (url, set_role) = match &self.db {
            Database::Postgres(url) => (url.clone(), format!("SET ROLE \"{role}\"")),
            Database::MariaDb(url) => {
                let (scheme, rest) = url.split_once("://").unwrap();
                let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
                // No database: the reader may use none but through its roles.
                let host = host.split('/').next().unwrap();
                (
                    format!("{scheme}://{}:{READER_PASSWORD}@{host}", self.login),
                    format!("SET ROLE `{role}`"),
                )
            }
            Database::Sqlite => unreachable!(),
        };
        views::install_drivers();
        let mut conn = AnyConnection::connect(&url)
            .await
            .map_err(|e| e.to_string())?;
        sqlx::raw_sql(AssertSqlSafe(set_role))
            .execute(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let read = sqlx::raw_sql(AssertSqlSafe(format!("SELECT * FROM {reference} LIMIT 1")))
            .execute(&mut conn)
            .await;
        let _ = conn.close().await;
        read.map(drop).map_err(|e| e.to_string())
    }

    async fn drop_all_roles(&self, roles: &[String]) {
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(admin_url(&self.db))
            .await
            .unwrap();
        let quote = |role: &str| match self.db {
            Database::MariaDb(_) => format!("`{role}`"),
            _ => format!("\"{role}\""),
        };
        for role in roles {
            let _ = sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP ROLE IF EXISTS {}",
                quote(role)
            )))
            .execute(&pool)
            .await;
        }
        if let Database::MariaDb(_) = self.db {
            let _ = sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP USER IF EXISTS '{}'@'%'",
                self.login
            )))
            .execute(&pool)
            .await;
        }
    }
}

/// The views the ledger holds, by (project, data source).
async fn views_by_key(pipeline: &Pipeline) -> BTreeMap<(String, String), String> {
    pipeline
        .reconciler
        .store()
        .rows(&Scope::Everything)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.state == RowState::Present)
        .map(|r| {
            (
                (
                    r.view.project_id.to_string(),
                    r.view.data_source_id.to_string(),
                ),
                r.view_name,
            )
        })
        .collect()
}

/// Who holds a privilege on the view called `name`, from the catalog as the admin sees it.
async fn grantees_of(pipeline: &Pipeline, reference: &str) -> Vec<String> {
    let (schema, name) = (schema_of(reference), bare(reference));
    let sql = match pipeline.database {
        Database::MariaDb(_) => format!(
            "SELECT CAST(User AS CHAR) FROM mysql.tables_priv WHERE Db = '{schema}' AND Table_name = '{name}' \
             UNION SELECT CAST(User AS CHAR) FROM mysql.columns_priv WHERE Db = '{schema}' AND Table_name = '{name}'"
        ),
        _ => format!(
            "SELECT CAST(grantee AS TEXT) FROM information_schema.role_table_grants \
             WHERE table_schema = '{schema}' AND table_name = '{name}' AND grantee <> current_user \
             UNION SELECT CAST(grantee AS TEXT) FROM information_schema.role_column_grants \
             WHERE table_schema = '{schema}' AND table_name = '{name}' AND grantee <> current_user"
        ),
    };
    let rows: Vec<(String,)> = sqlx::query_as(AssertSqlSafe(sql))
        .fetch_all(pipeline.reconciler.store().pool())
        .await
        .unwrap();
    rows.into_iter().map(|(g,)| g).collect()
}

fn bare(reference: &str) -> String {
    let name = reference.rsplit('.').next().unwrap();
    name.trim_matches(['"', '`']).to_owned()
}

async fn plan_drift(pipeline: &Pipeline) -> Vec<(String, Decision)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let preview = cli::plan::plan(&pipeline.reconciler, deadline)
        .await
        .unwrap();
    assert!(preview.failures.is_empty(), "{:?}", preview.failures);
    let mut changes: Vec<_> = preview
        .changes
        .into_iter()
        .map(|c| (c.view_name, c.decision))
        .collect();
    changes.sort_by(|a, b| a.0.cmp(&b.0));
    changes
}

async fn resync(pipeline: &Pipeline, step: &str) {
    pipeline.queue_resync().await.unwrap();
    let stats = pipeline.drain().await;
    assert_eq!(
        stats.failed,
        0,
        "{}: {step}: {stats:?}",
        pipeline.database.name()
    );
}

fn tenant() -> Tenant {
    let mut tenant = Tenant::demo();
    tenant.add_project(30, "Everything", true, &[1, 2]);
    tenant
}

#[tokio::test]
async fn each_projects_role_reads_its_views_only_and_drift_in_grants_is_put_right() {
    for db in databases() {
        let readers = Readers::new(&db, "ivs_readers");
        let prefix = readers.prefix.clone();
        let options = Options {
            processor_env: vec![
                ("VIEW_GRANT_ROLES", format!("{prefix}_{{project_id}}")),
                ("VIEW_CREATE_ROLES", "true".to_owned()),
            ],
            ..Options::default()
        };
        let p = Pipeline::start(&db, tenant(), options).await;
        let name = db.name();
        let (role_20, role_30) = (readers.role("20"), readers.role("30"));
        let roles = [role_20.clone(), role_30.clone()];

        resync(&p, "the first re-sync").await;
        p.assert_converged("the first re-sync").await;
        readers.create_login(&p, &roles).await;
        let views = views_by_key(&p).await;
        let v20 = views[&("20".to_owned(), "3".to_owned())].clone();
        let v30 = views[&("30".to_owned(), "1".to_owned())].clone();
        let v30_2 = views[&("30".to_owned(), "2".to_owned())].clone();
        readers.can_read(&role_20, &v20).await.unwrap();
        readers.can_read(&role_30, &v30).await.unwrap();
        readers.can_read(&role_30, &v30_2).await.unwrap();
        let denied = readers.can_read(&role_20, &v30).await.unwrap_err();
        assert!(denied.contains("denied"), "{name}: {denied}");
        readers
            .can_read(&role_30, &v20)
            .await
            .expect_err("project 30's role reads project 20's view");
        assert!(plan_drift(&p).await.is_empty(), "{name}: nothing to do");

        // By hand: project 30's role loses a view of its own and gains project 20's, and
        // project 20's role gains a column of another of project 30's.
        p.run_sql(format!(
            "GRANT SELECT (policy) ON {v30_2} TO {}",
            quoted(&db, &role_20)
        ))
        .await;
        p.run_sql(format!(
            "REVOKE SELECT ON {v30} FROM {}",
            quoted(&db, &role_30)
        ))
        .await;
        p.run_sql(format!(
            "GRANT SELECT ON {v20} TO {}",
            quoted(&db, &role_30)
        ))
        .await;
        readers.can_read(&role_30, &v30).await.unwrap_err();
        readers.can_read(&role_30, &v20).await.unwrap();
        let grants_drift = Decision::Restore {
            drift: Drift::Grants,
        };
        let mut expected = vec![
            (v20.clone(), grants_drift.clone()),
            (v30.clone(), grants_drift.clone()),
            (v30_2.clone(), grants_drift),
        ];
        expected.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            plan_drift(&p).await,
            expected,
            "{name}: plan reports all three"
        );

        resync(&p, "the re-sync after the hand-made grants").await;
        readers.can_read(&role_30, &v30).await.unwrap();
        readers
            .can_read(&role_30, &v20)
            .await
            .expect_err("the hand-made grant was revoked");
        readers.can_read(&role_20, &v20).await.unwrap();
        assert_eq!(
            grantees_of(&p, &v30_2).await,
            std::slice::from_ref(&role_30),
            "{name}: the column grant was revoked"
        );
        assert!(plan_drift(&p).await.is_empty(), "{name}: put right");

        // A dropped view takes its grants with it (MariaDB would keep them for its name).
        let stats = p
            .play([Action::RemoveFromProject {
                project_id: 30,
                data_source_id: 2,
            }])
            .await;
        assert_eq!(stats.failed, 0, "{name}: {stats:?}");
        p.assert_converged("a data source removed from project 30")
            .await;
        assert_eq!(
            grantees_of(&p, &v30_2).await,
            Vec::<String>::new(),
            "{name}"
        );
        assert_eq!(
            grantees_of(&p, &v30).await,
            std::slice::from_ref(&role_30),
            "{name}"
        );

        // Roles that do not exist, and may not be created: the view fails and says why.
        let mut env: Vec<(String, String)> = p
            .processor_environment()
            .iter()
            .filter(|(k, _)| k != "VIEW_GRANT_ROLES" && k != "VIEW_CREATE_ROLES")
            .cloned()
            .collect();
        env.push((
            "VIEW_GRANT_ROLES".into(),
            format!("{prefix}_missing_{{project_id}}"),
        ));
        let strict = Reconciler::new(
            ProcessorConfig::from_lookup(|k| {
                env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
            })
            .unwrap(),
        )
        .unwrap();
        p.act(Action::BumpProjectPolicy { project_id: 20 }).await;
        let refused = p.trigger().poll_once(&strict, Duration::from_secs(5)).await;
        assert!(refused.failed > 0, "{name}: {refused:?}");
        let key = view_sync_core::keys::ReconcileKey::Project {
            project_id: view_sync_core::Id::new("20").unwrap(),
        };
        let error = strict
            .reconcile(
                &[(key, views::Cause::default())],
                Instant::now() + Duration::from_secs(20),
            )
            .await
            .remove(0)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("does not exist") && error.contains("VIEW_CREATE_ROLES"),
            "{name}: {error}"
        );
        if let Database::MariaDb(_) = db {
            let users: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM mysql.user WHERE User = '{prefix}_missing_20'"
            )))
            .fetch_one(p.reconciler.store().pool())
            .await
            .unwrap();
            assert_eq!(
                users, 0,
                "{name}: a GRANT to a missing role created no user"
            );
        }
        // PostgreSQL rolls the view's section back; MariaDB's DDL commits by itself, and the
        // view's grants were taken before the GRANT failed: nobody reads it until it applies.
        let still_reads = readers.can_read(&role_20, &v20).await;
        match db {
            Database::MariaDb(_) => assert!(still_reads.is_err(), "{name}: fails closed"),
            _ => still_reads.unwrap(),
        }

        p.finish().await;
        let mut all_roles = roles.to_vec();
        all_roles.push(format!("{prefix}_missing_20"));
        readers.drop_all_roles(&all_roles).await;
    }
}

fn quoted(db: &Database, role: &str) -> String {
    match db {
        Database::MariaDb(_) => format!("`{role}`"),
        _ => format!("\"{role}\""),
    }
}

/// How many views the catalog has in `schema`.
async fn views_in_schema(pipeline: &Pipeline, schema: &str) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM information_schema.views WHERE table_schema = '{schema}'"
    )))
    .fetch_one(pipeline.reconciler.store().pool())
    .await
    .unwrap()
}

fn drop_schema(db: &Database, schema: &str) -> String {
    match db {
        Database::MariaDb(_) => format!("DROP DATABASE IF EXISTS `{schema}`"),
        _ => format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"),
    }
}

/// The schema a reference names its view in.
fn schema_of(reference: &str) -> String {
    let (schema, _) = reference.split_once('.').expect("a qualified reference");
    schema.trim_matches(['"', '`']).to_owned()
}

#[tokio::test]
async fn a_schema_per_project_holds_its_views_and_its_role_reads_only_those() {
    for db in databases() {
        let readers = Readers::new(&db, "ivs_proj");
        let prefix = readers.prefix.clone();
        let options = Options {
            processor_env: vec![
                ("VIEW_SCHEMA", format!("{prefix}_{{project_name}}")),
                ("VIEW_GRANT_ROLES", format!("{prefix}_{{project_id}}")),
                ("VIEW_CREATE_ROLES", "true".to_owned()),
            ],
            ..Options::default()
        };
        let p = Pipeline::start(&db, tenant(), options).await;
        let name = db.name();
        let roles = [readers.role("20"), readers.role("30")];

        resync(&p, "the first re-sync").await;
        p.assert_converged("the first re-sync").await;
        let views = views_by_key(&p).await;
        let v20 = &views[&("20".to_owned(), "3".to_owned())];
        let v30 = &views[&("30".to_owned(), "1".to_owned())];
        assert_eq!(
            schema_of(v20),
            format!("{prefix}_regulated_clients"),
            "{name}"
        );
        assert_eq!(schema_of(v30), format!("{prefix}_everything"), "{name}");
        assert_eq!(
            schema_of(&views[&("30".to_owned(), "2".to_owned())]),
            schema_of(v30),
            "{name}: a project's views share its schema"
        );
        // The ledger stays in the pipeline's schema.
        let ledger_schema = p.processor_setting("LEDGER_SCHEMA").unwrap();
        assert!(
            !views.values().any(|v| schema_of(v) == ledger_schema),
            "{name}: {views:?}"
        );
        readers.create_login(&p, &roles).await;
        readers.can_read(&roles[0], v20).await.unwrap();
        readers.can_read(&roles[1], v30).await.unwrap();
        readers
            .can_read(&roles[0], v30)
            .await
            .expect_err("project 20's role reads project 30's view");
        // Not only for want of USAGE on the other schema: each view is its own project's.
        assert_eq!(grantees_of(&p, v20).await, [roles[0].clone()], "{name}");
        assert_eq!(grantees_of(&p, v30).await, [roles[1].clone()], "{name}");
        // Every schema's views are in the catalog as applied: nothing to do.
        assert!(plan_drift(&p).await.is_empty(), "{name}");
        assert_eq!(p.database_views().await, p.ledger_views().await, "{name}");

        // A renamed project (Immuta sends no notification we act on: a re-sync finds it) moves
        // its views to the schema of its new name.
        p.simulator.tenant().projects.get_mut(&30).unwrap().name = "Everything Else".into();
        resync(&p, "a project renamed").await;
        p.assert_converged("a project renamed").await;
        let moved = views_by_key(&p).await;
        let v30 = &moved[&("30".to_owned(), "1".to_owned())];
        assert_eq!(
            schema_of(v30),
            format!("{prefix}_everything_else"),
            "{name}"
        );
        readers.can_read(&roles[1], v30).await.unwrap();
        assert_eq!(p.database_views().await, p.ledger_views().await, "{name}");
        let old_schema = format!("{prefix}_everything");
        assert_eq!(
            views_in_schema(&p, &old_schema).await,
            0,
            "{name}: the views left the old schema"
        );

        p.run_sql(drop_schema(&db, &old_schema)).await;
        p.finish().await;
        readers.drop_all_roles(&roles).await;
    }
}
