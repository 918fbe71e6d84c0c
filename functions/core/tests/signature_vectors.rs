//! Known-answer tests: digests computed by Python's `hmac` (scripts/make_fixtures.py), checked
//! against our verifier and signer, plus the negative cases.

use serde_json::Value;
use view_sync_core::signature::{self, Algorithm};
use view_sync_core::{
    AcceptedAlgorithms, Secret, SignatureHeaders, UnverifiedBody, Verifier, VerifyError,
};

struct Vector {
    name: String,
    secret: Vec<u8>,
    body: Vec<u8>,
    sha256: String,
    sha1: String,
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn vectors() -> Vec<Vector> {
    let doc: Value = serde_json::from_str(include_str!("data/signature_vectors.json")).unwrap();
    doc["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Vector {
            name: v["name"].as_str().unwrap().to_owned(),
            secret: unhex(v["secret_hex"].as_str().unwrap()),
            body: unhex(v["body_hex"].as_str().unwrap()),
            sha256: v["sha256"].as_str().unwrap().to_owned(),
            sha1: v["sha1"].as_str().unwrap().to_owned(),
        })
        .collect()
}

fn only(algorithm: Algorithm, value: &str) -> SignatureHeaders<'_> {
    match algorithm {
        Algorithm::Sha256 => SignatureHeaders {
            sha256: Some(value.as_bytes()),
            sha1: None,
        },
        Algorithm::Sha1 => SignatureHeaders {
            sha256: None,
            sha1: Some(value.as_bytes()),
        },
    }
}

fn verifier_for(v: &Vector) -> Verifier {
    Verifier::new(
        &[Secret::new(v.secret.clone())],
        AcceptedAlgorithms::SHA256_OR_SHA1,
    )
    .unwrap()
}

#[test]
fn there_are_vectors_for_every_edge_case() {
    assert!(vectors().len() >= 7);
}

#[test]
fn signer_matches_python_hmac() {
    for v in vectors() {
        let secret = Secret::new(v.secret.clone());
        assert_eq!(
            signature::sign(&secret, &v.body, Algorithm::Sha256),
            v.sha256,
            "{}",
            v.name
        );
        assert_eq!(
            signature::sign(&secret, &v.body, Algorithm::Sha1),
            v.sha1,
            "{}",
            v.name
        );
    }
}

#[test]
fn verifier_accepts_python_digests_in_either_case() {
    for v in vectors() {
        let verifier = verifier_for(&v);
        for (algorithm, digest) in [(Algorithm::Sha256, &v.sha256), (Algorithm::Sha1, &v.sha1)] {
            for text in [digest.clone(), digest.to_uppercase()] {
                let verified = verifier
                    .verify(UnverifiedBody::new(&v.body), only(algorithm, &text))
                    .unwrap_or_else(|e| panic!("{} ({algorithm}): {e}", v.name));
                assert_eq!(verified.algorithm(), Some(algorithm));
                assert_eq!(verified.bytes(), &v.body[..]);
            }
        }
    }
}

#[test]
fn wrong_secret_is_a_mismatch() {
    for v in vectors() {
        let wrong = Verifier::new(
            &[Secret::new(b"not-the-secret".to_vec())],
            AcceptedAlgorithms::default(),
        )
        .unwrap();
        assert_eq!(
            wrong
                .verify(
                    UnverifiedBody::new(&v.body),
                    only(Algorithm::Sha256, &v.sha256)
                )
                .unwrap_err(),
            VerifyError::Mismatch {
                algorithm: Algorithm::Sha256
            },
            "{}",
            v.name
        );
    }
}

#[test]
fn signature_of_a_different_body_is_a_mismatch() {
    let all = vectors();
    let (a, b) = (&all[0], &all[2]);
    let verifier = verifier_for(a);
    assert_eq!(
        verifier
            .verify(UnverifiedBody::new(&a.body), only(Algorithm::Sha1, &b.sha1))
            .unwrap_err(),
        VerifyError::Mismatch {
            algorithm: Algorithm::Sha1
        }
    );
    // One byte more (e.g. a newline added by a proxy) is a different body.
    let mut longer = a.body.clone();
    longer.push(b'\n');
    assert!(
        verifier
            .verify(
                UnverifiedBody::new(&longer),
                only(Algorithm::Sha256, &a.sha256)
            )
            .is_err()
    );
}

#[test]
fn truncated_or_non_hex_signatures_are_malformed() {
    let v = &vectors()[0];
    let verifier = verifier_for(v);
    let malformed = |algorithm: Algorithm| VerifyError::MalformedSignature {
        header: algorithm.header(),
        algorithm,
    };
    let truncated = &v.sha256[..63];
    let not_hex = format!("{}zz", &v.sha256[..62]);
    let sha1_in_sha256_header = v.sha1.clone();
    for bad in [
        truncated,
        &not_hex,
        &sha1_in_sha256_header,
        "",
        "sha256=abc",
    ] {
        assert_eq!(
            verifier
                .verify(UnverifiedBody::new(&v.body), only(Algorithm::Sha256, bad))
                .unwrap_err(),
            malformed(Algorithm::Sha256),
            "{bad:?}"
        );
    }
    assert_eq!(
        verifier
            .verify(
                UnverifiedBody::new(&v.body),
                only(Algorithm::Sha1, &v.sha1[1..])
            )
            .unwrap_err(),
        malformed(Algorithm::Sha1)
    );
}

#[test]
fn missing_header_is_reported_as_such() {
    let v = &vectors()[0];
    assert_eq!(
        verifier_for(v)
            .verify(UnverifiedBody::new(&v.body), SignatureHeaders::default())
            .unwrap_err(),
        VerifyError::MissingSignature
    );
}

#[test]
fn an_empty_body_verifies_when_signed() {
    let v = vectors().into_iter().find(|v| v.body.is_empty()).unwrap();
    assert!(
        verifier_for(&v)
            .verify(UnverifiedBody::new(b""), only(Algorithm::Sha256, &v.sha256))
            .is_ok()
    );
    assert!(
        verifier_for(&v)
            .verify(
                UnverifiedBody::new(b" "),
                only(Algorithm::Sha256, &v.sha256)
            )
            .is_err()
    );
}
