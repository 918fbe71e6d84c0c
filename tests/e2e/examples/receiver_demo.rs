//! `make demo`: the receiver Lambda's handler in front of a real SQS API (moto on loopback). Every
//! sample Function URL event in events/lambda/ is posted; the demo prints each answer and then
//! what the processor would find on the queue. Exits non-zero if anything is off.

use std::time::Duration;

use e2e::moto::Moto;
use e2e::{repo_root, sqs};
use receiver::{Receiver, ReceiverConfig, SqsSink};
use view_sync_core::QueueMessage;

const TEST_SECRET: &str = "immuta-view-sync-test-secret";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("starting moto's SQS server on loopback ...");
    let moto = Moto::start();
    let client = sqs::client(&moto.endpoint);
    let queues =
        sqs::create_with_dlq(&client, "immuta-view-sync-demo", Duration::from_secs(30), 5).await;
    println!("queue {}\n", queues.url);

    let config = ReceiverConfig::from_lookup(|name| match name {
        "QUEUE_URL" => Some(queues.url.clone()),
        "WEBHOOK_SECRETS" => Some(TEST_SECRET.to_owned()),
        _ => None,
    })?;
    let receiver = Receiver::new(
        config,
        SqsSink::new(&sqs::sdk_config(&moto.endpoint), queues.url.clone()),
    );

    let mut events: Vec<_> = std::fs::read_dir(repo_root().join("events/lambda"))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    events.sort();
    let mut queued = 0;
    println!("{:<45} {:>6}  answer", "event", "status");
    for path in &events {
        let request = lambda_http::request::from_str(&std::fs::read_to_string(path)?)?;
        let response = receiver.handle(request).await;
        let answer = String::from_utf8_lossy(response.body().as_ref()).into_owned();
        if answer.contains("\"queued\"") {
            queued += 1;
        }
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        println!("{name:<45} {:>6}  {answer}", response.status().as_u16());
    }

    let messages = sqs::drain(&client, &queues.url).await;
    println!("\n{} message(s) on the queue:", messages.len());
    for message in &messages {
        let decoded = QueueMessage::decode(message.body().unwrap_or_default())?;
        let n = &decoded.notification;
        println!(
            "  {:<20} model {:<11} data source {:<4} project {:<4} payload {}",
            n.notification_type.as_str(),
            n.model_type.as_ref().map_or("-", |m| m.as_str()),
            n.data_source_id.as_ref().map_or("-", |id| id.as_str()),
            n.project_id.as_ref().map_or("-", |id| id.as_str()),
            if decoded.payload.is_some() {
                "kept"
            } else {
                "omitted"
            },
        );
    }
    if messages.len() != queued {
        return Err(format!(
            "{queued} webhooks were answered 'queued' but {} messages arrived",
            messages.len()
        )
        .into());
    }
    println!("\nok: every queued webhook is on the queue; refused ones are not.");
    Ok(())
}
