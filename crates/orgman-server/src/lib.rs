//! The orgman service: configuration, token authentication, the request's
//! organization context, the REST API and its OpenAPI document, wired to the
//! domain's use cases over the adapters. `main.rs` only calls
//! [`Application::build`] and [`Application::run`]; tests start the same
//! application on port 0.

pub mod admin;
mod app;
pub mod auth;
mod background;
pub mod config;
mod console;
mod csv_stream;
mod dto;
pub mod extract;
mod jwt_crypto;
mod key_usage;
mod member_csv;
mod mirror;
mod openapi;
mod operability;
pub mod problem;
mod provisioning;
mod rate_limit;
mod routes;
mod state;
pub mod telemetry;
mod webhooks;
mod wiring;

pub use app::{Application, REQUEST_ID_HEADER};
pub use config::Config;
pub use config::{PlatformComponent, parse_components};
pub use openapi::openapi_document;
