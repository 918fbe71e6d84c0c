//! The receiver's configuration, read once at cold start.

use view_sync_core::ForwardFilter;
use view_sync_core::settings::{self, ConfigError, Settings};
use view_sync_core::signature::{AcceptedAlgorithms, NoSecrets, Secret, Verifier};

/// Default and ceiling of `MAX_BODY_BYTES`: SQS's classic message limit, and the 6 MB a Lambda
/// Function URL request can carry.
pub const DEFAULT_MAX_BODY_BYTES: usize = 262_144;
pub const FUNCTION_URL_MAX_BODY_BYTES: usize = 6_291_456;

/// Settings that may come from Secrets Manager (`<NAME>_SECRET_ARN`) instead of the environment.
pub const SECRET_VARIABLES: &[&str] = &["WEBHOOK_SECRETS"];

/// How bodies are authenticated.
#[derive(Debug, Clone)]
pub enum SignatureCheck {
    Verify(Verifier),
    /// Only with `ALLOW_UNSIGNED=true` and no secret configured: for local experiments.
    Unsigned,
}

#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    pub queue_url: String,
    pub signatures: SignatureCheck,
    pub max_body_bytes: usize,
    pub forward: ForwardFilter,
}

impl ReceiverConfig {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let settings = Settings::new(lookup);
        let queue_url = settings.required(
            "QUEUE_URL",
            "set it to the URL of the SQS queue the processor reads",
        )?;
        let accepted = settings.parse_or(
            "SIGNATURE_ALGORITHMS",
            AcceptedAlgorithms::default(),
            AcceptedAlgorithms::parse,
        )?;
        let secrets: Vec<Secret> = settings
            .optional("WEBHOOK_SECRETS")
            .map(|list| settings::items(&list).map(Secret::new).collect())
            .unwrap_or_default();
        let allow_unsigned = settings.flag_or("ALLOW_UNSIGNED", false)?;
        let signatures = match Verifier::new(&secrets, accepted) {
            Ok(verifier) => SignatureCheck::Verify(verifier),
            Err(NoSecrets) if allow_unsigned => SignatureCheck::Unsigned,
            Err(NoSecrets) => {
                return Err(ConfigError::new(
                    "WEBHOOK_SECRETS",
                    "is not set; give the webhook's shared secret (comma-separated to rotate), \
                     or set ALLOW_UNSIGNED=true to accept unsigned requests (never in production)",
                ));
            }
        };
        let max_body_bytes = settings.number_or(
            "MAX_BODY_BYTES",
            DEFAULT_MAX_BODY_BYTES,
            1..=FUNCTION_URL_MAX_BODY_BYTES,
        )?;
        let forward = settings.parse_or(
            "FORWARD_TYPES",
            ForwardFilter::default(),
            ForwardFilter::parse,
        )?;
        Ok(Self {
            queue_url,
            signatures,
            max_body_bytes,
            forward,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<ReceiverConfig, ConfigError> {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        ReceiverConfig::from_lookup(|k| map.get(k).map(|v| v.to_string()))
    }

    const BASE: &[(&str, &str)] = &[
        ("QUEUE_URL", "http://127.0.0.1:1/q"),
        ("WEBHOOK_SECRETS", "a, b"),
    ];

    #[test]
    fn defaults() {
        let c = config(BASE).unwrap();
        assert_eq!(c.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(c.forward, ForwardFilter::default());
        match c.signatures {
            SignatureCheck::Verify(v) => {
                assert_eq!(v.accepted(), AcceptedAlgorithms::SHA256_OR_SHA1)
            }
            SignatureCheck::Unsigned => panic!("secrets were configured"),
        }
    }

    #[test]
    fn each_bad_variable_is_named() {
        let with = |extra: (&'static str, &'static str)| {
            let mut pairs = BASE.to_vec();
            pairs.push(extra);
            config(&pairs).unwrap_err().variable
        };
        assert_eq!(
            config(&[("WEBHOOK_SECRETS", "a")]).unwrap_err().variable,
            "QUEUE_URL"
        );
        assert_eq!(
            with(("SIGNATURE_ALGORITHMS", "md5")),
            "SIGNATURE_ALGORITHMS"
        );
        assert_eq!(with(("MAX_BODY_BYTES", "0")), "MAX_BODY_BYTES");
        assert_eq!(with(("MAX_BODY_BYTES", "lots")), "MAX_BODY_BYTES");
        assert_eq!(with(("FORWARD_TYPES", "policyUpdate")), "FORWARD_TYPES");
        assert_eq!(with(("ALLOW_UNSIGNED", "maybe")), "ALLOW_UNSIGNED");
    }

    #[test]
    fn no_secret_refuses_to_start_unless_unsigned_is_explicit() {
        let err = config(&[("QUEUE_URL", "q")]).unwrap_err();
        assert_eq!(err.variable, "WEBHOOK_SECRETS");
        assert!(err.to_string().contains("ALLOW_UNSIGNED"));
        assert!(matches!(
            config(&[("QUEUE_URL", "q"), ("ALLOW_UNSIGNED", "true")])
                .unwrap()
                .signatures,
            SignatureCheck::Unsigned
        ));
        // Secrets win over ALLOW_UNSIGNED: signatures are still checked.
        assert!(matches!(
            config(&[BASE[0], BASE[1], ("ALLOW_UNSIGNED", "true")])
                .unwrap()
                .signatures,
            SignatureCheck::Verify(_)
        ));
    }

    #[test]
    fn secret_values_never_appear_in_debug_output() {
        let c = config(&[("QUEUE_URL", "q"), ("WEBHOOK_SECRETS", "hunter2")]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
