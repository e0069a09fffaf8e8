//! `dnsteer status --watch` in a pseudo-terminal (util-linux `script` gives it one):
//! it redraws in place when the daemon's status changes, in colour on a terminal, and
//! exits 0 on Ctrl-C. The daemon is a fake serving `/v1/status` JSON the test edits.

mod support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use support::http_fake::{FakeServer, Response};

fn status(state: &str, paused: bool) -> serde_json::Value {
    json!({
        "agent": {"id": "steer-a", "role": "leader", "term": 3},
        "paused": paused, "dry_run": false, "ready": true,
        "pending": if paused { json!({"changes": 2, "checksum": "abcd1234"}) } else { json!(null) },
        "targets": [{"name": "check:web-us", "state": state, "measured_state": state, "failure_ratio": 0.0,
                     "since": "2026-01-01T00:00:00Z", "last_error": null, "override_until": null,
                     "vantage": [{"id": "steer-b", "failure_ratio": 1.0, "last_error": "timeout", "last_seen": null}]}],
        "last_apply": null, "held": [], "vantage": [],
        "providers": {"read_errors": {"pdns-a": {"since": "2026-01-01T00:00:00Z", "error": "401 Unauthorized"}},
                      "write_errors": {}, "backoff": {}},
    })
}

/// Reads what the terminal shows into `seen` until `want` holds or `limit` passes.
fn wait_for(out: &Arc<Mutex<Vec<u8>>>, what: &str, limit: Duration, want: impl Fn(&str) -> bool) {
    let started = Instant::now();
    loop {
        let text = String::from_utf8_lossy(&out.lock().unwrap()).into_owned();
        if want(&text) {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "{what}: not within {limit:?}; the terminal showed:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn watch_redraws_on_a_change_and_exits_on_ctrl_c() {
    support::require_binary("script");
    let current = Arc::new(Mutex::new(status("healthy", false)));
    let served = current.clone();
    let fake = FakeServer::start(Arc::new(move |_| Response::json(200, &served.lock().unwrap())));
    // `script` runs the command through `$SHELL -c`; `exec` makes dnsteer the terminal's
    // foreground process itself, so the exit code is dnsteer's and not that of a shell
    // (dash) that the same SIGINT killed while it waited.
    let cmd = format!(
        "exec {} status --url {} --watch",
        env!("CARGO_BIN_EXE_dnsteer"),
        fake.url()
    );
    let mut child = Command::new("script")
        .args(["-q", "-f", "-e", "-c", &cmd, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .env_remove("NO_COLOR")
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run script");
    let out = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let out = out.clone();
        let mut stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let limit = Duration::from_secs(20);
    wait_for(&out, "the first screen", limit, |t| {
        t.contains("check:web-us") && t.contains("\x1b[H\x1b[2J")
    });
    {
        let text = String::from_utf8_lossy(&out.lock().unwrap()).into_owned();
        assert!(
            text.contains("\x1b[32mhealthy"),
            "healthy in green on a terminal:\n{text}"
        );
        assert!(
            text.contains("pdns-a: read failing since"),
            "a read error with its reason:\n{text}"
        );
        assert!(text.contains("401 Unauthorized"), "{text}");
        assert!(
            text.contains("[elsewhere: steer-b 100%]"),
            "another vantage point's view:\n{text}"
        );
    }
    *current.lock().unwrap() = status("unhealthy", true);
    wait_for(&out, "a redraw with the change", limit, |t| {
        t.matches("\x1b[H\x1b[2J").count() >= 2 && t.contains("\x1b[1;31munhealthy")
    });
    wait_for(&out, "the pending changes while paused", limit, |t| {
        t.contains("writes PAUSED") && t.contains("2 changes waiting, plan abcd1234")
    });
    // Ctrl-C as a terminal sends it: the line discipline turns it into SIGINT.
    child.stdin.as_mut().unwrap().write_all(b"\x03").unwrap();
    child.stdin.as_mut().unwrap().flush().unwrap();
    let started = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("status --watch did not exit on Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    reader.join().unwrap();
    assert_eq!(code, Some(0), "Ctrl-C exits 0");
}

#[test]
fn status_without_a_terminal_has_no_colour() {
    let fake = FakeServer::start(Arc::new(|_| Response::json(200, &status("unhealthy", false))));
    let out = Command::new(env!("CARGO_BIN_EXE_dnsteer"))
        .args(["status", "--url", &fake.url()])
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("unhealthy") && !text.contains('\x1b'), "{text}");
}
