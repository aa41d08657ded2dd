//! The deterministic multi-node simulator. Placeholder until the simulator work.
