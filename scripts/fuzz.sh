#!/usr/bin/env bash
# Fuzzes every target (or the ones named) for a set time each, one after another, keeping a
# persistent corpus in fuzz/corpus/<target> (seeded from the committed fuzz/regressions/<target>),
# then minimizes that corpus. Prints the executions of each run and appends them to
# fuzz/corpus/runs.tsv (date, target, seconds, executions, corpus files, corpus bytes).
#
#   scripts/fuzz.sh [--seconds N] [--update-regressions] [target ...]
#
# --update-regressions replaces fuzz/regressions/<target> with the minimized corpus (the inputs
# the normal test command replays). A crash stops the script with libFuzzer's output; the
# input is in fuzz/artifacts/<target>/. Runs at the lowest CPU priority (the machine is shared);
# FUZZ_NICE sets another niceness.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=600
update=0
targets=()
niceness=${FUZZ_NICE:-19}
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --update-regressions) update=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)

nice -n "$niceness" cargo +nightly fuzz build -O
for target in "${targets[@]}"; do
  corpus="corpus/$target"
  mkdir -p "$corpus"
  # The committed regression inputs are the seeds of every run.
  [ -d "regressions/$target" ] && cp -n "regressions/$target"/* "$corpus"/ 2>/dev/null || true
  log=$(mktemp)
  echo "fuzz $target for ${seconds}s"
  nice -n "$niceness" cargo +nightly fuzz run -O "$target" "$corpus" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || {
    tail -n 60 "$log"; echo "fuzz target $target failed: see fuzz/artifacts/$target/"; exit 1; }
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  # Minimize: keep the smallest set of inputs that covers what the corpus covers.
  min=$(mktemp -d)
  nice -n "$niceness" cargo +nightly fuzz cmin -O "$target" "$corpus" >/dev/null 2>&1 || true
  cp "$corpus"/* "$min"/ 2>/dev/null || true
  files=$(find "$min" -type f | wc -l)
  bytes=$(du -sb "$min" | cut -f1)
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$target" "$seconds" "${execs:-0}" \
    "$files" "$bytes" | tee -a corpus/runs.tsv
  if [ "$update" = 1 ]; then
    rm -rf "regressions/$target"
    mkdir -p "regressions/$target"
    cp "$min"/* "regressions/$target"/ 2>/dev/null || true
  fi
  rm -rf "$min" "$log"
done
