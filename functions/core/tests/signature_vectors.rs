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

/// The edge cases scripts/make_fixtures.py writes, in its order: a vector dropped or renamed
/// there fails here rather than leaving its case untested.
const EDGE_CASES: [&str; 7] = [
    "seed policyUpdated body",
    "empty body",
    "1 KB body",
    "non-ASCII body",
    "trailing newline is signed too",
    "secret longer than a hash block",
    "empty secret",
];

/// Whether `v` is the edge case its name says (a block of SHA-256 and SHA-1 is 64 bytes).
fn is_the_edge_case_it_names(v: &Vector) -> bool {
    match v.name.as_str() {
        "seed policyUpdated body" => v
            .body
            .starts_with(b"{\"notificationType\":\"policyUpdated\""),
        "empty body" => v.body.is_empty() && !v.secret.is_empty(),
        "1 KB body" => v.body.len() >= 1_000,
        "non-ASCII body" => !v.body.is_ascii() && std::str::from_utf8(&v.body).is_ok(),
        "trailing newline is signed too" => v.body.ends_with(b"}\n"),
        "secret longer than a hash block" => v.secret.len() > 64,
        "empty secret" => v.secret.is_empty() && !v.body.is_empty(),
        _ => false,
    }
}

#[test]
fn the_vectors_are_the_edge_cases_they_name() {
    let all = vectors();
    let names: Vec<&str> = all.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, EDGE_CASES);
    for v in &all {
        assert!(is_the_edge_case_it_names(v), "{}", v.name);
        assert_eq!((v.sha256.len(), v.sha1.len()), (64, 40), "{}", v.name);
    }
}

/// One request to verify a vector's body, and what the verifier must answer.
struct Case {
    what: &'static str,
    secrets: Vec<Vec<u8>>,
    accepted: AcceptedAlgorithms,
    body: Vec<u8>,
    sha256: Option<String>,
    sha1: Option<String>,
    expected: Result<Algorithm, VerifyError>,
}

const SHA1_ONLY: AcceptedAlgorithms = AcceptedAlgorithms {
    sha256: false,
    sha1: true,
};

/// `digest` with its last hex digit changed: still a well-formed digest, of no body.
fn altered(digest: &str) -> String {
    let (head, last) = digest.split_at(digest.len() - 1);
    format!("{head}{}", if last == "0" { '1' } else { '0' })
}

/// The requests every vector is verified with: each signature alone and both together, in
/// either case, under each accepted-algorithms setting, with a wrong or misplaced signature, a
/// changed body, another secret, and none.
fn cases(v: &Vector) -> Vec<Case> {
    let own = vec![v.secret.clone()];
    let case = |what, accepted, sha256: Option<&str>, sha1: Option<&str>, expected| Case {
        what,
        secrets: own.clone(),
        accepted,
        body: v.body.clone(),
        sha256: sha256.map(str::to_owned),
        sha1: sha1.map(str::to_owned),
        expected,
    };
    let (sha256, sha1) = (v.sha256.as_str(), v.sha1.as_str());
    let (upper256, upper1) = (sha256.to_uppercase(), sha1.to_uppercase());
    let wrong256 = altered(sha256);
    let mismatch = |algorithm| Err(VerifyError::Mismatch { algorithm });
    let not_accepted = |present| Err(VerifyError::AlgorithmNotAccepted { present });
    let either = AcceptedAlgorithms::SHA256_OR_SHA1;
    let strict = AcceptedAlgorithms::SHA256_ONLY;
    let mut cases = vec![
        case(
            "both signatures: SHA-256 is preferred",
            either,
            Some(sha256),
            Some(sha1),
            Ok(Algorithm::Sha256),
        ),
        case(
            "both, upper-case hex",
            either,
            Some(&upper256),
            Some(&upper1),
            Ok(Algorithm::Sha256),
        ),
        case(
            "SHA-256 alone",
            either,
            Some(sha256),
            None,
            Ok(Algorithm::Sha256),
        ),
        case("SHA-1 alone", either, None, Some(sha1), Ok(Algorithm::Sha1)),
        case(
            "SHA-1 alone, upper-case hex",
            either,
            None,
            Some(&upper1),
            Ok(Algorithm::Sha1),
        ),
        case(
            "SHA-256 alone where only it is accepted",
            strict,
            Some(sha256),
            None,
            Ok(Algorithm::Sha256),
        ),
        case(
            "both where only SHA-256 is accepted",
            strict,
            Some(sha256),
            Some(sha1),
            Ok(Algorithm::Sha256),
        ),
        case(
            "SHA-1 alone where only SHA-256 is accepted",
            strict,
            None,
            Some(sha1),
            not_accepted(Algorithm::Sha1),
        ),
        case(
            "both where only SHA-1 is accepted",
            SHA1_ONLY,
            Some(sha256),
            Some(sha1),
            Ok(Algorithm::Sha1),
        ),
        case(
            "SHA-256 alone where only SHA-1 is accepted",
            SHA1_ONLY,
            Some(sha256),
            None,
            not_accepted(Algorithm::Sha256),
        ),
        case(
            "a wrong SHA-256 does not fall back to a right SHA-1",
            either,
            Some(&wrong256),
            Some(sha1),
            mismatch(Algorithm::Sha256),
        ),
        case(
            "a wrong SHA-256 alone",
            either,
            Some(&wrong256),
            None,
            mismatch(Algorithm::Sha256),
        ),
        case(
            "the SHA-1 digest in the SHA-256 header",
            either,
            Some(sha1),
            None,
            Err(VerifyError::MalformedSignature {
                header: Algorithm::Sha256.header(),
                algorithm: Algorithm::Sha256,
            }),
        ),
        case(
            "the SHA-256 digest in the SHA-1 header",
            either,
            None,
            Some(sha256),
            Err(VerifyError::MalformedSignature {
                header: Algorithm::Sha1.header(),
                algorithm: Algorithm::Sha1,
            }),
        ),
        case(
            "no signature",
            either,
            None,
            None,
            Err(VerifyError::MissingSignature),
        ),
    ];
    let mut longer = v.body.clone();
    longer.push(b'\n');
    cases.push(Case {
        body: longer,
        ..case(
            "one byte more in the body (a newline added by a proxy)",
            either,
            Some(sha256),
            Some(sha1),
            mismatch(Algorithm::Sha256),
        )
    });
    cases.push(Case {
        secrets: vec![b"not-the-secret".to_vec()],
        ..case(
            "another secret",
            either,
            None,
            Some(sha1),
            mismatch(Algorithm::Sha1),
        )
    });
    cases.push(Case {
        secrets: vec![b"not-the-secret".to_vec(), v.secret.clone()],
        ..case(
            "during a rotation, the secret second of two",
            either,
            Some(sha256),
            None,
            Ok(Algorithm::Sha256),
        )
    });
    cases
}

#[test]
fn every_vector_is_accepted_or_refused_as_each_request_deserves() {
    let mut checked = 0;
    for v in vectors() {
        for case in cases(&v) {
            let secrets: Vec<Secret> = case.secrets.iter().cloned().map(Secret::new).collect();
            let verifier = Verifier::new(&secrets, case.accepted).unwrap();
            let headers = SignatureHeaders {
                sha256: case.sha256.as_deref().map(str::as_bytes),
                sha1: case.sha1.as_deref().map(str::as_bytes),
            };
            let outcome = verifier
                .verify(UnverifiedBody::new(&case.body), headers)
                .map(|verified| {
                    assert_eq!(
                        verified.bytes(),
                        &case.body[..],
                        "{}: {}",
                        v.name,
                        case.what
                    );
                    verified
                        .algorithm()
                        .expect("a verified body names its algorithm")
                });
            assert_eq!(outcome, case.expected, "{}: {}", v.name, case.what);
            checked += 1;
        }
    }
    assert_eq!(checked, EDGE_CASES.len() * 18);
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
fn an_empty_body_verifies_when_signed_and_a_space_is_another_body() {
    let v = vectors().into_iter().find(|v| v.body.is_empty()).unwrap();
    let verifier = verifier_for(&v);
    let verified = verifier
        .verify(UnverifiedBody::new(b""), only(Algorithm::Sha256, &v.sha256))
        .unwrap();
    assert_eq!(
        (verified.algorithm(), verified.bytes()),
        (Some(Algorithm::Sha256), &b""[..])
    );
    assert_eq!(
        verifier
            .verify(
                UnverifiedBody::new(b" "),
                only(Algorithm::Sha256, &v.sha256)
            )
            .unwrap_err(),
        VerifyError::Mismatch {
            algorithm: Algorithm::Sha256
        }
    );
}
