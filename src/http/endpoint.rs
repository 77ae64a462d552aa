//! JD Cloud paths → `Endpoint`. JD puts actions inside a path segment
//! (`/instances/{id}:createImage`, sent as `%3A` by most SDKs), which router path templates
//! do not express; so, as garage does for S3, the whole path is parsed here into one enum
//! and dispatched with one exhaustive `match`.

use percent_encoding::percent_decode_str;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    // vm
    CreateInstances,
    DescribeInstances,
    DescribeInstance { instance_id: String },
    DeleteInstance { instance_id: String },
    StartInstance { instance_id: String },
    StopInstance { instance_id: String },
    RebootInstance { instance_id: String },
    AttachDisk { instance_id: String },
    DetachDisk { instance_id: String },
    CreateImage { instance_id: String },
    ModifyInstanceAttribute { instance_id: String },
    ModifyInstancePassword { instance_id: String },
    ModifyInstanceDiskAttribute { instance_id: String },
    ResizeInstance { instance_id: String },
    RebuildInstance { instance_id: String },
    AssociateInstanceElasticIp { instance_id: String },
    DisassociateInstanceElasticIp { instance_id: String },
    DescribeInstanceTypes,
    DescribeInstanceStatus,
    DescribeBriefInstances,
    DescribeInstancePrivateIpAddress,
    DescribeImages,
    DeleteImage { image_id: String },
    ImportImage,
    ExportImage { image_id: String },
    ImageTasks,
    DescribeImage { image_id: String },
    ModifyImageAttribute { image_id: String },
    ShareImage { image_id: String },
    UnShareImage { image_id: String },
    DescribeImageMembers { image_id: String },
    ReleaseImage { image_id: String },
    UnReleaseImage { image_id: String },
    DescribeImageConstraints { image_id: String },
    DescribeImageConstraintsBatch,
    ConvertImage { image_id: String },
    CreateImageFromSnapshots,
    CopyImages,
    DescribeQuotas,
    CreateKeypair,
    ImportKeypair,
    DescribeKeypairs,
    DeleteKeypair { key_name: String },
    AttachKeypair { key_name: String },
    DetachKeypair { key_name: String },
    // disk
    CreateDisks,
    DescribeDisks,
    DescribeDisk { disk_id: String },
    DeleteDisk { disk_id: String },
    CreateSnapshot,
    DescribeSnapshots,
    DescribeSnapshot { snapshot_id: String },
    DeleteSnapshot { snapshot_id: String },
    ModifyDiskAttribute { disk_id: String },
    ExtendDisk { disk_id: String },
    RestoreDisk { disk_id: String },
    ModifySnapshotAttribute { snapshot_id: String },
    DeleteSnapshots,
    DescribeSnapshotChain,
    DescribeQuota,
    // vpc
    CreateVpc,
    DescribeVpcs,
    DescribeVpc { vpc_id: String },
    ModifyVpc { vpc_id: String },
    DeleteVpc { vpc_id: String },
    CreateSubnet,
    DescribeSubnets,
    DescribeSubnet { subnet_id: String },
    ModifySubnet { subnet_id: String },
    DeleteSubnet { subnet_id: String },
    CreateNetworkSecurityGroup,
    DescribeNetworkSecurityGroups,
    DescribeNetworkSecurityGroup { group_id: String },
    ModifyNetworkSecurityGroup { group_id: String },
    DeleteNetworkSecurityGroup { group_id: String },
    AddNetworkSecurityGroupRules { group_id: String },
    RemoveNetworkSecurityGroupRules { group_id: String },
    CreateElasticIps,
    DescribeElasticIps,
    DescribeElasticIp { elastic_ip_id: String },
    DeleteElasticIp { elastic_ip_id: String },
    DescribeNetworkInterfaces,
    DescribeNetworkInterface { network_interface_id: String },
    AssociateElasticIp { network_interface_id: String },
    DisassociateElasticIp { network_interface_id: String },
    DescribeVpcQuota,
}

impl Endpoint {
    /// The action's name as the SDKs and JD's documents spell it (OpenAPI's
    /// `operationId`; what a fault rule names).
    pub fn action(&self) -> &'static str {
        use Endpoint::*;
        match self {
            CreateInstances => "createInstances",
            DescribeInstances => "describeInstances",
            DescribeInstance { .. } => "describeInstance",
            DeleteInstance { .. } => "deleteInstance",
            StartInstance { .. } => "startInstance",
            StopInstance { .. } => "stopInstance",
            RebootInstance { .. } => "rebootInstance",
            AttachDisk { .. } => "attachDisk",
            DetachDisk { .. } => "detachDisk",
            CreateImage { .. } => "createImage",
            ModifyInstanceAttribute { .. } => "modifyInstanceAttribute",
            ModifyInstancePassword { .. } => "modifyInstancePassword",
            ModifyInstanceDiskAttribute { .. } => "modifyInstanceDiskAttribute",
            ResizeInstance { .. } => "resizeInstance",
            RebuildInstance { .. } => "rebuildInstance",
            AssociateInstanceElasticIp { .. } => "associateElasticIp",
            DisassociateInstanceElasticIp { .. } => "disassociateElasticIp",
            DescribeInstanceTypes => "describeInstanceTypes",
            DescribeInstanceStatus => "describeInstanceStatus",
            DescribeBriefInstances => "describeBriefInstances",
            DescribeInstancePrivateIpAddress => "describeInstancePrivateIpAddress",
            DescribeImages => "describeImages",
            DeleteImage { .. } => "deleteImage",
            ImportImage => "importImage",
            ExportImage { .. } => "exportImage",
            ImageTasks => "imageTasks",
            DescribeImage { .. } => "describeImage",
            ModifyImageAttribute { .. } => "modifyImageAttribute",
            ShareImage { .. } => "shareImage",
            UnShareImage { .. } => "unShareImage",
            DescribeImageMembers { .. } => "describeImageMembers",
            ReleaseImage { .. } => "releaseImage",
            UnReleaseImage { .. } => "unReleaseImage",
            DescribeImageConstraints { .. } => "describeImageConstraints",
            DescribeImageConstraintsBatch => "describeImageConstraintsBatch",
            ConvertImage { .. } => "convertImage",
            CreateImageFromSnapshots => "createImageFromSnapshots",
            CopyImages => "copyImages",
            DescribeQuotas => "describeQuotas",
            CreateKeypair => "createKeypair",
            ImportKeypair => "importKeypair",
            DescribeKeypairs => "describeKeypairs",
            DeleteKeypair { .. } => "deleteKeypair",
            AttachKeypair { .. } => "attachKeypair",
            DetachKeypair { .. } => "detachKeypair",
            CreateDisks => "createDisks",
            DescribeDisks => "describeDisks",
            DescribeDisk { .. } => "describeDisk",
            DeleteDisk { .. } => "deleteDisk",
            CreateSnapshot => "createSnapshot",
            DescribeSnapshots => "describeSnapshots",
            DescribeSnapshot { .. } => "describeSnapshot",
            DeleteSnapshot { .. } => "deleteSnapshot",
            ModifyDiskAttribute { .. } => "modifyDiskAttribute",
            ExtendDisk { .. } => "extendDisk",
            RestoreDisk { .. } => "restoreDisk",
            ModifySnapshotAttribute { .. } => "modifySnapshotAttribute",
            DeleteSnapshots => "deleteSnapshots",
            DescribeSnapshotChain => "describeSnapshotChain",
            DescribeQuota => "describeQuota",
            CreateVpc => "createVpc",
            DescribeVpcs => "describeVpcs",
            DescribeVpc { .. } => "describeVpc",
            ModifyVpc { .. } => "modifyVpc",
            DeleteVpc { .. } => "deleteVpc",
            CreateSubnet => "createSubnet",
            DescribeSubnets => "describeSubnets",
            DescribeSubnet { .. } => "describeSubnet",
            ModifySubnet { .. } => "modifySubnet",
            DeleteSubnet { .. } => "deleteSubnet",
            CreateNetworkSecurityGroup => "createNetworkSecurityGroup",
            DescribeNetworkSecurityGroups => "describeNetworkSecurityGroups",
            DescribeNetworkSecurityGroup { .. } => "describeNetworkSecurityGroup",
            ModifyNetworkSecurityGroup { .. } => "modifyNetworkSecurityGroup",
            DeleteNetworkSecurityGroup { .. } => "deleteNetworkSecurityGroup",
            AddNetworkSecurityGroupRules { .. } => "addNetworkSecurityGroupRules",
            RemoveNetworkSecurityGroupRules { .. } => "removeNetworkSecurityGroupRules",
            CreateElasticIps => "createElasticIps",
            DescribeElasticIps => "describeElasticIps",
            DescribeElasticIp { .. } => "describeElasticIp",
            DeleteElasticIp { .. } => "deleteElasticIp",
            DescribeNetworkInterfaces => "describeNetworkInterfaces",
            DescribeNetworkInterface { .. } => "describeNetworkInterface",
            AssociateElasticIp { .. } => "associateElasticIp",
            DisassociateElasticIp { .. } => "disassociateElasticIp",
            DescribeVpcQuota => "describeQuota",
        }
    }
}

/// Which product a request is for, when the path alone cannot tell (`/quotas`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceName {
    Vm,
    Disk,
    Vpc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub region: String,
    pub endpoint: Endpoint,
}

impl Route {
    /// `None` when no API matches method and path.
    pub fn parse(method: &str, raw_path: &str, service: Option<ServiceName>) -> Option<Route> {
        let path = percent_decode_str(raw_path).decode_utf8().ok()?;
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let ["v1", "regions", region, rest @ ..] = segs.as_slice() else {
            return None;
        };
        if let [collection, id, sub] = rest {
            return Route::subresource(method, region, collection, id, sub);
        }
        let (collection, id, action) = match rest {
            [seg] => match seg.split_once(':') {
                Some((c, a)) => (c.to_string(), None, Some(a.to_string())),
                None => (seg.to_string(), None, None),
            },
            [c, seg] => match seg.split_once(':') {
                Some((id, a)) => (c.to_string(), Some(id.to_string()), Some(a.to_string())),
                None => (c.to_string(), Some(seg.to_string()), None),
            },
            _ => return None,
        };
        if id.as_deref() == Some("") {
            return None;
        }
        use Endpoint::*;
        let endpoint = match (method, collection.as_str(), id, action.as_deref()) {
            ("POST", "instances", None, None) => CreateInstances,
            ("GET", "instances", None, None) => DescribeInstances,
            ("GET", "instances", Some(i), None) => DescribeInstance { instance_id: i },
            ("DELETE", "instances", Some(i), None) => DeleteInstance { instance_id: i },
            ("POST", "instances", Some(i), Some("startInstance")) => {
                StartInstance { instance_id: i }
            }
            ("POST", "instances", Some(i), Some("stopInstance")) => StopInstance { instance_id: i },
            ("POST", "instances", Some(i), Some("rebootInstance")) => {
                RebootInstance { instance_id: i }
            }
            ("POST", "instances", Some(i), Some("attachDisk")) => AttachDisk { instance_id: i },
            ("POST", "instances", Some(i), Some("detachDisk")) => DetachDisk { instance_id: i },
            ("POST", "instances", Some(i), Some("createImage")) => CreateImage { instance_id: i },
            ("POST", "instances", Some(i), Some("modifyInstanceAttribute")) => {
                ModifyInstanceAttribute { instance_id: i }
            }
            ("POST", "instances", Some(i), Some("modifyInstancePassword")) => {
                ModifyInstancePassword { instance_id: i }
            }
            ("POST", "instances", Some(i), Some("modifyInstanceDiskAttribute")) => {
                ModifyInstanceDiskAttribute { instance_id: i }
            }
            ("POST", "instances", Some(i), Some("resizeInstance")) => {
                ResizeInstance { instance_id: i }
            }
            ("POST", "instances", Some(i), Some("rebuildInstance")) => {
                RebuildInstance { instance_id: i }
            }
            ("POST", "instances", Some(i), Some("associateElasticIp")) => {
                AssociateInstanceElasticIp { instance_id: i }
            }
            ("POST", "instances", Some(i), Some("disassociateElasticIp")) => {
                DisassociateInstanceElasticIp { instance_id: i }
            }
            ("GET", "instanceTypes", None, None) => DescribeInstanceTypes,
            ("GET", "instanceStatus", None, None) => DescribeInstanceStatus,
            ("GET", "instances", None, Some("describeBriefInstances")) => DescribeBriefInstances,
            ("GET", "instancePrivateIpAddress", None, None) => DescribeInstancePrivateIpAddress,
            ("GET", "images", None, None) => DescribeImages,
            ("DELETE", "images", Some(i), None) => DeleteImage { image_id: i },
            ("POST", "images", None, Some("import")) => ImportImage,
            ("POST", "images", Some(i), Some("exportImage")) => ExportImage { image_id: i },
            ("GET", "imageTasks", None, None) => ImageTasks,
            ("GET", "images", Some(i), None) => DescribeImage { image_id: i },
            ("POST", "images", Some(i), Some("modifyImageAttribute")) => {
                ModifyImageAttribute { image_id: i }
            }
            ("POST", "images", Some(i), Some("share")) => ShareImage { image_id: i },
            ("POST", "images", Some(i), Some("unshare")) => UnShareImage { image_id: i },
            ("POST", "images", Some(i), Some("release")) => ReleaseImage { image_id: i },
            ("POST", "images", Some(i), Some("unrelease")) => UnReleaseImage { image_id: i },
            ("GET", "imageConstraints", None, None) => DescribeImageConstraintsBatch,
            ("POST", "images", Some(i), Some("convertImage")) => ConvertImage { image_id: i },
            ("POST", "images", None, Some("createImageFromSnapshots")) => CreateImageFromSnapshots,
            ("POST", "images", None, Some("copyImages")) => CopyImages,
            ("GET", "quotas", None, None) => match service {
                Some(ServiceName::Disk) => DescribeQuota,
                Some(ServiceName::Vpc) => DescribeVpcQuota,
                // The vpc service's collections end with a slash (`quotas/`).
                None if path.ends_with('/') => DescribeVpcQuota,
                _ => DescribeQuotas,
            },
            ("POST", "keypairs", None, None) => CreateKeypair,
            ("POST", "keypairs", None, Some("import")) => ImportKeypair,
            ("GET", "keypairs", None, None) => DescribeKeypairs,
            ("DELETE", "keypairs", Some(k), None) => DeleteKeypair { key_name: k },
            ("POST", "keypairs", Some(k), Some("attach")) => AttachKeypair { key_name: k },
            ("POST", "keypairs", Some(k), Some("detach")) => DetachKeypair { key_name: k },
            ("POST", "disks", None, None) => CreateDisks,
            ("GET", "disks", None, None) => DescribeDisks,
            ("GET", "disks", Some(i), None) => DescribeDisk { disk_id: i },
            ("DELETE", "disks", Some(i), None) => DeleteDisk { disk_id: i },
            ("POST", "snapshots", None, None) => CreateSnapshot,
            ("GET", "snapshots", None, None) => DescribeSnapshots,
            ("GET", "snapshots", Some(i), None) => DescribeSnapshot { snapshot_id: i },
            ("DELETE", "snapshots", Some(i), None) => DeleteSnapshot { snapshot_id: i },
            ("PATCH", "disks", Some(i), None) => ModifyDiskAttribute { disk_id: i },
            ("POST", "disks", Some(i), Some("extend")) => ExtendDisk { disk_id: i },
            ("POST", "disks", Some(i), Some("restore")) => RestoreDisk { disk_id: i },
            ("PATCH", "snapshots", Some(i), None) => ModifySnapshotAttribute { snapshot_id: i },
            ("DELETE", "snapshots", None, None) => DeleteSnapshots,
            ("GET", "snapshots", None, Some("chain")) => DescribeSnapshotChain,
            ("POST", "vpcs", None, None) => CreateVpc,
            ("GET", "vpcs", None, None) => DescribeVpcs,
            ("GET", "vpcs", Some(i), None) => DescribeVpc { vpc_id: i },
            ("PATCH", "vpcs", Some(i), None) => ModifyVpc { vpc_id: i },
            ("DELETE", "vpcs", Some(i), None) => DeleteVpc { vpc_id: i },
            ("POST", "subnets", None, None) => CreateSubnet,
            ("GET", "subnets", None, None) => DescribeSubnets,
            ("GET", "subnets", Some(i), None) => DescribeSubnet { subnet_id: i },
            ("PATCH", "subnets", Some(i), None) => ModifySubnet { subnet_id: i },
            ("DELETE", "subnets", Some(i), None) => DeleteSubnet { subnet_id: i },
            ("POST", "networkSecurityGroups", None, None) => CreateNetworkSecurityGroup,
            ("GET", "networkSecurityGroups", None, None) => DescribeNetworkSecurityGroups,
            ("GET", "networkSecurityGroups", Some(i), None) => {
                DescribeNetworkSecurityGroup { group_id: i }
            }
            ("PATCH", "networkSecurityGroups", Some(i), None) => {
                ModifyNetworkSecurityGroup { group_id: i }
            }
            ("DELETE", "networkSecurityGroups", Some(i), None) => {
                DeleteNetworkSecurityGroup { group_id: i }
            }
            ("POST", "networkSecurityGroups", Some(i), Some("addNetworkSecurityGroupRules")) => {
                AddNetworkSecurityGroupRules { group_id: i }
            }
            ("POST", "networkSecurityGroups", Some(i), Some("removeNetworkSecurityGroupRules")) => {
                RemoveNetworkSecurityGroupRules { group_id: i }
            }
            ("POST", "elasticIps", None, None) => CreateElasticIps,
            ("GET", "elasticIps", None, None) => DescribeElasticIps,
            ("GET", "elasticIps", Some(i), None) => DescribeElasticIp { elastic_ip_id: i },
            ("DELETE", "elasticIps", Some(i), None) => DeleteElasticIp { elastic_ip_id: i },
            ("GET", "networkInterfaces", None, None) => DescribeNetworkInterfaces,
            ("GET", "networkInterfaces", Some(i), None) => DescribeNetworkInterface {
                network_interface_id: i,
            },
            ("POST", "networkInterfaces", Some(i), Some("associateElasticIp")) => {
                AssociateElasticIp {
                    network_interface_id: i,
                }
            }
            ("POST", "networkInterfaces", Some(i), Some("disassociateElasticIp")) => {
                DisassociateElasticIp {
                    network_interface_id: i,
                }
            }
            _ => return None,
        };
        Some(Route {
            region: region.to_string(),
            endpoint,
        })
    }
}

impl Route {
    /// `GET …/images/{imageId}/members` and `…/constraints`.
    fn subresource(
        method: &str,
        region: &str,
        collection: &str,
        id: &str,
        sub: &str,
    ) -> Option<Route> {
        if id.is_empty() || id.contains(':') {
            return None;
        }
        let image_id = id.to_string();
        let endpoint = match (method, collection, sub) {
            ("GET", "images", "members") => Endpoint::DescribeImageMembers { image_id },
            ("GET", "images", "constraints") => Endpoint::DescribeImageConstraints { image_id },
            _ => return None,
        };
        Some(Route {
            region: region.to_string(),
            endpoint,
        })
    }
}

/// The service named in the Authorization credential scope
/// (`Credential=AK/yyyymmdd/region/service/jdcloud2_request`).
pub fn service_from_authorization(auth: &str) -> Option<ServiceName> {
    let cred = auth.split("Credential=").nth(1)?;
    let scope = cred.split([',', ' ']).next()?;
    match scope.split('/').nth(3)? {
        "vm" => Some(ServiceName::Vm),
        "disk" => Some(ServiceName::Disk),
        "vpc" => Some(ServiceName::Vpc),
        _ => None,
    }
}

/// The access key of the Authorization credential, if any.
pub fn access_key_from_authorization(auth: &str) -> Option<&str> {
    let cred = auth.split("Credential=").nth(1)?;
    cred.split('/').next().filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encoded_and_raw_colon_actions() {
        let a = Route::parse(
            "POST",
            "/v1/regions/cn-north-1/instances/i-abc%3AstopInstance",
            None,
        )
        .unwrap();
        let b = Route::parse(
            "POST",
            "/v1/regions/cn-north-1/instances/i-abc:stopInstance",
            None,
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a.endpoint,
            Endpoint::StopInstance {
                instance_id: "i-abc".into()
            }
        );
        assert_eq!(a.region, "cn-north-1");
    }

    #[test]
    fn quotas_split_by_service() {
        let vm = Route::parse("GET", "/v1/regions/r/quotas", Some(ServiceName::Vm)).unwrap();
        let disk = Route::parse("GET", "/v1/regions/r/quotas", Some(ServiceName::Disk)).unwrap();
        assert_eq!(vm.endpoint, Endpoint::DescribeQuotas);
        assert_eq!(disk.endpoint, Endpoint::DescribeQuota);
        let vpc = Route::parse("GET", "/v1/regions/r/quotas/", Some(ServiceName::Vpc)).unwrap();
        assert_eq!(vpc.endpoint, Endpoint::DescribeVpcQuota);
        let unsigned = Route::parse("GET", "/v1/regions/r/quotas/", None).unwrap();
        assert_eq!(unsigned.endpoint, Endpoint::DescribeVpcQuota);
    }

    #[test]
    fn vpc_collections_take_their_trailing_slash() {
        let a = Route::parse("POST", "/v1/regions/r/vpcs/", None).unwrap();
        assert_eq!(a.endpoint, Endpoint::CreateVpc);
        let b = Route::parse("PATCH", "/v1/regions/r/subnets/subnet-1", None).unwrap();
        assert_eq!(
            b.endpoint,
            Endpoint::ModifySubnet {
                subnet_id: "subnet-1".into()
            }
        );
        let c = Route::parse(
            "POST",
            "/v1/regions/r/networkInterfaces/port-1%3AassociateElasticIp",
            None,
        )
        .unwrap();
        assert_eq!(
            c.endpoint,
            Endpoint::AssociateElasticIp {
                network_interface_id: "port-1".into()
            }
        );
    }

    #[test]
    fn keypairs_are_named_in_the_path() {
        let r = |m: &str, p: &str| Route::parse(m, p, None).map(|r| r.endpoint);
        assert_eq!(
            r("POST", "/v1/regions/r/keypairs%3Aimport"),
            Some(Endpoint::ImportKeypair)
        );
        assert_eq!(
            r("POST", "/v1/regions/r/keypairs/my_key-1:attach"),
            Some(Endpoint::AttachKeypair {
                key_name: "my_key-1".into()
            })
        );
        assert_eq!(
            r("DELETE", "/v1/regions/r/keypairs/k"),
            Some(Endpoint::DeleteKeypair {
                key_name: "k".into()
            })
        );
        assert_eq!(r("GET", "/v1/regions/r/keypairs/k"), None);
        assert_eq!(r("POST", "/v1/regions/r/keypairs/k:bogus"), None);
    }

    #[test]
    fn unknown_routes() {
        assert!(Route::parse("GET", "/v1/regions/r/instances/i-a:bogus", None).is_none());
        assert!(Route::parse("PUT", "/v1/regions/r/instances", None).is_none());
        assert!(Route::parse("GET", "/v2/regions/r/instances", None).is_none());
        assert!(Route::parse("GET", "/v1/regions/r/instances/a/b", None).is_none());
    }

    #[test]
    fn authorization_scope() {
        let h = "JDCLOUD2-HMAC-SHA256 Credential=AK1/20240101/cn-north-1/disk/jdcloud2_request, SignedHeaders=host, Signature=ab";
        assert_eq!(service_from_authorization(h), Some(ServiceName::Disk));
        assert_eq!(access_key_from_authorization(h), Some("AK1"));
        assert_eq!(service_from_authorization("garbage"), None);
    }

    proptest! {
        #[test]
        fn parsing_never_panics(m in "(GET|POST|DELETE)", p in "[/%a-z0-9:.-]{0,80}") {
            let _ = Route::parse(&m, &p, None);
        }

        #[test]
        fn authorization_parsing_never_panics(h in ".{0,120}") {
            let _ = service_from_authorization(&h);
            let _ = access_key_from_authorization(&h);
        }
    }
}
