"""Cordon's composition root: settings, the ``cordon`` command, and the wiring of the parts."""

__version__ = "0.1.0"
