//! The end-to-end tests that start real `tongban node` processes on 127.0.0.1, in one test
//! binary (one compile and one link instead of one each). The failover test needs PostgreSQL
//! (`TONGBAN_TEST_POSTGRES`, which `.ci/run` sets); without it, it is skipped with a message. The heavy drills (crash, storm), the
//! browser tests (web) and the contract test keep binaries of their own.

#[path = "../support/mod.rs"]
mod support;

mod api_errors;
mod audit;
mod backup;
mod bench;
mod dead_letters;
mod evaluation;
mod evidence;
mod failover;
mod federation;
mod flood;
mod licences;
mod multi_site;
mod node_e2e;
mod records;
mod routing;
mod sealed_materials;
mod supplement;
mod tls;
mod versions;
