"""Pictures of samples from the fixed evaluation noise: TensorBoard, and a PNG at the end."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger

from genlab.callbacks.digit_triples import is_stacked, readings, triples_grid
from genlab.callbacks.iteration import IterationCallback
from genlab.loggers.run_logger import RunLogger
from genlab.models.base import GenerativeModel


class ScatterCanvas:
    """Generated 2-D points over the real mixture, on the real data's extent, as an RGB image.

    One figure serves a whole run: the real points, axes and legend are set up once and each
    picture only moves the generated points and the title (a new figure per picture cost about
    three times the drawing itself)."""

    def __init__(self, real: torch.Tensor) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(4.5, 4.5), dpi=100)
        FigureCanvasAgg(self.figure)
        self.axes = self.figure.add_subplot()
        self.axes.scatter(real[:, 0], real[:, 1], s=4, c="0.7", label="real", linewidths=0)
        self.generated = self.axes.scatter(
            np.empty((0, 2)), np.empty((0, 2)), s=4, c="tab:blue", alpha=0.6, linewidths=0
        )
        self.generated.set_label("generated")
        lo, hi = real.min(dim=0).values, real.max(dim=0).values
        margin = 0.25 * (hi - lo).max().item() + 1e-3
        self.axes.set_xlim(lo[0].item() - margin, hi[0].item() + margin)
        self.axes.set_ylim(lo[1].item() - margin, hi[1].item() + margin)
        self.axes.set_aspect("equal")
        self.axes.set_title("iteration 0")
        self.axes.legend(loc="upper right", fontsize=7, markerscale=3)
        self.figure.tight_layout()

    def render(self, fake: torch.Tensor, title: str) -> torch.Tensor:
        """The picture of `fake` (N, 2) as a (3, H, W) uint8 tensor."""
        self.generated.set_offsets(fake.float().numpy())
        self.axes.set_title(title)
        self.figure.canvas.draw()
        rgba = np.asarray(self.figure.canvas.buffer_rgba())
        return torch.from_numpy(rgba[..., :3].copy()).permute(2, 0, 1)


def image_grid(images: torch.Tensor, min_side: int, nrow: int = 8) -> torch.Tensor:
    """(C, H, W) grid in [0, 1] of images given in [-1, 1], each image enlarged by a whole
    factor (nearest neighbour: every pixel stays a crisp square) to at least `min_side` pixels."""
    from torchvision.utils import make_grid

    return make_grid(enlarged(images, min_side), nrow=nrow, normalize=True, value_range=(-1, 1))


class DigitReader(Protocol):
    """What reads stacked samples' digits (the stacked-digits metrics suite)."""

    def read_digits(self, samples: torch.Tensor) -> torch.Tensor:
        """(N, 3) digits of samples (N, 3, S, S)."""
        ...


def images_picture(
    images: torch.Tensor,
    min_side: int,
    nrow: int = 8,
    stacked: bool = False,
    reader: DigitReader | None = None,
) -> torch.Tensor:
    """The picture genlab draws of images in [-1, 1]: `image_grid`, or for stacked digits each
    sample's three digits side by side with `reader`'s reading ("3-7-1") under it where there is
    a reader (genlab.callbacks.digit_triples)."""
    if not stacked:
        return image_grid(images, min_side, nrow=nrow)
    captions = readings(reader.read_digits(images)) if reader is not None else None
    return triples_grid(enlarged(images, min_side), nrow=nrow, captions=captions)


def enlarged(images: torch.Tensor, min_side: int) -> torch.Tensor:
    """Images in [-1, 1] (clamped), enlarged by the whole factor (nearest neighbour) that makes
    their width at least `min_side` pixels: the rule of every picture genlab writes."""
    factor = max(1, -(-min_side // images.shape[-1]))
    if factor > 1:
        images = images.repeat_interleave(factor, dim=-1).repeat_interleave(factor, dim=-2)
    return images.clamp(-1, 1)


@dataclass(frozen=True)
class EncodedPicture:
    """A picture encoded once as PNG: the same bytes go to TensorBoard and to samples.png."""

    height: int
    width: int
    png: bytes

    @classmethod
    def encode(cls, picture: torch.Tensor) -> EncodedPicture:
        """From a (3, H, W) picture, uint8 or float in [0, 1] (rounded as torchvision's
        save_image does)."""
        from PIL import Image

        if picture.dtype != torch.uint8:
            picture = picture.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)
        buffer = io.BytesIO()
        Image.fromarray(picture.permute(1, 2, 0).numpy()).save(buffer, format="PNG")
        return cls(int(picture.shape[1]), int(picture.shape[2]), buffer.getvalue())

    def log(self, experiment: Any, tag: str, step: int) -> None:
        """Add to a TensorBoard SummaryWriter as an image summary (what `add_image` writes,
        without its float round trip and second encoding)."""
        from tensorboard.compat.proto.summary_pb2 import Summary

        image = Summary.Image(
            height=self.height, width=self.width, colorspace=3, encoded_image_string=self.png
        )
        summary = Summary(value=[Summary.Value(tag=tag, image=image)])
        experiment.file_writer.add_summary(summary, step)


@dataclass(frozen=True)
class RenderedSamples:
    """One iteration's pictures (by TensorBoard tag) and, for 2-D data, the generated points
    they show."""

    iteration: int
    pictures: dict[str, EncodedPicture]
    points: torch.Tensor | None


class SampleLogger(IterationCallback):
    """Logs samples from the fixed evaluation noise to TensorBoard and genlab's MLflow / W&B
    loggers; for 2-D data a scatter over the real mixture, for images a grid (and
    reconstructions for models that have `reconstruct`); stacked digits are drawn as three grey
    digits side by side, read by the run's stacked-digits metrics suite where it has one.
    At the end of training it also writes `samples.png` into the run folder (rank 0 only), and
    for 2-D data the generated points as `samples.npy` (float32, (num_points, 2))."""

    def __init__(
        self,
        every_n_iterations: int,
        num_images: int,
        num_points: int,
        min_image_side: int,
        output_dir: str,
    ) -> None:
        super().__init__(every_n_iterations)
        self.num_images = num_images
        self.min_image_side = min_image_side
        self.num_points = num_points
        self.output_dir = Path(output_dir)
        self._canvas: ScatterCanvas | None = None
        self._last: RenderedSamples | None = None

    @staticmethod
    def _tensorboard(trainer: L.Trainer) -> Any:
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                return logger.experiment
        return None

    @staticmethod
    def _digit_reader(trainer: L.Trainer) -> DigitReader | None:
        """The run's metrics suite where it reads stacked digits: the pictures' captions."""
        from genlab.callbacks.metrics import MetricsCallback
        from genlab.metrics.suites import StackedDigitsSuite

        for callback in trainer.callbacks:
            if isinstance(callback, MetricsCallback):
                suite = callback.suite
                return suite if isinstance(suite, StackedDigitsSuite) else None
        return None

    def _generated_points(self, module: GenerativeModel) -> torch.Tensor:
        """Generated 2-D points from the fixed evaluation noise, on the CPU."""
        return module.sample(self.num_points, module.eval_noise(self.num_points)).cpu()

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        # the figure is set up before training (fixed per-run work, off the training loop)
        if trainer.is_global_zero and trainer.datamodule.kind == "points":
            self._canvas = ScatterCanvas(trainer.datamodule.reference_batch(self.num_points))

    def _render(self, trainer: L.Trainer, module: GenerativeModel) -> RenderedSamples:
        datamodule = trainer.datamodule
        if datamodule.kind == "points":
            if self._canvas is None:
                self._canvas = ScatterCanvas(datamodule.reference_batch(self.num_points))
            points = self._generated_points(module)
            picture = self._canvas.render(points, f"iteration {module.iteration}")
            encoded = {"samples/scatter": EncodedPicture.encode(picture)}
            return RenderedSamples(module.iteration, encoded, points)
        stacked = is_stacked(datamodule)
        reader = self._digit_reader(trainer) if stacked else None

        def draw(images: torch.Tensor) -> torch.Tensor:
            return images_picture(images, self.min_image_side, stacked=stacked, reader=reader)

        samples = module.sample(self.num_images, module.eval_noise(self.num_images)).cpu()
        pictures = {"samples/grid": draw(samples)}
        if hasattr(module, "reconstruct"):
            real = datamodule.reference_batch(self.num_images // 2)
            pairs = torch.stack([real, module.reconstruct(real).cpu()], dim=1).flatten(0, 1)
            pictures["samples/reconstructions"] = draw(pairs)
        encoded = {tag: EncodedPicture.encode(picture) for tag, picture in pictures.items()}
        return RenderedSamples(module.iteration, encoded, None)

    def _rendered(self, trainer: L.Trainer, module: GenerativeModel) -> RenderedSamples:
        """This iteration's pictures: those just logged, else newly rendered."""
        if self._last is None or self._last.iteration != module.iteration:
            self._last = self._render(trainer, module)
        return self._last

    def on_iteration(self, trainer: L.Trainer, module: GenerativeModel) -> None:
        tensorboard = self._tensorboard(trainer)
        others = [logger for logger in trainer.loggers if isinstance(logger, RunLogger)]
        if not trainer.is_global_zero or (tensorboard is None and not others):
            return
        for tag, picture in self._rendered(trainer, module).pictures.items():
            if tensorboard is not None:
                picture.log(tensorboard, tag, module.iteration)
            for logger in others:
                logger.log_picture(tag, picture.png, module.iteration)

    def on_train_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        super().on_train_end(trainer, pl_module)
        if not trainer.is_global_zero or trainer.fast_dev_run:
            return
        rendered = self._rendered(trainer, pl_module)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        if rendered.points is not None:  # the pictured points, for genlab-compare's scatter grid
            np.save(self.output_dir / "samples.npy", rendered.points.float().numpy())
        (self.output_dir / "samples.png").write_bytes(next(iter(rendered.pictures.values())).png)
