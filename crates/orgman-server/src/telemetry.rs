//! Logs: tracing-subscriber, JSON lines by default (readable text with
//! `LOGGING_FORMAT=text`), levels from `LOGGING_LEVEL_ROOT` (dependencies)
//! and `LOGGING_LEVEL_APP` (orgman's crates).

use tracing_subscriber::EnvFilter;

use crate::config::LoggingConfig;

/// The filter directive for the configured levels.
pub fn filter(config: &LoggingConfig) -> String {
    let level = |text: &str| match text.to_ascii_lowercase().as_str() {
        "trace" => "trace",
        "debug" => "debug",
        "warn" | "warning" => "warn",
        "error" => "error",
        "off" => "off",
        _ => "info",
    };
    let app = level(&config.app);
    format!(
        "{},orgman_server={app},orgman_domain={app},orgman_postgres={app}",
        level(&config.root)
    )
}

/// Installs the global subscriber (once; later calls do nothing).
pub fn init(config: &LoggingConfig) {
    let filter = EnvFilter::try_new(filter(config)).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    let _ = if config.json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spring_levels_map_to_directives() {
        let config = LoggingConfig {
            root: "WARN".into(),
            app: "DEBUG".into(),
            json: true,
        };
        assert_eq!(
            filter(&config),
            "warn,orgman_server=debug,orgman_domain=debug,orgman_postgres=debug"
        );
    }
}
