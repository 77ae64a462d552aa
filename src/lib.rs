//! Kiln: a JD Cloud-compatible virtual-machine image service.
//!
//! Layers, dependencies pointing down only:
//! `http` (the wire) → `service` (the rules) → `tasks` (durable async work) →
//! `store` (metadata, SQL) / `block` (qcow2 layers through qemu-img) / `hypervisor`
//! (guests under QEMU) / `download` (import sources over http(s), from allowed addresses
//! only). `cli` drives them.

pub mod block;
pub mod cli;
pub mod client;
pub mod download;
pub mod error;
pub mod http;
pub mod hypervisor;
pub mod ids;
pub mod oss;
pub mod service;
pub mod signing;
pub mod store;
pub mod tasks;
