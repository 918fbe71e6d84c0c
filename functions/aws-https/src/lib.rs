//! The AWS SDK's configuration as every function and tool here loads it: the standard chain of
//! region, credentials and endpoint settings, over an HTTPS client whose TLS is rustls with ring.
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

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::Builder;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

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
