//! The passes, one by one, and the whole normalisation.

use super::*;

fn doc_with_schema(schema: Value) -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {"/api/v1/things": {"get": {
            "operationId": "handle_list_things_api_v1_things_get",
            "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}}
        }}},
        "components": {"schemas": {"Thing": schema}}
    })
}

fn thing(doc: &Value) -> &Value {
    doc.pointer("/components/schemas/Thing").unwrap()
}

#[test]
fn openapi_version_downgrades_31_only() {
    let mut doc = json!({"openapi": "3.1.0", "webhooks": {}});
    openapi_version(&mut doc);
    assert_eq!(doc, json!({"openapi": "3.0.3"}));
    let mut doc = json!({"openapi": "3.0.2"});
    openapi_version(&mut doc);
    assert_eq!(doc["openapi"], "3.0.2");
}

#[test]
fn answer_alternatives_become_one_of() {
    let mut doc = doc_with_schema(json!({"type": "object", "properties": {"a": {"type": "string"}}}));
    let ok = "/paths/~1api~1v1~1things/get/responses/200/content/application~1json/schema";
    *doc.pointer_mut(ok).unwrap() = json!({"anyOf": [{"$ref": "#/components/schemas/Thing"}, {"$ref": "#/components/schemas/Other"}, {"$ref": "#/components/schemas/Thing"}]});
    doc["components"]["schemas"]["Other"] = json!({"type": "object", "properties": {"anyOf_field": {"anyOf": [{"$ref": "#/components/schemas/Thing"}, {"$ref": "#/components/schemas/Thing"}]}}});
    answer_alternatives(&mut doc);
    assert_eq!(
        doc.pointer(ok).unwrap()["oneOf"],
        json!([{"$ref": "#/components/schemas/Thing"}, {"$ref": "#/components/schemas/Other"}]),
        "a repeated arm once"
    );
    assert!(doc.pointer(ok).unwrap().get("anyOf").is_none());
    // Inside a component (whose side depends on who uses it), and mixed arms, stay as they are.
    assert!(
        doc["components"]["schemas"]["Other"]["properties"]["anyOf_field"]
            .get("anyOf")
            .is_some()
    );
}

#[test]
fn parameters_lose_null_but_keep_optional() {
    let mut doc = doc_with_schema(json!({"type": "object", "properties": {
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    }}));
    let op = doc.pointer_mut("/paths/~1api~1v1~1things/get").unwrap();
    op["parameters"] = json!([
        {"name": "X-Compose-Hash", "in": "header", "required": false,
         "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "X-Compose-Hash"}},
        {"name": "filter", "in": "query", "schema": {"anyOf": [{"type": "object", "properties": {
            "parameters": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}, {"type": "null"}]}},
    ]);
    null_unions(&mut doc);
    parameter_nulls(&mut doc);
    let params = doc.pointer("/paths/~1api~1v1~1things/get/parameters").unwrap();
    assert_eq!(
        params[0]["schema"],
        json!({"title": "X-Compose-Hash", "type": "string"})
    );
    assert_eq!(params[0]["required"], false, "still optional: absence says no value");
    assert_eq!(params[1]["schema"].get("nullable"), None);
    // Schemas inside a parameter's schema, and response schemas, keep theirs.
    assert_eq!(params[1]["schema"]["properties"]["parameters"]["nullable"], true);
    assert_eq!(thing(&doc)["properties"]["note"]["nullable"], true);
}

#[test]
fn null_unions_become_nullable() {
    let mut doc = doc_with_schema(json!({"type": "object", "properties": {
        "a": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "A", "default": "x"},
        "b": {"anyOf": [{"$ref": "#/components/schemas/Other"}, {"type": "null"}]},
        "c": {"type": ["integer", "null"]},
        "d": {"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
        "e": {"type": ["string", "integer"]},
        "f": {"type": "null", "title": "F"},
    }}));
    null_unions(&mut doc);
    let p = &thing(&doc)["properties"];
    assert_eq!(
        p["a"],
        json!({"title": "A", "default": "x", "nullable": true, "type": "string"})
    );
    assert_eq!(
        p["b"],
        json!({"nullable": true, "allOf": [{"$ref": "#/components/schemas/Other"}]})
    );
    assert_eq!(p["c"], json!({"type": "integer", "nullable": true}));
    assert_eq!(
        p["d"],
        json!({"oneOf": [{"type": "string"}, {"type": "integer"}], "nullable": true})
    );
    assert_eq!(p["e"], json!({"anyOf": [{"type": "string"}, {"type": "integer"}]}));
    assert_eq!(p["f"], json!({"title": "F", "nullable": true}));
}

#[test]
fn const_becomes_enum() {
    let mut doc = doc_with_schema(json!({"type": "string", "const": "node", "default": "node"}));
    const_to_enum(&mut doc);
    assert_eq!(
        thing(&doc),
        &json!({"type": "string", "default": "node", "enum": ["node"]})
    );
}

#[test]
fn string_enum_unions_merge() {
    let mut doc = doc_with_schema(json!({"type": "object", "properties": {
        "fs": {"anyOf": [{"type": "string", "enum": ["ext4"]}, {"type": "string", "enum": ["zfs"]}], "default": "zfs"},
        "mode": {"anyOf": [{"type": "string", "enum": ["listed", "all"]}, {"type": "string"}], "default": "listed"},
        "mixed": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
    }}));
    string_enum_unions(&mut doc);
    let p = &thing(&doc)["properties"];
    assert_eq!(
        p["fs"],
        json!({"default": "zfs", "type": "string", "enum": ["ext4", "zfs"]})
    );
    assert_eq!(p["mode"], json!({"default": "listed", "type": "string"}));
    assert_eq!(p["mixed"], json!({"anyOf": [{"type": "string"}, {"type": "integer"}]}));
}

#[test]
fn tuples_become_arrays() {
    let mut doc = doc_with_schema(json!({"type": "object", "properties": {
        "v": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "integer"}], "minItems": 2, "maxItems": 2},
        "m": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]},
    }}));
    tuples(&mut doc);
    let p = &thing(&doc)["properties"];
    assert_eq!(
        p["v"],
        json!({"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "integer"}})
    );
    assert_eq!(p["m"], json!({"type": "array", "items": {}}));
}

#[test]
fn head_answers_have_no_body() {
    let mut doc = doc_with_schema(json!({}));
    doc["paths"]["/raw"] = json!({
        "head": {"responses": {"200": {"description": "", "content": {"application/json": {"schema": {}}}}}},
        "get": {"responses": {"200": {"description": "", "content": {"application/json": {"schema": {}}}}}}
    });
    head_answers(&mut doc);
    assert_eq!(
        doc["paths"]["/raw"]["head"]["responses"]["200"],
        json!({"description": ""})
    );
    assert!(doc["paths"]["/raw"]["get"]["responses"]["200"].get("content").is_some());
}

#[test]
fn array_unions_become_arrays_of_unions() {
    let mut doc = doc_with_schema(json!({"anyOf": [
        {"type": "array", "items": {"type": "string"}},
        {"type": "array", "items": {"type": "integer"}}
    ]}));
    array_unions(&mut doc);
    assert_eq!(
        thing(&doc),
        &json!({"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "integer"}]}})
    );
    let mut doc = doc_with_schema(json!({"anyOf": [
        {"type": "array", "items": {"type": "integer"}, "minItems": 4, "maxItems": 4},
        {"type": "array", "items": {"type": "integer"}, "minItems": 3, "maxItems": 3}
    ]}));
    array_unions(&mut doc);
    assert_eq!(
        thing(&doc),
        &json!({"type": "array", "items": {"type": "integer"}, "minItems": 3, "maxItems": 4})
    );
    let mut doc = doc_with_schema(json!({"anyOf": [{"type": "array"}, {"type": "string"}]}));
    array_unions(&mut doc);
    assert!(thing(&doc).get("anyOf").is_some());
}

#[test]
fn inline_titles_go_component_titles_stay() {
    let mut doc = doc_with_schema(
        json!({"title": "Thing", "type": "object", "properties": {"object_type": {"title": "Object Type", "type": "string"}}}),
    );
    doc["paths"]["/api/v1/things"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] =
        json!({"title": "Response", "type": "array", "items": {"$ref": "#/components/schemas/Thing"}});
    inline_titles(&mut doc);
    assert_eq!(thing(&doc)["title"], "Thing");
    assert!(thing(&doc)["properties"]["object_type"].get("title").is_none());
    assert!(
        doc.pointer("/paths/~1api~1v1~1things/get/responses/200/content/application~1json/schema/title")
            .is_none()
    );
}

#[test]
fn examples_become_example() {
    let mut doc = doc_with_schema(json!({"type": "string", "examples": ["a", "b"]}));
    examples(&mut doc);
    assert_eq!(thing(&doc), &json!({"type": "string", "example": "a"}));
}

#[test]
fn exclusive_bounds_become_30_form() {
    let mut doc = doc_with_schema(json!({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 10}));
    exclusive_bounds(&mut doc);
    assert_eq!(
        thing(&doc),
        &json!({"type": "number", "exclusiveMinimum": true, "exclusiveMaximum": true, "minimum": 0, "maximum": 10})
    );
}

#[test]
fn bodyless_responses_dropped_only_beside_typed_ones() {
    let mut doc = json!({"paths": {
        "/a": {"post": {"responses": {
            "200": {"description": "ok", "content": {"application/json": {"schema": {}}}},
            "202": {"description": "accepted"},
            "400": {"description": "bad"},
            "401": {"description": "auth"},
            "422": {"description": "v", "content": {"application/json": {"schema": {}}}}
        }}},
        "/b": {"get": {"responses": {"200": {"description": "ok"}, "404": {"description": "gone"}}}}
    }});
    bodyless_responses(&mut doc);
    let a: Vec<&String> = doc
        .pointer("/paths/~1a/post/responses")
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(a, ["200", "422"]);
    assert!(doc.pointer("/paths/~1b/get/responses/404").is_some());
}

#[test]
fn request_content_types_keep_what_progenitor_encodes() {
    let mut doc = json!({"paths": {
        "/upload": {"post": {"requestBody": {"content": {"multipart/form-data": {"schema": {}}}}, "responses": {}}},
        "/both": {"put": {"requestBody": {"content": {"multipart/form-data": {}, "application/json": {"schema": {}}}}, "responses": {}}}
    }});
    request_content_types(&mut doc);
    assert!(doc["paths"].get("/upload").is_none());
    assert_eq!(
        doc["x-normalise-dropped"],
        json!(["POST /upload: request body multipart/form-data"])
    );
    let kept: Vec<&String> = doc
        .pointer("/paths/~1both/put/requestBody/content")
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(kept, ["application/json"]);
}

#[test]
fn an_enum_both_sides_reach_stays_open_while_objects_both_reach_stay_strict() {
    let mut doc = doc_with_schema(json!({"type": "object", "properties": {
        "kms_type": {"$ref": "#/components/schemas/KmsType"},
        "shared": {"$ref": "#/components/schemas/Body"}
    }}));
    doc["components"]["schemas"]["KmsType"] = json!({"type": "string", "enum": ["phala", "base"]});
    doc["components"]["schemas"]["Body"] =
        json!({"type": "object", "properties": {"kms": {"$ref": "#/components/schemas/KmsType"}}});
    doc["paths"]["/api/v1/things"]["get"]["requestBody"] =
        json!({"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Body"}}}});
    lenient_responses(&mut doc);
    assert!(doc["components"]["schemas"]["KmsType"]["oneOf"].is_array(), "{doc:#}");
    assert!(
        doc["components"]["schemas"]["Body"]
            .get("additionalProperties")
            .is_none(),
        "{doc:#}"
    );
}

#[test]
fn lenient_responses_open_enums_and_drop_patterns_on_response_side_only() {
    let mut doc = doc_with_schema(json!({"type": "object", "properties": {
        "kms_type": {"$ref": "#/components/schemas/KmsType"},
        "id": {"type": "string", "pattern": "^cvm_.+"}
    }}));
    doc["components"]["schemas"]["KmsType"] = json!({"type": "string", "enum": ["phala", "base"]});
    doc["components"]["schemas"]["Mode"] = json!({"type": "string", "enum": ["fast", "slow"]});
    doc["paths"]["/api/v1/things"]["get"]["parameters"] = json!([{"name": "mode", "in": "query", "schema": {"$ref": "#/components/schemas/Mode"}},
        {"name": "id", "in": "query", "schema": {"type": "string", "pattern": "^x"}}]);
    doc["components"]["schemas"]["Thing"]["properties"]["inline"] = json!({"type": "string", "enum": ["a", "b"]});
    doc["components"]["schemas"]["Body"] = json!({"type": "object", "properties": {"k": {"type": "string"}}});
    doc["paths"]["/api/v1/things"]["get"]["requestBody"] =
        json!({"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Body"}}}});
    lenient_responses(&mut doc);
    assert_eq!(
        doc["components"]["schemas"]["KmsType"],
        json!({"oneOf": [
            {"title": "Known", "allOf": [{"$ref": "#/components/schemas/KnownKmsType"}]},
            {"title": "Unknown", "type": "string"}
        ]})
    );
    assert_eq!(
        doc["components"]["schemas"]["KnownKmsType"],
        json!({"type": "string", "enum": ["phala", "base"]})
    );
    assert_eq!(
        thing(&doc)["properties"]["inline"],
        json!({"type": "string", "x-known-values": ["a", "b"]})
    );
    assert_eq!(
        thing(&doc)["additionalProperties"],
        unknown_field_schema(),
        "response objects keep unknown fields"
    );
    assert!(thing(&doc)["properties"]["id"].get("pattern").is_none());
    assert_eq!(doc["components"]["schemas"]["Mode"]["enum"], json!(["fast", "slow"]));
    assert!(
        doc["components"]["schemas"]["Body"]
            .get("additionalProperties")
            .is_none(),
        "request bodies stay strict"
    );
    assert_eq!(
        doc["paths"]["/api/v1/things"]["get"]["parameters"][1]["schema"]["pattern"],
        "^x"
    );
}

#[test]
fn event_streams_become_byte_streams_keeping_their_json_schema() {
    let mut doc = json!({"paths": {"/s": {"get": {"responses": {
        "200": {"description": "ok", "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/State"}},
            "text/event-stream": {"schema": {"type": "string"}}
        }},
        "422": {"description": "v", "content": {"application/json": {"schema": {}}}}
    }}}}});
    event_streams(&mut doc);
    let responses = &doc["paths"]["/s"]["get"]["responses"];
    assert_eq!(
        responses["200"]["content"],
        json!({"text/event-stream": {"schema": {"type": "string"},
               "x-json-schema": {"application/json": {"$ref": "#/components/schemas/State"}}}})
    );
    assert!(responses["422"]["content"].get("application/json").is_some());
}

#[test]
fn union_arms_are_named_unless_that_would_create_a_type() {
    let mut doc = doc_with_schema(json!({"oneOf": [
        {"type": "array", "items": {"$ref": "#/components/schemas/pkg__HostedCvm"}},
        {"type": "array", "items": {"$ref": "#/components/schemas/Info"}}
    ]}));
    doc["components"]["schemas"]["Id"] = json!({"oneOf": [{"type": "string"}, {"type": "integer"}]});
    doc["components"]["schemas"]["Mixed"] = json!({"oneOf": [{"type": "object"}, {"type": "string"}]});
    doc["components"]["schemas"]["Same"] = json!({"anyOf": [{"type": "string"}, {"type": "string", "format": "x"}]});
    union_arm_titles(&mut doc);
    let titles = |name: &str| -> Vec<Value> {
        doc["components"]["schemas"][name]
            .as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| *k == "oneOf" || *k == "anyOf")
            .unwrap()
            .1
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.get("title").cloned().unwrap_or(Value::Null))
            .collect()
    };
    assert_eq!(titles("Thing"), [json!("HostedCvmList"), json!("InfoList")]);
    assert_eq!(titles("Id"), [json!("String"), json!("Integer")]);
    assert_eq!(
        titles("Mixed"),
        [Value::Null, Value::Null],
        "an inline object arm would become a type"
    );
    assert_eq!(titles("Same"), [Value::Null, Value::Null], "equal names are not given");
}

#[test]
fn readable_names_shorten_unless_they_collide() {
    let mut doc = doc_with_schema(json!({"type": "object", "properties": {
        "a": {"$ref": "#/components/schemas/teehouse__v1__CVMInfo"},
        "b": {"$ref": "#/components/schemas/pkg__one__Dup"},
        "c": {"$ref": "#/components/schemas/pkg__two__Dup"},
        "d": {"$ref": "#/components/schemas/pkg__apps__v2__schemas__Info"},
        "e": {"$ref": "#/components/schemas/pkg__cvms__Info"},
    }}));
    for n in [
        "teehouse__v1__CVMInfo",
        "pkg__one__Dup",
        "pkg__two__Dup",
        "pkg__apps__v2__schemas__Info",
        "pkg__cvms__Info",
    ] {
        doc["components"]["schemas"][n] = json!({"type": "object"});
    }
    doc["paths"]["/api/v1/cvms/{cvm_id}/batch-stop"] = json!({"post": {"operationId": "handle_batch_stop_cvms_api_v1_cvms__cvm_id__batch_stop_post", "responses": {}}});
    doc["paths"]["/api/v1/cvms/{cvm_id}/replicas"] =
        json!({"post": {"operationId": "handle_replicate_cvm_api_v1_cvms__cvm_id__replicas_post", "responses": {}}});
    doc["paths"]["/api/v1/apps/{app_id}/cvms/{vm_uuid}/replicas"] = json!({"post": {"operationId": "handle_replicate_cvm_api_v1_apps__app_id__cvms__vm_uuid__replicas_post", "responses": {}}});
    readable_names(&mut doc);
    let names: Vec<&String> = doc["components"]["schemas"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["Thing", "CVMInfo", "OneDup", "TwoDup", "AppsV2Info", "Info"]);
    assert_eq!(thing(&doc)["properties"]["a"]["$ref"], "#/components/schemas/CVMInfo");
    assert_eq!(
        thing(&doc)["properties"]["d"]["$ref"],
        "#/components/schemas/AppsV2Info"
    );
    assert_eq!(
        doc["paths"]["/api/v1/cvms/{cvm_id}/replicas"]["post"]["operationId"],
        "replicate_cvm"
    );
    assert_eq!(
        doc["paths"]["/api/v1/apps/{app_id}/cvms/{vm_uuid}/replicas"]["post"]["operationId"],
        "apps_replicate_cvm"
    );
    assert_eq!(doc["paths"]["/api/v1/things"]["get"]["operationId"], "list_things");
    assert_eq!(
        doc["paths"]["/api/v1/cvms/{cvm_id}/batch-stop"]["post"]["operationId"],
        "batch_stop_cvms"
    );
}

#[test]
fn leftover_31_constructs_are_named() {
    let doc = doc_with_schema(json!({"type": "object", "properties": {"x": {"unevaluatedProperties": false}}}));
    let err = normalise(&doc).unwrap_err().to_string();
    assert_eq!(
        err,
        "/components/schemas/Thing/properties/x: unsupported construct: `unevaluatedProperties`"
    );
}

#[test]
fn normalise_is_pure_and_idempotent() {
    let doc = doc_with_schema(
        json!({"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}),
    );
    let before = doc.clone();
    let once = normalise(&doc).unwrap();
    assert_eq!(doc, before);
    assert_eq!(normalise(&once).unwrap(), once);
}
