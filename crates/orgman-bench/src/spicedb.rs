//! SpiceDB's own `CheckPermission` throughput: the anchor a read decided by
//! SpiceDB is measured against (`ceiling_spicedb`).
//!
//! The requests are the ones `SpiceDbAuthorizer::check_at` sends (`view`
//! on `organization:<id>` for `user:<id>`), at the consistency it sends
//! them at: `minimize_latency` for an organization unchanged for
//! `ORGMAN_SPICEDB_RECENT_READS_AFTER_MS` (the steady state of a read
//! load), fully consistent right after a change. From the bench's own tonic
//! client over one channel, as the service holds one, with 16 concurrent
//! callers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use orgman_domain::{OrganizationId, UserId};
use spicedb_grpc_tonic::v1::permissions_service_client::PermissionsServiceClient;
use spicedb_grpc_tonic::v1::{
    CheckPermissionRequest, Consistency, ObjectReference, Relationship, RelationshipUpdate,
    SubjectReference, WriteRelationshipsRequest, check_permission_response::Permissionship,
    consistency, relationship_update,
};
use tonic::transport::Channel;

use crate::{Load, gather};

/// How the checks are sent.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Pass {
    /// One fully consistent check per pair, each once, at a new revision:
    /// nothing SpiceDB cached helps.
    Cold,
    /// Pairs in turn for `seconds`, fully consistent.
    Steady(u64),
    /// Pairs in turn for `seconds`, at SpiceDB's quantized revision
    /// (`minimize_latency`).
    Recent(u64),
}

fn request(
    user: UserId,
    org: OrganizationId,
    token: &str,
    recent: bool,
) -> tonic::Request<CheckPermissionRequest> {
    let requirement = if recent {
        consistency::Requirement::MinimizeLatency(true)
    } else {
        consistency::Requirement::FullyConsistent(true)
    };
    authorized(
        CheckPermissionRequest {
            consistency: Some(Consistency {
                requirement: Some(requirement),
            }),
            resource: Some(object("organization", org)),
            permission: "view".into(),
            subject: Some(SubjectReference {
                object: Some(object("user", user)),
                optional_relation: String::new(),
            }),
            ..Default::default()
        },
        token,
    )
}

fn object(object_type: &str, id: impl ToString) -> ObjectReference {
    ObjectReference {
        object_type: object_type.into(),
        object_id: id.to_string(),
    }
}

fn authorized<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// Writes one relationship, so SpiceDB's head revision moves on: a fully
/// consistent check after it finds nothing cached for the new revision.
pub(crate) async fn new_revision(endpoint: &str, token: &str) {
    let channel = Channel::from_shared(endpoint.to_owned())
        .unwrap()
        .connect_lazy();
    let touch = RelationshipUpdate {
        operation: relationship_update::Operation::Touch as i32,
        relationship: Some(Relationship {
            resource: Some(object("organization", uuid::Uuid::new_v4())),
            relation: "platform".into(),
            subject: Some(SubjectReference {
                object: Some(object("platform", "main")),
                optional_relation: String::new(),
            }),
            ..Default::default()
        }),
    };
    PermissionsServiceClient::new(channel)
        .write_relationships(authorized(
            WriteRelationshipsRequest {
                updates: vec![touch],
                ..Default::default()
            },
            token,
        ))
        .await
        .expect("write a relationship to SpiceDB");
}

/// `CheckPermission` for every (user, organization) pair, 16 callers on
/// one channel to `endpoint`; every answer must be "has permission".
pub(crate) async fn checks(
    endpoint: &str,
    token: &str,
    pairs: &[(UserId, OrganizationId)],
    pass: Pass,
) -> Load {
    if let Pass::Cold = pass {
        new_revision(endpoint, token).await;
    }
    let channel = Channel::from_shared(endpoint.to_owned())
        .unwrap()
        .connect()
        .await
        .expect("connect to the stack's SpiceDB");
    let pairs = Arc::new(pairs.to_vec());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let token: Arc<str> = token.into();
    let deadline = match pass {
        Pass::Cold => None,
        Pass::Steady(seconds) | Pass::Recent(seconds) => {
            Some(Instant::now() + Duration::from_secs(seconds))
        }
    };
    let recent = matches!(pass, Pass::Recent(_));
    let started = Instant::now();
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let mut client = PermissionsServiceClient::new(channel.clone());
            let (pairs, next, token) = (pairs.clone(), next.clone(), token.clone());
            tokio::spawn(async move {
                let mut samples = Vec::new();
                let mut errors = 0_u64;
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let go = match deadline {
                        None => n < pairs.len(),
                        Some(deadline) => Instant::now() < deadline,
                    };
                    if !go {
                        break;
                    }
                    let (user, org) = pairs[n % pairs.len()];
                    let at = Instant::now();
                    match client
                        .check_permission(request(user, org, &token, recent))
                        .await
                    {
                        Ok(response)
                            if response.get_ref().permissionship
                                == Permissionship::HasPermission as i32 =>
                        {
                            samples.push(at.elapsed());
                        }
                        _ => errors += 1,
                    }
                }
                (samples, errors)
            })
        })
        .collect();
    gather(workers, started).await
}
