"""Fine-tune an OSNet embedder on a small labelled set, on the CPU, in minutes.

Recipe (torchreid's, scaled down): P x K batches (P identities, K images each), loss =
batch-hard triplet on the L2-normalised features (what matching compares), optionally plus
label-smoothed cross-entropy through a fresh identity classifier (thrown away afterwards, at
10x the backbone's learning rate). Adam.

``distill_weight`` > 0 adds a term that keeps the vectors close to the original model's on
the same images (for unlabelled adaptation, ``eval.finetune_memory``).

Defaults are the gentle end: triplet only, ``conv1``-``conv3`` frozen, 8 epochs. On a few hundred
crops the cross-entropy term separates the training domain more but pulls unrelated people of
other cameras closer together (docs/accuracy.md, "Fine-tuning"): with so little data, do no harm.

What keeps it small and stable:
- every BatchNorm stays in eval mode: the ONNX conversion folded the conv BNs (they hold no
  batch statistics), and batches of 32 give noisy statistics anyway;
- the stem and the first two stages (``conv1``-``conv3``) are frozen by default: filters
  learnt on MSMT17 need no change for a few hundred crops;
- augmentation is a horizontal flip and a random shift (pad 8 px, crop), on the already
  resized tensors.

Saved weights are a torchreid-format checkpoint (``{"state_dict": ...}``, no classifier) that
``ReidConfig(backend="torch", weights=path)`` loads, plus ``<file>.sha256``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reidcam.core.errors import DependencyError
from reidcam.eval.dataset import DatasetError, Item, read_images
from reidcam.reid.backends.preprocess import get_preset, preprocess

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneSettings:
    """Training knobs; the defaults take 1-2 minutes on 2 CPU cores for ~300 crops."""

    epochs: int = 8
    identities_per_batch: int = 8
    images_per_identity: int = 4
    lr: float = 1e-4
    weight_decay: float = 5e-4
    margin: float = 0.3
    ce_weight: float = 0.0
    label_smoothing: float = 0.1
    frozen: tuple[str, ...] = ("conv1", "conv2", "conv3")
    distill_weight: float = 0.0
    seed: int = 0
    max_seconds: float = 600.0


@dataclass
class TrainLog:
    """What happened: mean loss per epoch, steps, wall time."""

    epoch_loss: list[float] = field(default_factory=list)
    epoch_triplet: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    stopped_early: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise DependencyError("fine-tuning needs PyTorch: pip install torch torchvision") from exc
    return torch


def pk_batches(pids: NDArray[np.int64], p: int, k: int, rng: np.random.Generator) -> list[NDArray[np.int64]]:
    """One epoch of P x K index batches: every identity once, K images each (drawn with
    replacement when it has fewer). Identities with a single image cannot form a positive
    pair and are left out."""
    by_pid = {pid: np.flatnonzero(pids == pid) for pid in np.unique(pids)}
    usable = [pid for pid, idx in by_pid.items() if len(idx) >= 2]
    order = rng.permutation(len(usable))
    batches = []
    for start in range(0, len(order) - 1, p):  # a batch needs two identities for a negative
        chosen = [usable[i] for i in order[start : start + p]]
        if len(chosen) < 2:
            break
        idx = [rng.choice(by_pid[pid], k, replace=len(by_pid[pid]) < k) for pid in chosen]
        batches.append(np.concatenate(idx))
    return batches


def cooccur_batches(
    pids: NDArray[np.int64],
    negatives: frozenset[tuple[int, int]],
    p: int,
    k: int,
    rng: np.random.Generator,
) -> list[NDArray[np.int64]]:
    """One epoch of batches for unlabelled tracks: each batch is a track and up to ``p - 1`` of
    the tracks seen together with it (the only people known to be different), K images each.

    Every usable track (two or more images, one or more known negatives) seeds or joins at
    least one batch per epoch.
    """
    by_pid = {pid: np.flatnonzero(pids == pid) for pid in np.unique(pids).tolist()}
    usable = {pid for pid, idx in by_pid.items() if len(idx) >= 2}
    partners: dict[int, list[int]] = {pid: [] for pid in usable}
    for a, b in negatives:
        if a in usable and b in usable:
            partners[a].append(b)
            partners[b].append(a)
    covered: set[int] = set()
    batches = []
    for seed in rng.permutation(sorted(pid for pid in usable if partners[pid])).tolist():
        if seed in covered:
            continue
        others = sorted(partners[seed], key=lambda pid: (pid in covered, rng.random()))[: p - 1]
        chosen = [seed, *others]
        covered.update(chosen)
        idx = [rng.choice(by_pid[pid], k, replace=len(by_pid[pid]) < k) for pid in chosen]
        batches.append(np.concatenate(idx))
    return batches


def negative_mask(torch: Any, labels: Any, negatives: frozenset[tuple[int, int]]) -> Any:
    """[B, B] bool: True where the two images' identities are known to be different."""
    lab = labels.tolist()
    rows = [[(min(a, b), max(a, b)) in negatives for b in lab] for a in lab]
    return torch.tensor(rows, dtype=torch.bool)


def batch_hard_triplet(torch: Any, feats: Any, labels: Any, margin: float, neg_ok: Any = None) -> Any:
    """Batch-hard triplet loss on L2-normalised features (Euclidean distance = sqrt(2 - 2 cos)).

    ``neg_ok`` ([B, B] bool, optional): the pairs that may serve as negatives (default: every
    pair of different labels). Anchors without any allowed negative are left out of the mean.
    """
    f = torch.nn.functional.normalize(feats, dim=1)
    dist = (2.0 - 2.0 * f @ f.t()).clamp_min(1e-12).sqrt()
    same = labels[:, None] == labels[None, :]
    allowed = ~same if neg_ok is None else neg_ok & ~same
    hardest_pos = (dist * same).max(dim=1).values
    hardest_neg = dist.masked_fill(~allowed, float("inf")).min(dim=1).values
    valid = allowed.any(dim=1)
    if not bool(valid.any()):
        return feats.sum() * 0.0
    return torch.relu(hardest_pos - hardest_neg + margin)[valid].mean()


def _augment(torch: Any, x: Any, gen: Any) -> Any:
    """Random horizontal flip and a random shift of up to 8 px (zero padding)."""
    flip = torch.rand(x.shape[0], generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    pad = 8
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy, dx = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,), generator=gen))
    return padded[:, :, dy : dy + x.shape[2], dx : dx + x.shape[3]]


def _distill(torch: Any, feats: Any, teacher: Any, x: Any) -> Any:
    """Mean cosine distance between the trained and the original model's vectors of the same
    (augmented) images: keeps what the original knew about other cameras while adapting."""
    with torch.no_grad():
        target = teacher(x)
    return (1.0 - torch.nn.functional.cosine_similarity(feats, target, dim=1)).mean()


def _teacher(net: Any, weight: float) -> Any:
    """A frozen copy of ``net`` as it is before training (None when ``weight`` is 0)."""
    if weight <= 0:
        return None
    import copy

    teacher = copy.deepcopy(net).eval()
    for p in teacher.parameters():
        p.requires_grad = False
    return teacher


def _freeze(net: Any, frozen: Sequence[str]) -> list[Any]:
    """Freeze the named top-level blocks; return the parameters left to train."""
    for name, param in net.named_parameters():
        param.requires_grad = name.split(".")[0] not in frozen
    return [p for p in net.parameters() if p.requires_grad]


def _epoch(
    ctx: dict[str, Any], batches: list[NDArray[np.int64]], deadline: float
) -> tuple[float, float, bool]:
    torch, net, head, opt, s = ctx["torch"], ctx["net"], ctx["head"], ctx["opt"], ctx["settings"]
    losses: list[float] = []
    triplets: list[float] = []
    for idx in batches:
        if time.monotonic() > deadline:
            return float(np.mean(losses or [math.nan])), float(np.mean(triplets or [math.nan])), True
        x = _augment(torch, ctx["images"][idx], ctx["gen"])
        y = ctx["labels"][idx]
        feats = net(x)
        negatives = ctx["negatives"]
        neg_ok = None if negatives is None else negative_mask(torch, ctx["pids"][idx], negatives)
        trip = batch_hard_triplet(torch, feats, y, s.margin, neg_ok)
        loss = trip
        if s.ce_weight > 0:
            ce = torch.nn.functional.cross_entropy(head(feats), y, label_smoothing=s.label_smoothing)
            loss = loss + s.ce_weight * ce
        if ctx["teacher"] is not None:
            loss = loss + s.distill_weight * _distill(torch, feats, ctx["teacher"], x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        triplets.append(float(trip.detach()))
        ctx["log"].steps += 1
    return float(np.mean(losses)), float(np.mean(triplets)), False


def _batches(
    pids: NDArray[np.int64],
    negatives: frozenset[tuple[int, int]] | None,
    s: FinetuneSettings,
    rng: np.random.Generator,
) -> list[NDArray[np.int64]]:
    p, k = s.identities_per_batch, s.images_per_identity
    return pk_batches(pids, p, k, rng) if negatives is None else cooccur_batches(pids, negatives, p, k, rng)


def train(
    net: Any,
    items: Sequence[Item],
    settings: FinetuneSettings = FinetuneSettings(),
    on_epoch: Callable[[int, float], None] | None = None,
    negatives: frozenset[tuple[int, int]] | None = None,
) -> TrainLog:
    """Fine-tune ``net`` (a torch_models.OSNet) in place on the labelled crops of ``items``.

    ``negatives``: for unlabelled tracks (``eval.memory_set``), the pid pairs known to be
    different people; batches then group tracks seen together and only those pairs are pushed
    apart. None: labelled identities, every other identity is a negative.

    Raises:
        DatasetError: fewer than two identities with two or more images (or, with
            ``negatives``, no such pair known to be different).
    """
    torch = _import_torch()
    torch.manual_seed(settings.seed)
    pids = np.array([i.pid for i in items], np.int64)
    classes = {pid: n for n, pid in enumerate(sorted(set(pids.tolist())))}
    rng = np.random.default_rng(settings.seed)
    if not _batches(pids, negatives, settings, rng):
        raise DatasetError(
            "fine-tuning needs at least two identities with two or more images each"
            + ("" if negatives is None else ", seen together on one camera")
        )
    head = torch.nn.Linear(net.feature_dim, len(classes))
    params = _freeze(net, settings.frozen)
    opt = torch.optim.Adam(
        [{"params": params}, {"params": head.parameters(), "lr": settings.lr * 10}],
        lr=settings.lr,
        weight_decay=settings.weight_decay,
    )
    net.eval()  # BatchNorm frozen (see module docstring); gradients still flow
    images = torch.from_numpy(preprocess(read_images(items), get_preset("osnet")))
    labels = torch.tensor([classes[p] for p in pids.tolist()], dtype=torch.long)
    log_ = TrainLog()
    ctx = {
        "torch": torch,
        "net": net,
        "head": head,
        "opt": opt,
        "settings": settings,
        "images": images,
        "labels": labels,
        "gen": torch.Generator().manual_seed(settings.seed),
        "log": log_,
        "pids": pids,
        "negatives": negatives,
        "teacher": _teacher(net, settings.distill_weight),
    }
    t0 = time.monotonic()
    for epoch in range(settings.epochs):
        batches = _batches(pids, negatives, settings, rng)
        loss, trip, stopped = _epoch(ctx, batches, t0 + settings.max_seconds)
        log_.epoch_loss.append(round(loss, 5))
        log_.epoch_triplet.append(round(trip, 5))
        log.info("epoch %d: loss %.4f (triplet %.4f)", epoch + 1, loss, trip)
        if on_epoch is not None:
            on_epoch(epoch + 1, loss)
        if stopped:
            log_.stopped_early = True
            log.warning("fine-tuning stopped at its time budget of %.0f s", settings.max_seconds)
            break
    log_.seconds = round(time.monotonic() - t0, 1)
    for p in net.parameters():
        p.requires_grad = True
    return log_


def save_checkpoint(net: Any, path: Path) -> str:
    """Write a torchreid-format checkpoint and ``<path>.sha256`` (sha256sum format); return the hex digest."""
    torch = _import_torch()
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    torch.save({"state_dict": state}, str(path))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    Path(f"{path}.sha256").write_text(f"{digest}  {path.name}\n", encoding="utf-8")
    return digest


def export_onnx(net: Any, path: Path) -> Path | None:
    """ONNX export (input ``images`` [N, 3, 256, 128], output [N, 512]); None when the exporter fails."""
    torch = _import_torch()
    dummy = torch.zeros(1, 3, 256, 128)
    try:
        torch.onnx.export(
            net.eval(),
            (dummy,),
            str(path),
            input_names=["images"],
            output_names=["output"],
            dynamic_axes={"images": {0: "batch"}, "output": {0: "batch"}},
            dynamo=False,
        )
    except Exception as exc:  # the exporters raise many types; ONNX is optional here
        log.warning("ONNX export failed (%s); the .pth checkpoint is the result", exc)
        return None
    return path
