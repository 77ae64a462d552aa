//! `kiln serve`: open the data directory, start the task worker, serve HTTP.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use super::out::{errln, outln};
use super::{LogFormat, ServeArgs};
use crate::service::account::SuppliedKeys;
use crate::service::{Config, Quotas, Service};
use crate::tasks::Delays;

pub fn default_config() -> Config {
    Config {
        delays: Delays {
            transition: std::time::Duration::from_secs(1),
            task: std::time::Duration::from_secs(2),
            deleted_retention: std::time::Duration::from_secs(300),
        },
        quotas: Quotas::default(),
        qemu_img_timeout: std::time::Duration::from_secs(3600),
        task_lease: std::time::Duration::from_secs(60),
        database: None,
        file_roots: Default::default(),
        import_addresses: Default::default(),
        db_busy_timeout: std::time::Duration::from_secs(10),
        oss: None,
        qemu: None,
    }
}

/// `--hypervisor qemu`: the driver's settings; none for `--hypervisor none`.
fn qemu_config(args: &ServeArgs) -> Option<crate::hypervisor::QemuConfig> {
    (args.hypervisor == crate::hypervisor::HypervisorKind::Qemu).then(|| {
        crate::hypervisor::QemuConfig {
            binary: args.qemu_system.clone(),
            accel: args.accel,
            // QEMU and qemu-img may run elsewhere than this directory.
            kit: std::fs::canonicalize(&args.guest_kit).unwrap_or_else(|_| args.guest_kit.clone()),
            memory_max_mib: (args.guest_memory_max / (1024 * 1024)) as u64,
            run_dir: args.data_dir.join("guests"),
            boot_timeout: args.boot_timeout,
            stop_timeout: args.guest_stop_timeout,
        }
    })
}

/// The address `--listen` names; a host name other than `localhost` counts as a
/// non-loopback address (the stricter import rule).
fn listen_ip(listen: &str) -> std::net::IpAddr {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    match listen.parse::<SocketAddr>() {
        Ok(a) => a.ip(),
        Err(_) if listen.starts_with("localhost:") => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Err(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

/// A server ready to accept requests.
pub struct Prepared {
    pub listener: TcpListener,
    pub state: crate::http::AppState,
    pub account: crate::store::AccountRow,
    pub worker: crate::tasks::WorkerHandle,
}

/// Opens the data directory, makes sure the catalog and the account exist, starts the
/// task worker and binds the listener.
pub async fn prepare(args: &ServeArgs, keys: SuppliedKeys) -> anyhow::Result<Prepared> {
    let mut quotas = Quotas::default();
    for q in &args.quotas {
        quotas
            .set(q)
            .map_err(|e| anyhow::anyhow!("--quota {q}: {e}"))?;
    }
    let cfg = Config {
        delays: Delays {
            transition: args.transition_delay,
            task: args.task_delay,
            deleted_retention: args.deleted_retention,
        },
        quotas,
        qemu_img_timeout: args.qemu_img_timeout,
        task_lease: args.task_lease,
        database: args.database.clone(),
        file_roots: crate::block::file_roots::FileRoots::new(&args.file_roots)?,
        import_addresses: crate::download::AddressPolicy::new(
            listen_ip(&args.listen),
            args.import_allow.clone(),
        ),
        db_busy_timeout: args.db_busy_timeout,
        oss: args.oss_config()?,
        qemu: qemu_config(args),
    };
    if let Some(url) = &args.database {
        crate::store::record_database_url(&args.data_dir, url)
            .with_context(|| format!("recording the database in {}", args.data_dir.display()))?;
    }
    let svc = Service::open(&args.data_dir, args.qemu_img.clone(), cfg)
        .await
        .with_context(|| format!("opening {}", args.data_dir.display()))?;
    svc.ensure_public_catalog()
        .await
        .context("creating the public catalog")?;
    svc.reconcile_guests()
        .await
        .context("finding the guests of running instances")?;
    if keys.access_key.is_some() != keys.secret_key.is_some() {
        anyhow::bail!("set both KILN_ACCESS_KEY and KILN_SECRET_KEY, or neither");
    }
    let boot = svc.ensure_account(&args.data_dir, &keys).await?;
    if boot.created && keys.access_key.is_none() {
        // Shown once; also kept in <data-dir>/credentials (mode 0600).
        outln!("Created account {}:", boot.account.pin);
        outln!("  access key: {}", boot.account.access_key);
        outln!("  secret key: {}", boot.account.secret_key);
        outln!(
            "  (saved in {})",
            args.data_dir.join("credentials").display()
        );
    }
    let tasks = svc.task_ctx();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let alone = tasks
        .join(&format!("{}/{}", host.trim(), args.listen))
        .await?;
    if !alone {
        tracing::info!("other live nodes share this store: leaving their leases and files alone");
    }
    tasks.release_stale_leases(alone).await?;
    crate::tasks::sweep_after_restart(&tasks, alone).await?;
    let worker = tasks.spawn_worker();
    let mut gateway = crate::http::gateway::Gateway::new(crate::http::gateway::GatewayConfig {
        skew: args.auth_skew,
        rate_limit: args.rate_limit,
        max_inflight_body: args.max_inflight_body,
    });
    if let Some(nonces) = svc.shared_nonces() {
        gateway = gateway.with_shared_nonces(nonces);
    }
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    Ok(Prepared {
        listener,
        state: crate::http::AppState {
            service: svc,
            verify_signatures: !args.no_auth,
            gateway,
        },
        account: boot.account,
        worker,
    })
}

/// The log on stderr: filtered by KILN_LOG; as text, coloured only when stderr is a
/// terminal (a file or a pipe gets no escape codes) and NO_COLOR is unset.
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KILN_LOG")
                .unwrap_or_else(|_| "kiln=info,warn".into()),
        )
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => {
            let colour = std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            logs.with_ansi(colour).init()
        }
        LogFormat::Json => logs.json().with_ansi(false).init(),
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let keys = SuppliedKeys {
        access_key: std::env::var("KILN_ACCESS_KEY")
            .ok()
            .filter(|s| !s.is_empty()),
        secret_key: std::env::var("KILN_SECRET_KEY")
            .ok()
            .filter(|s| !s.is_empty()),
    };
    let p = prepare(&args, keys).await?;
    tracing::info!(
        "kiln listening on http://{} (data in {}, transition delay {:?}, task delay {:?})",
        p.listener.local_addr()?,
        args.data_dir.display(),
        args.transition_delay,
        args.task_delay
    );
    if args.no_auth {
        tracing::warn!("--no-auth: request signatures are NOT checked");
        errln!(
            "WARNING: kiln serve --no-auth: authentication is OFF. Anyone who can reach {} can act as account {}.",
            args.listen, p.account.pin
        );
    }
    let store = p.state.service.store().clone();
    let tasks = p.state.service.task_ctx();
    axum::serve(p.listener, crate::http::router(Arc::new(p.state)))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    // No new requests now; let running steps reach their recorded end, then stop.
    if p.worker.shutdown(std::time::Duration::from_secs(30)).await {
        tracing::info!("all running task steps finished; the rest resumes at the next start");
    } else {
        tracing::warn!("task steps still running after 30s; they resume at the next start");
    }
    if let Err(e) = tasks.leave().await {
        tracing::warn!("removing this node from the live ones failed: {e}");
    }
    store.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}
