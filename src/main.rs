//! The sheepdog binary: parse the command line, set up logging and the runtime, run the
//! command (`cli::execute`), and exit with its code. Everything else is in the library.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use cli::Cli;
use sheepdog::Exit;

/// mimalloc instead of glibc's malloc: a run allocates and frees small buffers on every worker
/// thread, and glibc's arena locks showed up as the largest cost in `perf` (see README,
/// Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    load_dotenv();
    let cli = Cli::parse();
    if let Err(e) = sheepdog::logging::init(cli.log.settings(), std::env::var("RUST_LOG").ok().as_deref()) {
        eprintln!("sheepdog: {e}");
        return Exit::Usage.into();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("sheepdog: cannot start the async runtime: {e}");
            return Exit::Aborted.into();
        }
    };
    runtime.block_on(cli::execute(cli.command)).into()
}

/// Keys may live in `.env` in the working directory; a missing file is fine, a broken one is said.
fn load_dotenv() {
    match dotenvy::dotenv() {
        Ok(_) => {}
        Err(e) if e.not_found() => {}
        Err(e) => eprintln!("sheepdog: warning: .env: {e}"),
    }
}
