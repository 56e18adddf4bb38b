"""Bad input refused before any work: the checks of a composed config (values, nets, data,
the parts it builds), and the Hydra callback that runs them before an output folder exists
(bad config, unwritable log folder, a run folder another process is writing).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, ListConfig, OmegaConf

from genlab.errors import ConfigError, GenlabError
from genlab.run.folder import FolderInUseError, FolderLock
from genlab.run.rerun import prepare_resume
from genlab.stopping import signal_number

PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")
# Trainer arguments that genlab sets itself or that raise under manual optimisation.
TRAINER_KEYS_OWNED = {
    "max_steps": "set the training length with iterations=N",
    "max_epochs": "set the training length with iterations=N",
    "min_steps": "set the training length with iterations=N",
    "min_epochs": "set the training length with iterations=N",
    "gradient_clip_val": "manual optimisation clips inside the model, not in the Trainer",
    "accumulate_grad_batches": "manual optimisation does not accumulate in the Trainer",
}

# Loggers that need an optional package: target -> (package, genlab extra). (A data set read from
# a package refuses in its prepare_data, as data/mnist5k.py does.)
OPTIONAL_PACKAGES = {
    "genlab.loggers.mlflow_run.MLflowRunLogger": ("mlflow", "mlflow"),
    "genlab.loggers.wandb_run.WandbRunLogger": ("wandb", "wandb"),
}


def missing_packages(cfg: DictConfig) -> list[str]:
    """One problem per optional package the config needs that is not installed."""
    problems = []
    for path, node in _nodes(cfg.get("logger"), "logger"):
        needed = OPTIONAL_PACKAGES.get(str(node.get("_target_")))
        if needed is None or importlib.util.find_spec(needed[0]) is not None:
            continue
        package, extra = needed
        problems.append(
            f"{path} needs the {package} package, which is not installed:"
            f" pip install 'genlab[{extra}]' (or pip install {package})"
        )
    return problems


def _nodes(node: Any, path: str) -> Iterator[tuple[str, DictConfig]]:
    if isinstance(node, DictConfig):
        yield path, node
        for key in node:
            yield from _nodes(node._get_node(key), f"{path}.{key}")
    elif isinstance(node, ListConfig):
        for i, item in enumerate(node):
            yield from _nodes(item, f"{path}[{i}]")


def config_problems(cfg: DictConfig) -> list[str]:
    """Every problem found, each naming the config key, its value and the fix."""
    problems: list[str] = []

    def at_least(
        key: str, value: Any, low: float, strict: bool = False, integer: bool = False
    ) -> None:
        kinds = (int,) if integer else (int, float)
        ok = isinstance(value, kinds) and not isinstance(value, bool)
        ok = ok and (value > low if strict else value >= low)
        if not ok:
            relation = ">" if strict else ">="
            kind = "an integer" if integer else "a number"
            problems.append(f"{key}={value!r} must be {kind} {relation} {low}")

    at_least("iterations", cfg.iterations, 1, integer=True)
    at_least("log_every_n_iterations", cfg.log_every_n_iterations, 1, integer=True)
    at_least("iterations_per_batch", cfg.iterations_per_batch, 1, integer=True)
    at_least("data.batch_size", cfg.data.batch_size, 1, integer=True)
    if cfg.get("optimized_direction") not in ("minimize", "maximize"):
        problems.append(
            f"optimized_direction={cfg.get('optimized_direction')!r}: use minimize or maximize"
        )
    if cfg.seed is not None and (not isinstance(cfg.seed, int) or isinstance(cfg.seed, bool)):
        problems.append(f"seed={cfg.seed!r} must be an integer or null (null draws one)")
    if cfg.get("num_threads") is not None:
        at_least("num_threads", cfg.num_threads, 1, integer=True)

    trainer = cfg.trainer
    for key, fix in TRAINER_KEYS_OWNED.items():
        if trainer.get(key) is not None:
            problems.append(f"trainer.{key}={trainer.get(key)!r} is not used by genlab: {fix}")
    if str(trainer.get("precision")) not in PRECISIONS:
        problems.append(
            f"trainer.precision={trainer.get('precision')!r} is unknown: use one of"
            f" {', '.join(PRECISIONS)}"
        )

    accelerator = str(trainer.get("accelerator"))
    if accelerator in ("gpu", "cuda"):
        import torch  # only for GPU trainers: the one check that needs it

        if not torch.cuda.is_available():
            problems.append(
                f"trainer.accelerator={accelerator} but this machine has no CUDA device: use"
                " trainer.accelerator=auto (or cpu)"
            )

    model = cfg.model
    for path, node in _nodes(model, "model"):
        if "lr" in node:
            at_least(f"{path}.lr", node.lr, 0, strict=True)
    for key, low, strict, integer in (
        ("d_steps", 1, False, True),
        ("n_critic", 1, False, True),
        ("latent_dim", 1, False, True),
        ("gp_lambda", 0, False, False),
        ("beta", 0, False, False),
        ("sigma", 0, True, False),
        ("clip_norm", 0, True, False),
        ("clip_norm_g", 0, True, False),
        ("clip_norm_d", 0, True, False),
        ("r1_gamma", 0, False, False),
        ("pack", 1, False, True),
        ("minibatch_std", 0, False, True),
        ("instance_noise_std", 0, False, False),
        ("instance_noise_anneal_iterations", 1, False, True),
    ):
        optional = key.startswith("clip_norm")  # null switches clipping off
        if key in model and not (optional and model[key] is None):
            at_least(f"model.{key}", model[key], low, strict, integer)
    for key, low, high in (("ema_decay", 0.0, 1.0), ("label_smoothing", 0.0, 1.0)):
        value = model.get(key)
        if value is None or (key == "label_smoothing" and value == 0):
            continue
        if not isinstance(value, (int, float)) or not low < value < high:
            off = "null" if key == "ema_decay" else "0"
            problems.append(f"model.{key}={value!r} must be in ({low:g}, {high:g}), or {off} (off)")
    pack, group = model.get("pack", 1), model.get("minibatch_std", 0)
    batch = cfg.data.batch_size
    if isinstance(pack, int) and pack > 1 and isinstance(batch, int) and batch % pack:
        problems.append(
            f"model.pack={pack} needs data.batch_size divisible by it (got {batch}):"
            f" e.g. data.batch_size={batch - batch % pack or pack}"
        )
    elif isinstance(group, int) and group > 0:
        judged = batch // pack if isinstance(pack, int) and pack > 0 else batch
        if group == 1 or (isinstance(judged, int) and judged % min(group, judged)):
            problems.append(
                f"model.minibatch_std={group} must be 0 (off) or a group size >= 2 that divides"
                f" the {judged} samples (packs) D sees per batch"
            )
    compile_nets = cfg.compile
    if not isinstance(compile_nets, bool):
        problems.append(f"compile={compile_nets!r} must be true or false")
    elif compile_nets and ("gp_lambda" in model or (model.get("r1_gamma") or 0) > 0):
        problems.append(
            "compile=true with a gradient penalty (model=wgan_gp, or model.r1_gamma > 0):"
            " torch.compile does not support its double backward; set compile=false"
        )
    signal_name = cfg.get("preemption_signal")
    if signal_name is not None:
        try:
            signal_number(str(signal_name))
        except ConfigError as err:
            problems.append(str(err))
    problems += missing_packages(cfg)
    reference = OmegaConf.select(cfg, "metrics.reference_stats", default=None)
    if reference is not None and not Path(str(reference)).expanduser().is_file():
        problems.append(
            f"metrics.reference_stats={reference}: no such file; make it with"
            f" genlab-fid --save-stats {reference} <folder of reference images>"
        )
    if model.get("likelihood") == "bernoulli" and not cfg.data.get("bounded", False):
        problems.append(
            "model.likelihood=bernoulli needs image data in [-1, 1] (data.bounded=true);"
            " use model.likelihood=gaussian for this data"
        )
    problems += _augment_problems(cfg)
    return problems


def _augment_problems(cfg: DictConfig) -> list[str]:
    """model.augment (DiffAugment): a known policy, on image data, for a GAN model."""
    policy = cfg.model.get("augment")
    if policy is None:
        return []
    from genlab.models.augment import parse_policy  # torch: only when augmentation is on

    try:
        parse_policy(policy)
    except ValueError as err:
        return [f"model.augment={policy!r}: {str(err).partition(': ')[2]}"]
    problems = []
    shape = cfg.data.get("shape")
    if not isinstance(shape, ListConfig) or len(shape) != 3:
        problems.append(
            f"model.augment={policy} needs image data (data.shape [C, H, W]), not"
            f" data={cfg.data.get('name')} (data.shape {_plain(shape)}); drop fix=diffaugment"
            " (or set model.augment=null)"
        )
    if str(cfg.model.get("_target_")) == "genlab.models.vae.VAE":
        problems.append(
            f"model.augment={policy} augments a discriminator's inputs: use it with model=gan or"
            " model=wgan_gp, not model=vae"
        )
    return problems


def _plain(node: Any) -> Any:
    return list(node) if isinstance(node, ListConfig) else node


def net_problems(cfg: DictConfig) -> list[str]:
    """Why the configured conv net cannot be built for the data's shape (before any torch)."""
    from genlab.nets.sides import dcgan_side_problem, resnet_side_problem

    shape = list(cfg.data.get("shape") or [])
    target = str(OmegaConf.select(cfg, "net.generator._target_", default=""))
    net = cfg.net
    if target.startswith("genlab.nets.dcgan."):
        name = "dcgan"
    elif target.startswith("genlab.nets.resnet."):
        name = "resnet"
    else:
        return []
    if len(shape) != 3 or shape[1] != shape[2]:
        return [
            f"net={name} needs square images (data.shape [C, S, S]), not data.shape={shape};"
            " use net=mlp for this data"
        ]
    side = int(shape[1])
    if name == "dcgan":
        problem = dcgan_side_problem(side, net.get("stages"))
    else:
        problem = resnet_side_problem(
            side,
            list(net.by_side),
            net.generator_widths,
            net.discriminator_widths,
            net.discriminator_downsamples,
        )
    return [problem] if problem else []


IMAGE_FOLDER = "genlab.data.images.ImageFolderDataModule"


def data_problems(cfg: DictConfig) -> list[str]:
    """Problems of a folder of the user's images: it is listed, and decoded into its cache
    unless cached already, so that a missing folder, an unreadable file or a set too large
    for memory stops the run before its folder exists."""
    data = cfg.data
    if data.get("_target_") != IMAGE_FOLDER:
        return []
    from genlab.data.image_folder import FolderSettings, ImageFolderError, prepare_folder

    settings = FolderSettings(
        data.channels, data.side, data.crop, data.labels, data.skip_unreadable, data.limit
    )
    try:
        folder = prepare_folder(data.path, settings, data.cache_dir, data.max_bytes)
    except ImageFolderError as err:
        return [str(err)]
    count = len(folder.images)
    if isinstance(data.batch_size, int) and data.batch_size > count:
        return [
            f"data.batch_size={data.batch_size} is larger than the {count} images of"
            f" data.path={data.path}; lower data.batch_size (e.g. {count}) or add images"
        ]
    return []


def _instantiation_problem(err: Exception, node: str, target: Any) -> str | None:
    """The message of a constructor's refusal of its config (a ValueError / TypeError / genlab
    error inside Hydra's wrapper) naming the node, or None for anything else (a bug)."""
    from hydra.errors import InstantiationException

    from genlab.errors import GenlabError

    cause: BaseException = err
    while isinstance(cause, InstantiationException) and cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, GenlabError):
        return str(cause)
    if isinstance(cause, (ValueError, TypeError)):
        return f"{node} ({target}): {cause}"
    return None


def part_problems(cfg: DictConfig) -> list[str]:
    """What building the run's parts finds, before any run folder exists: the data set missing
    offline (prepare_data), metrics that cannot score this data or whose files are missing,
    and switches a model or net refuses in its constructor (e.g. an unknown model.loss). The
    parts are built and dropped; the global RNG streams do not move."""
    import copy

    import torch
    from hydra.utils import instantiate

    cfg = copy.deepcopy(cfg)  # instantiate resolves interpolations in place; the record keeps them
    problems: list[str] = []
    try:
        datamodule = instantiate(cfg.data)
        datamodule.prepare_data()
        suite_cfg = OmegaConf.select(cfg, "metrics.suite", default=None)
        if suite_cfg is not None:
            instantiate(suite_cfg).check_inputs(datamodule)
    except Exception as err:
        problem = _instantiation_problem(err, "data", cfg.data.get("_target_"))
        if problem is None:
            raise
        problems.append(problem)
    try:
        with torch.random.fork_rng():
            instantiate(cfg.model, _convert_="all")
    except Exception as err:
        problem = _instantiation_problem(err, "model", cfg.model.get("_target_"))
        if problem is None:
            raise
        problems.append(problem)
    return problems


def _config_text(cfg: DictConfig) -> str:
    """The config as composed (interpolations kept, Hydra's node left out): what a check of it
    in this process found sound stays sound for the same text."""
    return OmegaConf.to_yaml(OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"]))


_CHECKED: set[str] = set()  # configs this process checked in full and found sound


def check_config(cfg: DictConfig, values_only: bool = False) -> None:
    """Raise ConfigError listing every problem in the config. The data is looked at only when
    the config itself is sound (a folder of images may take a while to decode), and the run's
    parts are built only when the data is. values_only: only the values of the config itself,
    e.g. for a sweep's base config, which holds the defaults where its jobs sweep a group (each
    job is checked in full before it trains). A config checked in full once in this process
    (by the preflight callback, before its run folder exists) is not checked again when its run
    starts."""
    text = None if values_only else _config_text(cfg)
    if text in _CHECKED:
        return
    problems = config_problems(cfg)
    if not values_only:
        problems += net_problems(cfg)
        if not problems:
            problems = data_problems(cfg)
        if not problems:
            problems = part_problems(cfg)
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
    if text is not None:
        _CHECKED.add(text)


def writable_folder_problem(folder: str | Path) -> str | None:
    """Why `folder` cannot be created and written to, or None when it can."""
    path = Path(folder).absolute()
    ancestor = path
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{ancestor} is a file, so {path} cannot be created"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"{ancestor} is not writable, so {path} cannot be created"
    return None


def _stop(message: str) -> None:
    print(f"genlab-train: error: {message}", file=sys.stderr)
    sys.exit(2)


class PreflightChecks(Callback):
    """Hydra callback: refuse a run before its output folder exists, with one clear message."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        resume = config.get("resume")
        if resume is not None and not Path(resume).is_dir():
            _stop(f"resume={resume}: no such run folder; pass the folder of an earlier run")
        self._check(config, config.hydra.run.dir, resumed=resume is not None)
        holder = FolderLock.holder(config.hydra.run.dir)
        if holder is not None:  # before Hydra writes its record and log lines there
            _stop(str(FolderInUseError(Path(config.hydra.run.dir), holder, "train")))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.get("resume") is not None:
            _stop("resume= continues one run; it cannot be combined with -m (multirun)")
        self._check(config, config.hydra.sweep.dir, values_only=True)

    def _check(
        self, config: DictConfig, output_dir: str, resumed: bool = False, values_only: bool = False
    ) -> None:
        problem = writable_folder_problem(output_dir)
        if problem:
            _stop(f"cannot write the run folder: {problem}; set paths.log_dir to a writable folder")
        try:
            if resumed:  # the config to check is the one the run recorded
                config = prepare_resume(config, list(config.hydra.overrides.task)).cfg
            check_config(config, values_only)
        except GenlabError as err:
            _stop(str(err))
