//! The AWS SDK's configuration as every function and tool here loads it: the standard chain of
//! region, credentials and endpoint settings for tools, the variables Lambda sets for the
//! functions, over an HTTPS client whose TLS is rustls with ring.
//!
//! The SDK's default client uses aws-lc, a C library beside the ring that the processor's Immuta
//! and database clients already link: two crypto stacks in one binary, and a C build in every
//! release build. Every SDK client here is built from [`load`] or [`https_client`], so the
//! default client is not compiled in (the workspace leaves out `default-https-client`), and an SDK
//! client built without one fails its first call with a clear error rather than silently
//! bringing aws-lc back.
//!
//! Unlike the default client, this one does not read `HTTPS_PROXY` / `HTTP_PROXY`: a function in
//! a VPC reaches SQS and Secrets Manager through VPC endpoints or a NAT gateway, not a proxy.

use std::sync::Arc;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::Builder;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_types::sdk_config::SharedCredentialsProvider;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

/// The HTTPS client for SDK clients (plain HTTP too, for a local endpoint such as moto's). The
/// trusted roots are the system's, loaded when a client first uses it.
pub fn https_client() -> SharedHttpClient {
    Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The AWS configuration loaded the standard way (environment, profile, container and instance
/// credentials; `AWS_ENDPOINT_URL*` endpoints), with [`https_client`].
pub async fn load() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

/// The AWS configuration of a Lambda function, from the variables Lambda sets: `AWS_REGION` and
/// the execution role's `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`;
/// also the endpoint overrides `AWS_ENDPOINT_URL_<SERVICE>` and `AWS_ENDPOINT_URL` (a local SQS
/// such as moto's) and `AWS_USE_FIPS_ENDPOINT`.
///
/// Lambda always hands a function its role's credentials in the environment, so the rest of the
/// standard chain (profile files, web identity through STS, container and instance metadata)
/// can never answer there. Leaving [`load`] out of the functions leaves that chain and the STS
/// client out of their packages, and out of their cold start: nothing here reads a file or
/// waits. Without credentials in the environment, the first call fails and names the variable.
pub fn from_lambda_environment() -> SdkConfig {
    lambda_config(Arc::new(|name: &str| std::env::var(name).ok()))
}

type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

fn lambda_config(variable: Lookup) -> SdkConfig {
    let environment = Environment(variable);
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .http_client(https_client());
    config.set_region(
        environment
            .value("AWS_REGION")
            .or_else(|| environment.value("AWS_DEFAULT_REGION"))
            .map(Region::new),
    );
    config.set_endpoint_url(environment.value("AWS_ENDPOINT_URL"));
    config.set_use_fips(
        environment
            .value("AWS_USE_FIPS_ENDPOINT")
            .and_then(|value| value.trim().to_ascii_lowercase().parse::<bool>().ok()),
    );
    config.service_config(environment).build()
}

/// The process environment, blank values counting as unset. As each SDK client's service
/// configuration it answers with the client's own endpoint override (`AWS_ENDPOINT_URL_SQS`,
/// `AWS_ENDPOINT_URL_SECRETS_MANAGER`) before the shared one, as the standard chain does.
struct Environment(Lookup);

impl Environment {
    fn value(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|value| !value.trim().is_empty())
    }
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Environment")
    }
}

impl LoadServiceConfig for Environment {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        let service = key.service_id().to_uppercase().replace(' ', "_");
        self.value(&format!("{}_{service}", key.env()))
            .or_else(|| self.value(key.env()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_config::provider_config::ProviderConfig;
    use tokio::io::AsyncReadExt;

    use super::*;

    fn config(variables: &'static [(&'static str, &'static str)]) -> SdkConfig {
        lambda_config(Arc::new(|name: &str| {
            variables
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        }))
    }

    fn endpoint_of(config: &SdkConfig, service: &str) -> Option<String> {
        let key = ServiceConfigKey::builder()
            .service_id(service)
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .unwrap();
        config.service_config()?.load_config(key)
    }

    #[test]
    fn lambda_config_takes_the_region_endpoints_and_fips_setting_from_the_environment() {
        let config = config(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:5001"),
            ("AWS_USE_FIPS_ENDPOINT", "TRUE"),
        ]);
        assert_eq!(config.region().map(Region::as_ref), Some("eu-west-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert_eq!(
            endpoint_of(&config, "Secrets Manager").as_deref(),
            Some("http://127.0.0.1:5001")
        );
        assert_eq!(
            endpoint_of(&config, "SQS").as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(config.use_fips(), Some(true));
        assert!(config.credentials_provider().is_some());
        assert_eq!(config.behavior_version(), Some(BehaviorVersion::latest()));
    }

    /// What a client says first to a TLS server: its ClientHello's cipher suites and key
    /// exchange groups (RFC 8446, 4.1.2).
    #[derive(Debug, PartialEq)]
    struct ClientHello {
        cipher_suites: Vec<u16>,
        groups: Vec<u16>,
    }

    /// The ClientHello `client` sends to `https://127.0.0.1:<port>`, as an SDK client (here the
    /// IMDS client of aws-config, the one that takes a bare HTTP client) would send it.
    async fn client_hello_of(client: SharedHttpClient) -> ClientHello {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let imds = aws_config::imds::Client::builder()
            .configure(&ProviderConfig::without_region().with_http_client(client))
            .endpoint(format!("https://127.0.0.1:{port}"))
            .unwrap()
            .max_attempts(1)
            .build();
        let request = tokio::spawn(async move { imds.get("/latest/meta-data/ami-id").await });
        let accepted = tokio::time::timeout(Duration::from_secs(10), listener.accept()).await;
        let Ok(Ok((mut socket, _))) = accepted else {
            request.abort();
            panic!("the client never connected: {:?}", request.await);
        };
        let mut header = [0; 5];
        socket.read_exact(&mut header).await.unwrap();
        assert_eq!(header[0], 22, "a TLS handshake record, not {header:?}");
        let mut record = vec![0; usize::from(u16::from_be_bytes([header[3], header[4]]))];
        socket.read_exact(&mut record).await.unwrap();
        request.abort();
        read_client_hello(&record)
    }

    fn read_client_hello(record: &[u8]) -> ClientHello {
        let mut rest = record;
        let mut take = |n: usize| {
            let (taken, after) = rest.split_at(n);
            rest = after;
            taken
        };
        let number = |bytes: &[u8]| bytes.iter().fold(0, |n, b| n << 8 | usize::from(*b));
        let pairs = |bytes: &[u8]| {
            bytes
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                .collect::<Vec<_>>()
        };
        assert_eq!(take(1), [1], "a ClientHello");
        take(3 + 2 + 32); // length, legacy version, random
        let session_id = number(take(1));
        take(session_id);
        let suites = number(take(2));
        let cipher_suites = pairs(take(suites));
        let compressions = number(take(1));
        take(compressions);
        let extensions_length = number(take(2));
        let mut extensions = take(extensions_length);
        let mut groups = Vec::new();
        while !extensions.is_empty() {
            let kind = number(&extensions[..2]);
            let length = number(&extensions[2..4]);
            if kind == 10 {
                // supported_groups: a list of two-byte groups behind its two-byte length.
                groups = pairs(&extensions[6..4 + length]);
            }
            extensions = &extensions[4 + length..];
        }
        ClientHello {
            cipher_suites,
            groups,
        }
    }

    /// rustls with ring, restricted to the suites the SDK allows. aws-lc would also offer the
    /// post-quantum X25519MLKEM768 (0x11ec); a client without TLS would not send a handshake.
    fn rustls_with_ring() -> ClientHello {
        ClientHello {
            cipher_suites: vec![
                0x1302, // TLS_AES_256_GCM_SHA384
                0x1301, // TLS_AES_128_GCM_SHA256
                0xc02c, // TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
                0xc02b, // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
                0xc030, // TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
                0xc02f, // TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
                0xcca8, // TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
                0x00ff, // TLS_EMPTY_RENEGOTIATION_INFO_SCSV
            ],
            groups: vec![
                0x001d, // x25519
                0x0017, // secp256r1
                0x0018, // secp384r1
            ],
        }
    }

    #[tokio::test]
    async fn sdk_clients_speak_tls_through_rustls_with_ring() {
        let lambda = config(&[("AWS_REGION", "eu-west-1")]);
        for client in [https_client(), lambda.http_client().unwrap()] {
            assert_eq!(client_hello_of(client).await, rustls_with_ring());
        }
    }

    #[test]
    fn lambda_config_falls_back_to_the_default_region_and_ignores_empty_values() {
        let fallback = config(&[
            ("AWS_REGION", " "),
            ("AWS_DEFAULT_REGION", "us-east-2"),
            ("AWS_ENDPOINT_URL_SQS", ""),
        ]);
        assert_eq!(fallback.region().map(Region::as_ref), Some("us-east-2"));
        assert_eq!(fallback.endpoint_url(), None);
        assert_eq!(endpoint_of(&fallback, "SQS"), None);
        assert_eq!(fallback.use_fips(), None);
        let unclear = config(&[("AWS_USE_FIPS_ENDPOINT", "yes")]);
        assert_eq!(unclear.use_fips(), None);
    }
}
