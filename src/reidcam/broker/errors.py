"""Errors of the broker layer; each says what is wrong and what to do, secrets redacted."""

from __future__ import annotations

from reidcam.core.errors import ReidcamError


class BrokerError(ReidcamError):
    """The NATS broker refused or failed an operation the caller can act on."""


class BrokerUnavailableError(BrokerError):
    """The broker could not be reached within the configured connection attempts."""


class WireFormatError(BrokerError):
    """A message on the broker is not a sighting this version of reidcam can read."""


class ModelMismatchError(WireFormatError):
    """A sighting was embedded by another ReID model than this memory's: never compared."""


class LeaseLostError(BrokerError):
    """A camera lease was taken by another holder or lapsed before it was renewed."""


class SettingChangedError(BrokerError):
    """A compare-and-set write of a shared setting lost: someone else wrote it first."""
