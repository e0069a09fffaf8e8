//! `dnsteer demo` end to end: the real binary, with nothing installed, walks through a
//! region and a provider failing and recovering, prints the timeline and the summary, and
//! exits 0 only when every step happened.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `dnsteer ARGS` for at most `limit` (killed after that); returns exit code,
/// stdout, stderr and how long it ran.
fn dnsteer(args: &[&str], limit: Duration) -> (Option<i32>, String, String, Duration) {
    let started = Instant::now();
    let mut child: Child = Command::new(env!("CARGO_BIN_EXE_dnsteer"))
        .args(args)
        .env_remove("DNSTEER_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run dnsteer");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = started.elapsed();
    (
        status.and_then(|s| s.code()),
        stdout.join().unwrap(),
        stderr.join().unwrap(),
        took,
    )
}

#[test]
fn the_demo_fails_over_and_back_and_exits_0() {
    let (code, stdout, stderr, took) = dnsteer(&["demo"], Duration::from_secs(90));
    let show = format!("exit {code:?} after {took:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(code, Some(0), "{show}");
    for line in [
        "ok: ready and in sync after",
        "ok: failover to eu-west in",
        "ok: failback to us-east in",
        "ok: provider-b leaves the delegation in",
        "ok: provider-b returns to the delegation in",
        "Summary",
        "All 5 steps happened as expected",
    ] {
        assert!(stdout.contains(line), "no {line:?} in\n{show}");
    }
    // What every provider answers, on the timeline.
    assert!(stdout.contains("both providers answer eu-west 198.51.100.10"), "{show}");
    assert!(
        stdout.contains("parent delegates to a\n") || stdout.contains("parent delegates to a "),
        "{show}"
    );
    assert!(
        stdout.contains("in-process stand-ins") && stdout.contains("PowerDNS v1 API"),
        "says what the stand-ins are:\n{show}"
    );
    assert_eq!(stdout.matches("as expected ").count(), 5, "{show}");
    assert!(
        !stderr.contains(" INFO ") && !stderr.contains("ERROR"),
        "quiet by default:\n{show}"
    );
    assert!(took < Duration::from_secs(60), "under a minute: {took:?}");
}

#[test]
fn a_step_not_done_in_time_fails_the_demo_and_names_the_step() {
    let (code, stdout, stderr, took) = dnsteer(&["demo", "--step-timeout", "10ms"], Duration::from_secs(60));
    let show = format!("exit {code:?} after {took:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(code, Some(1), "{show}");
    assert!(
        stdout.contains("Step 1 (start: daemon ready, in sync) did not happen as expected"),
        "{show}"
    );
    assert!(stderr.contains("demo step 1"), "{show}");
    assert_eq!(stdout.matches("not run").count(), 4, "{show}");
}
