"""Graded exercises of lab 09 (autoencoders and variational autoencoders).

The student writes the VAE's pieces in NumPy; the references are the bridge's torch VAE
(:func:`i2dl_lab.bridge.zoo.vae_loss` and the reparameterisation in ``VAE.forward``).
"""

from __future__ import annotations

import numpy as np

from ..spec import Exercise, allclose


def _copies(args):
    return tuple(np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args)


def _t(a):
    import torch

    return torch.as_tensor(np.asarray(a, dtype=np.float64))


# ---------------------------------------------------------------- reparameterisation
def ref_reparameterize(mu, logvar, eps):
    """z = mu + exp(logvar / 2) * eps (the formula of ``VAE.forward``)."""
    import torch

    return (_t(mu) + torch.exp(0.5 * _t(logvar)) * _t(eps)).numpy()


def drive_array(obj, *args):
    out = obj(*_copies(args))
    if hasattr(out, "detach"):
        out = out.detach().numpy()
    return np.asarray(out, dtype=np.float64)


def reparam_cases(rng):
    return [(rng.standard_normal((4, 2)), rng.standard_normal((4, 2)), rng.standard_normal((4, 2))),
            (np.zeros((1, 3)), np.zeros((1, 3)), rng.standard_normal((1, 3))),
            (rng.standard_normal((5, 8)), -10 + rng.standard_normal((5, 8)), rng.standard_normal((5, 8)))]


# ---------------------------------------------------------------- KL divergence
def ref_kl(mu, logvar):
    """KL(N(mu, diag exp(logvar)) || N(0, I)), summed over latent dims, averaged over the batch."""
    import torch

    mu, logvar = _t(mu), _t(logvar)
    return float((-0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())).item() / mu.shape[0])


def drive_float(obj, *args):
    return float(obj(*_copies(args)))


def kl_cases(rng):
    return [(rng.standard_normal((4, 2)), rng.standard_normal((4, 2))), (np.zeros((3, 5)), np.zeros((3, 5))),
            (3 * rng.standard_normal((6, 8)), rng.standard_normal((6, 8)) - 2)]


# ---------------------------------------------------------------- negative ELBO
def ref_negative_elbo(x, recon_logits, mu, logvar, beta):
    """The bridge's ``vae_loss``: BCE on logits summed over pixels + beta * KL, per sample."""
    from i2dl_lab.bridge.zoo import vae_loss

    return float(vae_loss((_t(recon_logits), _t(mu), _t(logvar)), _t(x), beta=beta).item())


def elbo_cases(rng):
    cases = []
    for N, D, L, beta in [(4, 6, 2, 1.0), (2, 10, 3, 0.5), (3, 4, 2, 4.0)]:
        cases.append((rng.random((N, D)), 3 * rng.standard_normal((N, D)), rng.standard_normal((N, L)),
                      rng.standard_normal((N, L)), beta))
    # confident logits (|s| ~ 50): a naive log(sigmoid) overflows or gives log(0)
    cases.append((np.array([[1.0, 0.0, 1.0]]), np.array([[50.0, -50.0, -50.0]]), np.zeros((1, 1)),
                  np.zeros((1, 1)), 1.0))
    return cases


EXERCISES = [
    Exercise("reparameterize", "reparameterize", 2, ref_reparameterize, reparam_cases, driver=drive_array,
             compare=allclose(rtol=1e-9, atol=1e-12), title="the reparameterisation trick"),
    Exercise("kl_divergence", "kl_divergence", 2, ref_kl, kl_cases, driver=drive_float,
             compare=allclose(rtol=1e-7, atol=1e-10), title="KL divergence to the standard normal"),
    Exercise("negative_elbo", "negative_elbo", 3, ref_negative_elbo, elbo_cases, driver=drive_float,
             compare=allclose(rtol=1e-7, atol=1e-9), title="the VAE loss (negative ELBO)"),
]
