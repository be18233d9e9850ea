"""Accuracy of an exported classifier on a labelled TSV, through the SavedModel's
`serving_default` on raw text (what TF Serving would answer), in batches.

    python examples/pretrained/score_export.py runs/pretrained/full/export/1 sst2/dev.tsv
"""
import argparse
import csv

import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer ops the SavedModel uses)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export")
    parser.add_argument("tsv")
    parser.add_argument("--text_column", default="sentence")
    parser.add_argument("--label_column", default="label")
    parser.add_argument("--batch_size", type=int, default=64)
    args = parser.parse_args()
    with open(args.tsv, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    serve = tf.saved_model.load(args.export).signatures["serving_default"]
    correct = 0
    for start in range(0, len(rows), args.batch_size):
        batch = rows[start:start + args.batch_size]
        labels = serve(text=tf.constant([r[args.text_column] for r in batch]))["label"].numpy()
        correct += sum(label.decode() == row[args.label_column].strip()
                       for label, row in zip(labels, batch))
    print(f"{args.export}: accuracy {correct / len(rows):.4f} ({correct}/{len(rows)}) "
          "through serving_default on raw text")


if __name__ == "__main__":
    main()
