"""The NATS JetStream layer of the distributed mode (docs/scale-out.md).

Only this package talks to the broker. It is self-contained: the pipeline, the identity memory
and the web reach it through the small synchronous facades here (``BrokerClient`` and the
objects built on it), because the product's camera loop runs on threads, not asyncio. Importing
it does not import ``nats``; connecting does, with an install hint when it is missing.
"""

from reidcam.broker.errors import (
    BrokerError,
    BrokerUnavailableError,
    LeaseLostError,
    ModelMismatchError,
    WireFormatError,
)

__all__ = [
    "BrokerError",
    "BrokerUnavailableError",
    "LeaseLostError",
    "ModelMismatchError",
    "WireFormatError",
]
