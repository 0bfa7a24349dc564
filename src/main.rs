//! The `natrium` binary: parses the command line like nats-server, starts the server, writes
//! the pid and ports files, and turns signals into shutdown, reload, log reopening and lame
//! duck mode.

use std::io::Write;
use std::process::ExitCode;

use log::{error, info, warn};
use natrium::config::cli::{self, Command, Flags};
use natrium::config::{Options, NATS_COMPAT_VERSION, VERSION};
use natrium::logging::{self, LogConfig};
use natrium::server::Server;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match cli::parse(&args) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "natrium: {e}\nRun 'natrium --help' for the options."
            );
            return ExitCode::from(1);
        }
    };
    match command {
        Command::Help => {
            let _ = std::io::stdout().write_all(cli::USAGE.as_bytes());
            ExitCode::SUCCESS
        }
        Command::HelpTls => {
            let _ = std::io::stdout().write_all(natrium::tls::help_text().as_bytes());
            ExitCode::SUCCESS
        }
        Command::Version => {
            let _ = writeln!(
                std::io::stdout(),
                "natrium: v{VERSION} (nats-server v{NATS_COMPAT_VERSION} compatible)"
            );
            ExitCode::SUCCESS
        }
        Command::Bench(args) => bench(&args),
        Command::Signal { command, .. } => {
            let _ = writeln!(
                std::io::stderr(),
                "natrium: --signal {command} is not supported yet"
            );
            ExitCode::from(1)
        }
        Command::CheckConfig(flags) => match load_options(&flags) {
            Ok(_) => {
                let _ = writeln!(std::io::stderr(), "natrium: configuration is valid");
                ExitCode::SUCCESS
            }
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "natrium: {e}");
                ExitCode::from(1)
            }
        },
        Command::Run(flags) => run(&flags),
    }
}

/// `natrium bench ARGS…`: runs the `natrium-bench` load generator that is installed next
/// to this binary, so none of its code is linked into the server.
fn bench(args: &[String]) -> ExitCode {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok().or(Some(p)))
        .map(|p| p.with_file_name("natrium-bench"));
    let Some(path) = exe.filter(|p| p.is_file()) else {
        let _ = writeln!(
            std::io::stderr(),
            "natrium: bench needs the natrium-bench binary next to natrium \
             (build it with `cargo build --release --bins`)"
        );
        return ExitCode::from(1);
    };
    match std::process::Command::new(&path).args(args).status() {
        Ok(status) => match status.code() {
            Some(code) => ExitCode::from(code.clamp(0, 255) as u8),
            // Killed by a signal: report failure like a shell would.
            None => ExitCode::from(1),
        },
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "natrium: cannot run {}: {e}",
                path.display()
            );
            ExitCode::from(1)
        }
    }
}

/// Builds the options: defaults, then the configuration file, then the command line.
fn load_options(flags: &Flags) -> Result<Options, String> {
    let mut opts = Options::default();
    if let Some(path) = &flags.config_file {
        return Err(format!(
            "configuration file {} : config files are not supported yet",
            path.display()
        ));
    }
    flags.apply(&mut opts);
    Ok(opts)
}

fn log_config(opts: &Options) -> LogConfig {
    LogConfig {
        debug: opts.debug,
        trace: opts.trace,
        time: opts.logtime,
        utc: opts.logtime_utc,
        json: opts.log_json,
        file: opts.log_file.clone(),
        size_limit: opts.log_size_limit,
        max_files: opts.log_max_files,
    }
}

fn run(flags: &Flags) -> ExitCode {
    let opts = match load_options(flags) {
        Ok(o) => o,
        Err(e) => {
            let _ = logging::configure(&LogConfig {
                time: true,
                ..Default::default()
            });
            logging::fatal(&e);
        }
    };
    if let Err(e) = logging::configure(&log_config(&opts)) {
        let _ = logging::configure(&LogConfig {
            time: true,
            ..Default::default()
        });
        logging::fatal(&e);
    }
    // Register for signals before anything can be waited on, so none is missed.
    let mut signals =
        match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2]) {
            Ok(s) => s,
            Err(e) => logging::fatal(&format!("cannot install signal handlers: {e}")),
        };
    let pid_file = opts.pid_file.clone();
    let server = match Server::start(opts) {
        Ok(s) => s,
        Err(e) => logging::fatal(&e),
    };
    if let Some(path) = &pid_file {
        if let Err(e) = std::fs::write(path, std::process::id().to_string()) {
            logging::fatal(&format!("Could not write pidfile: {e}"));
        }
    }
    info!("Server is ready");

    let server = std::sync::Arc::new(server);
    let mut lame_duck = false;
    let signals_handle = signals.handle();
    for sig in signals.forever() {
        match sig {
            SIGTERM if lame_duck => {
                // nats-server ignores SIGTERM once lame duck mode has started.
            }
            SIGINT | SIGTERM => {
                info!(
                    "Trapped \"{}\" signal",
                    if sig == SIGINT {
                        "interrupt"
                    } else {
                        "terminated"
                    }
                );
                break;
            }
            SIGUSR1 => {
                info!("Reopening log file");
                if let Err(e) = logging::reopen() {
                    error!("{e}");
                }
            }
            SIGHUP => warn!("Reload is not supported yet"),
            SIGUSR2 if !lame_duck => {
                lame_duck = true;
                let (server, handle) = (server.clone(), signals_handle.clone());
                // Lame duck ends in shutdown; closing the signal iterator then ends main.
                std::thread::spawn(move || {
                    server.lame_duck();
                    handle.close();
                });
            }
            _ => {}
        }
    }
    if !server.is_stopped() {
        info!("Initiating Shutdown...");
        server.shutdown();
    }
    cleanup(&pid_file);
    info!("Server Exiting..");
    ExitCode::SUCCESS
}

fn cleanup(pid_file: &Option<std::path::PathBuf>) {
    if let Some(p) = pid_file {
        let _ = std::fs::remove_file(p);
    }
}
