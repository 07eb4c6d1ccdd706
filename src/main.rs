use clap::Parser;

// Why not the system allocator: docs/performance.md, "The allocator".
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match avpctl::cli::Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => {
            return std::process::ExitCode::from(avpctl::report_usage_error(&error, &args));
        }
    };
    let worker = std::thread::Builder::new()
        .name("avpctl".into())
        // Cedar recurses on nesting depth: see avpctl::nesting.
        .stack_size(avpctl::nesting::WORKER_STACK_BYTES)
        .spawn(move || avpctl::run(cli));
    let code = match worker.map(|handle| handle.join()) {
        Ok(Ok(code)) => code,
        _ => 2,
    };
    std::process::ExitCode::from(code)
}
