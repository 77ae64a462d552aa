//! What each `Endpoint` is in OpenAPI: method, path, JD name, and which request and result
//! structs it reads and answers (their schemas are derived; see `handlers`).

use schemars::{JsonSchema, Schema, SchemaGenerator};

use crate::http::endpoint::{Endpoint, ServiceName};
use crate::http::handlers::{
    disk, image, image_share, image_transfer, instance, instance_change, quota, snapshot, Ignored,
    Paging,
};
use crate::http::views;

/// The region and ids of the representative value of each endpoint.
pub const SAMPLE_REGION: &str = "cn-north-1";
pub(super) const SAMPLE_INSTANCE: &str = "i-sample";
pub(super) const SAMPLE_IMAGE: &str = "img-sample";
pub(super) const SAMPLE_DISK: &str = "vol-sample";
pub(super) const SAMPLE_SNAPSHOT: &str = "snapshot-sample";

/// A schema from a derive: `schema::<T>` references `T` in `components/schemas`.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

pub fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// The struct's own schema, not a reference (its properties become query parameters).
pub fn inline<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    let mut s = T::json_schema(g);
    for t in g.transforms_mut() {
        t.transform(&mut s);
    }
    s
}

/// What an endpoint answers in `result`.
pub enum Answer {
    /// `{"requestId"}` only.
    Nothing,
    /// One result struct.
    One(SchemaFn),
    /// A describe* list: `{"<key>": [items…], "totalCount"}`.
    List(&'static str, SchemaFn),
}

/// One documented JD API.
pub struct Doc {
    pub method: &'static str,
    /// OpenAPI path template, e.g. `/v1/regions/{regionId}/instances/{instanceId}:createImage`.
    pub path: &'static str,
    /// The JD API name (`createImage`).
    pub operation_id: &'static str,
    pub service: ServiceName,
    pub summary: &'static str,
    pub description: &'static str,
    /// Request structs read from the query (GET/DELETE), in order.
    pub query: Vec<SchemaFn>,
    /// The request struct read from a JSON body, and whether a body is required.
    pub body: Option<(SchemaFn, bool)>,
    pub result: Answer,
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
        ModifyInstanceAttribute { instance_id: i() },
        ModifyInstancePassword { instance_id: i() },
        ModifyInstanceDiskAttribute { instance_id: i() },
        ResizeInstance { instance_id: i() },
        RebuildInstance { instance_id: i() },
        AssociateInstanceElasticIp { instance_id: i() },
        DisassociateInstanceElasticIp { instance_id: i() },
        DescribeInstanceTypes,
        DescribeInstanceStatus,
        DescribeBriefInstances,
        DescribeInstancePrivateIpAddress,
        DescribeImages,
        DescribeImage { image_id: img() },
        ModifyImageAttribute { image_id: img() },
        ShareImage { image_id: img() },
        UnShareImage { image_id: img() },
        DescribeImageMembers { image_id: img() },
        ReleaseImage { image_id: img() },
        UnReleaseImage { image_id: img() },
        DescribeImageConstraints { image_id: img() },
        DescribeImageConstraintsBatch,
        ConvertImage { image_id: img() },
        CreateImageFromSnapshots,
        CopyImages,
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
    .into_iter()
    .chain(super::disk_change_endpoints::representatives())
    .chain(super::keypair_endpoints::representatives())
    .chain(super::vpc_endpoints::representatives())
    .collect()
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
    let d = |method, path, service, summary| Doc {
        method,
        path,
        operation_id: e.action(),
        service,
        summary,
        description: "",
        query: vec![],
        body: None,
        result: Answer::Nothing,
        creates: None,
    };
    let ignored_body = Some((schema::<Ignored> as SchemaFn, false));
    match e {
        CreateInstances => Doc {
            description: "Asynchronous: instances start `pending` and become `running`. \
                 Required in practice: `instanceSpec` with `az`, `instanceType`, `imageId` \
                 and `name`; `maxCount` defaults to 1 (at most 100).",
            body: Some((schema::<instance::CreateInstances>, true)),
            result: Answer::One(schema::<instance::CreateInstancesResult>),
            creates: Some(("instanceId", "/result/instanceIds/0")),
            ..d("POST", INSTANCES, Vm, "Create instances")
        },
        DescribeInstances => Doc {
            query: vec![inline::<Paging>, inline::<instance::DescribeInstances>],
            result: Answer::List("instances", schema::<views::InstanceView>),
            ..d("GET", INSTANCES, Vm, "List instances")
        },
        DescribeInstance { .. } => Doc {
            result: Answer::One(schema::<instance::DescribeInstanceResult>),
            ..d("GET", INSTANCE, Vm, "Describe an instance")
        },
        DeleteInstance { .. } => Doc {
            description: "The instance must be `running`, `stopped` or `error`; cloud data \
                 disks with `autoDelete` are deleted with it.",
            ..d("DELETE", INSTANCE, Vm, "Delete an instance")
        },
        StartInstance { .. } => Doc {
            description: "The instance must be `stopped`.",
            body: ignored_body,
            ..d(
                "POST",
                "/v1/regions/{regionId}/instances/{instanceId}:startInstance",
                Vm,
                "Start an instance",
            )
        },
        StopInstance { .. } => Doc {
            description: "The instance must be `running`.",
            body: Some((schema::<instance::StopInstance>, false)),
            ..d(
                "POST",
                "/v1/regions/{regionId}/instances/{instanceId}:stopInstance",
                Vm,
                "Stop an instance",
            )
        },
        RebootInstance { .. } => Doc {
            description: "The instance must be `running`.",
            body: ignored_body,
            ..d(
                "POST",
                "/v1/regions/{regionId}/instances/{instanceId}:rebootInstance",
                Vm,
                "Reboot an instance",
            )
        },
        AttachDisk { .. } => Doc {
            body: Some((schema::<instance::AttachDisk>, true)),
            ..d(
                "POST",
                "/v1/regions/{regionId}/instances/{instanceId}:attachDisk",
                Vm,
                "Attach a cloud disk",
            )
        },
        DetachDisk { .. } => Doc {
            body: Some((schema::<instance::DetachDisk>, true)),
            ..d(
                "POST",
                "/v1/regions/{regionId}/instances/{instanceId}:detachDisk",
                Vm,
                "Detach a disk",
            )
        },
        CreateImage { .. } => Doc {
            description: "Bakes a private image from an instance: its system disk and every \
                 attached cloud data disk, changed by `dataDisks` (`deviceName` + `noDevice` \
                 excludes a disk, a new `deviceName` inserts one, an existing one replaces \
                 it). The image is `pending` until `ready`. An instance with a local system \
                 disk must be `stopped`.",
            body: Some((schema::<image::CreateImage>, true)),
            result: Answer::One(schema::<image::ImageIdResult>),
            creates: Some(("imageId", "/result/imageId")),
            ..d(
                "POST",
                "/v1/regions/{regionId}/instances/{instanceId}:createImage",
                Vm,
                "Create a private image from an instance",
            )
        },
        DescribeImages => Doc {
            description: "Conditions are top-level parameters (no `filters`), AND-ed. \
                 `imageSource` is required unless `ids` is given.",
            query: vec![inline::<Paging>, inline::<image::DescribeImages>],
            result: Answer::List("images", schema::<views::ImageView>),
            ..d("GET", IMAGES, Vm, "List images")
        },
        DescribeImage { .. } => Doc {
            result: Answer::One(schema::<image::DescribeImageResult>),
            ..d("GET", IMAGE, Vm, "Describe an image")
        },
        ModifyImageAttribute { .. } => Doc {
            description: "The caller's private image; at least one of `name` and \
                 `description`.",
            body: Some((schema::<image_share::ModifyImageAttribute>, true)),
            ..d(
                "POST",
                "/v1/regions/{regionId}/images/{imageId}:modifyImageAttribute",
                Vm,
                "Rename or describe an image",
            )
        },
        ShareImage { .. } => Doc {
            description: "The caller's `ready` private image, for other accounts (at most 10 \
                 per image, `--quota share=N`). They see it under `imageSource=shared` and \
                 may launch from it; the owner cannot delete it while it is shared.",
            body: Some((schema::<image_share::SharePins>, true)),
            ..d(
                "POST",
                "/v1/regions/{regionId}/images/{imageId}:share",
                Vm,
                "Share an image",
            )
        },
        UnShareImage { .. } => Doc {
            description: "Instances the accounts launched from it keep running.",
            body: Some((schema::<image_share::SharePins>, true)),
            ..d(
                "POST",
                "/v1/regions/{regionId}/images/{imageId}:unshare",
                Vm,
                "Stop sharing an image",
            )
        },
        DescribeImageMembers { .. } => Doc {
            result: Answer::One(schema::<image_share::ImageMembersResult>),
            ..d(
                "GET",
                "/v1/regions/{regionId}/images/{imageId}/members",
                Vm,
                "The accounts an image is shared with",
            )
        },
        ReleaseImage { .. } => Doc {
            description: "A `ready` cloudDisk private image becomes a community image, listed \
                 for every account under `imageSource=community`; its shares are revoked.",
            body: ignored_body,
            ..d(
                "POST",
                "/v1/regions/{regionId}/images/{imageId}:release",
                Vm,
                "Release an image to the community",
            )
        },
        UnReleaseImage { .. } => Doc {
            body: ignored_body,
            ..d(
                "POST",
                "/v1/regions/{regionId}/images/{imageId}:unrelease",
                Vm,
                "Take a community image back",
            )
        },
        DescribeImageConstraints { .. } => Doc {
            description: "Only public images carry constraints; createInstances enforces them.",
            result: Answer::One(schema::<image_share::ImageConstraintResult>),
            ..d(
                "GET",
                "/v1/regions/{regionId}/images/{imageId}/constraints",
                Vm,
                "An image's instance-type constraint",
            )
        },
        DescribeImageConstraintsBatch => Doc {
            query: vec![inline::<image_share::ConstraintIds>],
            result: Answer::One(schema::<image_share::ImageConstraintsBatchResult>),
            ..d(
                "GET",
                "/v1/regions/{regionId}/imageConstraints",
                Vm,
                "Instance-type constraints of several images",
            )
        },
        ConvertImage { .. } => Doc {
            description: "A ready localDisk private image → a new cloudDisk image (pending → \
                 ready) whose system-disk snapshot holds the source's data; its data-disk \
                 snapshots serve both images. The source is busy until the new one is ready. \
                 In JD's documents, not in the official SDKs.",
            body: ignored_body,
            result: Answer::One(schema::<image::ImageIdResult>),
            creates: Some(("imageId", "/result/imageId")),
            ..d(
                "POST",
                "/v1/regions/{regionId}/images/{imageId}:convertImage",
                Vm,
                "Convert a localDisk image to a cloudDisk image",
            )
        },
        CreateImageFromSnapshots => Doc {
            description: "An image of 1–8 of the caller's available snapshots, one of them on \
                 `vda` (pending → ready). The Go SDK's operation.",
            body: Some((schema::<image_share::CreateImageFromSnapshots>, true)),
            result: Answer::One(schema::<image::ImageIdResult>),
            creates: Some(("imageId", "/result/imageId")),
            ..d(
                "POST",
                "/v1/regions/{regionId}/images:createImageFromSnapshots",
                Vm,
                "Create an image from snapshots",
            )
        },
        CopyImages => Doc {
            description: "Up to 10 ready cloudDisk images (the caller's, or shared with it) \
                 copied into `destinationRegion` (the same region too): each copy is a real \
                 copy of the data, `pending` with a moving `progress` until `ready`; each \
                 source is busy meanwhile. Also listed in imageTasks as `CopyImage`.",
            body: Some((schema::<image_share::CopyImages>, true)),
            result: Answer::One(schema::<image_share::CopyImagesResult>),
            creates: Some(("imageId", "/result/copyImages/0/destinationImageId")),
            ..d(
                "POST",
                "/v1/regions/{regionId}/images:copyImages",
                Vm,
                "Copy images to a region",
            )
        },
        DeleteImage { .. } => Doc {
            description: "Private images only, `ready` or `error`; not while shared or released.",
            query: vec![inline::<image::DeleteImage>],
            ..d("DELETE", IMAGE, Vm, "Delete an image")
        },
        ImportImage => Doc {
            description:
                "From an OSS object (`https://<bucket>.s3.<region>.jdcloud-oss.com/<key>` \
                 or `s3://bucket/key`, on the server's `--oss-endpoint`), a \
                 `file:///absolute/path` under a `--file-root`, or an `http(s)://` URL; the \
                 image is `pending` until its task finishes.",
            body: Some((schema::<image_transfer::ImportImage>, true)),
            result: Answer::One(schema::<image_transfer::ImportImageResult>),
            creates: Some(("imageId", "/result/imageId")),
            ..d(
                "POST",
                "/v1/regions/{regionId}/images:import",
                Vm,
                "Import an image",
            )
        },
        ExportImage { .. } => Doc {
            description: "A private, `ready`, cloudDisk image, exported as qcow2 objects (the \
                 system disk; every disk with `isAllDisk`) under `ossPrefix` into an OSS bucket \
                 (`https://<bucket>.s3.<region>.jdcloud-oss.com` or `s3://bucket`, on the \
                 server's `--oss-endpoint`; multipart) or into a `file:///absolute/directory` \
                 under a `--file-root`. The objects are listed in the task's `ossObjects`.",
            body: Some((schema::<image_transfer::ExportImage>, true)),
            result: Answer::One(schema::<image_transfer::TaskIdResult>),
            ..d(
                "POST",
                "/v1/regions/{regionId}/images/{imageId}:exportImage",
                Vm,
                "Export an image",
            )
        },
        ImageTasks => Doc {
            query: vec![inline::<image_transfer::ImageTasks>],
            result: Answer::List("taskSet", schema::<views::TaskInfoView>),
            ..d(
                "GET",
                "/v1/regions/{regionId}/imageTasks",
                Vm,
                "List image import/export tasks",
            )
        },
        DescribeQuotas => Doc {
            description: "vm describeQuotas: chosen when the signature's credential scope \
                 names `vm`, or (unsigned) when there is no `type` parameter. \
                 `resourceTypes` values: `instance`, `instance_cpu`, `instance_memory`, \
                 `instance_local_disk`, `keypair`, `image`, `instanceTemplate`, `imageShare`; \
                 none means all (`imageShare` only with `imageId`).",
            query: vec![inline::<quota::DescribeQuotas>],
            result: Answer::One(schema::<quota::DescribeQuotasResult>),
            ..d("GET", QUOTAS, Vm, "vm quotas")
        },
        CreateDisks => Doc {
            description: "Required: `diskSpec` with `az`, `name`, `diskType`, `diskSizeGB`, \
                 and `maxCount`. New disks are `creating` until `available`.",
            body: Some((schema::<disk::CreateDisks>, true)),
            result: Answer::One(schema::<disk::CreateDisksResult>),
            creates: Some(("diskId", "/result/diskIds/0")),
            ..d("POST", DISKS, Disk, "Create cloud disks")
        },
        DescribeDisks => Doc {
            query: vec![inline::<Paging>, inline::<disk::DescribeDisks>],
            result: Answer::List("disks", schema::<views::DiskView>),
            ..d("GET", DISKS, Disk, "List cloud disks")
        },
        DescribeDisk { .. } => Doc {
            result: Answer::One(schema::<disk::DescribeDiskResult>),
            ..d("GET", DISK, Disk, "Describe a cloud disk")
        },
        DeleteDisk { .. } => Doc {
            description: "The disk must be `available` (or in an error state).",
            query: vec![inline::<disk::DeleteDisk>],
            ..d("DELETE", DISK, Disk, "Delete a cloud disk")
        },
        CreateSnapshot => Doc {
            body: Some((schema::<snapshot::CreateSnapshot>, true)),
            result: Answer::One(schema::<snapshot::CreateSnapshotResult>),
            creates: Some(("snapshotId", "/result/snapshotId")),
            ..d("POST", SNAPSHOTS, Disk, "Snapshot a cloud disk")
        },
        DescribeSnapshots => Doc {
            query: vec![inline::<Paging>, inline::<snapshot::DescribeSnapshots>],
            result: Answer::List("snapshots", schema::<views::SnapshotView>),
            ..d("GET", SNAPSHOTS, Disk, "List snapshots")
        },
        DescribeSnapshot { .. } => Doc {
            result: Answer::One(schema::<snapshot::DescribeSnapshotResult>),
            ..d("GET", SNAPSHOT, Disk, "Describe a snapshot")
        },
        DeleteSnapshot { .. } => d("DELETE", SNAPSHOT, Disk, "Delete a snapshot"),
        DescribeQuota => Doc {
            description: "disk describeQuota: chosen when the signature's credential scope \
                 names `disk`, or (unsigned) when a `type` parameter is present.",
            query: vec![inline::<quota::DescribeQuota>],
            result: Answer::One(schema::<quota::DescribeQuotaResult>),
            ..d("GET", QUOTAS, Disk, "disk and snapshot quota")
        },
        ModifyInstanceAttribute { .. } => Doc {
            body: Some((schema::<instance_change::ModifyInstanceAttribute>, true)),
            ..d(
                "POST",
                "/v1/regions/{regionId}/instances/{instanceId}:modifyInstanceAttribute",
                Vm,
                "Rename an instance",
            )
        },
        ModifyInstancePassword { .. } => Doc {
            description: "Running or stopped; the password takes effect at the next start.",
            body: Some((schema::<instance_change::ModifyInstancePassword>, true)),
            ..d(
                "POST",
                "/v1/regions/{regionId}/instances/{instanceId}:modifyInstancePassword",
                Vm,
                "Set an instance's password",
            )
        },
        ModifyInstanceDiskAttribute { .. } => Doc {
            body: Some((schema::<instance_change::ModifyInstanceDiskAttribute>, true)),
            ..d(
                "POST",
                "/v1/regions/{regionId}/instances/{instanceId}:modifyInstanceDiskAttribute",
                Vm,
                "Set whether disks go with the instance",
            )
        },
        ResizeInstance { .. } => Doc {
            description: "A stopped instance; a type of describeInstanceTypes its image allows.",
            body: Some((schema::<instance_change::ResizeInstance>, true)),
            ..d(
                "POST",
                "/v1/regions/{regionId}/instances/{instanceId}:resizeInstance",
                Vm,
                "Change an instance's type",
            )
        },
        RebuildInstance { .. } => Doc {
            description: "A stopped instance gets a new system disk from the image (its own \
                 by default); the old system disk's data goes, data disks stay.",
            body: Some((schema::<instance_change::RebuildInstance>, false)),
            ..d(
                "POST",
                "/v1/regions/{regionId}/instances/{instanceId}:rebuildInstance",
                Vm,
                "Rebuild an instance's system disk",
            )
        },
        AssociateInstanceElasticIp { .. } => Doc {
            body: Some((schema::<instance_change::InstanceElasticIp>, true)),
            ..d(
                "POST",
                "/v1/regions/{regionId}/instances/{instanceId}:associateElasticIp",
                Vm,
                "Associate an elastic IP with an instance",
            )
        },
        DisassociateInstanceElasticIp { .. } => Doc {
            body: Some((schema::<instance_change::InstanceElasticIp>, true)),
            ..d(
                "POST",
                "/v1/regions/{regionId}/instances/{instanceId}:disassociateElasticIp",
                Vm,
                "Disassociate an instance's elastic IP",
            )
        },
        DescribeInstanceTypes => Doc {
            query: vec![inline::<instance_change::DescribeInstanceTypes>],
            result: Answer::One(schema::<instance_change::DescribeInstanceTypesResult>),
            ..d(
                "GET",
                "/v1/regions/{regionId}/instanceTypes",
                Vm,
                "List instance types",
            )
        },
        DescribeInstanceStatus => Doc {
            query: vec![
                inline::<Paging>,
                inline::<instance_change::DescribeInstanceList>,
            ],
            result: Answer::List(
                "instanceStatuses",
                schema::<instance_change::InstanceStatusView>,
            ),
            ..d(
                "GET",
                "/v1/regions/{regionId}/instanceStatus",
                Vm,
                "List instance statuses",
            )
        },
        DescribeBriefInstances => Doc {
            query: vec![
                inline::<Paging>,
                inline::<instance_change::DescribeInstanceList>,
            ],
            result: Answer::List("instances", schema::<views::InstanceView>),
            ..d(
                "GET",
                "/v1/regions/{regionId}/instances:describeBriefInstances",
                Vm,
                "List instances (brief)",
            )
        },
        DescribeInstancePrivateIpAddress => Doc {
            query: vec![
                inline::<Paging>,
                inline::<instance_change::DescribeInstanceList>,
            ],
            result: Answer::List(
                "instancePrivateIpAddress",
                schema::<instance_change::InstancePrivateIpView>,
            ),
            ..d(
                "GET",
                "/v1/regions/{regionId}/instancePrivateIpAddress",
                Vm,
                "List instances' private addresses",
            )
        },
        CreateKeypair
        | ImportKeypair
        | DescribeKeypairs
        | DeleteKeypair { .. }
        | AttachKeypair { .. }
        | DetachKeypair { .. } => super::keypair_endpoints::doc(e),
        CreateVpc
        | DescribeVpcs
        | DescribeVpc { .. }
        | ModifyVpc { .. }
        | DeleteVpc { .. }
        | CreateSubnet
        | DescribeSubnets
        | DescribeSubnet { .. }
        | ModifySubnet { .. }
        | DeleteSubnet { .. }
        | CreateNetworkSecurityGroup
        | DescribeNetworkSecurityGroups
        | DescribeNetworkSecurityGroup { .. }
        | ModifyNetworkSecurityGroup { .. }
        | DeleteNetworkSecurityGroup { .. }
        | AddNetworkSecurityGroupRules { .. }
        | RemoveNetworkSecurityGroupRules { .. }
        | CreateElasticIps
        | DescribeElasticIps
        | DescribeElasticIp { .. }
        | DeleteElasticIp { .. }
        | DescribeNetworkInterfaces
        | DescribeNetworkInterface { .. }
        | AssociateElasticIp { .. }
        | DisassociateElasticIp { .. }
        | DescribeVpcQuota => super::vpc_endpoints::doc(e),
        ModifyDiskAttribute { .. }
        | ExtendDisk { .. }
        | RestoreDisk { .. }
        | ModifySnapshotAttribute { .. }
        | DeleteSnapshots
        | DescribeSnapshotChain => super::disk_change_endpoints::doc(e),
    }
}
