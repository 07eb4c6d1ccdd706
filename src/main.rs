use clap::Parser;

/// Cedar's parser and evaluator recurse on nesting depth; a generous stack
/// turns a pathological input into an error message instead of a crash.
const STACK_BYTES: usize = 256 * 1024 * 1024;

fn main() -> std::process::ExitCode {
    let cli = avpctl::cli::Cli::parse();
    let worker = std::thread::Builder::new()
        .name("avpctl".into())
        .stack_size(STACK_BYTES)
        .spawn(move || avpctl::run(cli));
    let code = match worker.map(|handle| handle.join()) {
        Ok(Ok(code)) => code,
        _ => 2,
    };
    std::process::ExitCode::from(code)
}
