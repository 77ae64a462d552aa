//! The OpenAPI 3.0 document of everything Kiln serves, served at `GET /openapi.json`, printed
//! by `kiln admin openapi` and checked in as `openapi/kiln.json` (tests/api/openapi.rs fails
//! when the two drift).
//!
//! It is driven from the `Endpoint` enum: `endpoints::doc` is an exhaustive `match`, so a new
//! endpoint does not compile until it is documented, and a unit test parses every documented
//! (method, path) back through `Route::parse` to the endpoint it documents. Schemas are
//! derived (`schemars`) from the request structs handlers decode and the view structs they
//! answer, so a field is named once, where it is declared.
//!
//! What OpenAPI cannot say exactly is said in descriptions:
//! - JD actions sit inside a path segment (`/instances/{instanceId}:createImage`); the paths
//!   here use the literal colon, which clients may also send as `%3A`.
//! - JD query arrays are 1-based and dotted (`ids.1=a&ids.2=b`,
//!   `filters.1.name=status&filters.1.values.1=running`). Arrays of strings are documented
//!   in the repeated form (`ids=a&ids=b`), which Kiln accepts too; filters are documented
//!   as their first dotted entries (`filters.1.name`, `filters.1.values.1`, …).
//! - `GET /quotas` is two APIs: vm `describeQuotas` and disk `describeQuota`, told apart by
//!   the service in the signature's credential scope, else by the `type` parameter. They are
//!   one OpenAPI operation whose `x-jdcloud` lists both.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::{Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

use super::endpoint::ServiceName;
use crate::error::ApiError;
use crate::service::catalog;

mod disk_change_endpoints;
mod endpoints;
mod keypair_endpoints;
mod vpc_endpoints;

pub use endpoints::{doc, representatives, Answer, Doc, SAMPLE_REGION};

/// `GET /openapi.json`: no signature needed.
pub async fn serve() -> Response {
    let mut resp = document().to_string().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// The document as checked in: pretty-printed, keys sorted, one trailing newline.
pub fn document_text() -> String {
    let mut s = serde_json::to_string_pretty(&document()).expect("a JSON value serialises");
    s.push('\n');
    s
}

/// The whole OpenAPI document.
pub fn document() -> Value {
    let docs: Vec<Doc> = representatives().iter().map(doc).collect();
    let mut g = generator();
    let mut paths = Map::new();
    for d in &docs {
        let mut op = operation(d, &mut g);
        if let Some((param, pointer)) = d.creates {
            op["responses"]["200"]["links"] = links(&docs, param, pointer);
        }
        let item = paths
            .entry(d.path.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("path item is an object");
        let key = d.method.to_ascii_lowercase();
        match item.get_mut(&key) {
            Some(existing) => merge_operation(existing, op),
            None => {
                item.insert(key, op);
            }
        }
    }
    paths.insert(
        "/healthz".into(),
        json!({"get": {
            "operationId": "healthz",
            "summary": "Liveness",
            "tags": ["kiln"],
            "security": [],
            "responses": {"200": {
                "description": "The server is up.",
                "content": {"text/plain": {"schema": {"type": "string", "example": "ok\n"}}},
            }},
        }}),
    );
    paths.insert(
        "/openapi.json".into(),
        json!({"get": {
            "operationId": "openapi",
            "summary": "This document",
            "tags": ["kiln"],
            "security": [],
            "responses": {"200": {
                "description": "The OpenAPI document of everything Kiln serves.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }},
        }}),
    );
    let mut schemas = g.take_definitions(true);
    schemas.insert(
        "RequestId".into(),
        json!({"type": "string", "description": "32 lowercase alphanumerics.",
               "example": "c2hmmaan8w06w19qcdfuic4w03f7ft2d"}),
    );
    let mut responses = Map::new();
    for (code, statuses) in error_statuses() {
        responses.insert(format!("Error{code}"), error_response(code, &statuses));
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Kiln",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A JD Cloud-compatible virtual-machine image service: JD Cloud's \
                `vm` and `disk` OpenAPI (v1) on one listener.\n\n\
                Conventions (JD Cloud's): actions are a `:action` suffix inside a path \
                segment (sent raw or as `%3A`); GET/DELETE parameters go in the query, with \
                1-based dotted arrays (`ids.1=a&ids.2=b`, `filters.1.name=status&\
                filters.1.values.1=running`); POST parameters are a JSON object whose keys \
                are matched case-insensitively, `null` meaning absent, unknown keys ignored \
                (SDKs repeat the path parameters there); booleans may be `true`/`True`/\
                `\"true\"`. Every answer from a `/v1` path is `{\"requestId\", \"result\"}` \
                (actions without a result: `{\"requestId\"}`) or `{\"requestId\", \"error\": \
                {\"code\": <HTTP status>, \"status\", \"message\"}}`, with the request id \
                also in the `x-jdcloud-request-id` header.",
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "vm", "description": "JD Cloud vm service (signing service `vm`)."},
            {"name": "disk", "description": "JD Cloud disk service (signing service `disk`)."},
            {"name": "vpc", "description": "JD Cloud vpc service (signing service `vpc`)."},
            {"name": "kiln", "description": "Kiln's own endpoints, unsigned."},
        ],
        "security": [{"jdcloudSignature": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"jdcloudSignature": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`JDCLOUD2-HMAC-SHA256 Credential=<AK>/<yyyymmdd>/<region>/\
                    <service>/jdcloud2_request, SignedHeaders=<h1;h2>, Signature=<hex>` (or \
                    the JDCLOUD3-HMAC-SHA256 / jdcloud3_request form), with the signed \
                    `x-jdcloud-date` and `x-jdcloud-nonce` headers, as the JD Cloud SDKs send \
                    it. `kiln serve --no-auth` turns the check off.",
            }},
            "parameters": path_parameters(),
            "responses": responses,
            "schemas": schemas,
        },
    })
}

/// OpenAPI 3.0 schemas, `components/schemas` holding every named struct. Request fields
/// default to absent, which says nothing a reader needs: `"default": null` is dropped.
fn generator() -> SchemaGenerator {
    let drop_null_default = RecursiveTransform(|s: &mut Schema| {
        if s.get("default").is_some_and(Value::is_null) {
            s.remove("default");
        }
    });
    SchemaSettings::openapi3()
        .with_transform(drop_null_default)
        .into_generator()
}

/// One OpenAPI operation from a `Doc`.
fn operation(d: &Doc, g: &mut SchemaGenerator) -> Value {
    let service = service_name(d.service);
    let mut params: Vec<Value> = path_params_of(d.path)
        .into_iter()
        .map(|p| json!({"$ref": format!("#/components/parameters/{p}")}))
        .collect();
    for request in &d.query {
        params.extend(query_params(&request(g).to_value()));
    }
    let result = match d.result {
        Answer::Nothing => None,
        Answer::One(schema) => Some(schema(g).to_value()),
        Answer::List(key, item) => Some(json!({
            "type": "object",
            "required": [key, "totalCount"],
            "properties": {
                key: {"type": "array", "items": item(g)},
                "totalCount": {"type": "integer", "format": "int64",
                               "description": "All matches, over every page."},
            },
        })),
    };
    let ok = match &result {
        Some(r) => json!({
            "type": "object",
            "required": ["requestId", "result"],
            "properties": {"requestId": reference("RequestId"), "result": r},
        }),
        None => json!({
            "type": "object",
            "required": ["requestId"],
            "properties": {"requestId": reference("RequestId")},
        }),
    };
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": if result.is_some() { "The result." } else { "Done; no result." },
            "headers": {"x-jdcloud-request-id": {
                "description": "The request id, as in the body.",
                "schema": {"type": "string"},
            }},
            "content": {"application/json": {"schema": ok}},
        }),
    );
    for (code, _) in error_statuses() {
        responses.insert(
            code.to_string(),
            json!({"$ref": format!("#/components/responses/Error{code}")}),
        );
    }
    let mut op = json!({
        "operationId": openapi_id(d),
        "summary": d.summary,
        "tags": [service],
        "parameters": params,
        "responses": responses,
        "x-jdcloud": [{"operationId": d.operation_id, "service": service}],
    });
    if !d.description.is_empty() {
        op["description"] = json!(d.description);
    }
    if let Some((schema, required)) = d.body {
        op["requestBody"] = json!({
            "required": required,
            "content": {"application/json": {"schema": schema(g)}},
        });
    }
    op
}

/// OpenAPI links from an answer carrying a new `param` (at `pointer`) to every API taking it.
fn links(docs: &[Doc], param: &str, pointer: &str) -> Value {
    let mut out = Map::new();
    for c in docs {
        if path_params_of(c.path).iter().any(|p| p == param) {
            out.insert(
                openapi_id(c),
                json!({
                    "operationId": openapi_id(c),
                    "parameters": {
                        "regionId": "$request.path.regionId",
                        param: format!("$response.body#{pointer}"),
                    },
                }),
            );
        }
    }
    Value::Object(out)
}

/// Two JD APIs on one method and path (`GET /quotas`): one operation documenting both.
fn merge_operation(existing: &mut Value, other: Value) {
    let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    existing["summary"] = json!(format!(
        "{}; {}",
        text(existing, "summary"),
        text(&other, "summary")
    ));
    let descriptions: Vec<String> = [text(existing, "description"), text(&other, "description")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    existing["description"] = json!(descriptions.join("\n\n"));
    for list in ["tags", "parameters", "x-jdcloud"] {
        let mine = existing[list].as_array_mut().expect("an array");
        for v in other[list].as_array().into_iter().flatten() {
            if !mine.contains(v) {
                mine.push(v.clone());
            }
        }
    }
    let path = "/responses/200/content/application~1json/schema/properties/result";
    let theirs = other.pointer(path).cloned();
    if let (Some(mine), Some(theirs)) = (existing.pointer_mut(path), theirs) {
        let mut alternatives = match mine.get("oneOf") {
            Some(Value::Array(a)) => a.clone(),
            _ => vec![mine.clone()],
        };
        alternatives.push(theirs);
        *mine = json!({"oneOf": alternatives});
    }
}

/// The OpenAPI `operationId`: JD's name, prefixed with `vpc.` for the vpc service, whose
/// names repeat vm's and disk's (`describeQuota`, `associateElasticIp`).
fn openapi_id(d: &Doc) -> String {
    match d.service {
        ServiceName::Vpc => format!("vpc.{}", d.operation_id),
        _ => d.operation_id.to_string(),
    }
}

fn service_name(s: ServiceName) -> &'static str {
    match s {
        ServiceName::Vm => "vm",
        ServiceName::Disk => "disk",
        ServiceName::Vpc => "vpc",
    }
}

/// `{name}` placeholders of a path template, in order.
fn path_params_of(path: &str) -> Vec<String> {
    path.split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(name, _)| name.to_string()))
        .collect()
}

fn path_parameters() -> Value {
    let id = |name: &str, what: &str, example: &str| {
        json!({
            "name": name,
            "in": "path",
            "required": true,
            "description": format!("{what}. An unknown id answers 404 NOT_FOUND."),
            "schema": {"type": "string", "minLength": 1},
            "example": example,
        })
    };
    let mut disk_id = id(
        "diskId",
        "A cloud disk id (`vol-…`); one not starting with `vol-` answers 400 \
         INVALID_ARGUMENT \"Malformed disk id\"",
        "vol-abcdefghij",
    );
    disk_id["schema"]["pattern"] = json!("^vol-");
    json!({
        "regionId": {
            "name": "regionId",
            "in": "path",
            "required": true,
            "description": "The region; others answer 400 INVALID_ARGUMENT \"Invalid region\".",
            "schema": {"type": "string", "enum": catalog::REGIONS},
            "example": SAMPLE_REGION,
        },
        "instanceId": id("instanceId", "An instance id (`i-` and 10 lowercase alphanumerics)", "i-abcdefghij"),
        "imageId": id("imageId", "An image id (`img-…`)", "img-ubuntu2204"),
        "diskId": disk_id,
        "snapshotId": id("snapshotId", "A snapshot id (`snapshot-…`)", "snapshot-abcdefghij"),
        "vpcId": id("vpcId", "A VPC id (`vpc-…`)", "vpc-abcdefghij"),
        "subnetId": id("subnetId", "A subnet id (`subnet-…`)", "subnet-abcdefghij"),
        "networkSecurityGroupId": id("networkSecurityGroupId", "A security group id (`sg-…`)", "sg-abcdefghij"),
        "elasticIpId": id("elasticIpId", "An elastic IP id (`fip-…`)", "fip-abcdefghij"),
        "networkInterfaceId": id("networkInterfaceId", "A network interface id (`port-…`)", "port-abcdefghij"),
        "keyName": id("keyName", "A key pair's name (1–32 of letters, digits, `_`, `-`)", "my-key"),
    })
}

/// Every error HTTP status Kiln answers, with the JD statuses it carries.
fn error_statuses() -> Vec<(u16, Vec<String>)> {
    let mut out: Vec<(u16, Vec<String>)> = Vec::new();
    for e in error_samples() {
        let (code, status) = (e.http_code(), e.jd_status().to_string());
        match out.iter_mut().find(|(c, _)| *c == code) {
            Some((_, v)) if !v.contains(&status) => v.push(status),
            Some(_) => {}
            None => out.push((code, vec![status])),
        }
    }
    out.sort_by_key(|(c, _)| *c);
    out
}

/// One value of every `ApiError` variant (exhaustive below, so a new one is not forgotten).
fn error_samples() -> Vec<ApiError> {
    let samples = vec![
        ApiError::InvalidArgument(String::new()),
        ApiError::OutOfRange(String::new()),
        ApiError::FailedPrecondition(String::new()),
        ApiError::Duplicate(String::new()),
        ApiError::Conflict(String::new()),
        ApiError::AccessError(String::new()),
        ApiError::PermissionDenied(String::new()),
        ApiError::NotFound(String::new()),
        ApiError::NoRoute,
        ApiError::PayloadTooLarge,
        ApiError::UriTooLong,
        ApiError::RateLimited,
        ApiError::QuotaExceeded(String::new()),
        ApiError::Internal(String::new()),
        ApiError::GatewayUnavailable,
        ApiError::ServiceUnavailable(String::new()),
        ApiError::InsufficientCapacity(String::new()),
    ];
    for e in &samples {
        match e {
            ApiError::InvalidArgument(_)
            | ApiError::OutOfRange(_)
            | ApiError::FailedPrecondition(_)
            | ApiError::Duplicate(_)
            | ApiError::Conflict(_)
            | ApiError::AccessError(_)
            | ApiError::PermissionDenied(_)
            | ApiError::NotFound(_)
            | ApiError::NoRoute
            | ApiError::PayloadTooLarge
            | ApiError::UriTooLong
            | ApiError::RateLimited
            | ApiError::QuotaExceeded(_)
            | ApiError::Internal(_)
            | ApiError::GatewayUnavailable
            | ApiError::ServiceUnavailable(_)
            | ApiError::InsufficientCapacity(_) => {}
            // Any code and status the operator chooses (`kiln admin fault add --error`):
            // not one the API documents.
            ApiError::Injected { .. } => {}
        }
    }
    samples
}

fn error_response(code: u16, statuses: &[String]) -> Value {
    let list = statuses
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ");
    json!({
        "description": format!("JD error envelope; `error.status` one of {list}."),
        "headers": {"x-jdcloud-request-id": {
            "description": "The request id, as in the body.",
            "schema": {"type": "string"},
        }},
        "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["requestId", "error"],
            "properties": {
                "requestId": reference("RequestId"),
                "error": {
                    "type": "object",
                    "required": ["code", "status", "message"],
                    "properties": {
                        "code": {"type": "integer", "enum": [code],
                                 "description": "The HTTP status, as an integer."},
                        "status": {"type": "string", "enum": statuses},
                        "message": {"type": "string"},
                    },
                },
            },
        }}},
    })
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

// ---- query parameters ------------------------------------------------------------------

/// A request struct's properties as query parameters.
fn query_params(request: &Value) -> Vec<Value> {
    let mut out = vec![];
    let Some(props) = request["properties"].as_object() else {
        return out;
    };
    for (name, prop) in props {
        let description = prop["description"].as_str().unwrap_or_default();
        if name == "filters" {
            let names: Vec<&str> = prop["items"]["properties"]["name"]["enum"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            out.extend(filters(&names, description));
        } else if prop["type"] == "array" {
            let example = prop["example"][0].as_str().unwrap_or("x");
            out.push(string_array_param(name, description, example));
        } else {
            let mut schema = prop.clone();
            if let Some(s) = schema.as_object_mut() {
                s.remove("description");
                s.remove("nullable");
            }
            out.push(query_param(name, schema, description));
        }
    }
    out
}

fn query_param(name: &str, schema: Value, description: &str) -> Value {
    let mut p = json!({"name": name, "in": "query", "required": false, "schema": schema});
    if !description.is_empty() {
        p["description"] = json!(description);
    }
    p
}

/// An array of strings. JD clients send `name.1=a&name.2=b`, which OpenAPI cannot express;
/// Kiln takes the repeated form `name=a&name=b` as well, which is what is documented.
fn string_array_param(name: &str, what: &str, example: &str) -> Value {
    json!({
        "name": name,
        "in": "query",
        "required": false,
        "style": "form",
        "explode": true,
        "schema": {"type": "array", "items": {"type": "string"}},
        "description": format!(
            "{what}. JD clients send the 1-based dotted form `{name}.1={example}&{name}.2=…`; \
             Kiln also takes the repeated form documented here (`{name}={example}&{name}=…`)."
        ),
        "example": [example],
    })
}

/// JD `filters`: documented as their first dotted entries.
/// `example` (the filter struct's description) shows one in use.
fn filters(names: &[&str], example: &str) -> Vec<Value> {
    let names_list = names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let how = format!(
        "JD `filters` are 1-based dotted query parameters: `filters.N.name`, \
         `filters.N.operator` and `filters.N.values.M`. {example} Filters are \
         AND-ed, the values of one filter OR-ed; more entries follow the same pattern. \
         Names Kiln filters on: {names_list}."
    );
    let name = |n: u32| {
        query_param(
            &format!("filters.{n}.name"),
            json!({"type": "string", "enum": names}),
            if n == 1 {
                &how
            } else {
                "See `filters.1.name`."
            },
        )
    };
    let value = |n: u32, m: u32| {
        query_param(
            &format!("filters.{n}.values.{m}"),
            json!({"type": "string"}),
            &format!("Value {m} of filter {n}."),
        )
    };
    vec![
        name(1),
        query_param(
            "filters.1.operator",
            json!({"type": "string"}),
            "Accepted and ignored.",
        ),
        value(1, 1),
        value(1, 2),
        name(2),
        value(2, 1),
    ]
}

#[cfg(test)]
mod tests {
    use super::endpoints::{SAMPLE_DISK, SAMPLE_IMAGE, SAMPLE_INSTANCE, SAMPLE_SNAPSHOT};
    use super::*;
    use crate::http::endpoint::Route;

    fn sample_path(template: &str) -> String {
        template
            .replace("{regionId}", SAMPLE_REGION)
            .replace("{instanceId}", SAMPLE_INSTANCE)
            .replace("{imageId}", SAMPLE_IMAGE)
            .replace("{diskId}", SAMPLE_DISK)
            .replace("{snapshotId}", SAMPLE_SNAPSHOT)
            .replace("{vpcId}", vpc_endpoints::SAMPLE_VPC)
            .replace("{subnetId}", vpc_endpoints::SAMPLE_SUBNET)
            .replace("{networkSecurityGroupId}", vpc_endpoints::SAMPLE_GROUP)
            .replace("{elasticIpId}", vpc_endpoints::SAMPLE_ELASTIC_IP)
            .replace("{networkInterfaceId}", vpc_endpoints::SAMPLE_INTERFACE)
            .replace("{keyName}", keypair_endpoints::SAMPLE_KEY_NAME)
    }

    #[test]
    fn every_documented_path_parses_back_to_its_endpoint() {
        for e in representatives() {
            let d = doc(&e);
            let path = sample_path(d.path);
            assert!(!path.contains('{'), "unsubstituted parameter in {}", d.path);
            let want = Route {
                region: SAMPLE_REGION.into(),
                endpoint: e.clone(),
            };
            for p in [path.clone(), path.replace(':', "%3A")] {
                assert_eq!(
                    Route::parse(d.method, &p, Some(d.service)),
                    Some(want.clone()),
                    "{} {p} ({})",
                    d.method,
                    d.operation_id
                );
            }
        }
    }

    #[test]
    fn one_representative_per_variant_and_unique_operation_ids() {
        let all = representatives();
        let kinds: std::collections::HashSet<_> = all.iter().map(std::mem::discriminant).collect();
        assert_eq!(kinds.len(), all.len(), "a variant is listed twice");
        let mut ids: Vec<_> = all.iter().map(|e| openapi_id(&doc(e))).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all.len(), "operation ids are not unique");
    }

    #[test]
    fn every_endpoint_is_in_the_document() {
        let d = document();
        for e in representatives() {
            let doc = doc(&e);
            let op = &d["paths"][doc.path][doc.method.to_ascii_lowercase()];
            let jd = op["x-jdcloud"].as_array().expect("x-jdcloud list");
            assert!(
                jd.contains(&json!({"operationId": doc.operation_id,
                                    "service": service_name(doc.service)})),
                "{} missing at {} {}",
                doc.operation_id,
                doc.method,
                doc.path
            );
        }
        // The shared quotas path documents both APIs and both results.
        let q = &d["paths"]["/v1/regions/{regionId}/quotas"]["get"];
        assert_eq!(q["x-jdcloud"].as_array().unwrap().len(), 2);
        let result =
            &q["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["result"];
        assert_eq!(result["oneOf"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn every_reference_resolves() {
        fn walk(v: &Value, root: &Value, bad: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        let target = r.strip_prefix('#').unwrap_or("<external>");
                        if root.pointer(target).is_none() {
                            bad.push(r.clone());
                        }
                    }
                    m.values().for_each(|x| walk(x, root, bad));
                }
                Value::Array(a) => a.iter().for_each(|x| walk(x, root, bad)),
                _ => {}
            }
        }
        let d = document();
        let mut bad = vec![];
        walk(&d, &d, &mut bad);
        assert!(bad.is_empty(), "unresolved: {bad:?}");
    }

    #[test]
    fn links_point_at_operations_taking_the_created_id() {
        let d = document();
        let mut ops = std::collections::HashMap::new();
        for item in d["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                ops.insert(op["operationId"].as_str().unwrap().to_string(), op.clone());
            }
        }
        let param = |name: &str| json!({"$ref": format!("#/components/parameters/{name}")});
        let taking = |name: &str| {
            let p = param(name);
            let takes = |o: &&Value| o["parameters"].as_array().is_some_and(|a| a.contains(&p));
            ops.values().filter(takes).count()
        };
        let mut count = 0;
        for op in ops.values() {
            let links = op["responses"]["200"]["links"].as_object();
            let mut created = std::collections::HashMap::<String, usize>::new();
            for link in links.into_iter().flat_map(|l| l.values()) {
                let target = &ops[link["operationId"].as_str().unwrap()];
                let params = target["parameters"].as_array().unwrap();
                for name in link["parameters"].as_object().unwrap().keys() {
                    assert!(
                        params.contains(&param(name)),
                        "{name} is no parameter of {target}"
                    );
                    if name != "regionId" {
                        *created.entry(name.clone()).or_default() += 1;
                    }
                }
                count += 1;
            }
            // A creator links to every operation taking what it creates.
            for (name, n) in created {
                assert_eq!(n, taking(&name), "{} links {name}", op["operationId"]);
            }
        }
        // At least createInstances, createImage, createDisks and createSnapshot link.
        assert!(count >= 8 + 3 + 2 + 2, "{count}");
    }

    #[test]
    fn errors_cover_the_gateway_and_service_statuses() {
        let codes: Vec<u16> = error_statuses().iter().map(|(c, _)| *c).collect();
        assert_eq!(codes, vec![400, 401, 403, 404, 413, 414, 429, 500, 503]);
    }

    #[test]
    fn the_text_is_stable() {
        assert_eq!(document_text(), document_text());
        assert!(document_text().ends_with("}\n"));
    }
}
