//! `make demo`: the whole pipeline on loopback, with no AWS account. The Immuta simulator's
//! tenant changes step by step; each change sends a real signed webhook to the receiver (behind a
//! Function URL shim), which queues it on moto's SQS; a local trigger with Lambda's partial-batch
//! semantics runs the processor, which re-reads the simulator and writes views to SQLite. After
//! each step the demo prints the views read back from SQLite (step 0 is the re-sync a first
//! deployment runs). It exits non-zero if the database
//! ever differs from what the simulator's state calls for.

use e2e::pipeline::{Database, Options, Pipeline};
use immuta_simulator::actions::Action;
use immuta_simulator::tenant::Tenant;
use sqlx::AssertSqlSafe;
use view_sync_core::plan::{RowState, Scope};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "starting moto's SQS (queue + DLQ), the Immuta simulator, the receiver and the processor ..."
    );
    let p = Pipeline::start(&Database::Sqlite, Tenant::demo(), Options::default()).await;
    println!("Immuta simulator  {}", p.simulator.url);
    println!("queue             {}", p.queues.url);

    // A first deployment starts with a re-sync: views that already should exist get created.
    println!("\n== step 0: first deployment, `view-sync resync`");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let projects = cli::resync::projects(&p.reconciler, deadline).await?;
    let failures = cli::resync::run_here(&p.reconciler, &projects, deadline).await;
    println!(
        "   reconciled {} project(s), {} failed",
        projects.len(),
        failures.len()
    );
    print_views(&p).await?;
    let mut converged = failures.is_empty() && p.views().await == p.expected(None);
    let story: Vec<(&str, Vec<Action>)> = vec![
        (
            "Demo Project is equalized",
            vec![Action::SetEqualized {
                project_id: 10,
                equalized: true,
            }],
        ),
        (
            "Case and Customer are added to Demo Project",
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
            "a data policy on Customer changes",
            vec![Action::BumpDataSourcePolicy { data_source_id: 2 }],
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
    ];
    for (number, (title, actions)) in story.into_iter().enumerate() {
        println!("\n== step {}: {title}", number + 1);
        let stats = p.play(actions).await;
        println!(
            "   processor: {} batch(es), {} notification(s), {} failed",
            stats.batches, stats.records, stats.failed
        );
        print_views(&p).await?;
        let (actual, expected) = (p.views().await, p.expected(None));
        if actual != expected {
            converged = false;
            println!("   MISMATCH: the database has {actual:?}, the simulator wants {expected:?}");
        }
    }
    let dead = p.dead_letters().await.len();
    p.finish().await;
    if !converged || dead > 0 {
        return Err(format!(
            "the database did not match the simulator ({dead} message(s) in the DLQ)"
        )
        .into());
    }
    println!(
        "\nok: after every step the views in SQLite are exactly those the simulator's state calls for."
    );
    Ok(())
}

/// Every managed view, with the SQL SQLite holds for it.
async fn print_views(p: &Pipeline) -> Result<(), Box<dyn std::error::Error>> {
    let rows = p.reconciler.store().rows(&Scope::Everything).await?;
    let present: Vec<_> = rows
        .iter()
        .filter(|r| r.state == RowState::Present)
        .collect();
    if present.is_empty() {
        println!("   views: none");
    }
    for row in present {
        let name = row.view_name.trim_matches('"');
        let sql: String = sqlx::query_scalar(AssertSqlSafe(
            "SELECT sql FROM sqlite_master WHERE type = 'view' AND name = ?".to_owned(),
        ))
        .bind(name.to_owned())
        .fetch_one(p.reconciler.store().pool())
        .await?;
        println!("   view {name}\n        {sql}");
    }
    Ok(())
}
