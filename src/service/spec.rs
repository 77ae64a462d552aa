//! Request specs shared by several APIs (DiskSpec, InstanceDiskAttachmentSpec) and the
//! documented rules for disk types, sizes, iops and device names (spec §5).

/// DiskSpec as a client sent it; every field optional, rules applied by each API.
#[derive(Debug, Clone, Default)]
pub struct DiskSpecInput {
    pub az: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub disk_type: Option<String>,
    pub disk_size_gb: Option<i64>,
    pub iops: Option<i64>,
    pub snapshot_id: Option<String>,
    pub multi_attachable: Option<bool>,
    pub encrypt: Option<bool>,
    pub charge_mode: Option<String>,
}

/// InstanceDiskAttachmentSpec as a client sent it.
#[derive(Debug, Clone, Default)]
pub struct AttachmentSpecInput {
    pub disk_category: Option<String>,
    pub auto_delete: Option<bool>,
    pub cloud_disk_spec: Option<DiskSpecInput>,
    pub device_name: Option<String>,
    pub no_device: Option<bool>,
}

pub const DISK_TYPES: &[&str] = &[
    "ssd",
    "premium-hdd",
    "ssd.gp1",
    "ssd.io1",
    "hdd.std1",
    "ssd.gp2",
    "ssd.io2",
];

pub fn is_disk_type(t: &str) -> bool {
    DISK_TYPES.contains(&t)
}

/// Size range in GiB for a disk type; every type steps by 10.
pub fn size_range(disk_type: &str) -> (i64, i64) {
    match disk_type {
        "ssd" => (20, 1000),
        "premium-hdd" => (20, 3000),
        _ => (20, 16000),
    }
}

pub fn size_ok(disk_type: &str, size_gb: i64) -> bool {
    let (lo, hi) = size_range(disk_type);
    (lo..=hi).contains(&size_gb) && size_gb % 10 == 0
}

/// System disks (cloud) are 40–500 GiB.
pub fn system_size_ok(size_gb: i64) -> bool {
    (40..=500).contains(&size_gb) && size_gb % 10 == 0
}

/// IOPS are settable only for `ssd.io1`: step 10, in [200, min(32000, 50×size)].
pub fn iops_ok(size_gb: i64, iops: i64) -> bool {
    let max = (size_gb * 50).min(32000);
    iops % 10 == 0 && (200..=max).contains(&iops)
}

pub fn default_iops(disk_type: &str, size_gb: i64) -> i64 {
    match disk_type {
        "ssd.io1" | "ssd.io2" => (size_gb * 30).min(32000),
        "ssd.gp1" | "ssd.gp2" | "ssd" => (1800 + size_gb * 50).min(20000),
        _ => (500 + size_gb * 2).min(5000),
    }
}

/// Data-disk device names `vdb`…`vdbm` (64 names, bijective base 26 after `vd`).
pub fn is_data_device_name(name: &str) -> bool {
    let Some(s) = name.strip_prefix("vd") else {
        return false;
    };
    let b = s.as_bytes();
    match b.len() {
        1 => (b'b'..=b'z').contains(&b[0]),
        2 => match b[0] {
            b'a' => b[1].is_ascii_lowercase(),
            b'b' => (b'a'..=b'm').contains(&b[1]),
            _ => false,
        },
        _ => false,
    }
}

/// Device names in attach order: `vdb`, `vdc`, … `vdz`, `vdaa`, … `vdbm`.
pub fn data_device_names() -> impl Iterator<Item = String> {
    let singles = (b'b'..=b'z').map(|c| format!("vd{}", c as char));
    let a = (b'a'..=b'z').map(|c| format!("vda{}", c as char));
    let b = (b'a'..=b'm').map(|c| format!("vdb{}", c as char));
    singles.chain(a).chain(b)
}

fn is_cjk(c: char) -> bool {
    ('\u{4e00}'..='\u{9fa5}').contains(&c)
}

/// Disk names: Chinese, digits, letters, `_`, `-`; 1–32 characters.
pub fn disk_name_ok(name: &str) -> bool {
    let n = name.chars().count();
    (1..=32).contains(&n)
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || is_cjk(c))
}

/// Instance names: 2–128 of Chinese, digits, letters, `_`, `-`, `.`; not starting or
/// ending with `.`.
pub fn instance_name_ok(name: &str) -> bool {
    let n = name.chars().count();
    (2..=128).contains(&n)
        && !name.starts_with('.')
        && !name.ends_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c) || is_cjk(c))
}

/// Image names (createImage): 2–32 of Chinese, digits, letters, `_`, `-`, `.`.
pub fn image_name_ok(name: &str) -> bool {
    let n = name.chars().count();
    (2..=32).contains(&n)
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c) || is_cjk(c))
}

/// Hostnames: 2–64 of letters, digits, `-` and `.`, starting and ending with a letter or
/// digit (JD's Linux rule).
pub fn hostname_ok(h: &str) -> bool {
    let n = h.chars().count();
    (2..=64).contains(&n)
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && h.starts_with(|c: char| c.is_ascii_alphanumeric())
        && h.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Instance passwords: 8–30 characters of at least three of: upper-case letters,
/// lower-case letters, digits, and the special characters JD allows.
pub fn password_ok(p: &str) -> bool {
    const SPECIAL: &str = "()`~!@#$%^&*_-+=|{}[]:;'<>,.?/";
    let n = p.chars().count();
    let classes = [
        p.chars().any(|c| c.is_ascii_uppercase()),
        p.chars().any(|c| c.is_ascii_lowercase()),
        p.chars().any(|c| c.is_ascii_digit()),
        p.chars().any(|c| SPECIAL.contains(c)),
    ];
    (8..=30).contains(&n)
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || SPECIAL.contains(c))
        && classes.iter().filter(|x| **x).count() >= 3
}

pub fn description_ok(d: &str) -> bool {
    d.chars().count() <= 256
}

pub fn client_token_ok(t: &str) -> bool {
    !t.is_empty() && t.chars().count() <= 64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_follow_jds_rule() {
        assert!(password_ok("A1i2n@Apix#"));
        assert!(password_ok("abcDEF123"));
        assert!(!password_ok("abcdefgh"));
        assert!(!password_ok("Ab1@"));
        assert!(!password_ok("abcdefgh12345678901234567890AB1"));
        assert!(!password_ok("abcDEF123 "));
    }
    use proptest::prelude::*;

    #[test]
    fn sixty_four_device_names() {
        let names: Vec<String> = data_device_names().collect();
        assert_eq!(names.len(), 64);
        assert_eq!(names.first().unwrap(), "vdb");
        assert_eq!(names.last().unwrap(), "vdbm");
        assert!(names.iter().all(|n| is_data_device_name(n)));
        for bad in ["vda", "vdbn", "vdca", "sdb", "vd", "vdB", "vdzz"] {
            assert!(!is_data_device_name(bad), "{bad}");
        }
    }

    #[test]
    fn sizes_and_iops() {
        assert!(size_ok("ssd.gp1", 20));
        assert!(!size_ok("ssd.gp1", 25));
        assert!(!size_ok("ssd", 1010));
        assert!(size_ok("premium-hdd", 3000));
        assert!(iops_ok(20, 1000));
        assert!(!iops_ok(20, 1010));
        assert!(!iops_ok(20, 195));
        assert!(system_size_ok(40) && !system_size_ok(30) && !system_size_ok(510));
    }

    #[test]
    fn names() {
        assert!(image_name_ok("my.image_1-中文"));
        assert!(!image_name_ok("a"));
        assert!(!image_name_ok("has space"));
        assert!(!image_name_ok(&"x".repeat(33)));
        assert!(instance_name_ok("web-1"));
        assert!(!instance_name_ok(".web"));
        assert!(disk_name_ok("data-1") && !disk_name_ok("a.b"));
    }

    proptest! {
        #[test]
        fn device_name_matches_the_documented_regex(s in "vd[a-z]{0,3}") {
            let re = regex::Regex::new("^vd([b-z]|a[a-z]|b[a-m])$").unwrap();
            prop_assert_eq!(is_data_device_name(&s), re.is_match(&s));
        }
    }
}
