//! Shared by every fuzz target: one scratch project per process, and each
//! input run on a thread with avpctl's worker stack, as avpctl runs Cedar.

use std::sync::OnceLock;

static SCRATCH: OnceLock<avpctl::fuzz::Scratch> = OnceLock::new();

pub fn run(target: avpctl::fuzz::Target, data: &[u8]) {
    let scratch = SCRATCH.get_or_init(|| avpctl::fuzz::Scratch::new().expect("a scratch project"));
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(avpctl::nesting::WORKER_STACK_BYTES)
            .spawn_scoped(scope, || scratch.run(target, data))
            .expect("a worker thread")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    });
}
