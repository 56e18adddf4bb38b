"""What genlab-train prints: each log line once, Lightning's chatter in the log file only,
known-harmless warnings filtered by message and module, a closing report per run, and --help.

`genlab-train --help` answers without composing a config: the groups and options are read from
conf/. Hydra's own help composes the config once per config group (over a hundred with its
plugins' groups), about 2-3 s here; researchers type --help often, so the plain form answers from
the file tree. `genlab-train <overrides> --help` still goes through Hydra (it shows that config).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from genlab.loggers.run_logger import route_to_run_log
from genlab.metrics.headline import number, ordered_metrics

# Warnings that say nothing a genlab user can act on, by (message regex, module regex).
HARMLESS_WARNINGS = [
    # Lightning 2.6 asks torch's pytree an old-style question; torch >= 2.9 flags it per run
    (
        r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        r"lightning\.pytorch\.utilities\._pytree",
    ),
    # optuna 2.10's SQL storage on SQLAlchemy 1.4 (pinned so that it works) uses 1.x APIs
    (r"Deprecated API features detected", r"optuna\.storages\._rdb\.models"),
]
# Libraries whose INFO records go to the run's log file only (warnings and errors still show).
LOG_FILE_ONLY = ("lightning", "mlflow", "alembic", "wandb")


class ConsoleFilter(logging.Filter):
    """For the console handler: Lightning's INFO records (device banner, tips, 'fit stopped')
    and those of the MLflow / W&B loggers' libraries go to the run's log file only; their
    warnings and errors still show."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith(LOG_FILE_ONLY) and record.levelno < logging.WARNING)


def quiet_third_party() -> None:
    """Apply once per process, after `import lightning`: Lightning's loggers lose the stream
    handler Lightning gives them when imported before logging is configured (so each record
    reaches the console once, through Hydra's handlers), and HARMLESS_WARNINGS are ignored."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        route_to_run_log(name)
    ignore_harmless_warnings()


def ignore_harmless_warnings() -> None:
    """Ignore HARMLESS_WARNINGS in this process (genlab-train applies it at start)."""
    for message, module in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=message, module=module)


def run_report(summary: dict[str, Any], run_dir: Path) -> str:
    """The closing lines of a single run: status, speed, final metrics, where everything is."""
    done, total = summary.get("iterations_done", 0), summary.get("iterations", 0)
    speed = summary.get("iterations_per_second")
    head = f"{summary.get('status', '?')}: {done} of {total} iterations"
    if summary.get("train_seconds") is not None and speed:
        rate = f"{speed:.0f}" if speed >= 10 else f"{speed:.2g}"  # image nets: ~1 it/s on a CPU
        head += f" in {summary['train_seconds']:.1f} s ({rate} iterations/s)"
    if summary.get("diverged_at_iteration") is not None:
        head += f", diverged at iteration {summary['diverged_at_iteration']}"
    lines = ["", head]
    metrics = ordered_metrics(summary)
    width = max((len(name) for name, _ in metrics), default=0)
    lines += [f"  {name:<{width}}  {number(value)}" for name, value in metrics]
    lines += [f"run folder:  {run_dir}", f"summary:     {run_dir / 'summary.json'}"]
    if summary.get("tensorboard_dir"):
        lines.append(f"tensorboard: tensorboard --logdir {summary['tensorboard_dir']}")
    if summary.get("mlflow_ui"):
        lines.append(f"mlflow:      {summary['mlflow_ui']}")
    elif summary.get("mlflow_tracking_uri"):
        where = f"run {summary['mlflow_run_id']} at {summary['mlflow_tracking_uri']}"
        lines.append(f"mlflow:      {where}")
    if summary.get("wandb_sync"):
        lines.append(f"wandb:       {summary['wandb_sync']}  (offline run; uploads it)")
    elif summary.get("wandb_run_id"):
        lines.append(f"wandb:       run {summary['wandb_run_id']}")
    return "\n".join(lines)


def job_line(
    summary: dict[str, Any], run_dir: Path, job_number: int | None, note: str | None = None
) -> str:
    """One line for a sweep job: number, overrides, status (with `note`, e.g. that the record
    is an earlier run's), headline metrics, folder."""
    overrides = " ".join(summary.get("overrides") or [])
    metrics = "  ".join(f"{name} {number(value)}" for name, value in ordered_metrics(summary)[:3])
    label = f"job {job_number}" if job_number is not None else "job"
    outcome = summary.get("status", "?") + (f" ({note})" if note else "")
    if summary.get("error"):
        outcome += f" ({summary['error'].splitlines()[0][:160]})"
    parts = [f"{label} [{overrides}] {outcome}", metrics, f"-> {run_dir}"]
    return "  ".join(part for part in parts if part)


USAGE = """\
genlab-train: train a GAN, WGAN-GP or VAE from Hydra configs (genlab).

Usage:
  genlab-train [group=option ...] [key=value ...]      one run, e.g. model=wgan_gp data=grid25
  genlab-train -m [group=a,b ...] [key=v1,v2 ...]      a sweep, e.g. -m seed=0,1,2 fix=lsgan,pack2
  genlab-train resume=logs/runs/<date>_<time>          continue a run in its own folder

== Configuration groups ==
Compose your configuration from those groups (group=option)

{groups}
== More ==
  genlab-train [overrides] --cfg job       print the composed config (add --resolve to resolve it)
  genlab-train [overrides] --help          this help with the composed config (through Hydra)
  genlab-train --hydra-help                Hydra's own flags and groups (launchers, sweepers)
  genlab-compare <multirun folder>         a sweep as a table and plots
"""


def config_groups(conf_dir: Path) -> dict[str, list[str]]:
    """Every config group under conf_dir (nested ones as a/b, Hydra's own left out) and its
    options (the .yaml files in it; files named _*.yaml are bases the options build on)."""
    groups: dict[str, list[str]] = {}
    for folder in sorted(p for p in conf_dir.rglob("*") if p.is_dir()):
        name = folder.relative_to(conf_dir).as_posix()
        if name == "hydra" or name.startswith("hydra/"):
            continue
        options = sorted(f.stem for f in folder.glob("*.yaml") if not f.name.startswith("_"))
        if options:
            groups[name] = options
    return groups


def help_text(conf_dir: Path) -> str:
    """The help page: usage, then each group with its options, one line each."""
    lines = [f"{group}: {', '.join(options)}" for group, options in config_groups(conf_dir).items()]
    presets = sorted(f.stem for f in (conf_dir / "hydra" / "launcher").glob("*.yaml"))
    lines.append(f"hydra/launcher: basic (default), {', '.join(presets)}")
    return USAGE.format(groups="\n".join(lines) + "\n")


def wants_plain_help(argv: list[str]) -> bool:
    """True for exactly `--help` / `-h` with no overrides (those need the composed config)."""
    return argv in (["--help"], ["-h"])
