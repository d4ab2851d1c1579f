//! Benchmarks (đo hiệu năng): commands that print throughput, p50/p99 latency and peak memory.

/// Benchmark subcommands.
#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Kernel: authenticated API reads, audit appends and chain verification.
    Kernel {
        /// Database URL; default: a fresh SQLite file in a temporary directory.
        #[arg(long)]
        database_url: Option<String>,
    },
}

pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Kernel { database_url } => {
            anyhow::bail!("bench kernel is being written (database {database_url:?})")
        }
    }
}
