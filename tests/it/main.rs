//! Every integration test of avpctl, in one test binary: one module per
//! area, and the helpers they share in `common/`. One binary links the AWS
//! SDK, tokio, Cedar and SymCC once instead of once per file (see
//! docs/performance.md, "Test suite build and run time"). `render` pins
//! what people read: insta snapshots of each renderer, in `snapshots/`.
//!
//! All tests share one process. What that means for a test:
//!
//! - The `avpctl` binary (`CARGO_BIN_EXE_avpctl`) is run as a child process
//!   with its own current directory and environment (`common::command`);
//!   no test changes this process's current directory or environment.
//! - The fakecloud emulator is started once per process, on first use, and
//!   shared (`common::avp::fakecloud`); each test makes its own policy store.
//! - Tests that call the library in-process and may reach rayon first call
//!   `common::in_process()`, so that rayon's global pool has the stack
//!   avpctl gives its workers, whichever test runs first.
//!
//! Run one area with `cargo test --test it <module>::`, e.g.
//! `cargo test --test it fmt::`.

mod common;

mod access;
mod access_memo;
mod action;
mod adoption;
mod architecture;
mod avp;
mod avp_real;
mod conformance;
mod deploy_command;
mod deploy_faults;
mod deploy_order;
mod docs;
mod fmt;
mod identity;
mod markdown;
mod prove;
mod render;
mod schemas;
mod security;
mod slicer_property;
mod test_command;
mod validate;
