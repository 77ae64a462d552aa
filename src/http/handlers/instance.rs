use serde_json::json;

use super::{attachment_spec, filter_values, Call, Reply};
use crate::error::ApiResult;
use crate::http::views;
use crate::service::instance::{CreateInstancesInput, InstanceOp, InstanceSpecInput};
use crate::service::Service;
use crate::store::instance::InstanceQuery;

pub async fn create_instances(svc: &Service, call: Call) -> ApiResult<Reply> {
    let p = &call.params;
    let spec = match p.obj("instanceSpec")? {
        None => None,
        Some(s) => Some(InstanceSpecInput {
            az: s.str("az")?,
            instance_type: s.str("instanceType")?,
            image_id: s.str("imageId")?,
            name: s.str("name")?,
            hostname: s.str("hostname")?,
            description: s.str("description")?,
            system_disk: s
                .obj("systemDisk")?
                .map(|d| attachment_spec(&d))
                .transpose()?,
            data_disks: s
                .list("dataDisks")?
                .iter()
                .map(attachment_spec)
                .collect::<ApiResult<_>>()?,
            primary_network_interface: s
                .obj("primaryNetworkInterface")?
                .map(|n| n.to_json_string()),
            charge_mode: match s.obj("charge")? {
                Some(c) => c.str("chargeMode")?,
                None => None,
            },
            charge_on_stopped: s.str("chargeOnStopped")?,
        }),
    };
    let input = CreateInstancesInput {
        instance_spec: spec,
        max_count: p.int("maxCount")?,
        client_token: p.str("clientToken")?,
    };
    let ids = svc.instances_create(&call.scope, input).await?;
    Ok(Reply::Result(json!({ "instanceIds": ids })))
}

pub async fn describe_instance(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let i = svc.instance_fetch(&call.scope, id).await?;
    Ok(Reply::Result(json!({ "instance": views::instance(&i) })))
}

pub async fn describe_instances(svc: &Service, call: Call) -> ApiResult<Reply> {
    let p = &call.params;
    let page = p.page()?;
    let f = p.filters()?;
    let q = InstanceQuery {
        pin: call.scope.pin.clone(),
        region: call.scope.region.clone(),
        ids: filter_values(&f, "instanceId"),
        statuses: filter_values(&f, "status"),
        azs: filter_values(&f, "az"),
        names: filter_values(&f, "name"),
        private_ips: filter_values(&f, "privateIpAddress"),
        image_ids: filter_values(&f, "imageId"),
        instance_types: filter_values(&f, "instanceType"),
        subnet_ids: filter_values(&f, "subnetId"),
        offset: page.offset(),
        limit: page.size as i64,
    };
    let (list, total) = svc.instance_list(q).await?;
    Reply::list(
        "instances",
        list.iter().map(views::instance).collect(),
        total,
    )
}

pub async fn start_instance(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    svc.instance_transition(&call.scope, id, InstanceOp::Start)
        .await?;
    Ok(Reply::Empty)
}

pub async fn stop_instance(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let charge_on_stopped = call
        .params
        .str("chargeOnStopped")?
        .filter(|s| !s.is_empty());
    svc.instance_transition(&call.scope, id, InstanceOp::Stop { charge_on_stopped })
        .await?;
    Ok(Reply::Empty)
}

pub async fn reboot_instance(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    svc.instance_transition(&call.scope, id, InstanceOp::Reboot)
        .await?;
    Ok(Reply::Empty)
}

pub async fn delete_instance(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    svc.instance_delete(&call.scope, id).await?;
    Ok(Reply::Empty)
}

pub async fn attach_disk(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let p = &call.params;
    let disk_id = p.str("diskId")?.ok_or_else(|| {
        crate::error::ApiError::InvalidArgument("Parameter DiskId missing".into())
    })?;
    svc.instance_attach_disk(
        &call.scope,
        id,
        &disk_id,
        p.str("deviceName")?,
        p.bool("autoDelete")?.unwrap_or(false),
    )
    .await?;
    Ok(Reply::Empty)
}

pub async fn detach_disk(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let p = &call.params;
    let disk_id = p.str("diskId")?.ok_or_else(|| {
        crate::error::ApiError::InvalidArgument("Parameter DiskId missing".into())
    })?;
    // `force` only decides how IO is cut on a real host; accepted and validated.
    p.bool("force")?;
    svc.instance_detach_disk(&call.scope, id, &disk_id).await?;
    Ok(Reply::Empty)
}
