//! `posture`: parse, run, map to the process exit code. Everything else lives in the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(posture::cli::main_with_args(std::env::args_os()))
}
