"""The PyTorch side of the course.

* :mod:`.convert`: ``to_torch`` / ``from_torch`` between NumPy Modules and torch modules with
  the same weights, and ``compare`` (outputs, input and parameter gradients).
* :mod:`.fit`: ``fit(model, train_loader, val_loader, ...)``, a complete training loop
  (device choice, optimizer/scheduler, early stopping, checkpoints, progress, NaN stop), in
  the vocabulary of :mod:`i2dl_lab.loop`.
* :mod:`.zoo`: MLP, LeNet, small ResNet, (denoising) conv autoencoder, VAE, LSTM classifier,
  character language model, transformer encoder.
* :mod:`.transfer`: freeze / unfreeze / replace_head, feature extraction vs fine-tuning, the
  shipped pretrained checkpoint and the few-label experiments; lab 08's freezing, parameter
  groups, frozen-body mode and shared recipe written out.
* :mod:`.vision`: lab 07's pieces written out plainly (Dataset, SmallCNN, ResidualBlock,
  SmallResNet, DepthwiseSeparableConv, the training loop in parts, checkpoints, conv costs).
* :mod:`.autoencoders`: lab 09's reconstruction loop, the VAE's loss pieces, PCA and k-means.
"""

from .convert import UnsupportedLayerError, compare, from_torch, register, rel_error, supported_layers, to_torch
from .fit import (
    evaluate,
    fit,
    load_checkpoint,
    predict,
    save_checkpoint,
    seed_everything,
    select_device,
)
from .transfer import (
    extract_features,
    fewshot_transfer,
    freeze,
    load_pretrained,
    prepare_transfer,
    replace_head,
    trainable_parameters,
    unfreeze,
)
from .zoo import MODELS, build

__all__ = [
    "to_torch", "from_torch", "compare", "register", "rel_error", "supported_layers", "UnsupportedLayerError",
    "fit", "evaluate", "predict", "select_device", "seed_everything", "save_checkpoint",
    "load_checkpoint", "MODELS", "build", "freeze", "unfreeze", "replace_head", "prepare_transfer",
    "extract_features", "trainable_parameters", "load_pretrained", "fewshot_transfer",
]
