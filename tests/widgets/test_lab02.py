"""Lab 02 widgets: regularisation slider over SVM/softmax templates, k/metric controls over kNN regions."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from i2dl_lab.widgets import lab02


def test_templates_figure_has_one_image_per_class_and_model():
    fig, data = lab02.plot_templates(reg=1e-3, iters=20)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 20
    assert data["svm"]["W"].shape == data["softmax"]["W"].shape == (65, 10)


def test_stronger_regularisation_shrinks_both_weight_matrices():
    weak = lab02.train_linear_pair(1e-4, iters=100)
    strong = lab02.train_linear_pair(0.5, iters=100)
    for name in ("svm", "softmax"):
        assert strong[name]["weight_norm"] < 0.5 * weak[name]["weight_norm"], name


def test_moderate_regularisation_classifies_digits_well():
    data = lab02.train_linear_pair(1e-3)
    assert data["svm"]["val_acc"] > 0.9 and data["softmax"]["val_acc"] > 0.9


def test_negative_regularisation_is_rejected():
    with pytest.raises(ValueError, match="reg must be >= 0"):
        lab02.train_linear_pair(-1.0)


def test_one_nearest_neighbour_fits_the_training_set_exactly():
    _, data = lab02.plot_knn_regions(k=1)
    assert data["train_acc"] == 1.0


def test_larger_k_gives_fewer_islands_in_the_decision_regions():
    def boundary_cells(labels):
        return int(np.sum(labels[1:, :] != labels[:-1, :]) + np.sum(labels[:, 1:] != labels[:, :-1]))

    _, k1 = lab02.plot_knn_regions(k=1)
    _, k25 = lab02.plot_knn_regions(k=25)
    assert boundary_cells(k25["labels"]) < boundary_cells(k1["labels"])


def test_knn_grid_metric_changes_the_regions():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 2)), rng.integers(0, 3, 40)
    _, _, l1 = lab02.knn_grid(X, y, 1, "l1", resolution=60)
    _, _, l2 = lab02.knn_grid(X, y, 1, "l2", resolution=60)
    assert l1.shape == (60, 60) and np.any(l1 != l2)


def test_knn_controls_redraw_with_new_k_and_metric():
    box = lab02.knn_explorer()
    box.controls["metric"].value = "l1"
    box.controls["k"].value = 5
    fig, data = box.redraw()
    assert "k = 5, L1" in fig.axes[0].get_title()


def test_reg_slider_redraws_with_the_new_strength():
    box = lab02.reg_explorer(iters=20)
    assert box.controls["reg"].description == "reg"
    box.controls["reg"].value = 0.1
    fig, _ = box.redraw()
    assert "reg = 0.1" in fig._suptitle.get_text()
