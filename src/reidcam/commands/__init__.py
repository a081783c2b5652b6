"""The ``reidcam`` sub-commands, one module each.

Each module has ``register(subparsers)`` (adds its parser, sets ``func``) and
``run(args) -> exit code``. To add a command, add its module to ``ALL``.
"""

from reidcam.commands import check_config, search, serve, weights

ALL = [search, serve, check_config, weights]

__all__ = ["ALL"]
