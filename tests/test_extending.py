"""docs/extending.md's worked examples, taken from the page itself: its file blocks become a user
package (mygenlab/) and config folder (my_configs/), and each example trains through them."""

from __future__ import annotations

import itertools
import json
import math
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
import yaml

from conftest import compose_config, genlab_train_cli

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"
FENCED = re.compile(r"^```([\w-]*)\n(.*?)^```", flags=re.S | re.M)
FILE_LINE = re.compile(r"# ((?:mygenlab|my_configs)/[\w/]+\.(?:py|yaml))")
EXPECTED_FILES = {
    "mygenlab/__init__.py",
    "mygenlab/losses.py",
    "mygenlab/models.py",
    "mygenlab/nets.py",
    "mygenlab/data.py",
    "mygenlab/r2.py",
    "my_configs/model/my_gan.yaml",
    "my_configs/net/resmlp.yaml",
    "my_configs/data/two_rings.yaml",
    "my_configs/fix/r2.yaml",
    "my_configs/fix/r1_r2.yaml",
    "my_configs/experiment/my_study.yaml",
}
# Quick runs: 2 iterations on the CPU, CSV logs, no sample pictures.
QUICK = [
    "iterations=2",
    "trainer.accelerator=cpu",
    "trainer.enable_progress_bar=false",
    "logger=csv",
    "~callbacks.samples",
]
PROBED: dict[str, Any] = {}  # what the last in-process run built (RunProbe)


def doc_files() -> dict[str, str]:
    """Path -> text of each code block of the page whose first line (after a `# @package` line)
    names a file under mygenlab/ or my_configs/."""
    files: dict[str, str] = {}
    for _, block in FENCED.findall(DOC.read_text()):
        lines = block.splitlines()[:2]
        if lines and lines[0].startswith("# @package"):
            lines = lines[1:]
        named = FILE_LINE.fullmatch(lines[0].strip()) if lines else None
        if named:
            assert named.group(1) not in files, f"{named.group(1)} is shown twice"
            files[named.group(1)] = block
    return files


def doc_train_commands() -> list[list[str]]:
    """The arguments of each `genlab-train` line in the page's bash blocks."""
    return [
        words[1:]
        for language, block in FENCED.findall(DOC.read_text())
        if language == "bash"
        for line in block.splitlines()
        if (words := shlex.split(line, comments=True))[:1] == ["genlab-train"]
    ]


def qualified(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


class RunProbe(L.Callback):
    """What a run really built, taken when training ends: written to `path` as JSON (for a
    subprocess run), the model and data module kept in PROBED (for an in-process one)."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def on_train_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        from genlab.models.losses import ADVERSARIAL_LOSSES

        loss_name = getattr(pl_module, "loss_name", None)
        facts = {
            "model": qualified(pl_module),
            "nets": {name: qualified(net) for name, net in pl_module.named_nets()},
            "datamodule": qualified(trainer.datamodule),
            "loss": loss_name,
            "loss_from": pl_module.loss.discriminator.__module__ if loss_name else None,
            "loss_registered": loss_name is not None
            and ADVERSARIAL_LOSSES.get(loss_name) is pl_module.loss,
            "iteration": pl_module.iteration,
        }
        self.path.write_text(json.dumps(facts))
        PROBED.update(model=pl_module, datamodule=trainer.datamodule)


def probed(path: Path) -> list[str]:
    """Overrides adding RunProbe (importable here, and in genlab_train_cli's process through
    the tests folder on its PYTHONPATH)."""
    return [f"+callbacks.probe._target_={__name__}.RunProbe", f"+callbacks.probe.path={path}"]


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The page's user package and config folder, written into one folder on sys.path."""
    from genlab.models.losses import ADVERSARIAL_LOSSES

    root = tmp_path_factory.mktemp("user")
    for name, text in doc_files().items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(root))
        yield root
    for name in [m for m in sys.modules if m == "mygenlab" or m.startswith("mygenlab.")]:
        del sys.modules[name]
    added = [n for n, loss in ADVERSARIAL_LOSSES.items() if "mygenlab" in loss.generator.__module__]
    for name in added:
        del ADVERSARIAL_LOSSES[name]


def search_path(user: Path) -> str:
    """The override that adds the user's config folder, as --config-dir does."""
    return f"hydra.searchpath=[file://{user / 'my_configs'}]"


def train_in_process(tmp_path: Path, user: Path, *overrides: str) -> tuple[dict, dict]:
    """Train as `genlab-train --config-dir <user>/my_configs ...` would, in this process;
    returns the run's summary.json and what RunProbe saw."""
    from genlab.run.folder import read_summary
    from genlab.train import train

    run_dir, probe = tmp_path / "run", tmp_path / "probe.json"
    paths = [f"paths.root_dir={tmp_path}", f"paths.cache_dir={tmp_path / 'cache'}"]
    cfg = compose_config(run_dir, [search_path(user), *paths, *QUICK, *probed(probe), *overrides])
    PROBED.clear()
    train(cfg)
    return read_summary(run_dir), json.loads(probe.read_text())


def assert_trained(summary: dict[str, Any], probe: dict[str, Any]) -> None:
    assert summary["status"] == "completed", summary.get("error")
    assert summary["iterations_done"] == 2 and probe["iteration"] == 2
    assert math.isfinite(summary["train/d_loss"]) and math.isfinite(summary["train/g_loss"])


def test_the_page_shows_each_example_file_once_as_code_that_parses() -> None:
    files = doc_files()
    assert set(files) == EXPECTED_FILES
    layout = next(b for _, b in FENCED.findall(DOC.read_text()) if b.startswith("mygenlab/"))
    listed = set(layout.split())
    assert all(name.split("/", 1)[1] in listed for name in files), layout  # the page's tree
    for name, text in files.items():
        if name.endswith(".py"):
            compile(text, name, "exec")
        else:
            assert isinstance(yaml.safe_load(text), dict), name  # a YAML mapping, as Hydra reads


def test_example_1_a_loss_is_registered_by_name_reduced_per_member_and_trained_with(
    user: Path, tmp_path: Path
) -> None:
    import mygenlab  # noqa: F401  (its __init__ registers the losses)
    from hydra.utils import instantiate

    from genlab.models.losses import adversarial_loss

    loss = adversarial_loss("lsgan_pearson")
    real = torch.tensor([[1.0, 3.0], [0.0, 2.0]])  # (K=2 members, B=2) scores
    fake = torch.tensor([[-1.0, 1.0], [0.0, -2.0]])
    # 1/2 E(D(x) - 1)^2 + 1/2 E(D(G(z)) + 1)^2 and 1/2 E D(G(z))^2, each member on its own row
    torch.testing.assert_close(loss.discriminator(real, fake, 1.0), torch.tensor([2.0, 1.0]))
    torch.testing.assert_close(loss.generator(fake), torch.tensor([0.5, 1.0]))
    assert loss.discriminator(real[0], fake[0], 0.5).shape == ()  # a plain run's: one value
    torch.testing.assert_close(loss.discriminator(real[0], fake[0], 0.5), torch.tensor(2.625))

    summary, probe = train_in_process(tmp_path, user, "model=my_gan")
    assert_trained(summary, probe)
    assert summary["model"] == "my_gan"
    assert probe["loss"] == "lsgan_pearson" and probe["loss_registered"]
    assert probe["loss_from"] == "mygenlab.losses"
    cfg = compose_config(tmp_path / "typo", [search_path(user), "model=my_gan", "model.loss=nope"])
    with pytest.raises(Exception, match=r"(?s)'nope'.*lsgan_pearson"):
        instantiate(cfg.model, _convert_="all")  # the names that are known, the user's among them


def test_example_2_the_nets_are_built_from_the_user_folder_honour_pack_and_members(
    user: Path, tmp_path: Path
) -> None:
    from hydra.utils import instantiate
    from mygenlab.nets import ResidualDiscriminator, ResidualGenerator

    from genlab.nets.layers import MinibatchStd
    from genlab.nets.members import stack_nets

    summary, probe = train_in_process(
        tmp_path, user, "net=resmlp", "net.width=32", "fix=pack2", "model.minibatch_std=2"
    )
    assert_trained(summary, probe)
    assert summary["net"] == "resmlp"
    assert probe["nets"] == {
        "generator": "mygenlab.nets.ResidualGenerator",
        "discriminator": "mygenlab.nets.ResidualDiscriminator",
    }
    discriminator = PROBED["model"].discriminator
    assert discriminator.pack == 2 and isinstance(discriminator.minibatch_std, MinibatchStd)
    assert discriminator(torch.zeros(8, 2)).shape == (4,)  # one score per pack of 2

    # model=wgan_gp takes the critic role: the same class, no packing
    cfg = compose_config(tmp_path / "wgan", [search_path(user), "net=resmlp", "model=wgan_gp"])
    critic = instantiate(cfg.model, _convert_="all").discriminator
    assert type(critic) is ResidualDiscriminator and critic.pack == 1

    # members: two seeds stacked into one net compute what each plain net computes
    nets = {
        ResidualGenerator: ({"latent_dim": 3, "tanh_output": False}, torch.randn(8, 3)),
        ResidualDiscriminator: ({"pack": 2, "minibatch_std": 2}, torch.randn(16, 2)),
    }
    for net_class, (settings, inputs) in nets.items():
        plain = []
        for seed in (0, 1):
            torch.manual_seed(seed)
            plain.append(net_class(data_shape=[2], width=8, blocks=2, **settings))
        batched = stack_nets(plain)
        expected = torch.cat([net(part) for net, part in zip(plain, inputs.chunk(2), strict=True)])
        torch.testing.assert_close(batched(inputs), expected)


def test_example_3_the_data_set_trains_records_its_facts_and_is_scored_by_coverage(
    user: Path, tmp_path: Path
) -> None:
    summary, probe = train_in_process(tmp_path, user, "data=two_rings")
    assert_trained(summary, probe)
    assert probe["datamodule"] == "mygenlab.data.TwoRingsDataModule"
    assert summary["data"] == "two_rings" and summary["data_modes"] == 24  # its record_facts
    assert 0 <= summary["metrics/modes"] <= 24  # metrics=coverage on its mixture's 24 centres
    datamodule = PROBED["datamodule"]
    assert len(datamodule.capability("mixture").centres) == 24
    radii = datamodule.reference_batch(500).norm(dim=1)
    assert ((radii - 1).abs() < 0.2).any() and ((radii - 2).abs() < 0.2).any()


def test_example_4_the_fix_builds_the_subclass_and_its_penalty_is_trained(
    user: Path, tmp_path: Path
) -> None:
    summary, probe = train_in_process(tmp_path, user, "fix=r2")
    assert_trained(summary, probe)
    assert probe["model"] == "mygenlab.r2.R2GAN" and PROBED["model"].r2_gamma == 10.0
    assert summary["train/r2"] >= 0 and math.isfinite(summary["train/r2"])
    assert "train/r1" not in summary


def test_every_genlab_train_line_of_the_page_composes_and_builds_with_the_user_folder(
    user: Path, tmp_path: Path
) -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.utils import instantiate

    commands = doc_train_commands()
    assert len(commands) >= 8
    for args in commands:
        assert args[:2] == ["--config-dir", "my_configs"], args
        choices = []  # per override, what the jobs of a sweep (-m) set it to
        for override in OverridesParser.create().parse_overrides(
            [a for a in args[2:] if a != "-m"]
        ):
            if not override.is_sweep_override():
                choices.append([override.input_line])
                continue
            values = list(override.sweep_string_iterator())
            if override.key_or_group == "seed":  # seeds compose alike: the first stands for all
                values = values[:1]
            choices.append([f"{override.get_key_element()}={v}" for v in values])
        for job in itertools.product(*choices):
            cfg = compose_config(tmp_path / "job", [search_path(user), *job])
            assert instantiate(cfg.model, _convert_="all").iteration == 0, job
            assert instantiate(cfg.data).name == cfg.data.name, job


@pytest.mark.process
def test_the_examples_compose_through_genlab_train_config_dir(
    user: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(user))  # the user package, for the new process
    run_dir, probe = tmp_path / "run", tmp_path / "probe.json"
    result = genlab_train_cli(
        tmp_path,
        f"--config-dir={user / 'my_configs'}",
        "experiment=my_study",
        "fix=r1_r2",
        "net.width=32",
        *QUICK,
        f"hydra.run.dir={run_dir}",
        *probed(probe),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    facts = json.loads(probe.read_text())
    assert_trained(summary, facts)
    assert (summary["model"], summary["net"], summary["data"]) == ("my_gan", "resmlp", "two_rings")
    assert facts == {
        "model": "mygenlab.r2.R2GAN",
        "nets": {
            "generator": "mygenlab.nets.ResidualGenerator",
            "discriminator": "mygenlab.nets.ResidualDiscriminator",
        },
        "datamodule": "mygenlab.data.TwoRingsDataModule",
        "loss": "lsgan_pearson",
        "loss_from": "mygenlab.losses",
        "loss_registered": True,
        "iteration": 2,
    }
    assert summary["data_modes"] == 24 and "train/r1" in summary and "train/r2" in summary
