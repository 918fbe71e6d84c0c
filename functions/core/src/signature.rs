//! Verification of Immuta's webhook signatures.
//!
//! Immuta signs the exact body bytes with the webhook's shared secret and sends the lower-case hex
//! HMAC in `x-immuta-webhook-signature-sha256` (HMAC-SHA256) and, for older tenants, in
//! `x-immuta-webhook-signature` (HMAC-SHA1, being switched off). A body is an [`UnverifiedBody`]
//! until a [`Verifier`] returns it as a [`VerifiedBody`]; nothing else builds a `VerifiedBody`,
//! so code that needs one cannot forget to verify.

use std::fmt;

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;
use thiserror::Error;

use crate::hex;

/// Header carrying the hex HMAC-SHA256 of the body.
pub const SHA256_HEADER: &str = "x-immuta-webhook-signature-sha256";
/// Header carrying the hex HMAC-SHA1 of the body (legacy).
pub const SHA1_HEADER: &str = "x-immuta-webhook-signature";

const SHA256_LEN: usize = 32;
const SHA1_LEN: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Sha256,
    Sha1,
}

impl Algorithm {
    pub fn header(self) -> &'static str {
        match self {
            Self::Sha256 => SHA256_HEADER,
            Self::Sha1 => SHA1_HEADER,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha1 => "sha1",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which signature headers are accepted. SHA-256 is always preferred when both are present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptedAlgorithms {
    pub sha256: bool,
    pub sha1: bool,
}

impl AcceptedAlgorithms {
    pub const SHA256_OR_SHA1: Self = Self {
        sha256: true,
        sha1: true,
    };
    pub const SHA256_ONLY: Self = Self {
        sha256: true,
        sha1: false,
    };

    /// Parses a comma-separated list such as `sha256,sha1` (case-insensitive, spaces ignored).
    pub fn parse(list: &str) -> Result<Self, UnknownAlgorithm> {
        let mut accepted = Self {
            sha256: false,
            sha1: false,
        };
        for name in crate::settings::items(list) {
            if name.eq_ignore_ascii_case("sha256") {
                accepted.sha256 = true;
            } else if name.eq_ignore_ascii_case("sha1") {
                accepted.sha1 = true;
            } else {
                return Err(UnknownAlgorithm(name.to_owned()));
            }
        }
        if !accepted.sha256 && !accepted.sha1 {
            return Err(UnknownAlgorithm(list.trim().to_owned()));
        }
        Ok(accepted)
    }
}

impl Default for AcceptedAlgorithms {
    fn default() -> Self {
        Self::SHA256_OR_SHA1
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("'{0}' is not a signature algorithm: use a comma-separated list of sha256 and sha1")]
pub struct UnknownAlgorithm(pub String);

/// Why a body was not verified. Fine-grained for logs and tests; callers answering HTTP should
/// not tell the sender which check failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    #[error("no signature header is present")]
    MissingSignature,
    #[error("the request is signed only with {present}, which this receiver does not accept")]
    AlgorithmNotAccepted { present: Algorithm },
    #[error("header {header} is not a hex {algorithm} digest")]
    MalformedSignature {
        header: &'static str,
        algorithm: Algorithm,
    },
    #[error("header {header} appears more than once")]
    DuplicateHeader { header: &'static str },
    #[error("the {algorithm} signature does not match the body for any configured secret")]
    Mismatch { algorithm: Algorithm },
}

/// The signature header values of one request, as raw bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignatureHeaders<'a> {
    pub sha256: Option<&'a [u8]>,
    pub sha1: Option<&'a [u8]>,
}

impl<'a> SignatureHeaders<'a> {
    /// Picks the signature headers out of a request's headers, matching names case-insensitively.
    pub fn from_pairs<I>(pairs: I) -> Result<Self, VerifyError>
    where
        I: IntoIterator<Item = (&'a str, &'a [u8])>,
    {
        let mut found = Self::default();
        for (name, value) in pairs {
            let (slot, header) = if name.eq_ignore_ascii_case(SHA256_HEADER) {
                (&mut found.sha256, SHA256_HEADER)
            } else if name.eq_ignore_ascii_case(SHA1_HEADER) {
                (&mut found.sha1, SHA1_HEADER)
            } else {
                continue;
            };
            if slot.replace(value).is_some() {
                return Err(VerifyError::DuplicateHeader { header });
            }
        }
        Ok(found)
    }
}

/// A shared webhook secret. Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A request body whose signature has not been checked.
#[derive(Debug, Clone, Copy)]
pub struct UnverifiedBody<'a>(&'a [u8]);

impl<'a> UnverifiedBody<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self(bytes)
    }
}

/// A request body that passed verification (or that an explicitly unsigned receiver accepted).
#[derive(Debug, Clone, Copy)]
pub struct VerifiedBody<'a> {
    bytes: &'a [u8],
    algorithm: Option<Algorithm>,
}

impl<'a> VerifiedBody<'a> {
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The algorithm that verified the body; `None` when signatures are switched off.
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.algorithm
    }
}

/// HMAC states keyed once at start-up, so each request pays only for hashing its body.
#[derive(Clone)]
struct KeyedMacs {
    sha256: Hmac<Sha256>,
    sha1: Hmac<Sha1>,
}

/// Checks signatures against one or more secrets (several during a secret rotation).
#[derive(Clone)]
pub struct Verifier {
    keys: Vec<KeyedMacs>,
    accepted: AcceptedAlgorithms,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("secrets", &self.keys.len())
            .field("accepted", &self.accepted)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("at least one webhook secret is required to verify signatures")]
pub struct NoSecrets;

impl Verifier {
    pub fn new(secrets: &[Secret], accepted: AcceptedAlgorithms) -> Result<Self, NoSecrets> {
        if secrets.is_empty() {
            return Err(NoSecrets);
        }
        let keys = secrets
            .iter()
            .map(|secret| KeyedMacs {
                // HMAC takes keys of any length, so these cannot fail.
                sha256: Hmac::new_from_slice(secret.expose()).expect("HMAC accepts any key"),
                sha1: Hmac::new_from_slice(secret.expose()).expect("HMAC accepts any key"),
            })
            .collect();
        Ok(Self { keys, accepted })
    }

    pub fn accepted(&self) -> AcceptedAlgorithms {
        self.accepted
    }

    /// Verifies `body` against the signature headers. SHA-256 is checked when it is accepted and
    /// present; SHA-1 only otherwise. A present but wrong preferred signature is a failure, never
    /// a reason to fall back to the weaker one.
    pub fn verify<'a>(
        &self,
        body: UnverifiedBody<'a>,
        headers: SignatureHeaders<'_>,
    ) -> Result<VerifiedBody<'a>, VerifyError> {
        let algorithm = match (headers.sha256, headers.sha1) {
            (Some(value), _) if self.accepted.sha256 => {
                let expected = decode::<SHA256_LEN>(value, Algorithm::Sha256)?;
                self.check(&expected, |keys| &keys.sha256, body.0, Algorithm::Sha256)?
            }
            (_, Some(value)) if self.accepted.sha1 => {
                let expected = decode::<SHA1_LEN>(value, Algorithm::Sha1)?;
                self.check(&expected, |keys| &keys.sha1, body.0, Algorithm::Sha1)?
            }
            (None, None) => return Err(VerifyError::MissingSignature),
            (Some(_), _) => {
                return Err(VerifyError::AlgorithmNotAccepted {
                    present: Algorithm::Sha256,
                });
            }
            (None, Some(_)) => {
                return Err(VerifyError::AlgorithmNotAccepted {
                    present: Algorithm::Sha1,
                });
            }
        };
        Ok(VerifiedBody {
            bytes: body.0,
            algorithm: Some(algorithm),
        })
    }

    fn check<M: Mac + Clone>(
        &self,
        expected: &[u8],
        mac_of: impl Fn(&KeyedMacs) -> &M,
        body: &[u8],
        algorithm: Algorithm,
    ) -> Result<Algorithm, VerifyError> {
        // `verify_slice` compares in constant time.
        let matched = self.keys.iter().any(|keys| {
            let mut mac = mac_of(keys).clone();
            mac.update(body);
            mac.verify_slice(expected).is_ok()
        });
        if matched {
            Ok(algorithm)
        } else {
            Err(VerifyError::Mismatch { algorithm })
        }
    }
}

/// Accepts a body without any signature check. Only for receivers explicitly configured to run
/// unsigned (`ALLOW_UNSIGNED=true`); the name says what it does.
pub fn accept_unsigned(body: UnverifiedBody<'_>) -> VerifiedBody<'_> {
    VerifiedBody {
        bytes: body.0,
        algorithm: None,
    }
}

fn decode<const N: usize>(value: &[u8], algorithm: Algorithm) -> Result<[u8; N], VerifyError> {
    hex::decode_array::<N>(value.trim_ascii()).ok_or(VerifyError::MalformedSignature {
        header: algorithm.header(),
        algorithm,
    })
}

/// Signs `body` as Immuta does: lower-case hex HMAC with the shared secret.
pub fn sign(secret: &Secret, body: &[u8], algorithm: Algorithm) -> String {
    match algorithm {
        Algorithm::Sha256 => mac_hex::<Hmac<Sha256>>(secret, body),
        Algorithm::Sha1 => mac_hex::<Hmac<Sha1>>(secret, body),
    }
}

fn mac_hex<M: Mac + hmac::digest::KeyInit>(secret: &Secret, body: &[u8]) -> String {
    let mut mac = <M as Mac>::new_from_slice(secret.expose()).expect("HMAC accepts any key");
    mac.update(body);
    hex::encode(&mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(secrets: &[&str], accepted: AcceptedAlgorithms) -> Verifier {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        Verifier::new(&secrets, accepted).unwrap()
    }

    fn headers<'a>(sha256: Option<&'a str>, sha1: Option<&'a str>) -> SignatureHeaders<'a> {
        SignatureHeaders {
            sha256: sha256.map(str::as_bytes),
            sha1: sha1.map(str::as_bytes),
        }
    }

    #[test]
    fn sha256_is_preferred_and_a_wrong_one_does_not_fall_back_to_sha1() {
        let secret = Secret::new("s3cret");
        let body = br#"{"notificationType":"policyUpdated"}"#;
        let good256 = sign(&secret, body, Algorithm::Sha256);
        let good1 = sign(&secret, body, Algorithm::Sha1);
        let v = verifier(&["s3cret"], AcceptedAlgorithms::SHA256_OR_SHA1);

        let ok = v
            .verify(
                UnverifiedBody::new(body),
                headers(Some(&good256), Some(&good1)),
            )
            .unwrap();
        assert_eq!(ok.algorithm(), Some(Algorithm::Sha256));

        let bad256 = sign(&secret, b"other", Algorithm::Sha256);
        assert_eq!(
            v.verify(
                UnverifiedBody::new(body),
                headers(Some(&bad256), Some(&good1))
            )
            .unwrap_err(),
            VerifyError::Mismatch {
                algorithm: Algorithm::Sha256
            }
        );
        let ok = v
            .verify(UnverifiedBody::new(body), headers(None, Some(&good1)))
            .unwrap();
        assert_eq!(ok.algorithm(), Some(Algorithm::Sha1));
    }

    #[test]
    fn sha256_only_refuses_a_sha1_signed_request() {
        let secret = Secret::new("s3cret");
        let good1 = sign(&secret, b"{}", Algorithm::Sha1);
        let v = verifier(&["s3cret"], AcceptedAlgorithms::SHA256_ONLY);
        assert_eq!(
            v.verify(UnverifiedBody::new(b"{}"), headers(None, Some(&good1)))
                .unwrap_err(),
            VerifyError::AlgorithmNotAccepted {
                present: Algorithm::Sha1
            }
        );
    }

    #[test]
    fn any_configured_secret_verifies_during_rotation() {
        let v = verifier(&["old", "new"], AcceptedAlgorithms::default());
        for secret in ["old", "new"] {
            let sig = sign(&Secret::new(secret), b"{}", Algorithm::Sha256);
            assert!(
                v.verify(UnverifiedBody::new(b"{}"), headers(Some(&sig), None))
                    .is_ok()
            );
        }
        let sig = sign(&Secret::new("neither"), b"{}", Algorithm::Sha256);
        assert!(
            v.verify(UnverifiedBody::new(b"{}"), headers(Some(&sig), None))
                .is_err()
        );
    }

    #[test]
    fn headers_are_found_case_insensitively_and_duplicates_are_refused() {
        let pairs = [
            ("Content-Type", &b"application/json"[..]),
            ("X-Immuta-Webhook-Signature-SHA256", &b"aa"[..]),
            ("X-IMMUTA-WEBHOOK-SIGNATURE", &b"bb"[..]),
        ];
        let found = SignatureHeaders::from_pairs(pairs).unwrap();
        assert_eq!(found, headers(Some("aa"), Some("bb")));

        let twice = [
            (SHA256_HEADER, &b"aa"[..]),
            ("x-immuta-webhook-signature-sha256", &b"bb"[..]),
        ];
        assert_eq!(
            SignatureHeaders::from_pairs(twice).unwrap_err(),
            VerifyError::DuplicateHeader {
                header: SHA256_HEADER
            }
        );
    }

    #[test]
    fn secrets_and_verifiers_never_print_key_material() {
        let secret = Secret::new("hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
        let v = Verifier::new(&[secret], AcceptedAlgorithms::default()).unwrap();
        assert!(!format!("{v:?}").contains("hunter2"));
    }

    #[test]
    fn a_verifier_needs_a_secret_and_algorithms_parse_strictly() {
        assert_eq!(
            Verifier::new(&[], AcceptedAlgorithms::default()).unwrap_err(),
            NoSecrets
        );
        assert_eq!(
            AcceptedAlgorithms::parse("sha256, SHA1").unwrap(),
            AcceptedAlgorithms::SHA256_OR_SHA1
        );
        assert_eq!(
            AcceptedAlgorithms::parse("sha256").unwrap(),
            AcceptedAlgorithms::SHA256_ONLY
        );
        assert!(AcceptedAlgorithms::parse("md5").is_err());
        assert!(AcceptedAlgorithms::parse(" , ").is_err());
    }
}
