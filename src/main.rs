//! The `natrium` binary: parses the command line like nats-server, reads the configuration
//! file, starts the server, writes the pid and ports files, tells systemd it is ready, and
//! turns signals into shutdown, reload, log reopening and lame duck mode.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use log::{error, info, warn};
use natrium::config::cli::{self, Command, Flags};
use natrium::config::conf;
use natrium::config::file::{self, Report};
use natrium::config::{reload, Options, NATS_COMPAT_VERSION, VERSION};
use natrium::logging::{self, LogConfig};
use natrium::server::Server;
use natrium::service::files::{self, Ports};
use natrium::service::notify::{self, Notifier};
use natrium::service::signal;
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
        Command::Signal { command, target } => {
            match signal::process_signal(&command, target.as_deref()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "natrium: {}", e.trim_start());
                    ExitCode::from(1)
                }
            }
        }
        Command::CheckConfig(flags) => check_config(&flags),
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

/// Builds the options: defaults, then the configuration file, then the command line. An
/// error is the text nats-server would print after its name (`conf::report`).
fn load_options(flags: &Flags) -> Result<(Options, Report), String> {
    let mut opts = Options::default();
    let report = match &flags.config_file {
        Some(path) => file::load(path, &mut opts).map_err(|e| conf::report(&e))?,
        None => Report::default(),
    };
    flags.apply_checked(&mut opts)?;
    opts.validate()?;
    Ok((opts, report))
}

/// `-t`: nats-server prints the problems (warnings fail the check too) or that the file is
/// valid; natrium also lists the keys it accepts but ignores.
fn check_config(flags: &Flags) -> ExitCode {
    let mut err = std::io::stderr();
    let Some(path) = &flags.config_file else {
        let _ = writeln!(
            err,
            "natrium: must specify [-c, --config] option to check configuration file syntax"
        );
        return ExitCode::from(1);
    };
    match load_options(flags) {
        Err(e) => {
            let _ = writeln!(err, "natrium: {e}");
            ExitCode::from(1)
        }
        Ok((_, report)) if !report.warnings.is_empty() => {
            let _ = writeln!(err, "natrium: {}", conf::report(&report.warnings));
            ExitCode::from(1)
        }
        // Valid for nats-server, but asking for what natrium refuses to run without (the
        // same check as at start-up), so that `-t` does not pass a file `natrium` rejects.
        Ok((opts, _)) if let Err(e) = runnable(&opts) => {
            let _ = writeln!(err, "natrium: {e}");
            ExitCode::from(1)
        }
        Ok((_, report)) => {
            let _ = writeln!(
                err,
                "natrium: configuration file {} is valid",
                path.display()
            );
            for i in &report.ignored {
                let _ = writeln!(
                    err,
                    "natrium: {}: {:?} is accepted but ignored: natrium does not implement {} yet",
                    i.pos, i.key, i.feature
                );
            }
            ExitCode::SUCCESS
        }
    }
}

/// The checks the server makes of the links it is asked to run before it starts them.
fn runnable(opts: &Options) -> Result<(), String> {
    natrium::route::Settings::from_options(opts)?;
    natrium::leaf::Settings::from_options(opts)?;
    Ok(())
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

fn log_report(report: &Report) {
    for w in &report.warnings {
        warn!("{w}");
    }
    if let Some(summary) = report.ignored_summary() {
        warn!("{summary}");
    }
}

/// The process files and notices that follow the running options.
struct Process {
    pid_file: Option<PathBuf>,
    ports_file: Option<PathBuf>,
}

impl Process {
    fn ports(server: &Server) -> Ports {
        Ports {
            nats: files::listener_urls("nats", server.client_addr()),
            monitoring: server
                .monitor_addr()
                .map(|a| files::listener_urls("http", a))
                .unwrap_or_default(),
            websocket: server
                .websocket_addr()
                .map(|a| files::listener_urls(if server.websocket_tls() { "wss" } else { "ws" }, a))
                .unwrap_or_default(),
            cluster: server
                .cluster_addr()
                .map(|a| files::listener_urls("nats", a))
                .unwrap_or_default(),
            ..Ports::default()
        }
    }

    fn write_ports(&mut self, opts: &Options, server: &Server) {
        self.ports_file = None;
        if let Some(dir) = &opts.ports_file_dir {
            match files::write_ports_file(dir, &Self::ports(server)) {
                Ok(p) => self.ports_file = Some(p),
                Err(e) => error!("{e}"),
            }
        }
    }

    fn remove_ports(&mut self) {
        if let Some(p) = self.ports_file.take() {
            if let Err(e) = std::fs::remove_file(&p) {
                error!("Error cleaning up ports file {}: {e}", p.display());
            }
        }
    }

    fn remove_all(&mut self) {
        self.remove_ports();
        if let Some(p) = self.pid_file.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn run(flags: &Flags) -> ExitCode {
    // nats-server's Go runtime raises the soft descriptor limit to the hard one at start;
    // under systemd's default (1024 soft) a server would otherwise refuse its 1,000th
    // client where nats-server takes it.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    // Like nats-server, a configuration that cannot be used is reported on stderr before
    // any logging is set up (`natrium: a.conf:2:1: unknown field "foo"`), not as a log line.
    let (opts, report) = match load_options(flags) {
        Ok(o) => o,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "natrium: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = logging::configure(&log_config(&opts)) {
        let _ = logging::configure(&LogConfig {
            time: true,
            ..Default::default()
        });
        logging::fatal(&e);
    }
    log_report(&report);
    // Register for signals before anything can be waited on, so none is missed.
    let mut signals =
        match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2]) {
            Ok(s) => s,
            Err(e) => logging::fatal(&format!("cannot install signal handlers: {e}")),
        };
    let server = match Server::start(opts.clone()) {
        Ok(s) => s,
        Err(e) => logging::fatal(&e),
    };
    // What is running: a random port is now the bound one (nats-server does the same).
    let mut running = opts;
    running.port = server.client_addr().port();
    let mut process = Process {
        pid_file: running.pid_file.clone(),
        ports_file: None,
    };
    if let Some(path) = &process.pid_file {
        if let Err(e) = files::write_pid_file(path) {
            logging::fatal(&e);
        }
    }
    process.write_ports(&running, &server);
    let notifier = Notifier::from_env();
    if let Some(n) = &notifier {
        if let Err(e) = n.notify("READY=1") {
            warn!("Could not notify systemd: {e}");
        }
    }
    let alive = Arc::new(AtomicBool::new(true));
    {
        let alive = alive.clone();
        notify::spawn_watchdog(move || alive.load(Ordering::Acquire));
    }
    info!("Server is ready");
    natrium::service::footprint::drop_startup_text();

    let server = Arc::new(server);
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
                info!("Trapped \"user defined signal 1\" signal");
                if let Err(e) = logging::reopen() {
                    error!("{e}");
                } else {
                    info!("File log re-opened");
                }
            }
            SIGHUP => {
                info!("Trapped \"hangup\" signal");
                if let Err(e) = reload_config(flags, &server, &mut running, &mut process) {
                    error!("Failed to reload server configuration: {e}");
                }
            }
            SIGUSR2 if !lame_duck => {
                info!("Trapped \"user defined signal 2\" signal");
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
    if let Some(n) = &notifier {
        let _ = n.notify("STOPPING=1");
    }
    alive.store(false, Ordering::Release);
    if !server.is_stopped() {
        info!("Initiating Shutdown...");
        server.shutdown();
    }
    process.remove_all();
    info!("Server Exiting..");
    ExitCode::SUCCESS
}

/// SIGHUP: re-reads the file, re-applies the flags, and applies what changed, or refuses
/// the whole reload (the old configuration stays) with nats-server's message.
fn reload_config(
    flags: &Flags,
    server: &Server,
    running: &mut Options,
    process: &mut Process,
) -> Result<(), String> {
    if flags.config_file.is_none() {
        return Err("can only reload config when a file is provided using -c or --config".into());
    }
    let (mut new, report) = load_options(flags).map_err(|e| e.trim_end().to_string())?;
    let changes = reload::diff(running, &mut new)?;
    // First what can still fail (new users, credentials and permissions are compiled and
    // checked here), so that a refused reload changes nothing.
    server.reload(new.clone())?;
    if log_config(running) != log_config(&new) {
        logging::configure(&log_config(&new))?;
    }
    log_report(&report);
    if new.pid_file != running.pid_file {
        if let Some(old) = process.pid_file.take() {
            let _ = std::fs::remove_file(old);
        }
        if let Some(path) = &new.pid_file {
            files::write_pid_file(path)?;
            process.pid_file = Some(path.clone());
        }
    }
    if new.ports_file_dir != running.ports_file_dir {
        process.remove_ports();
        process.write_ports(&new, server);
    }
    for c in &changes {
        info!("{}", c.0);
    }
    info!("Reloaded server configuration");
    *running = new;
    Ok(())
}
