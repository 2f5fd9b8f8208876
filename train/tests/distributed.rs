//! Data-parallel training with Gloo on this machine: 2 ranks × batch B equal 1 process × 2B,
//! a distributed run resumes exactly, and a lost rank stops the others with an error naming it
//! while the last checkpoint stays loadable.
//!
//! The runs go through the `sdt-train` binary, as a user would: `--nproc 2` (file rendezvous)
//! and, for the lost-rank tests, two processes given torchrun's variables (TCP rendezvous).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sdt_train::checkpoint::{self, STATE_FILE, WEIGHTS_FILE};
use sdt_train::optim::AdamW;
use sdt_train::train::METRICS_FILE;
use sdt_train::weights::read_tensors;
use sdt_train::{Sdt, SdtConfig};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// The processes of one test share two cores: one test at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn digits() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits.safetensors")
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sdt-dist-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Frozen BatchNorm (per-sample forward), no augmentation: the global batch alone decides the
/// update. The learning rate comes from `blr`, scaled by the global batch.
const EXACT: &str = "epochs = 3\nblr = 0.05\nwarmup_epochs = 0\nlabel_smoothing = 0.0\n\
                     freeze_bn = true\n";

fn sdt_train(dir: &Path, config: &str, extra: &[&str]) -> Command {
    let config_path = dir.join("config.toml");
    std::fs::write(&config_path, config).expect("config");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sdt-train"));
    cmd.arg("train")
        .arg("--data")
        .arg(digits())
        .arg("--config")
        .arg(&config_path)
        .args(["--train-subset", "64", "--quiet"])
        .args(extra)
        .env("OMP_NUM_THREADS", "1")
        .env_remove("WORLD_SIZE")
        .env_remove("RANK");
    cmd
}

fn run_ok(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().expect("run sdt-train");
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn weights(run: &Path) -> BTreeMap<String, Tensor> {
    read_tensors(&run.join(WEIGHTS_FILE)).expect("weights of the run")
}

/// Largest |a − b| over all float tensors; integer tensors must be equal.
fn max_diff(a: &BTreeMap<String, Tensor>, b: &BTreeMap<String, Tensor>) -> f64 {
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "different tensors"
    );
    let mut worst = 0.0f64;
    for (name, x) in a {
        let y = &b[name];
        if x.kind() == Kind::Float {
            worst = worst.max((x - y).abs().max().double_value(&[]));
        } else {
            assert!(x.equal(y), "{name} differs");
        }
    }
    worst
}

fn metrics_without_time(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join(METRICS_FILE))
        .expect("metrics")
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("json");
            v["seconds"] = serde_json::Value::Null;
            v
        })
        .collect()
}

/// Tolerance of the 2 × B vs 1 × 2B comparison, after 6 AdamW steps of lr = 6.25e-3.
///
/// Both runs compute every sample's forward and backward identically (frozen BatchNorm, no
/// augmentation); only the order of the f32 sum over the batch differs (one sum over 32 samples
/// vs two sums over 16 added by Gloo). That perturbs each gradient component by at most about
/// 32 · 2⁻²⁴ ≈ 2e-6 relative. AdamW's update `m / (√v + ε)` is scale-free, so an ordinary
/// component's update moves by the same relative amount: 6 steps × lr × 2e-6 ≈ 8e-8. Components
/// whose gradient is near zero are the exception: there `m / √v` is a ratio of two tiny,
/// rounding-dominated numbers and the update may differ by a sizeable part of `lr`; they are
/// what the measured 3.4e-7 is made of. 1e-5 leaves a 30× margin over that and is still 2000×
/// below how far the 6 steps move the weights (checked below), so a wrong shard, a missing
/// average or a wrong learning-rate scaling fails it.
const EQUAL_WEIGHTS_TOL: f64 = 1e-5;

#[test]
fn two_ranks_equal_one_process_with_twice_the_batch_and_resume_exactly() {
    let _serial = serial();
    let dir = scratch("equal");
    let (one, two, parts) = (dir.join("one"), dir.join("two"), dir.join("parts"));
    let start = Instant::now();
    run_ok(
        sdt_train(&dir, EXACT, &["--batch-size", "32"])
            .arg("--run-dir")
            .arg(&one),
        "1 process × 32",
    );
    run_ok(
        sdt_train(&dir, EXACT, &["--batch-size", "16", "--nproc", "2"])
            .arg("--run-dir")
            .arg(&two),
        "2 ranks × 16",
    );
    let diff = max_diff(&weights(&one), &weights(&two));

    // How far the weights moved from their common start: the tolerance must be far below.
    let moved = {
        tch::manual_seed(1);
        let vs = VarStore::new(Device::Cpu);
        let _net =
            Sdt::new(&vs.root(), SdtConfig::preset("digits32").expect("preset")).expect("model");
        let init: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
        max_diff(&init, &weights(&one))
    };
    println!(
        "2 × 16 vs 1 × 32 after 6 steps: max |Δw| = {diff:.3e} (tolerance {EQUAL_WEIGHTS_TOL:.0e}); \
         training moved the weights by up to {moved:.3e}"
    );
    assert!(
        diff <= EQUAL_WEIGHTS_TOL,
        "weights differ by {diff:e} > {EQUAL_WEIGHTS_TOL:e}"
    );
    assert!(
        moved > 1000.0 * EQUAL_WEIGHTS_TOL,
        "training barely moved the weights ({moved:e}): the comparison would prove nothing"
    );
    // The reduced metrics agree too (train loss over both shards, sharded test evaluation).
    let (m1, m2) = (metrics_without_time(&one), metrics_without_time(&two));
    assert_eq!(m1.len(), 3);
    for (a, b) in m1.iter().zip(&m2) {
        assert_eq!(a["step"], b["step"], "steps per epoch differ");
        for key in ["train_loss", "train_acc", "test_loss", "test_acc", "lr"] {
            let (x, y) = (a[key].as_f64().expect(key), b[key].as_f64().expect(key));
            assert!((x - y).abs() < 1e-4, "{key}: {x} vs {y}");
        }
    }

    // The same 2-rank run, stopped after one epoch and resumed: bit for bit the same.
    run_ok(
        sdt_train(
            &dir,
            EXACT,
            &[
                "--batch-size",
                "16",
                "--nproc",
                "2",
                "--stop-after-epochs",
                "1",
            ],
        )
        .arg("--run-dir")
        .arg(&parts),
        "first part",
    );
    assert_eq!(metrics_without_time(&parts).len(), 1);
    run_ok(
        sdt_train(
            &dir,
            EXACT,
            &["--batch-size", "16", "--nproc", "2", "--resume"],
        )
        .arg("--run-dir")
        .arg(&parts),
        "resumed part",
    );
    assert_eq!(
        max_diff(&weights(&two), &weights(&parts)),
        0.0,
        "resumed run differs"
    );
    assert_eq!(metrics_without_time(&two), metrics_without_time(&parts));

    // Resuming with another number of processes is refused, naming the right one.
    let out = sdt_train(&dir, EXACT, &["--batch-size", "16", "--resume"])
        .arg("--run-dir")
        .arg(&parts)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("--nproc 2"),
        "{text}"
    );
    println!(
        "equivalence and resume: {:.1} s",
        start.elapsed().as_secs_f64()
    );
    std::fs::remove_dir_all(&dir).ok();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

/// Everything a stream says, collected on a thread; lines go to `lines` as they come.
fn collect(
    stream: impl Read + Send + 'static,
    lines: Option<mpsc::Sender<String>>,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stream)
            .lines()
            .map_while(std::result::Result::ok)
        {
            if let Some(tx) = &lines {
                let _ = tx.send(line.clone());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    })
}

struct Rank {
    child: Child,
    stdout: std::thread::JoinHandle<String>,
    stderr: std::thread::JoinHandle<String>,
}

/// The collective timeout of the lost-rank runs: the survivor must be gone well within it.
const TIMEOUT_S: u64 = 120;
/// The collective timeout of the hung-rank run, which the survivor has to wait out.
const HANG_TIMEOUT_S: u64 = 15;

/// What happens to the victim rank.
#[derive(Clone, Copy, PartialEq)]
enum Fate {
    /// SIGKILL: its sockets close at once.
    Killed,
    /// SIGSTOP: it hangs with its sockets open, so only the timeout can tell.
    Hung,
}

/// Two ranks launched the way torchrun does (environment, TCP store on rank 0); `victim` is
/// killed once rank 0 has finished (and checkpointed) the first epoch. Returns the survivor's
/// exit status and stderr, and how long it took to exit after the kill.
fn kill_one_rank(
    dir: &Path,
    victim: usize,
    fate: Fate,
) -> Option<(std::process::ExitStatus, String, Duration)> {
    let config = "epochs = 200\nlr = 0.001\nwarmup_epochs = 0\n";
    let port = free_port();
    let (tx, rx) = mpsc::channel();
    let mut ranks: Vec<Rank> = (0..2)
        .map(|rank| {
            let mut child = sdt_train(dir, config, &["--batch-size", "16"])
                .args(["--dist-timeout", &timeout_s(fate).to_string()])
                .arg("--run-dir")
                .arg(dir.join("run"))
                .env("RANK", rank.to_string())
                .env("LOCAL_RANK", rank.to_string())
                .env("WORLD_SIZE", "2")
                .env("MASTER_ADDR", "127.0.0.1")
                .env("MASTER_PORT", port.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn a rank");
            let stdout = collect(
                child.stdout.take().expect("stdout"),
                (rank == 0).then(|| tx.clone()),
            );
            let stderr = collect(child.stderr.take().expect("stderr"), None);
            Rank {
                child,
                stdout,
                stderr,
            }
        })
        .collect();
    drop(tx);
    // Rank 0 prints a metrics line after writing each epoch's checkpoint.
    let first_epoch = rx.recv_timeout(Duration::from_secs(300));
    if first_epoch.is_err() {
        // Rank 0 ended (or stalled) before its first epoch: say why, once the ranks are gone.
        for r in &mut ranks {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
        let errs: Vec<String> = ranks
            .into_iter()
            .map(|r| r.stderr.join().unwrap_or_default())
            .collect();
        if errs.iter().any(|e| e.contains("ddress already in use")) {
            return None; // the port was taken between our probe and rank 0's bind: retry
        }
        panic!("no epoch finished: {errs:#?}");
    }
    match fate {
        Fate::Killed => {
            ranks[victim].child.kill().expect("kill the victim");
            let _ = ranks[victim].child.wait();
        }
        Fate::Hung => {
            let pid = ranks[victim].child.id().to_string();
            let stopped = Command::new("kill").args(["-STOP", &pid]).status();
            assert!(
                stopped.is_ok_and(|s| s.success()),
                "kill -STOP {pid} failed"
            );
        }
    }
    let killed = Instant::now();
    let survivor = 1 - victim;
    let deadline = Duration::from_secs(timeout_s(fate) + 30);
    let status = loop {
        if let Some(s) = ranks[survivor].child.try_wait().expect("wait") {
            break s;
        }
        if killed.elapsed() > deadline {
            let _ = ranks[survivor].child.kill();
            panic!("rank {survivor} still runs {deadline:?} after rank {victim} was killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = killed.elapsed();
    if fate == Fate::Hung {
        let _ = ranks[victim].child.kill();
        let _ = ranks[victim].child.wait();
    }
    let mut stderr = String::new();
    for (i, r) in ranks.into_iter().enumerate() {
        let _ = r.stdout.join();
        let text = r.stderr.join().unwrap_or_default();
        if i == survivor {
            stderr = text;
        }
    }
    Some((status, stderr, took))
}

fn timeout_s(fate: Fate) -> u64 {
    match fate {
        Fate::Killed => TIMEOUT_S,
        Fate::Hung => HANG_TIMEOUT_S,
    }
}

fn lost_rank_case(victim: usize, fate: Fate) {
    let _serial = serial();
    let dir = scratch(&format!("lost{victim}"));
    let (status, stderr, took) = (0..3)
        .find_map(|_| kill_one_rank(&dir, victim, fate))
        .expect("three ports in a row were taken");
    let survivor = 1 - victim;
    let what = match fate {
        Fate::Killed => "killed",
        Fate::Hung => "stopped (SIGSTOP)",
    };
    println!(
        "rank {survivor} exited {took:.1?} after rank {victim} was {what}: {status}\n{stderr}"
    );
    assert!(!status.success(), "the survivor exited successfully");
    assert!(
        stderr.contains(&format!("lost rank {victim}")),
        "the error does not name rank {victim}: {stderr}"
    );
    // A dead rank is noticed at once; a hung one after the collective timeout, plus the 3 s
    // heartbeat watch.
    let limit = match fate {
        Fate::Killed => Duration::from_secs(TIMEOUT_S),
        Fate::Hung => Duration::from_secs(HANG_TIMEOUT_S + 15),
    };
    assert!(took < limit, "took {took:?}, more than {limit:?}");
    // The last checkpoint is complete: it loads and holds at least the first epoch.
    let run = dir.join("run");
    assert!(run.join(STATE_FILE).is_file());
    let vs = VarStore::new(Device::Cpu);
    let _net = Sdt::new(&vs.root(), SdtConfig::preset("digits32").expect("preset")).expect("model");
    let mut opt = AdamW::new(&vs, Default::default()).expect("optimizer");
    let progress = checkpoint::load(&run, &vs, &mut opt).expect("the last checkpoint loads");
    assert!(progress.epoch >= 1);
    assert_eq!(progress.world_size, 2);
    for (name, t) in vs.variables() {
        assert!(
            t.isfinite().all().int64_value(&[]) == 1,
            "{name} is not finite"
        );
    }
    let leftovers: Vec<String> = std::fs::read_dir(&run)
        .expect("run dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    println!(
        "checkpoint of epoch {}; temporary files: {leftovers:?}",
        progress.epoch
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_killed_worker_stops_rank_0_with_its_name() {
    lost_rank_case(1, Fate::Killed);
}

#[test]
fn a_hung_worker_stops_rank_0_with_its_name_after_the_timeout() {
    lost_rank_case(1, Fate::Hung);
}

#[test]
fn a_killed_rank_0_stops_the_worker_with_its_name() {
    lost_rank_case(0, Fate::Killed);
}

#[test]
fn torchrun_runs_the_same_ranks_as_nproc() {
    let _serial = serial();
    let dir = scratch("torchrun");
    let (ours, theirs) = (dir.join("nproc"), dir.join("torchrun"));
    let args = ["--batch-size", "16", "--epochs", "1"];
    run_ok(
        sdt_train(&dir, EXACT, &args)
            .args(["--nproc", "2", "--run-dir"])
            .arg(&ours),
        "--nproc 2",
    );
    // torchrun's agent hosts the TCP store and tells the ranks so; the ranks read its variables.
    let launcher = sdt_train(&dir, EXACT, &args);
    let mut cmd = Command::new("python3");
    cmd.args([
        "-m",
        "torch.distributed.run",
        "--no-python",
        "--standalone",
        "--nproc_per_node",
        "2",
    ])
    .arg(launcher.get_program())
    .args(launcher.get_args())
    .arg("--run-dir")
    .arg(&theirs)
    .env("OMP_NUM_THREADS", "1");
    let out = cmd.output().expect(
        "python3 not found: run the trainer's tests through ./scripts/test.sh or after \
         `eval \"$(bash scripts/torch-env.sh)\"`, which provide the venv's python with torch",
    );
    assert!(
        out.status.success(),
        "torchrun failed (is torch installed in the venv? run `bash scripts/torch-env.sh`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(max_diff(&weights(&ours), &weights(&theirs)), 0.0);
    assert_eq!(metrics_without_time(&ours), metrics_without_time(&theirs));
    std::fs::remove_dir_all(&dir).ok();
}

/// Without a GPU (or without NCCL in the build), asking for NCCL fails at once with the reason;
/// with both, a 1-rank NCCL run trains.
#[test]
fn nccl_runs_or_says_why_not() {
    let _serial = serial();
    let dir = scratch("nccl");
    let url = format!("file://{}", dir.join("store").display());
    let out = sdt_train(&dir, EXACT, &["--dist-backend", "nccl", "--cuda"])
        .args(["--dist-url", &url, "--run-dir"])
        .arg(dir.join("run"))
        .env("RANK", "0")
        .env("WORLD_SIZE", "1")
        .output()
        .expect("run sdt-train");
    let text = String::from_utf8_lossy(&out.stderr);
    let nccl = sdt_train::dist::has_nccl();
    println!("NCCL compiled in: {nccl}; {text}");
    if nccl && tch::Cuda::is_available() {
        assert!(out.status.success(), "{text}");
        assert_eq!(metrics_without_time(&dir.join("run")).len(), 3);
    } else {
        let reason = if nccl {
            "NCCL needs a CUDA device"
        } else {
            "no NCCL process group"
        };
        assert!(!out.status.success() && text.contains(reason), "{text}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
