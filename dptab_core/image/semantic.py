"""PrivImage's semantic query: which public labels look like the sensitive images, under DP.

A small classifier is trained on the public labelled images (``public/<label>/*``) and cached under
the workspace (it reads only public data). Each sensitive image votes for its ``top_k`` most likely
public labels; the vote histogram gets Gaussian noise in one accounted release. Adding or removing
one individual changes ``top_k`` entries of the histogram by one each, so its L2 sensitivity is
``sqrt(top_k)``. The ``n_select`` labels with the most noisy votes are the public subset to pre-train
on (post-processing).

The same small classifier (:class:`SmallClassifier`, :func:`train_classifier`) serves the read-back
checks of the benchmarks and tests.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dptab_core.errors import InputError
from dptab_core.image.encoder import encode_images
from dptab_core.privacy.ledger import Ledger
from dptab_core.privacy.mechanisms import gaussian_release

STAGE = "semantic_query"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


@dataclass(frozen=True)
class SemanticQueryResult:
    """The chosen public labels, the released (noisy) vote of every label, and the label names."""

    selected_labels: list[str]
    noisy_votes: np.ndarray
    labels: list[str]


def load_public_images(
    public_dir: Path, *, size: int, channels: int, per_label: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Up to ``per_label`` images of each ``public_dir/<label>/`` as uint8 (n, size, size, channels).

    Returns ``(images, label indices, label names)``; labels are the sorted folder names.
    """
    from PIL import Image

    public_dir = Path(public_dir)
    labels = sorted(p.name for p in public_dir.iterdir() if p.is_dir()) if public_dir.is_dir() else []
    if not labels:
        raise InputError(
            "the public image folder has no label sub-folders",
            where=str(public_dir),
            hint="Lay the public set out as public/<label>/<image files>.",
        )
    rng = np.random.default_rng(seed)
    images, targets = [], []
    for index, label in enumerate(labels):
        files = sorted(f for f in (public_dir / label).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        for f in rng.permutation(np.array(files, dtype=object))[:per_label]:
            with Image.open(f) as im:
                im = im.convert("L" if channels == 1 else "RGB").resize((size, size), Image.Resampling.BOX)
                images.append(np.asarray(im, dtype=np.uint8).reshape(size, size, channels))
            targets.append(index)
    return np.stack(images), np.array(targets, dtype=np.int64), labels


def _groups(channels: int) -> int:
    return max(1, min(32, channels // 8))


def small_classifier(n_classes: int, channels: int, width: int):
    """A 3-stage conv net with GroupNorm and global pooling (works at any resolution ≥ 8)."""
    from torch import nn

    layers: list[nn.Module] = []
    ch = channels
    for out in (width, width * 2, width * 4):
        layers += [nn.Conv2d(ch, out, 3, padding=1), nn.GroupNorm(_groups(out), out), nn.SiLU(), nn.MaxPool2d(2)]
        ch = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(ch, n_classes))


def train_classifier(
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    *,
    width: int,
    steps: int,
    seed: int,
    device,
    batch_size: int = 128,
    lr: float = 3e-3,
    progress: Callable[[float], None] | None = None,
):
    """Train :func:`small_classifier` on float images ``x`` (n, C, r, r) in [-1, 1] and labels ``y``.

    ``progress`` gets the fraction of steps done about ten times: on a CPU with a cold cache this
    training is most of the semantic query's time.
    """
    import torch

    torch.manual_seed(seed)
    net = small_classifier(n_classes, x.shape[1], width).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    for step in range(steps):
        if progress is not None and step % max(1, steps // 10) == 0:
            progress(step / steps)
        idx = torch.as_tensor(rng.integers(0, len(xt), size=min(batch_size, len(xt))))
        xb = xt[idx]
        flip = torch.as_tensor(rng.random(len(idx)) < 0.5)
        xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
        loss = torch.nn.functional.cross_entropy(net(xb.to(device)), yt[idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net.eval()


def predict_proba(net, x: np.ndarray, device, batch_size: int = 512) -> np.ndarray:
    """Class probabilities (n, classes) of ``net`` for float images ``x``."""
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            out.append(torch.softmax(net(torch.as_tensor(x[start : start + batch_size]).to(device)), 1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))


def public_classifier(
    public_dir: Path,
    *,
    resolution: int,
    channels: int,
    per_label: int,
    width: int,
    steps: int,
    cache_dir: Path,
    device,
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
):
    """The public-label classifier, trained once per public set and settings, cached in ``cache_dir``.

    The cache key hashes the public file list (names and sizes) and the settings, so a changed public
    set retrains rather than reusing stale weights. Returns ``(net, label names)``.
    """
    import torch

    public_dir = Path(public_dir)
    listing = sorted((str(p.relative_to(public_dir)), p.stat().st_size) for p in public_dir.rglob("*") if p.is_file())
    key = hashlib.sha256(json.dumps([listing, resolution, channels, per_label, width, steps, seed]).encode())
    path = Path(cache_dir) / f"public-classifier-{key.hexdigest()[:16]}.pt"
    if path.exists():
        saved = torch.load(path, weights_only=True)
        net = small_classifier(len(saved["labels"]), channels, width).to(device)
        net.load_state_dict(saved["weights"])
        return net.eval(), list(saved["labels"])
    images, y, labels = load_public_images(
        public_dir, size=resolution, channels=channels, per_label=per_label, seed=seed
    )
    net = train_classifier(
        encode_images(images, resolution),
        y,
        len(labels),
        width=width,
        steps=steps,
        seed=seed,
        device=device,
        progress=progress,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"weights": net.state_dict(), "labels": labels}, path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)
    return net, labels


def vote_histogram(probabilities: np.ndarray, top_k: int) -> np.ndarray:
    """Each row votes once for each of its ``top_k`` most probable labels; the count per label.

    >>> vote_histogram(np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]]), 2).tolist()
    [1.0, 1.0, 2.0]
    """
    top = np.argsort(-probabilities, axis=1)[:, :top_k]
    return np.bincount(top.ravel(), minlength=probabilities.shape[1]).astype(float)


def semantic_query(
    sensitive_images: np.ndarray,
    public_dir: Path,
    *,
    sigma: float,
    top_k: int,
    n_select: int,
    rng: np.random.Generator,
    ledger: Ledger,
    cache_dir: Path,
    device,
    resolution: int,
    per_label: int,
    width: int,
    steps: int,
    progress: Callable[[float, str], None] | None = None,
) -> SemanticQueryResult:
    """Release the noisy top-k vote histogram of ``sensitive_images`` over the public labels; pick the best.

    ``sigma`` is the noise std of each histogram entry (the L2 sensitivity is ``sqrt(top_k)``).
    ``progress(fraction, message)`` never carries the votes: they are shown only once the stage is done.
    """
    report = progress or (lambda fraction, message: None)
    channels = sensitive_images.shape[-1] if sensitive_images.ndim == 4 else 1
    report(0.05, "the public-label classifier (trained once per public folder, then cached)")
    net, labels = public_classifier(
        public_dir,
        resolution=resolution,
        channels=channels,
        per_label=per_label,
        width=width,
        steps=steps,
        cache_dir=cache_dir,
        device=device,
        progress=lambda f: report(0.05 + 0.8 * f, "training the public-label classifier"),
    )
    top_k = min(top_k, len(labels))
    report(0.9, f"each private image votes for its {top_k} closest public labels; one noisy count per label")
    votes = vote_histogram(predict_proba(net, encode_images(sensitive_images, resolution), device), top_k)
    noisy = gaussian_release(
        votes,
        sensitivity=math.sqrt(top_k),
        sigma=sigma,
        rng=rng,
        ledger=ledger,
        stage=STAGE,
        label=f"top-{top_k} votes over {len(labels)} public labels",
        details={"labels": labels, "top_k": top_k},
    )
    order = np.argsort(-noisy, kind="stable")[:n_select]
    return SemanticQueryResult(selected_labels=[labels[i] for i in order], noisy_votes=noisy, labels=labels)
