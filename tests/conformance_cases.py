"""The conformance cases of the built-in tasks and the example plugin of docs/plugins.md
(multilabel): training data, a bad-rows file with its bad line, and kit options.
The test_conformance_*.py files run them (split in three files so that pytest-xdist
spreads them over its workers).

Each case trains one nano model a few steps (the cases together cover every model
family, transformer_nano included). Each bad-rows file holds one bad row on a known
line: the kit must find that line itself and see zoo-train name it.

Example:
    >>> report = check_case("mlm", tmp_path, monkeypatch)
"""
import os
import random

from plugins.testing import check_task_plugin
from zoo.data.builtin import write_corpus

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MULTILABEL = os.path.join(ROOT, "plugins", "examples", "multilabel")
WORDS = ["the", "film", "was", "a", "story", "with", "actors", "music"]
#: A toy "German" for translation: one word each, same order.
GERMAN = {"red": "rot", "green": "gruen", "blue": "blau", "cat": "katze", "dog": "hund",
          "bird": "vogel", "runs": "laeuft", "sits": "sitzt", "big": "gross", "old": "alt"}


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def labelled(path, rows, label_of, seed=0):
    """Sentiment-like rows: the count of "great" against "dull" gives the label."""
    rng = random.Random(seed)
    lines = ["text\tlabel"]
    for _ in range(rows):
        strength = rng.randint(0, 2)
        words = rng.sample(WORDS, 4) + ["great"] * strength + ["dull"] * (2 - strength)
        rng.shuffle(words)
        lines.append(f"{' '.join(words)}\t{label_of(strength)}")
    return write_lines(path, lines)


def topical_documents(path, count, seed=0):
    """One document per line; all sentences of a document share its topic words,
    so a true next sentence can be told from a random one."""
    rng = random.Random(seed)
    topics = ["owl", "river", "train", "garden", "violin", "castle", "storm", "market"]
    verbs = ["is near", "looks at", "waits by", "sings to", "hides from", "walks past"]
    lines = []
    for _ in range(count):
        topic = rng.choice(topics)
        lines.append(" ".join(f"the {topic} {rng.choice(verbs)} the {topic} ."
                              for _ in range(rng.randint(2, 4))))
    return write_lines(path, lines)


def tagged(path, rows, seed=0):
    """Multi-label rows: a cue word per tag."""
    rng = random.Random(seed)
    lines = ["text\tlabel"]
    for _ in range(rows):
        tags = [t for t in ("sport", "music") if rng.random() < 0.5]
        words = rng.sample(["the", "news", "of", "today", "about", "a", "town"], 4)
        words += ["goal"] * ("sport" in tags) + ["song"] * ("music" in tags)
        rng.shuffle(words)
        lines.append(f"{' '.join(words)}\t{'|'.join(tags)}")
    return write_lines(path, lines)


def parallel(path, rows, seed=0):
    """Toy translation pairs: each word and its GERMAN, in the same order."""
    rng = random.Random(seed)
    pairs = (rng.sample(sorted(GERMAN), rng.randint(2, 5)) for _ in range(rows))
    return write_lines(path, ["source\ttarget"] + [
        f"{' '.join(words)}\t{' '.join(GERMAN[w] for w in words)}" for words in pairs])


def paired(path, rows, seed=0):
    """Pairs that belong together: two sentences about the same topic word."""
    rng = random.Random(seed)
    topics = ["owl", "river", "train", "garden", "violin", "castle", "storm", "market",
              "lamp", "ship", "bread", "clock"]
    lines = ["text\ttext_b"]
    for _ in range(rows):
        topic = rng.choice(topics)
        lines.append(f"the {topic} {rng.choice(WORDS)} {rng.choice(WORDS)}\t"
                     f"a {rng.choice(WORDS)} near the {topic}")
    return write_lines(path, lines)


def bad_file(path, content):
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


def corpus(tmp_path):
    return write_corpus(str(tmp_path / "corpus.txt"), 400, seed=1)


def docs(tmp_path):
    return topical_documents(tmp_path / "docs.txt", 400)


def sentiment(tmp_path):
    return labelled(tmp_path / "train.tsv", 300, lambda s: "pos" if s else "neg")


#: task -> (training data, bad-rows file name, its content, the bad line, kit options).
#: The bad rows vary the format and the fault (reader or task check); one nano model
#: per case, chosen so that the pooled-head tasks together cover every family.
CASES = {
    "mlm": (corpus, "bad.jsonl", '\n\n{"text": "unterminated\n', 3, {}),
    # NSP is not learnt by bert_nano on topical_documents within a cheap budget: it sits
    # at 0.5 on a plateau it leaves after 175 to 400+ steps of 32 pairs, by the seed
    # (and at 40 steps of 8, never). Its loss and accuracy are not checked here.
    "nsp": (docs, "bad.txt", b"\n\xff\xfe not utf-8\nthe owl .\n", 2,
            {"unlearned": ("loss", "nsp_accuracy")}),
    "mlm_nsp": (docs, "bad.jsonl", '\n{"body": "no text field"}\n', 2,
                {"unlearned": ("nsp_accuracy",)}),
    "classification": (sentiment, "bad.tsv", "text\tlabel\na film\tpos\na film\tmeh\n", 3,
                       {"models": ["bert_nano"]}),
    "regression": (lambda tmp: labelled(tmp / "train.tsv", 300, lambda s: s * 0.5),
                   "bad.tsv", "text\tlabel\na film\t1.0\n\na film\tnan-ish\n", 4,
                   {"models": ["gpt_nano"]}),
    "clm": (corpus, "bad.txt", b"\n\n\xc3\x28 broken\n", 3, {}),
    # A header without the field fails on line 1, but only once a row follows it: the
    # kit cannot find that line by itself.
    "span_corruption": (corpus, "bad.tsv", "title\tbody\na\tb\n", 1,
                        {"models": ["t5_nano"], "bad_line": 1}),
    "translation": (lambda tmp: parallel(tmp / "pairs.tsv", 300), "bad.tsv",
                    "source\ttarget\n\na red cat\n", 3, {"models": ["transformer_nano"]}),
    "distill": (sentiment, "bad.tsv", "text\tlabel\na great film\tpos\na film\tgood\n", 3,
                {"models": ["t5_nano"]}),
    "embedding": (lambda tmp: paired(tmp / "pairs.tsv", 300), "bad.tsv",
                  "text\ttext_b\nthe owl\ta owl\n \tthe river\n", 3, {"models": ["bert_nano"]}),
    "multilabel": (lambda tmp: tagged(tmp / "train.tsv", 300), "bad.tsv",
                   "text\tlabel\na goal\tsport\na goal\tsport|cooking\n", 3,
                   {"models": ["transformer_nano"], "plugins": ["zoo_multilabel"]}),
}


#: The cases each test_conformance_<group>.py runs.
GROUPS = {"encoders": ["mlm", "nsp", "mlm_nsp"],
          "generative": ["clm", "span_corruption", "translation"],
          "pooled": ["classification", "distill", "regression", "multilabel", "embedding"]}


def run_case(task, directory, task_config=""):
    """Runs the kit on a case in `directory`; returns (report, bad file, bad line)."""
    make_data, bad_name, bad_content, bad_line, options = CASES[task]
    train = make_data(directory)
    bad = bad_file(directory / bad_name, bad_content)
    report = check_task_plugin(task, train, str(directory / "runs"), bad_data=bad,
                               task_config=task_config, steps=40, **options)
    return report, bad, bad_line


def check_case(task, directory, monkeypatch, teacher=""):
    """Runs the kit on a case and checks its report: the declared signatures, and the
    refusal of the bad rows naming the bad line. Returns the report."""
    from plugins import TASKS
    if task == "multilabel":
        monkeypatch.syspath_prepend(MULTILABEL)
    report, bad, bad_line = run_case(task, directory, f"teacher={teacher}" if teacher else "")
    declared = sorted(TASKS.get(task).signature_names + ("tokenize",))
    assert report and all(entry["signatures"] == declared for entry in report.values())
    first = next(iter(report.values()))
    assert first["bad_rows"].startswith(f"{bad}:{bad_line}:"), first["bad_rows"]
    return report
