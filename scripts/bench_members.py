"""Members: K seeds of a case trained as one batched model (hydra/launcher=members' path), in
member-iterations/s at each K against one plain run of the case (K plain runs one after another
make that rate), each K in a fresh process: `python scripts/bench_members.py CASE K` prints one.

    python scripts/bench_members.py gan_mlp 5 [--device cuda] [--iterations N]
"""

from __future__ import annotations

import time
from pathlib import Path

from bench_cases import CASES_BY_NAME, Case, data_overrides, one_case_parser
from bench_common import QUIET, bench_script, compose, device_overrides, figure_of, scratch_folder

MEMBER_CASES = ("gan_mlp", "wgan_gp_mlp", "gan_dcgan")
# ... and on a GPU the image nets too (K = 4 of them would take minutes an iteration on the CPU):
#   scripts/bench.py --device cuda --cases dcgan_64 resnet_32 --members 1 4 --no-study --no-metrics
GPU_MEMBER_CASES = ("dcgan_64", "resnet_32")


def member_iterations(case: Case, members: int, device: str) -> int:
    """Iterations of a K-member timing: the plain case's count, shortened for large K."""
    base = case.iterations_on(device)
    return base if members == 1 else max(20, base * 5 // members)


def members_rate(case: Case, members: int, scratch: Path, device: str) -> float:
    """Member-iterations/s of the case's training loop with `members` seeds as one batched
    model (1: a plain run), in this process."""
    import lightning as L
    import torch

    from genlab.run.build import build
    from genlab.run.members import build_batched, build_member

    class Clock(L.Callback):
        def on_train_start(self, trainer: L.Trainer, pl_module: object) -> None:
            self.started = time.perf_counter()

        def on_train_end(self, trainer: L.Trainer, pl_module: object) -> None:
            if device == "cuda":
                torch.cuda.synchronize()
            self.seconds = time.perf_counter() - self.started

    def member_config(seed: int):  # noqa: ANN202 - a DictConfig with its Hydra job set
        from hydra.core.hydra_config import HydraConfig
        from omegaconf import open_dict

        cfg = compose([*overrides, f"seed={seed}"], hydra_config=True)
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(scratch / "members" / str(seed))
            cfg.hydra.job.num = seed
        HydraConfig.instance().set_config(cfg)
        return cfg

    iterations = member_iterations(case, members, device)
    precision = "bf16-mixed" if device == "cuda" else "32-true"
    overrides = [*case.overrides, *data_overrides(case, scratch), *QUIET, "metrics=none"]
    overrides += ["logger=csv", "callbacks=none", f"iterations={iterations}"]
    overrides += [f"paths.root_dir={scratch}", *device_overrides(precision, device)]
    clock = Clock()
    if members == 1:
        datamodule, model, trainer = build(member_config(0), 0, [clock])
    else:
        parts = [build_member(member_config(k), k) for k in range(members)]
        datamodule, model, trainer, _ = build_batched(member_config(0), parts)
        trainer.callbacks.append(clock)
    trainer.fit(model, datamodule=datamodule)
    return members * iterations / clock.seconds


def members_row(case: Case, sizes: list[int], scratch: Path, device: str) -> dict:
    rates = {}
    for members in sizes:
        args = [case.name, str(members), "--scratch", str(scratch), "--device", device]
        args += ["--iterations", str(case.iterations_on(device))]
        command = bench_script("bench_members.py", args)
        rates[members] = figure_of(command, f"members K={members} of {case.name} failed")
    plain = rates.get(1)
    return {
        "case": case.name if device == "cpu" else f"{case.name} {device} bf16-mixed",
        "notes": case.notes,
        "member_it_s": rates,
        "speedup": {k: v / plain for k, v in rates.items()} if plain else {},
    }


def measure(cases: list[Case], sizes: list[int], scratch: Path, device: str) -> list[dict]:
    """A row per case of MEMBER_CASES (and GPU_MEMBER_CASES on a GPU) among `cases`."""
    rows = []
    member_cases = MEMBER_CASES + (GPU_MEMBER_CASES if device == "cuda" else ())
    for case in cases:
        if case.name not in member_cases:
            continue
        row = members_row(case, sizes, scratch, device)
        rows.append(row)
        rates = "  ".join(
            f"K={k} {v:.1f} ({row['speedup'].get(k, float('nan')):.2f}x)"
            for k, v in row["member_it_s"].items()
        )
        print(f"members {row['case']}: member-iterations/s {rates}", flush=True)
    return rows


def print_table(rows: list[dict]) -> None:
    sizes = list(rows[0]["member_it_s"])
    print(
        "\n| members: K seeds as one model, member-iterations/s (x one plain run) | "
        + " | ".join(f"K = {k}" for k in sizes)
        + " |\n|---|"
        + "---:|" * len(sizes)
    )
    for row in rows:
        cells = " | ".join(
            f"{row['member_it_s'][k]:.1f} ({row['speedup'].get(k, float('nan')):.2f}x)"
            for k in sizes
        )
        print(f"| {row['case']} ({row['notes']}) | {cells} |")


def main() -> None:
    parser = one_case_parser(__doc__.splitlines()[0])
    parser.add_argument("members", type=int, help="K: 1 is a plain run")
    args = parser.parse_args()
    case = CASES_BY_NAME[args.case].at(args.iterations)
    with scratch_folder(args.scratch) as scratch:
        print(members_rate(case, args.members, scratch, args.device))


if __name__ == "__main__":
    main()
