#!/bin/bash
# SST-2: bert_mini MLM pretraining on the training sentences, then
# classification fine-tuning from that checkpoint and, for comparison, from
# random initialisation (same vocab, steps and seed).
#
#   bash examples/sst2/pretrain_finetune.sh [SST2_DIR] [OUT_DIR] [SEED]
#   # defaults: ../shared/data/sst2 runs/sst2 0
set -euo pipefail
DATA=${1:-../shared/data/sst2}
OUT=${2:-runs/sst2}
SEED=${3:-0}
HERE=$(dirname "$0")
mkdir -p "$OUT"

python "$HERE/sentences.py" "$DATA/train.tsv" "$OUT/sentences.txt"
zoo-vocab --train_data="$DATA/train.tsv" --vocab_size=8000 --output="$OUT/vocab.txt"

zoo-train --model=bert_mini --task=mlm --train_data="$OUT/sentences.txt" \
  --vocab="$OUT/vocab.txt" --seq_len=64 --global_batch_size=64 --train_steps=1500 \
  --learning_rate=1e-3 --batching=bucket --task_config=packing=false --seed="$SEED" --noexport \
  --model_dir="$OUT/pretrain"

FINETUNE=(--model=bert_mini --task=classification --train_data="$DATA/train.tsv"
  --eval_data="$DATA/dev.tsv" --seq_len=64 --global_batch_size=32 --train_steps=2000
  --learning_rate=2e-4 --batching=bucket --seed="$SEED" --noexport)
zoo-train "${FINETUNE[@]}" --init_checkpoint="$OUT/pretrain" --model_dir="$OUT/finetuned"
zoo-train "${FINETUNE[@]}" --vocab="$OUT/vocab.txt" --model_dir="$OUT/scratch"

for run in finetuned scratch; do
  echo "$run: $(tail -n 1 "$OUT/$run/eval_log.jsonl")"
done
