//! `tongban`: the node daemon and CLI. The daemon, storage and HTTP API arrive with the
//! durable-node work; until then this binary only reports which protocol version it speaks.

fn main() {
    println!(
        "tongban {} (wire protocol v{}): the node daemon is not built yet; see the open issues.",
        env!("CARGO_PKG_VERSION"),
        tongban_protocol::wire::PROTOCOL_VERSION
    );
    std::process::exit(2);
}
