"""K seeds of one configuration trained as one member-batched model.

`stack_models` turns K plain models (each built from its own seed, exactly as a plain run builds
it) into one whose nets hold the K members' weights stacked (genlab.nets.members). One optimizer
over stacked weights is K independent optimizers (Adam, AdamW and SGD are elementwise) because
the loss is the sum of the members' own losses; gradient clipping is per member
(clip_member_gradients); every random draw comes from the member's own generator, seeded as
a plain run seeds its global one. The batched model is its plain class with MemberBatched in
front: the plain models draw and reduce only through the base's hooks (GenerativeModel.noise,
rand_like, per_run, ...), which MemberBatched overrides, so they read as if members did not
exist. `load_member` copies member k's state back into its plain model
(what the member's callbacks read), and `member_checkpoint` cuts a plain run's checkpoint out of
the batched one, so each member's `last.ckpt` is the checkpoint its plain run would write.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from genlab.models import rng_state
from genlab.models.base import GenerativeModel
from genlab.nets.members import MemberError, member_state, stack_nets, stack_states


class MemberBatched:
    """In front of a GenerativeModel class: K runs' samples folded into every batch, member-major
    (member k's n samples are rows k*n .. k*n + n - 1), each member drawing from its own
    generator. Set up by stack_models."""

    members: int  # K
    member_seeds: list[int]
    member_generators: list[torch.Generator]
    _restored_member_rng: list[dict[str, Any]]

    # --- the base's hooks, per member -------------------------------------------------------
    def _member_draws(
        self, draw: Callable[..., Tensor], n: int, shape: tuple, dtype: Any
    ) -> Tensor:
        return torch.cat(
            [
                draw(n, *shape, generator=g, device=self.device, dtype=dtype)
                for g in self.member_generators
            ]
        )

    def noise(self, n: int) -> Tensor:  # n per member
        return self._member_draws(torch.randn, n, (self.latent_dim,), None)

    def noise_like(self, batch: Tensor) -> Tensor:
        return self.noise(batch.shape[0] // self.members)

    def randn_like(self, x: Tensor) -> Tensor:
        return self._member_draws(torch.randn, x.shape[0] // self.members, x.shape[1:], x.dtype)

    def rand_like(self, x: Tensor, *shape: int) -> Tensor:
        return self._member_draws(torch.rand, x.shape[0] // self.members, shape, None)

    def per_run(self, values: Tensor) -> Tensor:  # (K * n, ...) -> (K, n, ...)
        return values.view(self.members, -1, *values.shape[1:])

    def per_sample(self, value: Tensor, x: Tensor) -> Tensor:  # (K,) -> (K * n, 1, ...)
        per_member = x.shape[0] // self.members
        return value.repeat_interleave(per_member).view(-1, *[1] * (x.dim() - 1))

    def optimize(self, optimizer: Any, loss: Tensor) -> None:
        # one value per member: their sum leaves each member its own gradient
        super().optimize(optimizer, loss.sum())  # type: ignore[misc]

    def clip(self, optimizer: Any, max_norm: float) -> None:
        clip_member_gradients(optimizer, max_norm, self.members)

    def on_train_start(self) -> None:
        resumed = self._restored_rng is not None
        super().on_train_start()  # type: ignore[misc]
        if resumed:  # each member continues its own stream
            self.member_generators = [
                _generator_from(state, self.device) for state in self._restored_member_rng
            ]
        else:  # member k draws what a plain run of its seed draws
            self.member_generators = [
                torch.Generator(self.device).manual_seed(seed + self.global_rank)
                for seed in self.member_seeds
            ]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)  # type: ignore[misc]
        self._restored_member_rng = checkpoint["genlab"].get("member_rng", [])


@functools.cache
def batched_class(plain: type[GenerativeModel]) -> type[GenerativeModel]:
    """`plain` with MemberBatched in front (one class per model class)."""
    return type(f"Members{plain.__name__}", (MemberBatched, plain), {})


def stack_models(plain: Sequence[GenerativeModel]) -> GenerativeModel:
    """One batched model from K plain models of one configuration (member k = plain[k])."""
    if len(plain) < 2:
        raise MemberError("members: stack at least 2 models (one seed trains as a plain run)")
    first = plain[0]
    if len({type(m) for m in plain}) != 1:
        raise MemberError("members: the models to stack are of different classes")
    batched = copy.deepcopy(first)
    batched.__class__ = batched_class(type(first))
    for name, _ in first.named_nets():
        setattr(batched, name, stack_nets([getattr(m, name) for m in plain]))
    for name, parameter in first.named_parameters(recurse=False):  # e.g. the VAE's log sigma
        stacked = torch.stack([getattr(m, name).detach() for m in plain]).clone()
        batched._parameters[name] = nn.Parameter(stacked, requires_grad=parameter.requires_grad)
    for name, _ in first.named_buffers(recurse=False):
        batched._buffers[name] = torch.stack([getattr(m, name) for m in plain]).clone()
    batched.members = len(plain)
    batched.member_seeds = [int(m.seed) for m in plain]
    batched.member_generators = []
    batched._restored_member_rng = []
    return batched


@torch.no_grad()
def load_member(batched: GenerativeModel, member: int, plain: GenerativeModel) -> None:
    """Copy member `member`'s weights and buffers from the batched model into its plain model."""
    state = batched.state_dict(keep_vars=True)
    targets = plain.state_dict(keep_vars=True)
    torch._foreach_copy_([targets[key] for key in targets], [state[key][member] for key in targets])


# Optimizer state entries that count steps (torch's Adam, AdamW, RMSprop, Adagrad...): one value
# shared by the members; every other tensor entry holds one value per weight element
SHARED_STATE = ("step",)


def member_optimizer_state(state: dict[str, Any], member: int) -> dict[str, Any]:
    """A plain optimizer's state dict from a batched one: per-element tensors (exp_avg, ...) are
    sliced, the shared step count copied."""
    per_param = {
        index: {
            key: (value.clone() if key in SHARED_STATE else value[member].clone())
            if isinstance(value, Tensor)
            else value
            for key, value in entries.items()
        }
        for index, entries in state["state"].items()
    }
    return {"state": per_param, "param_groups": copy.deepcopy(state["param_groups"])}


def member_rng(generator: torch.Generator) -> dict[str, Any]:
    """rng_state's format, with the member's generator as the torch stream of its device."""
    state = rng_state.capture()
    if generator.device.type == "cuda":
        cuda = list(state.get("cuda", torch.cuda.get_rng_state_all()))
        cuda[generator.device.index or 0] = generator.get_state()
        state["cuda"] = cuda
    else:
        state["torch"] = generator.get_state()
    return state


def member_checkpoint(
    batched_checkpoint: dict[str, Any],
    member: int,
    plain: GenerativeModel,
    generator: torch.Generator,
    callbacks: dict[str, Any],
) -> dict[str, Any]:
    """The checkpoint a plain run of member `member` would write at this point: its weights,
    optimizer states, RNG stream, run state, scalar records and callback states; the loops'
    progress is the batched run's (it takes the same steps)."""
    checkpoint = {
        key: value
        for key, value in batched_checkpoint.items()
        if key not in ("state_dict", "optimizer_states", "genlab", "callbacks")
    }
    checkpoint["state_dict"] = member_state(batched_checkpoint["state_dict"], member)
    checkpoint["optimizer_states"] = [
        member_optimizer_state(state, member) for state in batched_checkpoint["optimizer_states"]
    ]
    plain.on_save_checkpoint(checkpoint)  # its iteration, run state and scalar records
    checkpoint["genlab"]["rng"] = member_rng(generator)
    checkpoint["callbacks"] = callbacks
    return checkpoint


def _stack_optimizer_states(states: Sequence[dict[str, Any]]) -> dict[str, Any]:
    first = states[0]
    per_param = {
        index: {
            key: (
                torch.stack([s["state"][index][key] for s in states])
                if isinstance(value, Tensor) and key not in SHARED_STATE
                else value
            )
            for key, value in entries.items()
        }
        for index, entries in first["state"].items()
    }
    return {"state": per_param, "param_groups": copy.deepcopy(first["param_groups"])}


def stack_checkpoints(checkpoints: Sequence[dict[str, Any]], callbacks_key: str) -> dict[str, Any]:
    """The batched run's checkpoint from its members' (all at one iteration): the inverse of
    member_checkpoint. Member callback states go to the callback under `callbacks_key`, each
    member's RNG stream and genlab state to genlab's `member_rng` / `members`."""
    iterations = {int(c["genlab"]["iteration"]) for c in checkpoints}
    if len(iterations) != 1:
        raise MemberError(f"members: checkpoints of different iterations {sorted(iterations)}")
    first = checkpoints[0]
    stacked = {
        key: value
        for key, value in first.items()
        if key not in ("state_dict", "optimizer_states", "genlab", "callbacks")
    }
    stacked["state_dict"] = stack_states([c["state_dict"] for c in checkpoints])
    stacked["optimizer_states"] = [
        _stack_optimizer_states([c["optimizer_states"][i] for c in checkpoints])
        for i in range(len(first["optimizer_states"]))
    ]
    stacked["genlab"] = {
        "iteration": first["genlab"]["iteration"],
        "rng": first["genlab"]["rng"],
        "member_rng": [c["genlab"]["rng"] for c in checkpoints],
        "run_state": first["genlab"]["run_state"],
        "scalar_sums": {},
        "scalar_counts": {},
    }
    stacked["callbacks"] = {callbacks_key: {"members": [c["callbacks"] for c in checkpoints]}}
    return stacked


def _generator_from(state: dict[str, Any], device: torch.device) -> torch.Generator:
    """A member's generator on `device`, from its run's captured RNG state (rng_state)."""
    generator = torch.Generator(device)
    if device.type == "cuda":
        generator.set_state(state["cuda"][device.index or 0])
    else:
        generator.set_state(state["torch"])
    return generator


def clip_member_gradients(optimizer: Any, max_norm: float, members: int) -> None:
    """clip_grad_norm_ per member: each member's gradients scaled by its own total norm."""
    grads = [
        p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None
    ]
    if not grads:
        return
    norms = torch.stack([torch.linalg.vector_norm(g.reshape(members, -1), dim=1) for g in grads])
    total = torch.linalg.vector_norm(norms, dim=0)
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.mul_(scale.view(members, *[1] * (g.dim() - 1)).to(g.dtype))
