#!/bin/bash
# SST-2 on a published checkpoint (sentence-transformers all-MiniLM-L6-v2, BERT
# L6/H384): full fine-tuning, LoRA r8 on attention, a linear probe on frozen
# mean-pooled features, the int8 export of the full fine-tune, and distillation
# into bert_nano against labels alone, all with seed 0 (distillation: seeds 0-2).
#
#   bash examples/pretrained/finetune.sh [SST2_DIR] [OUT_DIR] [STEP...]
#   # defaults: ../shared/data/sst2 runs/pretrained full lora probe int8 distill
set -euo pipefail
DATA=${1:-../shared/data/sst2}
OUT=${2:-runs/pretrained}
shift $(( $# < 2 ? $# : 2 ))
STEPS=${*:-full lora probe int8 distill}
CKPT=$(zoo-fetch --name=all-minilm-l6-v2 --dest=checkpoints | sed 's/^checkpoint: //')

COMMON=(--model=bert_mini --task=classification --init_checkpoint="$CKPT"
  --train_data="$DATA/train.tsv" --eval_data="$DATA/dev.tsv" --task_config=pooling=mean
  --seq_len=64 --global_batch_size=32 --batching=bucket --seed=0 --eval_every=500)
for step in $STEPS; do
  case $step in
    full)  zoo-train "${COMMON[@]}" --learning_rate=1e-4 --train_steps=2000 \
             --model_dir="$OUT/full" ;;
    lora)  zoo-train "${COMMON[@]}" --learning_rate=1e-3 --train_steps=2000 \
             --lora_rank=8 --lora_targets=attention --model_dir="$OUT/lora" ;;
    probe) zoo-train "${COMMON[@]}" --learning_rate=1e-3 --train_steps=1000 \
             --freeze=backbone --model_dir="$OUT/probe" ;;
    int8)  zoo-export --model_dir="$OUT/full" --export_dir="$OUT/full/export_int8" \
             --quantize=int8 --eval_data="$DATA/dev.tsv" ;;
    distill)
      STUDENT=(--model=bert_nano --train_data="$DATA/train.tsv" --eval_data="$DATA/dev.tsv"
        --vocab="$OUT/full/vocab.txt" --seq_len=64 --global_batch_size=32
        --learning_rate=1e-3 --train_steps=600 --noexport)
      for seed in 0 1 2; do
        zoo-train "${STUDENT[@]}" --seed=$seed --task=classification \
          --model_dir="$OUT/nano_labels_s$seed"
        zoo-train "${STUDENT[@]}" --seed=$seed --task=distill \
          --task_config=teacher="$OUT/full",temperature=2.0,alpha=0.5,teacher_logits="$OUT/full/logits.tfrecord" \
          --model_dir="$OUT/nano_distilled_s$seed"
      done ;;
    *) echo "unknown step '$step' (full lora probe int8 distill)" >&2; exit 2 ;;
  esac
done
