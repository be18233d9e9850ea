"""Chooses a Multi30k recipe on val, then scores only the choice on test.

Each candidate is a run's last checkpoint, or the mean of its last N
checkpoints (`--average=1,5,10`: N=1 is the checkpoint itself). Every
candidate is scored on val (greedy, or `--decoding`; sacrebleu corpus BLEU,
13a, cased); the best one, and no other, is then scored on test_2016_flickr, so
the test figure is not chosen on test. Prints a markdown table and the val-test
gap.

    python examples/multi30k/choose_on_val.py ../shared/data/multi30k_en_de \
        runs/mt_sweep/d01 runs/mt_sweep/d03 --average=1,5,10
    python examples/multi30k/choose_on_val.py ../shared/data/multi30k_en_de \
        runs/mt_sweep/lr2 --average=1,5 --decoding=sampler=beam,num_beams=4,length_penalty=0.6
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


def split(data_dir, name, fields):
    return aligned_sources([os.path.join(data_dir, f"{name}.{lang}") for lang in ("en", "de")],
                           fields)


def label(model_dir):
    config = load_run_config(model_dir)
    smoothing = config.task_config.get("label_smoothing", 0)
    return (f"{os.path.basename(os.path.normpath(model_dir))} (dropout "
            f"{config.model_config['dropout']}, label smoothing {smoothing}, learning rate "
            f"{config.training['learning_rate']:g})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("model_dirs", nargs="+")
    parser.add_argument("--average", default="1,5,10",
                        help="Candidates per run: the mean of its last N checkpoints.")
    parser.add_argument("--decoding", default="",
                        help="Decoding options, e.g. sampler=beam,num_beams=4 (default: greedy).")
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--output", default="", help="Also write the results as JSON here.")
    args = parser.parse_args()
    load_plugins()
    strategy = tf.distribute.get_strategy()
    fields = load_run_config(args.model_dirs[0]).data_fields
    val, test = split(args.data_dir, "val", fields), split(args.data_dir, "test_2016_flickr", fields)
    rows = []
    decoding = args.decoding or "greedy"
    print(f"| run | checkpoints averaged | val BLEU ({decoding}) | scoring time (s) |\n"
          "|---|---|---|---|")
    for model_dir in args.model_dirs:
        for count in (int(n) for n in args.average.split(",")):
            started = time.time()
            bleu = evaluate_model_dir(model_dir, val, strategy, args.batch_size,
                                      decoding=args.decoding, average_checkpoints=count)["bleu"]
            rows.append({"model_dir": model_dir, "average": count, "val_bleu": bleu})
            print(f"| {label(model_dir)} | {count} | {bleu:.2f} | {time.time() - started:.0f} |",
                  flush=True)
    best = max(rows, key=lambda row: row["val_bleu"])
    best["test_bleu"] = evaluate_model_dir(best["model_dir"], test, strategy, args.batch_size,
                                           decoding=args.decoding,
                                           average_checkpoints=best["average"])["bleu"]
    print(f"chosen on val: {label(best['model_dir'])}, mean of the last {best['average']} "
          f"checkpoint(s): val {best['val_bleu']:.2f}, test_2016_flickr {best['test_bleu']:.2f} "
          f"(test - val {best['test_bleu'] - best['val_bleu']:+.2f})")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            json.dump({"candidates": rows, "chosen": best}, handle, indent=1)


if __name__ == "__main__":
    main()
