#!/usr/bin/env bash
# Rebuilds the simulator-versus-real figures and statistics table of dvs/README.md:
# films the realistic-simulator presets, renders them and the real recordings of the shared
# events folder (SDT_EVENTS_DIR, default ../shared/events) with `sdt-dvs render`, and prints
# the statistics table. Only the simulated clips and the MIT-licensed DAVIS346 recording are
# copied into dvs/docs; the GPL recordings are rendered into the scratch folder only.
#   bash dvs/docs/figures.sh [SCRATCH_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
events="${SDT_EVENTS_DIR:-../shared/events}"
export SDT_EVENTS_DIR="$events"
scratch="${1:-target/sim_vs_real}"
cargo build --release -q -p sdt-dvs --bin sdt-dvs --example sim_vs_real
B=target/release/sdt-dvs
target/release/examples/sim_vs_real "$scratch" > "$scratch.md"
render() { # name, file, render options...
    local name=$1 file=$2
    shift 2
    "$B" render "$file" --out "$scratch/render_$name" --quiet "$@" > /dev/null
}
keep() { cp "$scratch/render_$1/grid.png" "dvs/docs/$1.png"; }
for preset in close_up upper_body noisy_sparse; do
    render "sim_${preset}" "$scratch/sim_${preset}_right_hand_wave.aedat4" --frame-us 50000 --max-frames 4 --scale 1
    keep "sim_${preset}"
done
render sim_close_up_arm_roll "$scratch/sim_close_up_arm_roll.aedat4" --frame-us 50000 --max-frames 4 --scale 1
keep sim_close_up_arm_roll
render real_davis346 "$events/aestream_davis.aedat4" --frame-us 30000 --max-frames 2 --downsample 2 --scale 1
keep real_davis346
render real_gen41 "$events/expelliarmus_evt3_gen41.raw" --frames 4 --max-frames 4 --downsample 8 --scale 1
render real_nmnist "$events/tonic_sample_nmnist.bin" --frame-us 50000 --max-frames 4 --scale 2
cp "$scratch/randomized.png" dvs/docs/sim_randomized.png
cat "$scratch.md"
ls -l dvs/docs/*.png "$scratch"/render_real_*/grid.png
