//! Arguments several commands share, spelled both Kiln's way and `jdc`'s: a resource id as
//! a positional argument or as `jdc`'s `--instance-id`, `--image-id`, `--disk-id`,
//! `--snapshot-id`, `--vpc-id`, `--subnet-id`, `--network-security-group-id`,
//! `--elastic-ip-id`, `--key-name`; and `jdc`'s `--page-number`/`--page-size` on the list
//! commands.

use clap::Args;

/// A resource id: `kiln image show img-abc` or, as `jdc` spells it,
/// `kiln image show --image-id img-abc`.
macro_rules! resource_id {
    ($name:ident, $positional:ident, $flag:ident, $long:literal, $value:literal, $doc:literal) => {
        #[derive(Args, Debug, Clone)]
        #[group(required = true, multiple = false)]
        pub struct $name {
            #[doc = $doc]
            #[arg(value_name = $value)]
            $positional: Option<String>,
            /// The same id, as `jdc` names it.
            #[arg(long = $long, value_name = $value)]
            $flag: Option<String>,
        }

        impl $name {
            /// The id, whichever way it was given (clap makes sure it was, once).
            pub fn get(&self) -> String {
                self.$positional
                    .clone()
                    .or_else(|| self.$flag.clone())
                    .unwrap_or_default()
            }
        }
    };
}

resource_id!(
    InstanceId,
    instance,
    instance_id,
    "instance-id",
    "INSTANCE_ID",
    "Instance id."
);
resource_id!(
    ImageId,
    image,
    image_id,
    "image-id",
    "IMAGE_ID",
    "Image id."
);
resource_id!(DiskId, disk, disk_id, "disk-id", "DISK_ID", "Disk id.");
resource_id!(
    SnapshotId,
    snapshot,
    snapshot_id,
    "snapshot-id",
    "SNAPSHOT_ID",
    "Snapshot id."
);
resource_id!(
    KeyName,
    key,
    key_name,
    "key-name",
    "KEY_NAME",
    "Key pair name."
);

resource_id!(VpcId, vpc, vpc_id, "vpc-id", "VPC_ID", "VPC id.");
resource_id!(
    SubnetId,
    subnet,
    subnet_id,
    "subnet-id",
    "SUBNET_ID",
    "Subnet id."
);
resource_id!(
    SecurityGroupId,
    group,
    group_id,
    "network-security-group-id",
    "GROUP_ID",
    "Security group id."
);
resource_id!(
    ElasticIpId,
    elastic_ip,
    elastic_ip_id,
    "elastic-ip-id",
    "ELASTIC_IP_ID",
    "Elastic IP id."
);

/// A new name and/or description (the rename commands of the vpc service); one at least.
#[derive(Args, Debug, Clone)]
#[group(required = true, multiple = true)]
pub struct NewName {
    /// The new name (1–32 of Chinese, letters, digits, `_`, `-`).
    #[arg(long)]
    pub name: Option<String>,
    /// The new description (up to 256 characters).
    #[arg(long)]
    pub description: Option<String>,
}

impl NewName {
    /// The PATCH body: the name under `name_key`, and the description.
    pub fn body(&self, name_key: &str) -> serde_json::Value {
        let mut body = serde_json::json!({});
        if let Some(n) = &self.name {
            body[name_key] = serde_json::json!(n);
        }
        if let Some(d) = &self.description {
            body["description"] = serde_json::json!(d);
        }
        body
    }
}

/// One page instead of all of them, as `jdc`'s describe commands ask for it.
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct Paging {
    /// Only this page (1-based) [default: every page].
    #[arg(long, value_name = "N")]
    pub page_number: Option<u32>,
    /// Items per page, with --page-number (JD's default: 20).
    #[arg(long, value_name = "N")]
    pub page_size: Option<u32>,
}

impl Paging {
    /// `(pageNumber, pageSize)` when one page was asked for.
    pub fn one_page(&self) -> Option<(u32, u32)> {
        if self.page_number.is_none() && self.page_size.is_none() {
            return None;
        }
        Some((self.page_number.unwrap_or(1), self.page_size.unwrap_or(20)))
    }
}

/// Ids given as repeated flags (`--id a --id b`) or as `jdc` gives lists
/// (`--ids '["a","b"]'`).
pub fn expand_ids(values: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for v in values {
        let t = v.trim();
        match serde_json::from_str::<Vec<String>>(t) {
            Ok(list) if t.starts_with('[') => out.extend(list),
            _ => out.push(t.to_string()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jdc_lists_and_pages() {
        assert_eq!(
            expand_ids(&["[\"img-1\", \"img-2\"]".into(), "img-3".into()]),
            vec!["img-1", "img-2", "img-3"]
        );
        assert_eq!(Paging::default().one_page(), None);
        let p = Paging {
            page_number: Some(2),
            page_size: None,
        };
        assert_eq!(p.one_page(), Some((2, 20)));
    }
}
