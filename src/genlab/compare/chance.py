"""Chance level of the coverage metrics: points drawn uniformly over the mixture's box."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genlab.compare.jobs import Job
from genlab.compare.stats import Stat

REPEATS = 100
SEED = 0


@dataclass(frozen=True)
class Protocol:
    """A 2-D mixture and how the runs scored samples against it."""

    layout: str
    num_modes: int
    scale: float  # the ring's radius or the grid's spacing
    std: float
    num_samples: int
    high_quality_stds: float

    @property
    def name(self) -> str:
        scale = "radius" if self.layout == "ring" else "spacing"
        return f"{self.layout} of {self.num_modes} ({scale} {self.scale:g}, std {self.std:g})"

    def mixture(self) -> Any:
        """The GaussianMixture2D the runs trained on."""
        from genlab.data.mixtures import GaussianMixture2D

        if self.layout == "ring":
            return GaussianMixture2D.ring(self.num_modes, self.scale, self.std)
        return GaussianMixture2D.grid(self.num_modes, self.scale, self.std)


@dataclass(frozen=True)
class ChanceLevel:
    """Coverage metrics of uniform points, mean ± std over repeated draws."""

    protocol: Protocol
    box: tuple[float, float, float, float]  # x_min, x_max, y_min, y_max
    stats: dict[str, Stat]
    repeats: int
    seed: int

    def footnote(self) -> str:
        """How the chance row was computed, for under the table."""
        x0, x1, y0, y1 = self.box
        p = self.protocol
        return (
            f"Chance: {p.num_samples} points drawn uniformly over the box "
            f"[{x0:.3g}, {x1:.3g}] × [{y0:.3g}, {y1:.3g}] (the bounding box of the mixture's "
            f"centres, enlarged on each side by half the smallest distance between two centres), "
            f"scored like the runs (high quality within {p.high_quality_stds:g} std of a centre); "
            f"mean ± std over n = {self.repeats} draws (torch.Generator seed {self.seed}). "
            f"Mixture: {p.name}."
        )


def protocol_of(config: dict[str, Any]) -> Protocol | None:
    """The mixture and coverage protocol of a resolved run config; None unless a 2-D mixture."""
    data = config.get("data") or {}
    metrics = config.get("metrics") or {}
    suite = metrics.get("suite") or {}
    layout = data.get("layout")
    scale = data.get("radius") if layout == "ring" else data.get("spacing")
    needed = (scale, data.get("num_modes"), data.get("std"), metrics.get("num_samples"))
    if layout not in ("ring", "grid") or None in needed or "high_quality_stds" not in suite:
        return None
    return Protocol(
        layout=layout,
        num_modes=int(data["num_modes"]),
        scale=float(scale),
        std=float(data["std"]),
        num_samples=int(metrics["num_samples"]),
        high_quality_stds=float(suite["high_quality_stds"]),
    )


def centre_box(centres: Any) -> tuple[float, float, float, float]:
    """Bounding box of the centres, enlarged on each side by half the smallest centre gap."""
    import torch

    gaps = torch.cdist(centres.double(), centres.double())
    gaps.fill_diagonal_(float("inf"))
    margin = gaps.min().item() / 2
    lo = centres.min(dim=0).values.double() - margin
    hi = centres.max(dim=0).values.double() + margin
    return (lo[0].item(), hi[0].item(), lo[1].item(), hi[1].item())


def chance_level(protocol: Protocol, repeats: int = REPEATS, seed: int = SEED) -> ChanceLevel:
    """Modes, high-quality fraction and mode KL of uniform points over the mixture's box."""
    import torch

    from genlab.metrics.coverage import mode_coverage

    mixture = protocol.mixture()
    box = centre_box(mixture.centres)
    lo = torch.tensor([box[0], box[2]], dtype=torch.float64)
    size = torch.tensor([box[1] - box[0], box[3] - box[2]], dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    draws = []
    threads = torch.get_num_threads()
    # tensors this small score far faster on one thread than with several (most of all on a
    # busy machine, where intra-op threads wait for cores)
    torch.set_num_threads(1)
    try:
        for _ in range(repeats):
            points = lo + size * torch.rand(protocol.num_samples, 2, generator=generator).double()
            draws.append(
                mode_coverage(points, mixture.centres, mixture.std, protocol.high_quality_stds)
            )
    finally:
        torch.set_num_threads(threads)
    stats = {
        "metrics/modes": Stat.of([float(d.modes) for d in draws], interval=False),
        "metrics/high_quality": Stat.of([d.high_quality for d in draws], interval=False),
        "metrics/mode_kl": Stat.of([d.mode_kl for d in draws], interval=False),
    }
    return ChanceLevel(protocol, box, stats, repeats, seed)


def chance_for_jobs(jobs: list[Job]) -> tuple[ChanceLevel | None, str | None]:
    """The chance level when all jobs (with a resolved config) share one 2-D mixture and
    protocol; otherwise None and, where a chance level was possible per job, why it is skipped."""
    configured = [job for job in jobs if job.config]
    protocols = {protocol_of(job.config) for job in configured}
    if not configured or protocols == {None}:
        return None, None
    if len(protocols) > 1:
        names = sorted(
            f"{p.name}, {p.num_samples} samples, {p.high_quality_stds:g} std"
            if p
            else "not a 2-D mixture"
            for p in protocols
        )
        note = (
            "Chance level skipped: the jobs do not share one mixture and coverage protocol "
            f"({'; '.join(names)})"
        )
        return None, note
    (protocol,) = protocols
    assert protocol is not None
    return chance_level(protocol), None
