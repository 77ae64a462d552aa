//! Several `kiln serve` nodes sharing one PostgreSQL database and one storage root
//! (`KILN_TEST_DATABASE=postgres`; on SQLite these tests return at once). Nodes are
//! started with `Server::start_peer`: own port and log, the first node's database and
//! data directory.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::*;

fn skip() -> bool {
    if !postgres_mode() {
        eprintln!("cluster tests need KILN_TEST_DATABASE=postgres; skipped");
        return true;
    }
    false
}

/// The same list, asked of any node, is the same.
#[tokio::test]
async fn any_node_answers_with_the_same_result() {
    if skip() {
        return;
    }
    let a = Server::start(&[]).await;
    let b = a.start_peer(&[]).await;
    let disk = a.create_disk("shared", 20).await;
    b.wait_disk(&disk, "available").await;
    let inst = b.launch(instance_spec("on-b")).await;
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("requestId");
        v
    };
    for p in [
        path("disks?pageSize=100"),
        path("instances?pageSize=100"),
        disk_path(&disk),
        instance_path(&inst),
        path("images?imageSource=public"),
    ] {
        let ra = strip(a.get(&p).await.body);
        let rb = strip(b.get(&p).await.body);
        assert_eq!(ra, rb, "{p}");
    }
}

/// Tasks claimed concurrently by two stores (two nodes' views of one database): every task
/// is claimed exactly once; a claim whose holder died is taken over after its lease.
#[tokio::test]
async fn each_task_is_claimed_by_exactly_one_node_and_a_dead_lease_expires() {
    if skip() {
        return;
    }
    let a = Server::start(&[]).await;
    let url = a.database().unwrap().to_string();
    let s1 = kiln::store::Store::open_postgres(&url, Duration::from_secs(10))
        .await
        .unwrap();
    let s2 = kiln::store::Store::open_postgres(&url, Duration::from_secs(10))
        .await
        .unwrap();
    // Stop the server's own worker from taking the tasks: it is killed (its tasks
    // would run against nothing; the claims are what is tested).
    let mut a = a;
    a.kill();
    let now = kiln::store::now_ms();
    let mut want = BTreeSet::new();
    {
        let mut tx = s1.write().await.unwrap();
        for i in 0..200 {
            let id = format!("t-claim-{i:03}");
            kiln::store::task::task_insert(
                &mut tx,
                &kiln::store::TaskRow {
                    id: id.clone(),
                    // Claimed by the test itself, never run: any kind does.
                    kind: kiln::store::TaskKind::DiskCreate,
                    target_id: id.clone(),
                    step: 0,
                    state: kiln::store::TaskState::Pending,
                    run_after: now - 1,
                    lease_until: 0,
                    payload: "{}".into(),
                    error: None,
                    created_at: now,
                    fault: None,
                },
            )
            .await
            .unwrap();
            want.insert(id);
        }
        tx.commit().await.unwrap();
    }
    let claim_all = |s: kiln::store::Store| async move {
        let mut got = Vec::new();
        loop {
            let mut tx = s.write_unordered().await.unwrap();
            let batch = kiln::store::task::task_claim_due(&mut tx, 60_000, 7)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            if batch.is_empty() {
                return got;
            }
            got.extend(batch.into_iter().map(|t| t.id));
        }
    };
    let (g1, g2) = tokio::join!(
        tokio::spawn(claim_all(s1.clone())),
        tokio::spawn(claim_all(s2.clone()))
    );
    let (g1, g2) = (g1.unwrap(), g2.unwrap());
    let mut all: Vec<String> = g1.iter().chain(g2.iter()).cloned().collect();
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(total, all.len(), "a task was claimed twice");
    assert_eq!(all.into_iter().collect::<BTreeSet<_>>(), want);
    assert!(
        !g1.is_empty() && !g2.is_empty(),
        "both claimers got work: {} / {}",
        g1.len(),
        g2.len()
    );

    // A claim under a 1 s lease whose holder never renews it is free again after 1 s.
    {
        let mut tx = s1.write().await.unwrap();
        tx.execute(kiln::store::Stmt::new(
            "UPDATE tasks SET lease_until = 0 WHERE id = 't-claim-000'",
        ))
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let claim_one = |s: &kiln::store::Store| {
        let s = s.clone();
        async move {
            let mut tx = s.write_unordered().await.unwrap();
            let b = kiln::store::task::task_claim_due(&mut tx, 1_000, 10)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            b.into_iter().map(|t| t.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(claim_one(&s1).await, ["t-claim-000"]);
    assert!(claim_one(&s2).await.is_empty(), "leased task claimed again");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(claim_one(&s2).await, ["t-claim-000"]);
    s1.close().await;
    s2.close().await;
}

/// A node killed while its work is in flight: another node finishes it within the lease.
#[tokio::test]
async fn a_killed_nodes_work_is_finished_by_another() {
    if skip() {
        return;
    }
    let mut a = Server::start(&["--task-delay", "1s", "--task-lease", "2s"]).await;
    let disks: Vec<String> = {
        let mut v = Vec::new();
        for i in 0..3 {
            v.push(a.create_disk(&format!("k{i}"), 20).await);
        }
        v
    };
    let inst = a
        .create_instances(json!({"instanceSpec": instance_spec("killed"), "maxCount": 1}))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.kill();
    let b = a
        .start_peer(&["--task-delay", "1s", "--task-lease", "2s"])
        .await;
    for d in &disks {
        b.wait_disk(d, "available").await;
    }
    b.wait_instance(&inst[0], "running").await;
}

/// Quotas hold when requests race on different nodes.
#[tokio::test]
async fn quota_holds_across_nodes() {
    if skip() {
        return;
    }
    let a = Server::start(&["--quota", "disk=3"]).await;
    let b = a.start_peer(&["--quota", "disk=3"]).await;
    let body = json!({"diskSpec": {"az": AZ, "name": "q", "diskType": "ssd.gp1", "diskSizeGB": 20}, "maxCount": 1});
    let disks = path("disks");
    let mut calls = Vec::new();
    for i in 0..12 {
        let node = if i % 2 == 0 { &a } else { &b };
        calls.push(node.post(&disks, body.clone()));
    }
    let results = futures_join_all(calls).await;
    let ok = results.iter().filter(|r| r.status == 200).count();
    let quota = results
        .iter()
        .filter(|r| r.status == 429 && r.body["error"]["status"] == "QUOTA_EXCEEDED")
        .count();
    assert_eq!((ok, quota), (3, 9), "{results:?}");
    assert_eq!(
        b.get(&path("disks?pageSize=100")).await.ok()["totalCount"],
        3
    );
}

/// Two nodes asked to stop the same instance at once: exactly one call is accepted.
#[tokio::test]
async fn per_instance_conflicts_hold_across_nodes() {
    if skip() {
        return;
    }
    let a = Server::start(&[]).await;
    let b = a.start_peer(&[]).await;
    for round in 0..3 {
        let id = a.launch(instance_spec(&format!("c{round}"))).await;
        let p = action_path(&id, "stopInstance");
        let results = futures_join_all(vec![
            a.post(&p, json!({})),
            b.post(&p, json!({})),
            a.post(&p, json!({})),
            b.post(&p, json!({})),
        ])
        .await;
        let ok = results.iter().filter(|r| r.status == 200).count();
        assert_eq!(ok, 1, "{results:?}");
        b.wait_instance(&id, "stopped").await;
    }
}

/// A signed request replayed to another node is refused there too.
#[tokio::test]
async fn nonce_replay_is_refused_across_nodes() {
    if skip() {
        return;
    }
    let a = Server::start(&[]).await;
    let b = a.start_peer(&[]).await;
    // Behind a load balancer every node sees the same Host; sign for it once.
    let host = format!("127.0.0.1:{}", a.port());
    let p = path("disks");
    let body = json!({"diskSpec": {"az": AZ, "name": "n", "diskType": "ssd.gp1", "diskSizeGB": 20}, "maxCount": 1}).to_string();
    let headers = kiln::signing::sign_headers(
        &a.access_key,
        &a.secret_key,
        "disk",
        REGION,
        "POST",
        &host,
        &p,
        "",
        body.as_bytes(),
    );
    let send = |port: u16| {
        let headers = headers.clone();
        let body = body.clone();
        let (p, host) = (p.clone(), host.clone());
        async move {
            let mut req = reqwest::Client::new()
                .post(format!("http://127.0.0.1:{port}{p}"))
                .header("host", host)
                .body(body);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let first = send(a.port()).await;
    assert_eq!(first.0, 200, "{}", first.1);
    let replay = send(b.port()).await;
    assert_eq!(replay.0, 401, "{}", replay.1);
    assert_eq!(
        replay.1["error"]["message"], "x-jdcloud-nonce has already been used",
        "{}",
        replay.1
    );
    assert_eq!(
        a.get(&path("disks?pageSize=10")).await.ok()["totalCount"],
        1
    );
}

async fn futures_join_all<F: std::future::Future<Output = Resp>>(fs: Vec<F>) -> Vec<Resp> {
    // Every request is in flight at once.
    futures_util::future::join_all(fs).await
}
