//! The Helm chart's contract, checked without `helm` (not installable from
//! the registries this project uses): the reference's values are accepted,
//! every value a template reads exists, template blocks balance, the probes
//! use the actuator endpoints, and egress names exactly the dependencies.

use std::fs;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

fn chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/helm/organization-manager")
}

fn values() -> Value {
    serde_yaml::from_str(&fs::read_to_string(chart().join("values.yaml")).unwrap()).unwrap()
}

fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

fn templates() -> Vec<(String, String)> {
    fs::read_dir(chart().join("templates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_reference_values_are_accepted() {
    let values = values();
    for key in [
        "fullnameOverride",
        "image.repository",
        "replicaCount",
        "env",
        "extraEnvVarsMultipleSecretsCustomKeys",
        "rbac.create",
        "ingress.enabled",
        "podLabels",
    ] {
        assert!(lookup(&values, key).is_some(), "values.yaml lacks {key}");
    }
    let labels = lookup(&values, "podLabels").unwrap();
    assert_eq!(
        labels
            .get("flowx.ai/prometheus-scrape")
            .and_then(Value::as_str),
        Some("organization-manager")
    );
}

#[test]
fn every_value_a_template_reads_exists() {
    let values = values();
    for (file, text) in templates() {
        let mut rest = text.as_str();
        while let Some(at) = rest.find(".Values.") {
            let path: String = rest[at + 8..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
                .collect();
            let path = path.trim_end_matches('.');
            assert!(
                lookup(&values, path).is_some(),
                "{file} reads .Values.{path}, which values.yaml lacks"
            );
            rest = &rest[at + 8..];
        }
    }
}

#[test]
fn template_blocks_balance() {
    for (file, text) in templates() {
        let actions: Vec<&str> = text
            .split("{{")
            .skip(1)
            .map(|a| a.trim_start_matches('-').trim_start())
            .collect();
        let opened = actions
            .iter()
            .filter(|a| {
                ["if ", "range ", "with ", "define "]
                    .iter()
                    .any(|k| a.starts_with(k))
            })
            .count();
        let closed = actions.iter().filter(|a| a.starts_with("end")).count();
        assert_eq!(
            opened, closed,
            "{file}: {opened} blocks opened, {closed} closed"
        );
        assert_eq!(
            text.matches("{{").count(),
            text.matches("}}").count(),
            "{file}: unbalanced braces"
        );
    }
}

#[test]
fn probes_use_the_actuator_and_egress_is_limited_to_the_dependencies() {
    let values = values();
    assert_eq!(
        lookup(&values, "probes.liveness.path").and_then(Value::as_str),
        Some("/actuator/health/liveness")
    );
    assert_eq!(
        lookup(&values, "probes.readiness.path").and_then(Value::as_str),
        Some("/actuator/health/readiness")
    );
    let egress = lookup(&values, "networkPolicy.egress")
        .unwrap()
        .as_mapping()
        .unwrap();
    let mut names: Vec<&str> = egress.keys().filter_map(Value::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "kafka",
            "keycloak",
            "postgresql",
            "redis",
            "spicedb",
            "ssoIssuers",
            "webhooks"
        ]
    );
    // Each entry is pods by label or addresses by CIDR, with a port; SSO
    // issuers are reachable on public addresses only.
    for (name, target) in egress {
        assert!(
            target.get("port").is_some()
                && (target.get("podLabels").is_some() || target.get("cidr").is_some()),
            "{name:?}"
        );
    }
    // SSO issuers and webhook endpoints: public addresses on 443 only.
    for entry in ["ssoIssuers", "webhooks"] {
        let target = lookup(&values, &format!("networkPolicy.egress.{entry}")).unwrap();
        assert_eq!(target["port"].as_u64(), Some(443), "{entry}");
        let except: Vec<&str> = target["except"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for private in [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "169.254.0.0/16",
        ] {
            assert!(except.contains(&private), "{entry}: {private}");
        }
    }
    let policy = templates()
        .into_iter()
        .find(|(f, _)| f == "networkpolicy.yaml")
        .unwrap()
        .1;
    assert!(policy.contains("ipBlock:") && policy.contains("podSelector:"));
    let deployment = templates()
        .into_iter()
        .find(|(f, _)| f == "deployment.yaml")
        .unwrap()
        .1;
    assert!(deployment.contains("runAsNonRoot: true"));
    let helpers = templates()
        .into_iter()
        .find(|(f, _)| f == "_helpers.tpl")
        .unwrap()
        .1;
    assert!(
        deployment.contains(r#"include "orgman.env""#) && helpers.contains("secretKeyRef"),
        "secrets come from Kubernetes secrets"
    );
}

#[test]
fn migrations_run_as_a_hook_job_and_reconciliation_as_an_optional_cronjob() {
    let values = values();
    assert_eq!(
        lookup(&values, "migrations.job.enabled").and_then(Value::as_bool),
        Some(true)
    );
    for reconcile in ["spicedbReconcile", "ssoReconcile"] {
        assert_eq!(
            lookup(&values, &format!("{reconcile}.enabled")).and_then(Value::as_bool),
            Some(false),
            "{reconcile}"
        );
    }
    let templates = templates();
    let file = |name: &str| {
        templates
            .iter()
            .find(|(f, _)| f == name)
            .map(|(_, text)| text.clone())
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    let job = file("migrations-job.yaml");
    assert!(job.contains("helm.sh/hook: pre-install,pre-upgrade"));
    assert!(job.contains(r#"args: ["migrate", "up"]"#));
    assert!(job.contains("restartPolicy: Never"));
    let cron = file("reconcile-cronjob.yaml");
    // One CronJob per enabled reconciliation, each running its command.
    assert!(
        cron.contains(r#""args" "[\"spicedb\", \"reconcile\"]" "values" .Values.spicedbReconcile"#)
    );
    assert!(cron.contains(r#""args" "[\"sso\", \"reconcile\"]" "values" .Values.ssoReconcile"#));
    assert!(cron.contains("args: {{ $job.args }}"));
    assert!(cron.contains("concurrencyPolicy: Forbid"));
    // Every workload gets the same environment, and the replicas leave the
    // migrations to the Job when it runs.
    for name in [
        "deployment.yaml",
        "migrations-job.yaml",
        "reconcile-cronjob.yaml",
    ] {
        assert!(file(name).contains(r#"include "orgman.env""#), "{name}");
        assert!(file(name).contains("runAsNonRoot: true"), "{name}");
    }
    let helpers = file("_helpers.tpl");
    assert!(helpers.contains("SPRING_LIQUIBASE_ENABLED"));
}

#[test]
fn pods_carry_no_api_token_and_run_under_the_runtime_seccomp_profile() {
    let pods = [
        "deployment.yaml",
        "migrations-job.yaml",
        "reconcile-cronjob.yaml",
    ];
    for (file, text) in templates()
        .into_iter()
        .filter(|(f, _)| pods.contains(&f.as_str()))
    {
        assert!(
            text.contains("automountServiceAccountToken: false"),
            "{file} mounts a service account token"
        );
        let seccomp = text
            .split("seccompProfile:")
            .nth(1)
            .unwrap_or_else(|| panic!("{file} sets no seccompProfile"));
        assert!(
            seccomp.trim_start().starts_with("type: RuntimeDefault"),
            "{file}"
        );
    }
}

#[test]
fn dns_goes_to_the_clusters_resolver_and_metrics_are_not_routed_outside() {
    let policy = templates()
        .into_iter()
        .find(|(f, _)| f == "networkpolicy.yaml")
        .unwrap()
        .1;
    // The egress rule with port 53 names its destination.
    let dns_rule = policy
        .split("\n    - ")
        .find(|rule| rule.contains("port: 53"))
        .expect("a DNS rule");
    assert!(
        dns_rule.contains("namespaceSelector:") && dns_rule.contains("networkPolicy.dns.podLabels"),
        "DNS egress open to any address: {dns_rule}"
    );
    let values = values();
    assert_eq!(
        lookup(&values, "networkPolicy.dns.podLabels.k8s-app").and_then(Value::as_str),
        Some("kube-dns")
    );
    let paths: Vec<&str> = lookup(&values, "ingress.paths")
        .and_then(Value::as_sequence)
        .expect("ingress.paths")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(paths.contains(&"/api"), "{paths:?}");
    for path in &paths {
        assert!(
            !"/actuator/metrics".starts_with(path),
            "the Ingress routes /actuator/metrics through {path}"
        );
    }
    let ingress = templates()
        .into_iter()
        .find(|(f, _)| f == "ingress.yaml")
        .unwrap()
        .1;
    assert!(ingress.contains("range .Values.ingress.paths"));
    // The example policy for Keycloak's pods keeps providers public.
    let keycloak = lookup(&values, "keycloakEgress.providers.except")
        .and_then(Value::as_sequence)
        .expect("keycloakEgress.providers.except");
    assert!(keycloak.iter().any(|c| c.as_str() == Some("10.0.0.0/8")));
    assert!(templates().iter().any(|(f, _)| f == "keycloak-egress.yaml"));
}
