//! Key material of key pairs, without JD's rules around it: a new RSA key for createKeypair,
//! an OpenSSH public key read for importKeypair, and the fingerprint JD shows for both
//! (RFC 4716: MD5 of the public key blob, `xx:xx:…`, what `ssh-keygen -l -E md5` prints after
//! `MD5:`).

use md5::{Digest, Md5};
use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use ssh_key::public::{KeyData, RsaPublicKey};
use ssh_key::{Mpint, PublicKey};

/// The size of the RSA keys createKeypair makes.
pub const RSA_BITS: usize = 2048;

/// RSA moduli OpenSSH accepts (`SSH_RSA_MINIMUM_MODULUS_SIZE` and `OPENSSL_RSA_MAX_MODULUS_BITS`).
const RSA_MODULUS_BITS: std::ops::RangeInclusive<usize> = 1024..=16384;

/// A public key Kiln accepts, checked: `ssh-rsa`, `ssh-ed25519` or `ecdsa-sha2-nistp*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshPublicKey(PublicKey);

impl SshPublicKey {
    /// Reads one OpenSSH public key line (`type base64 [comment]`); the reason it is not one
    /// otherwise, in words for the caller.
    pub fn parse(text: &str) -> Result<SshPublicKey, String> {
        let line = text.trim();
        if line.is_empty() {
            return Err("empty".into());
        }
        if line.contains(['\n', '\r']) {
            return Err("one key on one line expected".into());
        }
        let key = PublicKey::from_openssh(line).map_err(|e| {
            format!("not an OpenSSH public key (`ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp256 AAAA… [comment]`): {e}")
        })?;
        match key.key_data() {
            KeyData::Rsa(rsa) => check_rsa(rsa)?,
            KeyData::Ed25519(_) | KeyData::Ecdsa(_) => {}
            _ => {
                return Err(format!(
                    "key type '{}' is not supported (ssh-rsa, ssh-ed25519, ecdsa-sha2-nistp256/384/521 are)",
                    key.algorithm()
                ))
            }
        }
        Ok(SshPublicKey(key))
    }

    /// `type base64 [comment]`, as stored and as written to `authorized_keys`.
    pub fn openssh(&self) -> String {
        // Encoding a key that was decoded (or built from a valid RSA key) cannot fail.
        self.0.to_openssh().expect("encode a valid public key")
    }

    /// RFC 4716 fingerprint: MD5 of the key blob as lowercase hex pairs joined by `:`.
    pub fn md5_fingerprint(&self) -> String {
        let blob = self.0.to_bytes().expect("encode a valid public key");
        let digest = Md5::digest(&blob);
        let pairs: Vec<String> = digest.iter().map(|b| format!("{b:02x}")).collect();
        pairs.join(":")
    }
}

fn check_rsa(rsa: &RsaPublicKey) -> Result<(), String> {
    let bits = |m: &Mpint| {
        m.as_positive_bytes().map(|b| match b.first() {
            Some(&first) => b.len() * 8 - first.leading_zeros() as usize,
            None => 0,
        })
    };
    match (bits(&rsa.e), bits(&rsa.n)) {
        (Some(e), Some(n)) if e > 0 && RSA_MODULUS_BITS.contains(&n) => Ok(()),
        (Some(_), Some(n)) if n > 0 => Err(format!(
            "an RSA modulus of {n} bits; {}–{} bits are accepted",
            RSA_MODULUS_BITS.start(),
            RSA_MODULUS_BITS.end()
        )),
        _ => Err("the RSA exponent and modulus must be positive".into()),
    }
}

/// A key pair made by Kiln. The private half lives only until it is answered.
pub struct NewKeypair {
    /// PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`), as JD's createKeypair example shows
    /// it; `ssh-keygen -y -f` and OpenSSH read it.
    pub private_pem: zeroize::Zeroizing<String>,
    pub public: SshPublicKey,
}

/// A new RSA key of [`RSA_BITS`]. CPU-bound (a prime search): run it off the async threads.
pub fn generate_rsa() -> Result<NewKeypair, String> {
    let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, RSA_BITS)
        .map_err(|e| format!("RSA key generation: {e}"))?;
    let private_pem = private
        .to_pkcs1_pem(LineEnding::LF)
        .map_err(|e| format!("RSA key encoding: {e}"))?;
    let mpint = |n: &rsa::BigUint| {
        Mpint::from_positive_bytes(&n.to_bytes_be()).map_err(|e| format!("RSA public key: {e}"))
    };
    let data = KeyData::Rsa(RsaPublicKey {
        e: mpint(private.e())?,
        n: mpint(private.n())?,
    });
    Ok(NewKeypair {
        private_pem,
        public: SshPublicKey(PublicKey::new(data, "")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `ssh-keygen -t ed25519 -C me@host`, and its `ssh-keygen -l -E md5`.
    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti foo@bar.com";

    #[test]
    fn reads_and_writes_openssh_lines() {
        let k = SshPublicKey::parse(&format!("  {ED25519}\n")).unwrap();
        assert_eq!(k.openssh(), ED25519);
        let fp = k.md5_fingerprint();
        assert_eq!(fp.len(), 16 * 3 - 1);
        assert!(fp
            .split(':')
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit())));
    }

    #[test]
    fn refuses_what_is_no_public_key() {
        for bad in [
            "",
            "   ",
            "ssh-rsa",
            "ssh-rsa not-base64!!",
            "hello world",
            "-----BEGIN RSA PRIVATE KEY-----",
            // the blob says ed25519, the text rsa
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti",
            // cut short
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZ",
        ] {
            assert!(SshPublicKey::parse(bad).is_err(), "{bad:?} accepted");
        }
        let two = format!("{ED25519}\n{ED25519}");
        assert!(SshPublicKey::parse(&two).is_err());
    }

    #[test]
    fn generated_keys_are_rsa_2048_with_a_pem_private_half() {
        let k = generate_rsa().unwrap();
        assert!(k
            .private_pem
            .starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        assert!(k
            .private_pem
            .trim_end()
            .ends_with("-----END RSA PRIVATE KEY-----"));
        let line = k.public.openssh();
        assert!(line.starts_with("ssh-rsa AAAA"), "{line}");
        // What Kiln wrote, it reads back the same.
        let again = SshPublicKey::parse(&line).unwrap();
        assert_eq!(again.md5_fingerprint(), k.public.md5_fingerprint());
        let KeyData::Rsa(rsa) = again.0.key_data() else {
            panic!("not RSA")
        };
        check_rsa(rsa).unwrap();
        assert_eq!(rsa.n.as_positive_bytes().unwrap().len(), RSA_BITS / 8);
    }

    proptest! {
        /// Any text: an answer, never a panic.
        #[test]
        fn parsing_never_panics(s in ".{0,300}") {
            let _ = SshPublicKey::parse(&s);
        }

        /// Text shaped like a key line (a known type, base64-ish data, a comment).
        #[test]
        fn key_shaped_text_never_panics(
            kind in "(ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp256|ssh-dss|sk-ssh-ed25519@openssh.com)",
            data in "AAAA[A-Za-z0-9+/]{0,400}={0,2}",
            comment in "[ -~]{0,30}",
        ) {
            let _ = SshPublicKey::parse(&format!("{kind} {data} {comment}"));
        }

        /// A real key with bytes of its blob changed: refused or read, never a panic.
        #[test]
        fn corrupted_keys_never_panic(at in 0usize..68, byte in any::<u8>()) {
            use base64::Engine;
            let b64 = ED25519.split(' ').nth(1).unwrap();
            let mut blob = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
            let i = at % blob.len();
            blob[i] = byte;
            let text = format!("ssh-ed25519 {}", base64::engine::general_purpose::STANDARD.encode(&blob));
            let _ = SshPublicKey::parse(&text);
        }
    }
}
