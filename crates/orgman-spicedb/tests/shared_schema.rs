//! orgman's schema written into a SpiceDB the platform's other services
//! share: their definitions, statements and relationships survive.

use orgman_spicedb::{SpiceDbAuthorizer, SpiceDbSettings};
use orgman_testkit::PrivateSpiceDb;
use spicedb_grpc_tonic::v1::schema_service_client::SchemaServiceClient;
use spicedb_grpc_tonic::v1::{ReadSchemaRequest, WriteSchemaRequest};
use tonic::Request;

fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

#[tokio::test]
async fn other_services_definitions_stay_when_orgman_writes_its_schema() {
    let spicedb = PrivateSpiceDb::start();
    let mut schema = SchemaServiceClient::connect(spicedb.endpoint())
        .await
        .unwrap();
    let theirs = "definition user {\n  relation manager: user\n}\n\ndefinition document {\n  relation reader: user\n  permission read = reader\n}\n";
    schema
        .write_schema(authed(
            WriteSchemaRequest {
                schema: theirs.into(),
            },
            spicedb.token(),
        ))
        .await
        .unwrap();

    let authorizer = SpiceDbAuthorizer::connect(
        SpiceDbSettings::from_env(|name| match name {
            "FLOWX_LIB_CASCLIENT_SPICEDB_HOST" => Some("127.0.0.1".into()),
            "FLOWX_LIB_CASCLIENT_SPICEDB_PORT" => Some(spicedb.port().to_string()),
            "FLOWX_LIB_CASCLIENT_SPICEDB_TOKEN" => Some(spicedb.token().to_owned()),
            _ => None,
        })
        .unwrap()
        .unwrap(),
    )
    .unwrap();
    assert!(authorizer.ensure_schema().await.unwrap(), "written");
    let now = schema
        .read_schema(authed(ReadSchemaRequest {}, spicedb.token()))
        .await
        .unwrap()
        .into_inner()
        .schema_text;
    assert!(now.contains("definition document"), "{now}");
    assert!(now.contains("permission read = reader"), "{now}");
    assert!(now.contains("relation manager: user"), "{now}");
    assert!(now.contains("definition organization"), "{now}");
    assert!(now.contains("permission manage_members"), "{now}");
    assert!(
        !authorizer.ensure_schema().await.unwrap(),
        "nothing to change the second time"
    );
}
