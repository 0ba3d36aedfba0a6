"""The GAN references: losses against torch's BCE, the step's update against a hand-written one."""

import copy

import numpy as np
import pytest
import torch
from torch.nn import functional as F  # noqa: N812

from i2dl_lab.bridge import gan


def test_losses_match_binary_cross_entropy():
    g = torch.Generator().manual_seed(0)
    r, f = 5 * torch.randn(7, generator=g, dtype=torch.float64), 5 * torch.randn(4, generator=g, dtype=torch.float64)
    bce = F.binary_cross_entropy_with_logits
    torch.testing.assert_close(gan.discriminator_loss(r, f), bce(r, torch.ones_like(r)) + bce(f, torch.zeros_like(f)))
    torch.testing.assert_close(gan.generator_loss_nonsaturating(f), bce(f, torch.ones_like(f)))
    torch.testing.assert_close(gan.generator_loss_minimax(f), -bce(f, torch.zeros_like(f)))
    big = torch.tensor([200.0, -200.0], dtype=torch.float64)
    assert torch.isfinite(gan.discriminator_loss(big, big)) and torch.isfinite(gan.generator_loss_minimax(big))


def test_gan_step_updates_d_on_detached_fakes_then_g_with_the_updated_d():
    torch.manual_seed(0)
    G, D = gan.Generator(3, 8, 2).double(), gan.Discriminator(2, 8).double()
    real, z = torch.randn(6, 2, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    opt_g, opt_d = torch.optim.SGD(G.parameters(), 0.1), torch.optim.SGD(D.parameters(), 0.1)
    d_loss, g_loss = gan.gan_step(G, D, opt_g, opt_d, real, z)
    # by hand: D's gradient with G fixed, then G's gradient through the new D
    fake = G2(z).detach()
    ld = gan.discriminator_loss(D2(real), D2(fake))
    for p, gr in zip(D2.parameters(), torch.autograd.grad(ld, list(D2.parameters()))):
        p.data -= 0.1 * gr
    lg = gan.generator_loss_nonsaturating(D2(G2(z)))
    for p, gr in zip(G2.parameters(), torch.autograd.grad(lg, list(G2.parameters()))):
        p.data -= 0.1 * gr
    assert d_loss == pytest.approx(ld.item()) and g_loss == pytest.approx(lg.item())
    for a, b in zip([*G.parameters(), *D.parameters()], [*G2.parameters(), *D2.parameters()]):
        torch.testing.assert_close(a, b)


def test_modes_and_score():
    ring = gan.make_ring(2000, seed=1)
    assert gan.modes_covered(ring)[0] == 8
    assert gan.modes_covered(ring[np.linalg.norm(ring - [0.8, 0], axis=1) < 0.2])[0] == 1
    assert gan.classifier_score(np.eye(10)) == pytest.approx(10.0)
    assert gan.classifier_score(np.tile(np.eye(10)[3], (5, 1))) == pytest.approx(1.0)
    assert gan.classifier_score(np.full((4, 10), 0.1)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="probs"):
        gan.classifier_score(np.ones(3))
