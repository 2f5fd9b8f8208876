//! Running the firmware on `qemu-system-arm -M mps3-an547` with a job in DDR.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::error::{io, HarnessError, Result};
use crate::job::JOB_ADDR;
use crate::report::Report;

/// Instructions per SysTick tick under `-icount shift=0`: one instruction per nanosecond of
/// virtual time, SysTick on the 32 MHz core clock of this board model.
pub const INSNS_PER_TICK: f64 = 31.25;

/// Fails with installation instructions if QEMU is missing.
pub fn check_qemu() -> Result<()> {
    match Command::new("qemu-system-arm")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => Ok(()),
        _ => Err(HarnessError::QemuMissing),
    }
}

/// What one QEMU run gave.
pub struct Run {
    pub report: Report,
    /// QEMU's exit status: the firmware's (0 ok, else its error code).
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `elf` with `job` loaded at the start of DDR, killing QEMU after `timeout`.
pub fn run(elf: &Path, job: &[u8], timeout: Duration) -> Result<Run> {
    check_qemu()?;
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let job_path = std::env::temp_dir().join(format!(
        "sdt-qemu-m55-{}-{}.job",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&job_path, job).map_err(io(format!("writing {}", job_path.display())))?;
    let result = run_file(elf, &job_path, timeout);
    let _ = std::fs::remove_file(&job_path);
    result
}

fn run_file(elf: &Path, job_path: &Path, timeout: Duration) -> Result<Run> {
    let mut child = Command::new("qemu-system-arm")
        .args([
            "-M",
            "mps3-an547",
            "-display",
            "none",
            "-serial",
            "null",
            "-monitor",
            "none",
        ])
        .args(["-semihosting-config", "enable=on,target=native"])
        .args(["-icount", "shift=0"])
        .arg("-kernel")
        .arg(elf)
        .arg("-device")
        .arg(format!(
            "loader,file={},addr={JOB_ADDR:#x}",
            job_path.display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io("starting qemu-system-arm"))?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut s);
            }
            s
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().map_err(io("waiting for qemu"))? {
            break Some(s);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let Some(status) = status else {
        return Err(HarnessError::Timeout {
            seconds: timeout.as_secs(),
            output: stdout,
        });
    };
    let report = Report::parse(&stdout)?;
    if !report.complete {
        return Err(HarnessError::Incomplete {
            status: status.code(),
            output: format!("{stdout}{stderr}"),
        });
    }
    Ok(Run {
        report,
        status: status.code(),
        stdout,
        stderr,
    })
}
