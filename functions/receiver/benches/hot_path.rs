//! The receiver's whole decision path per request, without network: read the headers, verify the
//! signature, parse and classify, build the SQS message body. Measured for SHA-256-signed and
//! SHA-1-only requests at 1 KB and 16 KB, against a bare HMAC-SHA256 of the same body as the
//! baseline (so ratios hold on a noisy machine).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use lambda_http::http::{HeaderMap, HeaderName, HeaderValue, Method};
use receiver::{MessageSink, Outgoing, Receiver, ReceiverConfig, SendError, Triage};
use sha2::Sha256;
use view_sync_core::signature::{self, Algorithm, Secret};

const SECRET: &str = "benchmark-secret";

struct NullSink;
impl MessageSink for NullSink {
    async fn send(&self, _: &Outgoing) -> Result<String, SendError> {
        Ok(String::new())
    }
}

/// A `policyUpdated` body like the seed's, padded to `size` bytes.
fn body_of(size: usize) -> Vec<u8> {
    let head = r#"{"dataSourceName":"Customer","triggeredByGlobal":false,"conflictCount":0,"policyType":"data","handlerId":4,"previousHandlerId":null,"dataSourceType":"queryable","notificationType":"policyUpdated","actionBy":1,"modelType":"datasource","modelId":2,"notifyInitiator":false,"targetUser":1,"targetGroup":null,"actionByName":"John Doe","targetUserName":"John Doe","applied":["#;
    let mut body = head.to_owned();
    while body.len() + 40 < size {
        body.push_str(r#""Mask PII columns for everyone",    "#);
    }
    body.push_str(r#""end"]}"#);
    while body.len() < size {
        body.insert(body.len() - 1, ' ');
    }
    body.into_bytes()
}

fn headers_for(body: &[u8], algorithms: &[Algorithm]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("content-type", "application/json"),
        (
            "host",
            "abcdefghijklmnopqrstuvwxyz0123.lambda-url.us-east-1.on.aws",
        ),
        ("user-agent", "Immuta-Webhooks"),
        (
            "x-amzn-trace-id",
            "Root=1-5e1b4151-5ac6c58f8d2f7b9d2bbd4b3c",
        ),
        ("x-forwarded-for", "203.0.113.10"),
        ("x-forwarded-port", "443"),
        ("x-forwarded-proto", "https"),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    for &algorithm in algorithms {
        let signature = signature::sign(&Secret::new(SECRET), body, algorithm);
        headers.insert(
            HeaderName::from_static(algorithm.header()),
            HeaderValue::from_str(&signature).unwrap(),
        );
    }
    headers
}

fn hot_path(c: &mut Criterion) {
    let config = ReceiverConfig::from_lookup(|k| match k {
        "QUEUE_URL" => Some("https://sqs.us-east-1.amazonaws.com/123456789012/q".into()),
        "WEBHOOK_SECRETS" => Some(SECRET.into()),
        _ => None,
    })
    .unwrap();
    let receiver = Receiver::new(config, NullSink);

    let mut group = c.benchmark_group("receiver");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for size in [1024, 16 * 1024] {
        let body = body_of(size);
        assert_eq!(body.len(), size);
        group.throughput(Throughput::Bytes(size as u64));
        let label = format!("{}KB", size / 1024);

        group.bench_with_input(
            BenchmarkId::new("baseline_hmac_sha256", &label),
            &body,
            |b, body| {
                let key = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
                b.iter(|| {
                    let mut mac = key.clone();
                    mac.update(black_box(body));
                    black_box(mac.finalize())
                })
            },
        );
        for (name, algorithms) in [
            (
                "triage_sha256_and_sha1_headers",
                &[Algorithm::Sha256, Algorithm::Sha1][..],
            ),
            ("triage_sha1_only", &[Algorithm::Sha1][..]),
        ] {
            let headers = headers_for(&body, algorithms);
            assert!(matches!(
                receiver.triage(&Method::POST, &headers, &body, 1),
                Ok(Triage::Forward { .. })
            ));
            group.bench_with_input(BenchmarkId::new(name, &label), &body, |b, body| {
                b.iter(|| {
                    black_box(receiver.triage(
                        &Method::POST,
                        black_box(&headers),
                        black_box(body),
                        1,
                    ))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
