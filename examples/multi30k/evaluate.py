"""BLEU per evaluation of a Multi30k translation run, on val and test.

For every evaluation the run made during training (val BLEU, greedy, from its
eval_log.jsonl) the checkpoint of that step is scored on test_2016_flickr
(greedy); then the mean of the last `--average` checkpoints is scored on val
and test (greedy), and whichever of all these has the best val BLEU is scored
on test with `--decoding` (beam search by default). sacrebleu corpus BLEU, 13a
tokenization, cased, on detokenized output. Prints a table with the epoch
and the wall time since the start of training; the test results are also
appended to the run's eval_log.jsonl.

    python examples/multi30k/evaluate.py runs/multi30k/tr_small ../shared/data/multi30k_en_de
"""
import argparse
import json
import os
import time

import zoo  # noqa: F401  (sets the Keras backend)
import tensorflow as tf

from plugins.discovery import load_plugins
from zoo.data.formats.readers import aligned_sources
from zoo.evaluate.evaluation import evaluate_model_dir
from zoo.run_config import load_run_config

TRAIN_PAIRS = 29000


def read_log(path):
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("data_dir")
    parser.add_argument("--decoding", default="sampler=beam,num_beams=4,length_penalty=0.6")
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--average", type=int, default=5,
                        help="Also score the mean of the last N checkpoints (0 or 1: not).")
    args = parser.parse_args()
    load_plugins()
    config = load_run_config(args.model_dir)
    val, test = (aligned_sources([os.path.join(args.data_dir, f"{name}.{lang}")
                                  for lang in ("en", "de")], config.data_fields)
                 for name in ("val", "test_2016_flickr"))
    batch = config.training["global_batch_size"]
    first = read_log(os.path.join(args.model_dir, "train_log.jsonl"))[0]
    start = first["time"] - first["step"] / first["steps_per_sec"]  # the first loop's start
    evals = [r for r in read_log(os.path.join(args.model_dir, "eval_log.jsonl"))
             if "eval_data" not in r and "bleu" in r]
    strategy = tf.distribute.get_strategy()
    print("| step | epoch | wall (min) | val BLEU | test BLEU |\n|---|---|---|---|---|")
    best = None
    for record in evals:
        checkpoint = os.path.join(args.model_dir, f"ckpt-{record['step']}")
        if not tf.io.gfile.exists(checkpoint + ".index"):
            continue
        score = evaluate_model_dir(args.model_dir, test, strategy, args.batch_size,
                                   checkpoint=checkpoint)["bleu"]
        print(f"| {record['step']} | {record['step'] * batch / TRAIN_PAIRS:.1f} | "
              f"{(record['time'] - start) / 60:.0f} | {record['bleu']:.2f} | {score:.2f} |",
              flush=True)
        if best is None or record["bleu"] > best[1]:
            best = (checkpoint, record["bleu"], 0)
    if args.average > 1:
        scores = [evaluate_model_dir(args.model_dir, split, strategy, args.batch_size,
                                     average_checkpoints=args.average)["bleu"]
                  for split in (val, test)]
        print(f"| mean of the last {args.average} checkpoints | | | {scores[0]:.2f} | "
              f"{scores[1]:.2f} |", flush=True)
        if best is None or scores[0] > best[1]:
            best = (None, scores[0], args.average)
    started = time.time()
    result = evaluate_model_dir(args.model_dir, test, strategy, args.batch_size,
                                checkpoint=best[0], decoding=args.decoding,
                                average_checkpoints=best[2])
    chosen = best[0] or f"the mean of the last {best[2]} checkpoints"
    print(f"best on val: {chosen}; test_2016_flickr BLEU {result['bleu']:.2f} with "
          f"{args.decoding} ({time.time() - started:.0f}s)")


if __name__ == "__main__":
    main()
