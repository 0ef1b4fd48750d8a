#!/usr/bin/env bash
# The color prior of the low-res colorizer (issue "Better default weights"; README
# "Color prior"): the shipped weights plus a 1 M-parameter outline->color net whose
# features reach the PixelCNN through a zero-initialized 1x1, trained in two runs:
#   1. runs/w11: the prior alone on its own L1 to the low-res truth (--prior-only: the
#      PixelCNN is not run, ~0.3 s a step at batch 32 on 2 threads);
#   2. runs/w12: the whole low-res stage (NLL + the prior's L1) from runs/w11, so the
#      PixelCNN learns to read the prior; the lr ramps up over 300 steps (--warmup-steps)
#      so Adam's first steps do not knock the trained weights about.
# Each run is resumable: run the script again (in a later session too) and the unfinished
# run continues from its checkpoint (the second starts once the first has weights).
# The shipped weights take run 1's best epoch (6), merged with the previous detector and
# polisher by scripts/merge_stage_weights.py (README "Default weights"); run 2 was tried
# and not shipped.
# Judge with fastcolor eval --data data/comic128 --limit 150 --seed 0 --weights
# runs/w12/weights.safetensors (the detector and polisher are the shipped ones, carried by
# --init) and python scripts/probe_color_knowledge.py (a "color prior" row).
# Usage: scripts/train_color_prior.sh [prior|lowres] [BUDGET_MINUTES]
set -euo pipefail
cd "$(dirname "$0")/.."
part="${1:-prior}"
budget="${2:-40}"
[ -f data/comic128b/index.json ] || nice -n 19 fastcolor data build --out data/comic128b \
    --size 128 --panels 60000 --val-panels 1000 --seed 1 --quiet
[ -f runs/w11_init.safetensors ] || python scripts/add_context_blocks.py \
    --weights fastcolor/weights/default.safetensors --prior-widths 32 64 96 \
    --out runs/w11_init.safetensors
case "$part" in
  prior) run=runs/w11; args=(--init runs/w11_init.safetensors --prior-only --batch-size 32
                             --lr 0.001) ;;
  lowres) run=runs/w12; args=(--init runs/w11/weights.safetensors --lr 0.0002
                              --warmup-steps 300) ;;
  *) echo "usage: $0 [prior|lowres] [BUDGET_MINUTES]" >&2; exit 2 ;;
esac
resume=()
[ -f "$run/checkpoint-lowres.pt" ] && resume=(--resume)
exec nice -n 5 fastcolor train --data data/comic128b --out "$run" --stage lowres \
    "${args[@]}" --epochs 40 --budget-minutes "$budget" --checkpoint-minutes 10 \
    --threads 2 --seed 0 "${resume[@]}"
