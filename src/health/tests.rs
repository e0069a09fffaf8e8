//! Deterministic timelines through the engine, with a manual clock.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::*;

const T: &str = "check:web";

fn t0() -> DateTime<Utc> {
    "2025-01-01T00:00:00Z".parse().unwrap()
}

/// `t0` plus whole seconds.
fn at(secs: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(secs)
}

fn params() -> HealthParams {
    HealthParams {
        window: 10,
        fail_ratio: 0.5,
        recover_ratio: 0.1,
        fall: 3,
        rise: 3,
        hold: Duration::ZERO,
        quorum: Quorum::Majority,
    }
}

fn engine_params() -> EngineParams {
    EngineParams {
        peer_stale_after: Duration::from_secs(30),
    }
}

fn engine(p: HealthParams) -> Engine {
    let mut e = Engine::new(engine_params());
    e.register(T, p).unwrap();
    e
}

fn obs(vantage: &str, now: DateTime<Utc>, ok: bool) -> Observation {
    Observation {
        at: now,
        ok,
        vantage: vantage.to_owned(),
        reason: (!ok).then(|| "connect refused".to_owned()),
        latency: Some(Duration::from_millis(12)),
    }
}

/// One local result at `secs`.
fn local(e: &mut Engine, secs: i64, ok: bool) -> Vec<Transition> {
    e.handle_observation(T, &obs("steer-a", at(secs), ok), at(secs))
        .unwrap()
}

fn peer(e: &mut Engine, secs: i64, ok: bool) {
    e.handle_peer_observation(T, &obs("steer-b", at(secs), ok), at(secs))
        .unwrap();
}

/// Feeds local results one second apart from `start`; returns each second at which a
/// transition happened, with it.
fn feed(e: &mut Engine, start: i64, oks: &[bool]) -> Vec<(i64, Transition)> {
    let mut out = Vec::new();
    for (i, ok) in oks.iter().enumerate() {
        let s = start + i as i64;
        out.extend(local(e, s, *ok).into_iter().map(|t| (s, t)));
    }
    out
}

/// Ten passes from `unknown`: healthy at the third (rise 3), window full of passes.
fn healthy(p: HealthParams) -> Engine {
    let mut e = engine(p);
    let ts = feed(&mut e, 1, &[true; 10]);
    assert_eq!(ts.len(), 1);
    assert_eq!(e.state(T, at(10)), State::Healthy);
    e
}

#[test]
fn unknown_becomes_unhealthy_after_exactly_fall_failing_evaluations() {
    let mut e = engine(params());
    assert!(local(&mut e, 1, false).is_empty());
    assert!(local(&mut e, 2, false).is_empty());
    assert_eq!(e.state(T, at(2)), State::Unknown);
    let ts = local(&mut e, 3, false);
    assert_eq!(ts.len(), 1);
    assert_eq!((ts[0].from, ts[0].to), (State::Unknown, State::Unhealthy));
    assert_eq!(ts[0].layer, Layer::Effective);
    assert_eq!(ts[0].at, at(3));
    assert_eq!(e.state(T, at(3)), State::Unhealthy);
}

#[test]
fn unknown_becomes_healthy_after_exactly_rise_passing_evaluations() {
    let mut e = engine(params());
    assert_eq!(e.state(T, at(0)), State::Unknown);
    let ts = feed(&mut e, 1, &[true; 5]);
    assert_eq!(ts.len(), 1);
    assert_eq!(ts[0].0, 3);
    assert_eq!((ts[0].1.from, ts[0].1.to), (State::Unknown, State::Healthy));
}

#[test]
fn healthy_falls_after_exactly_fall_failing_evaluations() {
    let mut e = healthy(params());
    // Window of 10 passes: the 5th failure brings the ratio to 0.5, the first failing
    // evaluation; the 7th is the third in a row.
    let ts = feed(&mut e, 11, &[false; 10]);
    assert_eq!(ts.len(), 1);
    assert_eq!(ts[0].0, 17);
    assert_eq!((ts[0].1.from, ts[0].1.to), (State::Healthy, State::Unhealthy));
    assert_eq!(
        ts[0].1.reason,
        "failure ratio 0.70 over last 10 probes (7 failed; last: connect refused) \
         for 3 evaluations since 2025-01-01T00:00:15Z"
    );
}

#[test]
fn hold_delays_leaving_healthy_until_it_has_elapsed() {
    let mut e = engine(HealthParams {
        hold: Duration::from_secs(60),
        ..params()
    });
    // Unknown has no hold: healthy at t=3.
    let ts = feed(&mut e, 1, &[true; 3]);
    assert_eq!(ts.len(), 1);
    assert_eq!(ts[0].0, 3);
    // The failing streak reaches `fall` at t=8 but healthy was entered at t=3.
    let ts = feed(&mut e, 4, &[false; 59]);
    assert!(ts.is_empty(), "{ts:?}");
    assert_eq!(e.state(T, at(62)), State::Healthy);
    let ts = local(&mut e, 63, false);
    assert_eq!(ts.len(), 1);
    assert_eq!(ts[0].to, State::Unhealthy);
    assert!(ts[0].reason.contains("since 2025-01-01T00:00:06Z"), "{}", ts[0].reason);
}

#[test]
fn failing_back_needs_hold_and_a_refilled_window() {
    let mut e = engine(HealthParams {
        hold: Duration::from_secs(20),
        fall: 1,
        rise: 1,
        ..params()
    });
    // Unhealthy at t=1 (one failure, fall 1, no hold from unknown).
    assert_eq!(local(&mut e, 1, false).len(), 1);
    // Passes from t=2: the window [F, S...] passes once 1/10 (t=10), but it holds only
    // 9 results gathered since unhealthy; the hold ends at t=21.
    let ts = feed(&mut e, 2, &[true; 30]);
    assert_eq!(ts.len(), 1);
    assert_eq!(ts[0].0, 21);

    // Without hold, the refill alone decides: 10 local results after entering.
    let mut e = engine(HealthParams {
        fall: 1,
        rise: 1,
        ..params()
    });
    assert_eq!(local(&mut e, 1, false).len(), 1);
    let ts = feed(&mut e, 2, &[true; 30]);
    assert_eq!(ts.len(), 1);
    assert_eq!(ts[0].0, 11);
}

#[test]
fn ratio_equal_to_fail_ratio_counts_as_failing() {
    let mut e = engine(HealthParams {
        fall: 1,
        rise: 100,
        ..params()
    });
    // 5 passes, then failures: 1/6 .. 4/9 are in between, 5/10 is exactly 0.5.
    let ts = feed(
        &mut e,
        1,
        &[true, true, true, true, true, false, false, false, false, false],
    );
    assert_eq!(ts.len(), 1);
    assert_eq!(ts[0].0, 10);
    assert_eq!(ts[0].1.to, State::Unhealthy);
}

#[test]
fn ratio_equal_to_recover_ratio_counts_as_passing() {
    let mut e = engine(HealthParams {
        fall: 100,
        rise: 1,
        ..params()
    });
    // One failure then passes: 1/9 is above 0.1, 1/10 is exactly 0.1.
    let mut oks = vec![false];
    oks.extend([true; 9]);
    let ts = feed(&mut e, 1, &oks);
    assert_eq!(ts.len(), 1);
    assert_eq!(ts[0].0, 10);
    assert_eq!(ts[0].1.to, State::Healthy);
    assert!(ts[0].1.reason.starts_with(
        "failure ratio 0.10 over last 10 probes (1 failed; last: connect refused) for 1 evaluation since"
    ));
}

#[test]
fn flaky_target_at_twenty_percent_never_goes_unhealthy() {
    let mut e = healthy(params());
    let oks: Vec<bool> = (0..500).map(|i| i % 5 != 0).collect();
    let ts = feed(&mut e, 11, &oks);
    assert!(ts.is_empty(), "{ts:?}");
    assert_eq!(e.state(T, at(600)), State::Healthy);
    let status = &e.snapshot(at(600))[0];
    assert_eq!(status.failure_ratio, 0.2);
    assert_eq!(status.last_error.as_deref(), Some("connect refused"));
}

#[test]
fn one_success_inside_a_failing_window_does_not_reset_the_streak() {
    let mut e = healthy(params());
    // 6 failures: the window fails at the 5th and 6th (streak 2). A success leaves it
    // at 6/10, still failing: that is the third failing evaluation.
    assert!(feed(&mut e, 11, &[false; 6]).is_empty());
    let ts = local(&mut e, 17, true);
    assert_eq!(ts.len(), 1);
    assert_eq!((ts[0].from, ts[0].to), (State::Healthy, State::Unhealthy));
    assert!(ts[0].reason.contains("for 3 evaluations"), "{}", ts[0].reason);
}

#[test]
fn in_between_evaluation_breaks_the_failing_streak() {
    let mut e = healthy(HealthParams {
        window: 4,
        fall: 4,
        ..params()
    });
    // Window [S S S S]. F F S S gives: in between, failing, failing, failing (streak 3),
    // then S leaves [F S S S] = 0.25: in between, which ends the streak.
    assert!(feed(&mut e, 11, &[false, false, true, true, true]).is_empty());
    // The streak starts over: in between, then four failing evaluations.
    let ts = feed(&mut e, 16, &[false; 5]);
    assert_eq!(ts.len(), 1);
    assert_eq!(ts[0].0, 20);
    assert!(ts[0].1.reason.contains("for 4 evaluations since 2025-01-01T00:00:17Z"));
}

#[test]
fn peer_disagreement_keeps_the_target_up() {
    let mut e = healthy(params());
    for s in 11..40 {
        peer(&mut e, s, true);
        assert!(local(&mut e, s, false).is_empty(), "at {s}");
    }
    assert_eq!(e.state(T, at(40)), State::Healthy);
    // Once the peer fails too (its window reaches 5/10 at its 5th failure), the
    // combined verdict fails: down at the third evaluation after that.
    let mut transitions = Vec::new();
    for s in 40..50 {
        peer(&mut e, s, false);
        transitions.extend(local(&mut e, s, false).into_iter().map(|t| (s, t)));
    }
    assert_eq!(transitions.len(), 1);
    assert_eq!(transitions[0].0, 46);
    assert!(
        transitions[0]
            .1
            .reason
            .contains("; peer steer-b: failure ratio 0.70 over last 10 probes (7 failed"),
        "{}",
        transitions[0].1.reason
    );
}

#[test]
fn failing_peer_alone_does_not_take_the_target_down() {
    let mut e = healthy(params());
    for s in 11..40 {
        peer(&mut e, s, false);
        assert!(local(&mut e, s, true).is_empty(), "at {s}");
    }
    assert_eq!(e.state(T, at(40)), State::Healthy);
}

#[test]
fn stale_peer_data_is_ignored() {
    let mut e = engine(params());
    for s in 1..=10 {
        peer(&mut e, s, true);
        local(&mut e, s, true);
    }
    assert_eq!(e.state(T, at(10)), State::Healthy);
    // The peer goes quiet at t=10. Its passing window holds the target up while it is
    // fresh (until t=40); from t=41 the local window decides alone.
    let ts = feed(&mut e, 11, &[false; 40]);
    assert_eq!(ts.len(), 1);
    assert_eq!(ts[0].0, 43);
    assert!(!ts[0].1.reason.contains("peer"), "{}", ts[0].1.reason);
}

#[test]
fn peer_observation_timestamps_from_the_future_are_capped() {
    let mut e = healthy(params());
    // A peer clock far ahead must not keep its data fresh forever.
    let ahead = obs("steer-b", at(10_000), true);
    e.handle_peer_observation(T, &ahead, at(11)).unwrap();
    let ts = feed(&mut e, 12, &[false; 40]);
    assert_eq!(ts.len(), 1);
    // Fresh until t=41 (11 + 30); failing evaluations from t=42.
    assert_eq!(ts[0].0, 44);
}

#[test]
fn override_forces_the_effective_state_and_expires() {
    let mut e = healthy(params());
    let until = at(100);
    let ts = e.set_override(T, Some((State::Unhealthy, until)), at(20)).unwrap();
    assert_eq!(ts.len(), 1);
    assert_eq!((ts[0].from, ts[0].to), (State::Healthy, State::Unhealthy));
    assert_eq!(ts[0].layer, Layer::Effective);
    assert_eq!(ts[0].reason, "operator override down until 2025-01-01T00:01:40Z");
    assert_eq!(e.state(T, at(20)), State::Unhealthy);
    assert_eq!(e.next_override_expiry(), Some(until));
    let s = &e.snapshot(at(20))[0];
    assert_eq!(
        (s.state, s.measured_state, s.since, s.override_until),
        (State::Unhealthy, State::Healthy, Some(at(20)), Some(until))
    );

    // Measured state keeps evolving underneath, reported on its own layer.
    let ts = feed(&mut e, 21, &[false; 10]);
    assert_eq!(ts.len(), 1);
    assert_eq!(ts[0].1.layer, Layer::Measured);
    assert_eq!((ts[0].1.from, ts[0].1.to), (State::Healthy, State::Unhealthy));
    assert!(ts[0].1.reason.contains("operator override"));

    // Nothing to expire before `until`; at `until` the state reads measured even
    // before the poll, and the poll reports nothing since measured is also down.
    assert!(e.poll_expired_overrides(at(99)).is_empty());
    assert_eq!(e.state(T, at(100)), State::Unhealthy);
    assert!(e.poll_expired_overrides(at(100)).is_empty());
    assert_eq!(e.next_override_expiry(), None);
    assert_eq!(e.snapshot(at(100))[0].override_until, None);
}

#[test]
fn override_expiry_reports_the_return_to_measured_state() {
    let mut e = healthy(params());
    e.set_override(T, Some((State::Unhealthy, at(50))), at(20)).unwrap();
    // Expiry also happens on the next local result if nobody polled.
    let ts = local(&mut e, 60, true);
    assert_eq!(ts.len(), 1);
    assert_eq!((ts[0].from, ts[0].to), (State::Unhealthy, State::Healthy));
    assert_eq!(ts[0].at, at(60));
    assert_eq!(
        ts[0].reason,
        "operator override down expired at 2025-01-01T00:00:50Z; \
         measured state is healthy since 2025-01-01T00:00:03Z"
    );

    e.set_override(T, Some((State::Unhealthy, at(500))), at(70)).unwrap();
    let ts = e.poll_expired_overrides(at(500));
    assert_eq!(ts.len(), 1);
    assert_eq!(ts[0].to, State::Healthy);
}

#[test]
fn override_can_be_cleared_and_extended() {
    let mut e = healthy(params());
    // Same as measured: no transition.
    assert!(e
        .set_override(T, Some((State::Healthy, at(50))), at(20))
        .unwrap()
        .is_empty());
    let ts = e.set_override(T, Some((State::Unhealthy, at(50))), at(30)).unwrap();
    assert_eq!(ts.len(), 1);
    // Extending the same forced state keeps when it took effect.
    assert!(e
        .set_override(T, Some((State::Unhealthy, at(90))), at(40))
        .unwrap()
        .is_empty());
    assert_eq!(e.snapshot(at(40))[0].since, Some(at(30)));
    let ts = e.set_override(T, None, at(45)).unwrap();
    assert_eq!(ts.len(), 1);
    assert_eq!((ts[0].from, ts[0].to), (State::Unhealthy, State::Healthy));
    assert!(ts[0].reason.starts_with("operator override cleared"));
    assert_eq!(e.next_override_expiry(), None);
    // An override already over when set is no override.
    assert!(e
        .set_override(T, Some((State::Unhealthy, at(45))), at(45))
        .unwrap()
        .is_empty());
    assert_eq!(e.state(T, at(45)), State::Healthy);
}

/// A mixed timeline of local and peer results and an override, from `start`.
fn drive(e: &mut Engine, start: i64, end: i64) -> Vec<Transition> {
    let mut out = Vec::new();
    for s in start..end {
        let ok = !(20..45).contains(&s) && s % 7 != 0;
        if s % 2 == 0 {
            peer(e, s, ok);
        }
        if s == 60 {
            out.extend(e.set_override(T, Some((State::Unhealthy, at(75))), at(s)).unwrap());
        }
        out.extend(e.poll_expired_overrides(at(s)));
        out.extend(local(e, s, ok));
    }
    out
}

#[test]
fn restored_engine_behaves_identically() {
    let p = HealthParams {
        hold: Duration::from_secs(5),
        ..params()
    };
    let mut straight = engine(p.clone());
    let all = drive(&mut straight, 1, 120);
    assert!(all.len() >= 4, "{all:?}");

    for split in [10, 30, 50, 65, 90] {
        let mut first = engine(p.clone());
        let mut ts = drive(&mut first, 1, split);
        let json = serde_json::to_string(&first.save()).unwrap();
        let state: EngineState = serde_json::from_str(&json).unwrap();
        assert_eq!(state, first.save());
        let mut resumed = Engine::restore(state, engine_params(), [(T.to_owned(), p.clone())]).unwrap();
        ts.extend(drive(&mut resumed, split, 120));
        assert_eq!(ts, all, "split at {split}");
        assert_eq!(resumed.save(), straight.save());
        assert_eq!(resumed.snapshot(at(120)), straight.snapshot(at(120)));
    }
}

#[test]
fn state_serialises_readably() {
    let mut e = healthy(params());
    local(&mut e, 11, false);
    e.set_override(T, Some((State::Unhealthy, at(100))), at(11)).unwrap();
    let json = serde_json::to_value(e.save()).unwrap();
    let t = &json["targets"][T];
    assert_eq!(t["measured"], "healthy");
    assert_eq!(t["since"], "2025-01-01T00:00:03Z");
    assert_eq!(t["override"]["state"], "unhealthy");
    assert_eq!(t["local"]["samples"].as_array().unwrap().len(), 10);
}

#[test]
fn restore_resizes_windows_and_follows_the_configured_targets() {
    let mut e = healthy(params());
    e.register("provider:gone", params()).unwrap();
    feed(&mut e, 11, &[false; 3]);
    peer(&mut e, 13, false);
    // Window now: 7 passes then 3 failures.
    assert_eq!(e.snapshot(at(13))[0].failure_ratio, 0.3);
    let saved = e.save();

    let shrunk = Engine::restore(
        saved.clone(),
        engine_params(),
        [
            (T.to_owned(), HealthParams { window: 4, ..params() }),
            ("provider:new".to_owned(), params()),
        ],
    )
    .unwrap();
    let names: Vec<&str> = shrunk.targets().collect();
    assert_eq!(names, ["check:web", "provider:new"]);
    let s = shrunk.snapshot(at(13));
    assert_eq!(s[0].failure_ratio, 0.75);
    assert_eq!(s[0].state, State::Healthy);
    assert_eq!(s[1].state, State::Unknown);
    assert_eq!(s[1].since, None);

    let grown = Engine::restore(
        saved,
        engine_params(),
        [(T.to_owned(), HealthParams { window: 20, ..params() })],
    )
    .unwrap();
    assert_eq!(grown.snapshot(at(13))[0].failure_ratio, 0.3);
}

#[test]
fn shrinking_window_changes_the_next_verdict() {
    let mut e = healthy(params());
    feed(&mut e, 11, &[false; 3]);
    let saved = e.save();
    let mut e = Engine::restore(
        saved,
        engine_params(),
        [(
            T.to_owned(),
            HealthParams {
                window: 4,
                fall: 1,
                ..params()
            },
        )],
    )
    .unwrap();
    // Last 4 results are S F F F, plus one more failure: 4/4.
    let ts = local(&mut e, 14, false);
    assert_eq!(ts.len(), 1);
    assert!(ts[0].reason.starts_with("failure ratio 1.00 over last 4 probes"));
}

#[test]
fn errors_for_unknown_targets_and_invalid_settings() {
    let mut e = engine(params());
    assert_eq!(
        e.handle_observation("check:nope", &obs("steer-a", at(1), true), at(1)),
        Err(HealthError::UnknownTarget("check:nope".to_owned()))
    );
    assert!(e
        .handle_peer_observation("check:nope", &obs("steer-b", at(1), true), at(1))
        .is_err());
    assert!(e.set_override("check:nope", None, at(1)).is_err());
    assert_eq!(e.state("check:nope", at(1)), State::Unknown);

    for bad in [
        HealthParams { window: 0, ..params() },
        HealthParams { fall: 0, ..params() },
        HealthParams { rise: 0, ..params() },
        HealthParams {
            fail_ratio: 1.5,
            ..params()
        },
        HealthParams {
            recover_ratio: 0.5,
            ..params()
        },
        HealthParams {
            recover_ratio: f64::NAN,
            ..params()
        },
    ] {
        assert!(
            matches!(e.register("check:x", bad.clone()), Err(HealthError::InvalidParams(_))),
            "{bad:?}"
        );
    }
    assert!(Engine::restore(
        EngineState::default(),
        engine_params(),
        [(T.to_owned(), HealthParams { window: 0, ..params() })]
    )
    .is_err());
}

#[test]
fn status_and_transitions_serialise_as_the_api_shows_them() {
    let mut e = engine(params());
    let ts = feed(&mut e, 1, &[false; 3]);
    let json = serde_json::to_value(&ts[0].1).unwrap();
    assert_eq!(json["from"], "unknown");
    assert_eq!(json["to"], "unhealthy");
    assert_eq!(json["layer"], "effective");
    assert_eq!(json["at"], "2025-01-01T00:00:03Z");
    let json = serde_json::to_value(e.snapshot(at(3))).unwrap();
    assert_eq!(json[0]["name"], T);
    assert_eq!(json[0]["state"], "unhealthy");
    assert_eq!(json[0]["failure_ratio"], 1.0);
    assert_eq!(json[0]["last_error"], "connect refused");
    assert_eq!(json[0]["since"], "2025-01-01T00:00:03Z");
}

/// A fleet of three: `steer-b` and `steer-c` publish whole windows (all `b_ok`/`c_ok`),
/// then this agent (`steer-a`) measures once, at `secs`.
fn fleet(e: &mut Engine, secs: i64, local_ok: bool, b_ok: bool, c_ok: bool) -> Vec<Transition> {
    e.handle_vantage_window(T, "steer-b", &[b_ok; 10], (!b_ok).then_some("timed out"), at(secs))
        .unwrap();
    e.handle_vantage_window(T, "steer-c", &[c_ok; 10], (!c_ok).then_some("timed out"), at(secs))
        .unwrap();
    local(e, secs, local_ok)
}

#[test]
fn quorum_counts_fresh_vantage_points() {
    assert_eq!([1, 2, 3, 4, 5].map(|n| Quorum::Majority.of(n)), [1, 2, 2, 3, 3]);
    assert_eq!([1, 2, 3, 4].map(|n| Quorum::AtLeast(3).of(n)), [1, 2, 3, 3]);
    assert_eq!(Quorum::AtLeast(1).of(3), 1);
    for (text, quorum) in [("\"majority\"", Quorum::Majority), ("2", Quorum::AtLeast(2))] {
        assert_eq!(serde_json::from_str::<Quorum>(text).unwrap(), quorum);
        assert_eq!(serde_json::to_string(&quorum).unwrap(), text);
    }
    assert!(serde_json::from_str::<Quorum>("-1").is_err());
    assert!(serde_json::from_str::<Quorum>("\"most\"").is_err());
}

#[test]
fn one_vantage_point_of_three_failing_alone_decides_nothing() {
    let mut e = healthy(params());
    // Another daemon sees the endpoint fail (its own network is cut off from it).
    for s in 11..40 {
        assert!(fleet(&mut e, s, true, false, true).is_empty(), "at {s}");
    }
    // This agent sees it fail alone.
    for s in 40..80 {
        assert!(fleet(&mut e, s, false, true, true).is_empty(), "at {s}");
    }
    assert_eq!(e.state(T, at(80)), State::Healthy);
}

#[test]
fn two_vantage_points_of_three_decide() {
    let mut e = healthy(params());
    let mut ts = Vec::new();
    for s in 11..20 {
        ts.extend(fleet(&mut e, s, false, false, true).into_iter().map(|t| (s, t)));
    }
    // The local window fails from its 5th failure (t=15): down at the third evaluation.
    assert_eq!(ts.len(), 1);
    assert_eq!(ts[0].0, 17);
    assert!(
        ts[0]
            .1
            .reason
            .ends_with("; 2 of 3 vantage points failing, quorum 2 (majority)"),
        "{}",
        ts[0].1.reason
    );

    // Two others failing decide even while this agent's own window passes.
    let mut e = healthy(params());
    let ts: Vec<i64> = (11..20)
        .filter(|&s| !fleet(&mut e, s, true, false, false).is_empty())
        .collect();
    assert_eq!(ts, [13]);
    assert_eq!(e.state(T, at(20)), State::Unhealthy);
}

#[test]
fn a_lone_dissenter_does_not_hold_back_recovery_in_a_fleet() {
    let mut e = healthy(params());
    for s in 11..20 {
        fleet(&mut e, s, true, false, false);
    }
    assert_eq!(e.state(T, at(20)), State::Unhealthy);
    // Down at t=13. Two of three pass again from t=20, one still fails: back up at the
    // third passing evaluation once ten local results have come in since t=13.
    let ts: Vec<i64> = (20..40)
        .filter(|&s| !fleet(&mut e, s, true, true, false).is_empty())
        .collect();
    assert_eq!(ts, [23]);
    assert_eq!(e.state(T, at(40)), State::Healthy);
}

#[test]
fn a_quorum_of_one_decides_on_one_vantage_point() {
    let mut e = healthy(HealthParams {
        quorum: Quorum::AtLeast(1),
        ..params()
    });
    let ts: Vec<i64> = (11..20)
        .filter(|&s| !fleet(&mut e, s, true, false, true).is_empty())
        .collect();
    assert_eq!(ts, [13]);
}

#[test]
fn a_forgotten_vantage_point_stops_counting_at_once() {
    let mut e = healthy(params());
    assert!(fleet(&mut e, 11, true, false, false).is_empty());
    assert!(fleet(&mut e, 12, true, false, false).is_empty());
    // steer-c's lease lapses just before the evaluation that would have decided.
    e.forget_vantage("steer-c");
    let ids: Vec<String> = e.vantages(at(12)).into_iter().map(|v| v.id).collect();
    assert_eq!(ids, ["steer-b"]);
    for s in 13..40 {
        e.handle_vantage_window(T, "steer-b", &[false; 10], None, at(s))
            .unwrap();
        assert!(local(&mut e, s, true).is_empty(), "at {s}");
    }
    assert_eq!(e.state(T, at(40)), State::Healthy);
}

#[test]
fn a_published_window_replaces_the_previous_one() {
    let mut e = healthy(params());
    let mut window = [true; 10];
    window[3] = false;
    window[6] = false;
    // Failures only in the past: the newest failure carries the reason.
    e.handle_vantage_window(T, "steer-b", &[false; 10], Some("old"), at(11))
        .unwrap();
    e.handle_vantage_window(T, "steer-b", &window, Some("refused"), at(12))
        .unwrap();
    e.handle_vantage_window(T, "steer-c", &[false; 10], Some("timed out"), at(12))
        .unwrap();
    let ts = feed(&mut e, 12, &[false; 10]);
    assert_eq!(ts.len(), 1);
    assert!(
        ts[0]
            .1
            .reason
            .contains("peer steer-b: failure ratio 0.20 over last 10 probes (2 failed; last: refused)"),
        "{}",
        ts[0].1.reason
    );
}
