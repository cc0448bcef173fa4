"""The sum of per-sample clipped gradients of a model whose ``forward(x, cond)`` returns per-sample losses.

DP-SGD needs ``Σ_i clip_C(∇ℓ_i)``: each individual's gradient scaled to L2 norm at most ``C``
(factor ``min(1, C / (‖∇ℓ_i‖ + 1e-6))``, exactly Opacus' rule), summed over the batch. Two engines:

* :func:`clipped_grad_sum_bookkeeping` (the default, fastest measured: see benchmarks/README.md): one
  ordinary forward and backward pass, with hooks that keep each layer's input and output gradient.
  The per-sample gradient *norms* come from those, per layer, by whichever is cheaper: materialising
  the per-sample weight gradient (``T·D_in·D_out`` per sample for ``T`` positions; on large feature
  maps by one grouped convolution with a group per sample, else unfold + bmm) or the "ghost norm" ``Σ_{t,s} (a aᵀ)_{ts} (g gᵀ)_{ts}``
  (``T²·(D_in + D_out)``), which wins on the small deep feature maps. The clipped sum is then each layer's ordinary weight gradient with the output
  gradients scaled by the clip factors: one GEMM, as in the non-private step (the "book-keeping"
  trick of Bu et al., 2023). Linear, Conv2d (groups 1) and GroupNorm have these fast rules; any
  other layer with parameters gets its per-sample gradients from ``torch.func`` (vmap of the layer's
  vjp). The parameters' own gradients are never computed by autograd, which saves the work the
  per-sample part adds.
* :func:`clipped_grad_sum_vmap`: ``vmap(grad)`` of the whole model with ``torch.func``: per-sample
  gradients of everything at once, general but slower on convolutions (functorch's batched
  convolution backward is a grouped convolution).

Both run the model's own randomness (latent draws, diffusion noise and timesteps) once per sample:
book-keeping is one ordinary forward pass; vmap runs with ``randomness="different"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, grad, vjp, vmap
from torch.nn import functional as F

CLIP_EPS = 1e-6
"""Added to the norm before dividing, as Opacus does, so a zero gradient gives a finite factor."""

CHUNK_FLOATS = 1 << 25
"""Floats of per-sample gradients or unfolded patches held at once per layer (128 MiB): larger
batches are cut into chunks, which bounds memory at the GPU preset's batch of 4096."""

VMAP_CHUNK_FLOATS = 1 << 27
"""Per-sample gradient floats the vmap engine holds at once (512 MiB; functorch's batched convolution
backward needs several times that again): unchunked, its turn in bench_dpsgd at the standard preset,
batch 512, was OOM-killed at 19.5 GB."""

GROUPED_MIN_POSITIONS = 256
"""Output positions from which a convolution's per-sample gradients come from one grouped convolution
rather than unfold + bmm: measured 1.3-3x faster at 16×16 (256 positions), up to 10x slower at 8×8."""


def clip_factors(sq_norms: torch.Tensor, max_grad_norm: float) -> torch.Tensor:
    """Opacus' per-sample factor ``min(1, C / (‖g_i‖ + 1e-6))`` from squared norms."""
    return (max_grad_norm / (sq_norms.sqrt() + CLIP_EPS)).clamp(max=1.0)


@dataclass
class _Call:
    """One call of a layer during the forward pass: its inputs and, after backward, its output gradient."""

    args: tuple
    kwargs: dict
    grad_out: Any = None


@dataclass
class _Layer:
    """A module that owns trainable parameters, and its calls in this step."""

    module: nn.Module
    params: dict[str, nn.Parameter]
    calls: list[_Call] = field(default_factory=list)


def clipped_grad_sum_bookkeeping(
    model: nn.Module, x: torch.Tensor, cond: torch.Tensor, *, max_grad_norm: float
) -> tuple[list[torch.Tensor | None], torch.Tensor]:
    """``(Σ_i clip(∇ℓ_i) per parameter in model.parameters() order, the per-sample losses)``.

    A frozen parameter (``requires_grad`` False) gets ``None``.

    Runs ``model(x, cond)`` once with hooks on every module that owns trainable parameters; the
    parameters do not require grad during the pass (their gradients are built here instead).
    """
    layers = [
        _Layer(m, {k: p for k, p in m.named_parameters(recurse=False) if p.requires_grad}) for m in model.modules()
    ]
    layers = [layer for layer in layers if layer.params]
    params = [p for layer in layers for p in layer.params.values()]
    if len({id(p) for p in params}) != len(params):
        raise ValueError("a parameter is shared between modules; use engine='vmap'")
    anchor = torch.zeros((), device=x.device, requires_grad=True)
    handles = [layer.module.register_forward_hook(_recorder(layer, anchor), with_kwargs=True) for layer in layers]
    try:
        for p in params:
            p.requires_grad_(False)
        losses = model(x, cond)
        if not losses.requires_grad:
            losses = losses + anchor
        losses.sum().backward()
    finally:
        for h in handles:
            h.remove()
        for p in params:
            p.requires_grad_(True)
    sq = torch.zeros(len(x), device=x.device, dtype=torch.float32)
    rules = []
    for layer in layers:
        layer_sq, clipped = _layer_rule(layer)
        sq += layer_sq
        rules.append(clipped)
    factors = clip_factors(sq, max_grad_norm)
    grads = {}
    for layer, clipped in zip(layers, rules, strict=True):
        grads.update({id(layer.params[k]): g for k, g in clipped(factors).items()})
    return [grads.get(id(p)) for p in model.parameters()], losses.detach()


def _recorder(layer: _Layer, anchor: torch.Tensor):
    """A forward hook that keeps the call's inputs and catches its output gradient.

    An output that does not require grad (a layer fed only by inputs that need none, such as a
    timestep embedding) gets a zero leaf added, so the backward pass still reaches it.
    """

    def hook(module, args, kwargs, output):
        if not isinstance(output, torch.Tensor):
            raise TypeError(
                f"{type(module).__name__} returns {type(output).__name__}, not one tensor; use engine='vmap'"
            )
        call = _Call(args, kwargs)
        layer.calls.append(call)
        if not output.requires_grad:
            output = output + anchor

        def keep(g):
            call.grad_out = g

        output.register_hook(keep)
        return output

    return hook


def _layer_rule(layer: _Layer):
    """(per-sample squared norm of this layer's gradient, factors → its clipped summed gradients)."""
    m, calls = layer.module, layer.calls
    if len(calls) == 1 and calls[0].grad_out is not None and not calls[0].kwargs:
        (inp, *rest), g = calls[0].args, calls[0].grad_out
        if not rest:
            if type(m) is nn.Linear:
                return _linear(m, inp, g)
            if type(m) is nn.Conv2d and m.groups == 1 and m.padding_mode == "zeros" and isinstance(m.padding, tuple):
                return _conv2d(m, inp, g)
            if type(m) is nn.GroupNorm:
                return _group_norm(m, inp, g)
    return _materialised(layer)


def _linear(m: nn.Linear, a: torch.Tensor, g: torch.Tensor):
    a3, g3 = a.reshape(len(a), -1, a.shape[-1]), g.reshape(len(g), -1, g.shape[-1])
    steps, d_in, d_out = a3.shape[1], a3.shape[2], g3.shape[2]
    if steps == 1:
        sq = a3.square().sum((1, 2)) * g3.square().sum((1, 2))
    elif steps * (d_in + d_out) < d_in * d_out:
        sq = _ghost(a3, g3)
    else:
        sq = _sq_norms(torch.bmm(g3.transpose(1, 2), a3).flatten(1))
    if m.bias is not None:
        sq = sq + g3.sum(1).square().sum(1)

    def clipped(f):
        gf = g3 * f[:, None, None]
        out = {"weight": gf.reshape(-1, d_out).t() @ a3.reshape(-1, d_in)}
        if m.bias is not None:
            out["bias"] = gf.sum((0, 1))
        return out

    return sq, clipped


def _sq_norms(per: torch.Tensor) -> torch.Tensor:
    """Row-wise squared L2 norms of ``(b, d)`` without a squared copy of the tensor."""
    return torch.linalg.vector_norm(per, dim=1).square()


def _ghost(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Per-sample ‖Σ_t g_t a_tᵀ‖² from Gram matrices over positions, without the gradient itself."""
    return (torch.bmm(a, a.transpose(1, 2)) * torch.bmm(g, g.transpose(1, 2))).sum((1, 2))


def _conv2d(m: nn.Conv2d, x: torch.Tensor, g: torch.Tensor):
    k, stride, pad, dil = m.kernel_size, m.stride, m.padding, m.dilation
    d_in, d_out, steps = m.in_channels * k[0] * k[1], m.out_channels, g.shape[2] * g.shape[3]
    ghost = steps * (d_in + d_out) < d_in * d_out
    grouped = not ghost and steps >= GROUPED_MIN_POSITIONS
    chunk = max(1, CHUNK_FLOATS // (steps * (d_in + d_out) if ghost else d_in * max(d_out, steps)))
    parts = []
    for lo in range(0, len(x), chunk):
        xb, gb = x[lo : lo + chunk], g[lo : lo + chunk]
        if grouped:  # the per-sample weight gradients as one grouped convolution (a group per sample)
            b = len(xb)
            per = torch.nn.grad.conv2d_weight(
                xb.reshape(1, -1, *xb.shape[2:]),
                (b * d_out, m.in_channels, *k),
                gb.reshape(1, -1, *gb.shape[2:]),
                stride,
                pad,
                dil,
                b,
            )
            parts.append(_sq_norms(per.reshape(b, -1)))
            continue
        a = F.unfold(xb, k, dilation=dil, padding=pad, stride=stride)  # (b, d_in, T)
        gb = gb.flatten(2)  # (b, d_out, T)
        if ghost:  # small feature map, many channels: Gram matrices of the patches
            parts.append(_ghost(a.transpose(1, 2), gb.transpose(1, 2)))
        else:
            parts.append(_sq_norms(torch.bmm(gb, a.transpose(1, 2)).flatten(1)))
    sq = torch.cat(parts) if parts else torch.zeros(0, device=x.device)
    if m.bias is not None:
        sq = sq + g.sum((2, 3)).square().sum(1)

    def clipped(f):
        gf = g * f[:, None, None, None]
        out = {"weight": torch.nn.grad.conv2d_weight(x, m.weight.shape, gf, stride, pad, dil, 1)}
        if m.bias is not None:
            out["bias"] = gf.sum((0, 2, 3))
        return out

    return sq, clipped


def _group_norm(m: nn.GroupNorm, x: torch.Tensor, g: torch.Tensor):
    xhat = F.group_norm(x, m.num_groups, eps=m.eps)
    per_w = (xhat * g).reshape(len(x), m.num_channels, -1).sum(2) if m.weight is not None else None
    per_b = g.reshape(len(x), m.num_channels, -1).sum(2) if m.bias is not None else None
    per = {k: v for k, v in (("weight", per_w), ("bias", per_b)) if v is not None}
    sq = sum(v.square().sum(1) for v in per.values())
    return sq, lambda f: {k: f @ v for k, v in per.items()}


def _materialised(layer: _Layer):
    """Per-sample gradients of any layer by ``torch.func``: vmap of its vjp, summed over its calls."""
    names = list(layer.params)
    detached = {k: p.detach() for k, p in layer.params.items()}
    per = {k: 0.0 for k in names}
    for call in layer.calls:
        if call.grad_out is None:
            continue

        def one(args, kwargs, g):
            def f(params):
                return functional_call(
                    layer.module, params, tuple(a[None] for a in args), {k: v[None] for k, v in kwargs.items()}
                )

            _, pullback = vjp(f, detached)
            return pullback(g[None])[0]

        got = vmap(one, randomness="different")(call.args, call.kwargs, call.grad_out)
        per = {k: per[k] + got[k] for k in names}
    per = {k: v for k, v in per.items() if isinstance(v, torch.Tensor)}
    n = len(layer.calls[0].args[0]) if layer.calls else 0
    device = next(iter(detached.values())).device
    sq = sum((v.flatten(1).square().sum(1) for v in per.values()), torch.zeros(n, device=device))
    return sq, lambda f: {k: torch.einsum("b,b...->...", f, v) for k, v in per.items()}


def clipped_grad_sum_vmap(
    model: nn.Module, x: torch.Tensor, cond: torch.Tensor, *, max_grad_norm: float, chunk_size: int | None = None
) -> tuple[list[torch.Tensor | None], torch.Tensor]:
    """The same sum as :func:`clipped_grad_sum_bookkeeping`, from ``vmap(grad)`` of the whole model."""
    named = {k: p.detach() for k, p in model.named_parameters() if p.requires_grad}

    def loss(params, xi, ci):
        out = functional_call(model, params, (xi[None], ci[None]))[0]
        return out, out

    if chunk_size is None:
        chunk_size = max(1, VMAP_CHUNK_FLOATS // sum(p.numel() for p in named.values()))
    per, losses = vmap(grad(loss, has_aux=True), in_dims=(None, 0, 0), randomness="different", chunk_size=chunk_size)(
        named, x, cond
    )
    sq = sum((g.flatten(1).square().sum(1) for g in per.values()), torch.zeros(len(x), device=x.device))
    factors = clip_factors(sq, max_grad_norm)
    summed = {k: torch.einsum("b,b...->...", factors, g) for k, g in per.items()}
    return [summed.get(k) for k, _ in model.named_parameters()], losses
