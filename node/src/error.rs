//! The node library's one error type. Every variant names the file or setting at fault, so an
//! operator reading a failed start knows what to open and what to change.

use std::path::PathBuf;

/// Everything the node's library part can fail with; `main` adds context and prints it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// A file could not be read, written or created.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What the file is for, such as "roster document".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A node config file with problems; each names the field and the fix.
    #[error("{}: {} problem(s):\n  - {}", path.display(), problems.len(), problems.join("\n  - "))]
    Config {
        /// The config file.
        path: PathBuf,
        /// Every problem found, in file order.
        problems: Vec<String>,
    },
    /// A key file that does not hold a key in the expected form, or may not be written.
    #[error("key file {}: {why}", path.display())]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong and how to fix it (never the file's content: it is secret).
        why: String,
    },
    /// A file whose content the protocol core refused (roster, catalog, calendar).
    #[error("{what} {}: {source}", path.display())]
    Content {
        /// What the file is for.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The core's reason.
        source: tongban_protocol::Error,
    },
    /// A TLS certificate, key or CA file that cannot be served: not PEM, expired, not yet
    /// valid, or a key that does not match its certificate; `why` says which and the fix.
    #[error("{what} {}: {why}", path.display())]
    Tls {
        /// What the file is for, such as "TLS certificate".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it and what to do.
        why: String,
    },
    /// The database could not be opened or prepared.
    #[error("database {}: {detail}", path.display())]
    Storage {
        /// The database file.
        path: PathBuf,
        /// What redb said, with a hint where one helps.
        detail: String,
    },
    /// The PostgreSQL store could not be reached, or refused what the node asked of it.
    #[error("PostgreSQL store ({target}): {detail}")]
    Postgres {
        /// The server, database and user (never the password).
        target: String,
        /// What failed and what the server or driver said.
        detail: String,
    },
    /// The operating system could not supply random bytes.
    #[error("no random bytes from the operating system: {0}")]
    Random(String),
    /// A request that contradicts the files given (for example, signing a document that is
    /// over another roster); the message says what to do instead.
    #[error("{0}")]
    Refused(String),
    /// The protocol core refused something outside any one file.
    #[error(transparent)]
    Protocol(#[from] tongban_protocol::Error),
    /// The running node could not do something the operating system must allow (bind a
    /// port, start a thread, serve).
    #[error("{what}: {source}")]
    Serve {
        /// What the node was doing.
        what: String,
        /// What the operating system said.
        source: std::io::Error,
    },
}
