//! `sdt-train train --nproc N`: this program runs itself N times as the ranks of one
//! data-parallel run on this machine (what `torchrun --standalone --nproc_per_node N` does),
//! meeting through a store file in a fresh temporary directory (no port to pick), and exits
//! non-zero naming every rank that failed.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// Environment variable through which the ranks receive the rendezvous (a `file://` URL).
pub const URL_VAR: &str = "SDT_DIST_URL";

/// Whether this process is already one rank of a run (launched by us, torchrun or srun).
pub fn is_rank() -> bool {
    std::env::var_os("WORLD_SIZE").is_some()
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        _ => format!("ended with {status}"),
    }
}

fn fresh_dir() -> Result<PathBuf> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!(
        "sdt-train-rendezvous-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(dir)
}

/// Runs `nproc` ranks of this program with the current arguments and waits for them. Once a
/// rank fails, the others get `grace` to fail on their own (they notice within their collective
/// timeout) before they are killed.
pub fn run_local(nproc: usize, grace: Duration) -> Result<()> {
    let exe = std::env::current_exe().map_err(|e| Error::io("current executable", e))?;
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let dir = fresh_dir()?;
    let url = format!("file://{}", dir.join("store").display());
    let mut children: Vec<Child> = Vec::with_capacity(nproc);
    for rank in 0..nproc {
        let child = Command::new(&exe)
            .args(&args)
            .env("RANK", rank.to_string())
            .env("LOCAL_RANK", rank.to_string())
            .env("WORLD_SIZE", nproc.to_string())
            .env("LOCAL_WORLD_SIZE", nproc.to_string())
            .env(URL_VAR, &url)
            .env_remove("TORCHELASTIC_USE_AGENT_STORE")
            .spawn();
        match child {
            Ok(c) => children.push(c),
            Err(e) => {
                for c in &mut children {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                return Err(Error::io(&exe, e));
            }
        }
    }
    let result = wait_all(&mut children, grace);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn wait_all(children: &mut [Child], grace: Duration) -> Result<()> {
    let mut ended: Vec<Option<ExitStatus>> = vec![None; children.len()];
    let mut failures: Vec<String> = Vec::new();
    let mut first_failure: Option<Instant> = None;
    while ended.iter().any(Option::is_none) {
        for (rank, child) in children.iter_mut().enumerate() {
            if ended[rank].is_some() {
                continue;
            }
            let status = child
                .try_wait()
                .map_err(|e| Error::io(format!("rank {rank}"), e))?;
            if let Some(status) = status {
                ended[rank] = Some(status);
                if !status.success() {
                    failures.push(format!("rank {rank} {}", describe(status)));
                    first_failure.get_or_insert_with(Instant::now);
                }
            }
        }
        if first_failure.is_some_and(|t| t.elapsed() > grace) {
            for (rank, child) in children.iter_mut().enumerate() {
                if ended[rank].is_none() {
                    let _ = child.kill();
                    ended[rank] = child.wait().ok();
                    failures.push(format!(
                        "rank {rank} was still running {:.0} s after the first failure and was \
                         killed",
                        grace.as_secs_f64()
                    ));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Error::Dist(failures.join("; ")))
    }
}
