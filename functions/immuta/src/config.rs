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
    /// Path template of the view SQL endpoint, with `{projectId}` and `{dataSourceId}`.
    pub view_sql_path: String,
    /// JSON pointer to the SQL in a JSON answer; `None`: the answer is the SQL text.
    pub view_sql_json_pointer: Option<String>,
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
            .field("view_sql_path", &self.view_sql_path)
            .field("view_sql_json_pointer", &self.view_sql_json_pointer)
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
        let view_sql_path = settings.required(
            "VIEW_SQL_PATH",
            "Immuta does not publicly document the view SQL endpoint, so its path must be configured: \
             a template such as /project/{projectId}/dataSource/{dataSourceId}/viewSql (confirm it with your tenant)",
        )?;
        if !view_sql_path.starts_with('/')
            || !view_sql_path.contains("{projectId}")
            || !view_sql_path.contains("{dataSourceId}")
        {
            return Err(ConfigError::new(
                "VIEW_SQL_PATH",
                "must start with / and contain both {projectId} and {dataSourceId}",
            ));
        }
        let view_sql_json_pointer = settings.optional("VIEW_SQL_JSON_POINTER");
        if let Some(pointer) = &view_sql_json_pointer
            && !pointer.starts_with('/')
        {
            return Err(ConfigError::new(
                "VIEW_SQL_JSON_POINTER",
                "must be a JSON pointer such as /sql (or empty for a text answer)",
            ));
        }
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
            view_sql_path,
            view_sql_json_pointer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<ImmutaConfig, ConfigError> {
        let base = [
            ("IMMUTA_URL", "https://t.example/"),
            ("IMMUTA_API_KEY", "k3y"),
            ("VIEW_SQL_PATH", "/p/{projectId}/d/{dataSourceId}"),
        ];
        let all: Vec<(&str, &str)> = base.iter().chain(pairs).copied().collect();
        ImmutaConfig::from_lookup(|k| {
            all.iter()
                .rev()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn defaults_and_validation() {
        let c = config(&[]).unwrap();
        assert_eq!(c.base_url, "https://t.example");
        assert_eq!(
            (c.auth, c.max_concurrency, c.view_sql_json_pointer.clone()),
            (AuthMode::ApiKey, 8, None)
        );
        assert!(!format!("{c:?}").contains("k3y"));
        assert_eq!(
            config(&[("IMMUTA_AUTH", "oauth")]).unwrap_err().variable,
            "IMMUTA_AUTH"
        );
        assert_eq!(
            config(&[("VIEW_SQL_PATH", "/p/{projectId}")])
                .unwrap_err()
                .variable,
            "VIEW_SQL_PATH"
        );
        assert_eq!(
            config(&[("VIEW_SQL_JSON_POINTER", "sql")])
                .unwrap_err()
                .variable,
            "VIEW_SQL_JSON_POINTER"
        );
        assert_eq!(
            config(&[("IMMUTA_MAX_CONCURRENCY", "0")])
                .unwrap_err()
                .variable,
            "IMMUTA_MAX_CONCURRENCY"
        );
        let missing = ImmutaConfig::from_lookup(|k| match k {
            "IMMUTA_URL" => Some("https://x".into()),
            "IMMUTA_API_KEY" => Some("k".into()),
            _ => None,
        })
        .unwrap_err();
        assert_eq!(missing.variable, "VIEW_SQL_PATH");
        assert!(missing.to_string().contains("not publicly document"));
    }
}
