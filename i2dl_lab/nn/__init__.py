"""From-scratch NumPy neural networks: functional maths, Module classes, losses, optimizers.

Modules are re-exported here (``from i2dl_lab.nn import Linear``); the submodules
:mod:`.functional`, :mod:`.losses`, :mod:`.init`, :mod:`.optim` and :mod:`.lr_scheduler`
hold the functions and optimizers under their own names.
"""

from . import functional, init, losses
from .attention import MultiHeadAttention, PositionalEncoding, TransformerBlock
from .conv import AvgPool2d, Conv2d, Flatten, GlobalAvgPool2d, MaxPool2d
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
from .normalization import BatchNorm1d, BatchNorm2d, Dropout, GroupNorm, LayerNorm, LocalResponseNorm
from .recurrent import GRU, LSTM, RNN, Embedding, TemporalAffine

__all__ = [
    "Module",
    "functional",
    "init",
    "losses",
    # dense layers and activations
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
    # loss modules
    "MSELoss",
    "L1Loss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "SVMLoss",
    "MultiMarginLoss",
    # convolution and pooling
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "GlobalAvgPool2d",
    "Flatten",
    # normalisation and dropout
    "BatchNorm1d",
    "BatchNorm2d",
    "LayerNorm",
    "GroupNorm",
    "LocalResponseNorm",
    "Dropout",
    # sequences and attention
    "RNN",
    "LSTM",
    "GRU",
    "Embedding",
    "TemporalAffine",
    "MultiHeadAttention",
    "TransformerBlock",
    "PositionalEncoding",
]
