//! Downloads of `http(s)://` import sources, only from addresses the operator allows.
//!
//! importImage fetches whatever URL a tenant names, from the server's own network position:
//! without a check, `http://169.254.169.254/…` (a cloud's metadata service) or an internal
//! host would be read into an image the tenant can then read back. So each host is resolved
//! once, every address it resolves to is checked, and the connection goes to the checked
//! address (the name is never resolved a second time by the HTTP client, so a DNS answer
//! cannot change between check and connect). Redirects are followed here, hop by hop, each
//! checked the same way.
//!
//! The rule: link-local addresses (169.254.0.0/16, fe80::/10) are always refused. When the
//! server listens on a non-loopback address, loopback, private, shared (CGNAT) and
//! unspecified addresses are refused too: a server on 127.0.0.1 serves its own host only,
//! and importing from it is how tests and single-host set-ups feed it. `--import-allow CIDR`
//! opens a range (never link-local).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;
use tokio::io::AsyncWriteExt;

/// Redirects followed at most, as browsers and curl do.
const MAX_REDIRECTS: usize = 10;
/// How long a whole download may take.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(3600);
/// How long the call waits for a source's announced size.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The URL or an address it leads to is not allowed: the call is refused.
    #[error("{0}")]
    Refused(String),
    /// The transfer failed (connection, HTTP status, local write).
    #[error("{0}")]
    Failed(String),
}

/// Which addresses imports may reach (see the module doc).
#[derive(Debug, Clone)]
pub struct AddressPolicy {
    /// The server listens on a loopback address only.
    loopback_listener: bool,
    /// Ranges the operator opened with `--import-allow`.
    allow: Vec<IpNet>,
}

/// Why an address is not allowed by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    LinkLocal,
    /// Loopback, private, shared and unspecified: this host or its network.
    Internal(&'static str),
    Public,
}

fn classify(ip: IpAddr) -> Class {
    // An IPv4 address written as IPv6 (::ffff:a.b.c.d) is that IPv4 address.
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let shared = v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64;
            if v4.is_link_local() {
                Class::LinkLocal
            } else if v4.is_loopback() {
                Class::Internal("loopback")
            } else if v4.is_private() || shared {
                Class::Internal("private")
            } else if v4.is_unspecified() || v4.octets()[0] == 0 || v4.is_broadcast() {
                // 0.0.0.0/8 reaches this host on Linux.
                Class::Internal("this host")
            } else {
                Class::Public
            }
        }
        IpAddr::V6(v6) => {
            let seg0 = v6.segments()[0];
            if (seg0 & 0xffc0) == 0xfe80 {
                Class::LinkLocal
            } else if v6.is_loopback() {
                Class::Internal("loopback")
            } else if (seg0 & 0xfe00) == 0xfc00 {
                Class::Internal("private")
            } else if v6.is_unspecified() {
                Class::Internal("this host")
            } else {
                Class::Public
            }
        }
    }
}

impl AddressPolicy {
    /// The policy of a server listening on `listen` with `allow` opened.
    pub fn new(listen: IpAddr, allow: Vec<IpNet>) -> AddressPolicy {
        AddressPolicy {
            loopback_listener: listen.is_loopback(),
            allow,
        }
    }

    /// Whether an import may connect to `ip`; the reason when not.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        let ip = ip.to_canonical();
        match classify(ip) {
            Class::LinkLocal => Err(format!(
                "{ip} is a link-local address (such as a cloud metadata service); Kiln never imports from one"
            )),
            Class::Public => Ok(()),
            Class::Internal(_) if self.loopback_listener => Ok(()),
            Class::Internal(_) if self.allow.iter().any(|net| net.contains(&ip)) => Ok(()),
            Class::Internal(kind) => Err(format!(
                "{ip} is a {kind} address and this server listens on a non-loopback address \
                 (kiln serve --import-allow CIDR opens a range)"
            )),
        }
    }

    /// Resolves the URL's host once and checks every address it resolves to; the address
    /// to connect to.
    pub async fn resolve(&self, url: &reqwest::Url) -> Result<SocketAddr, DownloadError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(DownloadError::Refused(format!(
                "{}:// is not an import scheme (http, https)",
                url.scheme()
            )));
        }
        let host = url
            .host_str()
            .ok_or_else(|| DownloadError::Refused("the URL has no host".into()))?;
        let port = url.port_or_known_default().unwrap_or(80);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((bare, port))
                .await
                .map_err(|e| DownloadError::Refused(format!("cannot resolve {host}: {e}")))?
                .collect(),
        };
        let first = *addrs
            .first()
            .ok_or_else(|| DownloadError::Refused(format!("{host} resolves to no address")))?;
        // Every answer must pass: a name that also resolves to a refused address is refused.
        for a in &addrs {
            self.check_ip(a.ip()).map_err(DownloadError::Refused)?;
        }
        Ok(first)
    }

    /// Checks a URL before a task is made for it (the call's own answer).
    pub async fn check_url(&self, url: &str) -> Result<(), DownloadError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| DownloadError::Refused(format!("not a URL: {e}")))?;
        self.resolve(&parsed).await.map(|_| ())
    }

    /// Sends `method` to `url`, following redirects, every hop checked; the final answer.
    async fn follow(
        &self,
        method: reqwest::Method,
        url: &str,
        timeout: Duration,
    ) -> Result<reqwest::Response, DownloadError> {
        let fail =
            |e: &dyn std::fmt::Display| DownloadError::Failed(format!("downloading {url}: {e}"));
        let mut current = reqwest::Url::parse(url).map_err(|e| fail(&e))?;
        for _ in 0..=MAX_REDIRECTS {
            let addr = self.resolve(&current).await?;
            let host = current.host_str().unwrap_or_default().to_string();
            // The checked address, and no other: no second resolution, no proxy.
            let client = reqwest::Client::builder()
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .resolve(&host, addr)
                .build()
                .map_err(|e| fail(&e))?;
            let r = client
                .request(method.clone(), current.clone())
                .send()
                .await
                .map_err(|e| fail(&e))?;
            if !r.status().is_redirection() {
                return Ok(r);
            }
            let location = r
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| fail(&format!("{} without a Location", r.status())))?;
            current = current.join(location).map_err(|e| fail(&e))?;
        }
        Err(fail(&format!("more than {MAX_REDIRECTS} redirects")))
    }

    /// The size the server announces for `url` (HEAD's Content-Length), if it announces
    /// one within a few seconds; `None` when it cannot be known this way.
    pub async fn announced_length(&self, url: &str) -> Result<Option<u64>, DownloadError> {
        match self.follow(reqwest::Method::HEAD, url, HEAD_TIMEOUT).await {
            Ok(r) if r.status().is_success() => Ok(r
                .headers()
                .get(reqwest::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())),
            Ok(_) | Err(DownloadError::Failed(_)) => Ok(None),
            Err(refused) => Err(refused),
        }
    }

    /// Downloads `url` into `dest`, following redirects, every hop checked. A download
    /// that fails removes what it wrote: a partial file must not hold the disk full until
    /// the next restart.
    pub async fn download(&self, url: &str, dest: &Path) -> Result<(), DownloadError> {
        let result = self.download_into(url, dest).await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(dest).await;
        }
        result
    }

    async fn download_into(&self, url: &str, dest: &Path) -> Result<(), DownloadError> {
        let fail =
            |e: &dyn std::fmt::Display| DownloadError::Failed(format!("downloading {url}: {e}"));
        let mut resp = self
            .follow(reqwest::Method::GET, url, DOWNLOAD_TIMEOUT)
            .await?;
        if !resp.status().is_success() {
            return Err(fail(&resp.status()));
        }
        let mut file = tokio::fs::File::create(dest).await.map_err(|e| fail(&e))?;
        while let Some(chunk) = resp.chunk().await.map_err(|e| fail(&e))? {
            file.write_all(&chunk).await.map_err(|e| fail(&e))?;
        }
        file.flush().await.map_err(|e| fail(&e))?;
        Ok(())
    }
}

impl Default for AddressPolicy {
    /// A server on loopback with nothing opened (the default `--listen`).
    fn default() -> Self {
        AddressPolicy::new(IpAddr::V4(Ipv4Addr::LOCALHOST), vec![])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn public_listener(allow: &[&str]) -> AddressPolicy {
        AddressPolicy::new(
            "10.0.0.5".parse().unwrap(),
            allow.iter().map(|c| c.parse().unwrap()).collect(),
        )
    }

    fn ok(p: &AddressPolicy, ip: &str) -> bool {
        p.check_ip(ip.parse().unwrap()).is_ok()
    }

    #[test]
    fn link_local_is_always_refused() {
        let everything = public_listener(&["0.0.0.0/0", "::/0"]);
        for p in [AddressPolicy::default(), everything] {
            for ip in [
                "169.254.169.254",
                "169.254.0.1",
                "fe80::1",
                "::ffff:169.254.169.254",
            ] {
                assert!(!ok(&p, ip), "{ip}");
            }
        }
    }

    #[test]
    fn a_loopback_server_may_import_from_its_own_host_and_network() {
        let p = AddressPolicy::default();
        for ip in [
            "127.0.0.1",
            "::1",
            "10.1.2.3",
            "192.168.0.1",
            "93.184.216.34",
        ] {
            assert!(ok(&p, ip), "{ip}");
        }
    }

    #[test]
    fn a_public_server_refuses_internal_ranges_unless_opened() {
        let p = public_listener(&[]);
        for ip in [
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "fd00::1",
            "::",
            "::ffff:127.0.0.1",
        ] {
            assert!(!ok(&p, ip), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "2001:db8::1",
            "8.8.8.8",
        ] {
            assert!(ok(&p, ip), "{ip}");
        }
        let opened = public_listener(&["10.1.0.0/16", "::1/128"]);
        assert!(ok(&opened, "10.1.2.3"));
        assert!(ok(&opened, "::1"));
        assert!(!ok(&opened, "10.2.0.1"));
        assert!(!ok(&opened, "127.0.0.1"));
    }

    #[tokio::test]
    async fn urls_are_checked_by_every_address_they_resolve_to() {
        let p = public_listener(&[]);
        for url in [
            "http://169.254.169.254/latest/meta-data",
            "http://[fe80::1]/x",
            "http://127.0.0.1:9/a.qcow2",
            "http://localhost:9/a.qcow2",
            "ftp://93.184.216.34/a",
            "http:///nohost",
        ] {
            assert!(
                matches!(p.check_url(url).await, Err(DownloadError::Refused(_))),
                "{url}"
            );
        }
        assert!(p.check_url("http://93.184.216.34/a.qcow2").await.is_ok());
        assert!(AddressPolicy::default()
            .check_url("https://127.0.0.1:9/a")
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn a_failed_download_leaves_no_partial_file() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            if let Ok((mut conn, _)) = listener.accept() {
                let mut buf = [0u8; 2048];
                let _ = conn.read(&mut buf);
                // Announces 1 MiB, sends 64 KiB, hangs up.
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n");
                let _ = conn.write_all(&[7u8; 65536]);
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("lyr-x.download");
        let url = format!("http://127.0.0.1:{port}/cut.qcow2");
        let err = AddressPolicy::default()
            .download(&url, &dest)
            .await
            .unwrap_err();
        assert!(matches!(err, DownloadError::Failed(_)), "{err}");
        assert!(!dest.exists(), "the partial download stayed");
    }

    proptest! {
        #[test]
        fn no_ipv4_in_169_254_passes_any_policy(b in any::<u16>(), mapped in any::<bool>()) {
            let v4 = Ipv4Addr::new(169, 254, (b >> 8) as u8, b as u8);
            let ip = if mapped { IpAddr::V6(v4.to_ipv6_mapped()) } else { IpAddr::V4(v4) };
            prop_assert!(AddressPolicy::default().check_ip(ip).is_err());
            prop_assert!(public_listener(&["0.0.0.0/0"]).check_ip(ip).is_err());
        }

        #[test]
        fn a_public_server_admits_an_internal_address_only_inside_an_opened_range(
            a in any::<u32>(), prefix in 8u8..=32,
        ) {
            let ip = IpAddr::V4(Ipv4Addr::from(a));
            let net: IpNet = format!("10.0.0.0/{prefix}").parse().unwrap();
            let p = AddressPolicy::new("192.0.2.1".parse().unwrap(), vec![net]);
            let verdict = p.check_ip(ip).is_ok();
            let expected = match classify(ip) {
                Class::LinkLocal => false,
                Class::Public => true,
                Class::Internal(_) => net.contains(&ip),
            };
            prop_assert_eq!(verdict, expected);
        }
    }
}
