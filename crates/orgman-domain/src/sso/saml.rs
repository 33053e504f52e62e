//! SAML connections over time: reading and checking an identity provider's
//! metadata, the connection test's steps, and the scheduled refresh that
//! rolls changed certificates into the login broker and announces those
//! about to expire.

use time::OffsetDateTime;

use crate::errors::port::ValidationError;
use crate::errors::use_case::OrgError;
use crate::events::event::EventKind;
use crate::ports::{MetadataProblem, SamlMetadataReader};
use crate::sso::model::{CertificateState, MetadataSource, SamlIdp, SsoConfig, SsoConnection};
use crate::values::id::SsoConfigId;

/// One step of a connection test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestStep {
    /// What was checked: `discovery` (OpenID Connect); `metadata`,
    /// `descriptor`, `certificates`, `identity` (SAML).
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What was found, for people.
    pub detail: String,
}

/// A connection test's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionReport {
    /// Whether every step passed.
    pub reachable: bool,
    /// The issuer (OpenID Connect) or entity id (SAML) the provider
    /// reported, if one was read.
    pub reported_issuer: Option<String>,
    /// The first failing step's detail, or the last step's.
    pub detail: String,
    /// Each step, in order; a step that could not run is not listed.
    pub steps: Vec<TestStep>,
}

impl ConnectionReport {
    pub(crate) fn of(steps: Vec<TestStep>, reported_issuer: Option<String>) -> Self {
        let failed = steps.iter().find(|s| !s.ok);
        Self {
            reachable: failed.is_none() && !steps.is_empty(),
            detail: failed
                .or(steps.last())
                .map(|s| s.detail.clone())
                .unwrap_or_default(),
            reported_issuer,
            steps,
        }
    }
}

/// What a scheduled refresh of SAML connections did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SamlRefreshReport {
    /// SAML configurations examined.
    pub examined: usize,
    /// Configurations whose metadata (read from their URL) changed.
    pub changed: usize,
    /// Certificates announced as expiring (or expired).
    pub announced: usize,
    /// Metadata URLs that could not be read or were refused (the stored
    /// metadata stays in use).
    pub failed: Vec<(SsoConfigId, String)>,
    /// Certificates by state, across every SAML configuration.
    pub certificates: Vec<(CertificateState, usize)>,
}

/// The configuration field a source came through.
pub(crate) fn field_of(source: &MetadataSource) -> &'static str {
    match source {
        MetadataSource::Url(_) => "metadataUrl",
        MetadataSource::Xml(_) => "metadataXml",
    }
}

pub(crate) fn problem(field: &'static str, problem: MetadataProblem) -> OrgError {
    match problem {
        MetadataProblem::NotAllowed(why) => OrgError::IssuerNotAllowed(why),
        other => ValidationError::SamlMetadataInvalid {
            field,
            reason: other.to_string(),
        }
        .into(),
    }
}

/// Fetches (for a URL) and reads metadata, and checks it can log anyone in
/// at `now`: at least one signing certificate has not expired.
pub(crate) async fn read_source(
    reader: &dyn SamlMetadataReader,
    source: &MetadataSource,
    now: OffsetDateTime,
) -> Result<SamlIdp, OrgError> {
    let field = field_of(source);
    let xml = match source {
        MetadataSource::Url(url) => reader.fetch(url).await.map_err(|p| problem(field, p))?,
        MetadataSource::Xml(xml) => xml.clone(),
    };
    let idp = reader.read(&xml).map_err(|p| problem(field, p))?;
    if idp.certificates.iter().all(|c| c.not_after <= now) {
        return Err(ValidationError::SamlMetadataInvalid {
            field,
            reason: "every signing certificate in it has expired".into(),
        }
        .into());
    }
    Ok(idp)
}

/// The announcements `config` owes at `now`: one per certificate within
/// `warning` of expiry (or past it) not announced yet. Records them in the
/// configuration, and forgets certificates it no longer has.
pub(crate) fn announcements(
    config: &mut SsoConfig,
    now: OffsetDateTime,
    warning: time::Duration,
) -> Vec<EventKind> {
    let id = config.id;
    let SsoConnection::Saml(saml) = &mut config.connection else {
        return Vec::new();
    };
    let present: Vec<String> = saml
        .idp
        .certificates
        .iter()
        .map(|c| c.sha256.clone())
        .collect();
    saml.announced.retain(|f| present.contains(f));
    let mut kinds = Vec::new();
    for certificate in &saml.idp.certificates {
        let state = certificate.state(now, warning);
        if state == CertificateState::Valid || saml.announced.contains(&certificate.sha256) {
            continue;
        }
        saml.announced.push(certificate.sha256.clone());
        kinds.push(EventKind::SsoCertificateExpiring {
            config_id: id,
            fingerprint: certificate.sha256.clone(),
            not_after: certificate.not_after,
            expired: state == CertificateState::Expired,
        });
    }
    kinds
}

/// The SAML connection test: reads the metadata as a refresh would (the
/// pasted one is the stored one), and checks it step by step.
pub(crate) async fn test(
    reader: &dyn SamlMetadataReader,
    config: &SsoConfig,
    now: OffsetDateTime,
    warning: time::Duration,
) -> ConnectionReport {
    let Some(saml) = config.saml() else {
        return ConnectionReport::of(Vec::new(), None);
    };
    let mut steps = Vec::new();
    let idp = match &saml.metadata_url {
        None => {
            steps.push(TestStep {
                name: "metadata",
                ok: true,
                detail: "pasted metadata (no URL to fetch); the stored copy is checked".into(),
            });
            saml.idp.clone()
        }
        Some(url) => {
            let fetched = match reader.fetch(url).await {
                Ok(xml) => xml,
                Err(problem) => {
                    steps.push(TestStep {
                        name: "metadata",
                        ok: false,
                        detail: format!("{url} could not be fetched: {problem}"),
                    });
                    return ConnectionReport::of(steps, None);
                }
            };
            steps.push(TestStep {
                name: "metadata",
                ok: true,
                detail: format!("fetched {url} ({} bytes)", fetched.len()),
            });
            match reader.read(&fetched) {
                Ok(idp) => idp,
                Err(problem) => {
                    steps.push(TestStep {
                        name: "descriptor",
                        ok: false,
                        detail: problem.to_string(),
                    });
                    return ConnectionReport::of(steps, None);
                }
            }
        }
    };
    steps.push(TestStep {
        name: "descriptor",
        ok: true,
        detail: format!(
            "identity provider {}, single sign-on at {} ({})",
            idp.entity_id,
            idp.sso_url,
            if idp.post_binding {
                "HTTP-POST"
            } else {
                "HTTP-Redirect"
            }
        ),
    });
    steps.push(certificate_step(&idp, now, warning));
    let same = idp.entity_id == saml.idp.entity_id;
    steps.push(TestStep {
        name: "identity",
        ok: same,
        detail: if same {
            "the metadata names the configured identity provider".into()
        } else {
            format!(
                "the metadata now names {}, not {}; the next refresh takes it",
                idp.entity_id, saml.idp.entity_id
            )
        },
    });
    ConnectionReport::of(steps, Some(idp.entity_id))
}

fn certificate_step(idp: &SamlIdp, now: OffsetDateTime, warning: time::Duration) -> TestStep {
    let states: Vec<CertificateState> = idp
        .certificates
        .iter()
        .map(|c| c.state(now, warning))
        .collect();
    let soonest = idp.certificates.iter().map(|c| c.not_after).min();
    let usable = states.iter().any(|s| *s != CertificateState::Expired);
    let expiring = states
        .iter()
        .filter(|s| **s != CertificateState::Valid)
        .count();
    let mut detail = format!("{} signing certificate(s)", states.len());
    if let Some(soonest) = soonest {
        detail.push_str(&format!(", the first expiring on {}", soonest.date()));
    }
    if expiring > 0 {
        detail.push_str(&format!(
            "; {expiring} expired or expiring within {} days",
            warning.whole_days()
        ));
    }
    if !usable {
        detail.push_str("; none can verify a login");
    }
    TestStep {
        name: "certificates",
        ok: usable,
        detail,
    }
}
