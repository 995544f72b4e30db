use std::process::ExitCode;

fn main() -> ExitCode {
    omega_sync::cli::main()
}
