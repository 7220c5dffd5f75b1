//! Running progenitor on a normalised document, with failures located.
//!
//! progenitor reports some problems as errors and others as panics; either
//! way a bare message rarely says which operation or schema caused it. When
//! generation fails, [`generate`] retries each operation on its own to name
//! the culprit.

use std::panic::{AssertUnwindSafe, catch_unwind};

use progenitor::{GenerationSettings, Generator, HooksMode, InterfaceStyle, TagStyle};
use serde_json::Value;

use crate::{SpecError, operations};

/// The settings our raw client is generated with.
///
/// The client carries a `crate::Transport` (auth, version and workspace
/// headers, per-attempt timeout, body cap, tracing), and the crate must
/// implement `ClientHooks<Transport>` for it: every generated request, the
/// facade's and `raw()` users' alike, goes through those hooks. Maps are
/// ordered, so answers print the same every time.
pub fn settings() -> GenerationSettings {
    settings_for(Derives::default())
}

/// Derives the generated types may carry beyond the fixed ones, chosen by
/// the generated crate's features.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Derives {
    /// `schemars::JsonSchema` on every type (the crate's `schemars` feature).
    pub schemars: bool,
}

impl Derives {
    /// With or without `schemars::JsonSchema`.
    pub fn schemars(mut self, on: bool) -> Self {
        self.schemars = on;
        self
    }
}

/// [`settings`], plus `derives`.
pub fn settings_for(derives: Derives) -> GenerationSettings {
    let mut settings = GenerationSettings::default();
    if derives.schemars {
        settings.with_derive("::schemars::JsonSchema");
    }
    settings
        .with_interface(InterfaceStyle::Builder)
        .with_tag(TagStyle::Merged)
        .with_derive("PartialEq")
        .with_map_type("::std::collections::BTreeMap")
        .with_conversion(unknown_field(), "::serde_json::Value", std::iter::empty())
        .with_hooks(HooksMode::Expected)
        .with_inner_type(quote::quote!(crate::Transport));
    settings
}

/// The schema [`crate::normalise::UNKNOWN_FIELD`] marks, as typify compares
/// it: an unknown field's value becomes a `serde_json::Value`, and so the
/// `extra` map of a response object a `BTreeMap` (see that constant).
fn unknown_field() -> schemars::schema::SchemaObject {
    schemars::schema::SchemaObject {
        extensions: [(
            crate::normalise::UNKNOWN_FIELD.to_string(),
            serde_json::Value::Bool(true),
        )]
        .into_iter()
        .collect(),
        ..Default::default()
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic without a message".to_string())
}

/// What a generator produces from a document.
#[derive(Clone, Copy)]
enum Output<'a> {
    /// The client and its types.
    Client,
    /// The typed httpmock extension, referring to the client at this path.
    Mock(&'a str),
    /// progenitor's clap CLI (a command per operation), referring to the client at this path.
    Cli(&'a str),
}

/// One generation attempt: the token stream, or the error or panic message.
fn attempt(doc: &Value, settings: &GenerationSettings, output: Output) -> Result<proc_macro2::TokenStream, String> {
    let spec: openapiv3::OpenAPI =
        serde_json::from_value(doc.clone()).map_err(|e| format!("openapiv3 cannot read it: {e}"))?;
    catch_unwind(AssertUnwindSafe(|| {
        let mut generator = Generator::new(settings);
        match output {
            Output::Client => generator.generate_tokens(&spec),
            Output::Mock(crate_path) => generator.httpmock(&spec, crate_path),
            Output::Cli(crate_path) => generator.cli(&spec, crate_path),
        }
    }))
    .map_err(panic_message)?
    .map_err(|e| e.to_string())
}

/// Generates pretty-printed Rust for a normalised (OpenAPI 3.0) document.
pub fn generate(doc: &Value) -> Result<String, SpecError> {
    generate_with(doc, &settings())
}

/// [`generate`] with other settings (e.g. [`settings_for`]).
pub fn generate_with(doc: &Value, settings: &GenerationSettings) -> Result<String, SpecError> {
    pretty(doc, settings, Output::Client)
}

/// progenitor's typed httpmock extension for the client generated from
/// `doc`: a `MockServerExt` trait with a method per operation and typed
/// `When`/`Then` builders, as oxide.rs ships it. `crate_path` is where the
/// client's `types` live (e.g. `crate` when included in the client's crate).
///
/// Two things progenitor's mock generator gets wrong are adjusted in the
/// document it reads (the client's is untouched): it renders every query
/// parameter with `to_string`, which an array has not, so array query
/// parameters are left out of the typed `When` (match them through
/// `into_inner()`); and it hands an optional request body to httpmock as an
/// `Option`, so the mock's `body` matcher takes the body itself.
pub fn generate_httpmock(doc: &Value, settings: &GenerationSettings, crate_path: &str) -> Result<String, SpecError> {
    pretty(&mockable(doc), settings, Output::Mock(crate_path))
}

/// progenitor's CLI for the client generated from `doc`: a clap command
/// per operation (path, query and header parameters as flags, the body from
/// flags or `--json-body FILE`) of [`cli_ready`]'s document, a `CliConfig` trait through which the
/// caller prints answers, and `execute` to run one. The types must derive
/// `schemars::JsonSchema` ([`Derives::schemars`]); `crate_path` is where the
/// client lives.
pub fn generate_cli(doc: &Value, settings: &GenerationSettings, crate_path: &str) -> Result<String, SpecError> {
    pretty(&cli_ready(doc), settings, Output::Cli(crate_path))
}

/// `doc` without its array-valued query parameters, and with every request
/// body required and not nullable.
fn mockable(doc: &Value) -> Value {
    let mut doc = without_array_queries(doc);
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for value in item.values_mut() {
                if let Some(body) = value.get_mut("requestBody").and_then(Value::as_object_mut) {
                    body.insert("required".into(), Value::Bool(true));
                    let media = body.get_mut("content").and_then(Value::as_object_mut);
                    for schema in media
                        .into_iter()
                        .flat_map(|m| m.values_mut())
                        .filter_map(|m| m.get_mut("schema"))
                    {
                        if let Some(schema) = schema.as_object_mut() {
                            schema.remove("nullable");
                        }
                    }
                }
            }
        }
    }
    doc
}

/// What progenitor's CLI generator can serve: array query parameters go
/// (clap has no parser for a `Vec` flag; as in the mocks) and so do the
/// operations that answer a byte stream (it emits `todo!()` for them): a
/// caller mounts its own commands for those, see [`cli_left_out`].
pub fn cli_ready(doc: &Value) -> Value {
    let mut doc = without_array_queries(doc);
    let left_out = cli_left_out(&doc);
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            if let Some(item) = item.as_object_mut() {
                item.retain(|m, _| !left_out.contains(&(m.to_uppercase(), path.clone())));
            }
        }
        paths.retain(|_, item| {
            item.as_object()
                .is_none_or(|i| crate::HTTP_METHODS.iter().any(|m| i.contains_key(*m)))
        });
    }
    doc
}

/// `(METHOD, /path)` of the operations [`cli_ready`] leaves out: a success
/// answer with neither JSON nor text.
pub fn cli_left_out(doc: &Value) -> Vec<(String, String)> {
    operations(doc)
        .filter(|(_, _, op)| {
            op.get("responses").and_then(Value::as_object).is_some_and(|responses| {
                responses
                    .iter()
                    .filter(|(code, _)| code.starts_with('2'))
                    .filter_map(|(_, r)| r.get("content").and_then(Value::as_object))
                    .any(|content| {
                        !content
                            .keys()
                            .any(|m| m.contains("json") || m.starts_with("text/plain"))
                    })
            })
        })
        .map(|(p, m, _)| (m.to_uppercase(), p.to_string()))
        .collect()
}

/// `doc` without its array-valued query parameters.
fn without_array_queries(doc: &Value) -> Value {
    let mut doc = doc.clone();
    let is_array_query = |p: &Value| {
        p.get("in").and_then(Value::as_str) == Some("query")
            && p.pointer("/schema/type").and_then(Value::as_str) == Some("array")
    };
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for (key, value) in item.iter_mut() {
                let params = if key == "parameters" {
                    Some(value)
                } else {
                    value.get_mut("parameters")
                };
                if let Some(list) = params.and_then(Value::as_array_mut) {
                    list.retain(|p| !is_array_query(p));
                }
            }
        }
    }
    doc
}

fn pretty(doc: &Value, settings: &GenerationSettings, output: Output) -> Result<String, SpecError> {
    match attempt(doc, settings, output) {
        Ok(tokens) => {
            let mut file: syn::File = syn::parse2(tokens).map_err(|e| SpecError::Codegen {
                location: None,
                message: format!("generated code does not parse: {e}"),
            })?;
            if matches!(output, Output::Client) {
                crate::codegen_trim::drop_api_version_header(&mut file);
                crate::codegen_docs::document(&mut file, doc);
            }
            Ok(prettyplease::unparse(&file))
        }
        Err(message) => Err(SpecError::Codegen {
            location: locate(doc, settings, output),
            message,
        }),
    }
}

/// One method of a generated client: the request it sends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GeneratedOperation {
    /// Upper-case HTTP method.
    pub method: String,
    /// The path template, as in the document.
    pub path: String,
    /// The `Client` method that sends it.
    pub name: String,
}

/// The operations a generated client sends, read from its code (the
/// `Client` methods and the request progenitor documents each one sends), so
/// that tests and the CLI know the real method names, not a guess at them.
pub fn generated_operations(code: &str) -> Result<Vec<GeneratedOperation>, SpecError> {
    let file: syn::File = syn::parse_str(code).map_err(|e| SpecError::Codegen {
        location: None,
        message: format!("generated code does not parse: {e}"),
    })?;
    let mut out = Vec::new();
    for item in &file.items {
        let syn::Item::Impl(block) = item else { continue };
        let syn::Type::Path(ty) = block.self_ty.as_ref() else {
            continue;
        };
        if block.trait_.is_some() || !ty.path.is_ident("Client") {
            continue;
        }
        for f in &block.items {
            let syn::ImplItem::Fn(f) = f else { continue };
            let doc: String = f
                .attrs
                .iter()
                .filter(|a| a.path().is_ident("doc"))
                .filter_map(|a| match &a.meta {
                    syn::Meta::NameValue(nv) => match &nv.value {
                        syn::Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Str(s), ..
                        }) => Some(s.value()),
                        _ => None,
                    },
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n");
            if let Some((method, path)) = sent_request(&doc) {
                out.push(GeneratedOperation {
                    method,
                    path,
                    name: f.sig.ident.to_string(),
                });
            }
        }
    }
    Ok(out)
}

/// `("GET", "/path")` from progenitor's "Sends a `GET` request to `/path`".
fn sent_request(doc: &str) -> Option<(String, String)> {
    let rest = &doc[doc.find("Sends a `")? + "Sends a `".len()..];
    let (method, rest) = rest.split_once('`')?;
    let rest = rest.strip_prefix(" request to `")?;
    let (path, _) = rest.split_once('`')?;
    Some((method.to_string(), path.to_string()))
}

/// Finds the first operation, or else the first component schema, that fails on its own.
fn locate(doc: &Value, settings: &GenerationSettings, output: Output) -> Option<String> {
    let ops: Vec<(String, String)> = operations(doc)
        .map(|(p, m, _)| (p.to_string(), m.to_string()))
        .collect();
    for (path, method) in &ops {
        let mut single = doc.clone();
        if let Some(paths) = single.get_mut("paths").and_then(Value::as_object_mut) {
            paths.retain(|p, _| p == path);
            if let Some(item) = paths.get_mut(path).and_then(Value::as_object_mut) {
                item.retain(|m, _| m == method || !crate::HTTP_METHODS.contains(&m.as_str()));
            }
        }
        if attempt(&single, settings, output).is_err() {
            let id = doc
                .pointer(&format!("/paths/{}/{method}/operationId", crate::walk::escape(path)))
                .and_then(Value::as_str)
                .unwrap_or("?");
            return Some(format!("operation {} {path} ({id})", method.to_uppercase()));
        }
    }
    let names: Vec<String> = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .map(|s| s.keys().cloned().collect())
        .unwrap_or_default();
    for name in names {
        let keep = crate::walk::reachable_schemas(doc, [name.clone()]);
        let mut single = doc.clone();
        single["paths"] = serde_json::json!({});
        if let Some(schemas) = single.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
            schemas.retain(|n, _| keep.contains(n));
        }
        if attempt(&single, settings, output).is_err() {
            return Some(format!("schema {name}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mocks_leave_out_array_queries_and_require_bodies() {
        let doc = json!({"paths": {"/x": {
            "parameters": [{"name": "tags", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}}],
            "post": {"requestBody": {"content": {"application/json": {"schema": {"nullable": true, "allOf": [{"$ref": "#/x"}]}}}}, "parameters": [
                {"name": "types", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}},
                {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                {"name": "ids", "in": "header", "schema": {"type": "array", "items": {"type": "string"}}}
            ]}
        }}});
        let out = mockable(&doc);
        assert_eq!(out.pointer("/paths/~1x/parameters"), Some(&json!([])));
        assert_eq!(out.pointer("/paths/~1x/post/requestBody/required"), Some(&json!(true)));
        assert_eq!(
            out.pointer("/paths/~1x/post/requestBody/content/application~1json/schema/nullable"),
            None
        );
        let names: Vec<&str> = out
            .pointer("/paths/~1x/post/parameters")
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["limit", "ids"]);
    }

    #[test]
    fn generated_operations_are_read_from_the_code() {
        let doc = json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {"/things/{id}": {"get": {"operationId": "get_thing", "parameters": [
                {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}
            ], "responses": {"200": {"description": "ok"}}}}}
        });
        let code = generate(&doc).unwrap();
        let ops = generated_operations(&code).unwrap();
        assert_eq!(
            ops,
            [GeneratedOperation {
                method: "GET".into(),
                path: "/things/{id}".into(),
                name: "get_thing".into()
            }]
        );
        assert_eq!(crate::subset::group_feature("SSH Keys"), "ssh-keys");
        // progenitor's `api-version` header is trimmed from every request
        // (codegen_trim); a progenitor that writes it differently fails here.
        assert!(code.contains("async fn send"), "{code}");
        assert!(!code.contains("api-version"), "{code}");
    }

    #[test]
    fn a_failing_operation_is_named() {
        // Two success responses with different bodies: progenitor refuses it.
        let doc = json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {
                "/ok": {"get": {"operationId": "fine", "responses": {"200": {"description": "ok"}}}},
                "/bad": {"get": {"operationId": "broken", "responses": {
                    "200": {"description": "a", "content": {"application/json": {"schema": {"type": "string"}}}},
                    "201": {"description": "b", "content": {"application/json": {"schema": {"type": "integer"}}}}
                }}}
            }
        });
        let err = generate(&doc).unwrap_err().to_string();
        assert!(
            err.starts_with("code generation failed at operation GET /bad (broken): "),
            "{err}"
        );
    }
}
