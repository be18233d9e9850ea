"""Metrics over a whole eval set, computed on the host with numpy.

F1, Matthews correlation and Pearson/Spearman are kept here beside scikit-learn
and scipy: each is a few lines of numpy, while those two libraries (about 200 MB
installed, and their import time in every evaluation) would become runtime
dependencies of the zoo for them. They stay test extras: tests/test_corpus_metrics.py
checks each of these against `sklearn.metrics` and `scipy.stats`.

Example:
    >>> macro_f1([0, 1, 1], [0, 1, 0], num_classes=2)
    0.6666666666666666
    >>> spearman([1, 2, 3], [10, 30, 20])
    0.5
"""
import math

import numpy as np


def confusion(labels, predictions, num_classes):
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predictions)), 1)
    return matrix


def macro_f1(labels, predictions, num_classes):
    """Unweighted mean of per-class F1 (a class never seen nor predicted counts 0)."""
    matrix = confusion(labels, predictions, num_classes)
    true_pos = np.diag(matrix).astype(float)
    denominator = matrix.sum(0) + matrix.sum(1)
    f1 = np.divide(2 * true_pos, denominator, out=np.zeros_like(true_pos),
                   where=denominator > 0)
    return float(f1.mean())


def matthews_corrcoef(labels, predictions):
    """Multi-class Matthews correlation (Gorodkin's R_K); 0 when undefined."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    classes = int(max(labels.max(initial=0), predictions.max(initial=0))) + 1
    matrix = confusion(labels, predictions, classes).astype(float)
    total, correct = matrix.sum(), np.trace(matrix)
    true_counts, predicted_counts = matrix.sum(1), matrix.sum(0)
    numerator = correct * total - predicted_counts @ true_counts
    denominator = np.sqrt((total ** 2 - predicted_counts @ predicted_counts) *
                          (total ** 2 - true_counts @ true_counts))
    return float(numerator / denominator) if denominator else 0.0


def pearson(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    x, y = x - x.mean(), y - y.mean()
    denominator = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denominator) if denominator else 0.0


def rankdata(values):
    """Ranks from 1, ties get the mean of their ranks (as scipy.stats.rankdata)."""
    values = np.asarray(values, float)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), float)
    ranks[order] = np.arange(1, len(values) + 1)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def spearman(x, y):
    return pearson(rankdata(x), rankdata(y))


def corpus_bleu(hypotheses, references):
    """Corpus BLEU (0-100) with sacrebleu's definition: 13a tokenization,
    exponential smoothing, one reference per hypothesis."""
    import sacrebleu
    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)],
                                       tokenize="13a").score)


def perplexity(gathered):
    """exp(total NLL / total tokens) over the eval set."""
    tokens = float(gathered["tokens"].sum())
    return math.exp(min(float(gathered["nll"].sum()) / max(tokens, 1.0), 700.0))


def bits_per_byte(gathered):
    """Total NLL in bits over the UTF-8 bytes of the predicted text: comparable
    across tokenizers, unlike per-token perplexity."""
    return float(gathered["nll"].sum()) / math.log(2.0) / max(float(gathered["bytes"].sum()), 1.0)
