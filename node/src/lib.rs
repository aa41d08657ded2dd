//! # tongban-node
//!
//! The node's library part: everything the `tongban` binary does with real I/O, kept out of
//! `main.rs` so tests and the daemon reach it directly.
//!
//! | module | job |
//! |---|---|
//! | [`config`] | the node config file (TOML): parsing, every problem at once, the files it names |
//! | [`store`] | the durable `Store`s: [`store::RedbStore`] (default) and [`store::PostgresStore`] (active and standby), as [`store::NodeStore`] |
//! | [`keys`] | key files: generating, writing (mode 0600) and reading ed25519 seeds |
//! | [`cli`] | what the CLI's commands do: roster signing and checking, catalog checks, `tongban doctor` |
//! | [`daemon`] | the running node: the engine thread, group commit, the back office, the HTTP server |
//! | [`api`] | the HTTP API for windows and back offices, `/livez`, `/readyz`, `/healthz`, `/metrics`, OpenAPI |
//! | [`bench`](mod@bench) | `tongban bench`: the floor, real nodes under open-loop load, and a plain JSON server beside them |
//! | [`demo`] | `tongban demo`: the five regions on loopback, with optional load |
//! | [`net`] | the peer transport: libp2p over QUIC, roster allow-list, the frame protocol |
//! | [`tls`] | HTTPS for the API: the `[tls]` files checked, served with rustls, reloaded on SIGHUP; `tongban cert dev` |
//! | [`limits`] | the bounds on queues, streams, frame sizes and each peer's rate of frames |
//! | [`logging`] | the log lines: text on a terminal, JSON lines otherwise (`--log-format`) |
//! | [`error`] | the library's one error type |

pub mod api;
pub mod backup;
pub mod bench;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod error;
pub mod in_flight;
pub mod keys;
pub mod latency;
pub mod limits;
pub mod logging;
pub mod net;
pub mod pacing;
pub mod peers;
pub mod store;
pub mod tls;
mod web;

pub use error::NodeError;
