//! The dead-letter queue from the operator's console, through moto SQS on every database:
//! `dlq list` decodes each poison message with the error the processor kept for it and leaves
//! it there; `status` counts what is failing and stuck; `dlq redrive` moves the dead letters
//! back to the queue, a bounded number first, without losing one.

use e2e::console::{json_of, view_sync};
use e2e::moto::Moto;
use e2e::pipeline::{Database, Options, Pipeline};
use immuta_simulator::tenant::Tenant;
use serde_json::Value;

/// A notification that names no data source: it can never be reconciled.
fn poison() -> String {
    format!(
        r#"{{"version":1,"receivedAtMs":{},"notification":{{"notificationType":"policyUpdated","shape":"flat","modelType":"datasource"}}}}"#,
        queue::now_ms()
    )
}

/// `view-sync <args> --output json`, with the processor's settings and moto's endpoint.
async fn console(p: &Pipeline, args: &[&str]) -> Value {
    let mut env = p.processor_environment().to_vec();
    for (name, value) in [
        ("AWS_ENDPOINT_URL", Moto::shared().endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "moto"),
        ("AWS_SECRET_ACCESS_KEY", "moto"),
    ] {
        env.push((name.to_owned(), value.to_owned()));
    }
    let args: Vec<&str> = args.iter().copied().chain(["--output", "json"]).collect();
    let output = view_sync(&env, &args).await;
    assert!(
        output.status.success(),
        "view-sync {args:?}: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    json_of(&output)
}

#[tokio::test]
async fn dead_letters_are_listed_with_their_error_and_redriven_without_loss() {
    Database::each_at_once(|db| async move {
        let options = Options {
            max_receive_count: 2,
            ..Options::default()
        };
        let p = Pipeline::start(&db, Tenant::demo(), options).await;
        let name = db.name();
        p.enqueue(&poison()).await;
        p.enqueue("this is not a queue message").await;
        let stats = p.drain().await;
        assert!(
            stats.failed >= 4,
            "{name}: each failed on both receives: {stats:?}"
        );
        let (queue, dlq) = (p.queues.url.as_str(), p.queues.dlq_url.as_str());

        let status = console(&p, &["status", "--queue-url", queue, "--dlq-url", dlq]).await;
        assert_eq!(status["failing"], 2, "{name}: {status:#}");
        assert_eq!(
            status["deadLetterQueue"]["visible"], 2,
            "{name}: {status:#}"
        );
        assert_eq!(status["queue"]["visible"], 0, "{name}: {status:#}");
        assert!(
            status["oldestFailing"]["error"]
                .as_str()
                .unwrap()
                .contains("must name a data source id"),
            "{name}: {status:#}"
        );

        let listed = console(&p, &["dlq", "list", "--dlq-url", dlq]).await;
        let mut letters: Vec<(String, String, u64)> = listed["deadLetters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["asks"].as_str().unwrap().to_owned(),
                    l["lastError"].as_str().unwrap_or_default().to_owned(),
                    l["receiveCount"].as_u64().unwrap(),
                )
            })
            .collect();
        letters.sort();
        assert_eq!(letters.len(), 2, "{name}: {listed:#}");
        assert_eq!(letters[0].0, "policyUpdated", "{name}");
        assert!(
            letters[0].1.contains("must name a data source id"),
            "{name}: {letters:?}"
        );
        assert!(
            letters[1].0.starts_with("undecodable"),
            "{name}: {letters:?}"
        );
        assert!(
            letters[1]
                .1
                .contains("not a queue message of immuta-view-sync"),
            "{name}"
        );
        assert!(letters.iter().all(|l| l.2 >= 2), "{name}: {letters:?}");
        // Listing left them there.
        let again = console(&p, &["dlq", "list", "--dlq-url", dlq]).await;
        assert_eq!(again["deadLetters"].as_array().unwrap().len(), 2, "{name}");

        let one = console(
            &p,
            &[
                "dlq",
                "redrive",
                "--dlq-url",
                dlq,
                "--queue-url",
                queue,
                "--max",
                "1",
            ],
        )
        .await;
        assert_eq!(one["moved"], 1, "{name}: {one}");
        let rest = console(
            &p,
            &["dlq", "redrive", "--dlq-url", dlq, "--queue-url", queue],
        )
        .await;
        assert_eq!(rest["moved"], 1, "{name}: {rest}");
        let status = console(&p, &["status", "--queue-url", queue, "--dlq-url", dlq]).await;
        assert_eq!(
            status["deadLetterQueue"]["visible"], 0,
            "{name}: {status:#}"
        );
        let back: Vec<String> = e2e::sqs::drain(&p.client, queue)
            .await
            .iter()
            .filter_map(|m| m.body().map(str::to_owned))
            .collect();
        assert_eq!(
            back.len(),
            2,
            "{name}: both are back on the queue: {back:?}"
        );
        assert!(back.iter().any(|b| b == "this is not a queue message"));
        p.finish().await;
    })
    .await;
}
