//! The whole pipeline on loopback, assembled from real parts: the simulator's signed webhooks →
//! the receiver behind a Function URL shim → moto SQS (with a DLQ) → the local trigger → the
//! processor → SQLite, PostgreSQL or MariaDB.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use immuta_simulator::Simulator;
use immuta_simulator::actions::Action;
use immuta_simulator::tenant::Tenant;
use immuta_simulator::webhooks::Shape;
use processor::{ProcessorConfig, Reconciler};
use receiver::{Receiver, ReceiverConfig, SqsSink};
use sqlx::AssertSqlSafe;
use view_sync_core::plan::{RowState, Scope};

use crate::function_url::FunctionUrl;
use crate::moto::Moto;
use crate::sqs::{self, Queues};
use crate::trigger::{PumpStats, Trigger};

pub const WEBHOOK_SECRET: &str = "pipeline-test-secret";
pub const API_KEY: &str = "pipeline-api-key";
pub const VIEW_SQL_PATH: &str = "/project/{projectId}/dataSource/{dataSourceId}/viewSql";

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

    pub fn name(&self) -> &'static str {
        match self {
            Database::Sqlite => "sqlite",
            Database::Postgres(_) => "postgres",
            Database::MariaDb(_) => "mariadb",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub visibility_timeout: Duration,
    pub max_receive_count: u32,
    pub batch_size: usize,
    pub function_timeout: Duration,
    pub shape: Shape,
    /// Extra processor settings (e.g. IMMUTA_MAX_ATTEMPTS, HANDLER_TYPES).
    pub processor_env: Vec<(&'static str, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            visibility_timeout: Duration::from_secs(1),
            max_receive_count: 3,
            batch_size: 10,
            function_timeout: Duration::from_secs(30),
            shape: Shape::Flat,
            processor_env: Vec::new(),
        }
    }
}

/// (project id, data source id, policy) of a view.
pub type ViewState = (String, String, String);

pub struct Pipeline {
    pub database: Database,
    pub simulator: Simulator,
    pub client: aws_sdk_sqs::Client,
    pub queues: Queues,
    pub reconciler: Reconciler,
    options: Options,
    cleanup: Option<String>,
    dir: Option<std::path::PathBuf>,
    _function_url: FunctionUrl,
}

impl Pipeline {
    pub async fn start(database: &Database, tenant: Tenant, options: Options) -> Pipeline {
        let moto = Moto::shared();
        let client = sqs::client(&moto.endpoint);
        let queues = sqs::create_with_dlq(
            &client,
            &crate::unique_name("pipeline"),
            options.visibility_timeout,
            options.max_receive_count,
        )
        .await;

        let receiver_config = ReceiverConfig::from_lookup(|k| match k {
            "QUEUE_URL" => Some(queues.url.clone()),
            "WEBHOOK_SECRETS" => Some(WEBHOOK_SECRET.into()),
            _ => None,
        })
        .expect("receiver configuration");
        let sink = SqsSink::new(&sqs::sdk_config(&moto.endpoint), queues.url.clone());
        let function_url = FunctionUrl::start(Arc::new(Receiver::new(receiver_config, sink))).await;

        let simulator = Simulator::start(tenant, API_KEY)
            .await
            .expect("start the simulator");
        simulator.add_webhook(&function_url.url, Some(WEBHOOK_SECRET), options.shape);

        let (database_url, schema, cleanup, dir) = match database {
            Database::Sqlite => {
                let dir = std::env::temp_dir().join(crate::unique_name("ivs_pipeline"));
                std::fs::create_dir_all(&dir).unwrap();
                (
                    format!("sqlite://{}/views.db", dir.display()),
                    None,
                    None,
                    Some(dir),
                )
            }
            Database::Postgres(url) => {
                let schema = crate::unique_name("ivs_e2e");
                (
                    url.clone(),
                    Some(schema.clone()),
                    Some(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")),
                    None,
                )
            }
            Database::MariaDb(url) => {
                let schema = crate::unique_name("ivs_e2e");
                (
                    url.clone(),
                    Some(schema.clone()),
                    Some(format!("DROP DATABASE IF EXISTS `{schema}`")),
                    None,
                )
            }
        };
        let mut env: Vec<(&str, String)> = vec![
            ("IMMUTA_URL", simulator.url.clone()),
            ("IMMUTA_API_KEY", API_KEY.into()),
            ("VIEW_SQL_PATH", VIEW_SQL_PATH.into()),
            ("VIEW_SQL_JSON_POINTER", "/sql".into()),
            ("DATABASE_URL", database_url),
            ("IMMUTA_TIMEOUT_MS", "2000".into()),
            ("DEADLINE_MARGIN_MS", "500".into()),
        ];
        if let Some(schema) = schema {
            env.push(("VIEW_SCHEMA", schema));
        }
        env.extend(options.processor_env.iter().cloned());
        let config = ProcessorConfig::from_lookup(|k| {
            env.iter()
                .rev()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.clone())
        })
        .expect("processor configuration");
        let reconciler = Reconciler::new(config).expect("reconciler");
        Pipeline {
            database: database.clone(),
            simulator,
            client,
            queues,
            reconciler,
            options,
            cleanup,
            dir,
            _function_url: function_url,
        }
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

    /// Runs the processor over the queue until it is empty.
    pub async fn drain(&self) -> PumpStats {
        self.trigger()
            .drain(&self.reconciler, Duration::from_secs(120))
            .await
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
            let sql = format!(
                "SELECT project_id, data_source_id, policy FROM {}",
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

    pub async fn dead_letters(&self) -> Vec<aws_sdk_sqs::types::Message> {
        sqs::drain(&self.client, &self.queues.dlq_url).await
    }

    /// Removes the test's schema or database file.
    pub async fn finish(self) {
        if let Some(statement) = &self.cleanup {
            let _ = sqlx::raw_sql(AssertSqlSafe(statement.clone()))
                .execute(self.reconciler.store().pool())
                .await;
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
