"""Pure forward/backward pairs in the CS231n contract.

Every layer is two functions::

    out, cache = <layer>_forward(x, *params, [param_dict])
    dx, *dparams = <layer>_backward(dout, cache)

and every loss is ``loss, dx = <loss>(x, y)``, averaged over the batch. Import it as
``from i2dl_lab.nn import functional as F`` and call ``F.affine_forward(...)``.

The maths is split by topic into submodules (``core``: affine and activations;
``conv``: convolution and pooling; ``norm``: batch/layer/group/local-response
normalisation and dropout; ``recurrent``: RNN/LSTM/GRU, embeddings and temporal layers;
``attention``: attention, positional encoding and the transformer block), all re-exported
here; the losses live in :mod:`i2dl_lab.nn.losses` and are re-exported too.
"""

from ..losses import *  # noqa: F401,F403
from ..losses import __all__ as _losses_all
from .attention import *  # noqa: F401,F403
from .attention import __all__ as _attention_all
from .conv import *  # noqa: F401,F403
from .conv import __all__ as _conv_all
from .core import *  # noqa: F401,F403
from .core import __all__ as _core_all
from .norm import *  # noqa: F401,F403
from .norm import __all__ as _norm_all
from .recurrent import *  # noqa: F401,F403
from .recurrent import __all__ as _recurrent_all

__all__ = [*_core_all, *_losses_all, *_conv_all, *_norm_all, *_recurrent_all, *_attention_all]
