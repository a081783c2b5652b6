"""Implementations of the ``reidcam`` sub-commands, one module each."""

from reidcam.commands import check_config, search, weights

__all__ = ["check_config", "search", "weights"]
