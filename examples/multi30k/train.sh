#!/bin/bash
# Multi30k en-de from scratch: transformer_small, joint 8k BPE trained on train.en+de, cased.
# Trains on train (8 epochs of 128 pairs a step), reports val BLEU every 2
# epochs, then scores every kept checkpoint on val and test_2016_flickr
# (greedy), then the mean of the last 5 checkpoints on both, and scores the
# best-on-val of all these on test with beam search.
#
#   bash examples/multi30k/train.sh [MULTI30K_DIR] [OUT_DIR]
#   # defaults: ../shared/data/multi30k_en_de runs/multi30k
set -euo pipefail
DATA=${1:-../shared/data/multi30k_en_de}
OUT=${2:-runs/multi30k}
HERE=$(dirname "$0")
mkdir -p "$OUT"

zoo-train --model=transformer_small --task=translation \
  --train_data="$DATA/train.en,$DATA/train.de" --eval_data="$DATA/val.en,$DATA/val.de" \
  --tokenizer=sentencepiece_bpe --vocab_size=8000 --nolowercase --seq_len=64 \
  --global_batch_size=128 --batching=bucket --train_steps=1800 --warmup_steps=200 \
  --learning_rate=2e-3 --task_config=label_smoothing=0.1 \
  --eval_every=450 --checkpoint_every=100 --keep_checkpoints=20 --steps_per_loop=25 \
  --model_dir="$OUT/tr_small"

python "$HERE/evaluate.py" "$OUT/tr_small" "$DATA"
