"""From-scratch NumPy neural networks: functional maths, Module classes, optimizers."""

from . import functional, init
from .module import Module

__all__ = ["Module", "functional", "init"]
