"""Every built-in task, and the README's example plugin (multilabel), passes the
conformance kit (plugins/testing.py); the kit catches tasks that break the contract.

Each case trains one nano model a few steps (the cases together cover every model
family, transformer_nano included). Each bad-rows file holds one bad row on a known
line: the kit must find that line itself and see zoo-train name it.
"""
import os
import random
import re

import pytest

from plugins.testing import ConformanceError, check_task_plugin
from zoo.data.builtin import write_corpus

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MULTILABEL = os.path.join(ROOT, "plugins", "examples", "multilabel")
WORDS = ["the", "film", "was", "a", "story", "with", "actors", "music"]
#: A toy "German" for translation: one word each, same order.
GERMAN = {"red": "rot", "green": "gruen", "blue": "blau", "cat": "katze", "dog": "hund",
          "bird": "vogel", "runs": "laeuft", "sits": "sitzt", "big": "gross", "old": "alt"}


def labelled(path, rows, label_of, seed=0):
    rng = random.Random(seed)
    lines = ["text\tlabel"]
    for _ in range(rows):
        strength = rng.randint(0, 2)
        words = rng.sample(WORDS, 4) + ["great"] * strength + ["dull"] * (2 - strength)
        rng.shuffle(words)
        lines.append(f"{' '.join(words)}\t{label_of(strength)}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


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
    path.write_text("\n".join(lines) + "\n")
    return str(path)


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
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def parallel(path, rows, seed=0):
    rng = random.Random(seed)
    lines = ["source\ttarget"]
    for _ in range(rows):
        words = rng.sample(sorted(GERMAN), rng.randint(2, 5))
        lines.append(f"{' '.join(words)}\t{' '.join(GERMAN[w] for w in words)}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


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
    "nsp": (docs, "bad.txt", b"\n\xff\xfe not utf-8\nthe owl .\n", 2, {}),
    "mlm_nsp": (docs, "bad.jsonl", '\n{"body": "no text field"}\n', 2, {}),
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
    "multilabel": (lambda tmp: tagged(tmp / "train.tsv", 300), "bad.tsv",
                   "text\tlabel\na goal\tsport\na goal\tsport|cooking\n", 3,
                   {"models": ["transformer_nano"], "plugins": ["zoo_multilabel"]}),
}


def run_case(task, directory, task_config=""):
    """Runs the kit on a case in `directory`; returns (report, bad file, bad line)."""
    make_data, bad_name, bad_content, bad_line, options = CASES[task]
    train = make_data(directory)
    bad = bad_file(directory / bad_name, bad_content)
    report = check_task_plugin(task, train, str(directory / "runs"), bad_data=bad,
                               task_config=task_config, steps=40, **options)
    return report, bad, bad_line


@pytest.fixture(scope="module")
def classification(tmp_path_factory):
    """The classification case; its bert_nano run is the distill case's teacher."""
    directory = tmp_path_factory.mktemp("classification")
    return run_case("classification", directory), str(directory / "runs" /
                                                      "classification-bert_nano")


@pytest.mark.parametrize("task", sorted(CASES))
def test_task_conforms(task, tmp_path, monkeypatch, request):
    if task == "classification":
        (report, bad, bad_line), _ = request.getfixturevalue("classification")
    else:
        if task == "multilabel":
            monkeypatch.syspath_prepend(MULTILABEL)
        teacher = request.getfixturevalue("classification")[1] if task == "distill" else ""
        report, bad, bad_line = run_case(task, tmp_path, f"teacher={teacher}" if teacher else "")
    from plugins import TASKS
    declared = sorted(TASKS.get(task).signature_names + ("tokenize",))
    assert report and all(entry["signatures"] == declared for entry in report.values())
    first = next(iter(report.values()))
    assert first["bad_rows"].startswith(f"{bad}:{bad_line}:"), first["bad_rows"]


# -- the kit catches broken tasks ------------------------------------------------
@pytest.fixture
def broken_task():
    """`register(cls)` registers a task class under `cls.name` for one test; returns the name."""
    from plugins import TASKS
    names = []

    def register(cls):
        TASKS.register(cls.name, cls, source="test")
        names.append(cls.name)
        return cls.name
    yield register
    for name in names:
        TASKS.unregister(name)


def test_kit_catches_a_task_that_does_not_learn(tmp_path, broken_task):
    from tasks.regression import Regression

    class Frozen(Regression):
        name = "frozen_test"

        def loss(self, labels, outputs, weights):
            total, weight = super().loss(labels, outputs, weights)
            return total * 0.0 + 1.0, weight  # constant: nothing can be learnt

    task = broken_task(Frozen)
    train = labelled(tmp_path / "train.tsv", 100, lambda s: s)
    with pytest.raises(ConformanceError, match="frozen_test on bert_nano: loss did not fall"):
        check_task_plugin(task, train, str(tmp_path), steps=8, models=["bert_nano"])


def test_kit_catches_a_wrong_line_number_and_trace_time_randomness(tmp_path, broken_task):
    """Two broken tasks: check_row naming the line before the bad one, and preprocess
    drawing numpy random numbers (fixed when traced: tf.data and traced differ)."""
    import numpy as np
    from tasks.classification import Classification

    class OffByOne(Classification):
        name = "off_by_one_test"

        @classmethod
        def check_row(cls, config, path, line, row):
            super().check_row(config, path, line - 1, row)

    class TraceTimeRandom(Classification):
        name = "trace_time_random_test"

        def preprocess(self, examples, seed=None):
            features, labels, weights = super().preprocess(examples, seed)
            return features, labels, weights * float(np.random.default_rng().uniform(0.5, 1))

    train = sentiment(tmp_path)
    bad = bad_file(tmp_path / "bad.tsv", "text\tlabel\na film\tpos\na film\tmeh\n")
    with pytest.raises(ConformanceError, match=re.escape(f"without naming '{bad}:3:'")):
        check_task_plugin(broken_task(OffByOne), train, str(tmp_path / "a"), bad_data=bad,
                          models=["bert_nano"])
    with pytest.raises(ConformanceError, match="preprocess weights: other values in tf.data"):
        check_task_plugin(broken_task(TraceTimeRandom), train, str(tmp_path / "b"),
                          models=["bert_nano"])
