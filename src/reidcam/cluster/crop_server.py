"""The memory service's crops, for the web servers' pages (People thumbnails, timelines).

A sighting's best crop reaches the memory service inside the sighting (``broker.wire``) and is
kept where the memory keeps crops, on the memory service's disk. A web server on another
machine asks for one by its stored path on ``CROP_SUBJECT``. Every memory service hears the
request (no queue group: after a takeover the older crops are on the other instance's disk); the
one that has the file answers, the others stay silent, so the first answer is the crop. Only
crop pictures are served (``servable``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from reidcam.broker.connection import BrokerClient
from reidcam.broker.wire import CROP_SUBJECT
from reidcam.identity.memory import CROP_FOLDER, IdentityMemory

log = logging.getLogger(__name__)


def servable(relpath: str) -> bool:
    """Only the memory's crop pictures (``memory/.../*.jpg``), never another file of its data
    directory: any client of the broker may ask, and a SQLite memory's database lives there too."""
    return (
        relpath.startswith(f"{CROP_FOLDER}/")
        and relpath.endswith(".jpg")
        and "\0" not in relpath
        and ".." not in relpath.split("/")
    )


class CropServer:
    """Answers crop requests from the files of ``memory`` (only inside its data directory)."""

    def __init__(self, client: BrokerClient, memory: IdentityMemory) -> None:
        self._client = client
        self._memory = memory
        self._sub: Any = None
        self.served = 0

    def start(self) -> CropServer:
        self._sub = self._client.call(self._client.nc.subscribe(CROP_SUBJECT, cb=self._on_request))
        return self

    def stop(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            try:
                self._client.call(sub.unsubscribe())
            except Exception as exc:  # the broker is away: the subscription goes with the connection
                log.debug("crop server: unsubscribing: %s", self._client.scrub(str(exc)))

    async def _on_request(self, msg: Any) -> None:
        relpath = msg.data.decode("utf-8", "replace")
        if not msg.reply or not servable(relpath):
            return
        path = self._memory.crop_file(relpath)
        if path is None:
            return  # another memory service may have it
        try:
            data = await asyncio.to_thread(path.read_bytes)
            await msg.respond(data)
        except Exception as exc:
            log.debug("crop server: %s: %s", relpath, self._client.scrub(str(exc)))
            return
        self.served += 1
