//! The whole pipeline on loopback, assembled from real parts: the simulator's signed webhooks →
//! the receiver's Function URL (a shim in this process, or `cargo lambda watch`) → moto SQS (with
//! a DLQ) → the local trigger → the processor → SQLite, PostgreSQL or MariaDB.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use immuta_simulator::Simulator;
use immuta_simulator::actions::Action;
use immuta_simulator::tenant::Tenant;
use immuta_simulator::view_sql::SqlDialect;
use immuta_simulator::webhooks::Shape;
use processor::{ProcessorConfig, Reconciler};
use queue::SqsSink;
use receiver::{Receiver, ReceiverConfig};
use serde_json::json;
use sqlx::AssertSqlSafe;
use view_sync_core::plan::{RowState, Scope};

use crate::function_url::FunctionUrl;
use crate::lambda_watch::LambdaWatch;
use crate::moto::Moto;
use crate::runtime_api::LambdaProcess;
use crate::sqs::{self, Queues};
use crate::trigger::{BatchProcessor, PumpStats, Trigger, WatchedProcessor};

/// The test-only secret the samples under `events/` are signed with (`scripts/make_fixtures.py`).
pub const WEBHOOK_SECRET: &str = "immuta-view-sync-test-secret";
pub const API_KEY: &str = "pipeline-api-key";

/// A target database for one pipeline.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite,
    Postgres(String),
    MariaDb(String),
}

impl Database {
    /// SQLite always; PostgreSQL and MariaDB when TEST_POSTGRES_URL / TEST_MYSQL_URL are set.
    pub fn all() -> Vec<Database> {
        let mut all = vec![Database::Sqlite];
        if let Ok(url) = std::env::var("TEST_POSTGRES_URL") {
            all.push(Database::Postgres(url));
        }
        if let Ok(url) = std::env::var("TEST_MYSQL_URL") {
            all.push(Database::MariaDb(url));
        }
        all
    }

    /// Runs `scenario` on every database at once (each in a pipeline of its own): a test's
    /// time is then its slowest database's, not their sum.
    pub async fn each_at_once<F, Fut>(scenario: F)
    where
        F: Fn(Database) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        futures_util::future::join_all(Self::all().into_iter().map(scenario)).await;
    }

    pub fn name(&self) -> &'static str {
        match self {
            Database::Sqlite => "sqlite",
            Database::Postgres(_) => "postgres",
            Database::MariaDb(_) => "mariadb",
        }
    }

    /// The database `make demo DB=…` names: `sqlite`, `postgres`, `mariadb`, `odbc-postgres` or
    /// `odbc-mariadb`; the servers are the local ones unless `url` names another (the ODBC
    /// names through the drivers `make odbc` installs).
    pub fn named(name: &str, url: Option<String>) -> Result<Database, String> {
        if let Some(url) = &url
            && url.starts_with("odbc+") != name.starts_with("odbc-")
        {
            return Err(format!(
                "DEMO_DATABASE_URL is {} ODBC URL, and {name:?} names a database {} ODBC",
                if url.starts_with("odbc+") {
                    "an"
                } else {
                    "not an"
                },
                if name.starts_with("odbc-") {
                    "through"
                } else {
                    "not through"
                },
            ));
        }
        let local = |default: &str| url.clone().unwrap_or_else(|| default.to_owned());
        Ok(match name {
            "sqlite" => Database::Sqlite,
            "postgres" => Database::Postgres(local("postgres://postgres@127.0.0.1:5432/test")),
            "mariadb" => Database::MariaDb(local("mysql://root@127.0.0.1:3306/test")),
            "odbc-postgres" => Database::Postgres(local(
                "odbc+postgres:Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=5432;\
                 Database=test;Uid=postgres",
            )),
            "odbc-mariadb" => Database::MariaDb(local(
                "odbc+mariadb:Driver={MariaDB Unicode};Server=127.0.0.1;Port=3306;\
                 Database=test;Uid=root;CHARSET=utf8mb4",
            )),
            other => {
                return Err(format!(
                    "unknown database {other:?}: use sqlite, postgres, mariadb, odbc-postgres \
                     or odbc-mariadb"
                ));
            }
        })
    }

    /// Whether the processor reaches it through ODBC (its `odbc` feature).
    pub fn through_odbc(&self) -> bool {
        match self {
            Database::Sqlite => false,
            Database::Postgres(url) | Database::MariaDb(url) => url.starts_with("odbc+"),
        }
    }
}

/// How the Lambda functions run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// The handlers in this process, driven with `lambda_http` / `aws_lambda_events` types; fast,
    /// and what the fault-injection tests use.
    InProcess,
    /// The `receiver` and `processor` binaries under `cargo lambda watch`, configured as deployed:
    /// secrets come from (moto's) Secrets Manager at cold start.
    CargoLambdaWatch,
    /// The receiver in this process; the processor the release binary named by `PROCESSOR_BIN`,
    /// started as Lambda starts it against a stand-in Runtime API (the benchmarks: what they
    /// measure is the deployed build's).
    ReleaseProcessor,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub runtime: Runtime,
    /// The Invoke API port of `cargo lambda watch` (a free one when unset).
    pub watch_port: Option<u16>,
    pub visibility_timeout: Duration,
    pub max_receive_count: u32,
    pub batch_size: usize,
    pub function_timeout: Duration,
    pub shape: Shape,
    /// Extra processor settings (e.g. IMMUTA_MAX_ATTEMPTS, HANDLER_TYPES), in place of the
    /// pipeline's own of the same name.
    pub processor_env: Vec<(&'static str, String)>,
    /// The processor binary [`Runtime::ReleaseProcessor`] starts [default: `PROCESSOR_BIN`, else
    /// `target/release/processor`].
    pub processor_bin: Option<std::path::PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            runtime: Runtime::InProcess,
            watch_port: None,
            visibility_timeout: Duration::from_secs(1),
            max_receive_count: 3,
            batch_size: 10,
            function_timeout: Duration::from_secs(30),
            shape: Shape::Flat,
            processor_env: Vec::new(),
            processor_bin: None,
        }
    }
}

impl Options {
    /// Whether the test gives each project a schema of its own (`VIEW_SCHEMA` as a template).
    fn schema_per_project(&self) -> bool {
        self.processor_env
            .iter()
            .any(|(name, value)| *name == "VIEW_SCHEMA" && value.contains('{'))
    }
}

/// The processor of a pipeline, however it runs.
enum Processor<'a> {
    InProcess(&'a Reconciler),
    Watched(WatchedProcessor<'a>),
    Release(&'a LambdaProcess),
}

impl BatchProcessor for Processor<'_> {
    async fn process(
        &self,
        event: &serde_json::Value,
        timeout: Duration,
    ) -> Result<Vec<String>, String> {
        match self {
            Self::InProcess(reconciler) => reconciler.process(event, timeout).await,
            Self::Watched(watch) => watch.process(event, timeout).await,
            Self::Release(process) => process.process(event, timeout).await,
        }
    }
}

/// (project id, data source id, policy) of a view.
pub type ViewState = (String, String, String);

enum Functions {
    InProcess(FunctionUrl),
    Watched(LambdaWatch),
    ReleaseProcessor(FunctionUrl, LambdaProcess),
}

pub struct Pipeline {
    pub database: Database,
    pub simulator: Simulator,
    pub client: aws_sdk_sqs::Client,
    pub queues: Queues,
    /// The processor's reconciler in this process: it runs the batches with
    /// [`Runtime::InProcess`], and reads the database back in both runtimes.
    pub reconciler: Reconciler,
    /// Where the simulator delivers its webhooks: the receiver's Function URL.
    pub function_url: String,
    /// The processor's settings, secrets as plain values (as `view-sync` takes them locally).
    processor_settings: Environment,
    options: Options,
    cleanup: Option<String>,
    dir: Option<std::path::PathBuf>,
    functions: Functions,
}

impl Pipeline {
    pub async fn start(database: &Database, tenant: Tenant, options: Options) -> Pipeline {
        let moto = Moto::shared();
        let aws = sqs::sdk_config(&moto.endpoint);
        let client = aws_sdk_sqs::Client::new(&aws);
        let queues = sqs::create_with_dlq(
            &client,
            &crate::unique_name("pipeline"),
            options.visibility_timeout,
            options.max_receive_count,
        )
        .await;
        let target = Target::new(database);
        // The simulator writes view SQL for this database, over base tables in the test's schema.
        let mut tenant = tenant;
        tenant.sql_dialect = match database {
            Database::Sqlite => SqlDialect::Sqlite,
            Database::Postgres(_) => SqlDialect::Postgres,
            Database::MariaDb(_) => SqlDialect::Mysql,
        };
        tenant.table_schema = target.schema.clone();
        let simulator = Simulator::start(tenant, API_KEY)
            .await
            .expect("start the simulator");

        let mut receiver_env = environment(&[
            ("QUEUE_URL", queues.url.clone()),
            ("WEBHOOK_SECRETS", WEBHOOK_SECRET.to_owned()),
        ]);
        let mut processor_env = environment(&simulator.processor_settings());
        processor_env.extend(environment(&[
            ("DATABASE_URL", target.url.clone()),
            ("IMMUTA_TIMEOUT_MS", "2000".to_owned()),
            ("DEADLINE_MARGIN_MS", "500".to_owned()),
            // The scheduled re-sync's fan-out goes to the processor's own queue, as deployed.
            ("QUEUE_URL", queues.url.clone()),
        ]));
        if let Some(schema) = &target.schema {
            processor_env.extend(environment(&[("VIEW_SCHEMA", schema.clone())]));
        }
        // The test's settings win over the pipeline's (VIEW_SCHEMA, say).
        processor_env.retain(|(name, _)| !options.processor_env.iter().any(|(n, _)| n == name));
        processor_env.extend(environment(&options.processor_env));
        // A schema per project: the pipeline's own holds the ledger and the base tables.
        if let (Some(schema), true) = (&target.schema, options.schema_per_project()) {
            processor_env.extend(environment(&[("LEDGER_SCHEMA", schema.clone())]));
        }
        let reconciler = Reconciler::new(
            ProcessorConfig::from_lookup(|k| setting(&processor_env, k))
                .expect("processor configuration"),
        )
        .expect("reconciler")
        .with_fan_out_queue(SqsSink::new(
            &aws,
            queues.url.clone(),
            queue::command_timeouts(),
        ));
        let processor_settings = processor_env.clone();
        let base_tables = simulator.tenant().base_tables();
        create_base_tables(reconciler.store(), &base_tables).await;

        let receiver_in_process = || async {
            let config = ReceiverConfig::from_lookup(|k| setting(&receiver_env, k))
                .expect("receiver configuration");
            let sink = SqsSink::new(&aws, queues.url.clone(), queue::webhook_timeouts());
            FunctionUrl::start(Arc::new(Receiver::new(config, sink))).await
        };
        let functions = match options.runtime {
            Runtime::InProcess => Functions::InProcess(receiver_in_process().await),
            Runtime::ReleaseProcessor => {
                let binary = options.processor_bin.clone().unwrap_or_else(|| {
                    std::env::var("PROCESSOR_BIN")
                        .map(std::path::PathBuf::from)
                        .unwrap_or_else(|_| crate::repo_root().join("target/release/processor"))
                });
                let mut env = environment(&[
                    ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
                    ("AWS_REGION", "us-east-1".to_owned()),
                    ("AWS_ACCESS_KEY_ID", "moto".to_owned()),
                    ("AWS_SECRET_ACCESS_KEY", "moto".to_owned()),
                    (
                        "RUST_LOG",
                        std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()),
                    ),
                ]);
                env.extend(processor_env.iter().cloned());
                let env: Vec<(&str, String)> =
                    env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
                let processor = LambdaProcess::start(&binary, "processor", &env).await;
                Functions::ReleaseProcessor(receiver_in_process().await, processor)
            }
            Runtime::CargoLambdaWatch => {
                as_deployed(&aws, &mut receiver_env, receiver::SECRET_VARIABLES).await;
                as_deployed(&aws, &mut processor_env, processor::SECRET_VARIABLES).await;
                let mut env = environment(&[
                    ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
                    ("AWS_REGION", "us-east-1".to_owned()),
                    ("AWS_ACCESS_KEY_ID", "moto".to_owned()),
                    ("AWS_SECRET_ACCESS_KEY", "moto".to_owned()),
                ]);
                // One env file serves both functions; each reads only its own variables.
                env.extend(receiver_env);
                env.extend(processor_env);
                if let Ok(filter) = std::env::var("RUST_LOG") {
                    env.push(("RUST_LOG".to_owned(), filter));
                }
                let watch = LambdaWatch::start(&env, options.watch_port, database.through_odbc());
                let limit = Duration::from_secs(900);
                watch.warm_up_url("receiver", limit).await;
                watch
                    .warm_up_invoke("processor", &json!({"Records": []}), limit)
                    .await;
                Functions::Watched(watch)
            }
        };
        let function_url = match &functions {
            Functions::InProcess(url) | Functions::ReleaseProcessor(url, _) => url.url.clone(),
            Functions::Watched(watch) => watch.function_url("receiver"),
        };
        simulator.add_webhook(&function_url, Some(WEBHOOK_SECRET), options.shape);
        Pipeline {
            database: database.clone(),
            simulator,
            client,
            queues,
            reconciler,
            function_url,
            processor_settings,
            options,
            cleanup: target.cleanup,
            dir: target.dir,
            functions,
        }
    }

    /// What the functions printed so far under `cargo lambda watch` (log lines, EMF documents);
    /// `None` in process.
    pub fn function_output(&self) -> Option<String> {
        match &self.functions {
            Functions::InProcess(_) => None,
            Functions::Watched(watch) => Some(watch.output()),
            Functions::ReleaseProcessor(_, processor) => Some(processor.output()),
        }
    }

    /// The processor process's peak resident memory in MB ([`Runtime::ReleaseProcessor`] only).
    pub fn processor_peak_rss_mb(&self) -> Option<f64> {
        match &self.functions {
            Functions::ReleaseProcessor(_, processor) => Some(processor.peak_rss_mb()),
            _ => None,
        }
    }

    /// The processor's settings, as `view-sync` reads them from its environment.
    pub fn processor_environment(&self) -> &[(String, String)] {
        &self.processor_settings
    }

    /// One of the processor's settings (as `view-sync` would read it from its environment).
    pub fn processor_setting(&self, name: &str) -> Option<String> {
        setting(&self.processor_settings, name)
    }

    /// Changes the simulator's state; its signed webhook goes through the receiver to the queue.
    pub async fn act(&self, action: Action) {
        let deliveries = self
            .simulator
            .act(action.clone())
            .await
            .expect("known object");
        for delivery in deliveries {
            assert_eq!(
                delivery.status,
                Some(200),
                "{action:?}: the receiver answered {:?}",
                delivery.status
            );
        }
    }

    pub fn trigger(&self) -> Trigger<'_> {
        Trigger {
            client: &self.client,
            queue_url: &self.queues.url,
            batch_size: self.options.batch_size,
            function_timeout: self.options.function_timeout,
        }
    }

    /// Plays `actions` (each sends its webhook), then runs the processor until the queue is empty.
    pub async fn play(&self, actions: impl IntoIterator<Item = Action>) -> PumpStats {
        for action in actions {
            self.act(action).await;
        }
        self.drain().await
    }

    /// `view-sync resync --queue-url`: one message per project to reconcile, on the processor's
    /// queue. Returns how many were sent.
    pub async fn queue_resync(&self) -> Result<usize, String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let projects = cli::resync::projects(&self.reconciler, deadline)
            .await
            .map_err(|e| e.to_string())?;
        let sink = SqsSink::new(
            &sqs::sdk_config(&Moto::shared().endpoint),
            self.queues.url.clone(),
            queue::command_timeouts(),
        );
        cli::resync::enqueue(&sink, &projects, view_sync_core::QueuedBy::Resync)
            .await
            .map_err(|e| e.to_string())
    }

    /// Runs the processor over the queue until it is empty.
    pub async fn drain(&self) -> PumpStats {
        self.drain_within(Duration::from_secs(120)).await
    }

    /// Runs the processor over the queue until it is empty; panics if that takes over `limit`.
    pub async fn drain_within(&self, limit: Duration) -> PumpStats {
        self.trigger().drain(&self.processor(), limit).await
    }

    /// One poll of the event source mapping with no batching window (see [`Trigger::poll_once`]).
    pub async fn poll_once(&self, wait: Duration) -> PumpStats {
        self.trigger().poll_once(&self.processor(), wait).await
    }

    fn processor(&self) -> Processor<'_> {
        match &self.functions {
            Functions::InProcess(_) => Processor::InProcess(&self.reconciler),
            Functions::Watched(watch) => Processor::Watched(WatchedProcessor(watch)),
            Functions::ReleaseProcessor(_, process) => Processor::Release(process),
        }
    }

    /// The views in the database, read back with real queries.
    pub async fn views(&self) -> BTreeSet<ViewState> {
        let rows = self
            .reconciler
            .store()
            .rows(&Scope::Everything)
            .await
            .expect("read the ledger");
        let mut views = BTreeSet::new();
        for row in rows.into_iter().filter(|r| r.state == RowState::Present) {
            // Every base table has rows in every region, so a filtered view is never empty.
            let sql = format!(
                "SELECT project_id, data_source_id, policy FROM {} LIMIT 1",
                row.view_name
            );
            let view: (String, String, String) = sqlx::query_as(AssertSqlSafe(sql))
                .fetch_one(self.reconciler.store().pool())
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "{}: view {} is in the ledger but cannot be read: {e}",
                        self.database.name(),
                        row.view_name
                    )
                });
            assert_eq!(
                (view.0.as_str(), view.1.as_str()),
                (
                    row.view.project_id.as_str(),
                    row.view.data_source_id.as_str()
                )
            );
            views.insert(view);
        }
        views
    }

    /// Every view in the target schema, from the database's own catalog: what the ledger does
    /// not know is here too.
    pub async fn database_views(&self) -> BTreeSet<String> {
        let store = self.reconciler.store();
        store.views_in_catalog().await.expect("read the catalog")
    }

    /// The views the ledger says exist (present or pending), as it refers to them.
    pub async fn ledger_views(&self) -> BTreeSet<String> {
        let store = self.reconciler.store();
        store.views_in_ledger().await.expect("read the ledger")
    }

    /// Another processor, configured as this pipeline's, that runs only when the test calls it.
    pub fn second_processor(&self) -> Reconciler {
        Reconciler::new(
            ProcessorConfig::from_lookup(|k| setting(&self.processor_settings, k))
                .expect("processor configuration"),
        )
        .expect("reconciler")
    }

    /// The views the simulator's state calls for.
    pub fn expected(&self, handlers: Option<&[&str]>) -> BTreeSet<ViewState> {
        self.simulator
            .tenant()
            .expected_views(handlers)
            .into_iter()
            .map(|v| {
                (
                    v.project_id.to_string(),
                    v.data_source_id.to_string(),
                    v.policy,
                )
            })
            .collect()
    }

    pub async fn assert_converged(&self, step: &str) {
        assert_eq!(
            self.views().await,
            self.expected(None),
            "{}: after {step}",
            self.database.name()
        );
    }

    /// Takes every queued message off the queue (unprocessed), returning their bodies in the
    /// order the receiver accepted them.
    pub async fn take_queued(&self) -> Vec<String> {
        let mut messages = Vec::new();
        loop {
            let batch = sqs::receive(&self.client, &self.queues.url, 10, Duration::ZERO).await;
            if batch.is_empty() {
                break;
            }
            for message in batch {
                self.client
                    .delete_message()
                    .queue_url(&self.queues.url)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete a received message");
                messages.push(message);
            }
        }
        let mut bodies: Vec<String> = messages.into_iter().filter_map(|m| m.body).collect();
        bodies.sort_by_key(|body| {
            serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|message| message["receivedAtMs"].as_u64())
                .unwrap_or_default()
        });
        bodies
    }

    /// Puts a message body on the queue, as the receiver would.
    pub async fn enqueue(&self, body: &str) {
        self.client
            .send_message()
            .queue_url(&self.queues.url)
            .message_body(body)
            .send()
            .await
            .expect("send a message");
    }

    /// Runs `statement` on the target database as the pipeline's processor user (the test's
    /// admin); panics, naming it, if it fails.
    pub async fn run_sql(&self, statement: String) {
        sqlx::raw_sql(AssertSqlSafe(statement.clone()))
            .execute(self.reconciler.store().pool())
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }

    pub async fn dead_letters(&self) -> Vec<aws_sdk_sqs::types::Message> {
        sqs::drain(&self.client, &self.queues.dlq_url).await
    }

    /// Removes the test's schema or database file.
    pub async fn finish(self) {
        if self.options.schema_per_project() {
            self.drop_project_schemas().await;
        }
        if let Some(statement) = &self.cleanup {
            self.drop_views_a_share_at_a_time().await;
            let _ = sqlx::raw_sql(AssertSqlSafe(statement.clone()))
                .execute(self.reconciler.store().pool())
                .await;
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Pipeline {
    /// On PostgreSQL, drops the views of the test's schema a thousand at a time: `DROP SCHEMA …
    /// CASCADE` takes a lock per object in one transaction, more than the server's lock table
    /// holds at the scale benchmark's sizes (it failed, and left the schema behind, at 10,000
    /// views with the default `max_locks_per_transaction`).
    async fn drop_views_a_share_at_a_time(&self) {
        let store = self.reconciler.store();
        let Some(schema) = store.location().schema.clone() else {
            return;
        };
        if store.dialect() != views::Dialect::Postgres {
            return;
        }
        loop {
            let names: Vec<String> = sqlx::query_scalar(AssertSqlSafe(
                "SELECT CAST(format('%I.%I', n.nspname, c.relname) AS TEXT) FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relkind = 'v' LIMIT 1000",
            ))
            .bind(schema.clone())
            .fetch_all(store.pool())
            .await
            .unwrap_or_default();
            if names.is_empty() {
                return;
            }
            let drop = format!("DROP VIEW IF EXISTS {} CASCADE", names.join(", "));
            if sqlx::raw_sql(AssertSqlSafe(drop))
                .execute(store.pool())
                .await
                .is_err()
            {
                return;
            }
        }
    }

    /// Drops every schema the ledger named a view in (a schema per project).
    async fn drop_project_schemas(&self) {
        let store = self.reconciler.store();
        let Ok(rows) = store.rows(&Scope::Everything).await else {
            return;
        };
        let schemas: BTreeSet<String> = rows
            .iter()
            .filter_map(|row| store.dialect().unqualified(&row.view_name)?.0)
            .collect();
        for schema in schemas {
            let statement = match store.dialect() {
                views::Dialect::MySql => format!("DROP DATABASE IF EXISTS `{schema}`"),
                _ => format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"),
            };
            let _ = sqlx::raw_sql(AssertSqlSafe(statement))
                .execute(store.pool())
                .await;
        }
    }
}

/// Creates the simulator's base tables (with their rows) in the target database, in the schema
/// the views go to.
pub async fn create_base_tables(store: &views::ViewStore, statements: &[String]) {
    store
        .ensure_ledger()
        .await
        .expect("create the schema and the ledger");
    for statement in statements {
        sqlx::raw_sql(AssertSqlSafe(statement.clone()))
            .execute(store.pool())
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

type Environment = Vec<(String, String)>;

fn environment(pairs: &[(&str, String)]) -> Environment {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect()
}

fn setting(env: &[(String, String)], name: &str) -> Option<String> {
    env.iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

/// Moves each of `secret_variables` into moto's Secrets Manager and leaves only its
/// `<NAME>_SECRET_ARN` in `env`, as the SAM template configures a deployed function.
async fn as_deployed(
    aws: &aws_config::SdkConfig,
    env: &mut Environment,
    secret_variables: &[&str],
) {
    for &variable in secret_variables {
        let Some(value) = setting(env, variable) else {
            continue;
        };
        env.retain(|(name, _)| name != variable);
        let secret_name = crate::unique_name(&variable.to_ascii_lowercase());
        let arn = crate::secretsmanager::create_secret(aws, &secret_name, &value).await;
        env.push((format!("{variable}{}", secrets::ARN_SUFFIX), arn));
    }
}

/// The database a pipeline writes to, and what removes it afterwards.
struct Target {
    url: String,
    schema: Option<String>,
    cleanup: Option<String>,
    dir: Option<std::path::PathBuf>,
}

impl Target {
    fn new(database: &Database) -> Target {
        match database {
            Database::Sqlite => {
                let dir = std::env::temp_dir().join(crate::unique_name("ivs_pipeline"));
                std::fs::create_dir_all(&dir).unwrap();
                Target {
                    url: format!("sqlite://{}/views.db", dir.display()),
                    schema: None,
                    cleanup: None,
                    dir: Some(dir),
                }
            }
            Database::Postgres(url) => {
                let schema = crate::unique_name("ivs_e2e");
                Target {
                    url: url.clone(),
                    cleanup: Some(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")),
                    schema: Some(schema),
                    dir: None,
                }
            }
            Database::MariaDb(url) => {
                let schema = crate::unique_name("ivs_e2e");
                Target {
                    url: url.clone(),
                    cleanup: Some(format!("DROP DATABASE IF EXISTS `{schema}`")),
                    schema: Some(schema),
                    dir: None,
                }
            }
        }
    }
}
