//! Resource ids in JD Cloud's shapes: `i-…`, `vol-…`, `snapshot-…`, `img-…`, `vpc-…`,
//! `subnet-…`, `sg-…`, `fip-…` (elastic IPs), `port-…` (network interfaces), and 32-char
//! request ids, all lowercase alphanumerics.

use rand::distributions::{Distribution, Uniform};

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

pub fn random_suffix(len: usize) -> String {
    let mut rng = rand::thread_rng();
    let pick = Uniform::from(0..ALPHABET.len());
    (0..len)
        .map(|_| ALPHABET[pick.sample(&mut rng)] as char)
        .collect()
}

pub fn instance_id() -> String {
    format!("i-{}", random_suffix(10))
}
pub fn disk_id() -> String {
    format!("vol-{}", random_suffix(10))
}
pub fn local_disk_id() -> String {
    format!("local-{}", random_suffix(10))
}
pub fn snapshot_id() -> String {
    format!("snapshot-{}", random_suffix(10))
}
pub fn image_id() -> String {
    format!("img-{}", random_suffix(10))
}
pub fn vpc_id() -> String {
    format!("vpc-{}", random_suffix(10))
}
pub fn subnet_id() -> String {
    format!("subnet-{}", random_suffix(10))
}
pub fn security_group_id() -> String {
    format!("sg-{}", random_suffix(10))
}
pub fn security_group_rule_id() -> String {
    format!("sgr-{}", random_suffix(10))
}
pub fn elastic_ip_id() -> String {
    format!("fip-{}", random_suffix(10))
}
pub fn network_interface_id() -> String {
    format!("port-{}", random_suffix(10))
}
pub fn layer_id() -> String {
    format!("lyr-{}", random_suffix(16))
}
pub fn task_id() -> String {
    format!("task-{}", random_suffix(16))
}
pub fn request_id() -> String {
    random_suffix(32)
}

#[cfg(test)]
mod tests {
    #[test]
    fn shapes() {
        assert_eq!(super::request_id().len(), 32);
        assert!(super::instance_id().starts_with("i-"));
        assert!(super::request_id()
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    }
}
