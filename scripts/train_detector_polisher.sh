#!/usr/bin/env bash
# The detector and the polisher behind the next default weights (issue "Better default
# weights"), trained on the low-res colorizer's real samples, in their own run folder so
# they can train while scripts/train_default_weights.sh still trains the low-res stage
# (two processes must not merge into one weight file at once). Resumable: run it again.
# runs/w2dp_init.safetensors is a copy of runs/w2/weights.safetensors taken when this
# started (its low-res stage makes the samples); scripts/merge_stage_weights.py then
# takes the low-res stage from runs/w2 and these two from runs/w2dp.
set -euo pipefail
cd "$(dirname "$0")/.."
init=runs/w2dp_init.safetensors
[ -f "$init" ] || cp runs/w2/weights.safetensors "$init"
for stage in detector polisher; do
    resume=()
    [ -f runs/w2dp/checkpoint-$stage.pt ] && resume=(--resume)
    budget=${BUDGET_DETECTOR:-60}
    [ $stage = polisher ] && budget=${BUDGET_POLISHER:-45}
    nice -n 19 fastcolor train --data data/comic128 --out runs/w2dp --stage $stage \
        --init "$init" --real-samples 4000 --epochs 30 --budget-minutes "$budget" \
        --checkpoint-minutes 10 --threads 1 --seed 0 "${resume[@]}"
done
