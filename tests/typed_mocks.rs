//! The typed mocks (`phala_cloud_api::mock`, feature `httpmock`) against the
//! generated client, one test per bundled operation: what a user's test
//! looks like, and proof that mock and client agree on every operation.

use httpmock::MockServer;
use phala_cloud_api::mock::MockServerExt;
use phala_cloud_api::types::{self, KnownStatus};
use phala_cloud_api::{Client, Transport};
use serde_json::json;

fn decode<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn vm(status: &str) -> types::Vm {
    decode(json!({
        "id": 7, "name": "web-0", "status": status, "teepod_id": 3, "app_id": "0a1b", "vm_uuid": "u1",
        "vcpu": 2, "memory": 2048, "disk_size": 20, "created_at": "2026-01-21T10:00:00Z"
    }))
}

fn client(server: &MockServer) -> Client {
    Client::new(&server.base_url(), Transport::default())
}

#[tokio::test]
async fn batch_cvm_status() {
    let server = MockServer::start_async().await;
    let body = types::BatchStatusRequest {
        vm_uuids: vec!["u1".into()],
    };
    let status: types::CvmStatus = decode(json!({"vm_uuid": "u1", "status": "stopping", "in_progress": true}));
    let mock = server.batch_cvm_status(|when, then| {
        when.body(&body);
        then.ok(&[("u1".to_string(), status.clone())].into_iter().collect());
    });
    let answer = client(&server)
        .batch_cvm_status()
        .body(body.clone())
        .send()
        .await
        .unwrap();
    mock.assert_async().await;
    assert_eq!(answer["u1"], status);
    assert!(answer["u1"].is_in_progress());
}

#[tokio::test]
async fn batch_stop_cvms() {
    let server = MockServer::start_async().await;
    let body = types::BatchStopRequest {
        cvm_ids: vec!["cvm_a".into(), "cvm_b".into()],
    };
    let summary: types::BatchStopResponse = decode(json!({"total": 2, "stopped": 1, "skipped": 1, "errors": []}));
    let mock = server.batch_stop_cvms(|when, then| {
        when.body(&body);
        then.ok(&summary);
    });
    let answer = client(&server)
        .batch_stop_cvms()
        .body(body.clone())
        .send()
        .await
        .unwrap();
    mock.assert_async().await;
    assert_eq!((answer.stopped, answer.skipped), (1, 1));
}

#[tokio::test]
async fn list_cvms() {
    let server = MockServer::start_async().await;
    let item: types::ListCvmsResponseItem = decode(json!({
        "id": "cvm_a", "name": "web-0", "status": "running", "resource": {}, "gateway": {}
    }));
    let mock = server.list_cvms(|when, then| {
        when.teepod_id(3);
        then.ok(&vec![item.clone()]);
    });
    let answer = client(&server).list_cvms().teepod_id(3).send().await.unwrap();
    mock.assert_async().await;
    assert_eq!(answer.into_inner(), vec![item]);
}

#[tokio::test]
async fn get_app_cvms() {
    let server = MockServer::start_async().await;
    let item: types::GetAppCvmsResponseItem = decode(json!({
        "id": "cvm_a", "name": "web-0", "status": "running", "resource": {}, "gateway": {}
    }));
    let mock = server.get_app_cvms(|when, then| {
        when.app_id("0a1b");
        then.ok(&vec![item.clone()]);
    });
    let answer = client(&server).get_app_cvms().app_id("0a1b").send().await.unwrap();
    mock.assert_async().await;
    assert_eq!(answer.len(), 1);
}

#[tokio::test]
async fn get_cvm_state() {
    let server = MockServer::start_async().await;
    let mock = server.get_cvm_state(|when, then| {
        when.cvm_id("cvm_a");
        then.ok(json!({"status": "running", "uptime": "1h"}));
    });
    let answer = client(&server).get_cvm_state().cvm_id("cvm_a").send().await.unwrap();
    mock.assert_async().await;
    let chunks: Vec<_> = futures::TryStreamExt::try_collect(answer.into_inner_stream())
        .await
        .unwrap();
    let body: Vec<u8> = chunks.concat();
    let state: types::CvmState = serde_json::from_slice(&body).unwrap();
    assert_eq!(state.status, KnownStatus::Running);
}

#[tokio::test]
async fn get_cvm() {
    let server = MockServer::start_async().await;
    let details: types::GetCvmResponse = decode(json!({
        "id": 7, "name": "web-0", "status": "running", "app_id": "0a1b", "vcpu": 2, "memory": 2048, "disk_size": 20
    }));
    let mock = server.get_cvm(|when, then| {
        when.cvm_id("web-0");
        then.ok(&details);
    });
    let answer = client(&server).get_cvm().cvm_id("web-0").send().await.unwrap();
    mock.assert_async().await;
    assert!(matches!(answer.into_inner(), types::GetCvmResponse::BasicInfo(b) if b.id == 7));
}

#[tokio::test]
async fn start_stop_and_shutdown_cvm() {
    let server = MockServer::start_async().await;
    let c = client(&server);
    let start = server.start_cvm(|when, then| {
        when.cvm_id("cvm_a");
        then.ok(&vm("starting"));
    });
    let stop = server.stop_cvm(|when, then| {
        when.cvm_id("cvm_b");
        then.ok(&vm("stopping"));
    });
    let shutdown = server.shutdown_cvm(|when, then| {
        when.cvm_id("cvm_c");
        then.ok(&vm("stopping"));
    });
    assert_eq!(
        c.start_cvm().cvm_id("cvm_a").send().await.unwrap().status,
        KnownStatus::Starting
    );
    assert_eq!(
        c.stop_cvm().cvm_id("cvm_b").send().await.unwrap().status,
        KnownStatus::Stopping
    );
    assert_eq!(
        c.shutdown_cvm().cvm_id("cvm_c").send().await.unwrap().status,
        KnownStatus::Stopping
    );
    for mock in [start, stop, shutdown] {
        mock.assert_async().await;
    }
}

#[tokio::test]
async fn restart_cvm() {
    let server = MockServer::start_async().await;
    let mock = server.restart_cvm(|when, then| {
        when.cvm_id("cvm_a").body(&types::RestartPost { force: true });
        then.ok(&vm("stopping"));
    });
    let answer = client(&server)
        .restart_cvm()
        .cvm_id("cvm_a")
        .body(types::RestartPost { force: true })
        .send()
        .await
        .unwrap();
    mock.assert_async().await;
    assert_eq!(answer.vm_uuid.as_deref(), Some("u1"));
}

#[tokio::test]
async fn remove_cvm() {
    let server = MockServer::start_async().await;
    let mock = server.remove_cvm(|when, then| {
        when.cvm_id("cvm_a");
        then.no_content();
    });
    let answer = client(&server).remove_cvm().cvm_id("cvm_a").send().await.unwrap();
    mock.assert_async().await;
    assert_eq!(answer.status(), 204);
}

#[tokio::test]
async fn a_validation_error_is_typed_too() {
    let server = MockServer::start_async().await;
    let error: types::HttpValidationError =
        decode(json!({"detail": [{"loc": ["query", "interval"], "msg": "too small", "type": "greater_than_equal"}]}));
    let mock = server.get_cvm_state(|when, then| {
        when.cvm_id("cvm_a").interval(1);
        then.unprocessable_entity(&error);
    });
    let answer = client(&server).get_cvm_state().cvm_id("cvm_a").interval(1).send().await;
    mock.assert_async().await;
    match answer {
        Err(phala_cloud_api::Error::ErrorResponse(e)) => assert_eq!(e.into_inner(), error),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a 422 decoded as success"),
    }
}

#[test]
fn json_schema_of_cvm_status() {
    let schema = schemars::schema_for!(types::CvmStatus);
    let schema = serde_json::to_value(&schema).unwrap();
    assert_eq!(schema["title"], "CvmStatus");
    let props = schema["properties"].as_object().unwrap();
    for field in ["vm_uuid", "status", "resource_usage", "operation", "events"] {
        assert!(props.contains_key(field), "{field} missing: {schema}");
    }
    assert!(schema["required"].as_array().unwrap().contains(&json!("vm_uuid")));
    // The open status set: a known value or any other string.
    assert!(schema.to_string().contains("running"));
}
