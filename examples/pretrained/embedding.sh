#!/bin/bash
# Sentence embeddings on the published checkpoint: retrieval of a review's second
# half from its first half (imdb_pairs.py), before and after training with in-batch
# negatives. "before" is one step at learning rate 1e-9: the checkpoint as it is.
#
#   bash examples/pretrained/embedding.sh [IMDB_UNSUP] [OUT_DIR]
#   # defaults: ../shared/data/imdb_unsup/unsup.txt runs/pretrained
set -euo pipefail
UNSUP=${1:-../shared/data/imdb_unsup/unsup.txt}
OUT=${2:-runs/pretrained}
CKPT=$(zoo-fetch --name=all-minilm-l6-v2 --dest=checkpoints | sed 's/^checkpoint: //')
python examples/pretrained/imdb_pairs.py "$UNSUP" "$OUT/imdb_pairs"

COMMON=(--model=bert_mini --task=embedding --init_checkpoint="$CKPT"
  --train_data="$OUT/imdb_pairs/train.jsonl" --eval_data="$OUT/imdb_pairs/eval.jsonl"
  --seq_len=128 --global_batch_size=32 --seed=0)
zoo-train "${COMMON[@]}" --train_steps=1 --learning_rate=1e-9 --noexport \
  --model_dir="$OUT/embedding_untrained"
zoo-train "${COMMON[@]}" --train_steps=100 --learning_rate=2e-5 --model_dir="$OUT/embedding"
for run in embedding_untrained embedding; do
  echo "$run: $(tail -n 1 "$OUT/$run/eval_log.jsonl")"
done
