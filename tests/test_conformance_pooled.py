"""The conformance kit on the pooled-head tasks (classification, regression, distill,
the example plugin multilabel), and the kit catching tasks that break the contract.
Cases: tests/conformance_cases.py."""
import os
import re

import pytest
import tensorflow as tf

from conformance_cases import CASES, GROUPS, bad_file, check_case, labelled, sentiment
from plugins.testing import ConformanceError, check_task_plugin


@pytest.fixture(scope="module")
def classification_run(tmp_path_factory):
    """The classification case's directory; its bert_nano run is the distill case's teacher."""
    directory = tmp_path_factory.mktemp("classification")
    check_case("classification", directory, pytest.MonkeyPatch())
    return str(directory / "runs" / "classification-bert_nano")


def test_classification_conforms(classification_run):
    """(check_case ran the kit and checked its report in the fixture.)"""
    exported = os.listdir(os.path.join(classification_run, "export"))
    assert exported == ["1"]


@pytest.mark.parametrize("task", [t for t in GROUPS["pooled"]
                                  if t not in ("classification", "distill")])
def test_task_conforms(task, tmp_path, monkeypatch):
    check_case(task, tmp_path, monkeypatch)


def test_distill_conforms_with_the_classification_run_as_teacher(classification_run, tmp_path,
                                                                  monkeypatch):
    check_case("distill", tmp_path, monkeypatch, teacher=classification_run)


def test_every_case_is_in_one_group():
    cases = [task for group in GROUPS.values() for task in group]
    assert sorted(cases) == sorted(CASES)


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


def test_kit_catches_a_model_at_chance(tmp_path, broken_task):
    """Labels drawn at random, one in five positive, whatever the text: the model can
    only learn the 80/20 prior, so its accuracy stays at chance (the majority's share)
    and the above-chance check refuses it."""
    from plugins.learning_checks import check_above_chance
    from tasks.classification import Classification
    from zoo.assembly import assemble
    from zoo.run_config import load_run_config
    from zoo.train.job import default_options, train_from_flags

    class LabelBlind(Classification):
        name = "label_blind_test"

        def preprocess(self, examples, seed=None):
            features, labels, weights = super().preprocess(examples, seed)
            seed = tf.constant([0, 0], tf.int64) if seed is None else seed
            noise = tf.random.stateless_uniform(tf.shape(labels), seed)
            return features, tf.cast(noise < 0.2, labels.dtype), weights

    model_dir = str(tmp_path / "run")
    train_from_flags(default_options(
        model="bert_nano", task=broken_task(LabelBlind), train_data=sentiment(tmp_path),
        model_dir=model_dir, train_steps=40, steps_per_loop=10, seq_len=32,
        global_batch_size=8, learning_rate=2e-3, vocab_size=400, export=False))
    config = load_run_config(model_dir)
    with pytest.raises(ConformanceError, match=r"blind: accuracy \S+ on \d+ training rows is "
                                               "not above chance"):
        check_above_chance(assemble(config, model_dir), config, model_dir, "blind")
