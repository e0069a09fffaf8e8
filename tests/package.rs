//! The Debian package: `scripts/package.sh` builds it with cargo-deb (here from the dev
//! build, to keep the suite quick; CI's release package is built the same way), and the
//! test unpacks it into a scratch root and checks what an operator installs: the
//! binary, the hardened unit, the sample configuration, the docs, the man page and the
//! shell completions generated from the CLI definition.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

fn cargo_deb_installed() -> bool {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    home.is_some_and(|h| h.join("bin/cargo-deb").exists())
        || Command::new("cargo-deb").arg("--version").output().is_ok()
}

fn read(root: &Path, path: &str) -> String {
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path} in the package: {e}"))
}

#[test]
fn the_deb_holds_the_binary_unit_docs_man_page_and_completions() {
    assert!(
        cargo_deb_installed(),
        "cargo-deb is not installed: run scripts/install-test-deps.sh (cargo install cargo-deb --locked)"
    );
    support::require_binary("dpkg-deb");
    // The binary this test run built (target/debug/dnsteer) is the one packaged.
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_dnsteer"));
    let target = bin.parent().and_then(Path::parent).expect("target dir").to_path_buf();
    let built = Command::new("scripts/package.sh")
        .arg("dev")
        .env("PACKAGE_PREBUILT", "1")
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "scripts/package.sh failed:\n{}{}",
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );
    let deb = std::fs::read_dir(target.join("debian"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .max_by_key(|p| p.metadata().unwrap().modified().unwrap())
        .expect("a .deb in target/debian");

    let info = Command::new("dpkg-deb").arg("--info").arg(&deb).output().unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("Package: dnsteer"), "{info}");
    assert!(
        info.contains(&format!("Version: {}", env!("CARGO_PKG_VERSION"))),
        "{info}"
    );

    let root = tempfile::tempdir().unwrap();
    let unpacked = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(root.path())
        .status()
        .unwrap();
    assert!(unpacked.success(), "dpkg-deb -x");
    let root = root.path();

    // The binary runs from where it is installed.
    let version = Command::new(root.join("usr/bin/dnsteer"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")),
        "{version:?}"
    );

    let unit = read(root, "lib/systemd/system/dnsteer.service");
    for line in [
        "ExecStart=/usr/bin/dnsteer",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "StateDirectory=dnsteer",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
    ] {
        assert!(unit.contains(line), "the unit has {line}:\n{unit}");
    }
    assert!(
        unit.lines().any(|l| l.trim() == "CapabilityBoundingSet="),
        "an empty capability bounding set:\n{unit}"
    );

    let example = read(root, "usr/share/doc/dnsteer/examples/dnsteer.yaml");
    assert!(example.contains("zones:"), "the sample configuration");
    assert!(read(root, "usr/share/doc/dnsteer/docs/operations.md").contains("SIGHUP"));
    assert!(root.join("usr/share/doc/dnsteer/README.md").exists());

    // The man page, generated from the CLI: every subcommand is in it.
    let man = Command::new("gzip")
        .arg("-dc")
        .arg(root.join("usr/share/man/man1/dnsteer.1.gz"))
        .output()
        .unwrap();
    let man = String::from_utf8_lossy(&man.stdout);
    assert!(man.contains(".TH dnsteer 1"), "{man}");
    for sub in ["check", "plan", "apply", "run", "status", "explain"] {
        assert!(
            man.contains(&format!("dnsteer\\-{sub}(1)")) || man.contains(sub),
            "{sub} in the man page"
        );
    }

    let bash = read(root, "usr/share/bash-completion/completions/dnsteer");
    assert!(
        bash.contains("complete -F") && bash.contains("explain"),
        "bash completion"
    );
    let zsh = read(root, "usr/share/zsh/vendor-completions/_dnsteer");
    assert!(zsh.starts_with("#compdef dnsteer"), "zsh completion");
    let fish = read(root, "usr/share/fish/vendor_completions.d/dnsteer.fish");
    assert!(fish.contains("complete -c dnsteer"), "fish completion");
    // Completions for the flags an operator types most.
    assert!(
        bash.contains("--config") && fish.contains("-l config"),
        "the --config flag completes"
    );
}
