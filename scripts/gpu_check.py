"""GPU check (run it on a machine with a GPU; not part of `make test`).

For GAN, WGAN-GP and VAE on a DCGAN at 32x32 (CIFAR-10-shaped random data, held on the
device, which is checked) in 32-true, bf16-mixed, 16-mixed and bf16-mixed with compile=true:
iterations/s measured after a warm-up, and whether a run diverged or had steps skipped by fp16's
GradScaler (such a run is rerun with hooks that name the first non-finite output). Then the
WGAN-GP gradient penalty under autocast vs float32 on the device (value and critic gradients),
and a DDP run of genlab-train on every visible GPU (trainer=ddp; on --device cpu, trainer=ddp_cpu)
with its ranks' parameters compared. Prints tables; a few minutes on one GPU.

    python scripts/gpu_check.py [--iterations 200] [--device cuda|cpu] [--models vae] [--no-ddp]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")
MODELS = ("gan", "wgan_gp", "vae")


class IterationClock:
    """Times the iterations after a warm-up (compilation, cuDNN's autotuning), from the first
    batch end at or after `warmup`, and records the device the training batches were on."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.started: float | None = None
        self.start_iteration = 0
        self.iterations = 0
        self.batch_devices: set[str] = set()
        self.most_skipped = (
            0.0  # the largest share of steps fp16's GradScaler skipped, per interval
        )

    def callback(self):
        import lightning as L

        from genlab.models.base import SKIPPED_STEPS_KEY

        clock = self

        class _Clock(L.Callback):
            def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
                clock.batch_devices.add(batch.device.type)
                if module.device.type == "cuda":
                    torch.cuda.synchronize()
                if clock.started is None and module.iteration >= clock.warmup:
                    clock.started = time.perf_counter()
                    clock.start_iteration = module.iteration
                clock.iterations = module.iteration
                skipped = module.run_state.logged.get(SKIPPED_STEPS_KEY, 0.0)
                clock.most_skipped = max(clock.most_skipped, skipped)

        return _Clock()

    def rate(self) -> float:
        assert self.started is not None and self.iterations > self.start_iteration
        return (self.iterations - self.start_iteration) / (time.perf_counter() - self.started)


class NonFiniteTracer:
    """Forward hooks on every submodule: the first output that is not finite (module, the
    iteration, its input's largest magnitude and dtype), and the GradScaler's scale then. One
    host sync per module call: only for rerunning a run that diverged."""

    def __init__(self, module) -> None:  # noqa: ANN001 - a GenerativeModel
        self.module = module
        self.found: str | None = None
        self.handles = [
            child.register_forward_hook(self._hook(name))
            for name, child in module.named_modules()
            if name and not list(child.children())
        ]

    def _hook(self, name: str):  # noqa: ANN202
        def hook(child, inputs, output) -> None:  # noqa: ANN001
            outputs = output if isinstance(output, tuple) else (output,)
            if self.found or all(torch.isfinite(o).all() for o in outputs if o.is_floating_point()):
                return
            tensors = [i for i in inputs if isinstance(i, torch.Tensor)]
            largest = max((i.detach().abs().max().item() for i in tensors), default=float("nan"))
            scaler = getattr(self.module.trainer.precision_plugin, "scaler", None)
            self.found = (
                f"first non-finite output: {name} ({type(child).__name__}) at iteration"
                f" {self.module.iteration}, input |max| {largest:.4g}"
                f" {tensors[0].dtype if tensors else ''}, output {outputs[0].dtype}"
                + (f", GradScaler scale {scaler.get_scale():g}" if scaler is not None else "")
            )

        return hook


def throughput(
    model: str,
    precision: str,
    iterations: int,
    device: str,
    data_root: Path,
    compiled: bool,
    trace: bool = False,
) -> str:
    """genlab's iterations/s for one model and precision (compiled: compile=true), data on the
    device (checked), and where the run diverged if it did; trace: instead, where the first
    non-finite value appeared (NonFiniteTracer)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    from genlab import CONF_DIR
    from genlab.run.build import build

    out = Path(tempfile.mkdtemp())
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                f"model={model}",
                "data=cifar10",
                f"data.root={data_root}",
                "data.download=false",
                "metrics=none",
                "callbacks=none",
                "logger=csv",
                f"iterations={iterations}",
                f"trainer.precision={precision}",
                f"trainer.accelerator={'gpu' if device == 'cuda' else 'cpu'}",
                "trainer.enable_progress_bar=false",
                "trainer.enable_model_summary=false",
                "iterations_per_batch=10",
                f"compile={str(compiled).lower()}",
            ],
        )
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
    clock = IterationClock(warmup=min(50, iterations // 4))
    datamodule, module, trainer = build(cfg, seed=0, extra_callbacks=[clock.callback()])
    tracer = NonFiniteTracer(module) if trace else None
    trainer.fit(module, datamodule=datamodule)
    if tracer is not None:
        return tracer.found or "no non-finite output"
    if clock.batch_devices != {device}:
        raise AssertionError(f"training batches were on {clock.batch_devices}, not on {device}")
    diverged_at = module.run_state.diverged_at
    notes = [f"diverged@{diverged_at}"] if diverged_at else []
    if clock.most_skipped > 0:
        notes.append(f"skipped<={100 * clock.most_skipped:.0f}%")
    return f"{clock.rate():.1f}" + (f" ({', '.join(notes)})" if notes else "")


def penalty_agreement(device: str) -> list[tuple[str, float, float]]:
    from genlab.models.regularizers import gradient_penalty
    from genlab.nets.dcgan import DCGANDiscriminator

    torch.manual_seed(0)
    # net=dcgan's critic at 32x32 (net/dcgan.yaml: layer norm, no packing)
    critic = DCGANDiscriminator([3, 32, 32], 64, None, False, "conv", "dcgan", "layer", 1, 0)
    critic = critic.to(device)
    real = torch.randn(64, 3, 32, 32, device=device)
    fake = torch.randn(64, 3, 32, 32, device=device)
    alpha = torch.rand(64, 1, 1, 1, device=device)  # the same interpolation weights for every run
    rows = []

    def run(dtype: torch.dtype | None) -> tuple[float, torch.Tensor]:
        critic.zero_grad()
        with torch.autocast(device, dtype=dtype or torch.float32, enabled=dtype is not None):
            penalty = gradient_penalty(critic, real, fake, alpha)
        penalty.backward()
        grads = torch.cat([p.grad.flatten() for p in critic.parameters() if p.grad is not None])
        return penalty.item(), grads

    value_32, grads_32 = run(None)
    dtypes = [torch.bfloat16] + ([torch.float16] if device == "cuda" else [])
    for dtype in dtypes:
        value, grads = run(dtype)
        rows.append(
            (
                str(dtype).replace("torch.", ""),
                abs(value - value_32) / abs(value_32),
                ((grads - grads_32).norm() / grads_32.norm()).item(),
            )
        )
    return rows


def ddp_check(device: str, data_root: Path, iterations: int) -> str:
    """One genlab-train run with DDP over the visible GPUs (or 2 CPU processes): its outcome."""
    out = Path(tempfile.mkdtemp())
    trainer = "trainer=ddp" if device == "cuda" else "trainer=ddp_cpu"
    command = [
        sys.executable,
        "-m",
        "genlab.train",
        trainer,
        "data=cifar10",
        f"data.root={data_root}",
        "data.download=false",
        "metrics=none",
        "logger=csv",
        f"iterations={iterations}",
        "callbacks.checkpoint.every_n_iterations=1000000",
        "trainer.enable_progress_bar=false",
        f"hydra.run.dir={out}",
        "+callbacks.rank_weights._target_=genlab.callbacks.rank_weights.SaveRankWeights",
        f"+callbacks.rank_weights.dirpath={out / 'ranks'}",
    ]
    source = str(Path(__file__).resolve().parents[1] / "src")
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))
    )
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    if result.returncode != 0:
        return f"FAILED (exit {result.returncode}): {result.stderr.strip().splitlines()[-1:]}"
    summary = json.loads((out / "summary.json").read_text())
    ranks = [torch.load(f, weights_only=True) for f in sorted((out / "ranks").glob("rank*.pt"))]
    differing = sorted(
        k for k in ranks[0] if any(not torch.equal(ranks[0][k], r[k]) for r in ranks)
    )
    # BatchNorm's running statistics follow each rank's own batches (DDP syncs gradients, not
    # buffers); the parameters and optimizer updates must agree bit for bit
    statistics = ("running_mean", "running_var", "num_batches_tracked")
    parameters = [k for k in differing if not k.endswith(statistics)]
    verdict = (
        f"parameters DIFFERENT ({', '.join(parameters[:4])})"
        if parameters
        else "parameters identical"
    )
    if len(differing) > len(parameters):
        verdict += f"; {len(differing) - len(parameters)} BatchNorm running statistics per rank"
    return (
        f"{summary['status']} on {len(ranks)} {'GPUs' if device == 'cuda' else 'CPU processes'},"
        f" {summary.get('iterations_per_second')} iterations/s (rank 0), {verdict}"
    )


def column_settings(column: str) -> tuple[str, bool]:
    """(trainer.precision, compile) of a table column."""
    return column.replace("bf16+compile", "bf16-mixed"), column.endswith("compile")


def main() -> None:
    from genlab.data.fake import make_fake_cifar10

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--no-ddp", action="store_true", help="skip the DDP run")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run on a GPU machine or pass --device cpu")
    if args.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        print(f"device: {torch.cuda.get_device_name()}")
    data_root = Path(tempfile.mkdtemp())
    make_fake_cifar10(data_root, per_batch=2000)
    columns = [*PRECISIONS, "bf16+compile"]
    print(f"{'model':<8} " + " ".join(f"{c:>13}" for c in columns) + "   (iterations/s)")
    for model in args.models:
        cells = []
        for column in columns:
            precision, compiled = column_settings(column)
            if compiled and model == "wgan_gp":
                cells.append("refused")  # the gradient penalty's double backward (config check)
                continue
            cells.append(
                throughput(model, precision, args.iterations, args.device, data_root, compiled)
            )
        print(f"{model:<8} " + " ".join(f"{c:>13}" for c in cells), flush=True)
        for column, cell in zip(columns, cells, strict=True):
            if "diverged" in cell or "skipped" in cell:  # again, to find the first non-finite value
                precision, compiled = column_settings(column)
                found = throughput(
                    model, precision, args.iterations, args.device, data_root, compiled, trace=True
                )
                print(f"  {model} {column}: {found}", flush=True)
    print("(data on the device: checked for every run)")
    print("\ngradient penalty under autocast vs float32 (relative differences)")
    print(f"{'dtype':<10} {'value':>12} {'gradients':>12}")
    for dtype, value, grads in penalty_agreement(args.device):
        print(f"{dtype:<10} {value:>12.2e} {grads:>12.2e}")
    if not args.no_ddp:
        print(f"\nDDP: {ddp_check(args.device, data_root, min(args.iterations, 100))}")


if __name__ == "__main__":
    main()
