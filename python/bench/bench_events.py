"""Decoding the shared EVT 3.0 recording from Python: sdt.events.read versus expelliarmus.

Both decode the same file into a numpy structured array (t, x, y, p), in the same process,
alternating, several runs each; prints the median and the spread (min..max) side by side.
With `--gate`, exits non-zero if sdt's fastest run is slower than expelliarmus' fastest run (on
a shared, loaded machine the medians of both swing with the load; the fastest run is the least
disturbed). The test command prints the figures without the gate: a timing is a benchmark,
not a test.

    python python/bench/bench_events.py [PATH] [--runs N] [--gate]
"""

import argparse
import os
import pathlib
import statistics
import sys
import time

import numpy as np

import sdt

try:
    from expelliarmus import Wizard
except ImportError:  # pragma: no cover - reported, not skipped
    sys.exit("expelliarmus is not installed: pip install expelliarmus")

REPO = pathlib.Path(__file__).resolve().parents[2]
DEFAULT = pathlib.Path(os.environ.get("SDT_EVENTS_DIR", REPO.parent / "shared" / "events")) / \
    "expelliarmus_evt3_gen41.raw"


def timed(f, runs):
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return times, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("path", nargs="?", default=str(DEFAULT))
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--gate", action="store_true",
                    help="exit non-zero when sdt's fastest run is slower than expelliarmus'")
    args = ap.parse_args()
    path = args.path
    wizard = Wizard(encoding="evt3")

    def ours():
        return sdt.events.read(path, evt3_time="expelliarmus").events

    def theirs():
        return wizard.read(path)

    # Warm the page cache and check both agree before timing.
    a, b = ours(), theirs()
    for f in "txyp":
        np.testing.assert_array_equal(a[f], b[f])
    rounds = {"sdt": [], "expelliarmus": []}
    for _ in range(args.runs):
        for name, f in (("sdt", ours), ("expelliarmus", theirs)):
            rounds[name] += timed(f, 1)[0]
    size = os.path.getsize(path)
    print(f"{path}: {size:,} bytes, {len(a):,} events, {args.runs} runs each, alternating")
    print(f"{'decoder':<14}{'median ms':>11}{'min ms':>9}{'max ms':>9}{'Mev/s':>9}")
    med, best = {}, {}
    for name, times in rounds.items():
        med[name], best[name] = statistics.median(times), min(times)
        print(f"{name:<14}{med[name] * 1e3:>11.3f}{min(times) * 1e3:>9.3f}"
              f"{max(times) * 1e3:>9.3f}{len(a) / med[name] / 1e6:>9.1f}")
    ratio = med["expelliarmus"] / med["sdt"]
    print(f"sdt is {ratio:.2f}x the speed of expelliarmus by the median, "
          f"{best['expelliarmus'] / best['sdt']:.2f}x by the fastest run")
    if args.gate and best["sdt"] > best["expelliarmus"]:
        sys.exit("sdt.events.read is slower than expelliarmus on this file")


if __name__ == "__main__":
    main()
