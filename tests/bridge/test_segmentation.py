"""The segmentation references against torch's built-ins and hand-counted examples."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F  # noqa: N812

from i2dl_lab.bridge import segmentation as seg


@pytest.mark.parametrize("k, s, p", [(2, 2, 0), (3, 2, 1), (3, 1, 0), (4, 2, 1), (5, 3, 2)])
def test_conv_transpose_matches_torch(k, s, p):
    g = torch.Generator().manual_seed(k * 10 + s)
    x = torch.randn(2, 3, 5, 4, generator=g, dtype=torch.float64)
    w = torch.randn(3, 2, k, k, generator=g, dtype=torch.float64)
    b = torch.randn(2, generator=g, dtype=torch.float64)
    ours = seg.conv_transpose2d(x, w, b, s, p)
    torch.testing.assert_close(ours, F.conv_transpose2d(x, w, b, s, p))
    assert ours.shape[-2:] == ((5 - 1) * s - 2 * p + k, (4 - 1) * s - 2 * p + k)


def test_conv_transpose_is_the_gradient_of_a_strided_convolution():
    x = torch.randn(1, 2, 7, 7, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64)
    y = F.conv2d(x, w, stride=2, padding=1)
    dy = torch.randn_like(y)
    (dx,) = torch.autograd.grad(y, x, dy)
    torch.testing.assert_close(seg.conv_transpose2d(dy, w, None, 2, 1), dx)


def test_conv_transpose_rejects_bad_shapes():
    with pytest.raises(ValueError, match="C_in"):
        seg.conv_transpose2d(torch.zeros(1, 2, 3, 3), torch.zeros(3, 1, 2, 2))
    with pytest.raises(ValueError, match="crops"):
        seg.conv_transpose2d(torch.zeros(1, 1, 1, 1), torch.zeros(1, 1, 2, 2), padding=1)


def test_max_unpool_matches_torch_and_rejects_mismatch():
    x = torch.randn(2, 3, 6, 8)
    v, i = F.max_pool2d(x, 2, return_indices=True)
    torch.testing.assert_close(seg.max_unpool2d(v, i, (6, 8)), F.max_unpool2d(v, i, 2, output_size=(6, 8)))
    with pytest.raises(ValueError, match="same shape"):
        seg.max_unpool2d(v, i[:, :1], (6, 8))


def test_pixel_cross_entropy_matches_torch_with_ignored_pixels_and_large_logits():
    g = torch.Generator().manual_seed(0)
    logits = 50 * torch.randn(2, 4, 3, 5, generator=g, dtype=torch.float64)
    target = torch.randint(0, 4, (2, 3, 5), generator=g)
    target[0, 0] = 255
    ours = seg.pixel_cross_entropy(logits, target, ignore_index=255)
    torch.testing.assert_close(ours, F.cross_entropy(logits, target, ignore_index=255))
    w = torch.tensor([0.2, 1.0, 3.0, 0.7], dtype=torch.float64)
    torch.testing.assert_close(seg.pixel_cross_entropy(logits, target, w, 255),
                               F.cross_entropy(logits, target, weight=w, ignore_index=255))
    with pytest.raises(ValueError, match="weight"):
        seg.pixel_cross_entropy(logits, target, w[:2], 255)
    with pytest.raises(ValueError, match="target"):
        seg.pixel_cross_entropy(logits, target[:, :2])


def test_confusion_matrix_and_scores_by_hand():
    target = np.array([[0, 0, 1, 1], [2, 2, 2, -1]])
    pred = np.array([[0, 1, 1, 1], [2, 2, 0, 1]])
    cm = seg.confusion_matrix(pred, target, 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 2, 0], [1, 0, 2]])
    acc, iou, miou = seg.segmentation_scores(cm)
    assert acc == pytest.approx(5 / 7)
    np.testing.assert_allclose(iou, [1 / 3, 2 / 3, 2 / 3])
    assert miou == pytest.approx(5 / 9)
    _, iou, miou = seg.segmentation_scores(np.array([[3, 1, 0], [1, 2, 0], [0, 0, 0]]))
    assert np.isnan(iou[2]) and miou == pytest.approx((3 / 5 + 2 / 4) / 2)
    with pytest.raises(ValueError, match="labels"):
        seg.confusion_matrix(np.array([3]), np.array([0]), 3)


def test_unet_keeps_the_size_and_the_skips_matter():
    torch.manual_seed(0)
    net, plain = seg.UNet(3, 5, width=4), seg.UNet(3, 5, width=4, skips=False)
    x = torch.randn(2, 3, 16, 12)
    assert net(x).shape == (2, 5, 16, 12) and plain(x).shape == (2, 5, 16, 12)
    assert sum(p.numel() for p in net.parameters()) > sum(p.numel() for p in plain.parameters())
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.randn(1, 3, 10, 12))
