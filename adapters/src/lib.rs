//! # tongban-adapters
//!
//! How a node talks to its region's back office (the approval systems that decide cases).
//! The node hands each [`Notice`] to a [`BackOffice`] and feeds every [`Report`] it gets back
//! into its engine, which checks, signs and forwards it.
//!
//! | module | adapter |
//! |---|---|
//! | [`reference`](mod@reference) | the built-in reference back office: the deterministic core of `tongban-office` (the one the simulator drives) on the wall clock; decides cases by itself with configurable delays and outcome mix, for demos |
//! | [`webhook`] | POSTs each notice as JSON to the region platform's URL, with retries; takes status callbacks signed with a shared HMAC key |
//! | [`tls`] | the webhook's TLS client (CA bundle or system roots, pins, client certificate) and the workspace's one rustls crypto provider |
//! | [`filedrop`] | writes each notice as a JSON file into an outbox folder; reads status files from an inbox folder, moving each out once the node has committed or refused its reports |
//!
//! [`BackOffice`] uses `async fn`-style methods, so it cannot be a trait object; a node that
//! picks the adapter from its config uses [`AnyBackOffice::from_config`] instead.

#![warn(missing_docs)]

use serde::{Deserialize, Serialize};

pub use tongban_protocol::engine::{Notice, Report};

pub mod error;
pub mod filedrop;
pub mod reference;
pub mod tls;
pub mod webhook;

pub use error::AdapterError;
pub use filedrop::{FileDropBackOffice, FileDropConfig};
pub use reference::{ReferenceBackOffice, ReferenceConfig, ReferenceCore};
pub use webhook::{WebhookBackOffice, WebhookConfig, verify_callback};

use tongban_protocol::case::events::EventKind;
use tongban_protocol::ids::Timestamp;

#[cfg(test)]
mod testutil;

/// Which adapter a node uses, and its settings: the `[backoffice]` table of the node config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BackOfficeConfig {
    /// The built-in reference back office.
    Reference(reference::ReferenceConfig),
    /// A webhook to the region platform.
    Webhook(webhook::WebhookConfig),
    /// Files in shared folders.
    FileDrop(filedrop::FileDropConfig),
    /// No system of the region's own: clerks decide cases on the node's web pages, which
    /// list what waits for them, so a notice is taken as soon as it is kept.
    Pages(PagesConfig),
}

/// The `[backoffice] kind = "pages"` table: nothing to set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagesConfig {}

/// A region's back office, as the node sees it.
pub trait BackOffice: Send {
    /// Hands a notice over; `Ok` once the back office has taken it, so the node may forget it.
    /// A redelivered notice (after a crash) must be harmless: back offices see the case id and,
    /// for intake events, the sequence number.
    fn deliver(&mut self, notice: &Notice)
    -> impl Future<Output = Result<(), AdapterError>> + Send;

    /// The reports that arrived since the last call (empty for adapters whose reports come in
    /// through the node's HTTP API, such as the webhook's callbacks). The node hands them to
    /// its engine and then calls [`BackOffice::settle`].
    fn poll(&mut self) -> impl Future<Output = Result<Vec<Report>, AdapterError>> + Send;

    /// What became of the reports [`BackOffice::poll`] returned since the last call, one
    /// outcome per report in the order they were returned; the node calls it after every
    /// successful poll, once its engine has committed (or refused) them all. Only then may an
    /// adapter forget where a report came from (the file drop moves its status file out of
    /// the inbox only here), so a crash before the commit loses nothing.
    fn settle(
        &mut self,
        outcomes: &[ReportOutcome],
    ) -> impl Future<Output = Result<(), AdapterError>> + Send;
}

/// What became of one report the node took from [`BackOffice::poll`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportOutcome {
    /// Committed: the node's store holds the event.
    Kept,
    /// Refused by the node (an illegal transition, an unknown case, …), and why.
    Refused(String),
    /// Neither: the node could not keep it now (its store failed, or its engine stopped).
    /// The adapter should offer the report again later.
    NotKept,
}

impl BackOfficeConfig {
    /// Checks the settings of whichever adapter is chosen, naming every problem with its key,
    /// so `tongban` can refuse a bad config before it starts.
    pub fn validate(&self) -> Result<(), AdapterError> {
        match self {
            BackOfficeConfig::Reference(c) => c.validate(),
            BackOfficeConfig::Webhook(c) => c.validate(),
            BackOfficeConfig::FileDrop(c) => c.validate(),
            BackOfficeConfig::Pages(_) => Ok(()),
        }
    }
}

/// Whichever adapter the config chose, behind one type: [`BackOffice`] is not object-safe, so
/// the node holds this instead of a `Box<dyn BackOffice>`.
#[derive(Debug)]
pub enum AnyBackOffice {
    /// The built-in reference back office.
    Reference(ReferenceBackOffice),
    /// A webhook to the region platform.
    Webhook(WebhookBackOffice),
    /// Files in shared folders.
    FileDrop(FileDropBackOffice),
    /// The node's own web pages: notices need no delivery, reports come in as page actions.
    Pages,
}

impl AnyBackOffice {
    /// Builds the adapter `config` names: checks it, loads the webhook key, creates the file
    /// drop's folders.
    pub fn from_config(config: BackOfficeConfig) -> Result<AnyBackOffice, AdapterError> {
        Ok(match config {
            BackOfficeConfig::Reference(c) => {
                AnyBackOffice::Reference(ReferenceBackOffice::new(c)?)
            }
            BackOfficeConfig::Webhook(c) => AnyBackOffice::Webhook(WebhookBackOffice::new(c)?),
            BackOfficeConfig::FileDrop(c) => AnyBackOffice::FileDrop(FileDropBackOffice::new(c)?),
            BackOfficeConfig::Pages(_) => AnyBackOffice::Pages,
        })
    }

    /// When the adapter next has reports due, if it knows (only the reference back office
    /// does); others are polled at the node's own interval.
    pub fn next_due(&self) -> Option<Timestamp> {
        match self {
            AnyBackOffice::Reference(r) => r.next_due(),
            AnyBackOffice::Webhook(_) | AnyBackOffice::FileDrop(_) | AnyBackOffice::Pages => None,
        }
    }

    /// Takes up, at startup, a case an earlier process of the node handed over and that is
    /// not finished: `new_case` is its `NewCase` notice, `handling` its handling log (kinds in
    /// order, `Received` first) and `intake` its intake log (seq and kind), as the node holds
    /// them. Call it for every such case before delivering the notices still unconfirmed.
    ///
    /// Only the reference back office needs this: its schedule lives in the node's process,
    /// so it rebuilds it from the logs ([`ReferenceCore::resume`]). The webhook's and the file
    /// drop's back offices are the region's own systems, which keep their own state across
    /// the node's restarts and already hold every notice confirmed delivered, so for them
    /// this does nothing.
    pub fn resume(
        &mut self,
        now: Timestamp,
        new_case: &Notice,
        handling: &[EventKind],
        intake: &[(u32, EventKind)],
    ) {
        match self {
            AnyBackOffice::Reference(r) => r.resume(now, new_case, handling, intake),
            AnyBackOffice::Webhook(_) | AnyBackOffice::FileDrop(_) | AnyBackOffice::Pages => {}
        }
    }
}

impl BackOffice for AnyBackOffice {
    async fn deliver(&mut self, notice: &Notice) -> Result<(), AdapterError> {
        match self {
            AnyBackOffice::Reference(b) => b.deliver(notice).await,
            AnyBackOffice::Webhook(b) => b.deliver(notice).await,
            AnyBackOffice::FileDrop(b) => b.deliver(notice).await,
            AnyBackOffice::Pages => Ok(()),
        }
    }

    async fn poll(&mut self) -> Result<Vec<Report>, AdapterError> {
        match self {
            AnyBackOffice::Reference(b) => b.poll().await,
            AnyBackOffice::Webhook(b) => b.poll().await,
            AnyBackOffice::FileDrop(b) => b.poll().await,
            AnyBackOffice::Pages => Ok(Vec::new()),
        }
    }

    async fn settle(&mut self, outcomes: &[ReportOutcome]) -> Result<(), AdapterError> {
        match self {
            AnyBackOffice::Reference(b) => b.settle(outcomes).await,
            AnyBackOffice::Webhook(b) => b.settle(outcomes).await,
            AnyBackOffice::FileDrop(b) => b.settle(outcomes).await,
            AnyBackOffice::Pages => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{case_id, new_case};
    use tongban_protocol::catalog::Delivery;

    /// Runs a notice through any adapter on another task, as the node does: this only
    /// compiles if the adapter's futures are `Send`.
    async fn on_a_task(mut bo: AnyBackOffice, notice: Notice) -> Result<Vec<Report>, AdapterError> {
        tokio::spawn(async move {
            bo.deliver(&notice).await?;
            bo.poll().await
        })
        .await
        .map_err(|e| AdapterError::Task(e.to_string()))?
    }

    #[tokio::test]
    async fn any_back_office_is_built_from_config_and_drives_its_adapter() {
        let dir = tempfile::tempdir().expect("temp dir");
        let text = format!(
            "kind = \"file_drop\"\noutbox = {:?}\ninbox = {:?}\n",
            dir.path().join("out"),
            dir.path().join("in")
        );
        let config: BackOfficeConfig = toml::from_str(&text).expect("parses");
        config.validate().expect("valid");
        let bo = AnyBackOffice::from_config(config).expect("built");
        assert_eq!(bo.next_due(), None);
        let notice = new_case(&case_id(1), Delivery::Mail, Timestamp(1));
        assert!(on_a_task(bo, notice.clone()).await.expect("ran").is_empty());
        assert!(
            dir.path()
                .join("out")
                .join(format!("{}.0.json", case_id(1)))
                .is_file()
        );

        let reference: BackOfficeConfig = toml::from_str("kind = \"reference\"").expect("parses");
        let bo = AnyBackOffice::from_config(reference).expect("built");
        on_a_task(bo, notice).await.expect("ran");

        let bad: BackOfficeConfig =
            toml::from_str("kind = \"webhook\"\nurl = \"http://x/\"\nhmac_key_file = \"k\"")
                .expect("parses");
        assert!(bad.validate().is_err());
        assert!(AnyBackOffice::from_config(bad).is_err());
        assert!(toml::from_str::<BackOfficeConfig>("kind = \"carrier_pigeon\"").is_err());
    }

    #[test]
    fn resume_rebuilds_the_reference_schedule_and_leaves_the_others_alone() {
        let case = case_id(7);
        let notice = new_case(&case, Delivery::Mail, Timestamp(1));
        let handling = [
            EventKind::Received,
            EventKind::accepted("", "李受理", "受理1号"),
        ];
        let intake = [(
            1,
            EventKind::Submitted {
                application: Box::new(crate::testutil::sample_application(&case, Delivery::Mail)),
            },
        )];

        let reference: BackOfficeConfig = toml::from_str("kind = \"reference\"").expect("parses");
        let mut bo = AnyBackOffice::from_config(reference).expect("built");
        bo.resume(Timestamp(1_000), &notice, &handling, &intake);
        let AnyBackOffice::Reference(r) = &bo else {
            panic!("expected the reference back office");
        };
        assert_eq!(r.core().cases(), 1);
        assert!(bo.next_due().is_some_and(|t| t > Timestamp(1_000)));

        let dir = tempfile::tempdir().expect("temp dir");
        let text = format!(
            "kind = \"file_drop\"\noutbox = {:?}\ninbox = {:?}\n",
            dir.path().join("out"),
            dir.path().join("in")
        );
        let config: BackOfficeConfig = toml::from_str(&text).expect("parses");
        let mut bo = AnyBackOffice::from_config(config).expect("built");
        bo.resume(Timestamp(1_000), &notice, &handling, &intake);
        assert_eq!(bo.next_due(), None);
        let written = std::fs::read_dir(dir.path().join("out"))
            .expect("outbox")
            .count();
        assert_eq!(written, 0, "the file drop writes nothing on resume");
    }
}
