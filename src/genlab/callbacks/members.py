"""The callbacks of K member runs inside one batched training run.

Each member keeps the callbacks, loggers and data module a plain run of its seed has, and its
plain model (genlab.models.members): before its callbacks run, the plain model is given the
member's iteration, scalar records and — at iterations where one of them acts — its weights.
They see a `MemberTrainer`: the real trainer with the member's loggers, data module, stop
request and checkpoint writer. A member whose callbacks stop it (divergence) or fail ends there,
as its plain run would; the others go on. Training stops when every member has ended.
"""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L

from genlab.callbacks.checkpoint import save_atomically
from genlab.callbacks.iteration import IterationCallback
from genlab.callbacks.stop import StopCheckpoint
from genlab.models.base import GenerativeModel
from genlab.models.members import load_member, member_checkpoint

log = logging.getLogger(__name__)
# the member whose callbacks are running (None: all), for the members' log files
CURRENT_MEMBER: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "genlab_member", default=None
)


@dataclass
class MemberRun:
    """One member of a batched run: its plain model, data module, callbacks and loggers."""

    index: int
    model: GenerativeModel
    datamodule: Any
    callbacks: list[L.Callback]
    loggers: list[Any]
    stop_requested: bool = False
    ended: bool = False
    cadences: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cadences = [
            c.every_n_iterations for c in self.callbacks if isinstance(c, IterationCallback)
        ]


class MemberTrainer:
    """The trainer as one member's callbacks see it."""

    def __init__(self, trainer: L.Trainer, member: MemberRun) -> None:
        self._trainer = trainer
        self._member = member

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trainer, name)

    @property
    def loggers(self) -> list[Any]:
        return self._member.loggers

    @property
    def logger(self) -> Any:
        return self._member.loggers[0] if self._member.loggers else None

    @property
    def callbacks(self) -> list[L.Callback]:
        return self._member.callbacks

    @property
    def datamodule(self) -> Any:
        return self._member.datamodule

    @property
    def lightning_module(self) -> GenerativeModel:
        return self._member.model

    @property
    def should_stop(self) -> bool:
        return self._member.stop_requested

    @should_stop.setter
    def should_stop(self, value: bool) -> None:
        self._member.stop_requested = self._member.stop_requested or bool(value)

    def save_checkpoint(self, filepath: str | Path, weights_only: bool = False, **_: Any) -> None:
        """The member's own checkpoint: what its plain run would save here."""
        trainer, member = self._trainer, self._member
        batched = trainer.lightning_module
        states = {cb.state_key: cb.state_dict() for cb in member.callbacks if cb.state_dict()}
        checkpoint = member_checkpoint(
            trainer._checkpoint_connector.dump_checkpoint(weights_only=False),
            member.index,
            member.model,
            batched.member_generators[member.index],
            states,
        )
        trainer.strategy.save_checkpoint(checkpoint, filepath)


class MemberCallbacks(L.Callback):
    """Runs each member's callbacks for the batched run's hooks (see the module docstring)."""

    def __init__(self, members: list[MemberRun]) -> None:
        self.members = members

    def _running(self) -> list[MemberRun]:
        return [m for m in self.members if not m.ended]

    def _call(self, trainer: L.Trainer, member: MemberRun, hook: str, *args: Any) -> bool:
        """Member `member`'s callbacks' `hook`; False (and the member failed) if one raised."""
        view = MemberTrainer(trainer, member)
        token = CURRENT_MEMBER.set(member.index)
        try:
            for callback in member.callbacks:
                getattr(callback, hook)(view, member.model, *args)
            return True
        except Exception as err:
            log.exception("member %d: %s failed", member.index, hook)
            self._fail(trainer, member, err)
            return False
        finally:
            CURRENT_MEMBER.reset(token)

    def _fail(self, trainer: L.Trainer, member: MemberRun, err: BaseException) -> None:
        member.ended = True
        view = MemberTrainer(trainer, member)
        for callback in member.callbacks:
            try:
                callback.on_exception(view, member.model, err)
            except Exception:
                log.exception("member %d: on_exception failed", member.index)
        for logger in member.loggers:
            logger.finalize("failed")

    def _end(self, trainer: L.Trainer, member: MemberRun) -> None:
        if self._call(trainer, member, "on_train_end"):
            member.ended = True
            for logger in member.loggers:
                logger.finalize("success")

    def _sync(self, batched: GenerativeModel, weights: bool) -> None:
        records = batched.take_records()
        for member in self._running():
            member.model.iteration = batched.iteration
            for names, sums, count in records:
                member.model.add_records(names, sums[:, member.index].clone(), count)
            if weights:
                load_member(batched, member.index, member.model)

    def save_checkpoints(self, trainer: L.Trainer, paths: list[Path]) -> None:
        """Each running member's checkpoint at this iteration, where its plain run keeps it."""
        for member in self._running():
            load_member(trainer.lightning_module, member.index, member.model)
            paths[member.index].parent.mkdir(parents=True, exist_ok=True)
            save_atomically(MemberTrainer(trainer, member), paths[member.index])  # type: ignore[arg-type]

    def setup(self, trainer: L.Trainer, pl_module: Any, stage: str) -> None:
        for member in self._running():
            self._call(trainer, member, "setup", stage)

    def on_fit_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        for member in self._running():
            member.model.to(pl_module.device)
            self._call(trainer, member, "on_fit_start")

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        self._sync(pl_module, weights=True)
        for member in self._running():
            self._call(trainer, member, "on_train_start")

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        iteration = pl_module.iteration
        due = any(iteration % c == 0 for m in self._running() for c in m.cadences)
        self._sync(pl_module, weights=due)
        for member in self._running():
            called = self._call(trainer, member, "on_train_batch_end", outputs, batch, batch_idx)
            if called and member.stop_requested:  # diverged: it ends here, as its plain run would
                self._end(trainer, member)
        if not self._running():
            trainer.should_stop = True

    def on_train_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        self._sync(pl_module, weights=True)
        for member in self._running():
            self._end(trainer, member)

    def on_exception(self, trainer: L.Trainer, pl_module: Any, exception: BaseException) -> None:
        for member in self._running():
            self._fail(trainer, member, exception)

    def state_dict(self) -> dict[str, Any]:
        return {
            "members": [
                {cb.state_key: cb.state_dict() for cb in m.callbacks if cb.state_dict()}
                for m in self.members
            ]
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for member, states in zip(self.members, state_dict["members"], strict=True):
            for callback in member.callbacks:
                if callback.state_key in states:
                    callback.load_state_dict(states[callback.state_key])

    def teardown(self, trainer: L.Trainer, pl_module: Any, stage: str) -> None:
        for member in self.members:
            view = MemberTrainer(trainer, member)
            for callback in member.callbacks:
                callback.teardown(view, member.model, stage)


class MemberStopCheckpoint(StopCheckpoint):
    """The stop callback of a batched run (genlab.callbacks.stop): on a stop signal each running
    member saves its own checkpoint (`paths`, by member) and the run stops."""

    def __init__(self, dispatcher: MemberCallbacks, paths: list[Path]) -> None:
        super().__init__(paths[0], preemption_signal=None)
        self.dispatcher = dispatcher
        self.paths = paths

    def save(self, trainer: L.Trainer, pl_module: Any) -> None:
        self.dispatcher.save_checkpoints(trainer, self.paths)
