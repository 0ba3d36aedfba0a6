"""Generative adversarial networks in torch: the two players, their losses and one training step.

The references of lab 13. Discriminators return **logits** ``s`` (``D(x) = sigmoid(s)``), and
every loss is written with ``softplus`` so that it stays finite for confident logits:
``-log sigmoid(s) = softplus(-s)`` and ``-log(1 - sigmoid(s)) = softplus(s)``.

* :class:`Generator`, :class:`Discriminator`: fully connected players;
* :func:`discriminator_loss`, :func:`generator_loss_minimax`, :func:`generator_loss_nonsaturating`;
* :func:`gan_step`: one alternating update (discriminator first, then generator);
* :func:`make_ring`, :func:`modes_covered`: the 2-D mixture of Gaussians on a ring where mode
  collapse is easy to see and to count;
* :func:`classifier_score`: the Inception-score recipe with any classifier's probabilities.

Example:
    >>> import torch
    >>> g, d = Generator(latent_dim=4, hidden=8, out_features=2), Discriminator(in_features=2, hidden=8)
    >>> d(g(torch.zeros(5, 4))).shape
    torch.Size([5])
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 (the usual torch alias)

__all__ = ["Generator", "Discriminator", "discriminator_loss", "generator_loss_minimax",
           "generator_loss_nonsaturating", "gan_step", "make_ring", "modes_covered", "classifier_score"]


class Generator(nn.Module):
    """z -> Linear -> LeakyReLU(0.2) -> Linear -> LeakyReLU(0.2) -> Linear -> tanh.

    Args:
        latent_dim: size of the noise vector z.
        hidden: width of the two hidden layers.
        out_features: size of a generated sample (64 for a flattened 8x8 image).

    Shape:
        (N, latent_dim) -> (N, out_features) in (-1, 1).
    """

    def __init__(self, latent_dim: int = 16, hidden: int = 128, out_features: int = 64):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                                 nn.LeakyReLU(0.2), nn.Linear(hidden, out_features), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class Discriminator(nn.Module):
    """x -> Linear -> LeakyReLU(0.2) -> Linear -> LeakyReLU(0.2) -> Linear to one logit.

    Args:
        in_features: size of a sample.
        hidden: width of the two hidden layers.

    Shape:
        (N, in_features) -> (N,) logits; ``sigmoid`` of a logit is the probability "real".
    """

    def __init__(self, in_features: int = 64, hidden: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                                 nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(-1)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss: ``-mean log D(x) - mean log(1 - D(G(z)))``.

    Args:
        real_logits: (N,) logits on real samples.  fake_logits: (M,) logits on generated ones.

    Returns:
        scalar tensor; each mean runs over its own batch.
    """
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss_minimax(fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's side of the minimax game: minimise ``mean log(1 - D(G(z)))``.

    Its gradient vanishes where D confidently rejects the fakes (early training).
    """
    return -F.softplus(fake_logits).mean()


def generator_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss: minimise ``-mean log D(G(z))``."""
    return F.softplus(-fake_logits).mean()


def gan_step(generator: nn.Module, discriminator: nn.Module, opt_g, opt_d, real: torch.Tensor, z: torch.Tensor,
             nonsaturating: bool = True) -> tuple[float, float]:
    """One alternating update: a discriminator step on ``real`` and ``G(z)``, then a generator step.

    The fakes are detached for the discriminator's step (its loss must not move G); the
    generator's step scores the same fakes with the *updated* discriminator.

    Args:
        generator, discriminator: the players.
        opt_g, opt_d: their optimizers.
        real: (N, ...) a batch of real samples.  z: (M, latent_dim) noise.
        nonsaturating: use :func:`generator_loss_nonsaturating` (True) or the minimax loss.

    Returns:
        ``(d_loss, g_loss)`` as floats.
    """
    fake = generator(z)
    d_loss = discriminator_loss(discriminator(real), discriminator(fake.detach()))
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    fake_logits = discriminator(fake)
    g_loss = generator_loss_nonsaturating(fake_logits) if nonsaturating else generator_loss_minimax(fake_logits)
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    return d_loss.item(), g_loss.item()


def make_ring(n: int, modes: int = 8, radius: float = 0.8, std: float = 0.04, seed: int = 0) -> np.ndarray:
    """``n`` points from ``modes`` Gaussians evenly spaced on a circle. Returns (n, 2) float32."""
    if n < 1 or modes < 1:
        raise ValueError(f"n and modes must be positive, got n={n}, modes={modes}")
    rng = np.random.default_rng(seed)
    k = rng.integers(0, modes, n)
    angle = 2 * np.pi * k / modes
    centres = radius * np.stack([np.cos(angle), np.sin(angle)], 1)
    return (centres + std * rng.standard_normal((n, 2))).astype(np.float32)


def modes_covered(samples, modes: int = 8, radius: float = 0.8, std: float = 0.04,
                  min_share: float = 0.02) -> tuple[int, np.ndarray]:
    """How many ring modes the samples cover.

    A sample belongs to its nearest centre if it lies within ``3 * std`` of it; a mode counts as
    covered when it holds at least ``min_share`` of the samples.

    Returns:
        ``(covered, share)``: the count and each mode's share of the samples, shape (modes,).
    """
    x = np.asarray(samples, dtype=np.float64).reshape(-1, 2)
    angle = 2 * np.pi * np.arange(modes) / modes
    centres = radius * np.stack([np.cos(angle), np.sin(angle)], 1)
    d = np.linalg.norm(x[:, None, :] - centres[None], axis=2)  # (n, modes)
    near = d.min(1) <= 3 * std
    share = np.bincount(d.argmin(1)[near], minlength=modes) / max(len(x), 1)
    return int((share >= min_share).sum()), share


def classifier_score(probs) -> float:
    """``exp(mean_x KL(p(y|x) || p(y)))``: high when each sample is confidently one class and the
    classes are balanced (the Inception score's recipe, here with a digit classifier).

    Args:
        probs: (N, K) class probabilities of N samples.

    Returns:
        a float in [1, K].
    """
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)
    if p.ndim != 2:
        raise ValueError(f"probs must be (N, K), got shape {p.shape}")
    marginal = p.mean(0, keepdims=True)
    kl = (p * (np.log(p) - np.log(marginal))).sum(1)
    return float(np.exp(kl.mean()))
