"""Graded exercises of lab 09 (autoencoders, the VAE, PCA and clustering).

The student writes torch modules and functions (so that they train the lab's models) and two
NumPy routines. References: the zoo's :class:`~i2dl_lab.bridge.zoo.ConvAutoencoder`,
:class:`~i2dl_lab.bridge.zoo.VAE` and :func:`~i2dl_lab.bridge.zoo.add_noise`, and
:mod:`i2dl_lab.bridge.autoencoders`. Modules are graded through a state dict (the documented
attribute names must be used) in evaluation mode.
"""

from __future__ import annotations

import numpy as np

# The first optimizer step imports torch._dynamo (seconds on a busy machine, inside a graded case's time
# limit); importing it with the spec lets the grader's fork server preload it.
import torch._dynamo  # noqa: F401

from ...bridge import autoencoders as ae
from ...bridge import zoo
from ..spec import Exercise, allclose, plain


def _copies(args):
    return tuple(np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args)


def _t(a):
    import torch

    return torch.as_tensor(np.array(a, dtype=np.float64, copy=True))


def _random_state(module_cls, kwargs, rng) -> dict:
    state = {}
    for k, v in module_cls(**kwargs).state_dict().items():
        state[k] = (0.3 * rng.standard_normal(tuple(v.shape))).astype(np.float32)
    return state


# ---------------------------------------------------------------- the convolutional autoencoder
def drive_module(obj, kwargs, state, x, z):
    """Build the class, load the reference's weights, run it in eval mode (and ``decode(z)`` if given)."""
    import torch

    model = obj(**kwargs)
    model.load_state_dict({k: torch.as_tensor(np.array(v, copy=True)) for k, v in state.items()}, strict=True)
    model.eval()
    with torch.no_grad():
        xt = torch.as_tensor(np.array(x, copy=True), dtype=torch.float32)
        out = plain(model(xt))
        extra = plain(model.decode(torch.as_tensor(np.array(z, copy=True), dtype=torch.float32))) if z is not None \
            else plain(model.encoder(xt))
    return int(sum(p.numel() for p in model.parameters())), out, extra


def autoencoder_cases(rng):
    cases = []
    for kwargs, N in [({"in_channels": 1, "image_size": 8, "latent_dim": 3, "channels": [2, 4]}, 2),
                      ({"in_channels": 2, "image_size": 12, "latent_dim": 5, "channels": [3, 2]}, 3)]:
        S, C = kwargs["image_size"], kwargs["in_channels"]
        cases.append((kwargs, _random_state(zoo.ConvAutoencoder, kwargs, rng), rng.random((N, C, S, S)), None))
    return cases


def vae_cases(rng):
    cases = []
    for kwargs, N in [({"in_features": 16, "hidden": 6, "latent_dim": 2, "image_shape": [1, 4, 4]}, 3),
                      ({"in_features": 10, "hidden": 5, "latent_dim": 3, "image_shape": None}, 2)]:
        shape = kwargs["image_shape"] or [kwargs["in_features"]]
        cases.append((kwargs, _random_state(zoo.VAE, kwargs, rng), rng.random((N, *shape)),
                      rng.standard_normal((4, kwargs["latent_dim"]))))
    return cases


# ---------------------------------------------------------------- noise and the training loop
def drive_noise(obj, x, std, seed):
    import torch

    out = obj(_t(x), std, generator=torch.Generator().manual_seed(int(seed)))
    return plain(out)


def noise_cases(rng):
    return [(rng.random((2, 1, 3, 3)), 0.3, int(rng.integers(0, 1000))),
            (rng.random((4, 5)), 1.0, int(rng.integers(0, 1000))),
            (np.zeros((1, 2, 2)), 0.0, 7)]


def drive_train_ae(obj, seed, sizes, batches, lr, epochs, noise_std):
    import torch
    from torch import nn

    torch.manual_seed(int(seed))
    D, H = sizes
    model = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, D), nn.Sigmoid()).double()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loader = [(_t(x),) for x in batches]
    gen = torch.Generator().manual_seed(int(seed) + 1)
    losses = obj(model, loader, opt, epochs, noise_std, gen, "cpu")
    return [float(v) for v in losses], [plain(p) for p in model.parameters()]


def train_ae_cases(rng):
    cases = []
    for D, H, nb, bs, epochs, std in [(6, 3, 3, 4, 2, 0.0), (5, 2, 2, 5, 3, 0.4), (4, 3, 2, 3, 1, 0.2)]:
        batches = [rng.random((bs, D)) for _ in range(nb)]
        batches[-1] = batches[-1][:2]  # a short last batch
        cases.append((int(rng.integers(0, 1000)), [D, H], batches, 0.05, epochs, std))
    return cases


# ---------------------------------------------------------------- the VAE's pieces, in torch
def drive_torch(obj, *args):
    return plain(obj(*[_t(a) if isinstance(a, np.ndarray) else a for a in args]))


def reparam_cases(rng):
    return [(rng.standard_normal((4, 2)), rng.standard_normal((4, 2)), rng.standard_normal((4, 2))),
            (np.zeros((1, 3)), np.zeros((1, 3)), rng.standard_normal((1, 3))),
            (rng.standard_normal((5, 8)), -10 + rng.standard_normal((5, 8)), rng.standard_normal((5, 8)))]


def kl_cases(rng):
    return [(rng.standard_normal((4, 2)), rng.standard_normal((4, 2))), (np.zeros((3, 5)), np.zeros((3, 5))),
            (3 * rng.standard_normal((6, 8)), rng.standard_normal((6, 8)) - 2)]


def elbo_cases(rng):
    cases = []
    for N, D, L, beta in [(4, 6, 2, 1.0), (2, 10, 3, 0.5), (3, 4, 2, 4.0)]:
        cases.append((rng.random((N, D)), 3 * rng.standard_normal((N, D)), rng.standard_normal((N, L)),
                      rng.standard_normal((N, L)), beta))
    # images (N, 1, 2, 2) with logits flattened: the pixels are summed whatever the shape
    cases.append((rng.random((2, 1, 2, 2)), rng.standard_normal((2, 4)), rng.standard_normal((2, 2)),
                  rng.standard_normal((2, 2)), 1.0))
    # confident logits (|s| ~ 50): a naive log(sigmoid) gives log(0)
    cases.append((np.array([[1.0, 0.0, 1.0]]), np.array([[50.0, -50.0, -50.0]]), np.zeros((1, 1)),
                  np.zeros((1, 1)), 1.0))
    return cases


# ---------------------------------------------------------------- PCA and k-means
def drive_numpy(obj, *args):
    return plain(obj(*_copies(args)))


def pca_cases(rng):
    cases = []
    for N, M, D, k in [(20, 5, 6, 2), (30, 4, 3, 3), (15, 6, 8, 1)]:
        A = rng.standard_normal((D, D)) * np.linspace(3, 0.1, D)  # a few dominant directions
        cases.append((rng.standard_normal((N, D)) @ A + 1.5, rng.standard_normal((M, D)) @ A + 1.5, k))
    return cases


def drive_kmeans(obj, X, init_centers, iters):
    labels, centers = obj(*_copies((X, init_centers, iters)))
    return np.asarray(labels).astype(np.int64), plain(centers)


def kmeans_cases(rng):
    cases = []
    for n_per, K, D, iters in [(6, 3, 2, 5), (4, 4, 3, 1), (5, 2, 5, 10)]:
        centres = 4 * rng.standard_normal((K, D))
        X = np.repeat(centres, n_per, axis=0) + rng.standard_normal((K * n_per, D))
        cases.append((X, X[rng.choice(len(X), K, replace=False)], iters))
    X = rng.standard_normal((6, 2))  # a centre far away loses all points and must stay put
    cases.append((X, np.array([X[0], [100.0, 100.0]]), 3))
    return cases


EXERCISES = [
    Exercise("conv_autoencoder", "ConvAutoencoder", 3, zoo.ConvAutoencoder, autoencoder_cases, driver=drive_module,
             compare=allclose(rtol=1e-4, atol=1e-5), title="a convolutional autoencoder"),
    Exercise("add_noise", "add_noise", 1, zoo.add_noise, noise_cases, driver=drive_noise,
             compare=allclose(rtol=1e-12, atol=1e-12), title="Gaussian corruption for denoising"),
    Exercise("train_autoencoder", "train_autoencoder", 3, ae.train_autoencoder, train_ae_cases,
             driver=drive_train_ae, compare=allclose(rtol=1e-7, atol=1e-9), title="the autoencoder's training loop"),
    Exercise("reparameterize", "reparameterize", 2, ae.reparameterize, reparam_cases, driver=drive_torch,
             compare=allclose(rtol=1e-9, atol=1e-12), title="the reparameterisation trick"),
    Exercise("kl_divergence", "kl_divergence", 2, ae.kl_divergence, kl_cases, driver=drive_torch,
             compare=allclose(rtol=1e-7, atol=1e-10), title="KL divergence to the standard normal"),
    Exercise("negative_elbo", "negative_elbo", 3, ae.negative_elbo, elbo_cases, driver=drive_torch,
             compare=allclose(rtol=1e-7, atol=1e-9), title="the VAE loss (negative ELBO)"),
    Exercise("vae", "VAE", 3, zoo.VAE, vae_cases, driver=drive_module, compare=allclose(rtol=1e-4, atol=1e-5),
             title="the variational autoencoder module"),
    Exercise("pca_reconstruct", "pca_reconstruct", 2, ae.pca_reconstruct, pca_cases, driver=drive_numpy,
             compare=allclose(rtol=1e-6, atol=1e-8), title="PCA reconstruction"),
    Exercise("kmeans", "kmeans", 3, ae.kmeans, kmeans_cases, driver=drive_kmeans,
             compare=allclose(rtol=1e-8, atol=1e-10), title="k-means clustering"),
]
