//! TLS to etcd: a member serving its client port over https with a certificate from a
//! private CA (made here with openssl). dnsteer trusts the system's roots, and a CA
//! named by `SSL_CERT_FILE`; an unknown issuer is refused with a clear reason.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use support::{free_port, openssl, require_binary, ServerProcess};

#[tokio::test]
async fn etcd_over_https_is_reached_with_a_trusted_ca_and_refused_without() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=dnsteer-test-ca",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );

    let client = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let peer = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let _etcd = ServerProcess::start(
        "etcd",
        vec![
            require_binary("etcd").display().to_string(),
            "--name=t1".into(),
            format!("--data-dir={}", d.join("data").display()),
            format!("--listen-client-urls=https://{client}"),
            format!("--advertise-client-urls=https://{client}"),
            format!("--listen-peer-urls=http://{peer}"),
            format!("--initial-advertise-peer-urls=http://{peer}"),
            format!("--initial-cluster=t1=http://{peer}"),
            format!("--cert-file={}", d.join("server.pem").display()),
            format!("--key-file={}", d.join("server.key").display()),
        ],
        d,
        client,
    );
    let config = d.join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "agent:\n  id: t0\n  coordination: {{ kind: etcd, endpoints: [ \"https://{client}\" ] }}\n\
             providers:\n  p: {{ kind: powerdns, url: \"http://127.0.0.1:1\", api_key: {{ env: K }}, nameservers: [ ns1.a.test. ], probe: [ \"127.0.0.1:9\" ] }}\n\
             zones:\n  - name: example.test.\n    providers: [ p ]\n    records: []\n"
        ),
    )
    .unwrap();
    let check = |ca: Option<&Path>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dnsteer"));
        cmd.args(["--config", config.to_str().unwrap(), "check", "--online"])
            .env("K", "x");
        cmd.env_remove("SSL_CERT_FILE");
        if let Some(ca) = ca {
            cmd.env("SSL_CERT_FILE", ca);
        }
        String::from_utf8_lossy(&cmd.output().unwrap().stdout).to_string()
    };
    // The member may take a moment to serve after its port opens.
    support::wait_until("etcd answers over TLS", std::time::Duration::from_secs(15), || {
        check(Some(&d.join("ca.pem"))).contains("ok      etcd")
    });
    let trusted = check(Some(&d.join("ca.pem")));
    assert!(
        trusted.contains(&format!("ok      etcd https://{client}: reachable")),
        "{trusted}"
    );
    let untrusted = check(None);
    assert!(
        untrusted.contains("FAILED  etcd") && untrusted.contains("UnknownIssuer"),
        "{untrusted}"
    );
}
