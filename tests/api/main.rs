//! Integration tests: the real `kiln` binary, started on a free loopback port with a fresh
//! data directory, driven over HTTP with signed JD Cloud requests (spec: jdcloud-api.md).
//!
//! Run: `cargo test --test api`. Needs `qemu-img` and `qemu-io` on PATH.

mod harness;

mod accounts;
mod attach;
mod bodies;
mod cli;
mod cli_first_run;
mod cluster;
mod console;
mod disk_changes;
mod disks;
mod fault_rules;
mod faults;
mod fsck;
mod gateway;
mod guests;
mod image_lifecycle;
mod images;
mod imports;
mod instance_changes;
mod instances;
mod isolation;
mod keypairs;
mod openapi;
mod oss;
mod oss_client;
mod persistence;
mod quotas;
mod reliability;
mod rust_signer;
mod sharing;
mod snapshots;
mod vpc;
mod wire;
