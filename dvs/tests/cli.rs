//! The `sdt-dvs` command line on fixtures of every format, the bundled recording and the
//! shared real files (`SDT_EVENTS_DIR`).

mod common;

use std::path::Path;

use assert_cmd::Command;
use common::*;
use sdt_core::Kernel;
use sdt_dvs::classify::{classify, ClassifyOptions};
use sdt_dvs::source::{EventSource, Format, SourceOptions};
use sdt_events::{Event, Geometry, Window};
use serde_json::Value;

fn sdt_dvs() -> Command {
    Command::cargo_bin("sdt-dvs").expect("the sdt-dvs binary")
}

/// Runs `cmd`, which must succeed, and returns its standard output.
fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().expect("sdt-dvs runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The JSON lines `cmd` prints (it must succeed).
fn json_lines(cmd: &mut Command) -> Vec<Value> {
    stdout_of(cmd)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn info(path: &Path, extra: &[&str]) -> Value {
    let out = stdout_of(sdt_dvs().arg("info").arg(path).args(extra));
    serde_json::from_str(&out).expect("info prints JSON")
}

fn event_json(e: &Event) -> Value {
    serde_json::json!({"t": e.t, "x": e.x, "y": e.y, "p": e.p})
}

#[test]
fn info_on_every_format() {
    let dir = scratch("cli_info");
    for (format, g) in formats() {
        let events = sweep(3_000, g, 17);
        let path = write_fixture(&dir, format, g, &events);
        let v = info(&path, &[]);
        assert_eq!(v["format"], format.name(), "{format:?}");
        assert_eq!(v["events"], 3_000, "{format:?}: {v}");
        assert_eq!(
            (v["width"].as_u64(), v["height"].as_u64()),
            (Some(g.width.into()), Some(g.height.into())),
            "{format:?}"
        );
        assert_eq!(v["first"], event_json(&events[0]), "{format:?}");
        assert_eq!(v["last"], event_json(&events[2_999]), "{format:?}");
        assert_eq!(
            v["time_range_us"],
            serde_json::json!([events[0].t, events[2_999].t])
        );
        let on = events.iter().filter(|e| e.p == 1).count();
        assert_eq!(v["on_events"], on);
        assert_eq!(v["errors"]["malformed"], 0, "{format:?}");
        assert_eq!(v["errors"]["truncated_bytes"], 0, "{format:?}");
    }
}

#[test]
fn info_counts_truncation_and_overrides() {
    let dir = scratch("cli_info_trunc");
    let g = Geometry::new(64, 48);
    let events = sweep(500, g, 3);
    let path = write_fixture(&dir, Format::Dat, g, &events);
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.join("cut.dat");
    std::fs::write(&cut, &bytes[..bytes.len() - 3]).unwrap();
    let v = info(&cut, &[]);
    assert_eq!(v["events"], 499);
    assert_eq!(v["errors"]["truncated_bytes"], 5);
    // A smaller sensor given on the command line: the rest is out of range.
    let v = info(&path, &["--width", "32", "--height", "48"]);
    assert_eq!(v["geometry_source"], "option");
    let inside = events.iter().filter(|e| e.x < 32).count() as u64;
    assert_eq!(v["events"], inside);
    assert_eq!(v["errors"]["out_of_range"], 500 - inside);
    // A headerless EVT 3.0 stream needs --format.
    let raw = dir.join("bare.raw");
    let mut body = Vec::new();
    use sdt_events::Encoder;
    sdt_events::evt3::Evt3Encoder::new()
        .encode(&events, &mut |b: &[u8]| body.extend_from_slice(b))
        .unwrap();
    std::fs::write(&raw, &body).unwrap();
    let out = sdt_dvs().arg("info").arg(&raw).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--format"));
    let v = info(
        &raw,
        &["--format", "evt3", "--width", "64", "--height", "48"],
    );
    assert_eq!(v["events"], 500);
    // A damaged AEDAT 4.0 header is reported, not a crash.
    let bad = dir.join("bad.aedat4");
    std::fs::write(&bad, b"#!AER-DAT4.0\r\n\x10\x00").unwrap();
    let out = sdt_dvs().arg("info").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("IOHeader"));
}

#[test]
fn info_bundled_davis346() {
    let v = info(&bundled_davis(), &[]);
    assert_eq!(v["format"], "aedat4");
    assert_eq!(v["events"], 117_667);
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(346), Some(260))
    );
    assert_eq!(v["compression"], "LZ4");
    assert_eq!(v["non_event_units"], 27);
    assert!(v["errors"].get("other").is_none());
}

#[test]
fn info_shared_real_files() {
    let v = info(&shared("aestream_davis.aedat4"), &[]);
    assert_eq!(
        (
            v["events"].as_u64(),
            v["width"].as_u64(),
            v["height"].as_u64()
        ),
        (Some(117_667), Some(346), Some(260))
    );
    let v = info(&shared("tonic_sample_nmnist.bin"), &[]);
    assert_eq!(
        (
            v["events"].as_u64(),
            v["width"].as_u64(),
            v["height"].as_u64()
        ),
        (Some(4_325), Some(34), Some(34))
    );
    assert_eq!(v["time_range_us"], serde_json::json!([654, 311_175]));
    let v = info(&shared("expelliarmus_evt3_gen41.raw"), &[]);
    assert_eq!(v["format"], "evt3");
    assert_eq!(v["events"], 219_596);
    assert_eq!(
        v["first"],
        serde_json::json!({"t": 11_718_656, "x": 874, "y": 200, "p": 0})
    );
    // A clean recording: no errors; its time bases and row addresses are non-event units.
    assert_eq!(
        v["errors"],
        serde_json::json!({"malformed": 0, "out_of_range": 0, "truncated_bytes": 0})
    );
    assert!(v["non_event_units"].as_u64().unwrap() > 0, "{v}");
}

/// A Gen3 EVT 2.0 recording as Metavision wrote them: the header names the HAL plugin but
/// states no geometry.
fn gen3_evt2_fixture(dir: &Path, events: &[Event]) -> std::path::PathBuf {
    use sdt_events::Encoder;
    let mut bytes = b"% Date 2020-09-14 09:03:25\n% firmware_version 2.0.2\n\
                      % integrator_name Prophesee\n% plugin_name hal_plugin_gen3_fx3\n\
                      % serial_number 30384338\n% system_ID 21\n% evt 2.0\n"
        .to_vec();
    sdt_events::evt2::Evt2Encoder::new()
        .encode(events, &mut |b: &[u8]| bytes.extend_from_slice(b))
        .unwrap();
    let path = dir.join("gen3.raw");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn info_takes_the_geometry_of_a_gen3_header_from_its_plugin_name() {
    let dir = scratch("cli_info_gen3");
    // Events over a 1280-wide range: those past 640×480 are off a Gen3 sensor.
    let events = sweep(400, Geometry::new(1280, 720), 5);
    let path = gen3_evt2_fixture(&dir, &events);
    let v = info(&path, &[]);
    assert_eq!(v["format"], "evt2");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(640), Some(480))
    );
    assert_eq!(v["geometry_source"], "sensor_name");
    let inside = events.iter().filter(|e| e.x < 640 && e.y < 480).count() as u64;
    assert!(inside > 0 && inside < 400);
    assert_eq!(v["events"], inside);
    assert_eq!(v["errors"]["out_of_range"], 400 - inside);
}

#[test]
fn render_writes_pngs_grid_and_gif() {
    let dir = scratch("cli_render");
    // ON events at (3, 2) in the first window, OFF events at (10, 7) in the second.
    let g = Geometry::new(16, 12);
    let mut events = Vec::new();
    for i in 0..5 {
        events.push(Event {
            t: 100 + i,
            x: 3,
            y: 2,
            p: 1,
        });
    }
    for i in 0..5 {
        events.push(Event {
            t: 1_100 + i,
            x: 10,
            y: 7,
            p: 0,
        });
    }
    let path = write_fixture(&dir, Format::Aedat4, g, &events);
    let out = dir.join("out");
    sdt_dvs()
        .args(["render", "--frame-us", "1000", "--scale", "2", "--out"])
        .arg(&out)
        .arg(&path)
        .assert()
        .success();
    let f0 = image::open(out.join("frame_0000.png")).unwrap().to_rgb8();
    let f1 = image::open(out.join("frame_0001.png")).unwrap().to_rgb8();
    assert!(!out.join("frame_0002.png").exists());
    assert_eq!(f0.dimensions(), (32, 24));
    let on = f0.get_pixel(3 * 2 + 1, 2 * 2 + 1).0;
    assert!(on[1] > 200 && on[0] == 0, "ON pixel {on:?}");
    assert_eq!(f0.get_pixel(10 * 2, 7 * 2).0, [0, 0, 0]);
    let off = f1.get_pixel(10 * 2, 7 * 2).0;
    assert!(off[0] > 200 && off[1] == 0, "OFF pixel {off:?}");
    assert_eq!(f1.get_pixel(3 * 2, 2 * 2).0, [0, 0, 0]);
    let grid = image::open(out.join("grid.png")).unwrap();
    assert_eq!((grid.width(), grid.height()), (2 + 2 * 34, 2 + 26));
    let gif = std::fs::read(out.join("frames.gif")).unwrap();
    assert!(gif.starts_with(b"GIF89a"));
    let frames = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(gif)).unwrap();
    use image::AnimationDecoder;
    assert_eq!(frames.into_frames().count(), 2);
}

#[test]
fn render_bundled_davis346() {
    let out = scratch("cli_render_davis");
    sdt_dvs()
        .args(["render", "--frames", "6", "--out"])
        .arg(&out)
        .arg(bundled_davis())
        .assert()
        .success()
        .stdout(predicates::str::contains("117667 events, 6 windows"));
    for k in 0..6 {
        let img = image::open(out.join(format!("frame_{k:04}.png"))).unwrap();
        assert_eq!((img.width(), img.height()), (346, 260));
        let lit = img.to_rgb8().pixels().filter(|p| p.0 != [0, 0, 0]).count();
        assert!(lit > 2_000, "frame {k}: {lit} lit pixels");
    }
}

/// The CLI's label stream equals the library's, on the bundled DAVIS346 recording
/// (346×260 → 44×33 with downsampling 8).
#[test]
fn classify_label_stream() {
    let dir = scratch("cli_classify");
    let labels = ["left", "right", "up", "down", "still"];
    let blob_bytes = event_model(33, 44, &labels, 5);
    let blob_path = dir.join("model.blob");
    std::fs::write(&blob_path, &blob_bytes).unwrap();
    let lines = json_lines(
        sdt_dvs()
            .args([
                "classify",
                "--json",
                "--bin-us",
                "5000",
                "--bins",
                "4",
                "--hop",
                "2",
                "--average",
                "2",
                "--model",
            ])
            .arg(&blob_path)
            .arg(bundled_davis()),
    );
    let (summary, windows) = lines.split_last().unwrap();
    // 130 ms in 5 ms bins: 27 bins (the last one partial), windows at bins 4, 6, ..., 26,
    // and one more when the stream ends on the partial bin.
    assert_eq!(windows.len(), 12, "{summary}");
    assert_eq!(summary["windows"], 12);
    assert_eq!(summary["events"], 117_667);
    assert_eq!(summary["downsample"], 8);
    for (i, w) in windows.iter().enumerate() {
        assert_eq!(w["window"], i);
        let label = w["label"].as_u64().unwrap() as usize;
        assert_eq!(w["name"], labels[label]);
        let c = w["confidence"].as_f64().unwrap();
        assert!((0.2..=1.0).contains(&c), "confidence {c}");
        assert!(w["end_us"].as_u64() > w["start_us"].as_u64());
        assert!(w["latency_ms"].as_f64().unwrap() >= 0.0);
    }
    assert!(windows[0]["sops"].as_u64().unwrap() > 0);
    assert!(windows[0]["macs"].as_u64().unwrap() > 0);
    assert_eq!(windows[0]["start_us"], 1_633_953_690_975_950u64);
    assert_eq!(windows[0]["end_us"], 1_633_953_690_975_950u64 + 20_000);
    // Same windows from the library, with the dense kernel.
    let blob = sdt_host::AlignedBlob::from_bytes(&blob_bytes);
    let model = blob.model().unwrap();
    let mut source = EventSource::open(&bundled_davis(), SourceOptions::default()).unwrap();
    let opts = ClassifyOptions {
        bin: Some(Window::Time { us: 5_000 }),
        bins: Some(4),
        hop: Some(2),
        average: 2,
        downsample: None,
        clip: None,
        slices: None,
        normalize: None,
        kernel: Kernel::Dense,
    };
    let mut lib = Vec::new();
    classify(&mut source, &model, &opts, |w| lib.push(w.clone()), |_| {}).unwrap();
    assert_eq!(lib.len(), windows.len());
    for (a, b) in lib.iter().zip(windows) {
        assert_eq!(a.label as u64, b["label"].as_u64().unwrap());
        assert_eq!(a.start_us, b["start_us"].as_u64().unwrap());
        assert_eq!(a.end_us, b["end_us"].as_u64().unwrap());
        assert_eq!(a.sops, b["sops"].as_u64().unwrap());
        assert!((a.confidence - b["confidence"].as_f64().unwrap()).abs() < 1e-9);
    }
    // The table form prints a header, one row per window and a summary.
    let out = sdt_dvs()
        .args(["classify", "--bin-us", "5000", "--model"])
        .arg(&blob_path)
        .arg(bundled_davis())
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("window"), "{text}");
    assert!(text.lines().last().unwrap().contains("SOPs"), "{text}");
}

#[test]
fn classify_rejects_a_model_of_another_shape() {
    let dir = scratch("cli_classify_shape");
    let blob_path = dir.join("model.blob");
    std::fs::write(&blob_path, event_model(30, 30, &["a", "b"], 1)).unwrap();
    let out = sdt_dvs()
        .args(["classify", "--model"])
        .arg(&blob_path)
        .arg(bundled_davis())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--downsample"), "{err}");
}

/// A framing the classifier cannot run is refused in words that name the flag, before or
/// after parsing.
#[test]
fn classify_says_which_framing_flag_is_wrong() {
    let dir = scratch("cli_classify_flags");
    let blob_path = dir.join("model.blob");
    std::fs::write(&blob_path, event_model(30, 30, &["a", "b"], 1)).unwrap();
    for (flags, says) in [
        (
            &["--downsample", "1", "--bins", "2", "--hop", "3"][..],
            "hop must be between 1 and",
        ),
        (&["--average", "0"], "--average"),
        (&["--clip", "0"], "--clip"),
        (&["--bin-us", "0"], "--bin-us"),
    ] {
        let out = sdt_dvs()
            .args(["classify", "--model"])
            .arg(&blob_path)
            .arg(bundled_davis())
            .args(flags)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{flags:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{flags:?}: {err}");
    }
}

/// A count normalization comes from the blob with the blob's own bins, a flag sets another
/// or turns it off, and it changes what the model sees.
#[test]
fn classify_takes_the_count_normalization_from_the_blob_or_a_flag() {
    use sdt_core::meta::{CountNormalization, InputKind};
    use sdt_dvs::classify::stream_config;
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data");
    let bundled = sdt_host::AlignedBlob::read(&data.join("dvs_gesture_int8.blob")).unwrap();
    let raw = sdt_core::blob::parse(bundled.bytes()).unwrap();
    let lift = CountNormalization {
        events: 1_000_000,
        max_gain: 3,
    };
    let mut meta = raw.meta.clone();
    let InputKind::Events(framing) = &mut meta.input else {
        panic!("the bundled gesture blob has an event framing");
    };
    framing.normalize = Some(lift);
    let trained_bin = Window::from(framing.bin);
    let mut bytes = vec![0u8; bundled.len() + 64];
    let n = sdt_core::blob::write(&raw.graph, &meta, raw.data, &mut bytes).unwrap();
    let lifted = sdt_host::AlignedBlob::from_bytes(&bytes[..n]);
    let model = lifted.model().unwrap();
    let g = Geometry::new(128, 128);
    let with = |bin, normalize| {
        let opts = ClassifyOptions {
            bin,
            normalize,
            ..ClassifyOptions::from_blob(Kernel::SpikeDriven)
        };
        stream_config(g, &model, &opts).unwrap().normalize
    };
    assert_eq!(with(None, None), Some(lift));
    assert_eq!(with(Some(trained_bin), None), Some(lift));
    assert_eq!(
        with(Some(Window::Time { us: 1_000 }), None),
        None,
        "other bins"
    );
    assert_eq!(with(None, Some(None)), None);
    let other = CountNormalization {
        events: 10,
        max_gain: 2,
    };
    assert_eq!(
        with(Some(Window::Time { us: 1_000 }), Some(Some(other))),
        Some(other)
    );
    // A flag that changes the blob's normalization is named in the overrides warning.
    let overrides = |normalize| {
        let opts = ClassifyOptions {
            normalize,
            ..ClassifyOptions::from_blob(Kernel::SpikeDriven)
        };
        sdt_dvs::classify::framing_overrides(&model, &opts)
    };
    assert!(overrides(None).is_empty());
    assert!(overrides(Some(Some(lift))).is_empty());
    assert_eq!(
        overrides(Some(None)),
        ["no count normalization (blob: bins lifted towards 1000000 events (gain ≤ 3))"]
    );

    // The command line: the blob's, off, or given; lifting every bin 3× changes the windows.
    let dir = std::env::temp_dir().join(format!("sdt-dvs-normalize-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("lifted.blob");
    std::fs::write(&path, lifted.bytes()).unwrap();
    let stream = data.join("dvs_gesture_stream.aedat");
    let run = |extra: &[&str]| -> Vec<Value> {
        json_lines(
            sdt_dvs()
                .args(["classify", "--json", "--quiet", "--model"])
                .arg(&path)
                .arg(&stream)
                .args(extra),
        )
    };
    let from_blob = run(&[]);
    let off = run(&["--normalize-events", "0"]);
    let given = run(&["--normalize-events", "10", "--normalize-max-gain", "2"]);
    let summary = |r: &[Value]| r.last().unwrap()["normalize"].clone();
    assert_eq!(
        summary(&from_blob),
        serde_json::json!({"events": 1_000_000, "max_gain": 3})
    );
    assert_eq!(summary(&off), Value::Null);
    assert_eq!(
        summary(&given),
        serde_json::json!({"events": 10, "max_gain": 2})
    );
    let scores = |r: &[Value]| -> Vec<Value> {
        r[..r.len() - 1]
            .iter()
            .map(|w| w["confidence"].clone())
            .collect()
    };
    assert_ne!(scores(&from_blob), scores(&off));
    // A gain limit of 0 would be a normalization that never lifts: refused, not ignored.
    let zero_gain = sdt_dvs()
        .args(["classify", "--quiet", "--model"])
        .arg(&path)
        .arg(&stream)
        .args(["--normalize-events", "10", "--normalize-max-gain", "0"])
        .output()
        .unwrap();
    assert!(!zero_gain.status.success());
    assert!(
        String::from_utf8_lossy(&zero_gain.stderr).contains("--normalize-max-gain"),
        "{}",
        String::from_utf8_lossy(&zero_gain.stderr)
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The bundled gesture blob carries its class names and framing: `classify` with no framing
/// flags frames the stream as the blob says and prints the names; flags override it.
#[test]
fn classify_takes_framing_and_names_from_the_blob() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data");
    let stream = data.join("dvs_gesture_stream.aedat");
    let run = |blob: &Path, extra: &[&str]| -> Vec<Value> {
        json_lines(
            sdt_dvs()
                .args(["classify", "--json", "--quiet", "--model"])
                .arg(blob)
                .arg(&stream)
                .args(extra),
        )
    };
    let bundled = data.join("dvs_gesture_int8.blob");
    let blob = sdt_host::AlignedBlob::read(&bundled).unwrap();
    let framing = *blob
        .model()
        .unwrap()
        .framing()
        .expect("the bundled blob's framing");
    let sdt_core::meta::BinLength::Micros(bin_us) = framing.bin else {
        panic!("the bundled blob's bins are time bins: {framing:?}");
    };
    let lines = run(&bundled, &[]);
    let (summary, windows) = lines.split_last().unwrap();
    assert_eq!(summary["bin_us"], bin_us);
    assert_eq!(summary["bins"], framing.bins);
    assert_eq!(summary["hop"], framing.hop);
    assert_eq!(summary["downsample"], framing.downsample);
    assert_eq!(summary["clip"], framing.clip);
    assert_eq!(summary["slices"], framing.polarity.slices());
    assert!(windows.len() > 40, "{summary}");
    let gestures = sdt_dvs::sim::class_names();
    for w in windows {
        let label = w["label"].as_u64().unwrap() as usize;
        assert_eq!(w["name"], gestures[label], "{w}");
    }
    // The first gesture model as released, without metadata, framed by hand: the same labels
    // as its annotated blob.
    let by_hand = run(
        &data.join("v1/dvs_gesture_int8.blob"),
        &["--bin-us", "50000", "--bins", "8", "--hop", "4"],
    );
    let annotated = run(&data.join("v1/dvs_gesture_int8_annotated.blob"), &[]);
    let (old_summary, old_windows) = by_hand.split_last().unwrap();
    let (annotated_summary, annotated_windows) = annotated.split_last().unwrap();
    assert_eq!(old_summary["windows"], annotated_summary["windows"]);
    for (a, b) in old_windows.iter().zip(annotated_windows) {
        assert_eq!(a["label"], b["label"]);
        assert_eq!(a["name"], Value::Null);
    }
    // Flags override the blob's framing; those that change the model's input are warned of.
    let lines = run(&bundled, &["--bins", "6", "--hop", "3"]);
    let summary = lines.last().unwrap();
    assert_eq!(
        (summary["bins"].as_u64(), summary["hop"].as_u64()),
        (Some(6), Some(3))
    );
    let other_bin = (bin_us + 10_000).to_string();
    let out = sdt_dvs()
        .args([
            "classify", "--json", "--quiet", "--bin-us", &other_bin, "--model",
        ])
        .arg(&bundled)
        .arg(&stream)
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    let want = format!("warning: bins of {other_bin} µs (trained: bins of {bin_us} µs)");
    assert!(err.contains(&want), "{err}");
    let out = sdt_dvs()
        .args(["classify", "--json", "--quiet", "--model"])
        .arg(&bundled)
        .arg(&stream)
        .output()
        .unwrap();
    assert!(!String::from_utf8(out.stderr).unwrap().contains("warning"));
    // The table names the classes.
    let out = sdt_dvs()
        .args(["classify", "--quiet", "--model"])
        .arg(data.join("dvs_gesture_int8.blob"))
        .arg(&stream)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        gestures.iter().any(|g| text.contains(g)),
        "no class name in:\n{text}"
    );
    let framed = format!(
        "windows of {} bins of {bin_us} µs every {} bins",
        framing.bins, framing.hop
    );
    assert!(text.contains(&framed), "{text}");
}

/// A recording cut off mid-unit is classified up to the cut, and the command says what it
/// dropped (on stderr, and in the JSON summary); a whole one reports nothing skipped.
#[test]
fn classify_reports_what_a_damaged_recording_lost() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data");
    let stream = data.join("dvs_gesture_stream.aedat");
    let bytes = std::fs::read(&stream).unwrap();
    let cut = scratch("classify-cut").join("cut.aedat");
    // Half the file plus 3 bytes: the last event unit is incomplete.
    std::fs::write(&cut, &bytes[..bytes.len() / 2 + 3]).unwrap();
    let classify = |file: &Path| {
        let out = sdt_dvs()
            .args(["classify", "--json", "--quiet", "--model"])
            .arg(data.join("dvs_gesture_int8.blob"))
            .arg(file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
        (summary, String::from_utf8(out.stderr).unwrap())
    };
    let (whole, whole_err) = classify(&stream);
    let (part, part_err) = classify(&cut);
    let truncated = part["input_errors"]["truncated_bytes"].as_u64().unwrap();
    assert!(truncated > 0, "{part}");
    assert!(
        part_err.contains(&format!(
            "warning: {}: {truncated} bytes of a cut-off end",
            cut.display()
        )),
        "{part_err}"
    );
    let windows = |s: &Value| s["windows"].as_u64().unwrap();
    assert!(0 < windows(&part) && windows(&part) < windows(&whole));
    assert_eq!(
        whole["input_errors"],
        serde_json::json!({"malformed": 0, "out_of_range": 0, "truncated_bytes": 0})
    );
    assert!(!whole_err.contains("warning"), "{whole_err}");
}
