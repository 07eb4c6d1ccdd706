//! `cargo bench --bench avp`: the AVP store against fakecloud (the emulator
//! the tests use; ./scripts/test.sh installs it): on a store of 1,000
//! policies, a no-op `diff` and a `deploy` of 20 changed policies, with
//! wall time and the calls each makes.
//!
//! Options: `--policies N` (1000), `--changes N` (20).

mod common;

use std::io::BufRead;
use std::time::Instant;

fn main() {
    let policies = common::arg("--policies", 1000);
    let changes = common::arg("--changes", 20);
    let home = std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME"));
    let binary = std::env::var_os("AVPCTL_FAKECLOUD")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| home.join(".cache/avpctl-tools/fakecloud-0.51.0/bin/fakecloud"));
    if !binary.is_file() {
        println!("avp benchmark: skipped, fakecloud is not installed (run ./scripts/test.sh once)");
        return;
    }
    let mut child = std::process::Command::new(&binary)
        .args(["--addr", "127.0.0.1:0", "--log-level", "error"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("fakecloud starts");
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let port: u16 = first
        .trim()
        .trim_start_matches("FAKECLOUD_PORT=")
        .parse()
        .unwrap();

    let store_id = create_store(port);
    let store = format!("avp:{store_id}");
    let generated = common::project(policies, 0, 1);
    let root = generated.dir.path().to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let started = Instant::now();
        let output = std::process::Command::new(common::avpctl())
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env("AWS_REGION", "us-east-1")
            .env(
                "AWS_ENDPOINT_URL_VERIFIEDPERMISSIONS",
                format!("http://127.0.0.1:{port}"),
            )
            .output()
            .unwrap();
        let elapsed = started.elapsed();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        (
            elapsed,
            serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap_or_default(),
        )
    };
    let (first_deploy, _) = run(&[
        "deploy", &root, "--store", &store, "--yes", "--format", "json",
    ]);
    let (noop, diff) = run(&["diff", &root, "--store", &store, "--format", "json"]);
    assert_eq!(diff["changes"].as_array().map(Vec::len), Some(0));
    for i in 0..changes {
        let path = generated
            .dir
            .path()
            .join(format!("policies/p{:05}.cedar", i * (policies / changes)));
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("when {", "when { context.mfa && ")).unwrap();
    }
    let (deploy, report) = run(&[
        "deploy", &root, "--store", &store, "--yes", "--format", "json",
    ]);
    let calls = &report["stores"][0]["result"]["calls"];
    let writes: u64 = calls.as_object().map_or(0, |c| {
        c.iter()
            .filter(|(k, _)| {
                !k.starts_with("List") && !k.starts_with("Get") && !k.starts_with("Batch")
            })
            .filter_map(|(_, v)| v.as_u64())
            .sum()
    });
    let _ = child.kill();
    let _ = child.wait();

    println!("avp benchmark against fakecloud ({policies} policies, {changes} changed)");
    println!(
        "  first deploy:            {:>7.2} s",
        first_deploy.as_secs_f64()
    );
    println!(
        "  no-op diff:              {:>7.2} s  calls {}",
        noop.as_secs_f64(),
        diff["store_calls"]
    );
    println!(
        "    bound: ⌈{policies}/50⌉ = {} ListPolicies + ⌈{policies}/100⌉ = {} BatchGetPolicy + a few",
        policies.div_ceil(50),
        policies.div_ceil(100)
    );
    println!(
        "  deploy of the changes:   {:>7.2} s  {writes} writes, calls {calls}",
        deploy.as_secs_f64()
    );
}

fn create_store(port: u16) -> String {
    use std::io::{Read, Write};
    let body = r#"{"validationSettings": {"mode": "STRICT"}}"#;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: VerifiedPermissions.CreatePolicyStore\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(response.split_once("\r\n\r\n").unwrap().1).unwrap();
    json["policyStoreId"].as_str().unwrap().to_string()
}
