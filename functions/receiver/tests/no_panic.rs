//! `cargo lambda` builds with `panic = "abort"`: a panic would kill the invocation. Feed the
//! receiver's decision path a large deterministic sample of hostile inputs.

use lambda_http::http::{HeaderMap, HeaderName, HeaderValue, Method};
use receiver::{MessageSink, Outgoing, Receiver, ReceiverConfig, SendError};
use view_sync_core::signature::{self, Algorithm, Secret};

struct NullSink;
impl MessageSink for NullSink {
    async fn send(&self, _: &Outgoing) -> Result<String, SendError> {
        Ok(String::new())
    }
}

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SEEDS: &[&str] = &[
    r#"{"notificationType":"policyUpdated","modelType":"datasource","modelId":2}"#,
    r#"{"text":"t","metadata":{"notificationType":"addedToProject","modelType":"project","modelId":"1","dataSourceId":1}}"#,
    r#"{"timestamp":"x","type":"marketplace.data_product.state.created","data":{"dataProductId":"9"}}"#,
    r#"{"notificationType":"dataSourceUpdated","fields":{"disabled":true,"handler":"Snowflake"},"modelId":-1}"#,
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut body = seed.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(5) {
            0 if !body.is_empty() => {
                let at = rng.below(body.len());
                body.truncate(at);
            }
            1 if !body.is_empty() => {
                let at = rng.below(body.len());
                body[at] = (rng.next() & 0xff) as u8;
            }
            2 => {
                let at = rng.below(body.len() + 1);
                let junk = [b'{', b'[', b'"', b'\\', b'0', 0xff, 0xc3, b':', b','];
                body.insert(at, junk[rng.below(junk.len())]);
            }
            3 => body = body.repeat(2),
            _ => {}
        }
    }
    body
}

#[test]
fn no_input_makes_the_receiver_panic() {
    let secret = "fuzz-secret";
    let config = ReceiverConfig::from_lookup(|k| match k {
        "QUEUE_URL" => Some("q".into()),
        "WEBHOOK_SECRETS" => Some(secret.into()),
        "FORWARD_TYPES" => Some("all".into()),
        _ => None,
    })
    .unwrap();
    let receiver = Receiver::new(config, NullSink);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut accepted, mut refused) = (0, 0);
    for round in 0..20_000 {
        let body = mutate(&mut rng, SEEDS[round % SEEDS.len()].as_bytes());
        let mut headers = HeaderMap::new();
        // Most rounds carry a valid signature so the parser, not the verifier, sees the input.
        match rng.below(4) {
            0 => {}
            1 => {
                let junk = HeaderValue::from_bytes(
                    &body
                        .iter()
                        .copied()
                        .filter(|b| b.is_ascii_graphic())
                        .take(80)
                        .collect::<Vec<_>>(),
                );
                if let Ok(value) = junk {
                    headers.insert(HeaderName::from_static(signature::SHA256_HEADER), value);
                }
            }
            _ => {
                let algorithm = if rng.below(2) == 0 {
                    Algorithm::Sha256
                } else {
                    Algorithm::Sha1
                };
                let sig = signature::sign(&Secret::new(secret), &body, algorithm);
                headers.insert(
                    HeaderName::from_static(algorithm.header()),
                    HeaderValue::from_str(&sig).unwrap(),
                );
            }
        }
        match receiver.triage(&Method::POST, &headers, &body, 1) {
            Ok(_) => accepted += 1,
            Err(_) => refused += 1,
        }
    }
    // The sample must exercise both sides, or it proves nothing.
    assert!(
        accepted > 1_000 && refused > 1_000,
        "accepted {accepted}, refused {refused}"
    );
}
