//! An Immuta (or a proxy in front of it) that misbehaves cannot make the processor drop views,
//! run out of memory or overrun its deadline: pages that repeat, an answer of 200 MB, a project
//! too large for the invocation. The target database plays no part in these, so SQLite.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use e2e::pipeline::{Database, Options, Pipeline, Runtime};
use immuta_simulator::faults::{Faults, Oversized};
use immuta_simulator::tenant::Tenant;
use view_sync_core::keys::ReconcileKey;
use view_sync_core::{Id, QueueMessage, QueuedBy};

fn project_key(project: u64) -> String {
    let key = ReconcileKey::Project {
        project_id: Id::new(project.to_string()).unwrap(),
    };
    QueueMessage::encode_key(&key, queue::now_ms(), QueuedBy::Resync)
}

/// Projects of `sizes[i]` data sources each, ids 1, 2, …; sources numbered from 1 across them.
fn tenant(sizes: &[u64]) -> Tenant {
    let mut t = Tenant::default();
    let mut next = 1;
    for (index, &size) in sizes.iter().enumerate() {
        let members: Vec<u64> = (next..next + size).collect();
        for &d in &members {
            t.add_data_source(d, &format!("Source {d}"), "PostgreSQL");
        }
        t.add_project(
            index as u64 + 1,
            &format!("Project {}", index + 1),
            true,
            &members,
        );
        next += size;
    }
    t
}

async fn errors_kept(p: &Pipeline) -> Vec<String> {
    let failures = p.reconciler.store().failures().await.unwrap();
    failures.into_iter().map(|f| f.error).collect()
}

#[tokio::test]
async fn pages_that_repeat_drop_no_view_and_fail_the_key_clearly() {
    // A failed message stays out of sight for the rest of the test.
    let options = Options {
        visibility_timeout: Duration::from_secs(60),
        ..Options::default()
    };
    let p = Pipeline::start(&Database::Sqlite, tenant(&[250]), options).await;
    p.enqueue(&project_key(1)).await;
    p.drain().await;
    p.assert_converged("before the server misbehaves").await;
    let before = p.database_views().await;
    assert_eq!(before.len(), 250);

    // A server that ignores `offset` (every page is the first), announcing the list's count or
    // none: no view may be dropped, and the key fails saying why.
    for (round, omit_count) in [false, true].into_iter().enumerate() {
        p.simulator.set_faults(Faults {
            ignore_offset: true,
            omit_count,
            ..Faults::default()
        });
        p.enqueue(&project_key(1)).await;
        let stats = p.poll_once(Duration::from_secs(5)).await;
        assert_eq!((stats.records, stats.failed), (1, 1), "{stats:?}");
        assert_eq!(p.database_views().await, before, "omit_count: {omit_count}");
        // Each round's message keeps its own error (the first round's is still out of sight).
        let errors = errors_kept(&p).await;
        let explained = errors.iter().filter(|e| {
            e.contains(
                "Immuta's list /project/1/dataSources is not consistent across its pages: the \
                 page at offset 100 repeats 100 item(s) already read",
            )
        });
        assert_eq!(explained.count(), round + 1, "{errors:?}");
    }
    p.simulator.set_faults(Faults::default());
    p.finish().await;
}

#[tokio::test]
async fn a_200_mb_answer_fails_its_view_alone_and_memory_stays_bounded() {
    let options = Options {
        runtime: Runtime::ReleaseProcessor,
        processor_bin: Some(e2e::built_binary("processor", "processor", &["sqlite"])),
        ..Options::default()
    };
    let p = Pipeline::start(&Database::Sqlite, tenant(&[3, 2]), options).await;
    // Source 2's view SQL is 200 MB, sent chunked (no Content-Length): only reading it as a
    // stream with a limit keeps it out of memory.
    p.simulator.set_faults(Faults {
        oversized_view_sql: Some(Oversized {
            bytes: 200 << 20,
            declare_length: false,
            data_source_id: Some(2),
        }),
        ..Faults::default()
    });
    p.enqueue(&project_key(1)).await;
    p.enqueue(&project_key(2)).await;
    let stats = p.poll_once(Duration::from_secs(5)).await;
    assert_eq!((stats.records, stats.failed), (2, 1), "{stats:?}");

    // The other views of its project, and the batch mate's, are applied.
    let views: BTreeSet<(String, String)> = p
        .views()
        .await
        .into_iter()
        .map(|(project, source, _)| (project, source))
        .collect();
    let expected: BTreeSet<(String, String)> = [("1", "1"), ("1", "3"), ("2", "4"), ("2", "5")]
        .into_iter()
        .map(|(project, source)| (project.to_owned(), source.to_owned()))
        .collect();
    assert_eq!(views, expected);
    let errors = errors_kept(&p).await;
    assert!(
        errors.iter().any(|e| e.contains(
            "Immuta's answer to /simulator-only/view-sql/1/2 is over the 4194304-byte limit"
        )),
        "{errors:?}"
    );
    let rss = p.processor_peak_rss_mb().expect("the processor's peak RSS");
    eprintln!("the processor's peak RSS: {rss:.1} MB");
    assert!(rss < 160.0, "the processor's peak RSS was {rss:.0} MB");
    p.finish().await;
}

#[tokio::test]
async fn a_batch_too_large_for_its_deadline_answers_before_it() {
    // Two projects of 1,500 sources and a small one; every Immuta call takes 50 ms, 8 at a time:
    // the view SQL alone would take 19 s, against an 8 s Lambda deadline (6 s of budget).
    let options = Options {
        batch_size: 3,
        function_timeout: Duration::from_secs(8),
        visibility_timeout: Duration::from_secs(60),
        processor_env: vec![("DEADLINE_MARGIN_MS", "2000".to_owned())],
        ..Options::default()
    };
    let p = Pipeline::start(&Database::Sqlite, tenant(&[1_500, 1_500, 2]), options).await;
    p.simulator.set_faults(Faults {
        latency_ms: 50,
        ..Faults::default()
    });
    for project in [1, 2, 3] {
        p.enqueue(&project_key(project)).await;
    }
    let started = Instant::now();
    let stats = p.poll_once(Duration::from_secs(5)).await;
    let answered = started.elapsed();
    eprintln!("answered after {answered:?}");
    // The small project's turn never came: it is not a failure but handed on, sent to the queue
    // again as it came (a new message, whose receive count starts over); the two large ones ran
    // out of time and fail.
    assert_eq!((stats.records, stats.failed), (3, 2), "{stats:?}");
    assert!(
        answered < Duration::from_secs(8),
        "the processor answered {answered:?} after an 8 s deadline"
    );

    // Visible at once, though the queue's visibility timeout is a minute; the two large ones'
    // are not.
    let visible = e2e::sqs::receive(&p.client, &p.queues.url, 10, Duration::ZERO).await;
    let bodies: Vec<String> = visible.iter().filter_map(|m| m.body.clone()).collect();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert!(bodies[0].contains(r#""projectId":"3""#), "{bodies:?}");
    let receive_count = visible[0]
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
        })
        .cloned();
    assert_eq!(receive_count.as_deref(), Some("1"), "{visible:?}");

    // Each error names its real cause: the time budget, never a lock no one held.
    let errors = errors_kept(&p).await;
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().all(|e| !e.contains("lock")), "{errors:?}");
    assert!(
        errors
            .iter()
            .all(|e| e.contains("the time budget ran out") || e.contains("no time left")),
        "{errors:?}"
    );
    p.simulator.set_faults(Faults::default());
    p.finish().await;
}
