"""Find, verify and download model weights by registry name.

Resolution order for ``resolve_weights``: an existing explicit path is used as is; a registry
name is looked up as ``<dir>/<filename>`` in ``$REIDCAM_WEIGHTS_DIR``, then the configured
weights dir, then the user cache dir; only when ``allow_download`` is it downloaded into the
cache. A file found by name is always checked against its recorded sha256, and a wrong or
missing file is an error: there is never a silent fall back to other weights.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from reidcam.core.errors import WeightsError
from reidcam.reid.registry import REGISTRY, WeightsFile, WeightsSpec

log = logging.getLogger(__name__)

WEIGHTS_DIR_ENV = "REIDCAM_WEIGHTS_DIR"
_CHUNK = 1 << 20
_VERIFY_CACHE_NAME = ".verified.json"
DOWNLOAD_TIMEOUT_S = 60.0


def default_cache_dir() -> Path:
    """``platformdirs.user_cache_dir("reidcam")/weights`` (not created here)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("reidcam")) / "weights"


def get_spec(name: str) -> WeightsSpec:
    """Registry entry for ``name``; WeightsError listing the known names otherwise."""
    spec = REGISTRY.get(name)
    if spec is None:
        known = ", ".join(sorted(REGISTRY))
        raise WeightsError(
            f"unknown weights name {name!r}: not an existing file either; known names: {known}"
        )
    return spec


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


class _VerifyCache:
    """Remembers ``path -> (size, mtime_ns, sha256)`` in a JSON file so big files are hashed once.

    A file whose size or mtime changed is hashed again. Failing to read or write the cache file
    (read-only home, corrupt JSON) only costs a rehash.
    """

    def __init__(self, cache_dir: Path) -> None:
        self.file = cache_dir / _VERIFY_CACHE_NAME

    def _load(self) -> dict[str, list[object]]:
        try:
            data = json.loads(self.file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def sha256(self, path: Path) -> str:
        st = path.stat()
        key = str(path.resolve())
        data = self._load()
        hit = data.get(key)
        if isinstance(hit, list) and hit[:2] == [st.st_size, st.st_mtime_ns]:
            return str(hit[2])
        digest = sha256_file(path)
        data[key] = [st.st_size, st.st_mtime_ns, digest]
        self._store(data)
        return digest

    def _store(self, data: dict[str, list[object]]) -> None:
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.file.parent, prefix=".verified.", suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                json.dump(data, f)
            os.replace(tmp, self.file)
        except OSError as exc:
            log.debug("could not write the weights verification cache %s: %s", self.file, exc)


def _verify_file(path: Path, wf: WeightsFile, cache: _VerifyCache) -> None:
    digest = cache.sha256(path)
    if digest != wf.sha256:
        raise WeightsError(
            f"checksum mismatch for {path}: sha256 {digest}, expected {wf.sha256}; "
            "the file is corrupt or different weights: replace it or delete it and fetch again"
        )


def _verify_in(root: Path, spec: WeightsSpec, cache: _VerifyCache) -> Path:
    """Check every file of ``spec`` under ``root``; return the path of the primary file."""
    for wf in spec.files:
        path = root / wf.path
        if not path.is_file():
            raise WeightsError(f"{spec.name}: {root / spec.filename} is there but {path} is missing")
        _verify_file(path, wf, cache)
    return root / spec.filename


def _search_dirs(weights_dir: Path | None, cache_dir: Path) -> list[tuple[str, Path]]:
    dirs: list[tuple[str, Path]] = []
    env = os.environ.get(WEIGHTS_DIR_ENV)
    if env:
        dirs.append((f"${WEIGHTS_DIR_ENV}", Path(env).expanduser()))
    if weights_dir is not None:
        dirs.append(("weights dir", Path(weights_dir).expanduser()))
    dirs.append(("cache", cache_dir))
    return dirs


def _looks_like_path(text: str) -> bool:
    return "/" in text or os.sep in text or Path(text).suffix != ""


def _missing_message(spec: WeightsSpec, dirs: list[tuple[str, Path]]) -> str:
    env_note = "" if os.environ.get(WEIGHTS_DIR_ENV) else f" (${WEIGHTS_DIR_ENV} unset)"
    places = ", ".join(f"{label} {d}" for label, d in dirs) + env_note
    if spec.downloadable:
        how = f"run `reidcam weights fetch {spec.name}` or download {' and '.join(spec.urls)} there"
    else:
        how = f"it has no download address: copy the file (sha256 {spec.files[0].sha256}) there by hand"
    return f"weights {spec.name!r} not found: looked for {spec.filename} in {places}; {how}"


def resolve_weights(
    name_or_path: str | Path,
    weights_dir: Path | None = None,
    allow_download: bool = False,
    *,
    cache_dir: Path | None = None,
) -> Path:
    """Turn a config value (a path or a registry name) into a verified local file.

    Args:
        name_or_path: an existing file/dir path (used as is, unverified), or a registry name.
        weights_dir: the configured weights directory (``weights.dir``), searched after the env var.
        allow_download: download a missing registry file into the cache (never otherwise).
        cache_dir: override of the user cache dir (tests).

    Returns:
        Path of the file a loader opens (for OpenVINO IR, the ``.xml``; its ``.bin`` is beside it).

    Raises:
        WeightsError: unknown name, missing file, failed download or checksum mismatch.
    """
    explicit = Path(name_or_path).expanduser()
    if explicit.exists():
        return explicit
    name = str(name_or_path)
    if name not in REGISTRY and _looks_like_path(name):
        raise WeightsError(f"weights file not found: {explicit}")
    spec = get_spec(name)
    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    cache = _VerifyCache(cache_dir)
    dirs = _search_dirs(weights_dir, cache_dir)
    for _, root in dirs:
        if (root / spec.filename).exists():
            return _verify_in(root, spec, cache)
    if allow_download and spec.downloadable:
        return fetch_weights(spec.name, cache_dir)
    raise WeightsError(_missing_message(spec, dirs))


def _progress(total: int | None, name: str) -> Any:
    """A tqdm bar on stderr when tqdm is installed and stderr is a terminal, else None."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="B", unit_scale=True, desc=name, disable=None, leave=False)


def _stream_to(url: str, out: BinaryIO, timeout_s: float, name: str) -> str:
    """Copy the body of ``url`` into the open binary file ``out``; return its sha256."""
    h = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # only http(s): checked by the caller
        length = resp.headers.get("Content-Length")
        bar = _progress(int(length) if length and length.isdigit() else None, name)
        try:
            for chunk in iter(lambda: resp.read(_CHUNK), b""):
                h.update(chunk)
                out.write(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    return h.hexdigest()


def download_file(url: str, dest: Path, sha256: str, timeout_s: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Download ``url`` to ``dest``: temp file beside it, sha256 check, then atomic rename.

    Nothing is left at ``dest`` (nor a temp file) when the download or the check fails.

    Raises:
        WeightsError: bad scheme, network/HTTP error, or checksum mismatch.
    """
    if not url.startswith(("https://", "http://")):
        raise WeightsError(f"refusing to download {url!r}: only http(s) addresses are allowed")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _stream_to(url, out, timeout_s, dest.name)
        if digest != sha256:
            raise WeightsError(
                f"download of {url} failed its checksum: sha256 {digest}, expected {sha256}; nothing saved"
            )
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError) as exc:
        raise WeightsError(f"download of {url} failed: {exc}; nothing was saved") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    log.info("downloaded %s to %s", url, dest)
    return dest


def _file_urls(spec: WeightsSpec, url_override: str | None) -> list[str]:
    if url_override is None:
        if not spec.downloadable:
            raise WeightsError(
                f"weights {spec.name!r} have no download address; copy {spec.filename} "
                f"(sha256 {spec.files[0].sha256}) into the weights dir by hand"
            )
        return [str(f.url) for f in spec.files]
    if len(spec.files) == 1:
        return [url_override]
    if not url_override.endswith("/"):
        raise WeightsError(
            f"{spec.name!r} has {len(spec.files)} files: give a base URL ending with '/' "
            "to which each file name is appended"
        )
    return [url_override + Path(f.path).name for f in spec.files]


def fetch_weights(
    name: str,
    dest_dir: Path | None = None,
    url_override: str | None = None,
    timeout_s: float = DOWNLOAD_TIMEOUT_S,
) -> Path:
    """Download every file of registry entry ``name`` into ``dest_dir`` (default: user cache).

    Files already there with the right sha256 are kept; a wrong one is replaced.
    ``url_override`` replaces the address: the file URL for a one-file model, a base URL
    ending in '/' for a multi-file one. Returns the path of the primary file.

    Raises:
        WeightsError: unknown name, no address, network error or checksum mismatch.
    """
    spec = get_spec(name)
    dest_dir = default_cache_dir() if dest_dir is None else Path(dest_dir)
    cache = _VerifyCache(dest_dir)
    for wf, url in zip(spec.files, _file_urls(spec, url_override), strict=True):
        dest = dest_dir / wf.path
        if dest.is_file():
            if cache.sha256(dest) == wf.sha256:
                log.info("%s already present and verified", dest)
                continue
            log.warning("%s has the wrong sha256; downloading it again", dest)
        download_file(url, dest, wf.sha256, timeout_s)
    return dest_dir / spec.filename


@dataclass(frozen=True)
class WeightsStatus:
    """One row of ``reidcam weights list``: ``path`` is None when the file was not found."""

    name: str
    kind: str
    filename: str
    path: Path | None
    present: bool
    verified: bool
    downloadable: bool
    error: str = ""


def _status(spec: WeightsSpec, dirs: list[tuple[str, Path]], cache: _VerifyCache) -> WeightsStatus:
    missing = WeightsStatus(
        spec.name,
        spec.kind,
        spec.filename,
        path=None,
        present=False,
        verified=False,
        downloadable=spec.downloadable,
    )
    for _, root in dirs:
        if (root / spec.filename).exists():
            try:
                path = _verify_in(root, spec, cache)
            except WeightsError as exc:
                return replace(missing, path=root / spec.filename, present=True, error=str(exc))
            return replace(missing, path=path, present=True, verified=True)
    return missing


def list_weights(weights_dir: Path | None = None, *, cache_dir: Path | None = None) -> list[WeightsStatus]:
    """Every registry entry with where it was found (same search as ``resolve_weights``) and its check."""
    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    dirs = _search_dirs(weights_dir, cache_dir)
    cache = _VerifyCache(cache_dir)
    return [_status(spec, dirs, cache) for spec in REGISTRY.values()]
