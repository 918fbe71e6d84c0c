//! The story `make demo` tells, and the stack `make run` leaves running: the Immuta simulator's
//! tenant changes step by step; each change sends a real signed webhook to the receiver's
//! Function URL, which queues it on moto's SQS; the local trigger feeds the processor in batches
//! with Lambda's partial-batch semantics; the processor re-reads the simulator and writes views to
//! SQLite (or the database `make demo DB=…` names). After each step the views and their rows are
//! read back from the database (emails masked, unmasked or redacted, rows filtered by region as
//! the policies change) and compared with what the simulator's state calls for.

use std::collections::BTreeMap;
use std::time::Duration;

use immuta_simulator::actions::Action;
use immuta_simulator::tenant::Tenant;
use immuta_simulator::view_sql::Masking;
use sqlx::AssertSqlSafe;
use view_sync_core::plan::{RowState, Scope};
use views::Dialect;

use crate::pipeline::{Database, Options, Pipeline, Runtime, WEBHOOK_SECRET};

/// Each step: what happens in Immuta, and the actions that make it happen in the simulator.
/// Every data source is a table of four people; a view masks their email as the source's policy
/// says and shows the regions its project's purpose allows.
pub fn story() -> Vec<(&'static str, Vec<Action>)> {
    vec![
        (
            "Demo Project is equalized",
            vec![Action::SetEqualized {
                project_id: 10,
                equalized: true,
            }],
        ),
        (
            "Case and Customer are added to Demo Project (emails masked: the local part hidden)",
            vec![
                Action::AddToProject {
                    project_id: 10,
                    data_source_id: 1,
                },
                Action::AddToProject {
                    project_id: 10,
                    data_source_id: 2,
                },
            ],
        ),
        (
            "the masking policy on Customer's email is lifted",
            vec![Action::SetMasking {
                data_source_id: 2,
                masking: Masking::Clear,
            }],
        ),
        (
            "Demo Project's purpose now allows EU rows only",
            vec![Action::SetRowFilter {
                project_id: 10,
                region: Some("EU".into()),
            }],
        ),
        (
            "Customer's email is redacted",
            vec![Action::SetMasking {
                data_source_id: 2,
                masking: Masking::Redacted,
            }],
        ),
        (
            "Customer is disabled",
            vec![Action::SetDisabled {
                data_source_id: 2,
                disabled: true,
            }],
        ),
        (
            "Customer is enabled again",
            vec![Action::SetDisabled {
                data_source_id: 2,
                disabled: false,
            }],
        ),
        (
            "Case is removed from Demo Project",
            vec![Action::RemoveFromProject {
                project_id: 10,
                data_source_id: 1,
            }],
        ),
    ]
}

/// Starts moto (queue + DLQ), the simulator with the demo tenant, and the functions writing to
/// `database`.
pub async fn start(runtime: Runtime, watch_port: Option<u16>, database: &Database) -> Pipeline {
    println!(
        "starting moto's SQS (queue + DLQ), the Immuta simulator, the receiver and the processor"
    );
    if runtime == Runtime::CargoLambdaWatch {
        println!("(under `cargo lambda watch`: the first start builds both functions)");
    }
    let options = Options {
        runtime,
        watch_port,
        // As deployed: a failed batch item is retried after the visibility timeout.
        visibility_timeout: Duration::from_secs(5),
        ..Options::default()
    };
    let p = Pipeline::start(database, Tenant::demo(), options).await;
    let path = match database.through_odbc() {
        true => " through ODBC",
        false => "",
    };
    println!(
        "  target database    {}{path}",
        p.reconciler.store().dialect().name()
    );
    println!("  Immuta simulator   {}", p.simulator.url);
    println!("  receiver URL       {}", p.function_url);
    println!("  queue              {}", p.queues.url);
    println!("  dead-letter queue  {}", p.queues.dlq_url);
    p
}

/// A first deployment's re-sync, `view-sync resync --queue-url`: one message per equalized
/// project, applied by the processor like any notification.
pub async fn resync(p: &Pipeline) -> Result<(), String> {
    let sent = p.queue_resync().await?;
    let stats = p.drain().await;
    println!(
        "   queued {sent} equalized project(s); processor: {} batch(es), {} failed",
        stats.batches, stats.failed
    );
    Ok(())
}

/// Plays the whole story; `Err` says where the database and the simulator first disagreed.
pub async fn run(runtime: Runtime, database: &Database) -> Result<(), String> {
    let p = start(runtime, None, database).await;
    let outcome = tell(&p).await;
    let name = p.reconciler.store().dialect().name();
    p.finish().await;
    outcome?;
    println!(
        "\nok: after every step the views in {name} are exactly those the simulator's state calls for."
    );
    Ok(())
}

async fn tell(p: &Pipeline) -> Result<(), String> {
    let mut shown = Shown::default();
    println!("\n== step 0: first deployment, `view-sync resync`");
    resync(p).await?;
    check(p, &mut shown, "the re-sync").await?;
    for (number, (title, actions)) in story().into_iter().enumerate() {
        println!("\n== step {}: {title}", number + 1);
        for action in &actions {
            println!("   webhook: {}", describe(action));
        }
        let stats = p.play(actions).await;
        println!(
            "   processor: {} batch(es), {} notification(s), {} failed",
            stats.batches, stats.records, stats.failed
        );
        check(p, &mut shown, title).await?;
    }
    let dead = p.dead_letters().await.len();
    if dead > 0 {
        return Err(format!("{dead} message(s) reached the dead-letter queue"));
    }
    Ok(())
}

/// Prints the views and compares them with the simulator's expectation.
async fn check(p: &Pipeline, shown: &mut Shown, step: &str) -> Result<(), String> {
    shown.print_changes(p).await.map_err(|e| e.to_string())?;
    let (actual, expected) = (p.views().await, p.expected(None));
    if actual != expected {
        return Err(format!(
            "after {step}: the database has {actual:?}, the simulator wants {expected:?}"
        ));
    }
    Ok(())
}

fn describe(action: &Action) -> String {
    serde_json::to_string(action).unwrap_or_else(|_| format!("{action:?}"))
}

/// The views as last printed (name → SQL), so that each step shows what changed.
#[derive(Default)]
pub struct Shown(BTreeMap<String, String>);

impl Shown {
    /// Prints each view that is new or whose SQL changed (its SQL as the database holds it, and
    /// its rows), and each view that is gone.
    pub async fn print_changes(&mut self, p: &Pipeline) -> Result<(), Box<dyn std::error::Error>> {
        let store = p.reconciler.store();
        let rows = store.rows(&Scope::Everything).await?;
        let pool = store.pool();
        let dialect = store.dialect();
        let mut now = BTreeMap::new();
        for row in rows.iter().filter(|r| r.state == RowState::Present) {
            let (schema, name) = dialect
                .unqualified(&row.view_name)
                .ok_or_else(|| format!("not a view name of ours: {}", row.view_name))?;
            let sql: String = match dialect {
                Dialect::Sqlite => sqlx::query_scalar(AssertSqlSafe(
                    "SELECT sql FROM sqlite_master WHERE type = 'view' AND name = ?",
                ))
                .bind(name.clone()),
                Dialect::Postgres => sqlx::query_scalar(AssertSqlSafe(
                    "SELECT CAST(pg_get_viewdef(CAST($1 AS regclass), true) AS TEXT)",
                ))
                .bind(row.view_name.clone()),
                Dialect::MySql => sqlx::query_scalar(AssertSqlSafe(
                    "SELECT CAST(VIEW_DEFINITION AS CHAR) FROM information_schema.VIEWS \
                     WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?",
                ))
                .bind(schema)
                .bind(name.clone()),
            }
            .fetch_one(pool)
            .await?;
            let sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
            if self.0.get(&name) == Some(&sql) {
                println!("   view {name}: unchanged");
            } else {
                let verb = if self.0.contains_key(&name) {
                    "replaced"
                } else {
                    "created"
                };
                println!("   view {name} {verb}:\n        {sql}");
                let text = match dialect {
                    Dialect::MySql => "CHAR",
                    Dialect::Sqlite | Dialect::Postgres => "TEXT",
                };
                let people: Vec<(String, String, String, String)> =
                    sqlx::query_as(AssertSqlSafe(format!(
                        "SELECT CAST(id AS {text}), name, email, region FROM {} ORDER BY id",
                        row.view_name
                    )))
                    .fetch_all(pool)
                    .await?;
                for (id, person, email, region) in people {
                    println!("        | {id:>2} | {person:<17} | {email:<22} | {region} |");
                }
            }
            now.insert(name, sql);
        }
        for gone in self.0.keys().filter(|name| !now.contains_key(*name)) {
            println!("   view {gone}: dropped");
        }
        if now.is_empty() {
            println!("   views: none");
        }
        self.0 = now;
        Ok(())
    }
}

/// `make run`: the stack stays up, the trigger keeps feeding the processor, until Ctrl-C.
pub async fn serve(watch_port: u16, database: &Database) -> Result<(), String> {
    let p = start(Runtime::CargoLambdaWatch, Some(watch_port), database).await;
    let outcome = keep_serving(&p, watch_port).await;
    println!("stopping");
    // The test's schema goes, whatever stopped it.
    p.finish().await;
    outcome
}

async fn keep_serving(p: &Pipeline, watch_port: u16) -> Result<(), String> {
    println!("\n== first deployment, `view-sync resync`");
    resync(p).await?;
    let mut shown = Shown::default();
    shown.print_changes(p).await.map_err(|e| e.to_string())?;
    let url = &p.function_url;
    let simulator = &p.simulator.url;
    println!(
        r#"
The stack is running; Ctrl-C stops it. The receiver accepts the webhook secret
{WEBHOOK_SECRET:?} (test-only), the one the samples under events/ are signed with.

Change the simulator's state; it sends the signed webhook itself:
  curl -X POST {simulator}/_sim/actions -H 'content-type: application/json' \
       -d '{{"action":"bumpDataSourcePolicy","dataSourceId":3}}'
  curl {simulator}/_sim/expected-views

Send a webhook body yourself, signed:
  body=events/webhooks/policyUpdated-project.json
  curl -X POST {url} -H 'content-type: application/json' \
       -H "x-immuta-webhook-signature-sha256: $(openssl dgst -sha256 -hmac {WEBHOOK_SECRET} -r < $body | cut -d' ' -f1)" \
       --data-binary @$body

Or invoke the receiver with a Function URL event:
  .venv/bin/cargo-lambda lambda invoke receiver --invoke-address 127.0.0.1 --invoke-port {watch_port} \
       --data-file events/lambda/function-url-policy-updated.json
"#
    );
    let mut interrupted = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        tokio::select! {
            _ = &mut interrupted => break,
            stats = p.drain() => {
                if stats.records > 0 {
                    println!(
                        "processor: {} notification(s) in {} batch(es), {} failed",
                        stats.records, stats.batches, stats.failed
                    );
                    shown.print_changes(p).await.map_err(|e| e.to_string())?;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    Ok(())
}
