//! `commit_to`: outputs reach the driver's `Io` in order, and a notice the back office took at
//! once is marked delivered and committed, so a restart does not hand it over again.

use super::*;

/// An `Io` whose back office takes every notice at once.
#[derive(Default)]
struct Taking {
    notices: Vec<u64>,
}

impl Io for Taking {
    fn send(&mut self, _to: RegionId, _frame: Vec<u8>, _kind: &'static str) {}

    fn gossip(&mut self, _topic: GossipTopic, _message: Vec<u8>) {}

    fn roster(&mut self, _roster: Box<Roster>) {}

    fn notify(&mut self, id: u64, _notice: Notice) -> Handover {
        self.notices.push(id);
        Handover::Taken
    }
}

#[test]
fn a_notice_taken_at_once_is_not_handed_over_again_after_a_restart() {
    let mut net = Net::new();
    let request = net.request(BJ, BJ, "1100000001");
    let now = net.now;
    let engine = net.node(BJ);
    engine.intake(&window(BJ), request, None, now).unwrap();
    let mut io = Taking::default();
    engine.commit_to(&mut io).unwrap();
    assert_eq!(io.notices.len(), 1, "the new case's notice");

    let store = net.nodes.remove(&region(BJ)).unwrap().into_store();
    let mut reopened = Engine::open(setup(BJ), store, now).unwrap();
    let mut again = Taking::default();
    reopened.commit_to(&mut again).unwrap();
    assert!(
        again.notices.is_empty(),
        "handed over again: {:?}",
        again.notices
    );
}

#[test]
fn a_notice_carried_by_the_driver_is_handed_over_again_after_a_restart() {
    let mut net = Net::new();
    net.intake(BJ, BJ, "1100000001");
    assert_eq!(net.notices[&region(BJ)].len(), 1);
    let now = net.now;
    let store = net.nodes.remove(&region(BJ)).unwrap().into_store();
    let mut reopened = Engine::open(setup(BJ), store, now).unwrap();
    let mut again = Taking::default();
    reopened.commit_to(&mut again).unwrap();
    assert_eq!(
        again.notices.len(),
        1,
        "not confirmed, so handed over again"
    );
}
