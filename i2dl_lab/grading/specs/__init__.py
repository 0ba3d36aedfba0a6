"""Grading specs, one module per lab: ``labNN.py`` defines ``EXERCISES`` (see ``spec.py``)."""
