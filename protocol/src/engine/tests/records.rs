//! GB/T 39046 records the engine completes: an acceptance signed with the catalog's committed
//! limit and date, the item's 实施主体 where the back office left the unit empty, and a limit
//! that a later catalog version leaves alone.

use super::*;
use crate::case::clock::{DayUnit, TimeLimit};

fn limit(days: u32) -> TimeLimit {
    TimeLimit {
        days,
        unit: DayUnit::WorkingDays,
    }
}

#[test]
fn an_acceptance_is_signed_with_the_catalogs_limit_and_a_new_catalog_version_does_not_recolour_it()
{
    let mut net = Net::new();
    let case = net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    let item = sample_item("1100000001");
    assert_eq!(item.committed_limit, limit(1));

    // A back office that names another limit than the catalog's is refused, with the reason.
    let now = net.now;
    let wrong = EventKind::Accepted {
        unit: String::new(),
        person: "王受理".into(),
        document_number: "受字1号".into(),
        limit: Some(limit(3)),
        committed_date: None,
    };
    let err = net
        .node(BJ)
        .report(
            Report {
                case: case.clone(),
                event: wrong,
            },
            now,
        )
        .expect_err("not the catalog's limit");
    assert!(err.to_string().contains("catalog's"), "{err}");

    net.report(BJ, &case, EventKind::accepted("", "王受理", "受字1号"));
    net.run(|_| false);
    for r in [BJ, TJ] {
        let view = net.node(r).case_view(&case, now).unwrap();
        assert_eq!(view.state.limit, Some(limit(1)), "at {r}");
        let record = view.state.acceptance.clone().expect("受理 record");
        assert_eq!(record.unit, item.authority, "the item's 实施主体 filled in");
        assert_eq!(record.person, "王受理");
        let due = view.clock.and_then(|c| c.due_date);
        assert!(due.is_some());
        assert_eq!(record.committed_date, due, "at {r}");
    }

    // Beijing publishes a catalog version that promises 3 days: the open case keeps 1.
    let mut file = catalog(BJ);
    file.version = 2;
    file.items[0].committed_limit = limit(3);
    net.node(BJ).publish_catalog(&file, now).unwrap();
    net.commit(BJ);
    net.run(|_| false);
    net.now = net.now.plus_ms(3 * Timestamp::DAY_MS);
    let later = net.now;
    for r in [BJ, TJ] {
        let version = net
            .node(r)
            .item(&region(BJ), "1100000001")
            .map(|(v, i)| (v, i.committed_limit));
        assert_eq!(version, Some((2, limit(3))), "{r} holds version 2");
        let view = net.node(r).case_view(&case, later).unwrap();
        assert_eq!(view.limit, Some(limit(1)), "at {r}");
        let clock = view.clock.expect("clock");
        assert_eq!(clock.limit, limit(1));
        assert_eq!(
            clock.colour,
            crate::case::clock::Colour::Red,
            "overdue at {r}"
        );
    }

    // A case accepted now is held to the new promise.
    let mut request = net.request(TJ, BJ, "1100000001");
    request.catalog_version = Some(2);
    let second = net.intake_with_key(TJ, request, "second").case;
    net.run(|_| false);
    net.report(BJ, &second, EventKind::accepted("", "王受理", "受字2号"));
    assert_eq!(net.state(BJ, &second).limit, Some(limit(3)));
}
