//! Invariants of the health engine over random observation timelines: no flap faster
//! than `hold`, no verdict against the evidence, a reason on every transition, and a
//! restart through the saved state that changes nothing.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use dnsteer::health::{Engine, EngineParams, EngineState, HealthParams, Layer, Observation, Quorum, State, Transition};
use proptest::prelude::*;

const T: &str = "check:web";

#[derive(Debug, Clone)]
enum Event {
    Local(bool),
    Peer(bool),
    /// Force up (`true`) or down for that many seconds; `None` clears.
    Override(Option<(bool, u64)>),
}

/// An event and how long after the previous one it happens.
#[derive(Debug, Clone)]
struct Step {
    after: Duration,
    event: Event,
}

fn t0() -> DateTime<Utc> {
    "2025-01-01T00:00:00Z".parse().unwrap()
}

fn health_params() -> impl Strategy<Value = HealthParams> {
    (
        1usize..=20,
        0.0f64..0.5,
        0.05f64..=0.5,
        1u32..=5,
        1u32..=5,
        0u64..=120_000,
    )
        .prop_map(|(window, recover_ratio, gap, fall, rise, hold_ms)| HealthParams {
            window,
            fail_ratio: (recover_ratio + gap).min(1.0),
            recover_ratio,
            fall,
            rise,
            hold: Duration::from_millis(hold_ms),
            quorum: Quorum::Majority,
        })
}

fn engine_params() -> impl Strategy<Value = EngineParams> {
    (1u64..=60).prop_map(|s| EngineParams {
        peer_stale_after: Duration::from_secs(s),
    })
}

fn after() -> impl Strategy<Value = Duration> {
    (100u64..=10_000).prop_map(Duration::from_millis)
}

/// Results failing with a probability drawn once per timeline, so that both steady
/// and flapping targets come up; peers included when `with_peer`, overrides when
/// `with_overrides`.
fn timeline(with_peer: bool, with_overrides: bool) -> impl Strategy<Value = Vec<Step>> {
    (0.0f64..=1.0).prop_flat_map(move |p_fail| {
        let result = prop::bool::weighted(1.0 - p_fail);
        let event = prop_oneof![
            8 => result.prop_map(Event::Local),
            if with_peer { 4 } else { 0 } => result.prop_map(Event::Peer),
            if with_overrides { 1 } else { 0 } =>
                prop::option::of((any::<bool>(), 1u64..=300)).prop_map(Event::Override),
        ];
        prop::collection::vec(
            (after(), event).prop_map(|(after, event)| Step { after, event }),
            1..300,
        )
    })
}

/// Every result the same, locally and from the peer.
fn steady(ok: bool) -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (after(), any::<bool>()).prop_map(move |(after, peer)| Step {
            after,
            event: if peer { Event::Peer(ok) } else { Event::Local(ok) },
        }),
        1..300,
    )
}

fn engine(ep: &EngineParams, hp: &HealthParams) -> Engine {
    let mut e = Engine::new(ep.clone());
    e.register(T, hp.clone()).unwrap();
    e
}

fn observation(vantage: &str, at: DateTime<Utc>, ok: bool) -> Observation {
    Observation {
        at,
        ok,
        vantage: vantage.to_owned(),
        reason: (!ok).then(|| "timed out".to_owned()),
        latency: None,
    }
}

/// Runs `steps` from `now`, as the daemon would: expired overrides polled before each
/// input. Returns the transitions and the time after the last step.
fn run(e: &mut Engine, mut now: DateTime<Utc>, steps: &[Step]) -> (Vec<Transition>, DateTime<Utc>) {
    let mut out = Vec::new();
    for step in steps {
        now += TimeDelta::from_std(step.after).unwrap();
        out.extend(e.poll_expired_overrides(now));
        match &step.event {
            Event::Local(ok) => {
                out.extend(e.handle_observation(T, &observation("steer-a", now, *ok), now).unwrap());
            }
            Event::Peer(ok) => e
                .handle_peer_observation(T, &observation("steer-b", now, *ok), now)
                .unwrap(),
            Event::Override(forced) => {
                let forced = forced.map(|(up, secs)| {
                    let state = if up { State::Healthy } else { State::Unhealthy };
                    (state, now + TimeDelta::seconds(secs as i64))
                });
                out.extend(e.set_override(T, forced, now).unwrap());
            }
        }
    }
    (out, now)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// (1) Once out of `unknown`, the measured state never changes faster than `hold`,
    /// and transitions chain (each starts where the previous one ended).
    #[test]
    fn measured_state_never_flaps_faster_than_hold(
        hp in health_params(), ep in engine_params(), steps in timeline(true, false),
    ) {
        let mut e = engine(&ep, &hp);
        let (ts, _) = run(&mut e, t0(), &steps);
        let hold = TimeDelta::from_std(hp.hold).unwrap();
        let mut previous = State::Unknown;
        for t in &ts {
            prop_assert_eq!(t.from, previous);
            prop_assert_ne!(t.to, State::Unknown);
            previous = t.to;
        }
        for pair in ts.windows(2) {
            prop_assert!(
                pair[1].at - pair[0].at >= hold,
                "{:?} then {:?} within hold {:?}", pair[0], pair[1], hp.hold
            );
        }
    }

    /// (2) A target that never fails never becomes unhealthy, and once healthy stays so.
    #[test]
    fn never_failing_target_never_leaves_healthy(
        hp in health_params(), ep in engine_params(), steps in steady(true),
    ) {
        let mut e = engine(&ep, &hp);
        let (ts, now) = run(&mut e, t0(), &steps);
        prop_assert!(ts.len() <= 1, "{:?}", ts);
        for t in &ts {
            prop_assert_eq!((t.from, t.to), (State::Unknown, State::Healthy));
        }
        let locals = steps.iter().filter(|s| matches!(s.event, Event::Local(_))).count();
        let expected = if locals >= hp.rise as usize { State::Healthy } else { State::Unknown };
        prop_assert_eq!(e.state(T, now), expected);
    }

    /// (3) A target that always fails never becomes healthy.
    #[test]
    fn always_failing_target_never_becomes_healthy(
        hp in health_params(), ep in engine_params(), steps in steady(false),
    ) {
        let mut e = engine(&ep, &hp);
        let (ts, now) = run(&mut e, t0(), &steps);
        prop_assert!(ts.len() <= 1, "{:?}", ts);
        for t in &ts {
            prop_assert_eq!((t.from, t.to), (State::Unknown, State::Unhealthy));
        }
        prop_assert_ne!(e.state(T, now), State::Healthy);
    }

    /// (4) Every transition, measured or from an override, says why.
    #[test]
    fn every_transition_has_a_reason(
        hp in health_params(), ep in engine_params(), steps in timeline(true, true),
    ) {
        let mut e = engine(&ep, &hp);
        let (ts, _) = run(&mut e, t0(), &steps);
        for t in &ts {
            prop_assert!(!t.reason.trim().is_empty(), "{:?}", t);
            prop_assert_ne!(t.from, t.to);
            prop_assert_eq!(t.target.as_str(), T);
            if t.layer == Layer::Measured {
                prop_assert!(t.reason.contains("failure ratio"), "{:?}", t);
            }
        }
    }

    /// (5) Saving, serialising and restoring at any point, then going on with the same
    /// timeline, gives the very same transitions and final state as no restart.
    #[test]
    fn restart_through_saved_state_changes_nothing(
        hp in health_params(), ep in engine_params(), steps in timeline(true, true),
        split in any::<prop::sample::Index>(),
    ) {
        let mut straight = engine(&ep, &hp);
        let (expected, end) = run(&mut straight, t0(), &steps);

        let split = split.index(steps.len() + 1);
        let mut first = engine(&ep, &hp);
        let (mut ts, now) = run(&mut first, t0(), &steps[..split]);
        let json = serde_json::to_string(&first.save()).unwrap();
        let state: EngineState = serde_json::from_str(&json).unwrap();
        let mut resumed = Engine::restore(state, ep.clone(), [(T.to_owned(), hp.clone())]).unwrap();
        let (rest, resumed_end) = run(&mut resumed, now, &steps[split..]);
        ts.extend(rest);

        prop_assert_eq!(resumed_end, end);
        prop_assert_eq!(ts, expected);
        prop_assert_eq!(resumed.save(), straight.save());
        prop_assert_eq!(resumed.snapshot(end), straight.snapshot(end));
    }
}
