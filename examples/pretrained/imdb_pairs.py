"""Pairs for the embedding task from IMDB's unlabeled reviews: the first and the
second half (in words) of one review belong together; every other review's half
in the batch is a negative.

Reviews of 40-400 words are kept, in file order; the first `--train` go to
train.jsonl, the next `--eval` to eval.jsonl (disjoint reviews). Each half is cut
to its first 100 words, so that a pair fits `--seq_len=128` in most rows.

    python examples/pretrained/imdb_pairs.py ../shared/data/imdb_unsup/unsup.txt runs/imdb_pairs
"""
import argparse
import json
import os


def halves(review, words_per_half=100):
    words = review.split()
    middle = len(words) // 2
    return " ".join(words[:middle][:words_per_half]), " ".join(words[middle:][:words_per_half])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("unsup")
    parser.add_argument("out")
    parser.add_argument("--train", type=int, default=20000)
    parser.add_argument("--eval", type=int, default=1000)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    pairs = []
    with open(args.unsup, encoding="utf-8") as handle:
        for line in handle:
            if 40 <= len(line.split()) <= 400:
                pairs.append(halves(line))
            if len(pairs) == args.train + args.eval:
                break
    for name, rows in (("train", pairs[:args.train]), ("eval", pairs[args.train:])):
        with open(os.path.join(args.out, f"{name}.jsonl"), "w", encoding="utf-8") as out:
            for text, text_b in rows:
                out.write(json.dumps({"text": text, "text_b": text_b}) + "\n")
        print(f"{name}: {len(rows)} pairs")


if __name__ == "__main__":
    main()
