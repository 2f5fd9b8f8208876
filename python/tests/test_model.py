"""Converting, inspecting and running models from Python gives what the Rust CLI gives."""

import json

import numpy as np
import pytest

import sdt


def load_test(path):
    """The tensors of a small safetensors file (f32 little-endian), read with numpy only."""
    import json
    import struct

    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        dtype = {"F32": "<f4", "I64": "<i8"}[t["dtype"]]
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype).reshape(t["shape"])
    return out


# What the bundled digits blob says about itself (examples/data/README.md).
DIGITS_META = dict(name="digits32", class_names=[str(i) for i in range(10)],
                   image_mean=[0.5], image_std=[0.5])


@pytest.fixture(scope="module")
def digits(golden_dir, tmp_path_factory):
    """The digits checkpoint converted by Python and by `sdt-convert pack`."""
    ck = golden_dir / "sdt_digits32_seed1.safetensors"
    out = tmp_path_factory.mktemp("blobs")
    py_path = out / "py.blob"
    stages = []
    blob = sdt.convert(ck, input_size=32, input_absmax=1.0, output=py_path,
                       progress=stages.append, **DIGITS_META)
    assert stages[0] == "reading the checkpoint" and stages[-1] == "writing the blob"
    assert len(stages) == 5
    return blob, py_path


def test_convert_gives_the_cli_bytes(digits, golden_dir, cli_raw, tmp_path, data_dir):
    blob, py_path = digits
    cli_path = tmp_path / "cli.blob"
    cli_raw("sdt-convert", "pack", golden_dir / "sdt_digits32_seed1.safetensors", "-o", cli_path,
            "--input-size", 32, "--input-absmax", 1.0, "--name", "digits32",
            "--class-names", "0,1,2,3,4,5,6,7,8,9", "--image-mean", "0.5", "--image-std", "0.5")
    assert blob.to_bytes() == cli_path.read_bytes() == py_path.read_bytes()
    # The bundled blob was made the same way.
    assert blob.to_bytes() == (data_dir / "digits32_int8.blob").read_bytes()
    assert len(blob) == cli_path.stat().st_size


def test_inspect_matches_the_cli(digits, cli, tmp_path):
    blob, py_path = digits
    info = blob.inspect()
    assert info == cli("sdt-convert", "inspect", py_path)
    layers = blob.inspect(layers=True)["layers"]
    assert len(layers) == info["nodes"]
    assert {"node", "block", "name", "out", "format", "bytes"} <= set(layers[0])


def test_run_gives_the_cli_logits(digits, cli, data_dir):
    blob, py_path = digits
    test_file = data_dir / "digits32_test.safetensors"
    n = 24
    expected = cli("sdt-convert", "logits", py_path, test_file, "--limit", n)
    model = sdt.Model(blob)
    assert model.logits_frac == expected["frac"]
    images = load_test(test_file)["input"][:n]
    # Float images are quantized as the CLI does; the integers must be identical.
    logits = model.run(images)
    assert logits.dtype == np.int32 and logits.shape == (n, 10)
    np.testing.assert_array_equal(logits, np.array(expected["logits"], np.int32))
    # Quantized input, one image, dense kernel, threads: same integers.
    q = model.quantize(images)
    assert q.dtype == np.int8 and q.shape == (n, 32, 32, 1)
    np.testing.assert_array_equal(model.run(q[3], kernel="dense"), logits[3])
    np.testing.assert_array_equal(model.run(q, threads=2), logits)


def test_stats_records(digits):
    model = sdt.Model(digits[0])
    x = np.zeros((2, 1, 32, 32), np.float32)
    logits, records = model.run(x, stats=True)
    assert len(records) == len(model.node_names)
    assert all(r["runs"] == 2 for r in records)
    assert sum(r["sops"] for r in records) > 0
    assert {"node", "name", "block", "sops", "macs", "spikes", "nonzero", "sites",
            "energy_fj"} <= set(records[0])


def test_evaluate_matches_the_cli(digits, cli, data_dir):
    blob, py_path = digits
    test_file = data_dir / "digits32_test.safetensors"
    t = load_test(test_file)
    report = sdt.Model(blob).evaluate(t["input"], t["label"].astype(np.int64),
                                      logits=t["logits"], limit=40)
    expected = cli("sdt-convert", "eval", py_path, test_file, "--limit", 40)
    for key in ("images", "accuracy", "top1_agreement", "max_abs_logit_diff", "firing"):
        assert report[key] == expected[key], key
    # Any integer label type.
    again = sdt.Model(blob).evaluate(t["input"][:40], t["label"][:40].astype(np.int32))
    assert again["accuracy"] == expected["accuracy"]
    with pytest.raises(sdt.InputError):
        sdt.Model(blob).evaluate(t["input"][:40], t["label"][:39])


def test_errors_are_typed(digits, tmp_path):
    blob = digits[0]
    raw = bytearray(blob.to_bytes())
    raw[0] ^= 0xFF
    with pytest.raises(sdt.BlobError, match="magic"):
        sdt.Blob.from_bytes(bytes(raw))
    raw = bytearray(blob.to_bytes())
    raw[-1] ^= 1
    with pytest.raises(sdt.BlobError, match="checksum"):
        sdt.Blob.from_bytes(bytes(raw))
    with pytest.raises(FileNotFoundError):
        sdt.Blob.load(tmp_path / "missing.blob")
    model = sdt.Model(blob)
    with pytest.raises(sdt.InputError):
        model.run(np.zeros(7, np.int8))
    with pytest.raises(sdt.InputError, match="int8"):
        model.run(np.zeros(32 * 32, np.int16))
    with pytest.raises(sdt.InputError, match="kernel"):
        model.run(np.zeros(32 * 32, np.int8), kernel="fast")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    with pytest.raises(sdt.SdtError):
        sdt.convert(bad, input_size=32)
    with pytest.raises(sdt.ConversionError):
        sdt.convert(bad, weight_bits=3)
    assert issubclass(sdt.CheckpointError, sdt.SdtError)


def test_run_releases_the_gil(digits):
    """Python threads keep running while a batch runs: the GIL is released."""
    import threading
    import time

    model = sdt.Model(digits[0])
    x = np.random.default_rng(3).normal(size=(200, 1, 32, 32)).astype(np.float32)
    span = {}

    def work():
        span["start"] = time.perf_counter()
        model.run(x)
        span["end"] = time.perf_counter()

    worker = threading.Thread(target=work)
    ticks = []
    worker.start()
    while worker.is_alive():
        ticks.append(time.perf_counter())
    worker.join()
    assert span["end"] - span["start"] > 0.05, "batch too short to tell"
    inside = [t for t in ticks if span["start"] + 0.02 < t < span["end"] - 0.02]
    assert len(inside) > 100, f"{len(inside)} ticks while the batch ran"


def test_metadata_of_the_bundled_blobs(data_dir):
    digits = sdt.Model(sdt.Blob.load(data_dir / "digits32_int8.blob"))
    assert digits.class_names == [str(i) for i in range(10)]
    assert digits.metadata["name"] == "digits32"
    assert digits.metadata["input"] == {"Image": {"mean": [0.5], "std": [0.5]}}
    gesture = sdt.Model(sdt.Blob.load(data_dir / "dvs_gesture_int8.blob"))
    assert gesture.class_names[0] == "hand_clap" and len(gesture.class_names) == 11
    framing = gesture.metadata["input"]["Events"]
    assert framing["bin"] == {"Micros": 200000}
    assert (framing["bins"], framing["hop"], framing["downsample"]) == (2, 1, 4)
    assert framing["polarity"] == {"OffOnPerSlice": 4}
    assert framing["sensor"] == [128, 128]
    assert framing["normalize"] == {"events": 1500, "max_gain": 4}
    # A blob as first released (format version 1) has none.
    old = sdt.Model(sdt.Blob.load(data_dir / "v1" / "dvs_gesture_int8.blob"))
    assert old.class_names == []
    assert old.metadata["input"] == "Unspecified"


def test_classify_events_gives_the_cli_windows(data_dir, cli_raw):
    """The bundled gesture blob on the bundled stream: the windows of `sdt-dvs classify`, with
    the framing (and count normalization) taken from the blob, no flags."""
    model = sdt.Model(sdt.Blob.load(data_dir / "dvs_gesture_int8.blob"))
    stream = data_dir / "dvs_gesture_stream.aedat"
    rec = sdt.events.read(stream)
    windows, summary = sdt.events.classify(model, rec, rec.width, rec.height)
    out = cli_raw("sdt-dvs", "classify", "--json", "--quiet", "--model",
                  data_dir / "dvs_gesture_int8.blob", stream).stdout.splitlines()
    lines = [json.loads(line) for line in out]
    cli_windows, cli_summary = lines[:-1], lines[-1]
    keys = ("window", "label", "name", "confidence", "start_us", "end_us", "sops")
    assert len(windows) == len(cli_windows) > 0
    assert [{k: w[k] for k in keys} for w in windows] == \
        [{k: w[k] for k in keys} for w in cli_windows]
    assert summary["normalize"] == {"events": 1500, "max_gain": 4}
    for k in ("windows", "events", "sops", "bin_us", "bins", "hop", "clip", "slices"):
        assert summary[k] == cli_summary[k], k
    # Flags override: the normalization off changes confidences, not the window count.
    off, off_summary = sdt.events.classify(model, rec, rec.width, rec.height,
                                           normalize_events=0)
    assert off_summary["normalize"] is None and len(off) == len(windows)
    assert [w["confidence"] for w in off] != [w["confidence"] for w in windows]
    with pytest.raises(sdt.InputError, match="one bin length"):
        sdt.events.classify(model, rec, rec.width, rec.height, window_us=1, window_events=1)


def test_classify_file_streams_the_windows_of_classify(data_dir, tmp_path):
    """A recording classified from its file, chunk by chunk, gives the windows of the same
    events classified in memory; overrides and typed errors work as there."""
    model = sdt.Model(sdt.Blob.load(data_dir / "dvs_gesture_int8.blob"))
    stream = data_dir / "dvs_gesture_stream.aedat"
    rec = sdt.events.read(stream)
    in_memory, summary = sdt.events.classify(model, rec, rec.width, rec.height)
    from_file, file_summary = sdt.events.classify_file(model, stream)
    def same(w):  # everything but the measured latency
        return {k: v for k, v in w.items() if k != "latency_ms"}

    assert len(from_file) == len(in_memory) > 0
    assert [same(w) for w in from_file] == [same(w) for w in in_memory]
    for k in ("windows", "events", "sops", "bin_us", "bins", "hop", "normalize"):
        assert file_summary[k] == summary[k], k
    # What the decoder skipped is part of a file's summary: nothing here, but a file cut off
    # mid-event gives the windows before the cut and says how many bytes it dropped.
    assert "input_errors" not in summary
    assert file_summary["input_errors"] == {"malformed": 0, "out_of_range": 0,
                                            "truncated_bytes": 0}
    cut = tmp_path / "cut.aedat"
    whole = stream.read_bytes()
    cut.write_bytes(whole[:len(whole) // 2 + 3])
    part, part_summary = sdt.events.classify_file(model, cut)
    assert part_summary["input_errors"]["truncated_bytes"] > 0
    assert 0 < len(part) < len(from_file)
    # The same override as in memory: a hop of 2 bins gives about half the windows.
    hop2, _ = sdt.events.classify_file(model, stream, hop=2)
    mem2, _ = sdt.events.classify(model, rec, rec.width, rec.height, hop=2)
    assert [same(w) for w in hop2] == [same(w) for w in mem2]
    assert 0 < len(hop2) < len(from_file)
    with pytest.raises(sdt.InputError, match="one bin length"):
        sdt.events.classify_file(model, stream, window_us=1, window_events=1)
    with pytest.raises(TypeError, match="no_such_flag"):
        sdt.events.classify_file(model, stream, no_such_flag=1)
    with pytest.raises(TypeError, match="bins"):
        sdt.events.classify_file(model, stream, bins="two")
    with pytest.raises(sdt.InputError, match="gain"):
        sdt.events.classify_file(model, stream, normalize_events=1500, normalize_max_gain=0)
    # Zero counts are refused by the stream classifier, in words that name the keyword.
    with pytest.raises(sdt.InputError, match="average must be at least 1"):
        sdt.events.classify_file(model, stream, average=0)
    with pytest.raises(sdt.InputError, match="hop must be between 1 and"):
        sdt.events.classify_file(model, stream, hop=9)
    # A file of no known format is a typed error, not a crash or an empty result.
    unknown = tmp_path / "noise.xyz"
    unknown.write_bytes(b"\x01\x02\x03")
    with pytest.raises(sdt.EventFormatError):
        sdt.events.classify_file(model, unknown)
    with pytest.raises(FileNotFoundError):
        sdt.events.classify_file(model, tmp_path / "missing.aedat")
