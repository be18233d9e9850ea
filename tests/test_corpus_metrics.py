"""Host-side metrics against reference implementations (scikit-learn, scipy)."""
import numpy as np
import pytest
from scipy import stats
from sklearn import metrics

from zoo.evaluate.corpus_metrics import macro_f1, matthews_corrcoef, pearson, rankdata, spearman

rng = np.random.default_rng(0)
LABELS = rng.integers(0, 3, 200)
PREDICTIONS = np.where(rng.random(200) < 0.7, LABELS, rng.integers(0, 3, 200))
X = rng.normal(size=100)
Y = X * 0.5 + rng.normal(size=100)


def test_macro_f1_matches_sklearn():
    assert macro_f1(LABELS, PREDICTIONS, 3) == pytest.approx(
        metrics.f1_score(LABELS, PREDICTIONS, average="macro"))


def test_macro_f1_counts_an_unpredicted_class_as_zero():
    assert macro_f1([0, 0, 1], [0, 0, 0], 2) == pytest.approx(
        metrics.f1_score([0, 0, 1], [0, 0, 0], average="macro", zero_division=0))


@pytest.mark.parametrize("labels,predictions", [
    (LABELS, PREDICTIONS), (LABELS % 2, PREDICTIONS % 2), ([1, 1, 1], [1, 1, 1])])
def test_matthews_matches_sklearn(labels, predictions):
    assert matthews_corrcoef(labels, predictions) == pytest.approx(
        metrics.matthews_corrcoef(labels, predictions))


def test_pearson_and_spearman_match_scipy():
    assert pearson(X, Y) == pytest.approx(stats.pearsonr(X, Y)[0])
    ties = np.round(Y)
    assert spearman(X, ties) == pytest.approx(stats.spearmanr(X, ties)[0])
    np.testing.assert_allclose(rankdata([3, 1, 3, 2]), stats.rankdata([3, 1, 3, 2]))
