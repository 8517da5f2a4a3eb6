//! `shardhub`: the daemon's command line. See `shardhub --help`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use shardhub::config::{Config, Overrides};
use shardhub::runtime::logging;
use shardhub::server;

/// jemalloc: see `shardhub::runtime::allocator` for why.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its start: a background thread gives freed pages back to the
/// system a second after they go unused (as Redis runs it), instead of waiting for the next
/// allocations to notice, so RSS follows what the server holds.
#[allow(non_upper_case_globals)]
#[export_name = "malloc_conf"]
pub static malloc_conf: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

/// A shard-per-core server for flash sales (RESP), IoT devices (MQTT) and light wallets (HTTP).
#[derive(Parser)]
#[command(name = "shardhub", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server. With no --config it runs on embedded defaults; flags override the file.
    Serve {
        /// TOML configuration file (see shardhub.example.toml).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Executor threads (0 = one per available CPU).
        #[arg(long, value_name = "N")]
        shards: Option<usize>,
        /// RESP (Redis protocol) listen address.
        #[arg(long, value_name = "ADDR")]
        resp: Option<String>,
        /// MQTT listen address (the IoT gateway's broker).
        #[arg(long, value_name = "ADDR")]
        mqtt: Option<String>,
        /// HTTP listen address (/metrics, /healthz, /readyz, shadows, the wallet API).
        #[arg(long, value_name = "ADDR")]
        http: Option<String>,
        /// Data directory.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Log format: human or json.
        #[arg(long, value_name = "FORMAT")]
        log_format: Option<String>,
        /// File holding the wallet keystore passphrase (the passphrase itself never goes on
        /// the command line). Without it and without wallet.passphrase_file or the
        /// wallet-passphrase systemd credential, the wallet API answers 503.
        #[arg(long, value_name = "FILE")]
        wallet_passphrase_file: Option<PathBuf>,
    },
    /// Consume the orders topic into PostgreSQL (the order store; docs/pipeline.md).
    Sink(shardhub::sink::SinkArgs),
    /// Validate a configuration file and print the effective settings.
    CheckConfig {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Make a wallet API key: prints the key (give it to the caller) on stdout, and the line
    /// for wallet.api_keys_file (only its SHA-256) on stderr.
    ApiKey {
        /// A name for the key, shown in logs.
        name: String,
        /// app (wallet endpoints) or admin (also /v1/admin).
        #[arg(value_parser = ["app", "admin"])]
        role: String,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Sink(args) => {
            let _log = logging::init("human", "info");
            match shardhub::sink::run(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "sink stopped");
                    eprintln!("shardhub: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::ApiKey { name, role } => {
            if name.is_empty() || name.contains(char::is_whitespace) {
                eprintln!("shardhub: the key name must be one word");
                return ExitCode::FAILURE;
            }
            let mut raw = [0u8; 32];
            if let Err(e) = shardhub::wallet::custody::random_bytes(&mut raw) {
                eprintln!("shardhub: {e}");
                return ExitCode::FAILURE;
            }
            let key = format!("shk_{}", hex::encode(raw));
            println!("{key}");
            eprintln!("{name} {role} {}", shardhub::wallet::access::key_hash_hex(&key));
            ExitCode::SUCCESS
        }
        Command::CheckConfig { file } => match Config::load(Some(&file), &Overrides::default()) {
            Ok(config) => {
                println!(
                    "# {} is valid; effective settings ({} shards):",
                    file.display(),
                    config.shard_count()
                );
                print!("{}", config.to_toml());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("shardhub: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve {
            config,
            shards,
            resp,
            mqtt,
            http,
            data_dir,
            log_format,
            wallet_passphrase_file,
        } => {
            let overrides = Overrides {
                shards,
                resp,
                mqtt,
                http,
                data_dir,
                log_format,
                wallet_passphrase_file,
            };
            let loaded = match Config::load(config.as_deref(), &overrides) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("shardhub: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let log = logging::init(&loaded.server.log_format, &loaded.server.log_level);
            tracing::info!(version = env!("CARGO_PKG_VERSION"), config = ?config, "starting");
            let args = server::ServeArgs {
                config: loaded,
                config_path: config,
                overrides,
                log,
            };
            match server::serve(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start");
                    eprintln!("shardhub: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
