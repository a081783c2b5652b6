"""Weights registry and resolution: order, checksums, messages, downloads from a local server."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import re
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from reidcam.core.errors import WeightsError
from reidcam.reid import weights as W
from reidcam.reid.registry import REGISTRY, WeightsFile, WeightsSpec

CONTENT = b"tiny weights for tests\n" * 100
SHA = hashlib.sha256(CONTENT).hexdigest()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on 127.0.0.1 serving files from a temporary folder: (base URL, folder)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _spec(url: str | None = "https://example.invalid/tiny.onnx", sha: str = SHA) -> WeightsSpec:
    return WeightsSpec(
        name="tiny",
        kind="reid",
        files=(WeightsFile("tiny.onnx", sha, url),),
        license="test",
        source="test",
        input_notes="none",
        backend="onnxruntime",
        preset="osnet",
        embedding_dim=8,
    )


@pytest.fixture()
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Empty env/config/cache dirs, the env var unset, and a 'tiny' registry entry."""
    monkeypatch.delenv(W.WEIGHTS_DIR_ENV, raising=False)
    monkeypatch.setitem(REGISTRY, "tiny", _spec())
    out = {k: tmp_path / k for k in ("env", "config", "cache")}
    for d in out.values():
        d.mkdir()
    return out


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the network must not be touched")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def _put(d: Path, content: bytes = CONTENT, name: str = "tiny.onnx") -> Path:
    p = d / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(content)
    return p


def test_explicit_existing_path_is_used_as_is(dirs: dict[str, Path]) -> None:
    p = _put(dirs["config"], b"anything, not verified", "custom.onnx")
    assert W.resolve_weights(p) == p
    assert W.resolve_weights(str(p), dirs["env"], cache_dir=dirs["cache"]) == p


def test_explicit_missing_path(dirs: dict[str, Path]) -> None:
    with pytest.raises(WeightsError, match=r"weights file not found: .*nope\.onnx"):
        W.resolve_weights(dirs["config"] / "nope.onnx", cache_dir=dirs["cache"])


def test_unknown_name_lists_known_names(dirs: dict[str, Path]) -> None:
    with pytest.raises(WeightsError, match="unknown weights name 'nope'") as exc:
        W.resolve_weights("nope", cache_dir=dirs["cache"])
    assert "osnet_x0_25_msmt17" in str(exc.value) and "yolov8n_int8" in str(exc.value)


def test_resolution_order(dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch, no_network: None) -> None:
    for d in dirs.values():
        _put(d)
    monkeypatch.setenv(W.WEIGHTS_DIR_ENV, str(dirs["env"]))
    assert W.resolve_weights("tiny", dirs["config"], cache_dir=dirs["cache"]) == dirs["env"] / "tiny.onnx"
    monkeypatch.delenv(W.WEIGHTS_DIR_ENV)
    assert W.resolve_weights("tiny", dirs["config"], cache_dir=dirs["cache"]) == dirs["config"] / "tiny.onnx"
    assert W.resolve_weights("tiny", None, cache_dir=dirs["cache"]) == dirs["cache"] / "tiny.onnx"


def test_checksum_mismatch_is_an_error_not_a_fallback(
    dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _put(dirs["env"], b"corrupt")
    _put(dirs["cache"])  # a good copy further down must not be used instead
    monkeypatch.setenv(W.WEIGHTS_DIR_ENV, str(dirs["env"]))
    with pytest.raises(WeightsError, match=r"checksum mismatch for .*env/tiny.onnx.*expected " + SHA):
        W.resolve_weights("tiny", cache_dir=dirs["cache"])


def test_missing_message_names_file_places_and_fix(dirs: dict[str, Path], no_network: None) -> None:
    with pytest.raises(WeightsError) as exc:
        W.resolve_weights("tiny", dirs["config"], allow_download=False, cache_dir=dirs["cache"])
    msg = str(exc.value)
    assert "\n" not in msg
    for part in (
        "tiny.onnx",
        str(dirs["config"]),
        str(dirs["cache"]),
        "$REIDCAM_WEIGHTS_DIR unset",
        "reidcam weights fetch tiny",
        "https://example.invalid/tiny.onnx",
    ):
        assert part in msg


def test_local_only_message(dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch, no_network: None) -> None:
    monkeypatch.setitem(REGISTRY, "tiny", _spec(url=None))
    with pytest.raises(WeightsError, match=f"no download address: copy the file \\(sha256 {SHA}\\)"):
        W.resolve_weights("tiny", allow_download=True, cache_dir=dirs["cache"])


def test_multi_file_model_needs_every_file(dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    xml, bin_ = b"<xml/>", b"\x00\x01"
    spec = WeightsSpec(
        name="ir",
        kind="reid",
        license="t",
        source="t",
        input_notes="t",
        files=(
            WeightsFile("ir/FP32/m.xml", hashlib.sha256(xml).hexdigest()),
            WeightsFile("ir/FP32/m.bin", hashlib.sha256(bin_).hexdigest()),
        ),
    )
    monkeypatch.setitem(REGISTRY, "ir", spec)
    _put(dirs["config"], xml, "ir/FP32/m.xml")
    with pytest.raises(WeightsError, match=r"m\.bin is missing"):
        W.resolve_weights("ir", dirs["config"], cache_dir=dirs["cache"])
    _put(dirs["config"], bin_, "ir/FP32/m.bin")
    assert (
        W.resolve_weights("ir", dirs["config"], cache_dir=dirs["cache"]) == dirs["config"] / "ir/FP32/m.xml"
    )


def test_verification_is_cached_by_size_and_mtime(
    dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _put(dirs["config"])
    calls: list[Path] = []
    real = W.sha256_file
    monkeypatch.setattr(W, "sha256_file", lambda p: calls.append(p) or real(p))
    for _ in range(3):
        W.resolve_weights("tiny", dirs["config"], cache_dir=dirs["cache"])
    assert len(calls) == 1
    st = path.stat()
    path.write_bytes(CONTENT[:-1] + b"?")  # same size, new mtime: hashed again and caught
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # coarse-clock filesystems
    with pytest.raises(WeightsError, match="checksum mismatch"):
        W.resolve_weights("tiny", dirs["config"], cache_dir=dirs["cache"])
    assert len(calls) == 2


def test_download_when_allowed(
    dirs: dict[str, Path], server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, served = server
    _put(served)
    monkeypatch.setitem(REGISTRY, "tiny", _spec(url=base + "tiny.onnx"))
    path = W.resolve_weights("tiny", dirs["config"], allow_download=True, cache_dir=dirs["cache"])
    assert path == dirs["cache"] / "tiny.onnx"
    assert path.read_bytes() == CONTENT
    assert not list(dirs["cache"].glob("*.part"))


def test_download_with_bad_checksum_leaves_nothing(
    dirs: dict[str, Path], server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, served = server
    _put(served, b"something else entirely")
    monkeypatch.setitem(REGISTRY, "tiny", _spec(url=base + "tiny.onnx"))
    with pytest.raises(WeightsError, match=r"failed its checksum.*nothing saved"):
        W.resolve_weights("tiny", allow_download=True, cache_dir=dirs["cache"])
    assert [p.name for p in dirs["cache"].iterdir() if not p.name.startswith(".verified")] == []


def test_download_http_error(
    dirs: dict[str, Path], server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, _ = server
    monkeypatch.setitem(REGISTRY, "tiny", _spec(url=base + "missing.onnx"))
    with pytest.raises(WeightsError, match=r"download of .*missing\.onnx failed: HTTP Error 404"):
        W.resolve_weights("tiny", allow_download=True, cache_dir=dirs["cache"])
    assert list(dirs["cache"].iterdir()) == []


def test_download_refuses_other_schemes(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="only http"):
        W.download_file("file:///etc/passwd", tmp_path / "x", SHA)


def test_no_download_without_permission(dirs: dict[str, Path], no_network: None) -> None:
    with pytest.raises(WeightsError, match="not found"):
        W.resolve_weights("tiny", dirs["config"], allow_download=False, cache_dir=dirs["cache"])
    assert list(dirs["cache"].iterdir()) == []


def test_fetch_with_url_override_then_skip(
    dirs: dict[str, Path], server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, served = server
    _put(served, name="elsewhere.bin")
    dest = dirs["config"] / "sub"
    assert W.fetch_weights("tiny", dest, url_override=base + "elsewhere.bin") == dest / "tiny.onnx"
    assert (dest / "tiny.onnx").read_bytes() == CONTENT
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("already verified"))
    W.fetch_weights("tiny", dest)


def test_fetch_local_only_model(dirs: dict[str, Path]) -> None:
    with pytest.raises(WeightsError, match="no download address"):
        W.fetch_weights("person-reidentification-retail-0288_onnx", dirs["cache"])


def test_list_weights(dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        REGISTRY,
        "tiny2",
        WeightsSpec(
            name="tiny2",
            kind="detector",
            files=(WeightsFile("t2.onnx", SHA),),
            license="t",
            source="t",
            input_notes="t",
        ),
    )
    _put(dirs["config"])
    _put(dirs["config"], b"bad", "t2.onnx")
    rows = {r.name: r for r in W.list_weights(dirs["config"], cache_dir=dirs["cache"])}
    assert set(REGISTRY) == set(rows)
    assert (
        rows["tiny"].present and rows["tiny"].verified and rows["tiny"].path == dirs["config"] / "tiny.onnx"
    )
    assert rows["tiny2"].present and not rows["tiny2"].verified and "checksum" in rows["tiny2"].error
    assert not rows["osnet_x0_25_msmt17"].present and rows["osnet_x0_25_msmt17"].downloadable


def test_registry_entries_are_complete() -> None:
    hex64, pinned = (
        re.compile(r"^[0-9a-f]{64}$"),
        re.compile(r"^https://github\.com/[^/]+/[^/]+/raw/[0-9a-f]{40}/"),
    )
    for name, spec in REGISTRY.items():
        assert spec.name == name and spec.kind in ("detector", "reid") and spec.license
        for f in spec.files:
            assert hex64.match(f.sha256), name
            assert f.url is None or pinned.match(f.url), name
        if spec.kind == "reid":
            assert spec.backend and spec.preset and spec.embedding_dim and spec.threshold, name
    assert REGISTRY["osnet_x0_25_msmt17"].embedding_dim == 512
    assert REGISTRY["person-reidentification-retail-0288"].filename.endswith(".xml")
    assert len(REGISTRY["person-reidentification-retail-0288"].urls) == 2
