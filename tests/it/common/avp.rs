//! An AVP-compatible endpoint for tests: fakecloud, run as a separate
//! process on 127.0.0.1, and a small fault-injecting HTTP proxy in front of
//! it. The AWS SDK inside avpctl talks to them as it would to AWS.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

pub struct Fakecloud {
    child: Child,
    pub port: u16,
}

impl Drop for Fakecloud {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("AVPCTL_FAKECLOUD") {
        return Some(PathBuf::from(path));
    }
    let home = PathBuf::from(std::env::var_os("HOME")?);
    let cached = home.join(".cache/avpctl-tools/fakecloud-0.51.0/bin/fakecloud");
    cached.is_file().then_some(cached)
}

/// The shared emulator of this test binary, started on first use. The
/// tests that use it are `#[ignore]`d for that reason; run without it (or
/// when it does not start) they fail here, never pass.
pub fn fakecloud() -> &'static Fakecloud {
    static INSTANCE: OnceLock<Result<Fakecloud, String>> = OnceLock::new();
    match INSTANCE.get_or_init(start) {
        Ok(fakecloud) => fakecloud,
        Err(why) => panic!("{why}"),
    }
}

/// Starts the emulator from a thread that lives as long as the test
/// process. A `static` is never dropped, so `Fakecloud`'s `Drop` does not
/// run at exit: on Linux the emulator instead asks the kernel for SIGKILL
/// when the thread that started it ends (`PR_SET_PDEATHSIG`), which is at
/// the end of the process (a test's own thread would end with its test).
fn start() -> Result<Fakecloud, String> {
    let (started, result) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("fakecloud-parent".into())
        .spawn(move || {
            let _ = started.send(spawn());
            loop {
                std::thread::park();
            }
        })
        .map_err(|err| format!("no thread to start fakecloud from: {err}"))?;
    result
        .recv()
        .map_err(|_| "fakecloud's starter thread ended".to_string())?
}

fn spawn() -> Result<Fakecloud, String> {
    let Some(binary) = binary().filter(|b| b.is_file()) else {
        return Err(
            "this test needs the fakecloud emulator and it is not installed: run ./scripts/test.sh (it installs it), or set AVPCTL_FAKECLOUD=/path/to/fakecloud".into(),
        );
    };
    let mut command = Command::new(&binary);
    command
        .args(["--addr", "127.0.0.1:0", "--log-level", "error"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl(2) is async-signal-safe; nothing else runs
        // between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = command
        .spawn()
        .map_err(|err| format!("fakecloud ({}) does not start: {err}", binary.display()))?;
    let stdout = child.stdout.take().ok_or("fakecloud has no stdout")?;
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .map_err(|err| format!("fakecloud does not print its port: {err}"))?;
    let port = first
        .trim()
        .strip_prefix("FAKECLOUD_PORT=")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("fakecloud printed {first:?}, not FAKECLOUD_PORT=<n>"))?;
    Ok(Fakecloud { child, port })
}

/// One JSON call to the Verified Permissions API (unsigned: fakecloud does
/// not check signatures), for test set-up only.
pub fn call(port: u16, operation: &str, body: &serde_json::Value) -> serde_json::Value {
    let body = body.to_string();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: VerifiedPermissions.{operation}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let json = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(json).unwrap_or(serde_json::Value::Null)
}

/// A new, empty policy store; returns its id.
pub fn new_store(port: u16) -> String {
    let out = call(
        port,
        "CreatePolicyStore",
        &serde_json::json!({"validationSettings": {"mode": "STRICT"}}),
    );
    out["policyStoreId"]
        .as_str()
        .expect("a policy store id")
        .to_string()
}

/// Environment for an avpctl process talking to `port` with dummy
/// credentials that tests can look for in the output.
pub const ACCESS_KEY: &str = "AKIAAVPCTLTESTKEY00";
pub const SECRET_KEY: &str = "avpctl-test-secret-must-never-be-printed";

pub fn env(port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        (
            "AWS_ENDPOINT_URL_VERIFIEDPERMISSIONS",
            format!("http://127.0.0.1:{port}"),
        ),
        (
            "AWS_CONFIG_FILE",
            "/nonexistent/avpctl-test-config".to_string(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/avpctl-test-credentials".to_string(),
        ),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
    ]
}

/// What the proxy does to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Pass,
    /// 400 ThrottlingException, which the SDK retries with backoff.
    Throttle,
    /// 500 InternalServerException, which the SDK retries.
    ServerError,
    /// The connection is closed without an answer.
    Drop,
    /// 403-style AccessDeniedException, which is final.
    AccessDenied,
    /// Passed through, with the answer claiming a Cedar 2 policy store.
    Cedar2,
}

type Decide = dyn Fn(usize, &str) -> Fault + Send + Sync;

/// An HTTP proxy to fakecloud that injects faults. `decide` sees the
/// request's number (from 0) and its operation (`CreatePolicy`, …).
pub struct FaultProxy {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<(String, Fault)>>>,
    stop: Arc<AtomicBool>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl FaultProxy {
    pub fn start(upstream: u16, decide: Box<Decide>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let counter = Arc::new(AtomicUsize::new(0));
        let decide: Arc<Decide> = Arc::from(decide);
        let (stop_flag, log) = (stop.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop_flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (decide, counter, log) = (decide.clone(), counter.clone(), log.clone());
                std::thread::spawn(move || serve(stream, upstream, &*decide, &counter, &log));
            }
        });
        FaultProxy {
            port,
            requests,
            stop,
        }
    }

    pub fn count(&self, operation: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(op, _)| op == operation)
            .count()
    }

    pub fn faults(&self) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, f)| *f != Fault::Pass)
            .count()
    }
}

/// Reads one HTTP request (head and Content-Length body).
fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).ok()?;
    Some((head, body))
}

fn error_response(status: &str, kind: &str, message: &str) -> String {
    let body = serde_json::json!({"__type": kind, "message": message}).to_string();
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-ErrorType: {kind}\r\nx-amzn-RequestId: avpctl-proxy\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn serve(
    mut client: TcpStream,
    upstream: u16,
    decide: &Decide,
    counter: &AtomicUsize,
    log: &Mutex<Vec<(String, Fault)>>,
) {
    let Some((head, body)) = read_request(&mut client) else {
        return;
    };
    let operation = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("x-amz-target:")
                .then(|| l.split('.').next_back().unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let fault = decide(counter.fetch_add(1, Ordering::SeqCst), &operation);
    log.lock().unwrap().push((operation, fault));
    let answer = match fault {
        Fault::Drop => return,
        Fault::Throttle => {
            error_response("400 Bad Request", "ThrottlingException", "Rate exceeded")
        }
        Fault::ServerError => error_response(
            "500 Internal Server Error",
            "InternalServerException",
            "injected failure",
        ),
        Fault::AccessDenied => error_response(
            "400 Bad Request",
            "AccessDeniedException",
            "User is not authorized to perform this action",
        ),
        Fault::Pass | Fault::Cedar2 => {
            let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                return;
            };
            // One request per connection keeps the proxy simple.
            let head = head
                .lines()
                .filter(|l| !l.to_ascii_lowercase().starts_with("connection:") && !l.is_empty())
                .collect::<Vec<_>>()
                .join("\r\n");
            let _ = server.write_all(format!("{head}\r\nConnection: close\r\n\r\n").as_bytes());
            let _ = server.write_all(&body);
            let mut response = Vec::new();
            let _ = server.read_to_end(&mut response);
            if fault == Fault::Cedar2 {
                let text = String::from_utf8_lossy(&response).into_owned();
                let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
                let mut json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
                json["cedarVersion"] = serde_json::json!("CEDAR_2");
                let body = json.to_string();
                response = format!("HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).into_bytes();
            }
            let _ = client.write_all(&response);
            return;
        }
    };
    let _ = client.write_all(answer.as_bytes());
}
