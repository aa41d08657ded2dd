//! Reading frames and events the way a network tap would: the payload of a COSE_Sign1
//! envelope, decoded without verifying the signature. The simulator uses it only to observe
//! (which case a frame carries, for the windows, the latency figures and the trace) and to
//! build misbehaving frames; the engine under test always verifies.

use coset::{CborSerializable, CoseSign1, TaggedCborSerializable};
use serde::de::DeserializeOwned;
use tongban_protocol::case::events::{Event, Side};
use tongban_protocol::codec::from_cbor;
use tongban_protocol::ids::CaseId;
use tongban_protocol::wire::{Frame, MAX_FRAME_SIZE, Message};

/// The payload of an envelope, unverified.
pub fn payload<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    let sign1 = CoseSign1::from_tagged_slice(bytes)
        .or_else(|_| CoseSign1::from_slice(bytes))
        .ok()?;
    let body = sign1.payload?;
    from_cbor(&body, MAX_FRAME_SIZE, "observed envelope").ok()
}

/// The frame in `bytes`, unverified.
pub fn frame(bytes: &[u8]) -> Option<Frame> {
    payload(bytes)
}

/// The event in an event envelope, unverified.
pub fn event(bytes: &[u8]) -> Option<Event> {
    payload(bytes)
}

/// The (case, side, seq) of every event a frame carries.
pub fn events_in(frame: &Frame) -> Vec<(CaseId, Side, u32)> {
    match &frame.body {
        Message::Events { events } => events
            .iter()
            .filter_map(|e| event(e))
            .map(|e| (e.case, e.side, e.seq))
            .collect(),
        _ => Vec::new(),
    }
}

/// The case a frame is about, if it names one (for the trace).
pub fn case_of(frame: &Frame) -> Option<CaseId> {
    match &frame.body {
        Message::Events { events } => events.first().and_then(|e| event(e)).map(|e| e.case),
        Message::EventFetch { case, .. } => Some(case.clone()),
        Message::Receipt { receipt } => {
            payload::<tongban_protocol::wire::Receipt>(receipt).map(|r| r.case)
        }
        Message::Receipts { receipts } => receipts
            .first()
            .and_then(|r| payload::<tongban_protocol::wire::Receipt>(r))
            .map(|r| r.case),
        _ => None,
    }
}
