"""Graded exercises of lab 13 (generative adversarial networks).

References are :mod:`i2dl_lab.bridge.gan`. Losses are checked on their value and on their
gradient with respect to the logits; the players load the reference's weights by name; the
training step runs on small players built here (plain ``nn.Sequential``) with plain SGD, and
its result is the players' weights after the step.
"""

from __future__ import annotations

import numpy as np

from ...bridge import gan
from ..spec import Exercise, allclose, plain


def _t(a, dtype=None):
    import torch

    a = np.asarray(a)
    return torch.as_tensor(np.array(a, copy=True), dtype=dtype or torch.float64)


# ---------------------------------------------------------------- losses: value and gradient
def _value_and_grads(obj, *logits):
    import torch

    xs = [_t(x).requires_grad_(True) for x in logits]
    loss = obj(*xs)
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        raise TypeError(f"the loss must be a scalar tensor, got {type(loss).__name__}")
    grads = torch.autograd.grad(loss, xs)
    return (loss.item(), *[g.numpy() for g in grads])


def drive_loss(obj, *logits):
    return _value_and_grads(obj, *logits)


def d_loss_cases(rng):
    return [(rng.standard_normal(6), rng.standard_normal(4)), (3 * rng.standard_normal(8), 3 * rng.standard_normal(8)),
            (np.array([100.0, -100.0]), np.array([-100.0, 100.0, 0.0]))]  # confident logits stay finite


def g_loss_cases(rng):
    return [(rng.standard_normal(5),), (4 * rng.standard_normal(9),), (np.array([-80.0, 0.0, 80.0]),)]


# ---------------------------------------------------------------- players: load the reference's weights
def _random_state(module, rng):
    return {k: 0.4 * rng.standard_normal(tuple(v.shape)) for k, v in module.state_dict().items()}


def _output(make, x, state):
    import torch

    net = make()
    net.load_state_dict({k: _t(v, torch.float32) for k, v in state.items()})
    net.eval()
    with torch.no_grad():
        return plain(net(_t(x, torch.float32)))


def drive_generator(obj, latent_dim, hidden, out_features, z, state):
    return _output(lambda: obj(latent_dim, hidden, out_features), z, state)


def generator_cases(rng):
    cases = []
    for L, H, D, N in [(4, 8, 6, 3), (2, 5, 2, 4), (int(rng.integers(2, 9)), 16, 64, 2)]:
        cases.append((L, H, D, rng.standard_normal((N, L)), _random_state(gan.Generator(L, H, D), rng)))
    return cases


def drive_discriminator(obj, in_features, hidden, x, state):
    return _output(lambda: obj(in_features, hidden), x, state)


def discriminator_cases(rng):
    cases = []
    for D, H, N in [(6, 8, 3), (2, 5, 1), (64, int(rng.integers(4, 17)), 5)]:
        cases.append((D, H, rng.standard_normal((N, D)), _random_state(gan.Discriminator(D, H), rng)))
    # images (N, 1, 8, 8) must be flattened by the discriminator
    cases.append((64, 4, rng.standard_normal((2, 1, 8, 8)), _random_state(gan.Discriminator(64, 4), rng)))
    return cases


# ---------------------------------------------------------------- one training step
def _players(latent, hidden, features):
    import torch
    from torch import nn

    g = nn.Sequential(nn.Linear(latent, hidden), nn.Tanh(), nn.Linear(hidden, features)).double()
    d = nn.Sequential(nn.Linear(features, hidden), nn.Tanh(), nn.Linear(hidden, 1), nn.Flatten(0)).double()
    return g, d, torch


class _SGD:
    """Plain SGD with the two methods a training step calls (``zero_grad``, ``step``).

    ``torch.optim``'s first ``step`` imports torch's compiler stack, seconds of the child's
    wall clock; this one does the same update without it.
    """

    def __init__(self, params, lr):
        self.params, self.lr = list(params), lr

    def zero_grad(self, set_to_none: bool = True):
        for p in self.params:
            p.grad = None

    def step(self):
        import torch

        with torch.no_grad():
            for p in self.params:
                if p.grad is not None:
                    p -= self.lr * p.grad


def drive_step(obj, g_state, d_state, real, z, nonsaturating, lr_g, lr_d):
    g, d, _ = _players(z.shape[1], np.shape(g_state["0.weight"])[0], real.shape[1])
    g.load_state_dict({k: _t(v) for k, v in g_state.items()})
    d.load_state_dict({k: _t(v) for k, v in d_state.items()})
    opt_g, opt_d = _SGD(g.parameters(), lr_g), _SGD(d.parameters(), lr_d)
    d_loss, g_loss = obj(g, d, opt_g, opt_d, _t(real), _t(z), nonsaturating)
    after = {f"G.{k}": v.detach().numpy() for k, v in g.state_dict().items()}
    after.update({f"D.{k}": v.detach().numpy() for k, v in d.state_dict().items()})
    return float(d_loss), float(g_loss), after


def step_cases(rng):
    cases = []
    for L, H, D, N, M, ns in [(2, 4, 3, 5, 4, True), (3, 6, 2, 4, 6, False), (2, 5, 4, 3, 3, True)]:
        g, d, _ = _players(L, H, D)
        cases.append(({k: rng.standard_normal(tuple(v.shape)) for k, v in g.state_dict().items()},
                      {k: rng.standard_normal(tuple(v.shape)) for k, v in d.state_dict().items()},
                      rng.standard_normal((N, D)), rng.standard_normal((M, L)), ns, 0.3, 0.5))
    return cases


EXERCISES = [
    Exercise("generator", "Generator", 2, gan.Generator, generator_cases, driver=drive_generator,
             compare=allclose(rtol=1e-4, atol=1e-6), title="the generator network"),
    Exercise("discriminator", "Discriminator", 2, gan.Discriminator, discriminator_cases,
             driver=drive_discriminator, compare=allclose(rtol=1e-4, atol=1e-6), title="the discriminator network"),
    Exercise("discriminator_loss", "discriminator_loss", 3, gan.discriminator_loss, d_loss_cases, driver=drive_loss,
             compare=allclose(rtol=1e-7, atol=1e-10), title="the discriminator's loss"),
    Exercise("generator_loss_minimax", "generator_loss_minimax", 2, gan.generator_loss_minimax, g_loss_cases,
             driver=drive_loss, compare=allclose(rtol=1e-7, atol=1e-10), title="the minimax generator loss"),
    Exercise("generator_loss_nonsaturating", "generator_loss_nonsaturating", 2, gan.generator_loss_nonsaturating,
             g_loss_cases, driver=drive_loss, compare=allclose(rtol=1e-7, atol=1e-10),
             title="the non-saturating generator loss"),
    Exercise("gan_step", "gan_step", 4, gan.gan_step, step_cases, driver=drive_step,
             compare=allclose(rtol=1e-7, atol=1e-10), title="one alternating GAN training step"),
]
