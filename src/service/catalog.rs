//! What the cloud offers: regions and zones, instance types, the public image catalog.

use crate::error::{ApiError, ApiResult};

pub const REGIONS: [&str; 4] = ["cn-north-1", "cn-east-1", "cn-east-2", "cn-south-1"];

pub fn check_region(region: &str) -> ApiResult<()> {
    if REGIONS.contains(&region) {
        Ok(())
    } else {
        Err(ApiError::invalid_region(region))
    }
}

pub fn region_index(region: &str) -> usize {
    REGIONS.iter().position(|r| *r == region).unwrap_or(0)
}

/// The zones of a region, in order.
pub fn zones_of(region: &str) -> Vec<String> {
    ["a", "b", "c"]
        .iter()
        .map(|z| format!("{region}{z}"))
        .collect()
}

/// Zones are `<region>a`, `<region>b`, `<region>c`.
pub fn is_zone_of(region: &str, az: &str) -> bool {
    az.strip_prefix(region)
        .is_some_and(|z| matches!(z, "a" | "b" | "c"))
}

#[derive(Debug, Clone, Copy)]
pub struct InstanceType {
    pub name: &'static str,
    pub cpu: u32,
    pub memory_mb: u32,
    /// Size of the local data disk that comes with the type (storage-optimised), if any.
    pub local_data_disk_gb: Option<i64>,
    /// How many cloud data disks may be attached.
    pub max_data_disks: usize,
}

pub const INSTANCE_TYPES: &[InstanceType] = &[
    InstanceType {
        name: "g.n2.medium",
        cpu: 1,
        memory_mb: 4096,
        local_data_disk_gb: None,
        max_data_disks: 8,
    },
    InstanceType {
        name: "g.n2.large",
        cpu: 2,
        memory_mb: 8192,
        local_data_disk_gb: None,
        max_data_disks: 8,
    },
    InstanceType {
        name: "g.n2.xlarge",
        cpu: 4,
        memory_mb: 16384,
        local_data_disk_gb: None,
        max_data_disks: 8,
    },
    InstanceType {
        name: "c.n2.large",
        cpu: 2,
        memory_mb: 4096,
        local_data_disk_gb: None,
        max_data_disks: 8,
    },
    InstanceType {
        name: "m.n2.large",
        cpu: 2,
        memory_mb: 16384,
        local_data_disk_gb: None,
        max_data_disks: 8,
    },
    InstanceType {
        name: "s.n2.xlarge",
        cpu: 4,
        memory_mb: 32768,
        local_data_disk_gb: Some(1780),
        max_data_disks: 8,
    },
];

pub fn instance_type(name: &str) -> Option<&'static InstanceType> {
    INSTANCE_TYPES.iter().find(|t| t.name == name)
}

/// A public image. Their content is synthetic (a labelled, mostly empty 40 GiB disk): Kiln
/// ships no operating system, and says so in the image description and the disk itself.
#[derive(Debug, Clone, Copy)]
pub struct PublicImage {
    pub id: &'static str,
    pub name: &'static str,
    pub platform: &'static str,
    pub os_version: &'static str,
    pub os_type: &'static str,
    pub login_name: &'static str,
    /// Instance types the image may not run on (describeImageConstraints, `excludes`).
    pub excluded_types: &'static [&'static str],
}

pub const PUBLIC_IMAGE_SIZE_GB: i64 = 40;

pub const PUBLIC_IMAGES: &[PublicImage] = &[
    PublicImage {
        id: "img-ubuntu2204",
        name: "Ubuntu 22.04 LTS 64位",
        platform: "Ubuntu",
        os_version: "22.04",
        os_type: "linux",
        login_name: "root",
        excluded_types: &[],
    },
    PublicImage {
        id: "img-centos0708",
        name: "CentOS 7.9 64位",
        platform: "CentOS",
        os_version: "7.9",
        os_type: "linux",
        login_name: "root",
        excluded_types: &[],
    },
    PublicImage {
        id: "img-winsrv2019",
        name: "Windows Server 2019 数据中心版 64位中文版",
        platform: "Windows Server",
        os_version: "2019",
        os_type: "windows",
        login_name: "Administrator",
        // Windows needs more memory than the smallest type has.
        excluded_types: &["g.n2.medium"],
    },
];

/// The bootable public image under `--hypervisor qemu` (`scripts/build-kiln-linux`).
pub const KILN_LINUX: PublicImage = PublicImage {
    id: "img-kiln-linux",
    name: "Kiln Linux 1",
    platform: "Other Linux",
    os_version: "1",
    os_type: "linux",
    login_name: "root",
    excluded_types: &[],
};

pub const KILN_LINUX_NOTE: &str =
    "Kiln Linux: Debian's cloud kernel and busybox with qemu-guest-agent; boots under --hypervisor qemu";

pub const SYNTHETIC_NOTE: &str =
    "Kiln synthetic public image: a labelled 40 GiB disk with no operating system";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_and_zones() {
        assert!(check_region("cn-north-1").is_ok());
        let e = check_region("xx").unwrap_err();
        assert_eq!(e.wire_message(), "Invalid region 'xx'");
        assert!(is_zone_of("cn-east-2", "cn-east-2c"));
        assert!(!is_zone_of("cn-east-2", "cn-east-2d"));
        assert!(!is_zone_of("cn-east-2", "cn-east-1a"));
    }

    #[test]
    fn storage_type_has_local_disk() {
        assert!(instance_type("s.n2.xlarge")
            .unwrap()
            .local_data_disk_gb
            .is_some());
        assert!(instance_type("g.n2.medium").is_some());
        assert!(instance_type("x.y").is_none());
    }
}
