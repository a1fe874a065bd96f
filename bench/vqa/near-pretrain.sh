#!/usr/bin/env bash
# Issue 35, part 1: pretrains the near-transfer backbones (near.ts) and runs the gate before any
# grid (near-check.ts: zero-shot and the full-finetuning ceiling). Each stage is skipped when its
# checkpoint exists and resumes from its run directory (/runs/near/<stage>, not committed) when
# it was cut short, so the same command continues across sessions. Logs: bench/vqa/results/near-*.log.
#   bash bench/vqa/near-pretrain.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ck=bench/vqa/checkpoints
runs=runs/near
logs=bench/vqa/results
mkdir -p "$runs" "$logs"

stage() { # name, checkpoint, pretrain.ts arguments...
  local name=$1 out=$2
  shift 2
  if [ -f "$ck/$out" ]; then echo "$name: $ck/$out exists"; return; fi
  echo "$name: npx tsx bench/vqa/pretrain.ts $*"
  npx tsx bench/vqa/pretrain.ts "$@" --run-dir "$runs/$name" 2>&1 | tee -a "$logs/near-pretrain-$name.log"
}

# The ViT reads each cell from its patch tokens, on pretraining digits only (the first 60% of each class).
stage cells hf-near-cells.safetensors cells --flavor hf --data near --n 32000 --epochs 3 --shift 3
# The text encoder learns, text only, what each question asks, in both templates.
stage text hf-near-text.safetensors text --flavor hf --data near
# The joint model on every family, pretraining templates, the ViT frozen.
stage vl hf-near-vl.safetensors vl --flavor hf --data near --prefix regions --embed \
  --from hf-near-cells.safetensors,hf-near-text.safetensors --freeze-vision --n 48000 --epochs 6 --shift 3

if [ ! -f "$logs/near-check-vl.json" ]; then
  npx tsx bench/vqa/near-check.ts "$ck/hf-near-vl.safetensors" --json "$logs/near-check-vl.json" 2>&1 |
    tee "$logs/near-check-vl.log"
fi
