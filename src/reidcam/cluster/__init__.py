"""The distributed mode's processes, built on the broker layer (docs/scale-out.md).

``memory_service``: the identity memory service (``reidcam memory``), the one writer of the
identity memory: consumes closed sightings from the broker, commits each once, publishes the
assignment. Above ``identity`` and ``broker``; nothing below imports it.
"""
