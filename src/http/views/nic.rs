//! An instance's `primaryNetworkInterface`. The attachment Kiln records for every instance
//! (see `PrimaryNic::attachment_json`) is read into borrowed typed fields and written back
//! with the elastic IP of the moment, without building a `serde_json::Value` per instance
//! (a describeInstances page renders a hundred). Rows from before the vpc service, which
//! kept whatever the client sent, take the slower `Value` path.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::super::schema::{Empty, NONE};
use crate::service::InstanceRow;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recorded<'a> {
    #[serde(borrow)]
    network_interface: RecordedInterface<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecordedInterface<'a> {
    #[serde(borrow)]
    network_interface_id: Cow<'a, str>,
    #[serde(borrow)]
    mac_address: Cow<'a, str>,
    #[serde(borrow)]
    security_groups: Vec<Group<'a>>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Group<'a> {
    #[serde(borrow)]
    group_id: Cow<'a, str>,
    #[serde(borrow)]
    group_name: Cow<'a, str>,
}

/// vm's InstanceNetworkInterfaceAttachment.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NicAttachment<'a> {
    device_index: i64,
    auto_delete: bool,
    network_interface: NicView<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NicView<'a> {
    network_interface_id: Cow<'a, str>,
    mac_address: Cow<'a, str>,
    vpc_id: &'a str,
    subnet_id: &'a str,
    security_groups: Vec<Group<'a>>,
    sanity_check: i64,
    primary_ip: PrimaryIp<'a>,
    private_ip_address: &'a str,
    secondary_ips: Empty,
    ipv6_addresses: Empty,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PrimaryIp<'a> {
    private_ip_address: &'a str,
    elastic_ip_id: &'a str,
    elastic_ip_address: &'a str,
}

/// What `primaryNetworkInterface` shows.
#[derive(Serialize)]
#[serde(untagged)]
pub enum PrimaryNicView<'a> {
    Recorded(NicAttachment<'a>),
    /// A row from before the vpc service: as the client gave it, completed.
    Given(Value),
}

impl PrimaryNicView<'_> {
    /// The VPC or subnet of a row from before the vpc service (its columns are empty).
    pub fn given_field(&self, key: &str) -> String {
        match self {
            PrimaryNicView::Given(v) => v["networkInterface"][key]
                .as_str()
                .unwrap_or("")
                .to_string(),
            PrimaryNicView::Recorded(_) => String::new(),
        }
    }
}

pub fn primary_nic(r: &InstanceRow) -> PrimaryNicView<'_> {
    let recorded = r
        .primary_nic
        .as_deref()
        .filter(|_| !r.subnet_id.is_empty())
        .and_then(|s| serde_json::from_str::<Recorded<'_>>(s).ok());
    match recorded {
        Some(rec) => PrimaryNicView::Recorded(recorded_view(r, rec.network_interface)),
        None => PrimaryNicView::Given(given(r)),
    }
}

fn recorded_view<'a>(r: &'a InstanceRow, n: RecordedInterface<'a>) -> NicAttachment<'a> {
    NicAttachment {
        device_index: 1,
        auto_delete: true,
        network_interface: NicView {
            network_interface_id: n.network_interface_id,
            mac_address: n.mac_address,
            vpc_id: &r.vpc_id,
            subnet_id: &r.subnet_id,
            security_groups: n.security_groups,
            sanity_check: 1,
            primary_ip: PrimaryIp {
                private_ip_address: &r.private_ip,
                elastic_ip_id: &r.elastic_ip_id,
                elastic_ip_address: &r.elastic_ip_address,
            },
            private_ip_address: &r.private_ip,
            secondary_ips: NONE,
            ipv6_addresses: NONE,
        },
    }
}

/// The client's JSON (rows from before the vpc service), completed with the fields every
/// attachment has.
fn given(r: &InstanceRow) -> Value {
    let (instance_id, ip) = (&r.id, &r.private_ip);
    let mut nic: Value = r
        .primary_nic
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let obj = nic.as_object_mut().expect("object");
    obj.entry("deviceIndex").or_insert(json!(0));
    obj.entry("autoDelete").or_insert(json!(true));
    let ni = obj.entry("networkInterface").or_insert_with(|| json!({}));
    if !ni.is_object() {
        *ni = json!({});
    }
    let ni = ni.as_object_mut().expect("object");
    ni.entry("networkInterfaceId").or_insert(json!(format!(
        "port-{}",
        instance_id.trim_start_matches("i-")
    )));
    let primary = ni
        .entry("primaryIp")
        .or_insert(json!({"privateIpAddress": ip}));
    if let Some(p) = primary.as_object_mut() {
        p.insert("elasticIpId".into(), json!(r.elastic_ip_id));
        p.insert("elasticIpAddress".into(), json!(r.elastic_ip_address));
    }
    ni.entry("privateIpAddress").or_insert(json!(ip));
    nic
}
