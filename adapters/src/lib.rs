//! Back-office adapters (reference, webhook, file drop). Placeholder until the durable-node work.
