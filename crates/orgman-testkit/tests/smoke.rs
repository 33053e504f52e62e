//! Smoke tests proving each component of the local stack is the real thing,
//! reached the way the adapters will reach it.

use std::collections::BTreeMap;
use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::{Integer, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use openidconnect::core::{CoreClient, CoreProviderMetadata};
use openidconnect::{
    ClientId, ClientSecret, IssuerUrl, OAuth2TokenResponse, ResourceOwnerPassword,
    ResourceOwnerUsername,
};
use orgman_testkit::{ADMIN, ALICE, Stack, http, unique_name};
use rskafka::BackoffConfig;
use rskafka::chrono::Utc;
use rskafka::client::ClientBuilder;
use rskafka::client::partition::{Compression, UnknownTopicHandling};
use rskafka::record::Record;
use serde_json::Value;
use spicedb_grpc_tonic::v1::permissions_service_client::PermissionsServiceClient;
use spicedb_grpc_tonic::v1::schema_service_client::SchemaServiceClient;
use spicedb_grpc_tonic::v1::{
    CheckPermissionRequest, Consistency, ObjectReference, Relationship, RelationshipUpdate,
    SubjectReference, WriteRelationshipsRequest, WriteSchemaRequest, check_permission_response,
    consistency, relationship_update,
};
use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

#[derive(QueryableByName, Debug, PartialEq)]
struct Row {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Text)]
    label: String,
}

#[tokio::test]
async fn postgres_round_trip_in_a_fresh_database() {
    let stack = Stack::get();
    let url = stack.fresh_database().await;
    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
    diesel::sql_query("CREATE TABLE smoke (id integer PRIMARY KEY, label text NOT NULL)")
        .execute(&mut conn)
        .await
        .unwrap();
    let inserted = diesel::sql_query("INSERT INTO smoke VALUES ($1, $2), ($3, $4)")
        .bind::<Integer, _>(1)
        .bind::<Text, _>("one")
        .bind::<Integer, _>(2)
        .bind::<Text, _>("two")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(inserted, 2);
    let rows: Vec<Row> = diesel::sql_query("SELECT id, label FROM smoke ORDER BY id DESC")
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![
            Row {
                id: 2,
                label: "two".into()
            },
            Row {
                id: 1,
                label: "one".into()
            }
        ]
    );
    // The database is really new: the service database has no such table.
    let mut main = AsyncPgConnection::establish(&stack.database_url)
        .await
        .unwrap();
    assert!(
        diesel::sql_query("SELECT id, label FROM smoke")
            .load::<Row>(&mut main)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn postgres_refuses_a_wrong_password() {
    let stack = Stack::get();
    let (scheme_user, rest) = stack.database_url.split_once('@').unwrap();
    let (prefix, _password) = scheme_user.rsplit_once(':').unwrap();
    let wrong = format!("{prefix}:wrong-password@{rest}");
    assert!(AsyncPgConnection::establish(&wrong).await.is_err());
}

#[tokio::test]
async fn redis_set_and_get() {
    let stack = Stack::get();
    let pool = deadpool_redis::Config::from_url(&stack.redis_url)
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .unwrap();
    let mut conn = pool.get().await.unwrap();
    let key = unique_name("smoke");
    deadpool_redis::redis::cmd("SET")
        .arg(&key)
        .arg("value-1")
        .arg("EX")
        .arg(60)
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let value: Option<String> = deadpool_redis::redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(value.as_deref(), Some("value-1"));
    let missing: Option<String> = deadpool_redis::redis::cmd("GET")
        .arg(unique_name("absent"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(missing, None);
}

#[tokio::test]
async fn kafka_topic_produce_and_fetch_with_headers() {
    let stack = Stack::get();
    let client = ClientBuilder::new(vec![stack.kafka_bootstrap.clone()])
        .backoff_config(BackoffConfig {
            deadline: Some(Duration::from_secs(10)),
            ..BackoffConfig::default()
        })
        .build()
        .await
        .unwrap();
    let topic = unique_name("smoke");
    client
        .controller_client()
        .unwrap()
        .create_topic(&topic, 1, 1, 5_000)
        .await
        .unwrap();
    // The broker that answers may learn of the topic a moment after the
    // controller made it (KRaft propagates metadata).
    orgman_testkit::eventually(
        "the created topic is listed",
        Duration::from_secs(10),
        || async {
            let topics = client.list_topics().await.unwrap();
            topics.iter().any(|t| t.name == topic)
        },
    )
    .await;

    let partition = client
        .partition_client(&topic, 0, UnknownTopicHandling::Error)
        .await
        .unwrap();
    let records: Vec<Record> = (0..3)
        .map(|i| Record {
            key: Some(format!("org-{i}").into_bytes()),
            value: Some(format!("{{\"n\":{i}}}").into_bytes()),
            headers: BTreeMap::from([("ce_type".to_owned(), b"smoke.v1".to_vec())]),
            timestamp: Utc::now(),
        })
        .collect();
    let offsets = partition
        .produce(records.clone(), Compression::Lz4)
        .await
        .unwrap();
    assert_eq!(offsets, vec![0, 1, 2]);

    let (fetched, high_watermark) = partition.fetch_records(0, 1..1_000_000, 100).await.unwrap();
    assert_eq!(high_watermark, 3);
    let got: Vec<_> = fetched
        .iter()
        .map(|r| {
            (
                r.offset,
                r.record.key.clone(),
                r.record.value.clone(),
                r.record.headers.clone(),
            )
        })
        .collect();
    let want: Vec<_> = records
        .into_iter()
        .enumerate()
        .map(|(i, r)| (i as i64, r.key, r.value, r.headers))
        .collect();
    assert_eq!(got, want);
}

async fn spicedb_channel() -> Channel {
    Channel::from_shared(Stack::get().spicedb_endpoint.clone())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn authorized<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    request.metadata_mut().insert("authorization", value);
    request
}

fn object(object_type: &str, id: &str) -> ObjectReference {
    ObjectReference {
        object_type: object_type.into(),
        object_id: id.into(),
    }
}

fn subject(id: &str) -> SubjectReference {
    SubjectReference {
        object: Some(object("user", id)),
        optional_relation: String::new(),
    }
}

#[tokio::test]
async fn spicedb_schema_relationships_and_checks() {
    let stack = Stack::get();
    let channel = spicedb_channel().await;
    let token = &stack.spicedb_token;
    let mut schema = SchemaServiceClient::new(channel.clone());
    // The project's schema: SpiceDB has one schema, shared by every test.
    let schema_text = include_str!("../../../deploy/spicedb/schema.zed");
    schema
        .write_schema(authorized(
            WriteSchemaRequest {
                schema: schema_text.into(),
            },
            token,
        ))
        .await
        .unwrap();

    let doc = unique_name("org");
    let mut permissions = PermissionsServiceClient::new(channel);
    let written = permissions
        .write_relationships(authorized(
            WriteRelationshipsRequest {
                updates: vec![RelationshipUpdate {
                    operation: relationship_update::Operation::Touch as i32,
                    relationship: Some(Relationship {
                        resource: Some(object("organization", &doc)),
                        relation: "member".into(),
                        subject: Some(subject("alice")),
                        ..Default::default()
                    }),
                }],
                ..Default::default()
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner();
    let zed_token = written.written_at.expect("a ZedToken");

    let check = |user: &str| CheckPermissionRequest {
        consistency: Some(Consistency {
            requirement: Some(consistency::Requirement::AtLeastAsFresh(zed_token.clone())),
        }),
        resource: Some(object("organization", &doc)),
        permission: "view".into(),
        subject: Some(subject(user)),
        ..Default::default()
    };
    let alice = permissions
        .check_permission(authorized(check("alice"), token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        alice.permissionship,
        check_permission_response::Permissionship::HasPermission as i32
    );
    let bob = permissions
        .check_permission(authorized(check("bob"), token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        bob.permissionship,
        check_permission_response::Permissionship::NoPermission as i32
    );

    // The preshared key is enforced: the server answers a wrong one with
    // PermissionDenied (the old front said Unauthenticated).
    let refused = permissions
        .check_permission(authorized(check("alice"), "wrong-key"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
}

async fn discovered_keys(stack: &Stack) -> (CoreProviderMetadata, JwkSet) {
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(stack.oidc_issuer.clone()).unwrap(),
        &openidconnect::reqwest::Client::new(),
    )
    .await
    .unwrap();
    let jwks: JwkSet = http()
        .get(metadata.jwks_uri().url().clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (metadata, jwks)
}

fn verify(stack: &Stack, jwks: &JwkSet, token: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("key id is published");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[&stack.oidc_issuer]);
    validation.set_audience(&[&stack.oidc_audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .unwrap()
        .claims
}

#[tokio::test]
async fn oidc_discovery_and_tokens_that_verify() {
    let stack = Stack::get();
    let (metadata, jwks) = discovered_keys(stack).await;
    assert_eq!(metadata.issuer().as_str(), stack.oidc_issuer);
    assert!(
        metadata
            .token_endpoint()
            .unwrap()
            .as_str()
            .ends_with("/realms/dev/protocol/openid-connect/token"),
        "Keycloak's layout"
    );
    let http_client = openidconnect::reqwest::Client::new();

    // Client credentials through openidconnect, as the service account.
    let service = CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(stack.service_account_id.clone()),
        Some(ClientSecret::new(stack.service_account_secret.clone())),
    );
    let response = service
        .exchange_client_credentials()
        .unwrap()
        .request_async(&http_client)
        .await
        .unwrap();
    let claims = verify(stack, &jwks, response.access_token().secret());
    assert_eq!(claims["azp"], stack.service_account_id.as_str());
    // The only legacy admin roles left are the identity-provider ones;
    // users and Organizations come through admin permissions v2, which
    // tokens do not list (docs/identity.md, "The service account").
    let mut roles: Vec<&str> = claims["resource_access"]["realm-management"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    roles.sort_unstable();
    assert_eq!(
        roles,
        ["manage-identity-providers", "view-identity-providers"]
    );

    // The password grant, as the platform admin.
    let public = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(stack.test_client_id.clone()),
        None,
    );
    let response = public
        .exchange_password(
            &ResourceOwnerUsername::new(ADMIN.username.into()),
            &ResourceOwnerPassword::new(ADMIN.password.into()),
        )
        .unwrap()
        .request_async(&http_client)
        .await
        .unwrap();
    let claims = verify(stack, &jwks, response.access_token().secret());
    assert_eq!(claims["sub"], ADMIN.id);
    // Keycloak's access-token shape: `typ` Bearer (ID tokens say `ID`), the
    // client as `azp`, the service's audience beside Keycloak's `account`.
    assert_eq!(claims["typ"], "Bearer");
    assert_eq!(claims["azp"], stack.test_client_id.as_str());
    assert!(
        claims["aud"]
            .as_array()
            .unwrap()
            .contains(&stack.oidc_audience.as_str().into()),
        "{claims}"
    );
    assert_eq!(claims["email_verified"], true);
    assert!(
        claims["realm_access"]["roles"]
            .as_array()
            .unwrap()
            .contains(&"ADMIN".into())
    );

    // The testkit's helper gives the same shape, with the organization claim.
    let alice = verify(stack, &jwks, &stack.password_token(ALICE).await);
    assert_eq!(alice["preferred_username"], "alice");
    assert_eq!(alice["org_id"], "00000000-0000-0000-0000-00000000d3fa");
}

#[tokio::test]
async fn oidc_refuses_wrong_credentials_and_forged_tokens() {
    let stack = Stack::get();
    let response = http()
        .post(stack.token_endpoint())
        .form(&[
            ("grant_type", "password"),
            ("client_id", stack.test_client_id.as_str()),
            ("username", ALICE.username),
            ("password", "not-her-password"),
        ])
        .send()
        .await
        .unwrap();
    // Keycloak 26.7 answers a wrong password with 400, as RFC 6749 says
    // (26.5 answered 401).
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");

    // A token whose payload was changed no longer verifies.
    let (_, jwks) = discovered_keys(stack).await;
    let token = stack.password_token(ALICE).await;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = parts[1].chars().rev().collect();
    let forged = parts.join(".");
    let header = jsonwebtoken::decode_header(&forged).unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[&stack.oidc_audience]);
    assert!(
        jsonwebtoken::decode::<Value>(&forged, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .is_err()
    );
}
