"""ipywidgets controls and matplotlib plots used by the labs.

Each lab ``NN`` has a module ``labNN.py`` whose *update functions* are plain Python:
they take the control values as keyword arguments and return a
:class:`matplotlib.figure.Figure` (and often the data behind it), so they can be
unit-tested and called once headlessly. :func:`slider_plot` wires such a function to
ipywidgets controls for the interactive notebook.

Figures are built with :class:`matplotlib.figure.Figure`, not ``pyplot``, so they never
pile up in pyplot's global state and show exactly once when a cell returns them.
"""

from __future__ import annotations

from collections.abc import Callable


def slider_plot(update: Callable[..., object], **controls):
    """Redraw ``update(**values)`` whenever one of ``controls`` changes.

    Args:
        update: called with one keyword argument per control (its current ``value``);
            returns a Figure (or a tuple whose first item is one) to show.
        **controls: ipywidgets value widgets (sliders, dropdowns) keyed by the argument
            name they feed.

    Returns:
        An ``ipywidgets.VBox`` (controls on top, plot below) with two extra attributes:
        ``controls`` (the dict passed in) and ``redraw()`` (draws with the current values
        and returns what ``update`` returned), handy in tests.
    """
    import ipywidgets as widgets
    from IPython.display import display

    out = widgets.Output()

    def redraw(change=None):
        values = {name: c.value for name, c in controls.items()}
        result = update(**values)
        fig = result[0] if isinstance(result, tuple) else result
        with out:
            out.clear_output(wait=True)
            display(fig)
        return result

    for c in controls.values():
        c.observe(redraw, names="value")
    box = widgets.VBox([widgets.HBox(list(controls.values())), out])
    box.controls = controls
    box.redraw = redraw
    redraw()
    return box


__all__ = ["slider_plot"]
