//! 好差评 through two engines: who may record an evaluation, and a 差评 at the Tianjin window
//! for a Beijing-handled case opening a complaint Beijing works through, seen at both ends.

use super::*;
use crate::case::complaint::{ComplaintStage, EvaluationChannel, EvaluationReason};

fn evaluated(score: u8, concerns: Side, channel: EvaluationChannel) -> EventKind {
    EventKind::Evaluated {
        score,
        comment: "材料要求没有一次说清".into(),
        reasons: vec![EvaluationReason::NotToldAtOnce],
        channel,
        concerns,
    }
}

/// A Tianjin-collected case Beijing decided, delivered both ways.
fn decided() -> (Net, CaseId) {
    let mut net = Net::new();
    let case = net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    net.report(
        BJ,
        &case,
        EventKind::accepted("市场监督管理局", "王受理", "受字1号"),
    );
    net.report(BJ, &case, approve());
    net.run(|_| false);
    (net, case)
}

fn write(net: &mut Net, r: &str, actor: &Actor, case: &CaseId, kind: EventKind) -> Result<Event> {
    let now = net.now;
    let out = net.node(r).write_event(actor, case, kind, now);
    net.commit(r);
    out
}

#[test]
fn the_applicant_channel_records_only_evaluations_of_its_regions_cases() {
    let (mut net, case) = decided();
    let app = Actor::ApplicantApp;
    // Not the other kinds, and it reads nothing.
    let err = write(&mut net, TJ, &app, &case, EventKind::ResultCollected).unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err}");
    let now = net.now;
    assert!(matches!(
        net.node(TJ).case_view_as(&app, &case, now),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        net.node(TJ)
            .worklist_as(&app, &WorklistFilter::default(), now),
        Err(Error::Forbidden(_))
    ));
    // Not at the handling region: the evaluation is written where the case was collected.
    let err = write(
        &mut net,
        BJ,
        &app,
        &case,
        evaluated(5, Side::Handling, EvaluationChannel::ApplicantApp),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("collected by region 120000"),
        "{err}"
    );
    // At Tianjin it is recorded, with its channel whatever the body said.
    let event = write(
        &mut net,
        TJ,
        &app,
        &case,
        evaluated(4, Side::Handling, EvaluationChannel::Window),
    )
    .unwrap();
    assert!(matches!(
        event.kind,
        EventKind::Evaluated {
            channel: EvaluationChannel::ApplicantApp,
            ..
        }
    ));
    net.run(|_| false);
    assert_eq!(net.state(BJ, &case).evaluation, Some(4));
    assert_eq!(net.state(BJ, &case).complaint, None, "4 is not a 差评");
}

#[test]
fn a_poor_evaluation_at_the_window_is_handled_by_the_region_it_concerns() {
    let (mut net, case) = decided();
    let w = window(TJ);
    write(
        &mut net,
        TJ,
        &w,
        &case,
        evaluated(1, Side::Handling, EvaluationChannel::ApplicantApp),
    )
    .unwrap();
    net.run(|_| false);
    let at_bj = net.state(BJ, &case);
    let c = at_bj.complaint.clone().unwrap();
    assert_eq!(
        (c.concerns, c.stage),
        (Side::Handling, ComplaintStage::Verifying)
    );
    assert_eq!(
        at_bj.evaluated.as_ref().map(|e| e.channel),
        Some(EvaluationChannel::Window),
        "recorded as the window's, the token that brought it"
    );
    // Tianjin may not verify Beijing's complaint: a 409 with the reason.
    let err = write(
        &mut net,
        TJ,
        &Actor::Admin,
        &case,
        EventKind::ComplaintVerified {
            substantiated: true,
            findings: "x".into(),
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::IllegalTransition(_)), "{err}");
    assert!(err.to_string().contains("region 110000"), "{err}");
    // Out of order at Beijing: refused with the reason.
    let now = net.now;
    let err = net
        .node(BJ)
        .report(
            Report {
                case: case.clone(),
                event: EventKind::ComplaintAnswered {
                    feedback: "已处理".into(),
                },
            },
            now,
        )
        .unwrap_err();
    assert!(err.to_string().contains("before 反馈"), "{err}");
    net.report(
        BJ,
        &case,
        EventKind::ComplaintVerified {
            substantiated: true,
            findings: "补正材料清单未一次告知，属实".into(),
        },
    );
    net.report(
        BJ,
        &case,
        EventKind::ComplaintRectified {
            measures: "修订材料清单".into(),
        },
    );
    net.report(
        BJ,
        &case,
        EventKind::ComplaintAnswered {
            feedback: "已向申请人反馈".into(),
        },
    );
    net.run(|_| false);
    // 回访 from the applicant's channel, at Tianjin.
    write(
        &mut net,
        TJ,
        &Actor::ApplicantApp,
        &case,
        EventKind::ComplaintFollowedUp {
            satisfied: true,
            comment: String::new(),
        },
    )
    .unwrap();
    net.run(|_| false);
    let (a, b) = (net.state(TJ, &case), net.state(BJ, &case));
    assert_eq!(a, b);
    assert_eq!(a.complaint.unwrap().stage, ComplaintStage::FollowedUp);
    let now = net.now;
    let view = net.node(TJ).case_view_as(&w, &case, now).unwrap();
    let clock = view.complaint_clock.unwrap();
    assert!(!clock.overdue);
    assert_eq!(clock.days_left, None, "answered");
}
