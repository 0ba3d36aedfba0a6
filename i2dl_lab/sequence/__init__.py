"""Sequence-model toolkits built on :mod:`i2dl_lab.nn`.

:mod:`.charlm`         a character-level language model and its truncated-BPTT training loop
:mod:`.gradient_flow`  how gradients grow or vanish through time and depth (lecture analysis)
"""
