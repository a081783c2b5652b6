"""Global identities: every person gets one id across cameras and over time, kept in a database.

``IdentityMemory`` is the service (the web app and CLI call it); ``IdentitySink`` feeds it from
the pipeline; ``RetentionWorker`` purges what nobody confirmed once it is old.
"""

from reidcam.identity.memory import IdentityMemory
from reidcam.identity.models import (
    Assignment,
    DecisionInfo,
    IdentityInfo,
    IdentitySettings,
    PurgeReport,
    Recorded,
    SearchHit,
    SightingInfo,
)
from reidcam.identity.retention import RetentionWorker
from reidcam.identity.sink import IdentitySink

__all__ = [
    "Assignment",
    "DecisionInfo",
    "IdentityInfo",
    "IdentityMemory",
    "IdentitySettings",
    "IdentitySink",
    "PurgeReport",
    "Recorded",
    "RetentionWorker",
    "SearchHit",
    "SightingInfo",
]
