"""Every command line that README.md and docs/*.md show still matches the code: genlab-train's
overrides compose with genlab's configs (in-process, as conftest's compose_config composes them),
the overrides genlab-sample / genlab-eval / genlab-train-evaluator pass on compose too, and the
options of genlab-compare, genlab-fid and the scripts exist. A renamed option, group or config key
fails here with the page and line that show it."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from unittest import mock

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from genlab import CONF_DIR

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOOLS = (
    "genlab-train",
    "genlab-sample",
    "genlab-eval",
    "genlab-train-evaluator",
    "genlab-compare",
    "genlab-fid",
)
SCRIPTS = {
    "bench.py": ROOT / "scripts" / "bench.py",
    "gpu_check.py": ROOT / "scripts" / "gpu_check.py",
}

# Command lines the docs show that are not checked, each with its reason (a regular expression
# searched in the command's text). A rule that no longer matches any command fails the suite, so
# the list stays the list of what is skipped.
SKIPPED = {
    r"--config-dir": "composes the reader's own config folder (my_configs/), not shipped",
    r"genlab-train a=b \.\.\.": "architecture.md's placeholder for any overrides",
    r"genlab-train -m a=1,2 b=x,y": "the README's placeholder keys a and b",
}
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```", re.S | re.M)
SPAN = re.compile(r"`([^`\n]+(?:\n[^`\n]+)*)`")
PLACEHOLDER = re.compile(r"<[^<>\n]+>")  # <date>_<time>, <run folder>: the reader fills them in
MENTIONS_A_TOOL = re.compile(r"genlab-|genlab\.train|make (train|bench)|bench\.py|gpu_check\.py")


@dataclass(frozen=True)
class Command:
    """One command line shown on a page: the tool it runs and its arguments."""

    page: str
    line: int
    text: str
    tool: str
    args: tuple[str, ...]
    complete: bool  # a line of a bash block (a whole command), not a span in the prose

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.text}"


def words_of(text: str) -> list[str]:
    """The shell words of a line, placeholders and $HOME filled in, comments dropped."""
    text = PLACEHOLDER.sub("X", text).replace("$HOME", "/home/user")
    return shlex.split(text, comments=True)


def find_command(words: list[str]) -> tuple[str, list[str]] | None:
    """(tool, arguments) of the first genlab command in `words`, or None."""
    for i, word in enumerate(words):
        name, rest = word.rsplit("/", 1)[-1], words[i + 1 :]
        if name in TOOLS:  # genlab-train, .venv/bin/genlab-train
            return name, rest
        if name in SCRIPTS:  # python scripts/bench.py ...
            return name, rest
        if word == "-m" and rest[:1] == ["genlab.train"]:  # torchrun / python -m genlab.train
            return "genlab-train", rest[1:]
        if word == "make" and rest[:1] in (["train"], ["bench"]):
            variable = "ARGS=" if rest[0] == "train" else "BENCH_ARGS="
            given = [w.removeprefix(variable) for w in rest[1:] if w.startswith(variable)]
            tool = "genlab-train" if rest[0] == "train" else "bench.py"
            return tool, shlex.split(given[0]) if given else []
    return None


def commands_of(page: Path) -> list[Command]:
    """Every command line of a page's bash blocks and of its inline code spans."""
    text, name = page.read_text(), page.relative_to(ROOT).as_posix()
    found = []
    for block in FENCE.finditer(text):
        if block.group(1) not in ("bash", "sh", "shell"):
            continue
        first = text.count("\n", 0, block.start(2)) + 1
        logical, start = "", first
        for number, physical in enumerate(block.group(2).splitlines(), first):
            start = number if not logical else start
            if physical.endswith("\\"):  # a continuation: the command goes on
                logical += physical[:-1] + " "
                continue
            logical, line = "", logical + physical
            command = find_command(words_of(line))
            if command:
                shown = " ".join(line.split(" # ")[0].split())
                found.append(Command(name, start, shown, command[0], tuple(command[1]), True))
    prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for span in SPAN.finditer(prose):
        if not MENTIONS_A_TOOL.search(span.group(1)):
            continue
        command = find_command(words_of(span.group(1).replace("\n", " ")))
        if command and command[1]:  # a span holding only a tool's name names it
            line = prose.count("\n", 0, span.start()) + 1
            shown = " ".join(span.group(1).split())
            found.append(Command(name, line, shown, command[0], tuple(command[1]), False))
    return found


COMMANDS = [command for page in PAGES for command in commands_of(page)]


def skip_reason(command: Command) -> str | None:
    """Why a command is not checked (a SKIPPED rule matches it), or None."""
    for pattern, reason in SKIPPED.items():
        if re.search(pattern, command.text):
            return reason
    return None


# --- checks, one per kind of tool ---------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def _genlab_configs() -> Iterator[None]:
    """Hydra initialised once on genlab's configs for this module's compositions."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        yield
    composition_error.cache_clear()


@cache
def composition_error(overrides: tuple[str, ...]) -> str | None:
    """None when genlab-train's config composes with these overrides, else Hydra's message."""
    try:
        compose("train", overrides=list(overrides), return_hydra_config=True)
    except Exception as err:  # Hydra's and OmegaConf's errors: what the user would see
        return f"{type(err).__name__}: {err}"
    return None


def group_options(group: str) -> list[str]:
    """The options of a config group (genlab's files and the plug-ins' stored configs)."""
    return GlobalHydra.instance().config_loader().get_group_options(group)


def group_names() -> set[str]:
    """The config groups a sweep can list options of (data, fix, hydra/launcher, ...)."""
    groups = {p.relative_to(CONF_DIR).as_posix() for p in CONF_DIR.rglob("*") if p.is_dir()}
    return groups | {"hydra/launcher", "hydra/sweeper"}


def sweep_problems(overrides: list[str]) -> tuple[list[str], list[str]]:
    """(the first job's plain overrides, the other options a group sweep names that its group
    lacks). A value sweep such as seed=0,1,2 composes alike for every value, so its first value
    stands for all; each further option of a group sweep must be one of the group's options."""
    groups, first, problems = group_names(), [], []
    for override in OverridesParser.create().parse_overrides(overrides):
        if not override.is_sweep_override():
            first.append(override.input_line)
            continue
        key, values = override.get_key_element(), list(override.sweep_string_iterator())
        first.append(f"{key}={values[0]}")
        if override.key_or_group in groups:
            options = group_options(override.key_or_group)
            missing = [v for v in values[1:] if v not in options]
            if missing:
                problems.append(f"{override.key_or_group} has no option {missing}: {options}")
    return first, problems


def check_train(args: tuple[str, ...]) -> list[str]:
    """Problems of a genlab-train command line (its flags, then each composition)."""
    flags = [a for a in args if a.startswith("-")]
    unknown = [f for f in flags if f not in ("-m", "--multirun", "--help", "-h")]
    if unknown:
        return [f"flags genlab-train does not take here: {unknown}"]
    overrides = [a for a in args if not a.startswith("-")]
    problems: list[str] = []
    if "-m" in args or "--multirun" in args:
        try:
            overrides, problems = sweep_problems(overrides)
        except Exception as err:  # Hydra cannot parse the sweep
            return [f"{type(err).__name__}: {err}"]
    error = composition_error(tuple(overrides))
    if error:
        problems.append(f"{' '.join(overrides)}\n    {error}")
    return problems


def check_checkpoint_tool(tool: str, args: tuple[str, ...]) -> list[str]:
    """genlab-sample / genlab-eval: one ckpt_path=, its own options (sample.yaml), and the rest
    overrides of the run's config, which must compose with genlab-train's."""
    paths = [a for a in args if a.startswith("ckpt_path=")]
    if len(paths) != 1:
        return [f"{tool} needs exactly one ckpt_path=..., got {len(paths)}"]
    rest = [a for a in args if not a.startswith("ckpt_path=")]
    if tool == "genlab-sample":
        options = OmegaConf.load(CONF_DIR / "sample.yaml")
        rest = [a for a in rest if a.split("=", 1)[0].lstrip("+~") not in options]
    return check_train(tuple(rest))


class _Parsed(Exception):
    """Raised in place of parsing, once the tool has built its argument parser."""


def parser_of(tool: str) -> argparse.ArgumentParser:
    """The argument parser a tool or script builds (captured before it parses anything)."""
    if tool == "genlab-compare":
        from genlab.compare.cli import parser

        return parser()
    captured: list[argparse.ArgumentParser] = []

    def capture(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        captured.append(self)
        raise _Parsed

    with (
        mock.patch.object(argparse.ArgumentParser, "parse_args", capture),
        contextlib.suppress(_Parsed),
    ):
        if tool == "genlab-fid":
            from genlab.fid import run

            run(["x"])
        else:  # a script: its main() builds the parser
            import runpy

            runpy.run_path(str(SCRIPTS[tool]), run_name="__main__")
    return captured[0]


def check_argparse_tool(tool: str, args: tuple[str, ...], complete: bool) -> list[str]:
    """Every --option is one the tool defines (exactly: argparse would also take a prefix); a
    whole command line from a bash block must also parse."""
    cli = parser_of(tool)
    known = {s for action in cli._actions for s in action.option_strings}
    words = [w.strip("[]") for w in args]  # a synopsis marks optional parts with [...]
    unknown = [w for w in words if w.startswith("--") and w.split("=")[0] not in known]
    if unknown:
        return [f"{tool} has no option {unknown}; it has {sorted(known)}"]
    if complete and tool in ("genlab-compare", "genlab-fid"):
        with contextlib.redirect_stderr(io.StringIO()) as err:
            try:
                cli.parse_args(words)
            except SystemExit:
                return [f"{tool} refuses {words}: {err.getvalue().strip()}"]
    return []


def problems_of(command: Command) -> list[str]:
    """What in a command line the code no longer takes (empty: it matches)."""
    if command.tool == "genlab-train":
        return check_train(command.args)
    if command.tool in ("genlab-sample", "genlab-eval"):
        return check_checkpoint_tool(command.tool, command.args)
    if command.tool == "genlab-train-evaluator":  # composes genlab-train's config the same way
        return check_train(command.args)
    return check_argparse_tool(command.tool, command.args, command.complete)


# --- the tests ------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: f"{c.page}:{c.line}")
def test_every_command_line_in_the_docs_matches_the_code(command: Command) -> None:
    reason = skip_reason(command)
    if reason:
        pytest.skip(f"{command.text}: {reason}")
    problems = problems_of(command)
    assert not problems, f"{command}\n" + "\n".join(problems)


def test_the_docs_commands_are_found_and_every_skip_is_still_needed() -> None:
    by_tool = {tool: sum(c.tool == tool for c in COMMANDS) for tool in TOOLS}
    # the pages show dozens of genlab-train lines and each other tool at least once
    assert by_tool["genlab-train"] >= 40, by_tool
    assert all(count >= 1 for count in by_tool.values()), by_tool
    stale = [p for p in SKIPPED if not any(re.search(p, c.text) for c in COMMANDS)]
    assert not stale, f"skip rules that match no command any more: {stale}"


@pytest.mark.parametrize(
    "line",
    [
        "genlab-train model.optimizer_d.lrr=4e-4",  # a misspelt key
        "genlab-train -m fix=vanilla,pack3 seed=0,1",  # a misspelt option in a sweep
        "make train ARGS='data=ring9'",
        ".venv/bin/genlab-train hydra/launcher=submitit_locale",
        "genlab-sample ckpt_path=x/last.ckpt nn=64",  # neither an option nor a config key
        "genlab-eval ckpt_path=x/last.ckpt metric.num_samples=10",
        "genlab-compare X --metric modes",  # argparse alone would take the prefix
        "genlab-fid a b --kids",
        "make bench BENCH_ARGS='--case gan_mlp'",
    ],
)
def test_a_misspelt_option_fails(line: str) -> None:
    tool, args = find_command(words_of(line))
    assert problems_of(Command("t.md", 1, line, tool, tuple(args), True)), line


def test_commands_are_read_as_a_shell_reads_them(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        'Run `genlab-train model=vae` or `make train ARGS="data=grid25 seed=1"`.\n\n'
        "```bash\n"
        "genlab-train -m hydra/launcher=slurm \\\n"
        "    seed=0,1   # two jobs\n"
        "torchrun --nproc_per_node=2 -m genlab.train trainer=ddp\n"
        "genlab-sample ckpt_path=logs/runs/<date>_<time>/checkpoints/last.ckpt n=8\n"
        "```\n"
    )
    with mock.patch(f"{__name__}.ROOT", tmp_path):
        found = [(c.line, c.tool, c.args) for c in commands_of(page)]
    assert found == [
        (4, "genlab-train", ("-m", "hydra/launcher=slurm", "seed=0,1")),
        (6, "genlab-train", ("trainer=ddp",)),
        (7, "genlab-sample", ("ckpt_path=logs/runs/X_X/checkpoints/last.ckpt", "n=8")),
        (1, "genlab-train", ("model=vae",)),
        (1, "genlab-train", ("data=grid25", "seed=1")),
    ]
