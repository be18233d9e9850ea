#!/bin/bash
# SST-2: bert_nano trained on labels alone vs distilled from a trained
# bert_mini classifier of pretrain_finetune.sh (TEACHER: its `finetuned` run
# by default, or e.g. TEACHER=runs/sst2/scratch), at equal steps, over seeds.
#
#   [TEACHER=DIR] bash examples/sst2/distill.sh [SST2_DIR] [OUT_DIR] [SEED...]
#   # defaults: ../shared/data/sst2 runs/sst2 0 1 2 3 4
set -euo pipefail
DATA=${1:-../shared/data/sst2}
OUT=${2:-runs/sst2}
shift $(( $# < 2 ? $# : 2 ))
SEEDS=${*:-0 1 2 3 4}
TEACHER=${TEACHER:-$OUT/finetuned}

STUDENT=(--model=bert_nano --train_data="$DATA/train.tsv" --eval_data="$DATA/dev.tsv"
  --vocab="$OUT/vocab.txt" --seq_len=64 --global_batch_size=32 --learning_rate=1e-3
  --train_steps=600 --noexport)
for seed in $SEEDS; do
  zoo-train "${STUDENT[@]}" --seed="$seed" --task=classification \
    --model_dir="$OUT/nano_labels_s$seed"
  zoo-train "${STUDENT[@]}" --seed="$seed" --task=distill \
    --task_config=teacher="$TEACHER",temperature=2.0,alpha=0.5,teacher_logits="$TEACHER/logits.tfrecord" \
    --model_dir="$OUT/nano_distilled_s$seed"
done
for seed in $SEEDS; do
  for run in labels distilled; do
    echo "seed $seed $run: $(tail -n 1 "$OUT/nano_${run}_s$seed/eval_log.jsonl")"
  done
done
