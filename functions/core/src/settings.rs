//! Reading configuration from a lookup function (the process environment in production, a map in
//! tests), with errors that name the variable and say what to do. Values are never echoed: some
//! variables hold secrets.

use std::str::FromStr;

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("configuration error in {variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        Self {
            variable,
            problem: problem.into(),
        }
    }
}

impl From<view_sql::dialect::UnknownDatabase> for ConfigError {
    fn from(_: view_sql::dialect::UnknownDatabase) -> Self {
        ConfigError::new("DATABASE_URL", view_sql::dialect::UnknownDatabase::PROBLEM)
    }
}

/// The items of a comma-separated list, trimmed, blanks skipped (`"a, b,,"` → `a`, `b`).
pub fn items(list: &str) -> impl Iterator<Item = &str> {
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

/// Typed access to settings; blank values count as unset.
pub struct Settings<F> {
    lookup: F,
}

impl<F: Fn(&str) -> Option<String>> Settings<F> {
    pub fn new(lookup: F) -> Self {
        Self { lookup }
    }

    pub fn optional(&self, variable: &'static str) -> Option<String> {
        (self.lookup)(variable).filter(|value| !value.trim().is_empty())
    }

    pub fn required(&self, variable: &'static str, why: &str) -> Result<String, ConfigError> {
        self.optional(variable)
            .ok_or_else(|| ConfigError::new(variable, format!("is not set; {why}")))
    }

    /// Parses the variable with `parse`, or returns `default` when it is unset.
    pub fn parse_or<T, E: std::fmt::Display>(
        &self,
        variable: &'static str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<T, ConfigError> {
        match self.optional(variable) {
            None => Ok(default),
            Some(value) => {
                parse(value.trim()).map_err(|e| ConfigError::new(variable, e.to_string()))
            }
        }
    }

    /// A number within `range`, or `default` when unset.
    pub fn number_or<T>(
        &self,
        variable: &'static str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        self.parse_or(variable, default, |text| match text.parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(format!(
                "must be a whole number from {} to {}",
                range.start(),
                range.end()
            )),
        })
    }

    /// `true` or `false` (case-insensitive), or `default` when unset.
    pub fn flag_or(&self, variable: &'static str, default: bool) -> Result<bool, ConfigError> {
        self.parse_or(variable, default, |text| {
            if text.eq_ignore_ascii_case("true") {
                Ok(true)
            } else if text.eq_ignore_ascii_case("false") {
                Ok(false)
            } else {
                Err("must be true or false")
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Settings<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::new(move |k: &str| map.get(k).cloned())
    }

    #[test]
    fn errors_name_the_variable_and_never_the_value() {
        let s = settings(&[("N", "lots-of-secret"), ("B", "yes"), ("BLANK", "  ")]);
        let err = s.number_or("N", 5u32, 1..=10).unwrap_err();
        assert_eq!(err.variable, "N");
        assert!(!err.to_string().contains("lots-of-secret"));
        assert_eq!(s.flag_or("B", false).unwrap_err().variable, "B");
        assert!(
            s.required("BLANK", "set it to the queue URL")
                .unwrap_err()
                .to_string()
                .contains("set it")
        );
        assert_eq!(s.number_or("MISSING", 5u32, 1..=10).unwrap(), 5);
    }
}
