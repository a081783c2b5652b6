"""The ``reidcam`` sub-commands, one module each.

Each module has ``register(subparsers)`` (adds its parser, sets ``func``) and
``run(args) -> exit code``. To add a command, add its module to ``ALL``.
"""

from reidcam.commands import (
    bench,
    calibrate,
    cameras,
    check_config,
    doctor,
    eval_cmd,
    export,
    export_set,
    finetune,
    memory,
    search,
    serve,
    weights,
    worker,
)

ALL = [
    search,
    serve,
    check_config,
    doctor,
    weights,
    eval_cmd,
    calibrate,
    export_set,
    finetune,
    bench,
    export,
    memory,
    worker,
    cameras,
]

__all__ = ["ALL"]
