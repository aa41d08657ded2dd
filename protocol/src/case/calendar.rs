//! Working days: a holiday calendar with make-up working days, and its TOML file format.
