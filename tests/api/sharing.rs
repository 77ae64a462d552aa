//! Image sharing, release and attributes between two accounts on one server: shareImage /
//! unShareImage / describeImageMembers, releaseImage / unReleaseImage, modifyImageAttribute,
//! describeImageConstraints(Batch), with every error row, and that a receiver sees nothing
//! else of the owner's.

use serde_json::{json, Value};

use crate::accounts::{create_account, Tenant};
use crate::harness::*;

/// A ready private cloudDisk image of the server's first account (and its instance).
async fn private_image(s: &Server, name: &str) -> (String, String) {
    let mut spec = instance_spec(&format!("{name}-src"));
    spec["systemDisk"] = json!({"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}});
    let inst = s.launch(spec).await;
    let r = s
        .post(&action_path(&inst, "createImage"), json!({"name": name}))
        .await;
    let img = r.ok()["imageId"].as_str().unwrap().to_string();
    s.wait_image(&img, "ready").await;
    (img, inst)
}

fn image_action(id: &str, action: &str) -> String {
    path(&format!("images/{id}:{action}"))
}

fn listed_ids(r: &Resp) -> Vec<String> {
    r.ok()["images"]
        .as_array()
        .unwrap_or_else(|| panic!("no images: {}", r.body))
        .iter()
        .map(|i| i["imageId"].as_str().unwrap().to_string())
        .collect()
}

fn members(r: &Resp) -> Vec<String> {
    serde_json::from_value(r.ok()["pins"].clone()).expect("pins")
}

#[tokio::test]
async fn a_shared_image_is_seen_and_launched_by_its_receiver_only() {
    let s = Server::start(&["--quota", "share=2"]).await;
    let (img, _) = private_image(&s, "shared-1").await;
    let (other_img, _) = private_image(&s, "not-shared").await;
    let b = Tenant::new(&s, create_account(&s, "receiver-b"));
    let c = Tenant::new(&s, create_account(&s, "bystander-c"));
    let d = Tenant::new(&s, create_account(&s, "extra-d"));
    let not_found = format!("Image '{img}' not found");

    // Before: B sees nothing of it.
    b.get(&path(&format!("images/{img}")))
        .await
        .err(404, "NOT_FOUND", &not_found);
    let r = b.get(&path("images?imageSource=shared")).await;
    assert!(listed_ids(&r).is_empty(), "{}", r.body);

    // Error rows of shareImage.
    s.post(&image_action(&img, "share"), json!({})).await.err(
        400,
        "INVALID_ARGUMENT",
        "Parameter pins missing",
    );
    s.post(
        &image_action(&img, "share"),
        json!({"pins": ["kiln-nobody"]}),
    )
    .await
    .err(400, "FAILED_PRECONDITION", "Pin 'kiln-nobody' not found");
    s.post(
        &image_action("img-ubuntu2204", "share"),
        json!({"pins": [b.keys.pin]}),
    )
    .await
    .err(400, "FAILED_PRECONDITION", "Can't use this image");
    s.post(
        &image_action("img-zzzzzzzzzz", "share"),
        json!({"pins": [b.keys.pin]}),
    )
    .await
    .err(404, "NOT_FOUND", "Image 'img-zzzzzzzzzz' not found");

    // Share with B; the owner lists it as a member.
    s.post(&image_action(&img, "share"), json!({"pins": [b.keys.pin]}))
        .await
        .ok();
    let r = s.get(&path(&format!("images/{img}/members"))).await;
    assert_eq!(members(&r), std::slice::from_ref(&b.keys.pin));

    // B sees it, as `shared`, and only it.
    let r = b.get(&path(&format!("images/{img}"))).await;
    assert_eq!(r.ok()["image"]["imageSource"], "shared", "{}", r.body);
    let r = b.get(&path("images?imageSource=shared")).await;
    assert_eq!(listed_ids(&r), std::slice::from_ref(&img));
    assert_eq!(r.ok()["totalCount"], 1);
    b.get(&path(&format!("images/{other_img}"))).await.err(
        404,
        "NOT_FOUND",
        &format!("Image '{other_img}' not found"),
    );
    // By ids without an imageSource: the shared one and a public one, never the owner's
    // other image.
    let r = b
        .get(&path(&format!(
            "images?ids.1={img}&ids.2={other_img}&ids.3=img-ubuntu2204"
        )))
        .await;
    let mut seen = listed_ids(&r);
    seen.sort();
    let mut want = vec![img.clone(), "img-ubuntu2204".to_string()];
    want.sort();
    assert_eq!(seen, want, "{}", r.body);
    assert_eq!(r.ok()["totalCount"], 2);
    // C, not a member, sees nothing.
    c.get(&path(&format!("images/{img}")))
        .await
        .err(404, "NOT_FOUND", &not_found);

    // B cannot change, share on, or delete it; the owner cannot delete it while shared.
    b.post(
        &image_action(&img, "modifyImageAttribute"),
        json!({"name": "mine-now"}),
    )
    .await
    .err(400, "FAILED_PRECONDITION", "Can't use this image");
    b.post(&image_action(&img, "share"), json!({"pins": [c.keys.pin]}))
        .await
        .err(400, "FAILED_PRECONDITION", "Can't use this image");
    b.send(
        reqwest::Method::DELETE,
        &path(&format!("images/{img}")),
        None,
    )
    .await
    .err(400, "FAILED_PRECONDITION", "Can't delete this image");
    s.delete(&path(&format!("images/{img}"))).await.err(
        400,
        "FAILED_PRECONDITION",
        "Can't delete shared image",
    );

    // The share quota: two accounts per image here.
    s.post(
        &image_action(&img, "share"),
        json!({"pins": [c.keys.pin, d.keys.pin]}),
    )
    .await
    .err(429, "QUOTA_EXCEEDED", "Image share quota limit exceeded");
    let r = s.get(&path(&format!("images/{img}/members"))).await;
    assert_eq!(
        members(&r),
        std::slice::from_ref(&b.keys.pin),
        "a refused share adds no one"
    );
    let r = s
        .get(&path(&format!(
            "quotas?filters.1.name=resourceTypes&filters.1.values.1=imageShare&imageId={img}"
        )))
        .await;
    assert_eq!(r.ok()["quotas"][0]["used"], 1, "{}", r.body);
    assert_eq!(r.ok()["quotas"][0]["limit"], 2, "{}", r.body);

    // B launches from it: the instance runs on the owner's data.
    let mut spec = instance_spec("from-shared");
    spec["imageId"] = Value::String(img.clone());
    spec["systemDisk"] = json!({"diskCategory": "cloud", "cloudDiskSpec": {"diskType": "ssd.gp1", "diskSizeGB": 40}});
    let launched = b.launch(spec.clone()).await;

    // Unshare: B no longer sees it, C's launch fails as for any unknown image; B's instance
    // keeps working.
    s.post(
        &image_action(&img, "unshare"),
        json!({"pins": [b.keys.pin]}),
    )
    .await
    .ok();
    b.get(&path(&format!("images/{img}")))
        .await
        .err(404, "NOT_FOUND", &not_found);
    let r = b
        .post(&path("instances"), json!({"instanceSpec": spec}))
        .await;
    r.err(404, "NOT_FOUND", &not_found);
    let r = b
        .post(
            &path(&format!("instances/{launched}:stopInstance")),
            json!({}),
        )
        .await;
    r.ok();
    b.wait_status(
        &instance_path(&launched),
        "/result/instance/status",
        "stopped",
    )
    .await;
    // Unshared, the owner may delete it.
    s.delete(&path(&format!("images/{img}"))).await.ok();
}

#[tokio::test]
async fn a_released_image_is_a_community_image_for_every_account() {
    let s = Server::start(&[]).await;
    let (img, _) = private_image(&s, "released-1").await;
    let b = Tenant::new(&s, create_account(&s, "member-b"));
    let c = Tenant::new(&s, create_account(&s, "anyone-c"));
    s.post(&image_action(&img, "share"), json!({"pins": [b.keys.pin]}))
        .await
        .ok();

    s.post(&image_action("img-ubuntu2204", "release"), json!({}))
        .await
        .err(400, "FAILED_PRECONDITION", "Can't use non-private image");
    s.post(&image_action(&img, "release"), json!({})).await.ok();
    // Releasing revoked the share.
    let r = s.get(&path(&format!("images/{img}/members"))).await;
    assert!(members(&r).is_empty(), "{}", r.body);
    for t in [&b, &c] {
        let r = t.get(&path("images?imageSource=community")).await;
        assert_eq!(listed_ids(&r), std::slice::from_ref(&img), "{}", r.body);
        let r = t.get(&path(&format!("images/{img}"))).await;
        assert_eq!(r.ok()["image"]["imageSource"], "community");
        let r = t.get(&path("images?imageSource=shared")).await;
        assert!(listed_ids(&r).is_empty(), "{}", r.body);
    }
    // The owner's own listing is not its community.
    let r = s.get(&path("images?imageSource=community")).await;
    assert!(listed_ids(&r).is_empty(), "{}", r.body);
    s.post(&image_action(&img, "share"), json!({"pins": [c.keys.pin]}))
        .await
        .err(
            400,
            "FAILED_PRECONDITION",
            "Community image can't be shared",
        );
    s.delete(&path(&format!("images/{img}"))).await.err(
        400,
        "FAILED_PRECONDITION",
        "Can't delete community image",
    );
    c.post(&image_action(&img, "unrelease"), json!({}))
        .await
        .err(400, "FAILED_PRECONDITION", "Can't use non-private image");

    s.post(&image_action(&img, "unrelease"), json!({}))
        .await
        .ok();
    let r = c.get(&path("images?imageSource=community")).await;
    assert!(listed_ids(&r).is_empty(), "{}", r.body);
    c.get(&path(&format!("images/{img}"))).await.err(
        404,
        "NOT_FOUND",
        &format!("Image '{img}' not found"),
    );
}

#[tokio::test]
async fn modify_image_attribute_renames_the_owners_image() {
    let s = Server::start(&[]).await;
    let (img, _) = private_image(&s, "before").await;
    let p = image_action(&img, "modifyImageAttribute");
    s.post(&p, json!({})).await.err(
        400,
        "INVALID_ARGUMENT",
        "Parameter name、description missing",
    );
    s.post(&p, json!({"name": "x"}))
        .await
        .err(400, "INVALID_ARGUMENT", "Invalid image name 'x'");
    s.post(
        &image_action("img-ubuntu2204", "modifyImageAttribute"),
        json!({"name": "mine"}),
    )
    .await
    .err(400, "FAILED_PRECONDITION", "Can't use this image");
    s.post(&p, json!({"name": "after", "description": "renamed"}))
        .await
        .ok();
    let r = s.get(&path(&format!("images/{img}"))).await;
    assert_eq!(r.ok()["image"]["name"], "after");
    assert_eq!(r.ok()["image"]["desc"], "renamed");
    s.post(&p, json!({"description": "only this"})).await.ok();
    let r = s.get(&path(&format!("images/{img}"))).await;
    assert_eq!(r.ok()["image"]["name"], "after", "an absent name stays");
    assert_eq!(r.ok()["image"]["desc"], "only this");
}

#[tokio::test]
async fn public_images_carry_constraints_that_launches_obey() {
    let s = Server::start(&[]).await;
    let r = s.get(&path("images/img-winsrv2019/constraints")).await;
    let c = &r.ok()["imageConstraints"];
    assert_eq!(c["imageId"], "img-winsrv2019");
    assert_eq!(
        c["imageInstanceTypeConstraint"]["constraintsType"],
        "excludes"
    );
    assert_eq!(
        c["imageInstanceTypeConstraint"]["instanceTypes"],
        json!(["g.n2.medium"])
    );
    let r = s
        .get(&path(
            "imageConstraints?ids.1=img-winsrv2019&ids.2=img-ubuntu2204",
        ))
        .await;
    let all = r.ok()["imageConstraints"].as_array().unwrap().clone();
    assert_eq!(all.len(), 2);
    assert!(
        all[1]["imageInstanceTypeConstraint"].is_null(),
        "{}",
        r.body
    );
    s.get(&path("images/img-zzzzzzzzzz/constraints")).await.err(
        404,
        "NOT_FOUND",
        "Image 'img-zzzzzzzzzz' not found",
    );

    let mut spec = instance_spec("win-small");
    spec["imageId"] = json!("img-winsrv2019");
    spec["instanceType"] = json!("g.n2.medium");
    let r = s
        .post(&path("instances"), json!({"instanceSpec": spec}))
        .await;
    r.err(
        400,
        "FAILED_PRECONDITION",
        "Image constraints. Instance type 'g.n2.medium' not supported",
    );
    spec["instanceType"] = json!("g.n2.large");
    s.launch(spec).await;
}
