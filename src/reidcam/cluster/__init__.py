"""The distributed mode's processes, built on the broker layer (docs/scale-out.md).

``worker``: the perception worker (``reidcam worker --broker ...``): leases cameras from the
registry, runs them in one runner, publishes closed sightings.
``memory_service``: the identity memory service (``reidcam memory``), the one writer of the
identity memory: consumes closed sightings from the broker, commits each once, publishes the
assignment. Above ``identity``, ``pipeline`` and ``broker``; nothing below imports it.
"""
