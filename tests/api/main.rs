//! Integration tests: the real `kiln` binary, started on a free loopback port with a fresh
//! data directory, driven over HTTP with signed JD Cloud requests (spec: jdcloud-api.md).
//!
//! Run: `cargo test --test api`. Needs `qemu-img` and `qemu-io` on PATH.

mod harness;

mod attach;
mod disks;
mod fsck;
mod gateway;
mod images;
mod instances;
mod persistence;
mod quotas;
mod reliability;
mod snapshots;
mod wire;
