//! The vpc service against the real server: VPCs and subnets with their range rules,
//! security groups and rules, elastic IPs on network interfaces, the default network, and
//! what createInstances now checks and shows (subnet, security groups, password, elastic
//! IP, addresses handed out once). Another account sees none of it.

use serde_json::{json, Value};

use crate::accounts::{create_account, Tenant};
use crate::harness::*;

async fn create_vpc(s: &Server, name: &str, prefix: &str) -> String {
    let r = s
        .post(
            &path("vpcs/"),
            json!({"vpcName": name, "addressPrefix": prefix}),
        )
        .await;
    r.ok()["vpcId"].as_str().unwrap().to_string()
}

async fn create_subnet(s: &Server, vpc: &str, prefix: &str) -> Resp {
    s.post(
        &path("subnets/"),
        json!({"vpcId": vpc, "subnetName": "sn", "addressPrefix": prefix}),
    )
    .await
}

fn in_subnet(spec: &mut Value, subnet: &str, groups: &[&str]) {
    spec["primaryNetworkInterface"] =
        json!({"networkInterface": {"subnetId": subnet, "securityGroups": groups}});
}

#[tokio::test]
async fn subnets_keep_inside_their_vpc_and_apart() {
    let s = Server::start(&[]).await;
    let vpc = create_vpc(&s, "build", "192.168.0.0/16").await;
    let a = create_subnet(&s, &vpc, "192.168.0.0/20").await;
    let a = a.ok()["subnetId"].as_str().unwrap().to_string();

    // Error rows: overlap, outside the VPC, not a private canonical range, unknown VPC.
    create_subnet(&s, &vpc, "192.168.8.0/24").await.err(
        400,
        "CONFLICT",
        &format!("AddressPrefix '192.168.8.0/24' overlaps with subnet '{a}'"),
    );
    create_subnet(&s, &vpc, "10.0.0.0/24").await.err(
        400,
        "INVALID_ARGUMENT",
        "AddressPrefix '10.0.0.0/24' not in vpc addressPrefix '192.168.0.0/16'",
    );
    for bad in ["192.168.16.1/24", "8.8.8.0/24", "192.168.0.0/29"] {
        create_subnet(&s, &vpc, bad).await.err(
            400,
            "INVALID_ARGUMENT",
            &format!("Invalid addressPrefix '{bad}'"),
        );
    }
    create_subnet(&s, "vpc-nope", "192.168.16.0/24").await.err(
        404,
        "NOT_FOUND",
        "Vpc 'vpc-nope' not found",
    );
    let b = create_subnet(&s, &vpc, "192.168.16.0/28").await;
    let b = b.ok()["subnetId"].as_str().unwrap().to_string();

    // The VPC lists both; a /28 hands out 12 addresses (network, gateway, DHCP, broadcast
    // reserved).
    let r = s.get(&path(&format!("vpcs/{vpc}"))).await;
    let subnets: Vec<&str> = r.ok()["vpc"]["subnets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["subnetId"].as_str().unwrap())
        .collect();
    assert_eq!(subnets, [a.as_str(), b.as_str()]);
    let r = s.get(&path(&format!("subnets/{b}"))).await;
    let sn = &r.ok()["subnet"];
    assert_eq!(sn["availableIpCount"], 12, "{sn}");
    assert_eq!(sn["startIp"], "192.168.16.3");
    assert_eq!(sn["endIp"], "192.168.16.14");

    // Renames (PATCH), listing by filter, and the rules of deletion.
    s.patch(
        &path(&format!("subnets/{b}")),
        json!({"subnetName": "small"}),
    )
    .await
    .ok();
    s.patch(&path(&format!("vpcs/{vpc}")), json!({"vpcName": "renamed"}))
        .await
        .ok();
    let r = s.get(&path(&format!("vpcs/{vpc}"))).await;
    assert_eq!(r.ok()["vpc"]["vpcName"], "renamed");
    s.patch(
        &path(&format!("vpcs/{vpc}")),
        json!({"vpcName": "bad name!"}),
    )
    .await
    .err(400, "INVALID_ARGUMENT", "Invalid vpcName 'bad name!'");
    s.patch(
        &path("networkSecurityGroups/sg-nope"),
        json!({"networkSecurityGroupName": "x"}),
    )
    .await
    .err(404, "NOT_FOUND", "SecurityGroups 'sg-nope' not found");
    let r = s
        .get(&path(&format!(
            "subnets/?filters.1.name=vpcId&filters.1.values.1={vpc}"
        )))
        .await;
    assert_eq!(r.ok()["totalCount"], 2, "{}", r.body);
    s.delete(&path(&format!("vpcs/{vpc}"))).await.err(
        400,
        "FAILED_PRECONDITION",
        &format!("Vpc '{vpc}' has subnets, delete them first"),
    );
    s.delete(&path(&format!("subnets/{a}"))).await.ok();
    s.delete(&path(&format!("subnets/{b}"))).await.ok();
    s.delete(&path(&format!("vpcs/{vpc}"))).await.ok();
    s.get(&path(&format!("vpcs/{vpc}"))).await.err(
        404,
        "NOT_FOUND",
        &format!("Vpc '{vpc}' not found"),
    );
}

#[tokio::test]
async fn instances_get_real_addresses_security_groups_and_elastic_ips() {
    let s = Server::start(&[]).await;
    let vpc = create_vpc(&s, "packer", "192.168.0.0/16").await;
    let subnet = create_subnet(&s, &vpc, "192.168.0.0/28").await;
    let subnet = subnet.ok()["subnetId"].as_str().unwrap().to_string();
    let r = s
        .post(
            &path("networkSecurityGroups/"),
            json!({"vpcId": vpc, "networkSecurityGroupName": "ssh"}),
        )
        .await;
    let sg = r.ok()["networkSecurityGroupId"]
        .as_str()
        .unwrap()
        .to_string();
    s.post(
        &path(&format!("networkSecurityGroups/{sg}:addNetworkSecurityGroupRules")),
        json!({"networkSecurityGroupRuleSpecs": [
            {"protocol": 6, "direction": 0, "addressPrefix": "0.0.0.0/0", "fromPort": 22, "toPort": 22}]}),
    )
    .await
    .ok();

    // What createInstances refuses, changing nothing.
    let mut spec = instance_spec("net");
    in_subnet(&mut spec, "subnet-nope", &[]);
    s.post(&path("instances"), json!({"instanceSpec": spec}))
        .await
        .err(404, "NOT_FOUND", "Subnet 'subnet-nope' not found");
    in_subnet(&mut spec, &subnet, &["sg-nope"]);
    s.post(&path("instances"), json!({"instanceSpec": spec}))
        .await
        .err(404, "NOT_FOUND", "SecurityGroups 'sg-nope' not found");
    in_subnet(&mut spec, &subnet, &[&sg]);
    spec["password"] = json!("password");
    s.post(&path("instances"), json!({"instanceSpec": spec}))
        .await
        .err(400, "INVALID_ARGUMENT", "Invalid password");
    spec["password"] = json!("Kiln-2026-ok");
    spec["elasticIp"] = json!({"bandwidthMbps": 500, "provider": "bgp"});
    s.post(&path("instances"), json!({"instanceSpec": spec}))
        .await
        .err(400, "OUT_OF_RANGE", "BandwidthMbps out of range");
    let r = s.get(&path("networkInterfaces/")).await;
    assert_eq!(r.ok()["totalCount"], 0, "a refused call left an interface");

    // Two instances, one with an elastic IP made with it: distinct addresses of the
    // subnet, the named group, the elastic IP on the primary interface.
    spec["elasticIp"] = json!({"bandwidthMbps": 1, "provider": "bgp"});
    let with_eip = s.launch(spec.clone()).await;
    spec.as_object_mut().unwrap().remove("elasticIp");
    let plain = s.launch(spec).await;
    let a = s.get(&instance_path(&with_eip)).await.ok()["instance"].clone();
    let b = s.get(&instance_path(&plain)).await.ok()["instance"].clone();
    assert_eq!(a["vpcId"], vpc.as_str());
    assert_eq!(a["subnetId"], subnet.as_str());
    assert_eq!(a["privateIpAddress"], "192.168.0.3", "{a}");
    assert_eq!(b["privateIpAddress"], "192.168.0.4", "{b}");
    let nic = &a["primaryNetworkInterface"]["networkInterface"];
    assert_eq!(nic["securityGroups"][0]["groupId"], sg.as_str(), "{nic}");
    let eip_address = a["elasticIpAddress"].as_str().unwrap().to_string();
    assert!(eip_address.starts_with("114.67."), "{a}");
    assert_eq!(nic["primaryIp"]["elasticIpAddress"], eip_address.as_str());
    assert_eq!(b["elasticIpAddress"], "");

    // A separate elastic IP onto the second instance's interface, as Packer does.
    let r = s
        .post(
            &path("elasticIps/"),
            json!({"maxCount": 1, "elasticIpSpec": {"bandwidthMbps": 1, "provider": "bgp"}}),
        )
        .await;
    let eip = r.ok()["elasticIpIds"][0].as_str().unwrap().to_string();
    let b_nic = b["primaryNetworkInterface"]["networkInterface"]["networkInterfaceId"]
        .as_str()
        .unwrap()
        .to_string();
    let associate = path(&format!("networkInterfaces/{b_nic}:associateElasticIp"));
    s.post(&associate, json!({"elasticIpId": eip})).await.ok();
    s.post(&associate, json!({"elasticIpId": eip})).await.err(
        400,
        "FAILED_PRECONDITION",
        &format!("ElasticIp '{eip}' is already associated with network interface '{b_nic}'"),
    );
    let r = s.get(&path(&format!("elasticIps/{eip}"))).await;
    let e = r.ok()["elasticIp"].clone();
    assert_eq!(e["status"], "ASSOCIATED");
    assert_eq!(e["instanceId"], plain.as_str());
    assert_eq!(e["privateIpAddress"], "192.168.0.4");
    let b = s.get(&instance_path(&plain)).await.ok()["instance"].clone();
    assert_eq!(b["elasticIpAddress"], e["elasticIpAddress"]);

    // The subnet and the group are in use.
    s.delete(&path(&format!("subnets/{subnet}"))).await.err(
        400,
        "FAILED_PRECONDITION",
        &format!("Subnet '{subnet}' has network interfaces, delete them first"),
    );
    s.delete(&path(&format!("networkSecurityGroups/{sg}")))
        .await
        .err(
            400,
            "FAILED_PRECONDITION",
            &format!("SecurityGroup '{sg}' is in use"),
        );

    // Deleting the elastic IP while associated lets it go from the instance (Packer's
    // clean-up order); deleting the instances frees their interfaces and the elastic IP
    // that was made with one.
    s.delete(&path(&format!("elasticIps/{eip}"))).await.ok();
    let b = s.get(&instance_path(&plain)).await.ok()["instance"].clone();
    assert_eq!(b["elasticIpAddress"], "");
    for i in [&with_eip, &plain] {
        s.delete(&instance_path(i)).await.ok();
        s.wait_status(&instance_path(i), "/error/status", "NOT_FOUND", WAIT)
            .await;
    }
    let r = s.get(&path("elasticIps/")).await;
    assert_eq!(r.ok()["totalCount"], 0, "{}", r.body);
    let r = s.get(&path("networkInterfaces/")).await;
    assert_eq!(r.ok()["totalCount"], 0, "{}", r.body);
    s.delete(&path(&format!("networkSecurityGroups/{sg}")))
        .await
        .ok();
    s.delete(&path(&format!("subnets/{subnet}"))).await.ok();
}

#[tokio::test]
async fn a_full_subnet_refuses_the_launch_and_addresses_come_back() {
    let s = Server::start(&[]).await;
    let vpc = create_vpc(&s, "tiny", "172.16.0.0/16").await;
    let subnet = create_subnet(&s, &vpc, "172.16.0.0/28").await;
    let subnet = subnet.ok()["subnetId"].as_str().unwrap().to_string();
    let mut spec = instance_spec("fill");
    in_subnet(&mut spec, &subnet, &[]);
    s.post(
        &path("instances"),
        json!({"instanceSpec": spec, "maxCount": 13}),
    )
    .await
    .err(
        400,
        "FAILED_PRECONDITION",
        "Available Ip in segments not enough",
    );
    let ids = s
        .create_instances(json!({"instanceSpec": spec, "maxCount": 12}))
        .await;
    let mut seen = std::collections::HashSet::new();
    for i in &ids {
        let r = s.get(&instance_path(i)).await;
        let ip = r.ok()["instance"]["privateIpAddress"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(seen.insert(ip.clone()), "address {ip} handed out twice");
    }
    // One goes; its address is handed out again.
    let freed = s.get(&instance_path(&ids[5])).await.ok()["instance"]["privateIpAddress"].clone();
    s.wait_instance(&ids[5], "running").await;
    s.delete(&instance_path(&ids[5])).await.ok();
    s.wait_status(&instance_path(&ids[5]), "/error/status", "NOT_FOUND", WAIT)
        .await;
    let again = s
        .create_instances(json!({"instanceSpec": spec, "maxCount": 1}))
        .await;
    let r = s.get(&instance_path(&again[0])).await;
    assert_eq!(r.ok()["instance"]["privateIpAddress"], freed);
}

#[tokio::test]
async fn the_default_network_serves_calls_without_a_subnet() {
    let s = Server::start(&[]).await;
    let inst = s.launch(instance_spec("plain")).await;
    let i = s.get(&instance_path(&inst)).await.ok()["instance"].clone();
    let vpc = i["vpcId"].as_str().unwrap().to_string();
    assert!(vpc.starts_with("vpc-"), "{i}");
    assert!(
        i["privateIpAddress"].as_str().unwrap().starts_with("10.0."),
        "{i}"
    );
    let r = s.get(&path("vpcs/")).await;
    assert_eq!(r.ok()["totalCount"], 1);
    assert_eq!(r.ok()["vpcs"][0]["vpcId"], vpc.as_str());
    // A second launch reuses it.
    let other = s.launch(instance_spec("plain2")).await;
    let j = s.get(&instance_path(&other)).await.ok()["instance"].clone();
    assert_eq!(j["vpcId"], vpc.as_str());
    assert_eq!(j["subnetId"], i["subnetId"]);
    assert_ne!(j["privateIpAddress"], i["privateIpAddress"]);

    // vpc describeQuota counts them.
    let r = s.get(&path("quotas/?type=vpc")).await;
    assert_eq!(
        r.ok()["quota"],
        json!({"type": "vpc", "parentResourceId": "", "maxLimit": 10, "count": 1})
    );
    let r = s
        .get(&path(&format!(
            "quotas/?type=subnet&parentResourceId={vpc}"
        )))
        .await;
    assert_eq!(r.ok()["quota"]["count"], 1);
    s.get(&path("quotas/?type=bogus"))
        .await
        .err(400, "INVALID_ARGUMENT", "Invalid type 'bogus'");
}

#[tokio::test]
async fn another_account_sees_none_of_it() {
    let s = Server::start(&[]).await;
    let vpc = create_vpc(&s, "mine", "10.8.0.0/16").await;
    let subnet = create_subnet(&s, &vpc, "10.8.0.0/24").await;
    let subnet = subnet.ok()["subnetId"].as_str().unwrap().to_string();
    let other = Tenant::new(&s, create_account(&s, "other"));
    other.get(&path(&format!("vpcs/{vpc}"))).await.err(
        404,
        "NOT_FOUND",
        &format!("Vpc '{vpc}' not found"),
    );
    let mut spec = instance_spec("theirs");
    in_subnet(&mut spec, &subnet, &[]);
    other
        .send(
            reqwest::Method::POST,
            &path("instances"),
            Some(json!({"instanceSpec": spec})),
        )
        .await
        .err(404, "NOT_FOUND", &format!("Subnet '{subnet}' not found"));
    let r = other.get(&path("subnets/")).await;
    assert_eq!(r.ok()["totalCount"], 0);
}
