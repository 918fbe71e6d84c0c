//! The dead-letter queue from the operator's console, through moto SQS on every database:
//! `dlq list` decodes each poison message with the error the processor kept for it and leaves
//! it there (what a message says shown escaped on a terminal); `status` counts what is failing
//! and stuck; `dlq redrive` moves the dead letters back to the queue, a bounded number first,
//! without losing one, and refuses URLs given the wrong way round.

use std::process::Output;
use std::time::Duration;

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

/// `view-sync <args>` with only moto's endpoint and credentials: no database, no Immuta.
async fn console_on_moto(args: &[&str]) -> Output {
    let env: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL", Moto::shared().endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "moto"),
        ("AWS_SECRET_ACCESS_KEY", "moto"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect();
    view_sync(&env, args).await
}

async fn send(client: &aws_sdk_sqs::Client, queue_url: &str, body: &str) {
    client
        .send_message()
        .queue_url(queue_url)
        .message_body(body)
        .send()
        .await
        .expect("send to moto");
}

#[tokio::test]
async fn a_redrive_with_the_urls_swapped_is_refused_and_moves_nothing() {
    let client = e2e::sqs::client(&Moto::shared().endpoint);
    let name = format!("swapped-{}", std::process::id());
    let queues = e2e::sqs::create_with_dlq(&client, &name, Duration::from_secs(30), 3).await;
    for n in 0..3 {
        send(&client, &queues.url, &format!("live message {n}")).await;
    }
    send(&client, &queues.dlq_url, "a dead letter").await;
    let (live, dead) = (queues.url.as_str(), queues.dlq_url.as_str());

    for max in [&[][..], &["--max", "10"][..]] {
        let args: Vec<&str> = ["dlq", "redrive", "--dlq-url", live, "--queue-url", dead]
            .into_iter()
            .chain(max.iter().copied())
            .collect();
        let refused = console_on_moto(&args).await;
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr
                .starts_with("view-sync: --dlq-url and --queue-url are swapped: --queue-url (arn:")
                && stderr.contains(&format!(
                    ":{name}-dlq) is the dead-letter queue of --dlq-url (arn:"
                ))
                && stderr
                    .trim_end()
                    .ends_with(&format!(":{name}); nothing was moved")),
            "{args:?}: {stderr}"
        );
        assert_eq!(
            e2e::sqs::messages_in(&client, live).await,
            3,
            "{args:?}: the live messages stay"
        );
        assert_eq!(
            e2e::sqs::messages_in(&client, dead).await,
            1,
            "{args:?}: nothing joined the dead letter"
        );
    }

    // A queue that is not the dead-letter queue's source is refused too, saying what it found.
    let other = client
        .create_queue()
        .queue_name(format!("{name}-other"))
        .send()
        .await
        .expect("create a queue")
        .queue_url
        .unwrap();
    let refused =
        console_on_moto(&["dlq", "redrive", "--dlq-url", dead, "--queue-url", &other]).await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            ":{name}-other) has no RedrivePolicy, so --dlq-url (arn:"
        )) && stderr.contains("is not its dead-letter queue; nothing was moved"),
        "{stderr}"
    );
    assert_eq!(e2e::sqs::messages_in(&client, dead).await, 1);

    // The right way round, the dead letter goes back.
    let moved = console_on_moto(&[
        "dlq",
        "redrive",
        "--dlq-url",
        dead,
        "--queue-url",
        live,
        "--output",
        "json",
    ])
    .await;
    assert_eq!(json_of(&moved)["moved"], 1);
    assert_eq!(e2e::sqs::messages_in(&client, live).await, 4);
    assert_eq!(e2e::sqs::messages_in(&client, dead).await, 0);
}

#[tokio::test]
async fn dead_letters_are_listed_escaped_on_a_terminal_and_as_they_are_in_json() {
    let client = e2e::sqs::client(&Moto::shared().endpoint);
    let name = format!("hostile-{}", std::process::id());
    let queues = e2e::sqs::create_with_dlq(&client, &name, Duration::from_secs(30), 3).await;
    // JSON escapes, as a message body carries them: a type that retitles and clears the
    // terminal, a project id that reads backwards.
    let body = r#"{"version":1,"receivedAtMs":0,"notification":{"notificationType":"\u001b]0;owned\u0007\u001b[2J","shape":"flat","projectId":"a\u202egpj"}}"#;
    send(&client, &queues.dlq_url, body).await;

    let listed = console_on_moto(&["dlq", "list", "--dlq-url", &queues.dlq_url]).await;
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(
        !text.contains(['\u{1b}', '\u{7}', '\u{202e}']),
        "{}",
        text.escape_debug()
    );
    assert!(
        text.contains("  \\u{1b}]0;owned\\u{7}\\u{1b}[2J (project a\\u{202e}gpj)  received "),
        "{text}"
    );

    let listed = console_on_moto(&[
        "dlq",
        "list",
        "--dlq-url",
        &queues.dlq_url,
        "--output",
        "json",
    ])
    .await;
    assert_eq!(
        json_of(&listed)["deadLetters"][0]["asks"],
        "\u{1b}]0;owned\u{7}\u{1b}[2J (project a\u{202e}gpj)"
    );
}
