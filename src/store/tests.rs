use super::{is_transient, AttachmentStatus, DiskStatus, ImageStatus, InstanceStatus, Stmt};
use sqlx::Connection;

/// The planner statistics of migration 0102: a list filtered by ids looks the ids up
/// instead of walking the account's whole index range.
#[tokio::test]
async fn id_filters_are_primary_key_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::Store::open(dir.path()).await.unwrap();
    let mut conn = store.read().await.unwrap();
    for (table, pk) in [
        ("images", "sqlite_autoindex_images_1"),
        ("instances", "sqlite_autoindex_instances_1"),
        ("disks", "sqlite_autoindex_disks_1"),
        ("snapshots", "sqlite_autoindex_snapshots_1"),
    ] {
        let plan: Vec<(i64, i64, i64, String)> = conn
            .fetch_all(Stmt::new(format!(
                "EXPLAIN QUERY PLAN SELECT id FROM {table} WHERE pin = 'p' AND region = 'r'
                     AND id IN ('a', 'b') ORDER BY seq, id"
            )))
            .await
            .unwrap();
        let text: Vec<&str> = plan.iter().map(|r| r.3.as_str()).collect();
        assert!(text.iter().any(|d| d.contains(pk)), "{table}: {text:?}");
    }
}

/// The image cache never answers a row older than the last committed change, and hides
/// another account's images like the query does.
#[tokio::test]
async fn cached_images_follow_every_change() {
    use crate::store::image;
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::Store::open(dir.path()).await.unwrap();
    let row = crate::store::ImageRow::for_test("img-cache", "p1", "r", 1);
    let status = |r: Option<crate::store::ImageRow>| r.map(|r| r.status.to_string());
    assert_eq!(
        status(
            store
                .image_visible(None, "p1", "r", "img-cache")
                .await
                .unwrap()
        ),
        None
    );
    let mut tx = store.write().await.unwrap();
    image::image_insert(&mut tx, &row).await.unwrap();
    tx.commit().await.unwrap();
    let seen = store
        .image_visible(None, "p1", "r", "img-cache")
        .await
        .unwrap();
    assert_eq!(status(seen), Some("pending".into()));
    // Cached now; another account and another region still do not see it.
    assert!(store
        .image_visible(None, "p2", "r", "img-cache")
        .await
        .unwrap()
        .is_none());
    assert!(store
        .image_visible(None, "p1", "r2", "img-cache")
        .await
        .unwrap()
        .is_none());

    // A change rolled back leaves the row as it was; a committed one shows at once.
    let mut tx = store.write().await.unwrap();
    image::image_transition(
        &mut tx,
        "img-cache",
        &[ImageStatus::Pending],
        ImageStatus::Ready,
    )
    .await
    .unwrap();
    drop(tx);
    let seen = store
        .image_visible(None, "p1", "r", "img-cache")
        .await
        .unwrap();
    assert_eq!(status(seen), Some("pending".into()));
    let mut tx = store.write().await.unwrap();
    image::image_transition(
        &mut tx,
        "img-cache",
        &[ImageStatus::Pending],
        ImageStatus::Ready,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let seen = store
        .image_visible(None, "p1", "r", "img-cache")
        .await
        .unwrap();
    assert_eq!(status(seen), Some("ready".into()));
    let mut tx = store.write().await.unwrap();
    image::image_delete(&mut tx, "img-cache").await.unwrap();
    tx.commit().await.unwrap();
    assert!(store
        .image_visible(None, "p1", "r", "img-cache")
        .await
        .unwrap()
        .is_none());
}

/// An instance with its disks read by a direct reader is what sqlx reads, every
/// column in its place.
#[tokio::test]
async fn an_instance_reads_back_with_its_disks_in_device_order() {
    use crate::store::{disk, instance, layer, AttachmentRow, DiskRow, InstanceRow, LayerRow};
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::Store::open(dir.path()).await.unwrap();
    let mut tx = store.write().await.unwrap();
    let inst = InstanceRow {
        id: "i-1".into(),
        pin: "p1".into(),
        region: "r1".into(),
        az: "az".into(),
        name: "name".into(),
        hostname: "host".into(),
        description: "desc".into(),
        instance_type: "g.n2.medium".into(),
        image_id: "img-x".into(),
        status: InstanceStatus::Running,
        task: Some("task-1".into()),
        private_ip: "10.0.0.1".into(),
        primary_nic: None,
        charge_mode: "postpaid_by_duration".into(),
        charge_on_stopped: "keepCharging".into(),
        created_at: 11,
        seq: 12,
        vpc_id: String::new(),
        subnet_id: String::new(),
        elastic_ip_id: String::new(),
        elastic_ip_address: String::new(),
        key_names: "[]".into(),
    };
    instance::instance_insert(&mut tx, &inst).await.unwrap();
    let mut written = Vec::new();
    for (n, dev) in ["vdb", "vda", "vdc"].iter().enumerate() {
        let n = n as i64;
        let lyr = format!("lyr-{n}");
        layer::layer_insert(
            &mut tx,
            &LayerRow {
                id: lyr.clone(),
                backing_id: None,
                size_bytes: 1,
                created_at: 0,
            },
        )
        .await
        .unwrap();
        let d = DiskRow {
            id: format!("vol-{n}"),
            pin: "p1".into(),
            region: "r1".into(),
            az: format!("az{n}"),
            category: "cloud".into(),
            name: format!("n{n}"),
            description: format!("d{n}"),
            disk_type: "ssd".into(),
            size_gb: 20 + n,
            iops: 100 + n,
            status: DiskStatus::InUse,
            task: (n == 1).then(|| "task-2".to_string()),
            top_layer_id: Some(lyr),
            snapshot_id: format!("snap-{n}"),
            multi_attachable: n == 2,
            encrypted: n == 0,
            charge_mode: "postpaid_by_duration".into(),
            created_at: 30 + n,
            seq: 40 + n,
        };
        disk::disk_insert(&mut tx, &d).await.unwrap();
        let a = AttachmentRow {
            disk_id: d.id.clone(),
            instance_id: "i-1".into(),
            device_name: dev.to_string(),
            status: AttachmentStatus::Attached,
            auto_delete: n != 1,
            attached_at: 50 + n,
        };
        disk::attachment_insert(&mut tx, &a).await.unwrap();
        written.push((a, d));
    }
    written.sort_by(|x, y| x.0.device_name.cmp(&y.0.device_name));
    tx.commit().await.unwrap();
    let mut conn = store.read().await.unwrap();
    let read = crate::store::instance_with_disks(&mut conn, "p1", "r1", "i-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(format!("{read:?}"), format!("{:?}", (&inst, &written)));
    // describeInstances' page: the instance with its disks, filters applied.
    for names in [vec![], vec!["nam".to_string()], vec!["zzz".to_string()]] {
        let q = instance::InstanceQuery {
            pin: "p1".into(),
            region: "r1".into(),
            names,
            limit: 10,
            ..Default::default()
        };
        let (page, total) = crate::store::instance_page(&mut conn, &q).await.unwrap();
        assert_eq!(total, if q.names == ["zzz"] { 0 } else { 1 });
        let expected: Vec<_> = (total == 1)
            .then_some((&inst, &written))
            .into_iter()
            .collect();
        assert_eq!(format!("{page:?}"), format!("{expected:?}"));
    }
    let devices: Vec<&str> = read.1.iter().map(|(a, _)| a.device_name.as_str()).collect();
    assert_eq!(devices, ["vda", "vdb", "vdc"]);
    assert!(
        crate::store::instance_with_disks(&mut conn, "p2", "r1", "i-1")
            .await
            .unwrap()
            .is_none()
    );
    drop(conn);

    // Inside a write transaction, before it writes: the last commit, whoever made it.
    let mut tx = store.write().await.unwrap();
    instance::instance_clear_task(&mut tx, "i-1", "task-1")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.write().await.unwrap();
    let (inst, disks) = crate::store::instance_with_disks(&mut tx, "p1", "r1", "i-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(inst.task, None);
    assert_eq!(disks.len(), 3);
}

/// A task reads back as written; a claim leases every due task once, in one statement.
#[tokio::test]
async fn tasks_read_back_and_a_claim_leases_each_due_task_once() {
    use crate::store::task;
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::Store::open(dir.path()).await.unwrap();
    let mut tx = store.write().await.unwrap();
    let now = crate::store::now_ms();
    for (i, run_after) in [now - 5, now - 1, now + 60_000].into_iter().enumerate() {
        let payload = crate::tasks::payload::DiskAttach {
            instance_id: format!("i-{i}"),
        };
        let mut t =
            crate::tasks::new_task(&format!("target-{i}"), &payload, std::time::Duration::ZERO);
        t.id = format!("t-{i}");
        t.run_after = run_after;
        t.error = (i == 1).then(|| "boom".to_string());
        task::task_insert(&mut tx, &t).await.unwrap();
    }
    tx.commit().await.unwrap();
    for (i, id) in ["t-0", "t-1", "t-2", "t-none"].into_iter().enumerate() {
        let read = task::task_get(&mut store.read().await.unwrap(), id)
            .await
            .unwrap();
        let error = read.as_ref().and_then(|t| t.error.clone());
        assert_eq!(
            read.map(|t| t.target_id),
            (i < 3).then(|| format!("target-{i}"))
        );
        assert_eq!(error, (i == 1).then(|| "boom".to_string()));
    }
    let mut tx = store.write().await.unwrap();
    let claimed = task::task_claim_due(&mut tx, 60_000, 10).await.unwrap();
    tx.commit().await.unwrap();
    let ids: Vec<&str> = claimed.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["t-0", "t-1"]);
    for t in &claimed {
        let stored = task::task_get(&mut store.read().await.unwrap(), &t.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.lease_until, t.lease_until);
        assert!(t.lease_until > now);
    }
    let mut tx = store.write().await.unwrap();
    assert!(task::task_claim_due(&mut tx, 60_000, 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn busy_is_transient_a_constraint_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let mut a = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        .execute(&mut a)
        .await
        .unwrap();
    sqlx::query("INSERT INTO t VALUES (1)")
        .execute(&mut a)
        .await
        .unwrap();
    let dup = sqlx::query("INSERT INTO t VALUES (1)")
        .execute(&mut a)
        .await
        .unwrap_err();
    assert!(!is_transient(&dup), "{dup}");

    // A second connection meets the first one's exclusive lock: SQLITE_BUSY.
    let opts: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
    let mut b = sqlx::SqliteConnection::connect_with(
        &opts.busy_timeout(std::time::Duration::from_millis(10)),
    )
    .await
    .unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut a)
        .await
        .unwrap();
    let busy = sqlx::query("INSERT INTO t VALUES (2)")
        .execute(&mut b)
        .await
        .unwrap_err();
    assert!(is_transient(&busy), "{busy}");
    assert!(is_transient(&sqlx::Error::PoolTimedOut));
    assert!(!is_transient(&sqlx::Error::RowNotFound));
}

async fn status_of(store: &crate::store::Store, id: &str) -> Option<String> {
    crate::store::image::image_by_id(&mut store.read().await.unwrap(), id)
        .await
        .unwrap()
        .map(|i| i.status.to_string())
}

/// A transaction dropped before its commit (an error, a request cut short) leaves no
/// trace, and the next writer gets the database at once.
#[tokio::test]
async fn a_dropped_transaction_rolls_back_and_frees_the_writer() {
    use crate::store::{image, ImageRow};
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::Store::open(dir.path()).await.unwrap();
    {
        let mut tx = store.write().await.unwrap();
        let row = ImageRow::for_test("img-dropped", "p", "r", 1);
        image::image_insert(&mut tx, &row).await.unwrap();
    }
    assert_eq!(status_of(&store, "img-dropped").await, None);
    assert!(store
        .image_visible(None, "p", "r", "img-dropped")
        .await
        .unwrap()
        .is_none());
    // The next writer would wait out the busy timeout (and fail) if the rolled-back
    // transaction still held SQLite's write lock.
    let started = std::time::Instant::now();
    let mut tx = store.write().await.unwrap();
    let row = ImageRow::for_test("img-after", "p", "r", 2);
    image::image_insert(&mut tx, &row).await.unwrap();
    tx.commit().await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(
        status_of(&store, "img-after").await.as_deref(),
        Some("pending")
    );
}

/// A statement that fails reports SQLite's own code (a constraint is not transient, so a
/// task step fails rather than retrying forever; a unique violation is one to
/// `error.rs`), and its transaction changes nothing.
#[tokio::test]
async fn a_failed_statement_keeps_its_code_and_changes_nothing() {
    use crate::store::{image, ImageRow};
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::Store::open(dir.path()).await.unwrap();
    let row = ImageRow::for_test("img-dup", "p", "r", 1);
    let mut tx = store.write().await.unwrap();
    image::image_insert(&mut tx, &row).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.write().await.unwrap();
    let other = ImageRow::for_test("img-other", "p", "r", 2);
    image::image_insert(&mut tx, &other).await.unwrap();
    let err = image::image_insert(&mut tx, &row).await.unwrap_err();
    let sqlx::Error::Database(db) = &err else {
        panic!("not a database error: {err}");
    };
    // SQLITE_CONSTRAINT_PRIMARYKEY (1555) or _UNIQUE (2067): primary code 19.
    let code: i64 = db.code().unwrap().parse().unwrap();
    assert_eq!(code & 0xff, 19, "{err}");
    assert!(db.is_unique_violation());
    assert!(!is_transient(&err));
    drop(tx);
    assert_eq!(status_of(&store, "img-other").await, None);
}

/// A reader cannot write, whatever it is asked (SQLite's readers are read-only).
#[tokio::test]
async fn a_reader_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::Store::open(dir.path()).await.unwrap();
    let mut read = store.read().await.unwrap();
    let err = read
        .execute(Stmt::new("DELETE FROM accounts"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("readonly"), "{err}");
}

/// A writer meeting another process's lock waits for it (off the runtime's thread), then
/// begins; with no other process the lock is taken at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_waits_for_another_process_lock() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::Store::open(dir.path()).await.unwrap();
    store.write().await.unwrap().commit().await.unwrap();
    let other = rusqlite::Connection::open(dir.path().join("kiln.db")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let holder = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        other.execute_batch("COMMIT").unwrap();
    });
    let started = std::time::Instant::now();
    let tx = store.write().await.unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(250));
    tx.commit().await.unwrap();
    holder.join().unwrap();
}
