"""The distributed mode's processes built on the broker layer (docs/scale-out.md).

``worker``: the perception worker (`reidcam worker --broker ...`): leases cameras from the
registry, runs them in one runner, publishes closed sightings. Above ``pipeline`` and
``broker``; nothing below imports it.
"""
