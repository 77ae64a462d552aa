//! kiln-loadgen: a closed-loop load generator for Kiln that signs every request as a real
//! JD Cloud client does (JDCLOUD2-HMAC-SHA256 over
//! `content-type;host;x-jdcloud-date;x-jdcloud-nonce`, path with `:` → `%3A`, a fresh nonce
//! per request), over persistent HTTP/1.1 keep-alive connections, one per client.
//!
//! It runs on a single-threaded tokio runtime so that pinning it with `taskset -c 1` gives
//! it exactly one core, and it does as little per request as it can (the signing key is
//! derived once per day; the rest of the signature is computed per request) so that it is
//! not the bottleneck.
//!
//! Subcommands (all print one JSON object on stdout):
//!
//!   describe      --op image|images|instances --ids FILE --pages N --concurrency C
//!                 --duration SECS --warmup SECS
//!   create-images --instances FILE --concurrency C (--duration SECS | --total N)
//!                 [--poll-ms MS] [--name-prefix P] [--timeout SECS] [--ids-out FILE]
//!                 [--rate R]
//!                 (client w uses instances w, w+C, … in turn, each createImage waiting
//!                 for `ready` before the next; one shared poller watches pending images.
//!                 Closed loop by default: a client calls again as soon as its image is
//!                 ready. With --rate, calls are due at R per second in all, each taken by
//!                 a free client, and latency counts from when the call was due, so time
//!                 spent waiting for a free client is counted too)
//!
//! Common: --addr HOST:PORT[,HOST:PORT…] --ak AK --sk SK [--region cn-north-1]
//!
//! With several addresses (a comma list, or --addr repeated), client connection i goes to
//! address i % n (round-robin, as behind a load balancer); every request is signed for the
//! first address's host name, as clients sign for a balancer's name (every node accepts it).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

type HmacSha256 = Hmac<Sha256>;
type Res<T> = Result<T, String>;

// ---------------------------------------------------------------------------------------
// Signing

const ALG: &str = "JDCLOUD2-HMAC-SHA256";
const TERMINATOR: &str = "jdcloud2_request";
const SIGNED: &str = "content-type;host;x-jdcloud-date;x-jdcloud-nonce";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = HmacSha256::new_from_slice(key).expect("any key length");
    m.update(data);
    m.finalize().into_bytes().into()
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// Percent-encodes all but unreserved bytes (and `/` if `keep_slash`), upper-case hex.
fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for &b in s.as_bytes() {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `YYYYMMDDTHHMMSSZ` for a unix time (UTC), without a date library.
fn jd_timestamp(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

struct Signer {
    ak: String,
    sk: String,
    host: String,
    region: String,
    nonce_prefix: String,
    counter: AtomicU64,
    /// (yyyymmdd, service) → signing key.
    keys: Mutex<HashMap<(String, String), [u8; 32]>>,
    /// (unix second, its timestamp).
    stamp: Mutex<(u64, String)>,
}

impl Signer {
    fn new(ak: &str, sk: &str, host: &str, region: &str) -> Signer {
        // The nonce prefix must differ between load generator processes: a server on
        // PostgreSQL remembers nonces for the whole skew window, across processes. (It was
        // the high half of the clock in ns XOR the pid, which two processes a few seconds
        // apart with neighbouring pids could share: a flaky 401 "nonce has already been used".)
        let mut seed_bytes = [0u8; 8];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut seed_bytes))
            .expect("read /dev/urandom");
        let seed = u64::from_le_bytes(seed_bytes);
        Signer {
            ak: ak.into(),
            sk: sk.into(),
            host: host.into(),
            region: region.into(),
            nonce_prefix: format!("{seed:016x}"),
            counter: AtomicU64::new(0),
            keys: Mutex::new(HashMap::new()),
            stamp: Mutex::new((0, String::new())),
        }
    }

    fn timestamp(&self) -> String {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut s = self.stamp.lock().unwrap();
        if s.0 != unix {
            *s = (unix, jd_timestamp(unix));
        }
        s.1.clone()
    }

    fn signing_key(&self, date: &str, service: &str) -> [u8; 32] {
        let mut keys = self.keys.lock().unwrap();
        *keys
            .entry((date.to_string(), service.to_string()))
            .or_insert_with(|| {
                let k_date = hmac(format!("JDCLOUD2{}", self.sk).as_bytes(), date.as_bytes());
                let k_region = hmac(&k_date, self.region.as_bytes());
                let k_service = hmac(&k_region, service.as_bytes());
                hmac(&k_service, TERMINATOR.as_bytes())
            })
    }

    /// Headers for one request. `path` is sent as given; it must already be encoded the
    /// way the Go SDK sends it (`:` as `%3A`). `query` pairs hold unencoded values.
    fn sign(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: &[u8],
        service: &str,
    ) -> (String, Vec<(&'static str, String)>) {
        let timestamp = self.timestamp();
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let nonce = format!(
            "{}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            &self.nonce_prefix[..8],
            (n >> 48) & 0xffff,
            (n >> 36) & 0xfff,
            (n >> 24) & 0xfff,
            n & 0xffff_ffff_ffff
        );
        self.sign_at(method, path, query, body, service, timestamp, nonce)
    }

    #[allow(clippy::too_many_arguments)]
    fn sign_at(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: &[u8],
        service: &str,
        timestamp: String,
        nonce: String,
    ) -> (String, Vec<(&'static str, String)>) {
        let mut pairs: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (encode(k, false), encode(v, false)))
            .collect();
        pairs.sort();
        let canonical_query = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let payload_hash = if body.is_empty() {
            EMPTY_SHA256.to_string()
        } else {
            hex::encode(Sha256::digest(body))
        };
        // The path as sent is already in canonical form (decoded + re-encoded = itself).
        let canonical = format!(
            "{method}\n{path}\n{canonical_query}\ncontent-type:application/json\nhost:{}\n\
             x-jdcloud-date:{timestamp}\nx-jdcloud-nonce:{nonce}\n\n{SIGNED}\n{payload_hash}",
            self.host
        );
        let date = &timestamp[..8];
        let scope = format!("{date}/{}/{service}/{TERMINATOR}", self.region);
        let string_to_sign = format!(
            "{ALG}\n{timestamp}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let signature = hex::encode(hmac(
            &self.signing_key(date, service),
            string_to_sign.as_bytes(),
        ));
        let auth = format!(
            "{ALG} Credential={}/{scope}, SignedHeaders={SIGNED}, Signature={signature}",
            self.ak
        );
        let uri_query = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        (
            uri_query,
            vec![
                ("content-type", "application/json".into()),
                ("x-jdcloud-date", timestamp),
                ("x-jdcloud-nonce", nonce),
                ("authorization", auth),
            ],
        )
    }
}

// ---------------------------------------------------------------------------------------
// HTTP client: one keep-alive HTTP/1.1 connection per client task.

struct Client {
    addr: String,
    signer: Arc<Signer>,
    sender: Option<SendRequest<Full<Bytes>>>,
    pub reconnects: u64,
}

impl Client {
    fn new(addr: &str, signer: Arc<Signer>) -> Client {
        Client {
            addr: addr.into(),
            signer,
            sender: None,
            reconnects: 0,
        }
    }

    async fn connect(&mut self) -> Res<()> {
        let stream = TcpStream::connect(&self.addr)
            .await
            .map_err(|e| format!("connect {}: {e}", self.addr))?;
        stream.set_nodelay(true).ok();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.sender = Some(sender);
        Ok(())
    }

    /// Sends a signed request; returns (status, body).
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Res<(u16, Bytes)> {
        let body_bytes = body
            .map(|b| serde_json::to_vec(b).unwrap())
            .unwrap_or_default();
        for attempt in 0..2 {
            if self.sender.is_none() {
                if attempt > 0 || self.reconnects > 0 {
                    self.reconnects += 1;
                }
                self.connect().await?;
            }
            let sender = self.sender.as_mut().unwrap();
            if sender.ready().await.is_err() {
                self.sender = None;
                continue;
            }
            let (q, headers) = self.signer.sign(method, path, query, &body_bytes, "vm");
            let uri = if q.is_empty() {
                path.to_string()
            } else {
                format!("{path}?{q}")
            };
            let mut req = hyper::Request::builder()
                .method(method)
                .uri(uri)
                .header("host", &self.signer.host)
                .header("user-agent", "kiln-loadgen/0.1");
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let req = req
                .body(Full::new(Bytes::from(body_bytes.clone())))
                .map_err(|e| e.to_string())?;
            match sender.send_request(req).await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let bytes = resp
                        .into_body()
                        .collect()
                        .await
                        .map_err(|e| format!("body: {e}"))?
                        .to_bytes();
                    return Ok((status, bytes));
                }
                Err(e) => {
                    self.sender = None;
                    if attempt == 1 {
                        return Err(format!("request: {e}"));
                    }
                }
            }
        }
        Err("request failed twice".into())
    }
}

// ---------------------------------------------------------------------------------------
// Statistics

fn stats_ms(mut v: Vec<u32>) -> Value {
    if v.is_empty() {
        return json!({"n": 0});
    }
    v.sort_unstable();
    let pct = |p: f64| -> f64 {
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1] as f64 / 1000.0
    };
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64 / 1000.0;
    json!({
        "n": v.len(),
        "mean_ms": mean,
        "p50_ms": pct(50.0),
        "p90_ms": pct(90.0),
        "p99_ms": pct(99.0),
        "max_ms": v[v.len() - 1] as f64 / 1000.0,
    })
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

// ---------------------------------------------------------------------------------------
// Arguments

struct Args(HashMap<String, String>);

impl Args {
    fn parse(items: &[String]) -> Res<Args> {
        let mut m = HashMap::new();
        let mut it = items.iter();
        while let Some(k) = it.next() {
            let key = k
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {k}"))?;
            let v = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
            if key == "addr" {
                // Repeatable: --addr A --addr B is --addr A,B.
                m.entry(key.to_string())
                    .and_modify(|old: &mut String| {
                        old.push(',');
                        old.push_str(v);
                    })
                    .or_insert_with(|| v.clone());
            } else {
                m.insert(key.to_string(), v.clone());
            }
        }
        Ok(Args(m))
    }
    fn str(&self, k: &str) -> Res<String> {
        self.0
            .get(k)
            .cloned()
            .ok_or_else(|| format!("--{k} missing"))
    }
    fn opt(&self, k: &str) -> Option<String> {
        self.0.get(k).cloned()
    }
    fn num(&self, k: &str, default: f64) -> Res<f64> {
        match self.0.get(k) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("--{k}: not a number: {v}")),
        }
    }
}

/// The addresses of --addr (a comma list or repeated), in order.
fn addrs(args: &Args) -> Res<Vec<String>> {
    let v: Vec<String> = args
        .str("addr")?
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect();
    if v.is_empty() {
        return Err("--addr: no address".into());
    }
    Ok(v)
}

fn read_lines(path: &str) -> Res<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

// ---------------------------------------------------------------------------------------
// describe: describeImage by id, describeImages (a random page), describeInstances

#[derive(Default)]
struct WorkerOut {
    lat: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
    validated: bool,
    reconnects: u64,
}

async fn describe(args: Args, signer: Arc<Signer>) -> Res<Value> {
    let addrs = addrs(&args)?;
    let region = args.opt("region").unwrap_or_else(|| "cn-north-1".into());
    let op = args.str("op")?;
    let ids = match args.opt("ids") {
        Some(f) => read_lines(&f)?,
        None => vec![],
    };
    if op == "image" && ids.is_empty() {
        return Err("--op image needs --ids".into());
    }
    let pages = args.num("pages", 1.0)?.max(1.0) as usize;
    let page_size = args.num("page-size", 100.0)? as usize;
    let concurrency = args.num("concurrency", 1.0)? as usize;
    let duration = Duration::from_secs_f64(args.num("duration", 5.0)?);
    let warmup = Duration::from_secs_f64(args.num("warmup", 1.0)?);
    let ids = Arc::new(ids);

    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut handles = Vec::new();
    for w in 0..concurrency {
        let ids = ids.clone();
        let signer = signer.clone();
        let addr = addrs[w % addrs.len()].clone();
        let region = region.clone();
        let op = op.clone();
        handles.push(tokio::spawn(async move {
            let mut out = WorkerOut::default();
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((w as u64 + 1) * 0x1234_5678_9ABC_DEF1));
            let mut client = Client::new(&addr, signer);
            let mut first = true;
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let (path, query, want): (String, Vec<(String, String)>, Option<String>) =
                    match op.as_str() {
                        "image" => {
                            let id = &ids[rng.below(ids.len())];
                            (
                                format!("/v1/regions/{region}/images/{id}"),
                                vec![],
                                Some(id.clone()),
                            )
                        }
                        "images" => (
                            format!("/v1/regions/{region}/images"),
                            vec![
                                ("imageSource".into(), "private".into()),
                                ("pageNumber".into(), (1 + rng.below(pages)).to_string()),
                                ("pageSize".into(), page_size.to_string()),
                            ],
                            None,
                        ),
                        _ => (
                            format!("/v1/regions/{region}/instances"),
                            vec![
                                ("pageNumber".into(), (1 + rng.below(pages)).to_string()),
                                ("pageSize".into(), page_size.to_string()),
                            ],
                            None,
                        ),
                    };
                let r = client.call("GET", &path, &query, None).await;
                let t1 = Instant::now();
                match r {
                    Ok((200, body)) => {
                        if first {
                            first = false;
                            out.validated = validate(&op, &body, want.as_deref(), page_size);
                        }
                        if t0 >= measure_from && t1 <= end {
                            out.lat
                                .push((t1 - t0).as_micros().min(u32::MAX as u128) as u32);
                        }
                    }
                    Ok((status, body)) => {
                        out.errors += 1;
                        out.first_error.get_or_insert_with(|| {
                            format!("{status}: {}", String::from_utf8_lossy(&body))
                        });
                    }
                    Err(e) => {
                        out.errors += 1;
                        out.first_error.get_or_insert(e);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            out.reconnects = client.reconnects;
            out
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    let mut validated = true;
    let mut reconnects = 0;
    for h in handles {
        let o = h.await.map_err(|e| e.to_string())?;
        lat.extend(o.lat);
        errors += o.errors;
        reconnects += o.reconnects;
        validated &= o.validated;
        if first_error.is_none() {
            first_error = o.first_error;
        }
    }
    let ops = lat.len();
    Ok(json!({
        "mode": "describe",
        "op": op,
        "concurrency": concurrency,
        "duration_s": duration.as_secs_f64(),
        "ops": ops,
        "ops_per_s": ops as f64 / duration.as_secs_f64(),
        "latency": stats_ms(lat),
        "errors": errors,
        "first_error": first_error,
        "validated": validated,
        "reconnects": reconnects,
        "requests_signed": signer.counter.load(Ordering::Relaxed),
        "addrs": addrs.len(),
    }))
}

/// Checks that a response carries what was asked for.
fn validate(op: &str, body: &[u8], want: Option<&str>, page_size: usize) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    match op {
        "image" => v["result"]["image"]["imageId"].as_str() == want,
        "images" => v["result"]["images"].as_array().is_some_and(|a| {
            a.len() == page_size
                || (v["result"]["totalCount"].as_u64().unwrap_or(0) as usize) < page_size * 2
        }),
        _ => v["result"]["instances"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
    }
}

// ---------------------------------------------------------------------------------------
// create-images: createImage on a client's own instance, wait for `ready`, repeat.

type Pending = Arc<Mutex<Vec<(String, oneshot::Sender<String>)>>>;

async fn create_images(args: Args, signer: Arc<Signer>) -> Res<Value> {
    let addrs = addrs(&args)?;
    let region = args.opt("region").unwrap_or_else(|| "cn-north-1".into());
    let instances = read_lines(&args.str("instances")?)?;
    let concurrency = args.num("concurrency", 1.0)? as usize;
    if instances.len() < concurrency {
        return Err(format!(
            "{} instances for {concurrency} clients: each client needs its own",
            instances.len()
        ));
    }
    let duration = args
        .opt("duration")
        .map(|d| d.parse::<f64>().unwrap_or(5.0));
    let total = args.opt("total").map(|t| t.parse::<u64>().unwrap_or(1));
    let poll = Duration::from_secs_f64(args.num("poll-ms", 5.0)? / 1000.0);
    let timeout = Duration::from_secs_f64(args.num("timeout", 120.0)?);
    let prefix = args.opt("name-prefix").unwrap_or_else(|| "bench".into());
    let ids_out = args.opt("ids-out");
    let rate = match args.opt("rate") {
        Some(r) => Some(
            r.parse::<f64>()
                .ok()
                .filter(|r| *r > 0.0)
                .ok_or(format!("--rate {r}: a positive number of calls per second"))?,
        ),
        None => None,
    };
    // The next due call's number (open loop only).
    let due = Arc::new(AtomicU64::new(0));

    let pending: Pending = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicBool::new(false));
    let issued = Arc::new(AtomicU64::new(0));
    let polls = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = duration.map(|d| start + Duration::from_secs_f64(d));

    // One poller for all clients: describeImages filtered by the pending ids, every
    // `poll`, so that waiting costs the server one request per interval, not one per image.
    let poller = {
        let pending = pending.clone();
        let done = done.clone();
        let polls = polls.clone();
        // The poller is one more connection: it goes to the address after the clients'.
        let mut client = Client::new(&addrs[concurrency % addrs.len()], signer.clone());
        let region = region.clone();
        tokio::spawn(async move {
            let mut poll_errors = 0u64;
            while !done.load(Ordering::Relaxed) {
                tokio::time::sleep(poll).await;
                let ids: Vec<String> = {
                    let p = pending.lock().unwrap();
                    p.iter().take(100).map(|(id, _)| id.clone()).collect()
                };
                if ids.is_empty() {
                    continue;
                }
                let mut query: Vec<(String, String)> = ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| (format!("ids.{}", i + 1), id.clone()))
                    .collect();
                query.push(("pageSize".into(), "100".into()));
                polls.fetch_add(1, Ordering::Relaxed);
                let path = format!("/v1/regions/{region}/images");
                let Ok((200, body)) = client.call("GET", &path, &query, None).await else {
                    poll_errors += 1;
                    continue;
                };
                let Ok(v) = serde_json::from_slice::<Value>(&body) else {
                    poll_errors += 1;
                    continue;
                };
                let mut finished: HashMap<String, String> = HashMap::new();
                for img in v["result"]["images"].as_array().into_iter().flatten() {
                    let status = img["status"].as_str().unwrap_or("");
                    if status == "ready" || status == "error" {
                        finished.insert(
                            img["imageId"].as_str().unwrap_or("").to_string(),
                            status.to_string(),
                        );
                    }
                }
                if finished.is_empty() {
                    continue;
                }
                let mut p = pending.lock().unwrap();
                let mut keep = Vec::with_capacity(p.len());
                for (id, tx) in p.drain(..) {
                    match finished.get(&id) {
                        Some(s) => {
                            let _ = tx.send(s.clone());
                        }
                        None => keep.push((id, tx)),
                    }
                }
                *p = keep;
            }
            poll_errors
        })
    };

    let mut handles = Vec::new();
    for w in 0..concurrency {
        // Client w owns instances w, w+C, w+2C, … and uses them in turn.
        let mine: Vec<String> = instances
            .iter()
            .skip(w)
            .step_by(concurrency)
            .cloned()
            .collect();
        let signer = signer.clone();
        let addr = addrs[w % addrs.len()].clone();
        let region = region.clone();
        let pending = pending.clone();
        let issued = issued.clone();
        let due = due.clone();
        let prefix = prefix.clone();
        handles.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            let mut ready = Vec::new();
            let mut errors = 0u64;
            let mut failed_images = 0u64;
            let mut first_error: Option<String> = None;
            let mut last_ready = start;
            let mut ids = Vec::new();
            let mut consecutive = 0;
            let mut client = Client::new(&addr, signer);
            let mut n = 0u64;
            loop {
                if let Some(d) = deadline {
                    if Instant::now() >= d {
                        break;
                    }
                }
                if let Some(t) = total {
                    if issued.fetch_add(1, Ordering::Relaxed) >= t {
                        break;
                    }
                }
                let instance = &mine[(n as usize) % mine.len()];
                let path = format!("/v1/regions/{region}/instances/{instance}%3AcreateImage");
                n += 1;
                let body = json!({ "name": format!("{prefix}-{w}-{n}") });
                let t0 = match rate {
                    Some(r) => {
                        let k = due.fetch_add(1, Ordering::Relaxed);
                        let at = start + Duration::from_secs_f64(k as f64 / r);
                        if deadline.is_some_and(|d| at >= d) {
                            break;
                        }
                        if Instant::now() < at {
                            // Free before the call is due: it starts when sent (the
                            // timer's own lateness is not the server's).
                            tokio::time::sleep_until(at.into()).await;
                            Instant::now()
                        } else {
                            // Every client was busy when it fell due: the wait counts.
                            at
                        }
                    }
                    None => Instant::now(),
                };
                let r = client.call("POST", &path, &[], Some(&body)).await;
                let t1 = Instant::now();
                let id = match r {
                    Ok((200, b)) => serde_json::from_slice::<Value>(&b)
                        .ok()
                        .and_then(|v| v["result"]["imageId"].as_str().map(str::to_string)),
                    Ok((status, b)) => {
                        first_error.get_or_insert_with(|| {
                            format!("{status}: {}", String::from_utf8_lossy(&b))
                        });
                        None
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                        None
                    }
                };
                let Some(id) = id else {
                    errors += 1;
                    consecutive += 1;
                    if consecutive >= 20 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                consecutive = 0;
                accepted.push((t1 - t0).as_micros() as u32);
                let (tx, rx) = oneshot::channel();
                pending.lock().unwrap().push((id.clone(), tx));
                match tokio::time::timeout(timeout, rx).await {
                    Ok(Ok(status)) if status == "ready" => {
                        let t2 = Instant::now();
                        ready.push((t2 - t0).as_micros() as u32);
                        last_ready = t2;
                        ids.push(id);
                    }
                    Ok(Ok(_)) => {
                        failed_images += 1;
                        first_error.get_or_insert(format!("image {id} ended in error"));
                    }
                    _ => {
                        errors += 1;
                        first_error.get_or_insert(format!("image {id} not ready in time"));
                        break;
                    }
                }
            }
            (
                accepted,
                ready,
                errors,
                failed_images,
                first_error,
                last_ready,
                ids,
            )
        }));
    }
    let mut accepted = Vec::new();
    let mut ready = Vec::new();
    let mut errors = 0;
    let mut failed_images = 0;
    let mut first_error = None;
    let mut last_ready = start;
    let mut all_ids = Vec::new();
    for h in handles {
        let (a, r, e, f, fe, lr, ids) = h.await.map_err(|e| e.to_string())?;
        accepted.extend(a);
        ready.extend(r);
        errors += e;
        failed_images += f;
        if first_error.is_none() {
            first_error = fe;
        }
        last_ready = last_ready.max(lr);
        all_ids.extend(ids);
    }
    done.store(true, Ordering::Relaxed);
    let poll_errors = poller.await.unwrap_or(0);
    let elapsed = (last_ready - start).as_secs_f64().max(1e-9);
    if let Some(path) = ids_out {
        let mut text = all_ids.join("\n");
        text.push('\n');
        std::fs::write(&path, text).map_err(|e| format!("{path}: {e}"))?;
    }
    let n_ready = ready.len();
    let n_accepted = accepted.len();
    Ok(json!({
        "mode": "create-images",
        "concurrency": concurrency,
        "images_accepted": n_accepted,
        "images_ready": n_ready,
        "elapsed_s": elapsed,
        "images_per_s": n_ready as f64 / elapsed,
        "accepted": stats_ms(accepted),
        "ready": stats_ms(ready),
        "errors": errors,
        "failed_images": failed_images,
        "first_error": first_error,
        "polls": polls.load(Ordering::Relaxed),
        "poll_errors": poll_errors,
        "poll_ms": poll.as_secs_f64() * 1000.0,
        "rate": rate,
        "requests_signed": signer.counter.load(Ordering::Relaxed),
        "addrs": addrs.len(),
    }))
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = argv.first().cloned() else {
        eprintln!(
            "usage: kiln-loadgen describe|create-images --addr HOST:PORT --ak AK --sk SK ..."
        );
        std::process::exit(2);
    };
    let args = match Args::parse(&argv[1..]) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("kiln-loadgen: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let result = rt.block_on(async {
        let host = addrs(&args)?.remove(0);
        let signer = Arc::new(Signer::new(
            &args.str("ak")?,
            &args.str("sk")?,
            &host,
            &args.opt("region").unwrap_or_else(|| "cn-north-1".into()),
        ));
        match cmd.as_str() {
            "describe" => describe(args, signer).await,
            "create-images" => create_images(args, signer).await,
            other => Err(format!("unknown subcommand {other}")),
        }
    });
    match result {
        Ok(v) => println!("{v}"),
        Err(e) => {
            eprintln!("kiln-loadgen: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(jd_timestamp(0), "19700101T000000Z");
        assert_eq!(jd_timestamp(1_522_890_123), "20180405T010203Z");
        assert_eq!(jd_timestamp(1_709_251_199), "20240229T235959Z");
    }

    /// Spec §2.4 C: the Go-style v2 signature of the PYSDK createImage example.
    #[test]
    fn go_style_vector() {
        let s = Signer::new("TESTAK", "TESTSK", "vm.jdcloud-api.com", "cn-north-1");
        let (_, headers) = s.sign_at(
            "POST",
            "/v1/regions/cn-north-1/instances/i-abc%3AcreateImage",
            &[],
            br#"{"name":"img1"}"#,
            "vm",
            "20240101T000000Z".into(),
            "11111111-2222-3333-4444-555555555555".into(),
        );
        let auth = &headers
            .iter()
            .find(|(k, _)| *k == "authorization")
            .unwrap()
            .1;
        assert!(auth.starts_with(
            "JDCLOUD2-HMAC-SHA256 Credential=TESTAK/20240101/cn-north-1/vm/jdcloud2_request, \
             SignedHeaders=content-type;host;x-jdcloud-date;x-jdcloud-nonce, Signature="
        ));
        assert!(auth.ends_with("d24b03369fd9b30fd2e6efb87bfd8235cb26f0c6ccd95f65eab2f7b22b9f3a59"));
    }
}
