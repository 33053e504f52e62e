//! The orgman service binary.
//!
//! ```text
//! orgman-server                                   serve the API
//! orgman-server check-config                     print the configuration, test every connection
//! orgman-server migrate [status|up|down [N]|redo] [--dry-run]
//! orgman-server secrets rotate                    re-encrypt SSO secrets with the active key
//! orgman-server spicedb reconcile                 recompute SpiceDB's relationships
//! orgman-server sso reconcile                     make Keycloak's identity providers match the SSO configurations
//! ```
//!
//! Configuration comes from the environment (see `docs/configuration.md`).

use std::process::ExitCode;

use orgman_postgres::PgSettings;
use orgman_server::{Application, Config, telemetry};

const USAGE: &str = "\
Usage:
  orgman-server                                   serve the API
  orgman-server check-config                      print the configuration (secrets redacted), test every connection
  orgman-server migrate [status|up|down [N]|redo] [--dry-run]
  orgman-server secrets rotate                    re-encrypt SSO secrets with the active key
  orgman-server spicedb reconcile                 recompute SpiceDB's relationships
  orgman-server sso reconcile                     make Keycloak's identity providers match the SSO configurations
  orgman-server --help                            this text (needs no configuration)

Configuration comes from the environment; see docs/configuration.md.
";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if matches!(
        args.first().map(String::as_str),
        Some("-h" | "--help" | "help")
    ) {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    // Migrations need the database alone: the migration job of a
    // deployment need not carry the service's other settings.
    if args.first().map(String::as_str) == Some("migrate") {
        let settings = match PgSettings::from_env(|name| std::env::var(name).ok()) {
            Ok(settings) => settings,
            Err(error) => {
                eprintln!("orgman-server: configuration error: {error}");
                return ExitCode::from(2);
            }
        };
        return report(migrate(&settings, &args[1..]).await);
    }
    let config = match Config::from_env(|name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("orgman-server: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&config.logging);
    let outcome = match args.first().map(String::as_str) {
        Some("check-config") => orgman_server::admin::check_config(&config).await,
        Some("secrets") if args.get(1).map(String::as_str) == Some("rotate") => {
            orgman_server::admin::rotate_secrets(&config).await
        }
        Some("spicedb") if args.get(1).map(String::as_str) == Some("reconcile") => {
            orgman_server::admin::reconcile_spicedb(&config).await
        }
        Some("sso") if args.get(1).map(String::as_str) == Some("reconcile") => {
            orgman_server::admin::reconcile_broker(&config).await
        }
        Some(other) => Err(anyhow::anyhow!(
            "unknown command {other:?}; expected no argument, `check-config`, `migrate`, `secrets rotate`, `spicedb reconcile` or `sso reconcile`"
        )),
        None => serve(config).await,
    };
    report(outcome)
}

fn report(outcome: anyhow::Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "orgman-server stopped");
            eprintln!("orgman-server: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let application = Application::build(config).await?;
    tracing::info!(port = application.port(), "orgman-server listening");
    application.run().await?;
    tracing::info!("orgman-server stopped gracefully");
    Ok(())
}

/// `migrate`: the database settings only (`DATABASE_URL`, or
/// `SPRING_DATASOURCE_URL` with its user and password).
async fn migrate(settings: &PgSettings, args: &[String]) -> anyhow::Result<()> {
    use orgman_postgres::migrate::{Command, run_command};
    let (command, dry_run) = Command::parse(args).map_err(anyhow::Error::msg)?;
    eprintln!("orgman-server: migrating {}", settings.redacted_url());
    print!("{}", run_command(settings, command, dry_run).await?);
    Ok(())
}
