"""Every built-in task passes the conformance kit (plugins/testing.py)."""
import random

import pytest

from plugins.testing import ConformanceError, check_task_plugin
from zoo.data.builtin import write_corpus

WORDS = ["the", "film", "was", "a", "story", "with", "actors", "music"]


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


@pytest.mark.parametrize("task", ["mlm", "nsp", "mlm_nsp"])
def test_text_tasks_conform(task, tmp_path):
    corpus = (write_corpus(str(tmp_path / "corpus.txt"), 400, seed=1) if task == "mlm"
              else topical_documents(tmp_path / "docs.txt", 400))
    report = check_task_plugin(task, corpus, str(tmp_path), steps=40)
    assert "serving_default" in report["bert_nano"]["signatures"]


def test_classification_conforms_and_refuses_bad_labels(tmp_path):
    train = labelled(tmp_path / "train.tsv", 300, lambda s: "pos" if s else "neg")
    bad = tmp_path / "bad.tsv"
    bad.write_text("text\tlabel\na film\tpos\na film\tmeh\n")
    report = check_task_plugin("classification", train, str(tmp_path), bad_data=str(bad))
    assert report["bert_nano"]["signatures"] == ["serving_default", "tokenize"]


def test_regression_conforms_and_refuses_bad_targets(tmp_path):
    train = labelled(tmp_path / "train.tsv", 300, lambda s: s * 0.5)
    bad = tmp_path / "bad.tsv"
    bad.write_text("text\tlabel\na film\tnan-ish\n")
    # Heads on every family are checked by the classification case.
    check_task_plugin("regression", train, str(tmp_path), bad_data=str(bad),
                      models=["bert_nano"])


def test_kit_catches_a_task_that_does_not_learn(tmp_path):
    from plugins import TASKS
    from tasks.regression import Regression

    class Frozen(Regression):
        name = "frozen_test"

        def loss(self, labels, outputs, weights):
            total, weight = super().loss(labels, outputs, weights)
            return total * 0.0 + 1.0, weight  # constant: nothing can be learnt

    TASKS.register("frozen_test", Frozen, source="test")
    try:
        train = labelled(tmp_path / "train.tsv", 100, lambda s: s)
        with pytest.raises(ConformanceError, match="frozen_test on bert_nano: loss did not fall"):
            check_task_plugin("frozen_test", train, str(tmp_path), steps=8)
    finally:
        TASKS.unregister("frozen_test")
