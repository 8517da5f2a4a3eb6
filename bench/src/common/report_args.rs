//! The flags that say what a run reports of the server and how: the `resp`, `seckill` and
//! `mqtt` loads flatten them in.

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Server process whose CPU time (and, for `mqtt connect`, resident memory) is measured
    /// over the run.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Free text that names the run in the report (for example the server's name).
    #[arg(long)]
    pub label: Option<String>,
    /// Print one JSON object on one line instead of the human-readable block.
    #[arg(long)]
    pub json: bool,
}
