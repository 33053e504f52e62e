#![allow(unreachable_pub)]

//! API tests: the real application on port 0, against the local stack's
//! PostgreSQL (a fresh database per test) and OIDC provider (real tokens).

mod api_keys;
mod audit;
mod auth;
mod commands;
mod connectivity;
mod console;
mod context;
mod contract;
mod domains;
mod errors;
mod events;
mod hardening;
mod helpers;
mod import;
mod invitations;
mod isolation;
mod lifecycle;
mod logs;
mod members;
mod openapi;
mod operability;
mod organizations;
mod outages;
mod recent_reads;
mod registration;
mod roles;
mod saml;
mod scim;
mod shutdown;
mod sso;
mod sso_login;
mod webhooks;
