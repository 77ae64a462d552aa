//! describeImages / describeImage (spec §6.2, §6.3) over the synthetic public catalog.

use serde_json::{json, Value};

use crate::harness::*;

const SYNTHETIC_NOTE: &str =
    "Kiln synthetic public image: a labelled 40 GiB disk with no operating system";

fn image_ids(res: &Value) -> Vec<String> {
    res["images"]
        .as_array()
        .unwrap_or_else(|| panic!("no images array: {res}"))
        .iter()
        .map(|i| i["imageId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn public_catalog_lists_three_ready_images() {
    let s = Server::start(&[]).await;
    let r = s.get(&path("images?imageSource=public")).await;
    let res = r.ok();
    assert_eq!(res["totalCount"], 3, "{res}");
    let mut ids = image_ids(res);
    ids.sort();
    assert_eq!(ids, ["img-centos0708", "img-ubuntu2204", "img-winsrv2019"]);
    for img in res["images"].as_array().unwrap() {
        assert_eq!(img["status"], "ready", "{img}");
        assert_eq!(img["imageSource"], "public", "{img}");
        assert_eq!(img["launchPermission"], "all", "{img}");
        assert_eq!(img["rootDeviceType"], "localDisk", "{img}");
        assert_eq!(img["systemDiskSizeGB"], 40, "{img}");
        assert_eq!(img["architecture"], "x86_64", "{img}");
        assert_eq!(img["progress"], "100", "{img}");
        assert_eq!(img["desc"], SYNTHETIC_NOTE, "{img}");
        assert_eq!(img["systemDisk"]["deviceName"], "vda", "{img}");
        assert_eq!(img["systemDisk"]["diskCategory"], "local", "{img}");
        assert_eq!(img["systemDisk"]["localDisk"]["diskSizeGB"], 40, "{img}");
        assert_eq!(img["dataDisks"], json!([]), "{img}");
        let t = img["createTime"].as_str().unwrap();
        assert!(
            is_local_time(t),
            "createTime {t:?} is not 'YYYY-MM-DD HH:MM:SS'"
        );
    }
    let windows = res["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["imageId"] == "img-winsrv2019")
        .unwrap();
    assert_eq!(windows["osType"], "windows");
    assert_eq!(windows["platform"], "Windows Server");
    assert_eq!(windows["loginName"], "Administrator");
}

/// `YYYY-MM-DD HH:MM:SS` (the docs' createTime/launchTime shape).
pub fn is_local_time(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

#[tokio::test]
async fn describe_one_image() {
    let s = Server::start(&[]).await;
    let r = s.get(&path("images/img-ubuntu2204")).await;
    let img = &r.ok()["image"];
    assert_eq!(img["imageId"], "img-ubuntu2204");
    assert_eq!(img["name"], "Ubuntu 22.04 LTS 64位");
    assert_eq!(img["platform"], "Ubuntu");
    assert_eq!(img["osVersion"], "22.04");
    assert_eq!(img["osType"], "linux");
    assert_eq!(img["loginName"], "root");
    assert_eq!(img["status"], "ready");
    assert_eq!(img["imageSource"], "public");
    assert_eq!(img["sizeMB"], 40 * 1024);
    assert_eq!(img["snapshotId"], "");
    assert_eq!(img["bootMode"], "bios");
    let r = s.get(&path("images/img-centos0708")).await;
    let img = &r.ok()["image"];
    assert_eq!(img["platform"], "CentOS");
    assert_eq!(img["osVersion"], "7.9");

    let r = s.get(&path("images/img-x")).await;
    r.err(404, "NOT_FOUND", "Image 'img-x' not found");
    // Public images are visible in every region.
    let r = s.get("/v1/regions/cn-south-1/images/img-winsrv2019").await;
    assert_eq!(r.ok()["image"]["imageId"], "img-winsrv2019");
}

#[tokio::test]
async fn describe_images_parameters() {
    let s = Server::start(&[]).await;
    let r = s.get(&path("images")).await;
    r.err(400, "FAILED_PRECONDITION", "Parameter ImageSource missing");
    let r = s.get(&path("images?pageSize=10")).await;
    r.err(400, "FAILED_PRECONDITION", "Parameter ImageSource missing");

    // ids.N alone is enough.
    let r = s
        .get(&path("images?ids.1=img-winsrv2019&ids.2=img-nope"))
        .await;
    let res = r.ok();
    assert_eq!(res["totalCount"], 1, "{res}");
    assert_eq!(image_ids(res), ["img-winsrv2019"]);

    let r = s.get(&path("images?imageSource=bogus")).await;
    r.err(400, "INVALID_ARGUMENT", "Invalid imageSource 'bogus'");
    let r = s.get(&path("images?imageSource=private")).await;
    assert_eq!(r.ok()["totalCount"], 0);
    assert_eq!(r.ok()["images"], json!([]));

    let r = s
        .get(&path("images?imageSource=public&platform=CentOS"))
        .await;
    assert_eq!(image_ids(r.ok()), ["img-centos0708"]);
    let r = s
        .get(&path("images?imageSource=public&rootDeviceType=cloudDisk"))
        .await;
    assert_eq!(r.ok()["totalCount"], 0);
    let r = s
        .get(&path("images?imageSource=public&rootDeviceType=floppy"))
        .await;
    r.err(400, "INVALID_ARGUMENT", "Invalid rootDeviceType 'floppy'");
    let r = s
        .get(&path("images?imageSource=public&launchPermission=all"))
        .await;
    assert_eq!(r.ok()["totalCount"], 3);
    let r = s
        .get(&path("images?imageSource=public&launchPermission=nobody"))
        .await;
    r.err(400, "INVALID_ARGUMENT", "Invalid launchPermission 'nobody'");
}

#[tokio::test]
async fn describe_images_paging() {
    let s = Server::start(&[]).await;
    let r = s
        .get(&path("images?imageSource=public&pageSize=10&pageNumber=1"))
        .await;
    let first = r.ok();
    assert_eq!(first["totalCount"], 3);
    assert_eq!(first["images"].as_array().unwrap().len(), 3);
    let r = s
        .get(&path("images?imageSource=public&pageSize=10&pageNumber=2"))
        .await;
    let second = r.ok();
    assert_eq!(second["totalCount"], 3, "totalCount counts all pages");
    assert_eq!(second["images"], json!([]));
}

/// A pageNumber far past the end is an empty page: never page 1 again (a wrapped negative
/// offset) and never a crash (imageTasks once overflowed `(number - 1) * size`).
#[tokio::test]
async fn huge_page_numbers_answer_empty_pages() {
    let s = Server::start(&[]).await;
    for q in [
        "images?imageSource=public&pageSize=10&pageNumber=9223372036854775807",
        "images?imageSource=public&pageSize=100&pageNumber=4611686018427387904",
    ] {
        let r = s.get(&path(q)).await;
        let body = r.ok();
        assert_eq!(body["totalCount"], 3, "{q}");
        assert_eq!(body["images"], json!([]), "{q}");
    }
    for q in [
        "imageTasks?pageSize=100&pageNumber=9223372036854775807",
        "imageTasks?pageSize=10&pageNumber=4611686018427387904",
    ] {
        let r = s.get(&path(q)).await;
        let body = r.ok();
        assert_eq!(body["taskSet"], json!([]), "{q}");
    }
    // The server is still up and answering.
    let r = s.get(&path("images?imageSource=public")).await;
    assert_eq!(r.ok()["totalCount"], 3);
}
