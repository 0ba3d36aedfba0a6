"""Autoencoders and what they are compared with: the trusted references of lab 09.

Students write these in lab 09; the grader compares with the versions here. The networks
themselves are the zoo's :class:`~.zoo.ConvAutoencoder` and :class:`~.zoo.VAE`, the noise
is :func:`~.zoo.add_noise`. Beside them: the reconstruction training loop, the VAE's pieces
as torch functions (so they train the model), PCA reconstruction (the optimum a *linear*
autoencoder can reach under squared error) and k-means with the clustering purity used to
judge latent codes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.nn import functional as F  # noqa: N812 (the usual torch alias)

from .zoo import add_noise

__all__ = ["train_autoencoder", "reparameterize", "kl_divergence", "negative_elbo", "pca_reconstruct", "kmeans",
           "cluster_purity"]


def train_autoencoder(model: torch.nn.Module, loader, optimizer, epochs: int, noise_std: float = 0.0,
                      generator: torch.Generator | None = None, device="cpu",
                      noise_fn: Callable = add_noise) -> list[float]:
    """Train ``model`` to reconstruct its input under the mean squared error.

    Each batch is a tuple whose first element holds the images ``x``. With ``noise_std > 0``
    the model sees ``noise_fn(x, noise_std, generator=generator)`` and must still output the clean
    ``x`` (a denoising autoencoder).

    Returns:
        the mean loss per sample of every epoch.
    """
    model.train()
    losses = []
    for _ in range(epochs):
        total, n = 0.0, 0
        for batch in loader:
            x = batch[0].to(device)
            inp = noise_fn(x, noise_std, generator=generator) if noise_std > 0 else x
            optimizer.zero_grad()
            loss = F.mse_loss(model(inp), x)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(x)
            n += len(x)
        losses.append(total / n)
    return losses


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """``z = mu + exp(logvar / 2) * eps``: a Gaussian sample that stays differentiable in ``mu`` and ``logvar``."""
    return mu + torch.exp(0.5 * logvar) * eps


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) summed over the latent dimensions, averaged over the batch."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / mu.shape[0]


def negative_elbo(x: torch.Tensor, recon_logits: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                  beta: float = 1.0) -> torch.Tensor:
    """Bernoulli reconstruction (BCE on logits, summed over pixels) + ``beta`` * KL, both averaged over the batch."""
    n = x.shape[0]
    rec = F.binary_cross_entropy_with_logits(recon_logits.reshape(n, -1), x.reshape(n, -1), reduction="sum") / n
    return rec + beta * kl_divergence(mu, logvar)


def pca_reconstruct(X_train: np.ndarray, X_test: np.ndarray, k: int) -> np.ndarray:
    """Project ``X_test`` (M, D) on the top-``k`` principal directions of ``X_train`` (N, D) and map back.

    The directions are the leading right singular vectors of the centred training data; the
    training mean is subtracted before and added after the projection.
    """
    mean = X_train.mean(axis=0)
    _, _, Vt = np.linalg.svd(X_train - mean, full_matrices=False)
    V = Vt[:k].T  # (D, k)
    return (X_test - mean) @ V @ V.T + mean


def kmeans(X: np.ndarray, init_centers: np.ndarray, iters: int) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means from given centres: ``iters`` rounds of (assign to nearest, move to mean).

    Ties go to the lower centre index; a centre that loses all its points stays where it was.

    Returns:
        ``(labels, centers)``: (N,) int64 assignments to the final centres and (K, D) centres.
    """
    centers = np.array(init_centers, dtype=np.float64, copy=True)

    def assign(c):
        d2 = ((X[:, None, :] - c[None, :, :]) ** 2).sum(axis=-1)  # (N, K)
        return np.argmin(d2, axis=1)

    for _ in range(iters):
        labels = assign(centers)
        for j in range(len(centers)):
            members = X[labels == j]
            if len(members):
                centers[j] = members.mean(axis=0)
    return assign(centers).astype(np.int64), centers


def cluster_purity(clusters: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of samples whose label is the most common label of their cluster."""
    clusters, labels = np.asarray(clusters), np.asarray(labels)
    hits = sum(np.bincount(labels[clusters == c]).max() for c in np.unique(clusters))
    return float(hits / len(labels))
