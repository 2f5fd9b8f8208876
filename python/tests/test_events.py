"""Event files decode to the same events as the Rust tools and the reference arrays."""

import numpy as np
import pytest

import sdt


def test_evt3_equals_the_expelliarmus_reference(events_dir):
    rec = sdt.events.read(events_dir / "expelliarmus_evt3_gen41.raw", evt3_time="expelliarmus")
    ref = np.load(events_dir / "expelliarmus_evt3_gen41.ref.npy")
    assert rec.events.dtype == sdt.events.EVENT_DTYPE == ref.dtype
    np.testing.assert_array_equal(rec.events, ref)
    assert (rec.format, rec.width, rec.height) == ("evt3", 1280, 720)
    assert rec.counters["events"] == len(ref) == 219_596
    # The documented time rule: same pixels and polarities, times off by 4096 µs carries.
    spec = sdt.events.read(events_dir / "expelliarmus_evt3_gen41.raw")
    for f in "xyp":
        np.testing.assert_array_equal(spec.events[f], ref[f])
    assert np.all((ref["t"] - spec.events["t"]) % 4096 == 0)
    np.testing.assert_array_equal(spec.events[:20_121], ref[:20_121])


@pytest.mark.parametrize("name", ["expelliarmus_evt3_gen41.raw", "tonic_sample_nmnist.bin",
                                  "aestream_davis.aedat4", "dvs_gesture_stream.aedat"])
def test_every_format_matches_sdt_dvs_info(events_dir, data_dir, cli, name):
    # The bundled gesture stream is AEDAT 3.1; the others are the shared real recordings.
    path = (data_dir if name.endswith(".aedat") else events_dir) / name
    rec = sdt.events.read(path)
    info = cli("sdt-dvs", "info", path)
    assert (rec.format, rec.width, rec.height, rec.geometry_source) == (
        info["format"], info["width"], info["height"], info["geometry_source"])
    assert len(rec) == info["events"] == rec.counters["events"]
    assert int(rec.events["p"].sum()) == info["on_events"]
    for end, row in (("first", rec.events[0]), ("last", rec.events[-1])):
        assert {k: int(row[k]) for k in "txyp"} == info[end]
    for key, value in info["errors"].items():
        assert rec.counters[key] == value
    # Streaming gives the same events in the same order.
    stream = sdt.events.open(path)
    chunks = list(stream)
    np.testing.assert_array_equal(np.concatenate(chunks), rec.events)
    assert stream.info()["counters"] == rec.counters


def test_nmnist_equals_a_numpy_decoder(events_dir):
    raw = np.fromfile(events_dir / "tonic_sample_nmnist.bin", np.uint8).reshape(-1, 5)
    t = ((raw[:, 2].astype(np.int64) & 0x7F) << 16) | (raw[:, 3].astype(np.int64) << 8) | raw[:, 4]
    rec = sdt.events.read(events_dir / "tonic_sample_nmnist.bin")
    np.testing.assert_array_equal(rec.events["x"], raw[:, 0])
    np.testing.assert_array_equal(rec.events["y"], raw[:, 1])
    np.testing.assert_array_equal(rec.events["p"], raw[:, 2] >> 7)
    np.testing.assert_array_equal(rec.events["t"], t)


def test_frames_match_a_numpy_framer(events_dir):
    rec = sdt.events.read(events_dir / "tonic_sample_nmnist.bin")
    ev = rec.events
    frames = sdt.events.frames(rec, 34, 34, bins=4, window_us=20_000, downsample=2, clip=255)
    assert frames.dtype == np.uint8 and frames.shape[1:] == (4, 2, 17, 17)
    # The same counts from numpy: bins of 20 ms from the first event, 4 bins per window.
    rel = ev["t"] - ev["t"][0]
    window, b = rel // 80_000, (rel % 80_000) // 20_000
    expected = np.zeros((int(window.max()) + 1, 4, 2, 17, 17), np.uint8)
    np.add.at(expected, (window, b, ev["p"], ev["y"] // 2, ev["x"] // 2), 1)
    np.testing.assert_array_equal(frames, expected)
    # Count windows and clipping.
    counted = sdt.events.frames(ev, 34, 34, bins=2, window_events=1000, clip=1)
    assert counted.shape[0] == -(-len(ev) // 2000) and counted.max() == 1
    # Slices: each 20 ms bin cut into 4 slices of 5 ms, channel 2s + p.
    sliced = sdt.events.frames(rec, 34, 34, bins=4, window_us=20_000, downsample=2, clip=255,
                               slices=4)
    assert sliced.shape[1:] == (4, 8, 17, 17)
    s = (rel % 20_000) // 5_000
    expected = np.zeros((int(window.max()) + 1, 4, 8, 17, 17), np.uint8)
    np.add.at(expected, (window, b, 2 * s + ev["p"], ev["y"] // 2, ev["x"] // 2), 1)
    np.testing.assert_array_equal(sliced, expected)
    with pytest.raises(sdt.InputError):
        sdt.events.frames(ev, 34, 34, bins=1, window_us=1_000, slices=0)


def test_frames_with_a_count_normalization_lift_sparse_bins(events_dir):
    ev = sdt.events.read(events_dir / "tonic_sample_nmnist.bin").events
    plain = sdt.events.frames(ev, 34, 34, bins=2, window_us=20_000, clip=4)
    target, max_gain = 600, 3
    lifted = sdt.events.frames(ev, 34, 34, bins=2, window_us=20_000, clip=4,
                               normalize_events=target, normalize_max_gain=max_gain)
    assert lifted.shape == plain.shape
    # Each bin's own event count gives its gain, round(N / n) in 1..=max_gain.
    rel = ev["t"] - ev["t"][0]
    n = np.zeros(plain.shape[:2], np.int64)
    np.add.at(n, (rel // 40_000, (rel % 40_000) // 20_000), 1)
    gain = np.clip((target + n // 2) // np.maximum(n, 1), 1, max_gain)
    assert gain.min() == 1 and gain.max() > 1, "the sample has busy and sparse bins"
    expected = np.minimum(plain.astype(np.int64) * gain[:, :, None, None, None], 4)
    np.testing.assert_array_equal(lifted, expected)
    # Without `partial` the last, unfinished window is left out, the others unchanged.
    whole = sdt.events.frames(ev, 34, 34, bins=2, window_us=20_000, clip=4, partial=False,
                              normalize_events=target, normalize_max_gain=max_gain)
    np.testing.assert_array_equal(whole, lifted[:-1])
    # Bins of counted events: full bins (1,000 ≥ N events) keep their counts; the last,
    # short bin is lifted by its own count.
    per_bin = 1000
    counted = sdt.events.frames(ev, 34, 34, bins=2, window_events=per_bin, clip=4,
                                normalize_events=target, normalize_max_gain=max_gain)
    plain_counted = sdt.events.frames(ev, 34, 34, bins=2, window_events=per_bin, clip=4)
    assert counted.shape == plain_counted.shape
    flat = counted.reshape((-1,) + counted.shape[2:])
    plain_flat = plain_counted.reshape(flat.shape)
    last = (len(ev) - 1) // per_bin
    assert len(ev) % per_bin < target, "the sample's last bin is short"
    last_gain = min(max((target + len(ev) % per_bin // 2) // (len(ev) % per_bin), 1), max_gain)
    np.testing.assert_array_equal(flat[:last], plain_flat[:last])
    np.testing.assert_array_equal(
        flat[last], np.minimum(plain_flat[last].astype(np.int64) * last_gain, 4))
    # 0 is off; a gain limit of 0 is refused.
    off = sdt.events.frames(ev, 34, 34, bins=2, window_us=20_000, clip=4, normalize_events=0)
    np.testing.assert_array_equal(off, plain)
    with pytest.raises(sdt.InputError):
        sdt.events.frames(ev, 34, 34, bins=2, window_us=20_000, normalize_events=600,
                          normalize_max_gain=0)


def test_event_errors_are_typed(tmp_path, events_dir):
    unknown = tmp_path / "noise.xyz"
    unknown.write_bytes(b"\x01\x02\x03")
    with pytest.raises(sdt.EventFormatError):
        sdt.events.read(unknown)
    with pytest.raises(FileNotFoundError):
        sdt.events.read(tmp_path / "missing.raw")
    with pytest.raises(sdt.InputError):
        sdt.events.read(events_dir / "tonic_sample_nmnist.bin", format="mp4")
    with pytest.raises(sdt.InputError):
        sdt.events.frames(np.zeros(0, sdt.events.EVENT_DTYPE), 34, 34, bins=0, window_us=1)
    # A resolution smaller than the sensor drops events and counts them.
    rec = sdt.events.read(events_dir / "tonic_sample_nmnist.bin", width=10, height=10)
    assert rec.counters["out_of_range"] > 0 and rec.events["x"].max() < 10


def _random_events(n=5000, width=640, height=480, seed=1):
    rng = np.random.default_rng(seed)
    ev = np.empty(n, sdt.events.EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(0, 5_000_000, n))
    ev["x"] = rng.integers(0, width, n)
    ev["y"] = rng.integers(0, height, n)
    ev["p"] = rng.integers(0, 2, n)
    return ev


def test_evt2_written_from_the_format_documentation(tmp_path):
    """EVT 2.0 words built with numpy (a TIME_HIGH word before every CD word) decode back."""
    ev = _random_events()
    t = ev["t"].astype(np.uint64)
    high = (np.uint32(0x8) << np.uint32(28)) | (t >> np.uint64(6)).astype(np.uint32)
    cd = ((ev["p"].astype(np.uint32) << np.uint32(28))
          | ((t & np.uint64(63)).astype(np.uint32) << np.uint32(22))
          | (ev["x"].astype(np.uint32) << np.uint32(11)) | ev["y"].astype(np.uint32))
    words = np.stack([high, cd], axis=1).reshape(-1).astype("<u4")
    path = tmp_path / "sample.raw"
    path.write_bytes(b"% evt 2.0\n% geometry 640x480\n% end\n" + words.tobytes())
    rec = sdt.events.read(path)
    assert (rec.format, rec.width, rec.height, rec.geometry_source) == ("evt2", 640, 480, "file")
    np.testing.assert_array_equal(rec.events, ev)


def test_dat_written_from_the_format_documentation(tmp_path):
    """DAT records (t u32, x | y << 14 | p << 28) built with numpy decode back."""
    ev = _random_events(seed=2)
    rec_dtype = np.dtype([("t", "<u4"), ("w", "<u4")])
    records = np.empty(len(ev), rec_dtype)
    records["t"] = ev["t"]
    records["w"] = (ev["x"].astype(np.uint32) | (ev["y"].astype(np.uint32) << np.uint32(14))
                    | (ev["p"].astype(np.uint32) << np.uint32(28)))
    path = tmp_path / "sample.dat"
    path.write_bytes(b"% Data file containing CD events.\n% Width 640\n% Height 480\n"
                     + bytes([12, 8]) + records.tobytes())
    rec = sdt.events.read(path)
    assert (rec.format, rec.width, rec.height) == ("dat", 640, 480)
    np.testing.assert_array_equal(rec.events, ev)
    # Streaming in chunks gives the same events.
    np.testing.assert_array_equal(np.concatenate(list(sdt.events.open(path))), ev)
