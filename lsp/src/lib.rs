//! `evr lsp`: the language server, over stdio, on `lsp-server`. The analysis it answers from
//! is `evr_compiler::ide` (no protocol types there); this crate holds the protocol: the server
//! loop and its handlers (`server`) and the conversions between spans and protocol positions
//! (`convert`).
//!
//! Architecture Invariant: messages are handled in the order they arrive, one at a time.
//! API Boundary: [`run`]; [`client`], a stdio client that tests and benchmarks drive it with.

pub mod client;
mod convert;
mod server;

/// Serves the protocol on stdin/stdout until the client says `exit`; an error when it did not
/// ask for `shutdown` first (the protocol's exit status 1).
pub fn run() -> Result<(), String> {
    let (connection, io) = lsp_server::Connection::stdio();
    let capabilities = serde_json::to_value(server::Server::capabilities()).map_err(|e| e.to_string())?;
    connection.initialize(capabilities).map_err(|e| e.to_string())?;
    let clean = server::Server::new(connection).run();
    io.join().map_err(|e| e.to_string())?;
    if clean { Ok(()) } else { Err("the client exited without asking to shut down".into()) }
}
