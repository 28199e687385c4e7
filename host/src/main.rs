//! Command line of the host: `efalia-host serve COMPONENT [OPTIONS]`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use efalia_host::engine::{Allocation, EngineOptions};
use efalia_host::kv::{KvBackend, RedisBackend, SqliteBackend, SqliteLocation};
use efalia_host::outbound::OutboundTimeouts;
use efalia_host::{Host, HostOptions, RequestLimits, RuntimeConfig};

/// Serve a wasi:http component with persistent key-value, config and an outbound allow-list.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a component over HTTP/1.1 until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Write a development configuration with fresh secrets, unless the file exists.
    DevConfig(DevConfigArgs),
    /// Print a user token signed with the configuration's user_jwt_secret, for trying the API.
    DevToken(DevTokenArgs),
}

#[derive(Args)]
struct DevConfigArgs {
    /// Configuration file to create.
    #[arg(default_value = "data/efalia.toml")]
    path: PathBuf,
}

#[derive(Args)]
struct DevTokenArgs {
    /// Configuration file holding user_jwt_secret (EFALIA_VARIABLE_USER_JWT_SECRET overrides it).
    #[arg(long, default_value = "data/efalia.toml")]
    config: PathBuf,

    /// User id, the token's `sub` claim.
    #[arg(long, default_value = "u-101")]
    user: String,

    /// Display name, the token's `name` claim.
    #[arg(long, default_value = "Utilisatrice de test")]
    name: String,

    /// Add the `admin` role.
    #[arg(long)]
    admin: bool,

    /// Lifetime of the token, in seconds.
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    lifetime: u64,
}

#[derive(Args)]
struct ServeArgs {
    /// Component file (.wasm) exporting wasi:http/incoming-handler@0.2.x.
    component: PathBuf,

    /// Address to listen on; port 0 picks a free port, logged at start.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,

    /// TOML file with [variables], [key_value_store.<label>] and [component] tables.
    #[arg(long)]
    config: Option<PathBuf>,

    /// SQLite file of the key-value store, created if missing (ignored with --redis-url). Without
    /// this option or --redis-url, the backend is the one the configuration file's
    /// [key_value_store.<label>] tables name with `type`, else data/kv.sqlite3.
    #[arg(long, value_name = "PATH")]
    sqlite_path: Option<PathBuf>,

    /// Redis URL of the key-value store, e.g. redis://127.0.0.1:6379/0; replaces SQLite and the
    /// configuration file's store type.
    #[arg(long, env = "EFALIA_REDIS_URL")]
    redis_url: Option<String>,

    /// Extra outbound allow-list entry, scheme://host[:port] as in Spin (repeatable).
    #[arg(long = "allow-outbound", value_name = "ENTRY")]
    allow_outbound: Vec<String>,

    /// Largest linear memory of one instance, in bytes.
    #[arg(long, default_value_t = 128 << 20, value_name = "BYTES")]
    max_instance_memory: usize,

    /// Guest CPU time allowed per request, in milliseconds.
    #[arg(long, default_value_t = 30_000, value_name = "MS")]
    max_cpu_time: u64,

    /// Largest request body, in bytes; larger requests get 413.
    #[arg(long, default_value_t = 256 << 20, value_name = "BYTES")]
    max_request_body: u64,

    /// Requests served at once; further requests wait for a free slot.
    #[arg(long, default_value_t = 100, value_name = "COUNT")]
    max_concurrent_requests: usize,

    /// Largest request header section, in bytes (at least 8192); larger requests get 431.
    #[arg(long, default_value_t = 64 << 10, value_name = "BYTES")]
    max_header_bytes: usize,

    /// Time a client has to send its request headers, in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    header_read_timeout: u64,

    /// Maximum time to connect to an outbound host, in milliseconds.
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    outbound_connect_timeout: u64,

    /// Maximum wait for the first byte of an outbound response, in milliseconds.
    #[arg(long, default_value_t = 60_000, value_name = "MS")]
    outbound_first_byte_timeout: u64,

    /// Maximum wait between two chunks of an outbound response body, in milliseconds.
    #[arg(long, default_value_t = 30_000, value_name = "MS")]
    outbound_between_bytes_timeout: u64,

    /// Allocate instance memory on demand instead of from the pooling allocator.
    #[arg(long)]
    no_pooling: bool,

    /// Time given to requests in flight after SIGINT or SIGTERM, in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    shutdown_timeout: u64,
}

/// SQLite file used when neither the command line nor the configuration file names a store.
const DEFAULT_SQLITE_PATH: &str = "data/kv.sqlite3";

fn main() -> ExitCode {
    {
        use tracing_subscriber::prelude::*;
        let env_filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let output = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(env_filter)
            .with_filter(efalia_host::logging::without_wasi_argument_traces());
        tracing_subscriber::registry().with(output).init();
    }
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::DevConfig(args) => efalia_host::dev::write_dev_config(&args.path).map(|_| ()),
            Command::DevToken(args) => dev_token(&args),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", format!("{err:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let runtime = RuntimeConfig::load(args.config.as_deref(), std::env::vars(), &args.allow_outbound)?;
    let command_line_store = args.redis_url.is_some() || args.sqlite_path.is_some();
    if command_line_store && runtime.kv_store.is_some() {
        tracing::info!("the command line's key-value store replaces the one of the configuration file");
    }
    let kv_backend: Arc<dyn KvBackend> = match (&args.redis_url, &args.sqlite_path, &runtime.kv_store) {
        (Some(url), _, _) => Arc::new(RedisBackend::connect(url).await?),
        (None, Some(path), _) => Arc::new(SqliteBackend::open(SqliteLocation::Path(path.clone()))?),
        (None, None, Some(store)) => store.open().await?,
        (None, None, None) => Arc::new(SqliteBackend::open(SqliteLocation::Path(DEFAULT_SQLITE_PATH.into()))?),
    };
    let options = HostOptions {
        engine: EngineOptions {
            allocation: if args.no_pooling { Allocation::OnDemand } else { Allocation::PoolingIfAvailable },
            max_instance_memory: args.max_instance_memory,
            max_instances: u32::try_from(args.max_concurrent_requests).unwrap_or(u32::MAX),
        },
        limits: RequestLimits {
            max_cpu_time: Duration::from_millis(args.max_cpu_time),
            max_request_body: args.max_request_body,
            max_concurrent_requests: args.max_concurrent_requests,
            max_header_bytes: args.max_header_bytes,
            header_read_timeout: Duration::from_secs(args.header_read_timeout),
        },
        outbound_timeouts: OutboundTimeouts {
            connect: Duration::from_millis(args.outbound_connect_timeout),
            first_byte: Duration::from_millis(args.outbound_first_byte_timeout),
            between_bytes: Duration::from_millis(args.outbound_between_bytes_timeout),
        },
        runtime,
        kv_backend,
    };
    let host = Arc::new(Host::new(&args.component, options)?);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", args.listen))?;
    host.serve(listener, shutdown_signal(), Duration::from_secs(args.shutdown_timeout)).await
}

fn dev_token(args: &DevTokenArgs) -> anyhow::Result<()> {
    let config = RuntimeConfig::load(Some(&args.config), std::env::vars(), &[])?;
    let user = efalia_host::dev::DevUser {
        id: args.user.clone(),
        name: args.name.clone(),
        admin: args.admin,
        lifetime_secs: args.lifetime,
    };
    println!("{}", efalia_host::dev::mint_dev_token(&config, &user)?);
    Ok(())
}

/// Registers the SIGINT and SIGTERM handlers at once, and returns a future that resolves on
/// either. Registering before the listener accepts matters: a signal that arrives before the
/// first poll of a lazy handler would otherwise kill the process with the default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};

        let handlers = signal(SignalKind::interrupt())
            .and_then(|interrupt| Ok((interrupt, signal(SignalKind::terminate())?)));
        async move {
            match handlers {
                Ok((mut interrupt, mut terminate)) => tokio::select! {
                    _ = interrupt.recv() => tracing::info!("SIGINT received"),
                    _ = terminate.recv() => tracing::info!("SIGTERM received"),
                },
                Err(err) => {
                    tracing::warn!(error = %err, "cannot register the SIGINT and SIGTERM handlers; falling back to Ctrl-C");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let interrupt = tokio::signal::ctrl_c();
        async move {
            let _ = interrupt.await;
            tracing::info!("interrupt received");
        }
    }
}
