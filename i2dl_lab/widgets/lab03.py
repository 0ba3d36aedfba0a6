"""Lab 03 (backpropagation): a small computational graph with sliders on its inputs.

The graph computes ``f = (x * y + max(y, z)) * w`` and so shows every gate pattern of the
lecture at once: the add gate distributes, the mul gate swaps, the max gate routes, and
``y`` (used twice) is a copy gate whose gradients add up. :func:`gate_graph` does the
forward and backward pass by hand; :func:`plot_gate_graph` draws them.
"""

from __future__ import annotations

from matplotlib.figure import Figure

EXPRESSION = "f = (x * y + max(y, z)) * w"


def gate_graph(x: float, y: float, z: float, w: float) -> dict:
    """Forward and backward pass of ``f = (x*y + max(y, z)) * w``.

    Returns:
        ``{"values": {...}, "grads": {...}}`` keyed by node name (x, y, z, w, a = x*y,
        b = max(y, z), c = a + b, f = c*w). ``grads[n]`` is df/dn. A tie ``y == z`` routes
        the max gate's gradient to ``y`` (the first argument), as ``np.argmax`` would.
    """
    a = x * y
    b = max(y, z)
    c = a + b
    f = c * w
    df = 1.0
    dc = w * df  # mul gate: each input gets the other input times upstream
    dw = c * df
    da = dc  # add gate: upstream passes unchanged to both inputs
    db = dc
    dy_from_max = db if y >= z else 0.0  # max gate: all to the winner, nothing to the loser
    dz = 0.0 if y >= z else db
    dx = y * da
    dy_from_mul = x * da
    dy = dy_from_mul + dy_from_max  # copy gate: gradients of both uses add
    return {
        "values": {"x": x, "y": y, "z": z, "w": w, "a": a, "b": b, "c": c, "f": f},
        "grads": {"x": dx, "y": dy, "z": dz, "w": dw, "a": da, "b": db, "c": dc, "f": df},
    }


_POS = {"x": (0, 3.6), "y": (0, 2.2), "z": (0, 0.9), "w": (0, -0.4),
        "a": (2, 3.2), "b": (2, 1.2), "c": (3.8, 2.2), "f": (5.6, 0.9)}
_OPS = {"a": "×", "b": "max", "c": "+", "f": "×"}
_EDGES = [("x", "a"), ("y", "a"), ("y", "b"), ("z", "b"), ("a", "c"), ("b", "c"), ("c", "f"), ("w", "f")]
_NOTES = {"a": "mul: swaps", "b": "max: routes", "c": "add: distributes", "f": "mul: swaps"}


def _edge_grad(data: dict, src: str, dst: str) -> float:
    """Gradient flowing back along one edge (for y: only this use's share)."""
    v, g = data["values"], data["grads"]
    if src == "y" and dst == "a":
        return v["x"] * g["a"]
    if src == "y" and dst == "b":
        return g["b"] if v["y"] >= v["z"] else 0.0
    return g[src]


def plot_gate_graph(x: float = 2.0, y: float = -1.0, z: float = 0.5, w: float = 3.0) -> tuple[Figure, dict]:
    """Draw the graph: forward values in green above each edge, gradients in red below.

    Returns:
        (fig, data) with ``data`` from :func:`gate_graph`.
    """
    data = gate_graph(x, y, z, w)
    v, g = data["values"], data["grads"]
    fig = Figure(figsize=(9, 4.2))
    ax = fig.subplots()
    ax.set_xlim(-0.8, 6.6)
    ax.set_ylim(-0.9, 4.1)
    ax.axis("off")
    for src, dst in _EDGES:
        (x0, y0), (x1, y1) = _POS[src], _POS[dst]
        ax.annotate("", xy=(x1 - 0.3, y1), xytext=(x0 + 0.3, y0),
                    arrowprops={"arrowstyle": "->", "color": "0.6", "lw": 1.2})
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2
        ax.text(mx, my + 0.12, f"{v[src]:.2f}", color="green", ha="center", fontsize=9)
        ax.text(mx, my - 0.25, f"{_edge_grad(data, src, dst):.2f}", color="red", ha="center", fontsize=9)
    for name, (px, py) in _POS.items():
        if name in _OPS:
            ax.text(px, py, _OPS[name], ha="center", va="center", fontsize=12,
                    bbox={"boxstyle": "circle", "fc": "lightyellow", "ec": "0.3"})
            ax.text(px, py - 0.55, f"{name}  ({_NOTES[name]})", ha="center", fontsize=8, color="0.3")
        else:
            ax.text(px - 0.35, py, name, ha="right", va="center", fontsize=12, fontweight="bold")
            ax.text(px - 0.35, py - 0.3, f"df/d{name} = {g[name]:.2f}", ha="right", fontsize=8, color="red")
    ax.text(6.0, 0.9, f"f = {v['f']:.2f}", va="center", fontsize=11, color="green")
    ax.set_title(f"{EXPRESSION}\nforward values in green, gradients in red; y is used twice (copy gate), "
                 "so its two gradients add", fontsize=10)
    fig.tight_layout()
    return fig, data


def gate_explorer():
    """Four sliders (x, y, z, w) that redraw :func:`plot_gate_graph`."""
    import ipywidgets as widgets

    from . import slider_plot

    def s(name, value):
        return widgets.FloatSlider(value=value, min=-3, max=3, step=0.1, description=name, continuous_update=False)

    return slider_plot(plot_gate_graph, x=s("x", 2.0), y=s("y", -1.0), z=s("z", 0.5), w=s("w", 3.0))
