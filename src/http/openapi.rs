//! The OpenAPI 3.0 document of everything Kiln serves, served at `GET /openapi.json`, printed
//! by `kiln admin openapi` and checked in as `openapi/kiln.json` (tests/api/openapi.rs fails
//! when the two drift).
//!
//! It is driven from the `Endpoint` enum: `doc` is an exhaustive `match`, so a new endpoint
//! does not compile until it is documented, and a unit test parses every documented
//! (method, path) back through `Route::parse` to the endpoint it documents.
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
use serde_json::{json, Map, Value};

use super::endpoint::{Endpoint, ServiceName};
use crate::error::ApiError;
use crate::service::{catalog, spec};

/// The region and ids of the representative value of each endpoint.
pub const SAMPLE_REGION: &str = "cn-north-1";
const SAMPLE_INSTANCE: &str = "i-sample";
const SAMPLE_IMAGE: &str = "img-sample";
const SAMPLE_DISK: &str = "vol-sample";
const SAMPLE_SNAPSHOT: &str = "snapshot-sample";

/// One documented JD API.
pub struct Doc {
    pub method: &'static str,
    /// OpenAPI path template, e.g. `/v1/regions/{regionId}/instances/{instanceId}:createImage`.
    pub path: &'static str,
    /// The JD API name (`createImage`).
    pub operation_id: &'static str,
    pub service: ServiceName,
    pub summary: &'static str,
    pub description: String,
    /// Query parameter objects (path parameters come from the template).
    pub query: Vec<Value>,
    /// The JSON body schema and whether a body is required.
    pub body: Option<(Value, bool)>,
    /// The `result` schema; `None` for actions that answer `{"requestId"}` only.
    pub result: Option<Value>,
    /// The path parameter this API creates a value for, and where that value is in the
    /// answer (a JSON pointer): it becomes OpenAPI `links` to every API taking it.
    pub creates: Option<(&'static str, &'static str)>,
}

/// One value of every `Endpoint` variant. Keep it next to `doc`: a variant added to the
/// enum fails to compile in `doc` until it is documented, and belongs here as well.
pub fn representatives() -> Vec<Endpoint> {
    use Endpoint::*;
    let i = || SAMPLE_INSTANCE.to_string();
    let img = || SAMPLE_IMAGE.to_string();
    let d = || SAMPLE_DISK.to_string();
    let s = || SAMPLE_SNAPSHOT.to_string();
    vec![
        CreateInstances,
        DescribeInstances,
        DescribeInstance { instance_id: i() },
        DeleteInstance { instance_id: i() },
        StartInstance { instance_id: i() },
        StopInstance { instance_id: i() },
        RebootInstance { instance_id: i() },
        AttachDisk { instance_id: i() },
        DetachDisk { instance_id: i() },
        CreateImage { instance_id: i() },
        DescribeImages,
        DescribeImage { image_id: img() },
        DeleteImage { image_id: img() },
        ImportImage,
        ExportImage { image_id: img() },
        ImageTasks,
        DescribeQuotas,
        CreateDisks,
        DescribeDisks,
        DescribeDisk { disk_id: d() },
        DeleteDisk { disk_id: d() },
        CreateSnapshot,
        DescribeSnapshots,
        DescribeSnapshot { snapshot_id: s() },
        DeleteSnapshot { snapshot_id: s() },
        DescribeQuota,
    ]
}

/// The documentation of one endpoint. Exhaustive on purpose: no wildcard arm.
pub fn doc(e: &Endpoint) -> Doc {
    use Endpoint::*;
    use ServiceName::{Disk, Vm};
    const INSTANCES: &str = "/v1/regions/{regionId}/instances";
    const INSTANCE: &str = "/v1/regions/{regionId}/instances/{instanceId}";
    const IMAGES: &str = "/v1/regions/{regionId}/images";
    const IMAGE: &str = "/v1/regions/{regionId}/images/{imageId}";
    const DISKS: &str = "/v1/regions/{regionId}/disks";
    const DISK: &str = "/v1/regions/{regionId}/disks/{diskId}";
    const SNAPSHOTS: &str = "/v1/regions/{regionId}/snapshots";
    const SNAPSHOT: &str = "/v1/regions/{regionId}/snapshots/{snapshotId}";
    const QUOTAS: &str = "/v1/regions/{regionId}/quotas";
    let d = |method, path, operation_id, service, summary| Doc {
        method,
        path,
        operation_id,
        service,
        summary,
        description: String::new(),
        query: vec![],
        body: None,
        result: None,
        creates: None,
    };
    match e {
        CreateInstances => Doc {
            description: "Asynchronous: instances start `pending` and become `running`. \
                 Required in practice: `instanceSpec` with `az`, `instanceType`, `imageId` \
                 and `name`; `maxCount` defaults to 1 (at most 100)."
                .into(),
            body: Some((
                object(
                    &[
                        ("instanceSpec", reference("InstanceSpec")),
                        (
                            "maxCount",
                            example(int("How many instances, [1,100]; default 1."), json!(1)),
                        ),
                        ("clientToken", client_token()),
                    ],
                    &["instanceSpec"],
                ),
                true,
            )),
            result: Some(object(
                &[("instanceIds", array(string("Instance id (`i-…`).")))],
                &["instanceIds"],
            )),
            creates: Some(("instanceId", "/result/instanceIds/0")),
            ..d("POST", INSTANCES, "createInstances", Vm, "Create instances")
        },
        DescribeInstances => Doc {
            query: paged(filters(
                &[
                    "instanceId",
                    "status",
                    "az",
                    "name",
                    "privateIpAddress",
                    "imageId",
                    "instanceType",
                    "subnetId",
                ],
                "status",
                "running",
            )),
            result: Some(list_result("instances", "Instance")),
            ..d("GET", INSTANCES, "describeInstances", Vm, "List instances")
        },
        DescribeInstance { .. } => Doc {
            result: Some(object(
                &[("instance", reference("Instance"))],
                &["instance"],
            )),
            ..d(
                "GET",
                INSTANCE,
                "describeInstance",
                Vm,
                "Describe an instance",
            )
        },
        DeleteInstance { .. } => Doc {
            description: "The instance must be `running`, `stopped` or `error`; cloud data \
                 disks with `autoDelete` are deleted with it."
                .into(),
            ..d(
                "DELETE",
                INSTANCE,
                "deleteInstance",
                Vm,
                "Delete an instance",
            )
        },
        StartInstance { .. } => Doc {
            description: "The instance must be `stopped`.".into(),
            body: Some(ignored_body()),
            ..d(
                "POST",
                "/v1/regions/{regionId}/instances/{instanceId}:startInstance",
                "startInstance",
                Vm,
                "Start an instance",
            )
        },
        StopInstance { .. } => Doc {
            description: "The instance must be `running`.".into(),
            body: Some((
                object(&[("chargeOnStopped", charge_on_stopped())], &[]),
                false,
            )),
            ..d(
                "POST",
                "/v1/regions/{regionId}/instances/{instanceId}:stopInstance",
                "stopInstance",
                Vm,
                "Stop an instance",
            )
        },
        RebootInstance { .. } => Doc {
            description: "The instance must be `running`.".into(),
            body: Some(ignored_body()),
            ..d(
                "POST",
                "/v1/regions/{regionId}/instances/{instanceId}:rebootInstance",
                "rebootInstance",
                Vm,
                "Reboot an instance",
            )
        },
        AttachDisk { .. } => Doc {
            body: Some((
                object(
                    &[
                        ("diskId", string("The cloud disk (`vol-…`).")),
                        ("deviceName", device_name()),
                        (
                            "autoDelete",
                            boolean("Delete the disk with the instance; default false."),
                        ),
                    ],
                    &["diskId"],
                ),
                true,
            )),
            ..d(
                "POST",
                "/v1/regions/{regionId}/instances/{instanceId}:attachDisk",
                "attachDisk",
                Vm,
                "Attach a cloud disk",
            )
        },
        DetachDisk { .. } => Doc {
            body: Some((
                object(
                    &[
                        ("diskId", string("The attached disk (`vol-…`).")),
                        (
                            "force",
                            boolean("Accepted and validated; Kiln has no guest IO to cut."),
                        ),
                    ],
                    &["diskId"],
                ),
                true,
            )),
            ..d(
                "POST",
                "/v1/regions/{regionId}/instances/{instanceId}:detachDisk",
                "detachDisk",
                Vm,
                "Detach a disk",
            )
        },
        CreateImage { .. } => Doc {
            description: "Bakes a private image from an instance: its system disk and every \
                 attached cloud data disk, changed by `dataDisks` (`deviceName` + `noDevice` \
                 excludes a disk, a new `deviceName` inserts one, an existing one replaces \
                 it). The image is `pending` until `ready`. An instance with a local system \
                 disk must be `stopped`."
                .into(),
            body: Some((
                object(
                    &[
                        ("name", image_name()),
                        ("description", description()),
                        ("dataDisks", array(reference("InstanceDiskAttachmentSpec"))),
                    ],
                    &["name"],
                ),
                true,
            )),
            result: Some(object(
                &[("imageId", string("The new image (`img-…`)."))],
                &["imageId"],
            )),
            creates: Some(("imageId", "/result/imageId")),
            ..d(
                "POST",
                "/v1/regions/{regionId}/instances/{instanceId}:createImage",
                "createImage",
                Vm,
                "Create a private image from an instance",
            )
        },
        DescribeImages => Doc {
            description: "Conditions are top-level parameters (no `filters`), AND-ed. \
                 `imageSource` is required unless `ids` is given."
                .into(),
            query: paged(vec![
                query_param(
                    "imageSource",
                    enumerated(
                        &["public", "thirdparty", "private", "shared", "community"],
                        "",
                    ),
                    "Required unless `ids` is given.",
                ),
                query_param(
                    "offline",
                    boolean(""),
                    "Only concerns marketplace images; validated and ignored.",
                ),
                query_param(
                    "platform",
                    string(""),
                    "e.g. `Ubuntu`, `CentOS`, `Windows Server`.",
                ),
                string_array_param("ids", "Image ids", "img-ubuntu2204"),
                query_param("imageName", string(""), "Image name."),
                query_param(
                    "rootDeviceType",
                    enumerated(&["localDisk", "cloudDisk"], ""),
                    "",
                ),
                query_param(
                    "launchPermission",
                    enumerated(&["all", "specifiedUsers", "ownerOnly"], ""),
                    "",
                ),
                query_param(
                    "status",
                    string(""),
                    "One image status (`pending`, `ready`, …).",
                ),
                query_param("architecture", string(""), "`x86_64` or `arm64`."),
                string_array_param("instanceIds", "Source instance ids", "i-abcdefghij"),
            ]),
            result: Some(list_result("images", "Image")),
            ..d("GET", IMAGES, "describeImages", Vm, "List images")
        },
        DescribeImage { .. } => Doc {
            result: Some(object(&[("image", reference("Image"))], &["image"])),
            ..d("GET", IMAGE, "describeImage", Vm, "Describe an image")
        },
        DeleteImage { .. } => Doc {
            description: "Private images only, `ready` or `error`.".into(),
            query: vec![query_param(
                "deleteSnapshot",
                boolean(""),
                "Also delete the image's snapshots; default false.",
            )],
            ..d("DELETE", IMAGE, "deleteImage", Vm, "Delete an image")
        },
        ImportImage => Doc {
            description: "Kiln imports from `file:///absolute/path` or `http://` URLs on the \
                 server's side; the image is `pending` until its task finishes."
                .into(),
            body: Some((
                object(
                    &[
                        ("architecture", enumerated(&["x86_64", "arm64", "i386"], "")),
                        ("osType", enumerated(&["linux", "windows"], "")),
                        (
                            "platform",
                            enumerated(
                                &[
                                    "Ubuntu",
                                    "CentOS",
                                    "Windows Server",
                                    "Other Linux",
                                    "Other Windows",
                                ],
                                "",
                            ),
                        ),
                        ("diskFormat", disk_format()),
                        (
                            "systemDiskSizeGB",
                            example(int("[40,500], a multiple of 10."), json!(40)),
                        ),
                        ("imageUrl", image_url()),
                        ("osVersion", string("")),
                        (
                            "imageName",
                            example(
                                string("1–32 of Chinese, letters, digits, `_`, `-`."),
                                json!("imported-1"),
                            ),
                        ),
                        ("description", description()),
                        (
                            "forceImport",
                            boolean("Validated and ignored (no compliance checks)."),
                        ),
                        ("dataDisks", array(reference("ImportDataDisk"))),
                        ("clientToken", client_token()),
                        ("bootMode", enumerated(&["bios", "uefi"], "")),
                    ],
                    &[
                        "architecture",
                        "osType",
                        "platform",
                        "diskFormat",
                        "systemDiskSizeGB",
                        "imageUrl",
                        "imageName",
                    ],
                ),
                true,
            )),
            result: Some(object(
                &[
                    ("imageId", string("The new image (`img-…`).")),
                    ("taskId", string("The import task (see imageTasks).")),
                ],
                &["imageId", "taskId"],
            )),
            creates: Some(("imageId", "/result/imageId")),
            ..d(
                "POST",
                "/v1/regions/{regionId}/images:import",
                "importImage",
                Vm,
                "Import an image",
            )
        },
        ExportImage { .. } => Doc {
            description: "A private, `ready`, cloudDisk image, exported as qcow2 into a \
                 directory on the server (`ossUrl` = `file:///absolute/directory`)."
                .into(),
            body: Some((
                object(
                    &[
                        (
                            "roleName",
                            example(
                                string("Service role name; must not be blank."),
                                json!("kiln-export"),
                            ),
                        ),
                        (
                            "ossUrl",
                            example(
                                string("`file:///absolute/directory` on the server."),
                                json!("file:///var/lib/kiln/export"),
                            ),
                        ),
                        ("ossPrefix", string("Letters and digits, at most 32.")),
                        ("clientToken", client_token()),
                        (
                            "isAllDisk",
                            boolean("Export the data disks too; default false."),
                        ),
                    ],
                    &["roleName", "ossUrl"],
                ),
                true,
            )),
            result: Some(object(
                &[("taskId", string("The export task (see imageTasks)."))],
                &["taskId"],
            )),
            ..d(
                "POST",
                "/v1/regions/{regionId}/images/{imageId}:exportImage",
                "exportImage",
                Vm,
                "Export an image",
            )
        },
        ImageTasks => Doc {
            query: vec![
                query_param(
                    "taskAction",
                    enumerated(&["ImportImage", "ExportImage"], ""),
                    "",
                ),
                string_array_param("taskIds", "Task ids", "task-abcdefghijklmnop"),
                query_param(
                    "taskStatus",
                    enumerated(&["pending", "running", "failed", "finished"], ""),
                    "",
                ),
                query_param(
                    "startTime",
                    example(
                        string("`YYYY-MM-DD HH:MM:SS` in UTC+8."),
                        json!("2024-07-02 17:34:44"),
                    ),
                    "Created at or after.",
                ),
                query_param(
                    "endTime",
                    example(
                        string("`YYYY-MM-DD HH:MM:SS` in UTC+8."),
                        json!("2099-12-31 23:59:59"),
                    ),
                    "Created at or before.",
                ),
                page_number(),
                query_param(
                    "pageSize",
                    json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 10}),
                    "[1,100]; default 10.",
                ),
            ],
            result: Some(list_result("taskSet", "TaskInfo")),
            ..d(
                "GET",
                "/v1/regions/{regionId}/imageTasks",
                "imageTasks",
                Vm,
                "List image import/export tasks",
            )
        },
        DescribeQuotas => Doc {
            description: "vm describeQuotas: chosen when the signature's credential scope \
                 names `vm`, or (unsigned) when there is no `type` parameter. \
                 `resourceTypes` values: `instance`, `instance_cpu`, `instance_memory`, \
                 `instance_local_disk`, `keypair`, `image`, `instanceTemplate`, `imageShare`; \
                 none means all (`imageShare` only with `imageId`)."
                .into(),
            query: {
                let mut q = filters(&["resourceTypes"], "resourceTypes", "instance");
                q.push(query_param(
                    "imageId",
                    string(""),
                    "Required when `resourceTypes` includes `imageShare`.",
                ));
                q
            },
            result: Some(object(
                &[("quotas", array(reference("Quota")))],
                &["quotas"],
            )),
            ..d("GET", QUOTAS, "describeQuotas", Vm, "vm quotas")
        },
        CreateDisks => Doc {
            description: "Required: `diskSpec` with `az`, `name`, `diskType`, `diskSizeGB`, \
                 and `maxCount`. New disks are `creating` until `available`."
                .into(),
            body: Some((
                object(
                    &[
                        ("diskSpec", reference("DiskSpec")),
                        (
                            "maxCount",
                            example(int("[1,100]; names get `-1`, `-2`, … suffixes."), json!(1)),
                        ),
                        ("clientToken", client_token()),
                    ],
                    &["diskSpec", "maxCount"],
                ),
                true,
            )),
            result: Some(object(
                &[
                    ("diskIds", array(string("Disk id (`vol-…`)."))),
                    ("policyRelations", array(json!({"type": "object"}))),
                    ("tagmsg", string("")),
                ],
                &["diskIds"],
            )),
            creates: Some(("diskId", "/result/diskIds/0")),
            ..d("POST", DISKS, "createDisks", Disk, "Create cloud disks")
        },
        DescribeDisks => Doc {
            query: paged(filters(
                &[
                    "diskId",
                    "diskType",
                    "instanceId",
                    "instanceType",
                    "status",
                    "az",
                    "name",
                    "multiAttach",
                    "encrypted",
                ],
                "status",
                "available",
            )),
            result: Some(list_result("disks", "Disk")),
            ..d("GET", DISKS, "describeDisks", Disk, "List cloud disks")
        },
        DescribeDisk { .. } => Doc {
            result: Some(object(&[("disk", reference("Disk"))], &["disk"])),
            ..d("GET", DISK, "describeDisk", Disk, "Describe a cloud disk")
        },
        DeleteDisk { .. } => Doc {
            description: "The disk must be `available` (or in an error state).".into(),
            query: vec![query_param(
                "putInRecycleBin",
                boolean(""),
                "Validated; Kiln has no recycle bin and deletes the disk.",
            )],
            ..d("DELETE", DISK, "deleteDisk", Disk, "Delete a cloud disk")
        },
        CreateSnapshot => Doc {
            body: Some((
                object(
                    &[
                        ("snapshotSpec", reference("SnapshotSpec")),
                        ("clientToken", client_token()),
                    ],
                    &["snapshotSpec"],
                ),
                true,
            )),
            result: Some(object(
                &[("snapshotId", string("The new snapshot (`snapshot-…`)."))],
                &["snapshotId"],
            )),
            creates: Some(("snapshotId", "/result/snapshotId")),
            ..d(
                "POST",
                SNAPSHOTS,
                "createSnapshot",
                Disk,
                "Snapshot a cloud disk",
            )
        },
        DescribeSnapshots => Doc {
            query: {
                let mut q = paged(filters(
                    &["snapshotId", "diskId", "status", "name"],
                    "status",
                    "available",
                ));
                q.push(query_param(
                    "snapshotSource",
                    enumerated(&["private", "others", "shared"], ""),
                    "Default `private`; `others` and `shared` are always empty in Kiln.",
                ));
                q
            },
            result: Some(list_result("snapshots", "Snapshot")),
            ..d(
                "GET",
                SNAPSHOTS,
                "describeSnapshots",
                Disk,
                "List snapshots",
            )
        },
        DescribeSnapshot { .. } => Doc {
            result: Some(object(
                &[("snapshot", reference("Snapshot"))],
                &["snapshot"],
            )),
            ..d(
                "GET",
                SNAPSHOT,
                "describeSnapshot",
                Disk,
                "Describe a snapshot",
            )
        },
        DeleteSnapshot { .. } => Doc {
            ..d(
                "DELETE",
                SNAPSHOT,
                "deleteSnapshot",
                Disk,
                "Delete a snapshot",
            )
        },
        DescribeQuota => Doc {
            description: "disk describeQuota: chosen when the signature's credential scope \
                 names `disk`, or (unsigned) when a `type` parameter is present."
                .into(),
            query: vec![query_param(
                "type",
                enumerated(&["disk", "snapshot", "snapshot_policy"], ""),
                "Required for the disk service.",
            )],
            result: Some(object(&[("quota", reference("DiskQuota"))], &["quota"])),
            ..d(
                "GET",
                QUOTAS,
                "describeQuota",
                Disk,
                "disk and snapshot quota",
            )
        },
    }
}

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
    let mut paths = Map::new();
    for d in &docs {
        let mut op = operation(d);
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
            "schemas": schemas(),
        },
    })
}

/// One OpenAPI operation from a `Doc`.
fn operation(d: &Doc) -> Value {
    let service = service_name(d.service);
    let mut params: Vec<Value> = path_params_of(d.path)
        .into_iter()
        .map(|p| json!({"$ref": format!("#/components/parameters/{p}")}))
        .collect();
    params.extend(d.query.iter().cloned());
    let ok = match &d.result {
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
            "description": if d.result.is_some() { "The result." } else { "Done; no result." },
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
        "operationId": d.operation_id,
        "summary": d.summary,
        "tags": [service],
        "parameters": params,
        "responses": responses,
        "x-jdcloud": [{"operationId": d.operation_id, "service": service}],
    });
    if !d.description.is_empty() {
        op["description"] = json!(d.description);
    }
    if let Some((schema, required)) = &d.body {
        op["requestBody"] = json!({
            "required": required,
            "content": {"application/json": {"schema": schema}},
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
                c.operation_id.to_string(),
                json!({
                    "operationId": c.operation_id,
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

fn service_name(s: ServiceName) -> &'static str {
    match s {
        ServiceName::Vm => "vm",
        ServiceName::Disk => "disk",
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
    })
}

/// Every error HTTP status Kiln answers, with the JD statuses it carries.
fn error_statuses() -> Vec<(u16, Vec<&'static str>)> {
    let mut out: Vec<(u16, Vec<&'static str>)> = Vec::new();
    for e in error_samples() {
        let (code, status) = (e.http_code(), e.jd_status());
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
        ApiError::NotFound(String::new()),
        ApiError::NoRoute,
        ApiError::PayloadTooLarge,
        ApiError::UriTooLong,
        ApiError::RateLimited,
        ApiError::QuotaExceeded(String::new()),
        ApiError::Internal(String::new()),
    ];
    for e in &samples {
        match e {
            ApiError::InvalidArgument(_)
            | ApiError::OutOfRange(_)
            | ApiError::FailedPrecondition(_)
            | ApiError::Duplicate(_)
            | ApiError::Conflict(_)
            | ApiError::AccessError(_)
            | ApiError::NotFound(_)
            | ApiError::NoRoute
            | ApiError::PayloadTooLarge
            | ApiError::UriTooLong
            | ApiError::RateLimited
            | ApiError::QuotaExceeded(_)
            | ApiError::Internal(_) => {}
        }
    }
    samples
}

fn error_response(code: u16, statuses: &[&str]) -> Value {
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

// ---- schema helpers --------------------------------------------------------------------

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn with_description(mut v: Value, description: &str) -> Value {
    if !description.is_empty() {
        v["description"] = json!(description);
    }
    v
}

fn example(mut v: Value, example: Value) -> Value {
    v["example"] = example;
    v
}

fn string(description: &str) -> Value {
    with_description(json!({"type": "string"}), description)
}

fn int(description: &str) -> Value {
    with_description(json!({"type": "integer", "format": "int64"}), description)
}

fn boolean(description: &str) -> Value {
    with_description(json!({"type": "boolean"}), description)
}

fn array(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

fn enumerated(values: &[&str], description: &str) -> Value {
    with_description(json!({"type": "string", "enum": values}), description)
}

fn object(properties: &[(&str, Value)], required: &[&str]) -> Value {
    let props: Map<String, Value> = properties
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let mut o = json!({"type": "object", "properties": props});
    if !required.is_empty() {
        o["required"] = json!(required);
    }
    o
}

fn list_result(key: &str, model: &str) -> Value {
    object(
        &[
            (key, array(reference(model))),
            ("totalCount", int("All matches, over every page.")),
        ],
        &[key, "totalCount"],
    )
}

fn client_token() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 64,
           "description": "Idempotency token: a retry with the same token answers the first result."})
}

fn description() -> Value {
    json!({"type": "string", "maxLength": 256})
}

fn image_name() -> Value {
    json!({"type": "string", "pattern": "^[\\u4e00-\\u9fa5A-Za-z0-9_.-]{2,32}$",
           "description": "2–32 of Chinese, letters, digits, `_`, `-`, `.`.",
           "example": "baked-1"})
}

fn device_name() -> Value {
    json!({"type": "string", "pattern": "^vd([a-z]|a[a-z]|b[a-m])$",
           "description": "`vda` (system disk) or a data device `vdb`…`vdbm`."})
}

fn disk_format() -> Value {
    enumerated(&["qcow2", "vhd", "vmdk", "raw"], "")
}

fn image_url() -> Value {
    example(
        string(
            "Where Kiln reads the image from: `file:///absolute/path` on the server, or an \
             `http://` URL it downloads.",
        ),
        json!("file:///var/lib/kiln/import/disk.qcow2"),
    )
}

fn charge_on_stopped() -> Value {
    enumerated(
        &["keepCharging", "stopCharging"],
        "`stopCharging` only for a cloud system disk and postpaid_by_duration.",
    )
}

/// A body whose content Kiln ignores (SDKs send `{"regionId", "instanceId"}`).
fn ignored_body() -> (Value, bool) {
    (
        json!({"type": "object", "description": "Ignored; SDKs send the path parameters again."}),
        false,
    )
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

fn page_number() -> Value {
    query_param(
        "pageNumber",
        json!({"type": "integer", "format": "int64", "minimum": 1, "default": 1}),
        "1-based; default 1.",
    )
}

/// `pageNumber` and `pageSize` ([10,100], default 20) in front of `rest`.
fn paged(rest: Vec<Value>) -> Vec<Value> {
    let mut v = vec![
        page_number(),
        query_param(
            "pageSize",
            json!({"type": "integer", "minimum": 10, "maximum": 100, "default": 20}),
            "[10,100]; default 20; otherwise 400 OUT_OF_RANGE.",
        ),
    ];
    v.extend(rest);
    v
}

/// JD `filters`: documented as their first dotted entries.
fn filters(names: &[&str], example_name: &str, example_value: &str) -> Vec<Value> {
    let names_list = names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let how = format!(
        "JD `filters` are 1-based dotted query parameters: `filters.N.name`, \
         `filters.N.operator` and `filters.N.values.M`, e.g. \
         `filters.1.name={example_name}&filters.1.values.1={example_value}`. Filters are \
         AND-ed, the values of one filter OR-ed; more entries follow the same pattern. \
         Names Kiln filters on: {names_list}."
    );
    let name = |n: u32| {
        query_param(
            &format!("filters.{n}.name"),
            enumerated(names, ""),
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
            string(""),
            &format!("Value {m} of filter {n}."),
        )
    };
    vec![
        name(1),
        query_param("filters.1.operator", string(""), "Accepted and ignored."),
        value(1, 1),
        value(1, 2),
        name(2),
        value(2, 1),
    ]
}

// ---- models ----------------------------------------------------------------------------

fn schemas() -> Value {
    let s = string;
    let i = int;
    let b = boolean;
    let status = |values: &str| string(&format!("One of {values}."));
    let instance_types: Vec<&str> = catalog::INSTANCE_TYPES.iter().map(|t| t.name).collect();
    let disk_types: Vec<&str> = spec::DISK_TYPES.to_vec();
    let zones: Vec<String> = catalog::REGIONS
        .iter()
        .flat_map(|r| ["a", "b", "c"].map(|z| format!("{r}{z}")))
        .collect();
    let zones: Vec<&str> = zones.iter().map(String::as_str).collect();
    let charge_modes = [
        "prepaid_by_duration",
        "postpaid_by_duration",
        "postpaid_by_usage",
    ];
    let mut m = Map::new();
    let mut add = |name: &str, v: Value| {
        m.insert(name.to_string(), v);
    };
    add(
        "RequestId",
        json!({"type": "string", "description": "32 lowercase alphanumerics.",
               "example": "c2hmmaan8w06w19qcdfuic4w03f7ft2d"}),
    );
    add("Tag", object(&[("key", s("")), ("value", s(""))], &[]));
    add(
        "Charge",
        object(
            &[
                ("chargeMode", enumerated(&charge_modes, "")),
                ("chargeStatus", status("`normal`, `overdue`, `arrear`")),
                (
                    "chargeStartTime",
                    s("ISO 8601 UTC, `YYYY-MM-DDTHH:MM:SSZ`."),
                ),
                ("chargeExpiredTime", s("")),
                ("chargeRetireTime", s("")),
            ],
            &["chargeMode", "chargeStatus", "chargeStartTime"],
        ),
    );
    add(
        "ChargeSpec",
        with_description(
            object(
                &[(
                    "chargeMode",
                    enumerated(&charge_modes, "Default postpaid_by_duration."),
                )],
                &[],
            ),
            "Kiln reads `chargeMode`; the other JD ChargeSpec fields are accepted and ignored.",
        ),
    );
    add(
        "DiskAttachment",
        object(
            &[
                ("attachmentId", s("")),
                ("diskId", s("")),
                ("instanceType", enumerated(&["vm", "nc"], "")),
                ("instanceId", s("")),
                (
                    "status",
                    status("`attaching`, `attached`, `detaching`, `detached`"),
                ),
                ("attachTime", s("`YYYY-MM-DD HH:MM:SS`, UTC+8.")),
            ],
            &["attachmentId", "diskId", "instanceId", "status"],
        ),
    );
    add(
        "Disk",
        with_description(
            object(
                &[
                    ("diskId", s("`vol-…` (`local-…` never appears here).")),
                    ("az", s("")),
                    ("name", s("")),
                    ("description", s("")),
                    ("diskType", s("")),
                    ("diskSizeGB", i("")),
                    ("iops", i("")),
                    ("throughput", i("")),
                    (
                        "status",
                        status(
                            "`creating`, `available`, `in-use`, `deleting`, `deleted`, \
                             `error_create`, `error_delete`",
                        ),
                    ),
                    ("attachments", array(reference("DiskAttachment"))),
                    ("snapshotId", s("The snapshot it was made from, or empty.")),
                    ("multiAttachable", b("")),
                    ("encrypted", b("")),
                    ("encrypt", b("Same as `encrypted`.")),
                    ("enabled", b("")),
                    ("createTime", s("`YYYY-MM-DD HH:MM:SS`, UTC+8.")),
                    ("charge", reference("Charge")),
                    ("tags", array(reference("Tag"))),
                    ("snapshotPolicies", array(json!({"type": "object"}))),
                    ("resourceGroupId", s("")),
                    ("canPutInRecycleBin", b("")),
                    ("trashTime", s("")),
                ],
                &[],
            ),
            "A cloud disk. describeDisk(s) fill every field; an image's `cloudDisk` carries \
             only `diskType`, `diskSizeGB`, `iops`, `snapshotId`, `encrypt`, `encrypted`.",
        ),
    );
    add(
        "LocalDisk",
        object(&[("diskType", s("")), ("diskSizeGB", i(""))], &[]),
    );
    add(
        "InstanceDiskAttachment",
        object(
            &[
                ("diskCategory", enumerated(&["local", "cloud"], "")),
                ("autoDelete", b("")),
                ("deviceName", s("`vda` for the system disk.")),
                (
                    "status",
                    status(
                        "`attaching`, `detaching`, `attached`, `detached`, `error_attach`, \
                         `error_detach` (empty in images)",
                    ),
                ),
                ("localDisk", reference("LocalDisk")),
                ("cloudDisk", reference("Disk")),
            ],
            &[],
        ),
    );
    add(
        "Instance",
        object(
            &[
                ("instanceId", s("")),
                ("instanceName", s("")),
                ("hostname", s("")),
                ("instanceType", s("")),
                ("vpcId", s("")),
                ("subnetId", s("")),
                ("privateIpAddress", s("")),
                ("elasticIpId", s("")),
                ("elasticIpAddress", s("")),
                (
                    "status",
                    status(
                        "`pending`, `starting`, `running`, `stopping`, `stopped`, \
                         `rebooting`, `deleting`, `error`",
                    ),
                ),
                ("description", s("")),
                ("imageId", s("")),
                (
                    "systemDisk",
                    with_description(
                        reference("InstanceDiskAttachment"),
                        "`{}` while the instance has no system disk.",
                    ),
                ),
                ("dataDisks", array(reference("InstanceDiskAttachment"))),
                (
                    "primaryNetworkInterface",
                    json!({"type": "object", "description":
                        "As given to createInstances (networking is out of scope), completed \
                         with `deviceIndex`, `autoDelete` and `networkInterface` \
                         {`networkInterfaceId`, `primaryIp`, `privateIpAddress`}."}),
                ),
                (
                    "secondaryNetworkInterfaces",
                    array(json!({"type": "object"})),
                ),
                ("launchTime", s("`YYYY-MM-DD HH:MM:SS`, UTC+8.")),
                ("az", s("")),
                ("keyNames", array(s(""))),
                ("charge", reference("Charge")),
                ("faultDomain", s("")),
                ("tags", array(reference("Tag"))),
                ("chargeOnStopped", s("`keepCharging` or `stopCharging`.")),
                ("policies", array(json!({"type": "object"}))),
                ("resourceGroupId", s("")),
                ("cpu", i("vCPUs of the instance type.")),
                ("memoryMB", i("Memory of the instance type.")),
            ],
            &[
                "instanceId",
                "instanceName",
                "instanceType",
                "status",
                "imageId",
                "systemDisk",
                "dataDisks",
                "az",
                "charge",
            ],
        ),
    );
    add(
        "Image",
        object(
            &[
                ("imageId", s("")),
                ("name", s("")),
                ("platform", s("")),
                ("osVersion", s("")),
                ("architecture", s("")),
                ("systemDiskSizeGB", i("")),
                ("imageSource", s("`public` or `private`.")),
                ("osType", s("`linux` or `windows`.")),
                ("status", status("`pending`, `ready`, `deleting`, `error`")),
                ("createTime", s("`YYYY-MM-DD HH:MM:SS`, UTC+8.")),
                ("sizeMB", i("")),
                ("desc", s("The description (JD's field name).")),
                ("ownerPin", s("")),
                ("loginName", s("")),
                ("launchPermission", s("`all` (public) or `ownerOnly`.")),
                ("systemDisk", reference("InstanceDiskAttachment")),
                ("dataDisks", array(reference("InstanceDiskAttachment"))),
                (
                    "snapshotId",
                    s("System-disk snapshot; empty for localDisk images."),
                ),
                (
                    "rootDeviceType",
                    enumerated(&["localDisk", "cloudDisk"], ""),
                ),
                (
                    "progress",
                    s("Percent, as a string (`\"100\"` when ready)."),
                ),
                ("offline", b("")),
                ("serviceCode", s("")),
                ("imported", b("")),
                ("expiredTime", s("")),
                ("instanceId", s("The instance it was made from, or empty.")),
                ("bootMode", s("")),
                ("uefiSupport", b("")),
            ],
            &[
                "imageId",
                "name",
                "status",
                "imageSource",
                "rootDeviceType",
                "systemDisk",
                "dataDisks",
            ],
        ),
    );
    add(
        "ShareInfo",
        object(&[("shareTo", s("")), ("shareTime", s(""))], &[]),
    );
    add(
        "Snapshot",
        object(
            &[
                ("snapshotId", s("")),
                ("snapshotSource", s("`self`.")),
                ("diskId", s("")),
                ("snapshotSizeGB", i("")),
                ("images", array(s("Image id."))),
                ("name", s("")),
                ("description", s("")),
                (
                    "status",
                    status(
                        "`creating`, `available`, `in-use`, `deleting`, `error_create`, \
                         `error_delete`",
                    ),
                ),
                ("createTime", s("`YYYY-MM-DD HH:MM:SS`, UTC+8.")),
                ("expireTime", s("")),
                ("sharInfo", array(reference("ShareInfo"))),
                ("shareInfo", array(reference("ShareInfo"))),
                ("encrypted", b("")),
            ],
            &["snapshotId", "diskId", "status"],
        ),
    );
    add(
        "Quota",
        object(
            &[("resourceType", s("")), ("limit", i("")), ("used", i(""))],
            &["resourceType", "limit", "used"],
        ),
    );
    add(
        "DiskQuota",
        object(&[("limit", i("")), ("used", i(""))], &["limit", "used"]),
    );
    add(
        "TaskInfo",
        object(
            &[
                ("taskId", s("")),
                ("action", enumerated(&["ImportImage", "ExportImage"], "")),
                (
                    "taskStatus",
                    enumerated(&["pending", "running", "failed", "finished"], ""),
                ),
                ("progress", i("Percent.")),
                ("errorInfo", s("")),
                ("message", s("")),
                ("createdTime", s("`YYYY-MM-DD HH:MM:SS`, UTC+8.")),
                ("finishedTime", s("Empty until finished.")),
                ("imageId", s("")),
                ("imageName", s("")),
                ("imageUrl", s("")),
                ("ossUrl", s("")),
                ("ossObject", s("")),
                ("ossObjects", array(s(""))),
            ],
            &["taskId", "action", "taskStatus", "progress"],
        ),
    );
    // Request models.
    add(
        "DiskSpec",
        object(
            &[
                (
                    "az",
                    example(
                        enumerated(
                            &zones,
                            "A zone of the path's region; ignored in createInstances.",
                        ),
                        json!("cn-north-1a"),
                    ),
                ),
                (
                    "name",
                    json!({"type": "string", "pattern": "^[\\u4e00-\\u9fa5A-Za-z0-9_-]{1,32}$",
                           "description": "1–32 of Chinese, letters, digits, `_`, `-`.",
                           "example": "data-1"}),
                ),
                ("description", description()),
                ("diskType", enumerated(&disk_types, "")),
                (
                    "diskSizeGB",
                    example(
                        i("GiB, a multiple of 10; [20,16000] for current types."),
                        json!(20),
                    ),
                ),
                (
                    "iops",
                    i("`ssd.io1` only: [200, min(32000, 50×size)], step 10."),
                ),
                ("snapshotId", s("Create from this snapshot.")),
                ("multiAttachable", b("")),
                ("encrypt", b("")),
                ("charge", reference("ChargeSpec")),
            ],
            &[],
        ),
    );
    add(
        "InstanceDiskAttachmentSpec",
        object(
            &[
                ("diskCategory", enumerated(&["local", "cloud"], "")),
                ("autoDelete", b("")),
                ("cloudDiskSpec", reference("DiskSpec")),
                ("deviceName", device_name()),
                ("noDevice", b("With `deviceName`: leave that disk out.")),
            ],
            &[],
        ),
    );
    add(
        "InstanceSpec",
        object(
            &[
                (
                    "az",
                    example(
                        enumerated(&zones, "A zone of the path's region."),
                        json!("cn-north-1a"),
                    ),
                ),
                ("instanceType", enumerated(&instance_types, "")),
                (
                    "imageId",
                    example(s("A `ready` image."), json!("img-ubuntu2204")),
                ),
                (
                    "name",
                    json!({"type": "string",
                           "pattern": "^[\\u4e00-\\u9fa5A-Za-z0-9_-]([\\u4e00-\\u9fa5A-Za-z0-9_.-]{0,126}[\\u4e00-\\u9fa5A-Za-z0-9_-])$",
                           "description": "2–128 of Chinese, letters, digits, `_`, `-`, `.`; \
                                           not starting or ending with `.`.",
                           "example": "web-1"}),
                ),
                ("hostname", s("")),
                ("description", description()),
                ("systemDisk", reference("InstanceDiskAttachmentSpec")),
                ("dataDisks", array(reference("InstanceDiskAttachmentSpec"))),
                (
                    "primaryNetworkInterface",
                    json!({"type": "object", "description": "Stored and echoed."}),
                ),
                ("charge", reference("ChargeSpec")),
                ("chargeOnStopped", charge_on_stopped()),
            ],
            &[],
        ),
    );
    add(
        "ImportDataDisk",
        object(
            &[
                ("diskFormat", disk_format()),
                ("dataDiskSizeGB", i("")),
                ("imageUrl", image_url()),
            ],
            &["dataDiskSizeGB", "imageUrl"],
        ),
    );
    add(
        "SnapshotSpec",
        object(
            &[
                (
                    "name",
                    json!({"type": "string", "pattern": "^[\\u4e00-\\u9fa5A-Za-z0-9_-]{1,32}$",
                           "description": "1–32 of Chinese, letters, digits, `_`, `-`."}),
                ),
                ("description", description()),
                ("diskId", s("The cloud disk to snapshot.")),
            ],
            &["name", "diskId"],
        ),
    );
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::endpoint::Route;

    fn sample_path(template: &str) -> String {
        template
            .replace("{regionId}", SAMPLE_REGION)
            .replace("{instanceId}", SAMPLE_INSTANCE)
            .replace("{imageId}", SAMPLE_IMAGE)
            .replace("{diskId}", SAMPLE_DISK)
            .replace("{snapshotId}", SAMPLE_SNAPSHOT)
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
        let mut ids: Vec<_> = all.iter().map(|e| doc(e).operation_id).collect();
        ids.sort();
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
        let mut count = 0;
        for op in ops.values() {
            let links = op["responses"]["200"]["links"].as_object();
            for link in links.into_iter().flat_map(|l| l.values()) {
                let target = &ops[link["operationId"].as_str().unwrap()];
                let params = target["parameters"].as_array().unwrap();
                for name in link["parameters"].as_object().unwrap().keys() {
                    let r = json!({"$ref": format!("#/components/parameters/{name}")});
                    assert!(params.contains(&r), "{name} is no parameter of {target}");
                }
                count += 1;
            }
        }
        // createInstances → 8 instance APIs; createImage/importImage → 3 image APIs each;
        // createDisks → 2; createSnapshot → 2.
        assert_eq!(count, 8 + 3 + 3 + 2 + 2);
    }

    #[test]
    fn errors_cover_the_gateway_and_service_statuses() {
        let codes: Vec<u16> = error_statuses().iter().map(|(c, _)| *c).collect();
        assert_eq!(codes, vec![400, 401, 404, 413, 414, 429, 500]);
    }

    #[test]
    fn the_text_is_stable() {
        assert_eq!(document_text(), document_text());
        assert!(document_text().ends_with("}\n"));
    }
}
