//! The simulator's one error type. A broken invariant is not an error: it ends the run with a
//! report that names it. Errors are for what stops a run from being made at all: a bad
//! scenario, or an engine that fails where it must not (a failed commit, a store that cannot
//! be read back).

/// What can go wrong when loading a scenario or running it.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario file could not be read.
    #[error("scenario {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The scenario file is not valid TOML or does not fit the schema.
    #[error("scenario {name}: {message}")]
    Parse {
        /// The file or scenario name.
        name: String,
        /// The parser's message, with the line and the key.
        message: String,
    },
    /// The scenario parses but does not make sense; every problem names its field.
    #[error("scenario {name}: {}", problems.join("; "))]
    Invalid {
        /// The scenario.
        name: String,
        /// One line per problem, each starting with the field.
        problems: Vec<String>,
    },
    /// No scenario file or built-in scenario has this name.
    #[error("no scenario {0:?}: give a path to a .toml file or one of: {1}")]
    UnknownScenario(String, String),
    /// The engine failed where a real node would stop (a commit or a reopen).
    #[error("node {node}: the engine failed at {at}: {source}")]
    Engine {
        /// The region.
        node: String,
        /// Simulated time.
        at: String,
        /// The engine's error.
        source: tongban_protocol::Error,
    },
    /// The run's options do not fit the scenario.
    #[error("{0}")]
    Options(String),
    /// Setting up the federation failed (keys, roster, catalogs).
    #[error("setting up the federation: {0}")]
    Setup(String),
}

/// The simulator's result type.
pub type Result<T> = std::result::Result<T, SimError>;

/// The engine failed where a node would stop.
pub(crate) fn engine_error(
    node: &tongban_protocol::ids::RegionId,
    now: u64,
    e: tongban_protocol::Error,
) -> SimError {
    SimError::Engine {
        node: node.to_string(),
        at: crate::duration::show_instant(now),
        source: e,
    }
}

/// An error's variant name, for counting refusals by kind.
pub(crate) fn class(e: &tongban_protocol::Error) -> String {
    let debug = format!("{e:?}");
    debug
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or("Error")
        .to_string()
}
