"""`genlab-train --help` without composing a config: the groups and options are read from conf/.

Hydra's own help composes the config once per config group (over a hundred with its plugins'
groups), about 2-3 s here; researchers type --help often, so the plain form answers from the
file tree. `genlab-train <overrides> --help` still goes through Hydra (it shows that config).
"""

from __future__ import annotations

from pathlib import Path

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
