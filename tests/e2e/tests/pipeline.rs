//! End to end, on every configured database: the simulator's signed webhooks → receiver →
//! moto SQS → local trigger → processor → views read back with real queries.

use std::time::Duration;

use e2e::pipeline::{Database, Options, Pipeline};
use immuta_simulator::actions::Action;
use immuta_simulator::faults::{FaultKind, Faults};
use immuta_simulator::tenant::Tenant;
use immuta_simulator::webhooks::Shape;

fn tenant() -> Tenant {
    Tenant::demo()
}

#[tokio::test]
async fn every_seed_workflow_converges() {
    for db in Database::all() {
        let p = Pipeline::start(&db, tenant(), Options::default()).await;
        let db_name = db.name();
        let step = |name: &'static str, actions: Vec<Action>| {
            let p = &p;
            async move {
                let stats = p.play(actions).await;
                assert_eq!(stats.failed, 0, "{db_name}: {name}: {stats:?}");
                p.assert_converged(name).await;
            }
        };
        step(
            "the initial project policy",
            vec![Action::BumpProjectPolicy { project_id: 20 }],
        )
        .await;
        assert_eq!(p.views().await.len(), 1);
        step(
            "equalization on",
            vec![Action::SetEqualized {
                project_id: 10,
                equalized: true,
            }],
        )
        .await;
        step(
            "addedToProject",
            vec![
                Action::AddToProject {
                    project_id: 10,
                    data_source_id: 1,
                },
                Action::AddToProject {
                    project_id: 10,
                    data_source_id: 2,
                },
                Action::AddToProject {
                    project_id: 10,
                    data_source_id: 3,
                },
            ],
        )
        .await;
        assert_eq!(p.views().await.len(), 4);
        step(
            "policyUpdated (data source in two projects)",
            vec![Action::BumpDataSourcePolicy { data_source_id: 3 }],
        )
        .await;
        step(
            "policyUpdated (project)",
            vec![Action::BumpProjectPolicy { project_id: 10 }],
        )
        .await;
        step(
            "dataSourceUpdated: disabled",
            vec![Action::SetDisabled {
                data_source_id: 2,
                disabled: true,
            }],
        )
        .await;
        assert_eq!(p.views().await.len(), 3);
        step(
            "dataSourceUpdated: enabled again",
            vec![Action::SetDisabled {
                data_source_id: 2,
                disabled: false,
            }],
        )
        .await;
        step(
            "dataSourceUpdated: renamed",
            vec![Action::RenameDataSource {
                data_source_id: 1,
                name: "Case Files".into(),
            }],
        )
        .await;
        step(
            "removedFromProject",
            vec![Action::RemoveFromProject {
                project_id: 10,
                data_source_id: 1,
            }],
        )
        .await;
        step(
            "projectDisabled",
            vec![
                Action::AddToProject {
                    project_id: 20,
                    data_source_id: 2,
                },
                Action::CloseProject { project_id: 20 },
            ],
        )
        .await;
        step(
            "modelDeleted (data source)",
            vec![Action::DeleteDataSource { data_source_id: 3 }],
        )
        .await;
        step(
            "equalization off",
            vec![Action::SetEqualized {
                project_id: 10,
                equalized: false,
            }],
        )
        .await;
        assert!(p.views().await.is_empty());
        assert!(p.dead_letters().await.is_empty());
        // The project keys asked the documented state endpoint: the project's detail has none.
        assert!(
            p.simulator
                .count("GET /project/{id}/checkEqualizationState")
                > 0
        );
        p.finish().await;
    }
}

#[tokio::test]
async fn handler_types_outside_the_configured_set_get_no_view() {
    for db in Database::all() {
        let options = Options {
            processor_env: vec![("HANDLER_TYPES", "PostgreSQL".into())],
            ..Options::default()
        };
        let p = Pipeline::start(&db, tenant(), options).await;
        p.act(Action::AddToProject {
            project_id: 20,
            data_source_id: 4,
        })
        .await;
        p.act(Action::BumpProjectPolicy { project_id: 20 }).await;
        p.drain().await;
        assert_eq!(
            p.views().await,
            p.expected(Some(&["PostgreSQL"])),
            "{}",
            db.name()
        );
        assert_eq!(p.views().await.len(), 1);
        p.finish().await;
    }
}

#[tokio::test]
async fn a_storm_of_duplicates_costs_one_reconcile_per_key() {
    const STORM: usize = 300;
    for db in Database::all() {
        let mut t = tenant();
        for project in 30..34 {
            t.add_project(project, &format!("Storm {project}"), true, &[1, 2]);
        }
        // Gathering the batch takes a while: a realistic visibility timeout keeps it duplicate-free.
        let options = Options {
            batch_size: 1_000,
            visibility_timeout: Duration::from_secs(30),
            ..Options::default()
        };
        let p = Pipeline::start(&db, t, options).await;
        for _ in 0..STORM {
            p.act(Action::BumpDataSourcePolicy { data_source_id: 1 })
                .await;
        }
        p.simulator.reset_counters();
        let stats = p.drain().await;
        assert_eq!(
            (stats.batches, stats.records, stats.failed),
            (1, STORM as u32, 0),
            "{}",
            db.name()
        );
        // One key (dataSource:1): one lookup, one project search page, one SQL fetch per view.
        assert_eq!(
            p.simulator.count("GET /dataSource/{id}"),
            1,
            "{}",
            db.name()
        );
        assert_eq!(p.simulator.count("GET /project"), 1, "{}", db.name());
        assert_eq!(
            p.simulator.count(immuta_simulator::DEFAULT_VIEW_SQL_ROUTE),
            4,
            "{}",
            db.name()
        );
        // Only data source 1 was notified; views that pre-date the test are the re-sync's business.
        let of_source_1: std::collections::BTreeSet<_> = p
            .expected(None)
            .into_iter()
            .filter(|(_, d, _)| d == "1")
            .collect();
        assert_eq!(p.views().await, of_source_1, "{}", db.name());
        assert!(
            of_source_1
                .iter()
                .all(|(_, _, policy)| policy == "ds301-p1")
        );
        p.finish().await;
    }
}

#[tokio::test]
async fn shuffled_and_duplicated_events_give_the_same_database() {
    for db in Database::all() {
        let options = Options {
            shape: Shape::Envelope,
            ..Options::default()
        };
        let p = Pipeline::start(&db, tenant(), options).await;
        for action in [
            Action::SetEqualized {
                project_id: 10,
                equalized: true,
            },
            Action::AddToProject {
                project_id: 10,
                data_source_id: 1,
            },
            Action::AddToProject {
                project_id: 10,
                data_source_id: 2,
            },
            Action::SetDisabled {
                data_source_id: 2,
                disabled: true,
            },
            Action::BumpDataSourcePolicy { data_source_id: 1 },
            Action::AddToProject {
                project_id: 20,
                data_source_id: 1,
            },
            Action::SetDisabled {
                data_source_id: 2,
                disabled: false,
            },
            Action::RemoveFromProject {
                project_id: 10,
                data_source_id: 1,
            },
            Action::BumpProjectPolicy { project_id: 20 },
            Action::SetDisabled {
                data_source_id: 3,
                disabled: true,
            },
        ] {
            p.act(action).await;
        }
        // Take every queued message off the queue, then send each twice in a shuffled order.
        let bodies = p.take_queued().await;
        assert_eq!(bodies.len(), 10);
        let mut doubled: Vec<String> = bodies.iter().chain(&bodies).cloned().collect();
        let mut state: u64 = 0x2545_F491;
        for i in (1..doubled.len()).rev() {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            doubled.swap(i, (state >> 33) as usize % (i + 1));
        }
        for body in doubled {
            p.enqueue(&body).await;
        }
        let stats = p.drain().await;
        assert_eq!(stats.failed, 0, "{}", db.name());
        p.assert_converged("shuffled, duplicated delivery").await;
        p.finish().await;
    }
}

#[tokio::test]
async fn a_poison_message_ends_in_the_dlq_and_its_batch_mates_succeed() {
    for db in Database::all() {
        let options = Options {
            max_receive_count: 2,
            ..Options::default()
        };
        let p = Pipeline::start(&db, tenant(), options).await;
        p.client
            .send_message()
            .queue_url(&p.queues.url)
            .message_body("this is not a queue message")
            .send()
            .await
            .unwrap();
        p.act(Action::AddToProject {
            project_id: 20,
            data_source_id: 2,
        })
        .await;
        p.act(Action::BumpDataSourcePolicy { data_source_id: 3 })
            .await;
        let stats = p.drain().await;
        assert!(
            stats.failed >= 2,
            "{}: the poison message failed on each receive: {stats:?}",
            db.name()
        );
        let dead = p.dead_letters().await;
        assert_eq!(dead.len(), 1, "{}", db.name());
        assert_eq!(dead[0].body(), Some("this is not a queue message"));
        p.assert_converged("a poison message").await;
        p.finish().await;
    }
}

#[tokio::test]
async fn an_immuta_outage_loses_nothing() {
    for db in Database::all() {
        let options = Options {
            max_receive_count: 20,
            function_timeout: Duration::from_secs(3),
            processor_env: vec![("IMMUTA_MAX_ATTEMPTS", "2".into())],
            ..Options::default()
        };
        let p = Pipeline::start(&db, tenant(), options).await;
        p.simulator.set_faults(Faults {
            error_rate: 1.0,
            kinds: vec![FaultKind::ServerError, FaultKind::TooManyRequests],
            retry_after_secs: 0,
            ..Faults::default()
        });
        p.act(Action::SetEqualized {
            project_id: 10,
            equalized: true,
        })
        .await;
        p.act(Action::AddToProject {
            project_id: 10,
            data_source_id: 1,
        })
        .await;
        p.act(Action::BumpDataSourcePolicy { data_source_id: 3 })
            .await;
        let recover = async {
            tokio::time::sleep(Duration::from_secs(4)).await;
            p.simulator.set_faults(Faults::default());
        };
        let (stats, ()) = tokio::join!(p.drain(), recover);
        assert!(
            stats.failed > 0,
            "{}: the outage was felt: {stats:?}",
            db.name()
        );
        assert!(p.dead_letters().await.is_empty(), "{}", db.name());
        p.assert_converged("an outage and recovery").await;
        p.finish().await;
    }
}
