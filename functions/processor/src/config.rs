//! The processor's configuration, read once at cold start.

use std::time::Duration;

use immuta::{ImmutaConfig, ViewSqlEndpoint};
use view_sync_core::naming::ViewNameTemplate;
use view_sync_core::settings::{self, ConfigError, Settings};
use view_sync_core::want::HandlerFilter;
use views::StoreConfig;

/// Settings that may come from Secrets Manager (`<NAME>_SECRET_ARN`) instead of the environment.
pub const SECRET_VARIABLES: &[&str] = &["IMMUTA_API_KEY", "DATABASE_URL"];

#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    pub immuta: ImmutaConfig,
    pub view_sql: ViewSqlEndpoint,
    pub store: StoreConfig,
    pub naming: ViewNameTemplate,
    /// `blobHandlerType`s this deployment serves (`HANDLER_TYPES`).
    pub handlers: HandlerFilter,
    /// Kept free before the Lambda deadline to report the batch (`DEADLINE_MARGIN_MS`, at least
    /// 500 ms: the release of unstarted records and the errors kept need some of it).
    pub deadline_margin: Duration,
    /// The processor's own queue (`QUEUE_URL`): where a scheduled re-sync fans its projects out.
    pub queue_url: Option<String>,
    /// How long the audit trail keeps a change (`AUDIT_RETENTION_DAYS`, default 90).
    pub audit_retention_days: u32,
}

impl ProcessorConfig {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let immuta = ImmutaConfig::from_lookup(&lookup)?;
        let view_sql = ViewSqlEndpoint::from_lookup(&lookup)?;
        let store = StoreConfig::from_lookup(&lookup)?;
        let settings = Settings::new(&lookup);
        let naming = settings.parse_or(
            "VIEW_NAME_TEMPLATE",
            ViewNameTemplate::default(),
            ViewNameTemplate::parse,
        )?;
        let handlers = match settings.optional("HANDLER_TYPES") {
            None => HandlerFilter::all(),
            Some(list) => {
                let types: Vec<String> = settings::items(&list).map(str::to_owned).collect();
                if types.is_empty() {
                    return Err(ConfigError::new(
                        "HANDLER_TYPES",
                        "lists no handler type; leave it unset to serve all",
                    ));
                }
                HandlerFilter::only(types)
            }
        };
        let deadline_margin =
            Duration::from_millis(settings.number_or("DEADLINE_MARGIN_MS", 2_000, 500..=60_000)?);
        let audit_retention_days =
            settings.number_or("AUDIT_RETENTION_DAYS", 90, 1..=36_500)? as u32;
        Ok(Self {
            immuta,
            view_sql,
            store,
            naming,
            handlers,
            deadline_margin,
            queue_url: settings.optional("QUEUE_URL"),
            audit_retention_days,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &[(&str, &str)]) -> Result<ProcessorConfig, ConfigError> {
        let base = [
            ("IMMUTA_URL", "https://t.example"),
            ("IMMUTA_API_KEY", "k"),
            ("VIEW_SQL_PATH", "/v/{projectId}/{dataSourceId}"),
            ("DATABASE_URL", "sqlite:///tmp/x.db"),
        ];
        let all: Vec<(&str, &str)> = base.iter().chain(extra).copied().collect();
        ProcessorConfig::from_lookup(|k| {
            all.iter()
                .rev()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn handler_types_are_a_comma_list() {
        let c = config(&[("HANDLER_TYPES", "PostgreSQL, Apache Impala")]).unwrap();
        assert_eq!(
            c.handlers,
            HandlerFilter::only(vec!["PostgreSQL".into(), "Apache Impala".into()])
        );
        assert_eq!(config(&[]).unwrap().handlers, HandlerFilter::all());
    }

    #[test]
    fn bad_values_name_their_variable() {
        assert_eq!(
            config(&[("VIEW_NAME_TEMPLATE", "{project_name}")])
                .unwrap_err()
                .variable,
            "VIEW_NAME_TEMPLATE"
        );
        assert_eq!(
            config(&[("DATABASE_URL", "oracle://x")])
                .unwrap_err()
                .variable,
            "DATABASE_URL"
        );
        assert_eq!(
            config(&[("HANDLER_TYPES", " , ")]).unwrap_err().variable,
            "HANDLER_TYPES"
        );
    }
}
