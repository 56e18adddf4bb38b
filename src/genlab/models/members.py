"""K seeds of one configuration trained as one member-batched model.

`stack_models` turns K plain models (each built from its own seed, exactly as a plain run builds
it) into one whose nets hold the K members' weights stacked (genlab.nets.members). One optimizer
over stacked weights is K independent optimizers (Adam, AdamW and SGD are elementwise) because
the loss is the sum of the members' own losses; gradient clipping is per member
(base.clip_member_gradients); every random draw comes from the member's own generator, seeded as
a plain run seeds its global one. `load_member` copies member k's state back into its plain model
(what the member's callbacks read), and `member_checkpoint` cuts a plain run's checkpoint out of
the batched one, so each member's `last.ckpt` is the checkpoint its plain run would write.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from genlab.models import rng_state
from genlab.models.base import GenerativeModel
from genlab.nets.members import MemberError, member_state, stack_nets, stack_states


def stack_models(plain: Sequence[GenerativeModel]) -> GenerativeModel:
    """One batched model from K plain models of one configuration (member k = plain[k])."""
    if len(plain) < 2:
        raise MemberError("members: stack at least 2 models (one seed trains as a plain run)")
    first = plain[0]
    if len({type(m) for m in plain}) != 1:
        raise MemberError("members: the models to stack are of different classes")
    batched = copy.deepcopy(first)
    for name, _ in first.named_nets():
        setattr(batched, name, stack_nets([getattr(m, name) for m in plain]))
    for name, parameter in first.named_parameters(recurse=False):  # e.g. the VAE's log sigma
        stacked = torch.stack([getattr(m, name).detach() for m in plain]).clone()
        batched._parameters[name] = nn.Parameter(stacked, requires_grad=parameter.requires_grad)
    for name, _ in first.named_buffers(recurse=False):
        batched._buffers[name] = torch.stack([getattr(m, name) for m in plain]).clone()
    batched.members = len(plain)
    batched.member_seeds = [int(m.seed) for m in plain]
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
