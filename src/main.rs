//! The `herald` binary: parse the command line, set up logging, run the command (`herald::cli`).

use herald::config::vars::RUST_LOG;
use std::process::ExitCode;

fn main() -> ExitCode {
    // OpenSSL (one copy in the process, shared with libpq) initialised before libpq's first TLS
    // connection, with OPENSSL_INIT_NO_ATEXIT: otherwise its atexit cleanup frees TLS state that
    // pool threads may still be using on PostgreSQL connections, a crash at exit ("double free
    // or corruption"). The operating system reclaims it all at exit anyway.
    openssl::init();
    let cli = herald::cli::parse();
    // The redis crate logs every attempt of its cluster connections to reach a failed master;
    // Herald logs the outage and the recovery itself. `RUST_LOG=info,redis=warn` shows them.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(RUST_LOG.default)).init();
    match herald::cli::run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("herald: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
