"""The bench's training cases: genlab overrides, iteration counts on the CPU and on a GPU, the
precisions each runs in, and the fake data they train on (written into the scratch folder)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path

# The image-net cases' CPU counts: enough that genlab's end-of-run picture and checkpoint weigh
# little (at 10 DCGAN-64 iterations, or 2 ResNet-32 ones, they cost genlab ~10-20% in bf16-mixed;
# at 30 / 4-6, none measurable); a ResNet-32 timing is then about a minute on the 2-core CPU.
DCGAN_64_ITERATIONS = 30
RESNET_32_ITERATIONS = 4
IMAGE_FOLDER = (2000, 64)  # random RGB PNGs in the scratch folder: count, side
IMAGE_NET_PRECISIONS = ("32-true", "bf16-mixed")  # on the CPU and on a GPU


@dataclass(frozen=True)
class Case:
    name: str
    overrides: list[str]
    iterations: int
    target: float  # the ratio genlab / plain loop the project promises on a 2-core CPU
    needs_mnist: bool = False
    notes: str = ""
    cuda_iterations: int = 0  # on a GPU: a few seconds on the lent H200 (launch-bound there)
    needs_images: bool = False  # data=image_folder on the bench's folder of random PNGs
    precisions: tuple[str, ...] = ("32-true",)  # on the CPU; with 32-true: speed-ups against it
    cuda_precisions: tuple[str, ...] = ("bf16-mixed", "16-mixed")

    def iterations_on(self, device: str) -> int:
        return self.cuda_iterations if device == "cuda" else self.iterations

    def precisions_on(self, device: str) -> tuple[str, ...]:
        return self.cuda_precisions if device == "cuda" else self.precisions

    def scaled(self, factor: float) -> Case:
        """The case with both iteration counts times `factor` (at least 1 each)."""
        return replace(
            self,
            iterations=max(1, round(self.iterations * factor)),
            cuda_iterations=max(1, round(self.cuda_iterations * factor)),
        )

    def at(self, iterations: int | None) -> Case:
        """The case at `iterations` on either device (None: as it is): a fresh process's case,
        at the count its parent ran it at."""
        if iterations is None:
            return self
        return replace(self, iterations=iterations, cuda_iterations=iterations)


CASES = [
    Case(
        "gan_mlp",
        ["data=ring8", "model=gan"],
        1000,
        0.95,
        notes="ring8, MLP 2x128, batch 256",
        cuda_iterations=800,
    ),
    Case(
        "wgan_gp_mlp",
        ["data=ring8", "model=wgan_gp"],
        200,
        0.95,
        notes="ring8, MLP critic, n_critic 5",
        cuda_iterations=150,
    ),
    Case(
        "gan_dcgan",
        # genlab's earlier 2-stage DCGAN (the layout of the figures in docs/performance.md)
        ["data=mnist", "model=gan", "net.stages=2", "net.ends=linear", "net.conv_bias=true"]
        + ["net.init=torch"],
        60,
        0.98,
        True,
        "28x28x1 DCGAN 64 ch, batch 64; the earlier 2-stage layout, linear ends",
        cuda_iterations=400,
    ),
    Case(
        "vae_mlp",
        ["data=mnist", "net=mlp", "model=vae"],
        1200,
        0.98,
        True,
        "784-d MLP VAE, batch 64",
        cuda_iterations=1000,
    ),
    Case(
        "dcgan_64",  # the reference DCGAN: G 3,576,704 / D 2,765,568 parameters
        ["data=image_folder", "net=dcgan", "data.side=64", "data.channels=3", "model=gan"]
        + ["model.latent_dim=100"],
        DCGAN_64_ITERATIONS,
        0.95,
        notes="64x64x3 reference DCGAN 64 ch, z 100, ns loss, batch 64",
        cuda_iterations=300,
        needs_images=True,
        precisions=IMAGE_NET_PRECISIONS,
        cuda_precisions=IMAGE_NET_PRECISIONS,
    ),
    Case(
        "resnet_32",  # experiment=sngan_resnet at side 32: G 4,276,739 / D 1,053,825 parameters
        ["experiment=sngan_resnet", "data=image_folder", "data.side=32", "data.channels=3"],
        RESNET_32_ITERATIONS,
        0.95,
        notes="32x32x3 SNGAN ResNet, hinge, spectral norm, 5 D steps, batch 64",
        cuda_iterations=50,
        needs_images=True,
        precisions=IMAGE_NET_PRECISIONS,
        cuda_precisions=IMAGE_NET_PRECISIONS,
    ),
]
CASES_BY_NAME = {case.name: case for case in CASES}


def one_case_parser(description: str) -> argparse.ArgumentParser:
    """The command line of a script that times one case in a fresh process: CASE [--device]
    [--iterations] [--scratch]; the script adds what else it takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("case", choices=list(CASES_BY_NAME))
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--iterations", type=int, help="default: the case's count on the device")
    parser.add_argument("--scratch", type=Path, help="where its fake data is (default: a new one)")
    return parser


def data_overrides(case: Case, scratch: Path) -> list[str]:
    """The overrides that point the case at its fake data in `scratch`, written there once
    (genlab.data.fake; no download)."""
    if case.needs_images:  # decoded once per side into the scratch folder's cache
        from genlab.data.fake import write_random_images

        write_random_images(scratch / "images", *IMAGE_FOLDER)
        return [f"data.path={scratch / 'images'}", f"paths.cache_dir={scratch / 'cache'}"]
    if not case.needs_mnist:
        return []
    if not (scratch / "data" / "MNIST" / "raw" / "train-labels-idx1-ubyte").is_file():
        from genlab.data.fake import make_fake_mnist

        make_fake_mnist(scratch / "data", n=6000)
    return ["data.download=false", f"paths.data_dir={scratch / 'data'}"]
