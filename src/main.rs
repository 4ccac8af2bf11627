//! The `mcp-runtime` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use mcp_runtime::config::{ProcessEnvironment, Settings};
use mcp_runtime::input::read_document;
use mcp_runtime::render::parse_document;
use mcp_runtime::schema::SchemaKind;

mod local_node;
mod serve;

/// Exit code for input the user must fix (schema violations, unreadable documents).
const EXIT_INVALID: u8 = 2;

#[derive(Parser)]
#[command(
    name = "mcp-runtime",
    version,
    about = "Run MCP servers on Kubernetes, customised by WebAssembly policies"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// Whether logs are JSON: `--log-format json` of a command with settings, else
    /// `MCP_RUNTIME_LOG_FORMAT` (commands without settings, e.g. `bridge`). A value other than
    /// `text` or `json` is refused when the settings are resolved.
    fn json_logs(&self) -> bool {
        let settings = match &self.command {
            Command::Render { settings, .. }
            | Command::Config { settings }
            | Command::Install { settings }
            | Command::Serve { settings, .. } => Some(settings),
            _ => None,
        };
        match settings {
            Some(s) => s.log_format.as_deref() == Some("json"),
            None => std::env::var("MCP_RUNTIME_LOG_FORMAT").is_ok_and(|f| f == "json"),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Validate an MCP server document and print the manifests it becomes (no cluster needed).
    Render {
        /// The server document, JSON or YAML (`-` for stdin).
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Yaml)]
        output: Format,
        #[command(flatten)]
        settings: Settings,
    },
    /// Print or check against the JSON Schemas.
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
    /// Print the resolved settings (flags, MCP_RUNTIME_*, ARCHESTRA_ORCHESTRATOR_*) as JSON.
    Config {
        #[command(flatten)]
        settings: Settings,
    },
    /// Print the McpServer CRD (as kept in deploy/crd/).
    Crd,
    /// Build, test and benchmark WebAssembly policy plugins.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Apply the McpServer CRD to the cluster.
    Install {
        #[command(flatten)]
        settings: Settings,
    },
    /// Run the controller (with no cluster given: on the built-in local cluster, started if
    /// needed).
    Serve {
        #[command(flatten)]
        settings: Settings,
        /// Reconcile only while holding the Lease (several replicas: one leader).
        #[arg(long, env = "MCP_RUNTIME_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
        leader_elect: bool,
    },
    /// Serve a stdio MCP server as MCP streamable HTTP: `mcp-runtime bridge -- <command> [args…]`.
    /// Exits with the server's exit status.
    Bridge {
        /// Where to listen.
        #[arg(long, env = "MCP_BRIDGE_LISTEN", default_value = "0.0.0.0:8080")]
        listen: std::net::SocketAddr,
        /// The MCP endpoint's path.
        #[arg(long, env = "MCP_BRIDGE_PATH", default_value = "/mcp", value_parser = parse_path)]
        path: String,
        /// Seconds one request may wait for the server's answer.
        #[arg(long, env = "MCP_BRIDGE_REQUEST_TIMEOUT", default_value_t = 300)]
        request_timeout: u64,
        /// Seconds the server may take to answer initialize.
        #[arg(long, env = "MCP_BRIDGE_INIT_TIMEOUT", default_value_t = 60)]
        init_timeout: u64,
        /// Copy this binary into DIR and exit (the init container of a bridged pod).
        #[arg(long, value_name = "DIR", conflicts_with = "command")]
        copy_to: Option<PathBuf>,
        /// The stdio MCP server's command and arguments.
        #[arg(last = true, required_unless_present = "copy_to")]
        command: Vec<String>,
    },
}

fn parse_path(p: &str) -> Result<String, String> {
    if p.starts_with('/') && !p.contains(char::is_whitespace) {
        Ok(p.to_string())
    } else {
        Err("must start with / and contain no spaces".into())
    }
}

#[derive(Subcommand)]
enum SchemaCommand {
    /// Print a schema.
    Show { kind: SchemaKind },
    /// Print the HTTP API's OpenAPI document as `serve` serves it at /openapi.json
    /// (self-contained: for client generators, without a running control plane).
    Openapi,
    /// Check a document against a schema; prints every violation with its JSON path.
    Check {
        kind: SchemaKind,
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Build policy.js (QuickJS) or policy.py (CPython) into a component; pin its digest.
    Build {
        dir: PathBuf,
        /// Keep WASI imports (only for testing that the host refuses them).
        #[arg(long, hide = true)]
        keep_wasi: bool,
    },
    /// Run a plugin (or a directory of plugins) over its fixtures.
    Test { dir: PathBuf },
    /// Load time, fresh-instance call p50/p99 per plugin, and the chain's p50/p99.
    Bench {
        dir: PathBuf,
        #[arg(short = 'n', long, default_value_t = 300)]
        iterations: usize,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Yaml,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json_logs = cli.json_logs();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if json_logs {
        builder.json().init();
    } else {
        builder.init();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Command::Bridge {
        listen,
        path,
        request_timeout,
        init_timeout,
        copy_to,
        command,
    } = cli.command
    {
        if let Some(dir) = copy_to {
            return match mcp_runtime::bridge::copy_self(&dir) {
                Ok(p) => {
                    eprintln!("copied the bridge to {}", p.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: copying the bridge to {}: {e:#}", dir.display());
                    ExitCode::FAILURE
                }
            };
        }
        let options = mcp_runtime::bridge::Options {
            listen,
            path,
            command,
            request_timeout: std::time::Duration::from_secs(request_timeout),
            init_timeout: std::time::Duration::from_secs(init_timeout),
        };
        return match runtime.block_on(mcp_runtime::bridge::run(options)) {
            Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Invalid(message)) => {
            eprintln!("{message}");
            ExitCode::from(EXIT_INVALID)
        }
        Err(Failure::Other(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// One warning per legacy variable that is set but not acted on (see
/// [`mcp_runtime::config::ARCHESTRA_NOT_HONOURED`]); the value is never printed.
fn warn_not_honoured() {
    for (var, instead) in mcp_runtime::config::not_honoured(&ProcessEnvironment) {
        tracing::warn!(variable = var, instead, "legacy setting is not acted on");
    }
}

enum Failure {
    /// The user's input is wrong: exit 2.
    Invalid(String),
    Other(anyhow::Error),
}

impl Failure {
    /// The same failure, a user's mistake naming the file it is in.
    fn in_file(self, file: &std::path::Path) -> Failure {
        match self {
            Failure::Invalid(m) => Failure::Invalid(format!("{}: {m}", file.display())),
            other => other,
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Other(e.into())
    }
}

async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Render {
            file,
            output,
            settings,
        } => {
            let config = settings
                .resolve(&ProcessEnvironment)
                .map_err(|e| Failure::Invalid(e.to_string()))?;
            let doc = read_document(&file).map_err(|e| Failure::Invalid(e.to_string()))?;
            render(&doc, &config, output).map_err(|e| e.in_file(&file))
        }
        Command::Schema { command } => match command {
            SchemaCommand::Show { kind } => {
                println!("{}", kind.source().trim_end());
                Ok(())
            }
            SchemaCommand::Openapi => {
                println!("{}", mcp_runtime::api::openapi::served());
                Ok(())
            }
            SchemaCommand::Check { kind, file } => {
                let doc = read_document(&file).map_err(|e| Failure::Invalid(e.to_string()))?;
                kind.validate(&doc)
                    .map_err(|e| Failure::Invalid(format!("{}: {e}", file.display())))?;
                println!("{}: valid {}", file.display(), kind.file_name());
                Ok(())
            }
        },
        Command::Config { settings } => {
            let config = settings
                .resolve(&ProcessEnvironment)
                .map_err(|e| Failure::Invalid(e.to_string()))?;
            warn_not_honoured();
            println!("{}", serde_json::to_string_pretty(&config)?);
            Ok(())
        }
        Command::Plugin { command } => plugin_command(command),
        Command::Crd => {
            print!("{}", serve::crd_yaml()?);
            Ok(())
        }
        Command::Install { settings } => {
            let config = settings
                .resolve(&ProcessEnvironment)
                .map_err(|e| Failure::Invalid(e.to_string()))?;
            let client = serve::connect(&config).await?;
            serve::install_crd(&client).await?;
            println!("installed customresourcedefinition mcpservers.mcp-runtime.dev");
            Ok(())
        }
        Command::Serve {
            settings,
            leader_elect,
        } => {
            let config = settings
                .resolve(&ProcessEnvironment)
                .map_err(|e| Failure::Invalid(e.to_string()))?;
            warn_not_honoured();
            serve::serve(config, leader_elect).await?;
            Ok(())
        }
        Command::Bridge { .. } => Err(Failure::Other(anyhow::anyhow!("the bridge runs from main"))),
    }
}

/// `render`: the desired state the controller would build for the document (with the policies
/// of `--plugin-dir`, capped as `serve` caps them), from the document alone: offline, it knows
/// no owner, restart marker, referenced data or probed era (`POST /v1/render` reads those from
/// the cluster). Prints the server's own Secrets (with the document's values: they are the
/// user's own) and then the applied objects; plugin patches go to stderr.
fn render(
    doc: &serde_json::Value,
    config: &mcp_runtime::config::RuntimeConfig,
    output: Format,
) -> Result<(), Failure> {
    use mcp_runtime::desired::{self, BuildError, Inputs};
    use mcp_runtime::plugin::{Chain, PolicyRejection};
    let spec = parse_document(doc).map_err(|e| Failure::Invalid(e.to_string()))?;
    let chain = match &config.plugin_dir {
        Some(dir) => Chain::load_dir(std::path::Path::new(dir))
            .map_err(|e| Failure::Other(e.into()))?
            .with_timeout_cap(config.plugin_timeout_max_ms),
        None => Chain::default(),
    };
    // Offline there is no Secret to give a resourceVersion: a content hash of the values
    // stands in, so a re-render after a rotation still rolls the pods.
    // A namespace's labels are the cluster's: offline, only the one every namespace has.
    let data = mcp_runtime::render::secret::secret_data(&spec);
    let ctx = config.render_contexts().of(&config.namespace);
    let inputs = Inputs {
        secret_revision: (!data.is_empty()).then(|| mcp_runtime::render::secret::data_hash(&data)),
        namespace_labels: Some(desired::offline_namespace_labels(&ctx.namespace)),
        ..Inputs::default()
    };
    let built = desired::build(&spec, &inputs, &ctx, &chain);
    let desired = built.map_err(|e| match e {
        BuildError::Render(e) => Failure::Invalid(e.to_string()),
        BuildError::Policy(PolicyRejection::Denied(m) | PolicyRejection::Failed(m)) => {
            Failure::Invalid(m)
        }
        BuildError::Serialization(e) => Failure::Other(e.into()),
    })?;
    if let Some(report) = &desired.report {
        print_report(report);
    }
    let mut objects = Vec::new();
    for s in &desired.secrets {
        let mut o = serde_json::json!({"apiVersion": "v1", "kind": "Secret"});
        json_patch::merge(&mut o, &serde_json::to_value(s)?);
        objects.push(o);
    }
    objects.extend(desired.objects.iter().map(|o| o.body.clone()));
    print_objects(&objects, output)?;
    if let Some(url) = &desired.endpoint {
        eprintln!("endpoint: {url}");
    }
    Ok(())
}

/// Each plugin's patch, its monitored denials and the failures let through, on stderr.
fn print_report(report: &mcp_runtime::plugin::ChainReport) {
    for p in &report.patches {
        let verb = if p.applied {
            "changed"
        } else {
            "would change (monitor)"
        };
        eprintln!(
            "{} {verb} the {}: {}",
            p.plugin,
            &p.hook["mutate-".len()..],
            p.patch
        );
    }
    for e in report
        .ignored_errors
        .iter()
        .chain(&report.monitored_denials)
    {
        eprintln!("{e}");
    }
}

fn plugin_command(command: PluginCommand) -> Result<(), Failure> {
    use mcp_runtime::plugin::tools::{build, testing};
    match command {
        PluginCommand::Build { dir, keep_wasi } => {
            let options = build::BuildOptions {
                keep_wasi,
                wit_dir: None,
            };
            let built = build::build(&dir, &options).map_err(Failure::Invalid)?;
            println!(
                "built {} ({} bytes, {}) in {:.1}s",
                built.component.display(),
                built.bytes,
                built.digest,
                built.seconds
            );
            Ok(())
        }
        PluginCommand::Test { dir } => {
            let outcomes = testing::run_fixtures(&dir).map_err(Failure::Invalid)?;
            let failed = outcomes.iter().filter(|o| o.failure.is_some()).count();
            for o in &outcomes {
                match &o.failure {
                    None => println!("ok   {}", o.fixture),
                    Some(f) => println!("FAIL {}\n{f}", o.fixture),
                }
            }
            println!("{} passed, {failed} failed", outcomes.len() - failed);
            if failed > 0 {
                return Err(Failure::Invalid(format!("{failed} fixture(s) failed")));
            }
            Ok(())
        }
        PluginCommand::Bench { dir, iterations } => {
            let report = testing::bench(&dir, iterations).map_err(Failure::Invalid)?;
            println!(
                "| plugin | load | inline instance + mutate p50 | p99 | ready instance + mutate p50 | p99 |"
            );
            println!("|---|---|---|---|---|---|");
            for b in &report.plugins {
                println!(
                    "| {} | {:.1} ms ({}) | {:.0} µs | {:.0} µs | {:.0} µs | {:.0} µs |",
                    b.plugin,
                    b.load_ms,
                    b.loaded_from,
                    b.fresh_call_p50_us,
                    b.fresh_call_p99_us,
                    b.warm_call_p50_us,
                    b.warm_call_p99_us
                );
            }
            println!(
                "chain of {}: inline p50 {:.2} ms, p99 {:.2} ms; ready instances p50 {:.2} ms, p99 {:.2} ms",
                report.plugins.len(),
                report.chain_inline.0,
                report.chain_inline.1,
                report.chain_ready.0,
                report.chain_ready.1
            );
            Ok(())
        }
    }
}

fn print_objects(objects: &[serde_json::Value], format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects});
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
        Format::Yaml => {
            for (i, o) in objects.iter().enumerate() {
                if i > 0 {
                    println!("---");
                }
                print!("{}", mcp_runtime::yaml::to_string(o)?);
            }
        }
    }
    Ok(())
}
