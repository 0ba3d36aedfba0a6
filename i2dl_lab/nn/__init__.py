"""From-scratch NumPy neural networks: functional maths, Module classes, optimizers."""

from . import functional, init, losses
from .attention import MultiHeadAttention, PositionalEncoding, TransformerBlock  # noqa: E402  (helper D)
from .layers import (
    ELU,
    Affine,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    Hardtanh,
    Identity,
    L1Loss,
    LeakyReLU,
    Linear,
    Maxout,
    MSELoss,
    MultiMarginLoss,
    PReLU,
    ReLU,
    Sequential,
    Sigmoid,
    Softplus,
    SVMLoss,
    Tanh,
)
from .module import Module
from .recurrent import GRU, LSTM, RNN, Embedding, TemporalAffine  # noqa: E402  (helper D)

__all__ = [
    "Module",
    "functional",
    "init",
    "losses",
    "Linear",
    "Affine",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "ELU",
    "Softplus",
    "Hardtanh",
    "PReLU",
    "Maxout",
    "Identity",
    "Sequential",
    "MSELoss",
    "L1Loss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "SVMLoss",
    "MultiMarginLoss",
    "RNN",
    "LSTM",
    "GRU",
    "Embedding",
    "TemporalAffine",
    "MultiHeadAttention",
    "TransformerBlock",
    "PositionalEncoding",
]

# Convolutional and normalisation layers (helper C).
from .conv import AvgPool2d, Conv2d, Flatten, GlobalAvgPool2d, MaxPool2d  # noqa: E402
from .normalization import BatchNorm1d, BatchNorm2d, Dropout, GroupNorm, LayerNorm, LocalResponseNorm  # noqa: E402

__all__ += [
    "Conv2d", "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d", "Flatten",
    "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "LocalResponseNorm", "Dropout",
]
