"""data=image_folder: a folder of the user's own images, decoded once, refused early when bad."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from conftest import genlab_train_cli, make_image_folder
from genlab.data import image_folder
from genlab.data.image_folder import FolderSettings, ImageFolderError, prepare_folder


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    root = tmp_path_factory.mktemp("my_digits")
    digits, labels = make_image_folder(root, per_class=20)
    return root, digits, labels


def settings(**changes: object) -> FolderSettings:
    values = dict(channels=1, side=28, crop="center", labels=True, skip_unreadable=False)
    values.update(limit=None)
    values.update(changes)
    return FolderSettings(**values)  # type: ignore[arg-type]


def test_every_format_decodes_to_the_digit_it_holds(digits_folder, tmp_path: Path) -> None:
    root, digits, labels = digits_folder
    folder = prepare_folder(root, settings(), tmp_path, None)
    assert folder.images.dtype == np.uint8 and folder.images.shape == (200, 1, 28, 28)
    assert folder.classes == [str(d) for d in range(10)] and folder.skipped == []
    assert np.array_equal(folder.labels, labels)
    error = np.abs(folder.images[:, 0].astype(int) - digits.astype(int))
    kinds = np.arange(200) % 20 % 5  # conftest.IMAGE_FOLDER_FORMATS, cycling per class
    lossless = kinds != 1
    # grey PNG, RGBA over black, and the centre crops of the wide / tall canvases: exact
    assert error[lossless].max() == 0
    assert error[~lossless].mean() < 3  # JPEG, quality 95


def test_rgb_and_resizing_and_no_crop(digits_folder, tmp_path: Path) -> None:
    root, digits, _ = digits_folder
    rgb = prepare_folder(root, settings(channels=3, side=32), tmp_path, None)
    assert rgb.images.shape == (200, 3, 32, 32)
    grey_png = rgb.images[0]  # a grey image repeated over R, G, B
    assert np.array_equal(grey_png[0], grey_png[1]) and np.array_equal(grey_png[1], grey_png[2])
    squashed = prepare_folder(root, settings(crop="none"), tmp_path, None)
    wide = 3  # the first png_wide file: its 36 columns squashed into 28, so not the digit
    assert not np.array_equal(squashed.images[wide, 0], digits[wide])
    unlabelled = prepare_folder(root, settings(labels=False), tmp_path, None)
    assert unlabelled.labels is None and unlabelled.classes == []


def test_the_second_use_reads_the_cache_and_a_changed_folder_is_decoded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "images"
    make_image_folder(root, per_class=2)
    decodes = []
    real_decode = image_folder.decode_image
    monkeypatch.setattr(
        image_folder, "decode_image", lambda p, s: decodes.append(p) or real_decode(p, s)
    )
    cache = tmp_path / "cache"
    first = prepare_folder(root, settings(), cache, None)
    assert first.decoded and len(decodes) == 20
    second = prepare_folder(root, settings(), cache, None)
    assert not second.decoded and len(decodes) == 20 and second.key == first.key
    assert np.array_equal(second.images, first.images)
    assert np.array_equal(second.labels, first.labels)
    # another setting is another cache entry; a touched file changes the folder's key
    assert prepare_folder(root, settings(side=16), cache, None).key != first.key
    some_file = next(root.glob("3/*.png"))
    os.utime(some_file, ns=(0, 10**9))
    third = prepare_folder(root, settings(), cache, None)
    assert third.decoded and third.key != first.key


def test_limit_keeps_a_fixed_subset(digits_folder, tmp_path: Path) -> None:
    root, _, _ = digits_folder
    a = prepare_folder(root, settings(limit=50), tmp_path / "a", None)
    b = prepare_folder(root, settings(limit=50), tmp_path / "b", None)
    assert len(a.images) == 50 and np.array_equal(a.images, b.images)
    assert len(set(a.labels.tolist())) > 5  # a random subset, not the first classes


def test_bad_folders_are_named_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ImageFolderError, match=r"data.path=DIR"):
        prepare_folder(None, settings(), tmp_path, None)
    with pytest.raises(ImageFolderError, match=r"does not exist; point data.path"):
        prepare_folder(tmp_path / "missing", settings(), tmp_path, None)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(ImageFolderError, match=r"no image files under"):
        prepare_folder(tmp_path / "empty", settings(), tmp_path, None)
    mixed = tmp_path / "mixed"
    make_image_folder(mixed, per_class=1)
    (mixed / "loose.png").write_bytes((mixed / "0" / "000.png").read_bytes())
    with pytest.raises(ImageFolderError, match=r"loose.png.*data.labels=false"):
        prepare_folder(mixed, settings(), tmp_path, None)
    assert len(prepare_folder(mixed, settings(labels=False), tmp_path, None).images) == 11


def test_unreadable_files_are_named_or_skipped_and_counted(tmp_path: Path) -> None:
    root = tmp_path / "images"
    make_image_folder(root, per_class=2)
    (root / "4" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    png = (root / "5" / "000.png").read_bytes()
    (root / "5" / "cut.png").write_bytes(png[: len(png) // 2])
    with pytest.raises(ImageFolderError) as refused:
        prepare_folder(root, settings(), tmp_path / "cache", None)
    message = str(refused.value)
    assert "2 image file(s) cannot be decoded" in message
    assert "4/broken.png" in message and "5/cut.png" in message
    assert "data.skip_unreadable=true" in message
    skipped = prepare_folder(root, settings(skip_unreadable=True), tmp_path / "cache", None)
    assert sorted(skipped.skipped) == ["4/broken.png", "5/cut.png"] and len(skipped.images) == 20


def test_a_set_larger_than_memory_is_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "images"
    make_image_folder(root, per_class=2)
    monkeypatch.setattr(image_folder, "decode_image", lambda p, s: pytest.fail("decoded"))
    with pytest.raises(ImageFolderError) as refused:
        prepare_folder(root, settings(channels=3, side=64), tmp_path, max_bytes=100_000)
    message = str(refused.value)
    assert "20 images of 3x64x64 take 245,760 bytes" in message
    assert "data.side" in message and "data.limit=N (at most 8 images fit)" in message


def _args(root: Path, *extra: str) -> list[str]:
    return [
        "data=image_folder",
        f"data.path={root}",
        "data.side=32",
        "data.channels=1",
        "metrics=none",
        "iterations=2",
        "callbacks=none",
        "logger=csv",
        *extra,
    ]


@pytest.mark.process
def test_bad_input_stops_with_exit_2_before_any_run_folder(tmp_path: Path) -> None:
    good = tmp_path / "good"
    make_image_folder(good, per_class=1)
    broken = tmp_path / "broken"
    make_image_folder(broken, per_class=1)
    (broken / "7" / "bad.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "empty").mkdir()
    cases = {
        "missing": (_args(tmp_path / "nowhere"), "does not exist; point data.path"),
        "empty": (_args(tmp_path / "empty"), "no image files under"),
        "unreadable": (_args(broken), "7/bad.jpg"),
        "side": (_args(good, "data.side=33"), "net=dcgan cannot build side 33"),
        "batch": (_args(good), "data.batch_size=64 is larger than the 10 images"),
        "memory": (_args(good, "data.max_bytes=1000"), "data.limit=N"),
    }
    for name, (args, expected) in cases.items():
        batch = [] if name == "batch" else ["data.batch_size=8"]
        result = genlab_train_cli(tmp_path, *args, *batch, "net.channels=8")
        assert result.returncode == 2, (name, result.stderr[-2000:])
        assert expected in result.stderr, (name, result.stderr[-2000:])
        assert "Traceback" not in result.stderr, name
        assert not (tmp_path / "logs" / "runs").exists(), name


@pytest.mark.parametrize("net", [["net=dcgan"], ["net=resnet"], ["fix=diffaugment"]])
def test_a_few_iterations_on_a_folder_of_digits(run_train, digits_folder, net: list[str]) -> None:
    root, _, _ = digits_folder
    summary = run_train(*_args(root, "data.batch_size=16", *net))
    assert summary["status"] == "completed" and summary["iterations_done"] == 2
    assert summary["data_folder"] == str(root) and summary["data_images"] == 200
    assert summary["data_classes"] == 10 and len(summary["data_cache_key"]) == 16
    assert summary["data_skipped_files"] == 0
    assert np.isfinite(summary["train/g_loss"])


def test_domain_metrics_on_a_labelled_folder(run_train, digits_folder) -> None:
    root, _, _ = digits_folder
    args = [a for a in _args(root) if a != "metrics=none"]
    summary = run_train(
        *args, "data.side=28", "metrics=domain", "evaluator.train_steps=30",
        "metrics.num_samples=64", "metrics.every_n_iterations=2", "data.batch_size=16",
    )  # fmt: skip
    assert summary["status"] == "completed"
    assert summary["metrics/classes_image_folder"] >= 1
    assert np.isfinite(summary["metrics/fid_image_folder"])
    assert 0 <= summary["evaluator_image_folder_accuracy"] <= 1


def test_a_second_run_on_the_folder_decodes_nothing(
    run_train, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "images"
    make_image_folder(root, per_class=2)
    decodes = []
    real_decode = image_folder.decode_image
    monkeypatch.setattr(
        image_folder, "decode_image", lambda p, s: decodes.append(p) or real_decode(p, s)
    )
    args = _args(root, "data.batch_size=8")
    first = run_train(*args, run_dir=tmp_path / "first")
    assert len(decodes) == 20  # once, by the config check, into the cache the run then reads
    second = run_train(*args, run_dir=tmp_path / "second")
    assert len(decodes) == 20
    assert first["data_cache_key"] == second["data_cache_key"]
    assert second["train/g_loss"] == first["train/g_loss"]  # the same images, the same run
