//! Monitoring the platform's other components: each configured health URL
//! is probed periodically with a timeout; `GET /api/v1/platform/components`
//! reports what was seen, a gauge per component follows it, and a change of
//! status is logged.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::RwLock;
use tokio::task::JoinHandle;
use utoipa::ToSchema;

use super::metrics::Metrics;
use crate::config::PlatformComponent;

/// What the last probe of a component saw.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ComponentStatus {
    name: String,
    /// `UP`, `DOWN` or `UNKNOWN` (not probed yet).
    status: &'static str,
    /// The version the component reports, when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    last_check: Option<OffsetDateTime>,
    /// Why it is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

/// The monitor's shared state.
#[derive(Debug, Default)]
pub(crate) struct ComponentMonitor {
    statuses: RwLock<BTreeMap<String, ComponentStatus>>,
}

async fn probe_one(
    http: &reqwest::Client,
    component: &PlatformComponent,
) -> (bool, Option<String>, Option<String>) {
    let response = match http.get(&component.url).send().await {
        Ok(response) => response,
        Err(error) => return (false, None, Some(error.to_string())),
    };
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let version = [
        &body["version"],
        &body["build"]["version"],
        &body["details"]["version"],
    ]
    .into_iter()
    .find_map(|v| v.as_str().map(str::to_owned));
    let reported = body["status"].as_str();
    let up = status.is_success() && reported.is_none_or(|s| s.eq_ignore_ascii_case("UP"));
    let detail = (!up).then(|| match reported {
        Some(s) => format!("reports {s} ({status})"),
        None => format!("answered {status}"),
    });
    (up, version, detail)
}

impl ComponentMonitor {
    /// Probes every component once.
    pub(crate) async fn probe_all(
        &self,
        http: &reqwest::Client,
        components: &[PlatformComponent],
        metrics: &Metrics,
    ) {
        let results =
            futures_util::future::join_all(components.iter().map(|c| probe_one(http, c))).await;
        let now = OffsetDateTime::now_utc();
        let mut statuses = self.statuses.write().await;
        for (component, (up, version, detail)) in components.iter().zip(results) {
            let status = if up { "UP" } else { "DOWN" };
            let previous = statuses.get(&component.name).map(|s| s.status);
            if previous != Some(status) {
                if up {
                    tracing::info!(component = %component.name, from = previous.unwrap_or("UNKNOWN"), "platform component is up");
                } else {
                    tracing::warn!(component = %component.name, from = previous.unwrap_or("UNKNOWN"), detail = detail.as_deref().unwrap_or(""), "platform component is down");
                }
            }
            metrics
                .component_up
                .with_label_values(&[&component.name])
                .set(i64::from(up));
            statuses.insert(
                component.name.clone(),
                ComponentStatus {
                    name: component.name.clone(),
                    status,
                    version,
                    last_check: Some(now),
                    detail,
                },
            );
        }
    }

    /// Starts probing every `interval`.
    pub(crate) fn spawn(
        self: &Arc<Self>,
        components: Vec<PlatformComponent>,
        interval: Duration,
        metrics: Arc<Metrics>,
    ) -> JoinHandle<()> {
        let monitor = self.clone();
        tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()
                .unwrap_or_default();
            {
                let mut statuses = monitor.statuses.write().await;
                for c in &components {
                    statuses
                        .entry(c.name.clone())
                        .or_insert_with(|| ComponentStatus {
                            name: c.name.clone(),
                            status: "UNKNOWN",
                            version: None,
                            last_check: None,
                            detail: None,
                        });
                }
            }
            loop {
                monitor.probe_all(&http, &components, &metrics).await;
                tokio::time::sleep(interval).await;
            }
        })
    }

    pub(crate) async fn snapshot(&self) -> Vec<ComponentStatus> {
        self.statuses.read().await.values().cloned().collect()
    }
}
