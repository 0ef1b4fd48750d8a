#!/usr/bin/env bash
# The long training run behind the next default weights (issue "Better default weights").
# Resumable: run it again (in a later session too) and it continues from runs/w2's
# checkpoints; it builds the comic data first if data/comic128 is missing (~2 min).
# Stage 1: the low-res colorizer, fine-tuned from the shipped weights on the comic
# composition at a lower learning rate. Then (by hand, once its validation NLL in
# runs/w2/log.jsonl stops falling):
#   fastcolor train --data data/comic128 --out runs/w2 --stage detector --real-samples 8000 \
#       --epochs 20 --budget-minutes 40 --threads 2 --seed 0 --resume
#   fastcolor train --data data/comic128 --out runs/w2 --stage polisher --real-samples 8000 \
#       --epochs 20 --budget-minutes 60 --threads 2 --seed 0 --resume
#   fastcolor eval --weights runs/w2/weights.safetensors --data data/comic128 --limit 300 --seed 0
# and compare with the same eval without --weights (the shipped weights).
# It runs at nice 19 on one thread so other work keeps the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f data/comic128/index.json ] || nice -n 19 fastcolor data build --out data/comic128 \
    --size 128 --panels 20000 --val-panels 1000 --seed 0 --quiet
resume=()
[ -f runs/w2/checkpoint-lowres.pt ] && resume=(--resume)
exec nice -n 19 fastcolor train --data data/comic128 --out runs/w2 --stage lowres \
    --config small --init fastcolor/weights/default.safetensors --epochs 40 --lr 0.0003 \
    --budget-minutes 600 --checkpoint-minutes 10 --threads 1 --seed 0 "${resume[@]}"
