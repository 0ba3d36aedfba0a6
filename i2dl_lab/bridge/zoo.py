"""A small model zoo in torch, sized for a 2-core CPU and the course's offline datasets.

Every model records its constructor arguments in ``model.hparams`` and is registered in
:data:`MODELS`, so a checkpoint written by :func:`~i2dl_lab.bridge.fit` can rebuild it with
:func:`build` (``load_checkpoint(path)`` does this).

====================  ==========================================================
``mlp``               fully connected net (optional batchnorm/dropout)
``lenet``             LeNet-style CNN: 2 x (conv, relu, maxpool), 2 dense layers
``resnet``            small ResNet with basic (3x3-3x3) or bottleneck (1x1-3x3-1x1) blocks
``conv_autoencoder``  conv encoder to a latent vector and a transposed-conv decoder
``vae``               variational autoencoder (MLP encoder/decoder), :func:`vae_loss`
``lstm_classifier``   embedding -> LSTM -> linear on the last hidden state
``char_lm``           character language model (embedding -> LSTM -> vocabulary logits)
``transformer``       transformer encoder for token-sequence tasks (per-position logits)
====================  ==========================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 (the usual torch alias)

__all__ = ["MODELS", "register_model", "build", "MLP", "LeNet", "ResNet", "BasicBlock", "Bottleneck",
           "ConvAutoencoder", "VAE", "vae_loss", "LSTMClassifier", "CharLM", "TransformerSeq", "add_noise"]

MODELS: dict[str, type] = {}


def register_model(name: str) -> Callable[[type], type]:
    """Class decorator: make ``build(name, **kwargs)`` construct this model."""

    def deco(cls):
        MODELS[name] = cls
        cls.zoo_name = name
        return cls

    return deco


def build(name: str, **kwargs) -> nn.Module:
    """Construct zoo model ``name`` with ``kwargs`` (e.g. ``build("lenet", num_classes=10)``)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; the zoo has {sorted(MODELS)}")
    return MODELS[name](**kwargs)


class _Zoo(nn.Module):
    def _record(self, **kwargs) -> None:
        self.hparams = dict(kwargs)


_ACTS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU, "gelu": nn.GELU,
         "elu": nn.ELU}


def _act(name: str) -> nn.Module:
    if name not in _ACTS:
        raise ValueError(f"activation must be one of {sorted(_ACTS)}, got {name!r}")
    return _ACTS[name]()


@register_model("mlp")
class MLP(_Zoo):
    """Affine - [BatchNorm] - activation - [Dropout] blocks, then a linear ``head``.

    Shape: input (N, in_features) (or anything that flattens to it), output (N, num_classes).
    """

    def __init__(self, in_features: int = 64, hidden: Sequence[int] = (128, 64), num_classes: int = 10,
                 activation: str = "relu", dropout: float = 0.0, batchnorm: bool = False):
        super().__init__()
        self._record(in_features=in_features, hidden=list(hidden), num_classes=num_classes,
                     activation=activation, dropout=dropout, batchnorm=batchnorm)
        layers: list[nn.Module] = [nn.Flatten()]
        d = in_features
        for h in hidden:
            layers.append(nn.Linear(d, h))
            if batchnorm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(_act(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            d = h
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(d, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


@register_model("lenet")
class LeNet(_Zoo):
    """LeNet-style CNN: (conv3x3 - BN - ReLU - maxpool2) x 2, dense, dropout, ``head``.

    Shape: input (N, in_channels, S, S) with S divisible by 4 (16 for upsampled digits,
    28 for MNIST, 32 for CIFAR); output (N, num_classes).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 16,
                 channels: Sequence[int] = (16, 32), hidden: int = 64, dropout: float = 0.25):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image_size must be divisible by 4 (two 2x2 pools), got {image_size}")
        self._record(in_channels=in_channels, num_classes=num_classes, image_size=image_size,
                     channels=list(channels), hidden=hidden, dropout=dropout)
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, padding=1), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(c2 * (image_size // 4) ** 2, hidden), nn.ReLU(), nn.Dropout(dropout),
        )
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


class BasicBlock(nn.Module):
    """Residual block ``relu(x + BN(conv3x3(relu(BN(conv3x3(x))))))``; a 1x1 conv projects the
    shortcut when the shape changes (stride or channels)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    """Bottleneck block: 1x1 conv reduces channels to ``c_out // 4``, 3x3 conv works there,
    1x1 conv expands back; far fewer weights than two 3x3 convs at full width."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        mid = max(1, c_out // 4)
        self.conv1 = nn.Conv2d(c_in, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


@register_model("resnet")
class ResNet(_Zoo):
    """A small ResNet: stem conv, one stage per entry of ``widths`` (the first stage keeps the
    resolution, later ones halve it), global average pooling, ``head``.

    Args:
        block: ``"basic"`` or ``"bottleneck"``.
        blocks_per_stage: residual blocks in each stage.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, widths: Sequence[int] = (16, 32, 64),
                 blocks_per_stage: int = 1, block: str = "basic"):
        super().__init__()
        blocks = {"basic": BasicBlock, "bottleneck": Bottleneck}
        if block not in blocks:
            raise ValueError(f"block must be 'basic' or 'bottleneck', got {block!r}")
        self._record(in_channels=in_channels, num_classes=num_classes, widths=list(widths),
                     blocks_per_stage=blocks_per_stage, block=block)
        B = blocks[block]
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        stages, c = [], widths[0]
        for i, w in enumerate(widths):
            for j in range(blocks_per_stage):
                stages.append(B(c, w, stride=2 if (i > 0 and j == 0) else 1))
                c = w
        self.stages = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(c, num_classes)

    def features(self, x):
        return self.pool(self.stages(self.stem(x)))

    def forward(self, x):
        return self.head(self.features(x))


@register_model("conv_autoencoder")
class ConvAutoencoder(_Zoo):
    """Convolutional autoencoder: ``encoder`` maps (N, C, S, S) to a latent (N, latent_dim),
    ``decoder`` maps it back through transposed convolutions; outputs pass a sigmoid (pixels
    in [0, 1]). Train with MSE against the clean input; for a *denoising* autoencoder feed
    corrupted inputs (:func:`add_noise`) and keep the clean image as the target.
    """

    def __init__(self, in_channels: int = 1, image_size: int = 16, latent_dim: int = 32,
                 channels: Sequence[int] = (16, 32)):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image_size must be divisible by 4, got {image_size}")
        self._record(in_channels=in_channels, image_size=image_size, latent_dim=latent_dim, channels=list(channels))
        c1, c2 = channels
        s = image_size // 4
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, 2, 1), nn.ReLU(),  # (N, c1, S/2, S/2)
            nn.Conv2d(c1, c2, 3, 2, 1), nn.ReLU(),  # (N, c2, S/4, S/4)
            nn.Flatten(), nn.Linear(c2 * s * s, latent_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, c2 * s * s), nn.ReLU(), nn.Unflatten(1, (c2, s, s)),
            nn.ConvTranspose2d(c2, c1, 4, 2, 1), nn.ReLU(),  # (N, c1, S/2, S/2)
            nn.ConvTranspose2d(c1, in_channels, 4, 2, 1), nn.Sigmoid(),  # (N, C, S, S)
        )

    def encode(self, x):
        return self.encoder(x)

    def forward(self, x):
        return self.decoder(self.encoder(x))


def add_noise(x: torch.Tensor, std: float = 0.3, clip: bool = True, generator: torch.Generator | None = None):
    """Gaussian corruption for denoising autoencoders (clipped back to [0, 1] by default)."""
    out = x + std * torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    return out.clamp(0, 1) if clip else out


@register_model("vae")
class VAE(_Zoo):
    """Variational autoencoder with an MLP encoder/decoder and a Gaussian latent.

    ``forward(x)`` returns ``(recon_logits, mu, logvar)``; :func:`vae_loss` turns these into
    the negative ELBO. ``sample(n)`` decodes draws from the prior to pixels in [0, 1].
    """

    def __init__(self, in_features: int = 256, hidden: int = 128, latent_dim: int = 8, image_shape=None):
        super().__init__()
        self._record(in_features=in_features, hidden=hidden, latent_dim=latent_dim,
                     image_shape=list(image_shape) if image_shape else None)
        self.image_shape = tuple(image_shape) if image_shape else None
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU())
        self.mu = nn.Linear(hidden, latent_dim)
        self.logvar = nn.Linear(hidden, latent_dim)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, in_features))

    def encode(self, x):
        h = self.encoder(x)
        return self.mu(h), self.logvar(h)

    def decode(self, z):
        out = self.decoder(z)
        return out.view(-1, *self.image_shape) if self.image_shape else out

    def forward(self, x):
        mu, logvar = self.encode(x)
        # Reparameterisation: z = mu + sigma * eps keeps the sample differentiable in mu, sigma.
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if self.training else mu
        return self.decode(z), mu, logvar

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None):
        z = torch.randn(n, self.mu.out_features, generator=generator).to(self.mu.weight)
        return torch.sigmoid(self.decode(z))


def vae_loss(output, x, beta: float = 1.0):
    """Negative ELBO per sample: Bernoulli reconstruction (BCE on logits, summed over pixels)
    plus ``beta`` times KL(q(z|x) || N(0, I)), averaged over the batch."""
    recon, mu, logvar = output
    n = x.shape[0]
    rec = F.binary_cross_entropy_with_logits(recon.reshape(n, -1), x.reshape(n, -1), reduction="sum") / n
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / n
    return rec + beta * kl


@register_model("lstm_classifier")
class LSTMClassifier(_Zoo):
    """Token ids (N, T) -> embedding -> LSTM -> ``head`` on the last hidden state -> (N, num_classes)."""

    def __init__(self, vocab_size: int = 10, embed_dim: int = 16, hidden: int = 64, num_classes: int = 2,
                 num_layers: int = 1):
        super().__init__()
        self._record(vocab_size=vocab_size, embed_dim=embed_dim, hidden=hidden, num_classes=num_classes,
                     num_layers=num_layers)
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x):
        _, (h, _) = self.lstm(self.embed(x))  # h: (layers, N, H)
        return self.head(h[-1])


@register_model("char_lm")
class CharLM(_Zoo):
    """Character language model: ids (N, T) -> logits (N, T, vocab) for the next character.

    ``generate(prefix_ids, n, temperature)`` samples a continuation one character at a time.
    """

    def __init__(self, vocab_size: int = 64, embed_dim: int = 32, hidden: int = 128, num_layers: int = 1,
                 dropout: float = 0.0):
        super().__init__()
        self._record(vocab_size=vocab_size, embed_dim=embed_dim, hidden=hidden, num_layers=num_layers,
                     dropout=dropout)
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden, num_layers=num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, x):
        out, _ = self.lstm(self.embed(x))  # (N, T, H)
        return self.head(out)

    @torch.no_grad()
    def generate(self, prefix_ids: Sequence[int], n: int = 100, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> list[int]:
        if len(prefix_ids) == 0:
            raise ValueError("generate needs a non-empty prefix")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        was_training = self.training
        self.eval()
        dev = self.head.weight.device
        ids = list(prefix_ids)
        x = torch.tensor([ids], device=dev)
        out, state = self.lstm(self.embed(x))
        for _ in range(n):
            probs = torch.softmax(self.head(out[:, -1]) / temperature, dim=-1).cpu()
            nxt = int(torch.multinomial(probs, 1, generator=generator))
            ids.append(nxt)
            out, state = self.lstm(self.embed(torch.tensor([[nxt]], device=dev)), state)
        self.train(was_training)
        return ids


class _PositionalEncoding(nn.Module):
    def __init__(self, d_model: int, max_len: int = 512):
        super().__init__()
        pos = torch.arange(max_len).unsqueeze(1)
        div = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div[: d_model // 2])
        self.register_buffer("pe", pe, persistent=False)

    def forward(self, x):  # x: (N, T, d_model)
        return x + self.pe[: x.shape[1]]


@register_model("transformer")
class TransformerSeq(_Zoo):
    """A small transformer encoder for token-sequence tasks (copy, reverse, sort).

    ids (N, T) -> embedding + sinusoidal positions -> ``num_layers`` encoder layers ->
    per-position logits (N, out_len or T, vocab_out). With ``out_len`` different from the
    input length (e.g. addition) the first ``out_len`` positions of a learned query block
    appended to the input are read out.
    """

    def __init__(self, vocab_size: int = 10, d_model: int = 64, nhead: int = 4, num_layers: int = 2,
                 dim_feedforward: int = 128, dropout: float = 0.0, vocab_out: int | None = None,
                 out_len: int | None = None, max_len: int = 256):
        super().__init__()
        self._record(vocab_size=vocab_size, d_model=d_model, nhead=nhead, num_layers=num_layers,
                     dim_feedforward=dim_feedforward, dropout=dropout, vocab_out=vocab_out, out_len=out_len,
                     max_len=max_len)
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos = _PositionalEncoding(d_model, max_len)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.out_len = out_len
        if out_len is not None:
            self.queries = nn.Parameter(torch.randn(out_len, d_model) * 0.02)
        self.head = nn.Linear(d_model, vocab_out or vocab_size)

    def forward(self, x):
        h = self.embed(x)  # (N, T, d); unit-variance embeddings and positions of comparable size
        if self.out_len is not None:
            h = torch.cat([h, self.queries.expand(x.shape[0], -1, -1)], dim=1)  # (N, T + out_len, d)
        h = self.encoder(self.pos(h))
        if self.out_len is not None:
            h = h[:, -self.out_len:]
        return self.head(h)
