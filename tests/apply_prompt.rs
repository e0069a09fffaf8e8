//! `dnsteer apply` asks on a terminal (util-linux `script` gives it one): declining
//! writes nothing, says so and exits 1, so that a script or an operator's shell sees
//! that nothing was applied.

mod support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::world::{World, QUICK, US};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declining_the_prompt_writes_nothing_and_exits_1() {
    support::require_binary("script");
    let world = World::start().await;
    let config = world.write_config("dnsteer.yaml", &world.config("{ id: e2e }", QUICK, ""));
    // `exec`: the exit code `script -e` reports is dnsteer's, whatever `$SHELL` is.
    let cmd = format!(
        "exec {} --config {} apply --assume check:web-us=down --assume check:web-eu=up",
        env!("CARGO_BIN_EXE_dnsteer"),
        config.display()
    );
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .envs(world.env())
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run script");
    // The answer waits in the terminal's input until the prompt reads it.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"n\n").unwrap();
    stdin.flush().unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "apply did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    drop(stdin);
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(out.contains("[y/N]"), "a prompt:\n{out}");
    assert!(out.contains("Not applied: nothing written."), "{out}");
    assert_eq!(status.code(), Some(1), "declining exits 1:\n{out}");
    assert_eq!(world.www(&world.pdns_a), [US], "nothing written");
}
