"""Confusion matrix, precision and recall against scikit-learn."""

import numpy as np
import pytest
from sklearn import metrics as skm

from i2dl_lab.metrics import confusion_matrix, precision_recall


def test_confusion_matrix_matches_sklearn(rng):
    y_true, y_pred = rng.integers(0, 5, 200), rng.integers(0, 5, 200)
    cm = confusion_matrix(y_true, y_pred, 5)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(y_true, y_pred, labels=range(5)))
    assert cm.sum() == 200 and np.trace(cm) == np.sum(y_true == y_pred)


def test_precision_and_recall_match_sklearn_including_empty_classes(rng):
    y_true = rng.integers(0, 4, 100)              # class 4 never occurs
    y_pred = np.where(rng.random(100) < 0.7, y_true, rng.integers(0, 5, 100))
    y_pred[y_pred == 3] = 2                        # class 3 is never predicted
    precision, recall = precision_recall(confusion_matrix(y_true, y_pred, 5))
    kw = {"labels": range(5), "average": None, "zero_division": 0}
    np.testing.assert_allclose(precision, skm.precision_score(y_true, y_pred, **kw))
    np.testing.assert_allclose(recall, skm.recall_score(y_true, y_pred, **kw))
    assert precision[3] == 0.0 and recall[4] == 0.0


def test_bad_labels_are_named():
    with pytest.raises(ValueError, match=r"labels in \[0, 3\)"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="same shape"):
        confusion_matrix(np.array([0, 1]), np.array([0]), 3)
    with pytest.raises(ValueError, match="square"):
        precision_recall(np.ones((2, 3)))
