"""Lab 09's references: the reconstruction loop, the VAE pieces, PCA and k-means."""

import numpy as np
import pytest
import torch
from torch import nn

from i2dl_lab.bridge import autoencoders as ae
from i2dl_lab.bridge.zoo import vae_loss


def test_train_autoencoder_lowers_the_reconstruction_error_and_denoises_against_the_clean_target():
    torch.manual_seed(0)
    X = torch.sigmoid(3 * torch.randn(64, 2, dtype=torch.float64) @ torch.randn(2, 6, dtype=torch.float64))  # 2-D
    model = nn.Sequential(nn.Linear(6, 3), nn.ReLU(), nn.Linear(3, 6), nn.Sigmoid()).double()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    loader = [(X[i:i + 16],) for i in range(0, 64, 16)]
    losses = ae.train_autoencoder(model, loader, opt, epochs=30)
    assert len(losses) == 30 and losses[-1] < 0.3 * losses[0]
    seen = []
    ae.train_autoencoder(model, loader, opt, 1, noise_std=0.5, generator=torch.Generator().manual_seed(0),
                         noise_fn=lambda x, s, generator: seen.append(x.clone()) or x + s)
    assert len(seen) == 4 and torch.equal(seen[0], X[:16])  # the noise function gets the clean batch


def test_vae_pieces_match_the_zoo_loss_and_the_closed_form():
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.random((3, 1, 2, 2)))
    logits, mu, logvar = (torch.as_tensor(rng.standard_normal(s)) for s in [(3, 1, 2, 2), (3, 2), (3, 2)])
    assert ae.negative_elbo(x, logits, mu, logvar, 0.5).item() == pytest.approx(
        vae_loss((logits, mu, logvar), x, beta=0.5).item(), rel=1e-12)
    assert ae.kl_divergence(torch.zeros(4, 3), torch.zeros(4, 3)).item() == 0.0
    # one dimension, mu = 1, sigma = 1: KL = mu^2 / 2
    assert ae.kl_divergence(torch.ones(1, 1), torch.zeros(1, 1)).item() == pytest.approx(0.5)
    z = ae.reparameterize(mu, logvar, torch.ones_like(mu))
    torch.testing.assert_close(z, mu + torch.exp(0.5 * logvar))


def test_pca_reconstruct_is_exact_with_all_components_and_optimal_among_linear_codes():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((50, 4)) @ np.diag([3.0, 1.0, 0.3, 0.1]) + 2.0
    np.testing.assert_allclose(ae.pca_reconstruct(X, X[:5], 4), X[:5], atol=1e-10)
    err = ((ae.pca_reconstruct(X, X, 2) - X) ** 2).sum()
    Q, _ = np.linalg.qr(rng.standard_normal((4, 2)))  # any other 2-D subspace through the mean does worse
    other = ((X - X.mean(0)) @ Q @ Q.T + X.mean(0) - X) ** 2
    assert err < other.sum()


def test_kmeans_separates_blobs_and_leaves_an_empty_centre_in_place():
    rng = np.random.default_rng(2)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    y = np.repeat(np.arange(3), 20)
    X = centres[y] + rng.standard_normal((60, 2))
    init = X[[0, 20, 40]].copy()
    labels, found = ae.kmeans(X, init, 10)
    assert ae.cluster_purity(labels, y) == 1.0
    np.testing.assert_allclose(found, centres, atol=0.6)
    np.testing.assert_array_equal(init, X[[0, 20, 40]])  # not changed in place
    far = np.array([[0.0, 0.0], [1e3, 1e3]])
    labels, found = ae.kmeans(X, far, 3)
    np.testing.assert_array_equal(found[1], far[1])
    assert (labels == 0).all()
