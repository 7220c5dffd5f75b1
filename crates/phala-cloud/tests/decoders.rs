//! Property tests of the response decoders: whatever a server sends, they
//! return a value or a typed error, never panic; what they decode round-trips.

use phala_cloud::raw::types::ListCvmsResponseItem;
use phala_cloud::{Cvm, CvmState, CvmStatus, Status, StatusMap, parse_retry_after};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Any JSON value, biased towards the field names the decoders look at.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("id".to_string()),
        Just("vm_uuid".to_string()),
        Just("name".to_string()),
        Just("status".to_string()),
        Just("hosted".to_string()),
        Just("in_progress".to_string()),
        Just("resource".to_string()),
        Just("memory_in_gb".to_string()),
        Just("vcpu".to_string()),
        Just("node".to_string()),
        Just("node_info".to_string()),
        Just("events".to_string()),
        Just("operation".to_string()),
        "[a-z_]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A list item of any shape decodes into one of the generated shapes or
    /// fails with an error, never a panic; what decodes reads through every
    /// accessor of the view and survives encode then decode.
    #[test]
    fn list_items_of_any_shape_never_panic(v in json_value()) {
        let Ok(list) = serde_json::from_value::<Vec<ListCvmsResponseItem>>(Value::Array(vec![v])) else {
            return Ok(());
        };
        let again: Vec<ListCvmsResponseItem> = serde_json::from_value(serde_json::to_value(&list).unwrap()).unwrap();
        prop_assert_eq!(&again, &list);
        for cvm in Cvm::from_list(list) {
            let _ = (cvm.id(), cvm.vm_uuid(), cvm.name(), cvm.app_id(), cvm.status().as_str());
            let _ = (cvm.in_progress(), cvm.node(), cvm.vcpu(), cvm.memory_mb());
        }
    }

    #[test]
    fn status_and_state_decoders_never_panic(v in json_value(), bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = serde_json::from_value::<CvmStatus>(v.clone());
        let _ = serde_json::from_value::<CvmState>(v.clone());
        let _ = serde_json::from_value::<StatusMap>(v);
        let _ = serde_json::from_slice::<StatusMap>(&bytes);
        let _ = serde_json::from_slice::<CvmState>(&bytes);
    }

    #[test]
    fn retry_after_of_any_text_never_panics(s in ".{0,40}", secs in 0u64..1_000_000) {
        let _ = parse_retry_after(&s);
        prop_assert_eq!(parse_retry_after(&secs.to_string()), Some(std::time::Duration::from_secs(secs)));
    }

    #[test]
    fn statuses_round_trip(s in ".{0,16}") {
        let status = Status::from(s.as_str());
        prop_assert_eq!(status.as_str(), s.as_str());
        let back: Status = serde_json::from_value(serde_json::to_value(&status).unwrap()).unwrap();
        prop_assert_eq!(back, status);
    }

    /// A status entry survives encode then decode, unknown fields included.
    #[test]
    fn status_entries_round_trip(uuid in "[0-9a-f-]{1,36}", status in "[a-z]{1,10}", in_progress in any::<bool>(),
                                 uptime in proptest::option::of("[0-9]{1,3}m"), extra in "[a-z]{1,6}") {
        let v = json!({"vm_uuid": uuid, "status": status, "in_progress": in_progress, "uptime": uptime,
                       "events": [], format!("x_{extra}"): 1});
        let decoded: CvmStatus = serde_json::from_value(v).unwrap();
        let again: CvmStatus = serde_json::from_value(serde_json::to_value(&decoded).unwrap()).unwrap();
        prop_assert_eq!(&again, &decoded);
        prop_assert_eq!(decoded.extra.len(), 1);
    }
}
