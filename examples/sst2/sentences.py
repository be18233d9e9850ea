"""Recovers the full sentences of a phrase treebank (SST-2) for pretraining.

SST-2's training file labels 67k phrases, most of them pieces of the 6.9k
review sentences. For masked-LM pretraining the pieces add no new text and
cut each word's context short, so this keeps only the rows that are not part
of a longer row: the sentences (and any phrase whose sentence is missing).

Example:
    python examples/sst2/sentences.py ../shared/data/sst2/train.tsv sentences.txt
    # 67349 rows -> 6884 sentences (133439 words) -> sentences.txt
"""
import sys


def full_sentences(texts):
    """The distinct texts that are not a substring of another text, longest first (ties in string order).

    >>> full_sentences(["a b c", "b c", "d", "a b c"])
    ['a b c', 'd']
    """
    kept, seen = [], ""
    for text in sorted({t.strip() for t in texts if t.strip()}, key=lambda t: (-len(t), t)):
        if text not in seen:
            kept.append(text)
            seen += "\n" + text
    return kept


def read_tsv_texts(path, column="sentence"):
    """The `column` field of every row of a TSV file with a header line."""
    with open(path, encoding="utf-8") as f:
        index = f.readline().rstrip("\n").split("\t").index(column)
        return [line.rstrip("\n").split("\t")[index] for line in f if line.strip()]


def main(argv):
    if len(argv) != 3:
        sys.exit(f"usage: {argv[0]} TRAIN_TSV OUTPUT_TXT")
    texts = read_tsv_texts(argv[1])
    sentences = full_sentences(texts)
    with open(argv[2], "w", encoding="utf-8") as f:
        f.writelines(s + "\n" for s in sentences)
    words = sum(len(s.split()) for s in sentences)
    print(f"{len(texts)} rows -> {len(sentences)} sentences ({words} words) -> {argv[2]}")


if __name__ == "__main__":
    main(sys.argv)
