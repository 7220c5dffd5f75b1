//! The generated raw client against httpmock: the request shape each
//! operation sends and the typed values each answer decodes into.

use futures::StreamExt;
use httpmock::prelude::*;
use phala_cloud_api::types::{
    self, BatchStatusRequest, BatchStopRequest, GetAppCvmsResponseItem, ListCvmsResponseItem,
};
use phala_cloud_api::{Client, Transport};
use serde_json::json;

fn hosted_cvm() -> serde_json::Value {
    json!({
        "hosted": {"id": "6e1c2a9e-0d9b-4f37-9a55-1f0c2b3d4e5f", "name": "web-0", "status": "running", "uptime": "2h",
                   "app_id": "0a1b2c3d", "events": [{"event": "boot.progress", "body": "done", "timestamp": 1700000000000_i64}]},
        "name": "web-0", "status": "running", "public_urls": [{"app": "https://a", "instance": "https://i"}],
        "node": {"id": 7, "name": "prod-node-7", "region_identifier": "us-west"},
        "kms_info": {"id": "kms_abc", "url": "https://kms", "version": "0.5"},
        "billing_period": null
    })
}

fn cvm_info(kms_type: &str) -> serde_json::Value {
    json!({
        "id": "cvm_ykL5lbAn", "name": "web-0", "app_id": "0a1b2c3d", "vm_uuid": "6e1c2a9e-0d9b-4f37-9a55-1f0c2b3d4e5f",
        "resource": {"vcpu": 2, "memory_in_gb": 4.0, "billing_period": "hourly"},
        "status": "running", "in_progress": false, "gateway": {"base_domain": "phala.network"},
        "kms_type": kms_type,
        "node_info": {"object_type": "node", "id": 7, "status": "ONLINE"},
        "workspace": {"object_type": "workspace", "id": "wks_1", "name": "team"},
        "creator": {"object_type": "user", "id": "usr_1", "username": "alice"},
        "created_at": "2026-01-21T10:00:00Z"
    })
}

#[tokio::test]
async fn batch_status_sends_uuids_and_decodes_every_field() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            // No `api-version`: progenitor's header, which the service
            // ignores, is trimmed at generation.
            when.method(POST)
                .path("/api/v1/status/batch")
                .header_missing("api-version")
                .json_body(json!({"vm_uuids": ["u1", "u2"]}));
            then.status(200).json_body(json!({
                "u1": {"vm_uuid": "u1", "status": "stopping", "uptime": "1h", "in_progress": true,
                       "boot_progress": "done", "boot_error": null, "shutdown_progress": "50%",
                       "events": [{"event": "shutdown.progress", "body": "50%", "timestamp": 1700000000000_i64}],
                       "operation_type": "stop", "operation_started_at": "2026-11-24T10:00:00Z", "correlation_id": "c-1"},
                "u2": {"vm_uuid": "u2", "status": "running"}
            }));
        })
        .await;
    let client = Client::new(&server.base_url(), Transport::default());
    let answer = client
        .batch_cvm_status()
        .body(BatchStatusRequest::builder().vm_uuids(vec!["u1".to_string(), "u2".to_string()]))
        .send()
        .await
        .unwrap()
        .into_inner();
    mock.assert_async().await;
    let u1 = &answer["u1"];
    assert_eq!(u1.vm_uuid, "u1");
    assert_eq!(u1.status, "stopping");
    assert_eq!(u1.uptime.as_deref(), Some("1h"));
    assert_eq!(u1.in_progress, Some(true));
    assert_eq!(u1.boot_progress.as_deref(), Some("done"));
    assert_eq!(u1.boot_error, None);
    assert_eq!(u1.shutdown_progress.as_deref(), Some("50%"));
    assert_eq!(u1.events()[0].event, "shutdown.progress");
    assert_eq!(u1.events()[0].timestamp, Some(1_700_000_000_000));
    assert_eq!(u1.operation_type.as_deref(), Some("stop"));
    assert_eq!(
        u1.operation_started_at.unwrap().to_rfc3339(),
        "2026-11-24T10:00:00+00:00"
    );
    assert_eq!(u1.correlation_id.as_deref(), Some("c-1"));
    assert!(!answer["u2"].is_in_progress(), "in_progress defaults to false");
    assert!(answer["u2"].events().is_empty());
}

#[tokio::test]
async fn batch_stop_decodes_summary_with_errors_and_surfaces_400() {
    let server = MockServer::start_async().await;
    let ok = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/api/v1/cvms/batch-stop")
                .json_body(json!({"cvm_ids": ["cvm_a", "cvm_b", "cvm_c"]}));
            then.status(200)
                .json_body(json!({"total": 3, "stopped": 1, "skipped": 1,
                "errors": [{"cvm_id": "cvm_c", "error": "CVM not found"}]}));
        })
        .await;
    let client = Client::new(&server.base_url(), Transport::default());
    let ids = |ids: &[&str]| BatchStopRequest::builder().cvm_ids(ids.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let summary = client
        .batch_stop_cvms()
        .body(ids(&["cvm_a", "cvm_b", "cvm_c"]))
        .send()
        .await
        .unwrap()
        .into_inner();
    ok.assert_async().await;
    assert_eq!((summary.total, summary.stopped, summary.skipped), (3, 1, 1));
    assert_eq!(
        summary.errors,
        Some(vec![types::BatchStopErrorEntry {
            cvm_id: "cvm_c".into(),
            error: "CVM not found".into(),
            extra: Default::default(),
        }])
    );

    server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/api/v1/cvms/batch-stop")
                .json_body(json!({"cvm_ids": ["too", "many"]}));
            then.status(400)
                .json_body(json!({"detail": "Maximum 50 CVMs per request"}));
        })
        .await;
    let err = client
        .batch_stop_cvms()
        .body(ids(&["too", "many"]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(reqwest::StatusCode::BAD_REQUEST));
}

#[tokio::test]
async fn list_cvms_decodes_both_shapes_and_sends_filters() {
    let server = MockServer::start_async().await;
    let hosted = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api/v1/cvms")
                .query_param("teepod_id", "7")
                .query_param("user_id", "0");
            then.status(200).json_body(json!([hosted_cvm()]));
        })
        .await;
    let info = server
        .mock_async(|when, then| {
            when.method(GET).path("/api/v1/cvms").query_param_missing("teepod_id");
            then.status(200).json_body(json!([cvm_info("phala")]));
        })
        .await;
    let client = Client::new(&server.base_url(), Transport::default());
    match client
        .list_cvms()
        .teepod_id(7)
        .user_id("0")
        .send()
        .await
        .unwrap()
        .into_inner()
        .as_slice()
    {
        [ListCvmsResponseItem::HostedCvm(c)] => {
            assert_eq!(c.hosted.id, "6e1c2a9e-0d9b-4f37-9a55-1f0c2b3d4e5f");
            assert_eq!(c.node.as_ref().unwrap().name, "prod-node-7");
            assert_eq!(c.hosted.events.as_ref().unwrap()[0].event, "boot.progress");
        }
        other => panic!("expected HostedCvm[], got {other:?}"),
    }
    match client.list_cvms().send().await.unwrap().into_inner().as_slice() {
        [ListCvmsResponseItem::CvmInfo(c)] => {
            assert_eq!(c.id.to_text(), "cvm_ykL5lbAn");
            assert_eq!(c.resource.vcpu, Some(2));
            assert_eq!(c.workspace.as_ref().unwrap().object_type.as_deref(), Some("workspace"));
            assert_eq!(c.creator.as_ref().unwrap().object_type.as_deref(), Some("user"));
            assert_eq!(c.node_info.as_ref().unwrap().object_type.as_deref(), Some("node"));
        }
        other => panic!("expected CVMInfo[], got {other:?}"),
    }
    hosted.assert_async().await;
    info.assert_async().await;
}

#[tokio::test]
async fn unknown_enum_values_in_responses_still_decode() {
    let server = MockServer::start_async().await;
    let mut cvm = cvm_info("solana");
    cvm["resource"]["billing_period"] = json!("weekly");
    cvm["node_info"]["status"] = json!("DRAINING");
    server
        .mock_async(|when, then| {
            when.method(GET).path("/api/v1/apps/0a1b2c3d/cvms");
            then.status(200).json_body(json!([cvm]));
        })
        .await;
    let client = Client::new(&server.base_url(), Transport::default());
    let list: Vec<types::CvmInfo> = client
        .get_app_cvms()
        .app_id("0a1b2c3d")
        .send()
        .await
        .unwrap()
        .into_inner()
        .into_iter()
        .map(|item| match item {
            GetAppCvmsResponseItem::CvmInfo(c) => c,
            other => panic!("expected CVMInfo, got {other:?}"),
        })
        .collect();
    // Unknown values are kept, in the open enums' `Unknown` arm.
    assert_eq!(list[0].kms_type, Some(types::KmsType::Unknown("solana".into())));
    assert_eq!(
        list[0].resource.billing_period,
        Some(types::BillingPeriod::Unknown("weekly".into()))
    );
    assert_eq!(
        list[0].node_info.as_ref().unwrap().status,
        Some(types::TeepodStatus::Unknown("DRAINING".into()))
    );
    // Known ones are typed.
    let known: types::KmsType = serde_json::from_value(json!("phala")).unwrap();
    assert_eq!(known, types::KmsType::Known(types::KnownKmsType::Phala));
}

#[tokio::test]
async fn app_cvms_404_and_401_surface_their_status() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/api/v1/apps/missing/cvms");
            then.status(404)
                .json_body(json!({"detail": {"error_code": "ERR-02-001", "message": "App not found"}}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/api/v1/cvms");
            then.status(401).json_body(json!({"detail": "Not authenticated"}));
        })
        .await;
    let client = Client::new(&server.base_url(), Transport::default());
    let err = client.get_app_cvms().app_id("missing").send().await.unwrap_err();
    assert_eq!(err.status(), Some(reqwest::StatusCode::NOT_FOUND));
    let err = client.list_cvms().send().await.unwrap_err();
    assert_eq!(err.status(), Some(reqwest::StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn state_is_json_and_422_is_typed() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api/v1/cvms/cvm_a/state")
                .query_param_missing("target");
            then.status(200)
                .json_body(json!({"name": "web", "status": "running", "instance_id": "i-1", "uptime": "2h30m"}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/api/v1/cvms/cvm_a/state").query_param("interval", "1");
            then.status(422).json_body(json!({"detail": [{"loc": ["query", "interval"], "msg": "Input should be greater than or equal to 5", "type": "greater_than_equal"}]}));
        })
        .await;
    let client = Client::new(&server.base_url(), Transport::default());
    // The answer can be an event stream, so it arrives as bytes; the
    // immediate answer decodes into the generated CvmState.
    let stream = client.get_cvm_state().cvm_id("cvm_a").send().await.unwrap();
    let bytes: Vec<u8> = stream
        .into_inner_stream()
        .map(|chunk| chunk.unwrap().to_vec())
        .concat()
        .await;
    let state: types::CvmState = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(state.status, types::KnownStatus::Running);
    assert_eq!(state.uptime.as_deref(), Some("2h30m"));
    match client
        .get_cvm_state()
        .cvm_id("cvm_a")
        .interval(1)
        .target("running")
        .send()
        .await
        .map(|_| "an event stream")
        .unwrap_err()
    {
        phala_cloud_api::Error::ErrorResponse(resp) => {
            assert_eq!(resp.status().as_u16(), 422);
            let detail = resp.into_inner().detail.unwrap();
            assert_eq!(detail[0].msg, "Input should be greater than or equal to 5");
            assert_eq!(
                detail[0].loc[1],
                types::ValidationErrorLocItem::String("interval".into())
            );
        }
        other => panic!("expected a typed 422, got {other:?}"),
    }
}

#[tokio::test]
async fn path_parameters_are_percent_encoded() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET).path("/api/v1/cvms/a%2F..%2Fb%20c/state");
            then.status(200).json_body(json!({"status": "running"}));
        })
        .await;
    let client = Client::new(&server.base_url(), Transport::default());
    client.get_cvm_state().cvm_id("a/../b c").send().await.unwrap();
    mock.assert_async().await;
}

fn vm_record(status: &str) -> serde_json::Value {
    json!({
        "id": 5001, "name": "web-0", "status": status, "teepod_id": 7, "teepod": {"id": 7, "name": "prod-node-7"},
        "user_id": null, "app_id": "0a1b2c3d", "vm_uuid": "6e1c2a9e-0d9b-4f37-9a55-1f0c2b3d4e5f", "instance_id": null,
        "vcpu": 2, "memory": 4096, "disk_size": 40, "created_at": "2026-01-21T10:00:00Z", "encrypted_env_pubkey": null
    })
}

#[tokio::test]
async fn lifecycle_calls_post_to_their_paths_and_decode_the_record() {
    let server = MockServer::start_async().await;
    let client = Client::new(&server.base_url(), Transport::default());
    for (call, status) in [("start", "starting"), ("stop", "stopping"), ("shutdown", "stopping")] {
        let mock = server
            .mock_async(|when, then| {
                when.method(POST).path(format!("/api/v1/cvms/cvm_1/{call}"));
                then.status(200).json_body(vm_record(status));
            })
            .await;
        let vm = match call {
            "start" => client.start_cvm().cvm_id("cvm_1").send().await,
            "stop" => client.stop_cvm().cvm_id("cvm_1").send().await,
            _ => client.shutdown_cvm().cvm_id("cvm_1").send().await,
        }
        .unwrap()
        .into_inner();
        mock.assert_async().await;
        assert_eq!(vm.status, status);
        assert_eq!(
            (vm.id, vm.teepod_id, vm.memory),
            (phala_cloud_api::types::CvmId::Integer(5001), 7, 4096)
        );
        assert_eq!(vm.instance_id, None);
    }
    let restart = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/api/v1/cvms/cvm_1/restart")
                .json_body(json!({"force": true}));
            then.status(200).json_body(vm_record("restarting"));
        })
        .await;
    let vm = client
        .restart_cvm()
        .cvm_id("cvm_1")
        .body(types::RestartPost { force: true })
        .send()
        .await
        .unwrap()
        .into_inner();
    restart.assert_async().await;
    assert!(
        matches!(vm.status, types::Status::Unknown(ref s) if s == "restarting"),
        "an open enum keeps new values"
    );
}

#[tokio::test]
async fn delete_is_204_and_a_busy_cvm_409_surfaces_its_status() {
    let server = MockServer::start_async().await;
    let client = Client::new(&server.base_url(), Transport::default());
    let delete = server
        .mock_async(|when, then| {
            when.method(DELETE).path("/api/v1/cvms/cvm_1");
            then.status(204);
        })
        .await;
    let answer = client.remove_cvm().cvm_id("cvm_1").send().await.unwrap();
    delete.assert_async().await;
    assert_eq!(answer.status(), 204);
    server
        .mock_async(|when, then| {
            when.method(POST).path("/api/v1/cvms/cvm_2/start");
            then.status(409)
                .json_body(json!({"detail": {"error_code": "ERR-03-008", "message": "busy"}}));
        })
        .await;
    match client.start_cvm().cvm_id("cvm_2").send().await {
        Err(phala_cloud_api::Error::UnexpectedResponse(r)) => assert_eq!(r.status(), 409),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn details_decode_either_version_shape() {
    let server = MockServer::start_async().await;
    let client = Client::new(&server.base_url(), Transport::default());
    let basic = json!({
        "id": 5001, "name": "web-0", "status": "running", "in_progress": false, "teepod_id": 7,
        "teepod": {"id": 7, "name": "prod-node-7", "region_identifier": "us-west"}, "app_id": "0a1b2c3d",
        "vm_uuid": "6e1c", "instance_id": null, "vcpu": 2, "memory": 4096, "disk_size": 40,
        "base_image": "dstack-0.5.3", "encrypted_env_pubkey": null, "public_urls": []
    });
    let mut detail = cvm_info("phala");
    detail["compose_file"] = json!({"services": {}});
    for (id, body) in [("old", basic), ("new", detail)] {
        server
            .mock_async(|when, then| {
                when.method(GET).path(format!("/api/v1/cvms/{id}"));
                then.status(200).json_body(body);
            })
            .await;
    }
    let old = client.get_cvm().cvm_id("old").send().await.unwrap().into_inner();
    assert!(matches!(old, types::GetCvmResponse::BasicInfo(ref b) if b.id == 5001 && b.teepod_id == Some(7)));
    let new = client.get_cvm().cvm_id("new").send().await.unwrap().into_inner();
    let types::GetCvmResponse::InfoDetail(new) = new else {
        panic!("{new:?}")
    };
    assert_eq!(new.id, "cvm_ykL5lbAn");
    assert!(matches!(
        new.compose_file,
        Some(types::CvmInfoDetailComposeFile::Object(_))
    ));
}

/// `KnownStatus::ALL` is every status the overlay's `Status` schema names,
/// in its order: what wait targets and `--target` offer.
#[test]
fn every_known_status_is_listed() {
    fn find_enum(v: &serde_json::Value) -> Option<Vec<String>> {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(e) = m.get("Status").and_then(|s| s.get("enum")).and_then(|e| e.as_array()) {
                    return Some(e.iter().filter_map(|x| x.as_str().map(str::to_string)).collect());
                }
                m.values().find_map(find_enum)
            }
            serde_json::Value::Array(a) => a.iter().find_map(find_enum),
            _ => None,
        }
    }
    let overlay: serde_json::Value = serde_json::from_str(phala_cloud_api::OVERLAY_JSON).unwrap();
    let documented = find_enum(&overlay).expect("the overlay's Status enum");
    let listed: Vec<&str> = types::KnownStatus::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(listed, documented);
    assert_eq!(
        types::KnownStatus::parse_listed("stopped"),
        Ok(types::KnownStatus::Stopped)
    );
    let refused = types::KnownStatus::parse_listed("stoped").unwrap_err();
    assert!(
        refused.starts_with("unknown status \"stoped\"; known: pending, starting, running,"),
        "{refused}"
    );
}
