#!/bin/bash
# Pretraining on 50,000 unlabeled IMDB reviews, then SST-2 fine-tuning and a
# linear probe: bert_mini pretrained with packed MLM and with ELECTRA (same
# vocab, steps, batch, schedule and seed; run side by side, so at equal wall
# time and load), against random initialisation with the same fine-tuning
# budget and seed.
#
#   bash examples/sst2/pretrain_imdb.sh [DATA_DIR] [OUT_DIR] [PRETRAIN_STEPS] [MODEL] \
#       [OBJECTIVES] [WARMUP]
#   # defaults: ../shared/data runs/imdb 450 bert_mini "electra mlm" 50
# Figures and what they show: README.md in this folder.
set -euo pipefail
DATA=${1:-../shared/data}
OUT=${2:-runs/imdb}
STEPS=${3:-450}
MODEL=${4:-bert_mini}
OBJECTIVES=${5:-electra mlm}
WARMUP=${6:-50}
mkdir -p "$OUT"

[ -f "$OUT/vocab.txt" ] || zoo-vocab --train_data="$DATA/imdb_unsup/unsup.txt" \
  --vocab_size=16000 --output="$OUT/vocab.txt"

pretrain() {  # TASK
  zoo-train --model="$MODEL" --task="$1" --train_data="$DATA/imdb_unsup/unsup.txt" \
    --vocab="$OUT/vocab.txt" --seq_len=128 --global_batch_size=64 --train_steps="$STEPS" \
    --learning_rate=1e-3 --warmup_steps="$WARMUP" --checkpoint_every=100 --seed=0 --noexport \
    --model_dir="$OUT/$1" > "$OUT/$1.log" 2>&1
}
for objective in $OBJECTIVES; do pretrain "$objective" & done; wait

finetune() {  # NAME STEPS [flags]
  local name=$1 steps=$2; shift 2
  zoo-train --model="$MODEL" --task=classification --train_data="$DATA/sst2/train.tsv" \
    --eval_data="$DATA/sst2/dev.tsv" --seq_len=64 --global_batch_size=32 --train_steps="$steps" \
    --learning_rate=2e-4 --batching=bucket --seed=0 --noexport --model_dir="$OUT/$name" "$@" \
    > "$OUT/$name.log" 2>&1
}
for init in $OBJECTIVES; do
  finetune "ft_$init" 1000 --init_checkpoint="$OUT/$init" &
done
finetune ft_scratch 1000 --vocab="$OUT/vocab.txt" & wait
for init in $OBJECTIVES; do
  finetune "probe_$init" 300 --init_checkpoint="$OUT/$init" --freeze=backbone \
    --task_config=pooling=mean --learning_rate=1e-3 &
done
finetune probe_scratch 300 --vocab="$OUT/vocab.txt" --freeze=backbone \
  --task_config=pooling=mean --learning_rate=1e-3 & wait

for run in ft_scratch probe_scratch $(for o in $OBJECTIVES; do echo "ft_$o probe_$o"; done); do
  echo "$run: $(tail -n 1 "$OUT/$run/eval_log.jsonl")"
done
