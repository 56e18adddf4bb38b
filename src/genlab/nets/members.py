"""Many seeds as one net: K nets of one architecture turned into one whose weights are stacked.

A member-batched net takes and returns tensors with its K members folded into the batch axis,
member-major: rows k*B ... (k+1)*B - 1 belong to member k. Every leaf layer computes all members
with their own weights in one kernel — `baddbmm` for linear layers, a grouped convolution
(`groups=K`) for convolutions, batch norm over K x C channels (per-member statistics) — so a
member shares nothing with the others but the kernels. Each parameter and buffer has the shape
(K, *the plain layer's shape) under the plain layer's name, so member k's state is `[k]` of every
entry (`member_state`) and K plain states stack into a batched one (`stack_states`).

`stack_nets` rebuilds a net from the K plain nets leaf by leaf and keeps the net's own forward
code: it must treat the batch axis sample-wise (genlab's nets do; `MinibatchStd`, which mixes
samples on purpose, is given the member count). A layer it cannot batch exactly is refused.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from genlab.nets.layers import MinibatchStd

# Leaves without parameters that act on each element alone: the same module serves K members.
ELEMENTWISE = (
    nn.Identity,
    nn.ReLU,
    nn.LeakyReLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Softplus,
)
# Leaves without parameters that act on each sample's channels alone (resampling, pooling): the
# same module serves K members folded into the batch axis.
PER_SAMPLE = (nn.Upsample, nn.AvgPool2d)


class MemberError(ValueError):
    """A net or setting that cannot be trained as members, with the reason."""


def _stacked(tensors: Sequence[Tensor], like: Tensor) -> Tensor:
    return torch.stack([t.detach() for t in tensors]).to(like.device).clone()


def _stacked_parameter(parameters: Sequence[nn.Parameter]) -> nn.Parameter:
    return nn.Parameter(
        _stacked(parameters, parameters[0]), requires_grad=parameters[0].requires_grad
    )


def _original(layer: nn.Module, name: str) -> Tensor:
    """The trainable tensor behind `name` (the original of a parametrised weight)."""
    if parametrize.is_parametrized(layer, name):
        return layer.parametrizations[name].original
    return getattr(layer, name)


def to_channels(x: Tensor, members: int) -> Tensor:
    """(K*B, C, ...) member-major -> (B, K*C, ...): each member's channels side by side."""
    batch = x.shape[0] // members
    grouped = x.reshape(members, batch, *x.shape[1:]).transpose(0, 1)
    return grouped.reshape(batch, members * x.shape[1], *x.shape[2:])


def from_channels(x: Tensor, members: int) -> Tensor:
    """(B, K*C, ...) -> (K*B, C, ...) member-major: the inverse of to_channels."""
    batch, channels = x.shape[0], x.shape[1] // members
    grouped = x.reshape(batch, members, channels, *x.shape[2:]).transpose(0, 1)
    return grouped.reshape(members * batch, channels, *x.shape[2:])


class MemberLinear(nn.Module):
    """K linear layers: weight (K, out, in), bias (K, out); one baddbmm for all members."""

    def __init__(self, layers: Sequence[nn.Linear]) -> None:
        super().__init__()
        self.members = len(layers)
        self.in_features, self.out_features = layers[0].in_features, layers[0].out_features
        self.weight = _stacked_parameter([_original(layer, "weight") for layer in layers])
        self.bias = (
            _stacked_parameter([layer.bias for layer in layers])
            if layers[0].bias is not None
            else None
        )

    def forward(self, x: Tensor) -> Tensor:
        h = x.reshape(self.members, -1, x.shape[-1])
        weight = self.weight.transpose(1, 2)
        if self.bias is None:
            out = torch.bmm(h, weight)
        else:
            out = torch.baddbmm(self.bias.unsqueeze(1), h, weight)
        return out.reshape(*x.shape[:-1], self.out_features)


class _MemberConv(nn.Module):
    """K convolutions of one shape as one grouped convolution over (B, K*C, H, W)."""

    def __init__(self, layers: Sequence[nn.Conv2d | nn.ConvTranspose2d]) -> None:
        super().__init__()
        first = layers[0]
        if first.groups != 1 or first.padding_mode != "zeros":
            raise MemberError(
                f"members: {type(first).__name__} with groups={first.groups},"
                f" padding_mode={first.padding_mode!r} cannot be batched (groups=1, zeros only)"
            )
        self.members = len(layers)
        self.stride, self.padding, self.dilation = first.stride, first.padding, first.dilation
        self.weight = _stacked_parameter([_original(layer, "weight") for layer in layers])
        self.bias = (
            _stacked_parameter([layer.bias for layer in layers]) if first.bias is not None else None
        )

    def _grouped(self) -> tuple[Tensor, Tensor | None]:
        weight = self.weight  # once: a parametrised weight runs its power iteration per access
        return weight.reshape(-1, *weight.shape[2:]), (
            self.bias.reshape(-1) if self.bias is not None else None
        )


class MemberConv2d(_MemberConv):
    """K Conv2d layers: weight (K, out, in, kh, kw)."""

    def forward(self, x: Tensor) -> Tensor:
        weight, bias = self._grouped()
        out = F.conv2d(
            to_channels(x, self.members),
            weight,
            bias,
            self.stride,
            self.padding,
            self.dilation,
            groups=self.members,
        )
        return from_channels(out, self.members)


class MemberConvTranspose2d(_MemberConv):
    """K ConvTranspose2d layers: weight (K, in, out, kh, kw)."""

    def __init__(self, layers: Sequence[nn.ConvTranspose2d]) -> None:
        super().__init__(layers)
        self.output_padding = layers[0].output_padding

    def forward(self, x: Tensor) -> Tensor:
        weight, bias = self._grouped()
        out = F.conv_transpose2d(
            to_channels(x, self.members),
            weight,
            bias,
            self.stride,
            self.padding,
            self.output_padding,
            self.members,
            self.dilation,
        )
        return from_channels(out, self.members)


class MemberBatchNorm(nn.Module):
    """K batch norms (1-d or 2-d): statistics per member, over that member's samples only."""

    def __init__(self, layers: Sequence[nn.modules.batchnorm._BatchNorm]) -> None:
        super().__init__()
        first = layers[0]
        self.members = len(layers)
        self.eps, self.momentum = first.eps, first.momentum
        self.affine, self.track_running_stats = first.affine, first.track_running_stats
        if self.affine:
            self.weight = _stacked_parameter([layer.weight for layer in layers])
            self.bias = _stacked_parameter([layer.bias for layer in layers])
        if self.track_running_stats:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                buffers = [getattr(layer, name) for layer in layers]
                self.register_buffer(name, _stacked(buffers, buffers[0]))

    def forward(self, x: Tensor) -> Tensor:
        # the same decisions as torch's _BatchNorm.forward, made once for all members
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked[0])
        stats = self.track_running_stats  # the buffers exist exactly then
        out = F.batch_norm(
            to_channels(x, self.members),
            self.running_mean.view(-1) if stats else None,
            self.running_var.view(-1) if stats else None,
            self.weight.reshape(-1) if self.affine else None,
            self.bias.reshape(-1) if self.affine else None,
            self.training or not self.track_running_stats,
            factor,
            self.eps,
        )
        return from_channels(out, self.members)


class MemberGroupNorm(nn.Module):
    """K group norms (per sample, so per member); affine weight and bias (K, C)."""

    def __init__(self, layers: Sequence[nn.GroupNorm]) -> None:
        super().__init__()
        first = layers[0]
        self.members = len(layers)
        self.num_groups, self.eps, self.affine = first.num_groups, first.eps, first.affine
        if self.affine:
            self.weight = _stacked_parameter([layer.weight for layer in layers])
            self.bias = _stacked_parameter([layer.bias for layer in layers])

    def forward(self, x: Tensor) -> Tensor:
        out = F.group_norm(
            to_channels(x, self.members),
            self.members * self.num_groups,
            self.weight.reshape(-1) if self.affine else None,
            self.bias.reshape(-1) if self.affine else None,
            self.eps,
        )
        return from_channels(out, self.members)


class MemberLayerNorm(nn.Module):
    """K layer norms over the trailing feature axes; affine weight and bias (K, *shape)."""

    def __init__(self, layers: Sequence[nn.LayerNorm]) -> None:
        super().__init__()
        first = layers[0]
        self.members = len(layers)
        self.normalized_shape, self.eps = tuple(first.normalized_shape), first.eps
        self.weight = (
            _stacked_parameter([layer.weight for layer in layers])
            if first.weight is not None
            else None
        )
        self.bias = (
            _stacked_parameter([layer.bias for layer in layers]) if first.bias is not None else None
        )

    def forward(self, x: Tensor) -> Tensor:
        out = F.layer_norm(x, self.normalized_shape, None, None, self.eps)
        grouped = out.reshape(self.members, -1, *out.shape[1:])
        extra = [1] * (x.dim() - 1 - len(self.normalized_shape))
        if self.weight is not None:
            grouped = grouped * self.weight.view(self.members, 1, *extra, *self.normalized_shape)
        if self.bias is not None:
            grouped = grouped + self.bias.view(self.members, 1, *extra, *self.normalized_shape)
        return grouped.reshape(out.shape)


class MemberSpectralNorm(nn.Module):
    """Spectral normalisation of a stacked weight (K, *shape): one power iteration per member
    per training forward, each member with its own u, v (K, h), (K, w) — torch's
    parametrizations.spectral_norm, batched."""

    def __init__(self, norms: Sequence[nn.Module]) -> None:
        super().__init__()
        first = norms[0]
        self.dim, self.eps = first.dim, first.eps
        self.n_power_iterations = first.n_power_iterations
        self.register_buffer("_u", _stacked([n._u for n in norms], first._u))
        self.register_buffer("_v", _stacked([n._v for n in norms], first._v))

    def _matrices(self, weight: Tensor) -> Tensor:
        # torch moves `dim` to the front of each member's weight and flattens the rest
        return weight.movedim(self.dim + 1, 1).flatten(2)

    @torch.no_grad()
    def _power_method(self, matrices: Tensor) -> None:
        for _ in range(self.n_power_iterations):
            u = torch.bmm(matrices, self._v.unsqueeze(2)).squeeze(2)
            F.normalize(u, dim=1, eps=self.eps, out=self._u)
            v = torch.bmm(matrices.transpose(1, 2), self._u.unsqueeze(2)).squeeze(2)
            F.normalize(v, dim=1, eps=self.eps, out=self._v)

    def forward(self, weight: Tensor) -> Tensor:
        matrices = self._matrices(weight)
        if self.training:
            self._power_method(matrices)
        u = self._u.clone(memory_format=torch.contiguous_format)
        v = self._v.clone(memory_format=torch.contiguous_format)
        sigma = (u * torch.bmm(matrices, v.unsqueeze(2)).squeeze(2)).sum(dim=1)
        return weight / sigma.view(-1, *[1] * (weight.dim() - 1))


def _member_minibatch_std(layers: Sequence[MinibatchStd]) -> nn.Module:
    batched = copy.deepcopy(layers[0])
    batched.members = len(layers)
    return batched


LEAVES: dict[type, Callable[[Sequence[nn.Module]], nn.Module]] = {
    nn.Linear: MemberLinear,
    nn.Conv2d: MemberConv2d,
    nn.ConvTranspose2d: MemberConvTranspose2d,
    nn.BatchNorm1d: MemberBatchNorm,
    nn.BatchNorm2d: MemberBatchNorm,
    nn.GroupNorm: MemberGroupNorm,
    nn.LayerNorm: MemberLayerNorm,
    MinibatchStd: _member_minibatch_std,
}


def _leaf_kind(module: nn.Module) -> type | None:
    return next((kind for kind in LEAVES if isinstance(module, kind)), None)


def _stack_leaf(kind: type, layers: Sequence[nn.Module], path: str) -> nn.Module:
    batched = LEAVES[kind](layers)
    if parametrize.is_parametrized(layers[0], "weight"):
        norms = [layer.parametrizations.weight for layer in layers]
        if len(norms[0]) != 1 or type(norms[0][0]).__name__ != "_SpectralNorm":
            raise MemberError(
                f"members: {path} has a weight parametrisation other than spectral norm"
            )
        # unsafe: registering must not run a power iteration (the plain nets' u, v are copied)
        parametrize.register_parametrization(
            batched, "weight", MemberSpectralNorm([n[0] for n in norms]), unsafe=True
        )
    return batched


def _stack_into(batched: nn.Module, nets: Sequence[nn.Module], path: str) -> None:
    own = [n for n, _ in batched.named_parameters(recurse=False)]
    own += [n for n, _ in batched.named_buffers(recurse=False)]
    if own:
        raise MemberError(
            f"members: {path or 'the net'} ({type(batched).__name__}) holds tensors of its own"
            f" ({', '.join(own)}) that genlab cannot stack per member"
        )
    for name, child in list(batched.named_children()):
        children = [getattr(net, name) for net in nets]
        where = f"{path}.{name}" if path else name
        kind = _leaf_kind(child)
        if kind is not None:
            setattr(batched, name, _stack_leaf(kind, children, where))
        elif isinstance(child, ELEMENTWISE + PER_SAMPLE):
            continue
        elif any(True for _ in child.children()):
            _stack_into(child, children, where)
        else:
            raise MemberError(
                f"members: {where} is a {type(child).__name__}, which genlab cannot batch over"
                " members (it may mix the samples of different members); train the seeds as"
                " separate runs (members=1)"
            )


def stack_nets(nets: Sequence[nn.Module]) -> nn.Module:
    """One member-batched net from K plain nets of one architecture (member k = nets[k])."""
    if not nets:
        raise MemberError("members: no nets to stack")
    shapes = [[tuple(t.shape) for t in net.state_dict().values()] for net in nets]
    if any(s != shapes[0] for s in shapes):
        raise MemberError("members: the nets to stack differ in architecture")
    batched = copy.deepcopy(nets[0])
    kind = _leaf_kind(batched)
    if kind is not None:
        return _stack_leaf(kind, nets, type(batched).__name__)
    _stack_into(batched, nets, "")
    return batched


def member_state(state: Mapping[str, Tensor], member: int) -> dict[str, Tensor]:
    """Member `member`'s plain state dict from a batched one (copies, not views)."""
    return {key: value[member].clone() for key, value in state.items()}


def stack_states(states: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
    """The batched state dict of K plain ones (the inverse of member_state)."""
    return {key: torch.stack([s[key] for s in states]) for key in states[0]}
