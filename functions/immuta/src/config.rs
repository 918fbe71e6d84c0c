//! The Immuta client's configuration.

use std::fmt;
use std::time::Duration;

use view_sync_core::settings::{ConfigError, Settings};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// The API key is sent as-is in `Authorization`.
    ApiKey,
    /// The API key is exchanged at `POST /bim/apikey/authenticate` for a bearer token, which is
    /// cached and renewed once when Immuta answers 401.
    Token,
}

#[derive(Clone)]
pub struct ImmutaConfig {
    /// Base URL without a trailing `/`, e.g. `https://demo.immuta.com`.
    pub base_url: String,
    pub api_key: String,
    pub auth: AuthMode,
    /// Requests in flight at once (`IMMUTA_MAX_CONCURRENCY`).
    pub max_concurrency: usize,
    pub connect_timeout: Duration,
    /// Limit for one attempt of one request.
    pub request_timeout: Duration,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    pub page_size: u32,
    /// Path of the project search (`/project`; the seed writes `/projects`).
    pub project_search_path: String,
}

/// The view SQL endpoint, which Immuta does not document publicly: configured, not guessed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewSqlEndpoint {
    /// Path template, with `{projectId}` and `{dataSourceId}`.
    pub path: String,
    /// JSON pointer to the SQL in a JSON answer; `None`: the answer is the SQL text.
    pub json_pointer: Option<String>,
}

impl ViewSqlEndpoint {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let settings = Settings::new(lookup);
        let path = settings.required(
            "VIEW_SQL_PATH",
            "Immuta does not publicly document a view SQL endpoint, so its path must be configured: \
             the GET path template, with {projectId} and {dataSourceId}, that your Immuta release \
             (or the service in front of it) answers with a view's SQL; see the README, \"The view \
             SQL endpoint\"",
        )?;
        if !path.starts_with('/')
            || !path.contains("{projectId}")
            || !path.contains("{dataSourceId}")
        {
            return Err(ConfigError::new(
                "VIEW_SQL_PATH",
                "must start with / and contain both {projectId} and {dataSourceId}",
            ));
        }
        let json_pointer = settings.optional("VIEW_SQL_JSON_POINTER");
        if let Some(pointer) = &json_pointer
            && !pointer.starts_with('/')
        {
            return Err(ConfigError::new(
                "VIEW_SQL_JSON_POINTER",
                "must be a JSON pointer such as /sql (or empty for a text answer)",
            ));
        }
        Ok(Self { path, json_pointer })
    }
}

impl fmt::Debug for ImmutaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImmutaConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("auth", &self.auth)
            .field("max_concurrency", &self.max_concurrency)
            .field("request_timeout", &self.request_timeout)
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}

impl ImmutaConfig {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let settings = Settings::new(lookup);
        let base_url = settings.required(
            "IMMUTA_URL",
            "set it to your tenant's URL, e.g. https://demo.immuta.com",
        )?;
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(ConfigError::new(
                "IMMUTA_URL",
                "must start with https:// (or http:// for a local simulator)",
            ));
        }
        let api_key = settings.required(
            "IMMUTA_API_KEY",
            "create an API key for a user with APPLICATION_ADMIN",
        )?;
        let auth = settings.parse_or("IMMUTA_AUTH", AuthMode::ApiKey, |value| {
            match value.to_ascii_lowercase().as_str() {
                "apikey" => Ok(AuthMode::ApiKey),
                "token" => Ok(AuthMode::Token),
                _ => Err(
                    "must be apikey (send the key as-is) or token (exchange it for a bearer token)",
                ),
            }
        })?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
            auth,
            max_concurrency: settings.number_or("IMMUTA_MAX_CONCURRENCY", 8, 1..=256)?,
            connect_timeout: Duration::from_millis(settings.number_or(
                "IMMUTA_CONNECT_TIMEOUT_MS",
                3_000,
                10..=60_000,
            )?),
            request_timeout: Duration::from_millis(settings.number_or(
                "IMMUTA_TIMEOUT_MS",
                10_000,
                10..=300_000,
            )?),
            max_attempts: settings.number_or("IMMUTA_MAX_ATTEMPTS", 5, 1..=20)?,
            page_size: settings.number_or("IMMUTA_PAGE_SIZE", 100, 1..=1_000)?,
            project_search_path: settings
                .optional("IMMUTA_PROJECT_SEARCH_PATH")
                .unwrap_or_else(|| "/project".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        |k| {
            pairs
                .iter()
                .rev()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn config(extra: &[(&str, &str)]) -> Result<ImmutaConfig, ConfigError> {
        let all: Vec<(&str, &str)> = [
            ("IMMUTA_URL", "https://t.example/"),
            ("IMMUTA_API_KEY", "k3y"),
        ]
        .iter()
        .chain(extra)
        .copied()
        .collect();
        ImmutaConfig::from_lookup(lookup(&all))
    }

    #[test]
    fn defaults_and_validation() {
        let c = config(&[]).unwrap();
        assert_eq!(c.base_url, "https://t.example");
        assert_eq!((c.auth, c.max_concurrency), (AuthMode::ApiKey, 8));
        assert!(!format!("{c:?}").contains("k3y"));
        assert_eq!(
            config(&[("IMMUTA_AUTH", "oauth")]).unwrap_err().variable,
            "IMMUTA_AUTH"
        );
        assert_eq!(
            config(&[("IMMUTA_MAX_CONCURRENCY", "0")])
                .unwrap_err()
                .variable,
            "IMMUTA_MAX_CONCURRENCY"
        );
        assert_eq!(
            config(&[("IMMUTA_URL", "demo.immuta.com")])
                .unwrap_err()
                .variable,
            "IMMUTA_URL"
        );
    }

    #[test]
    fn the_view_sql_endpoint_must_be_configured_and_says_why() {
        let endpoint = ViewSqlEndpoint::from_lookup(lookup(&[(
            "VIEW_SQL_PATH",
            "/p/{projectId}/d/{dataSourceId}",
        )]))
        .unwrap();
        assert_eq!(endpoint.json_pointer, None);
        let missing = ViewSqlEndpoint::from_lookup(lookup(&[])).unwrap_err();
        assert_eq!(missing.variable, "VIEW_SQL_PATH");
        assert!(missing.to_string().contains("not publicly document"));
        let half = ViewSqlEndpoint::from_lookup(lookup(&[("VIEW_SQL_PATH", "/p/{projectId}")]))
            .unwrap_err();
        assert_eq!(half.variable, "VIEW_SQL_PATH");
        let pointer = lookup(&[
            ("VIEW_SQL_PATH", "/p/{projectId}/{dataSourceId}"),
            ("VIEW_SQL_JSON_POINTER", "sql"),
        ]);
        assert_eq!(
            ViewSqlEndpoint::from_lookup(pointer).unwrap_err().variable,
            "VIEW_SQL_JSON_POINTER"
        );
    }
}
