"""Lab 04 (optimizers): six update rules racing on a 2-D loss surface, with sliders.

:func:`trajectories` runs SGD, momentum, Nesterov, AdaGrad, RMSProp and Adam (the CS231n
rules of :mod:`i2dl_lab.nn.optim`) from the same start with the same learning rate;
:func:`plot_trajectories` draws the paths over the contour plot and the loss per step.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..nn import optim

OPTIMIZERS = ("SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam")


def _ravine(p):
    x, y = p
    return 0.05 * x ** 2 + 2.0 * y ** 2, np.array([0.1 * x, 4.0 * y])


def _rosenbrock(p):
    x, y = p
    return (1 - x) ** 2 + 5.0 * (y - x ** 2) ** 2, np.array([-2 * (1 - x) - 20.0 * x * (y - x ** 2),
                                                            10.0 * (y - x ** 2)])


def _saddle(p):
    x, y = p
    # a saddle at the origin between two minima at (0, +-sqrt(2)); the start sits just off the ridge
    return 0.5 * x ** 2 + 0.25 * y ** 4 - y ** 2, np.array([x, y ** 3 - 2 * y])


#: name -> (loss_and_grad, start point, minimum, plotting box (xmin, xmax, ymin, ymax))
SURFACES = {
    "ravine": (_ravine, (-9.0, 1.2), (0.0, 0.0), (-10, 3, -2, 2)),
    "rosenbrock": (_rosenbrock, (-1.2, 1.6), (1.0, 1.0), (-2, 2, -1, 3)),
    "saddle": (_saddle, (-2.5, 1e-3), (0.0, float(np.sqrt(2))), (-3, 3, -2.5, 2.5)),
}


def surface_loss(surface: str, p) -> tuple[float, np.ndarray]:
    """Loss and gradient of a named surface at ``p`` (2,)."""
    if surface not in SURFACES:
        raise ValueError(f"surface must be one of {sorted(SURFACES)}, got {surface!r}")
    return SURFACES[surface][0](np.asarray(p, dtype=np.float64))


def _rule(name: str, lr: float, momentum: float, beta1: float, beta2: float):
    if name == "SGD":
        return optim.sgd, {"learning_rate": lr}
    if name == "Momentum":
        return optim.sgd_momentum, {"learning_rate": lr, "momentum": momentum}
    if name == "Nesterov":
        return optim.nesterov, {"learning_rate": lr, "momentum": momentum}
    if name == "AdaGrad":
        return optim.adagrad, {"learning_rate": lr}
    if name == "RMSProp":
        return optim.rmsprop, {"learning_rate": lr, "decay_rate": beta2}
    if name == "Adam":
        return optim.adam, {"learning_rate": lr, "beta1": beta1, "beta2": beta2}
    raise ValueError(f"unknown optimizer {name!r}; choose from {OPTIMIZERS}")


def trajectories(lr: float = 0.1, momentum: float = 0.9, beta1: float = 0.9, beta2: float = 0.999,
                 steps: int = 100, surface: str = "ravine", optimizers=OPTIMIZERS) -> dict:
    """Run each optimizer for ``steps`` updates from the surface's start point.

    RMSProp's decay rate is ``beta2`` (it is Adam without the first moment).

    Returns:
        ``{name: {"path": (steps + 1, 2), "loss": (steps + 1,)}}``. A run that leaves the
        plotting region by a factor of 1e3 (diverges) stops; its arrays are padded with NaN.
    """
    f, start, _, box = SURFACES[surface] if surface in SURFACES else (None, None, None, None)
    if f is None:
        raise ValueError(f"surface must be one of {sorted(SURFACES)}, got {surface!r}")
    limit = 1e3 * max(abs(v) for v in box)
    out = {}
    for name in optimizers:
        rule, config = _rule(name, lr, momentum, beta1, beta2)
        w = np.array(start, dtype=np.float64)
        path = np.full((steps + 1, 2), np.nan)
        loss = np.full(steps + 1, np.nan)
        for t in range(steps + 1):
            loss[t], g = f(w)
            path[t] = w
            if t == steps or not np.all(np.abs(w) < limit):
                break
            w, config = rule(w, g, config)
        out[name] = {"path": path, "loss": loss}
    return out


def plot_trajectories(lr: float = 0.1, momentum: float = 0.9, beta1: float = 0.9, beta2: float = 0.999,
                      steps: int = 100, surface: str = "ravine") -> tuple[Figure, dict]:
    """Contour plot with every optimizer's path (left) and loss per step (right)."""
    data = trajectories(lr, momentum, beta1, beta2, steps, surface)
    f, start, minimum, (x0, x1, y0, y1) = SURFACES[surface]
    gx, gy = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    gz = f(np.stack([gx, gy]))[0]
    fig = Figure(figsize=(11, 4.2))
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
    ax.contour(gx, gy, np.log1p(gz - gz.min()), levels=25, cmap="Greys", linewidths=0.6)
    ax.plot(*minimum, "k*", ms=12)
    ax.plot(*start, "ko", ms=5)
    best = np.nanmin([np.nanmin(d["loss"]) for d in data.values()])
    floor = f(np.array(minimum, dtype=float))[0]
    for i, (name, d) in enumerate(data.items()):
        ax.plot(d["path"][:, 0], d["path"][:, 1], "-", color=f"C{i}", lw=1.4, label=name)
        gap = d["loss"] - min(floor, best) + 1e-12
        ax2.semilogy(gap, color=f"C{i}", label=name)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_title(f"{surface}: lr={lr:g}, momentum={momentum:g}, beta1={beta1:g}, beta2={beta2:g}", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax2.set_xlabel("step")
    ax2.set_ylabel("loss - minimum (log)")
    ax2.set_title("convergence", fontsize=10)
    fig.tight_layout()
    return fig, data


def optimizer_explorer(steps: int = 100):
    """Sliders for learning rate, momentum, beta1, beta2 and a surface dropdown.

    The learning-rate slider comes first (the browser test moves the first slider).
    """
    import ipywidgets as widgets

    from . import slider_plot

    style = {"description_width": "90px"}
    controls = {
        "lr": widgets.FloatLogSlider(value=0.1, base=10, min=-3, max=0, step=0.1, description="learning rate",
                                     continuous_update=False, readout_format=".3f", style=style),
        "momentum": widgets.FloatSlider(value=0.9, min=0.0, max=0.99, step=0.01, description="momentum",
                                        continuous_update=False, style=style),
        "beta1": widgets.FloatSlider(value=0.9, min=0.0, max=0.99, step=0.01, description="beta1",
                                     continuous_update=False, style=style),
        "beta2": widgets.FloatSlider(value=0.999, min=0.9, max=0.999, step=0.001, description="beta2",
                                     continuous_update=False, readout_format=".3f", style=style),
        "surface": widgets.Dropdown(options=list(SURFACES), value="ravine", description="surface", style=style),
    }
    box = slider_plot(lambda **kw: plot_trajectories(steps=steps, **kw), **controls)
    # five controls do not fit on one line: two rows above the plot
    box.children = (widgets.HBox([controls["lr"], controls["momentum"], controls["surface"]]),
                    widgets.HBox([controls["beta1"], controls["beta2"]]), box.children[1])
    return box
