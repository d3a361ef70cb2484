"""Subcommands of the ``synaprune`` CLI and the helpers they share.

Contract of a subcommand: a module ``synaprune/commands/<name>.py`` exposing
``register(sub: argparse._SubParsersAction) -> None``, which adds its parser (with a useful
``--help``) and calls ``set_defaults(func=run)``, and ``run(args: argparse.Namespace) -> int``,
which returns the exit code. ``synaprune.cli`` imports the modules listed there.

Errors the user caused (a missing or corrupt file, a bad configuration, impossible options)
are raised as ``model.datasets.DataError``, ``ValueError`` or ``FileNotFoundError``; the CLI
prints them as one line and exits with 2. Subcommands do not catch them themselves.

The helpers here give every subcommand the same data options (``add_data_arguments`` and
``load_split``), the same configuration choice (``add_config_argument`` and ``resolve_config``)
and the same JSON output (``write_json``).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from ..model.config import Config
from ..model.datasets import DataError, Split

DATASETS = ("digits", "mnist")
# MNIST defaults: the first N_TRAIN samples of the files learn, the last N_TEST test. They fit
# the 8,000-sample dev subset as well as the full 60,000-sample training file.
MNIST_TRAIN_DEFAULT = 6000
MNIST_TEST_DEFAULT = 2000


def parse_value(text: str) -> Any:
    """The value of a ``--set KEY=VALUE`` item: ``text`` read as a TOML value (numbers, booleans,
    quoted strings, lists), or ``text`` itself when it is not one (a bare word)."""
    import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """The ``--set KEY=VALUE`` items of a command as ``{key: parse_value(value)}``; a
    ``ValueError`` names an item without ``=``."""
    changes: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        changes[key.strip()] = parse_value(value.strip())
    return changes


def config_with_overrides(cfg: Config, changes: dict[str, Any]) -> Config:
    """``cfg`` with the ``--set`` ``changes``. A rewiring policy that starts sparse, set here on a
    configuration that did not, without a threshold, gets the experiment's threshold for its
    density (``experiment.sparse_threshold``; at the dense threshold a neuron wired to a tenth
    of its inputs never fires, and a comparison of nothing proves nothing); that is printed."""
    from ..experiment import sparse_threshold
    from ..model.rewiring import starts_sparse

    if not changes:
        return cfg
    merged = Config.from_dict({**cfg.to_dict(), **changes})
    if (starts_sparse(merged.rewire_policy) and not starts_sparse(cfg.rewire_policy)
            and "threshold" not in changes):
        merged = merged.replace(threshold=sparse_threshold(cfg, merged.rewire_density))
        print(f"{merged.rewire_policy} starts at density {merged.rewire_density}: neuron "
              f"threshold {merged.threshold} (--set threshold=N overrides)", flush=True)
    return merged


def positive_int(text: str) -> int:
    """argparse type: an int >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {value}")
    return value


def add_data_arguments(parser: argparse.ArgumentParser, *, default_note: str,
                       train: bool = True) -> None:
    """Add --dataset, --data, --images/--labels and --test (and --train when ``train``).

    --dataset defaults to None; ``default_note`` tells the user what the command does then
    (``choose_dataset`` is the usual choice).
    """
    g = parser.add_argument_group("data")
    g.add_argument("--dataset", choices=DATASETS,
                   help=f"digits = scikit-learn's built-in 8x8 digits (75/25 split); mnist = "
                        f"IDX files given by --data or --images/--labels ({default_note})")
    g.add_argument("--data", metavar="DIR", type=Path,
                   help="directory holding MNIST IDX files (train-*, t10k-* or mnist-dev8000-*, "
                        "optionally .gz)")
    g.add_argument("--images", metavar="FILE", type=Path, help="MNIST IDX image file")
    g.add_argument("--labels", metavar="FILE", type=Path, help="MNIST IDX label file")
    if train:
        g.add_argument("--train", metavar="N", type=positive_int,
                       help=f"learning samples: mnist takes the first N of the files (default "
                            f"{MNIST_TRAIN_DEFAULT}); digits the first N of its training part "
                            f"(default all 1347)")
    g.add_argument("--test", metavar="N", type=positive_int,
                   help=f"test samples: mnist takes the last N of the files (default "
                        f"{MNIST_TEST_DEFAULT}); digits the first N of its test part "
                        f"(default all 450)")


DEFAULT_DATASET_NOTE = "default: mnist when --data or --images is given, else digits"


def choose_dataset(args: argparse.Namespace) -> str:
    """--dataset if given, else mnist when MNIST files are named, else digits."""
    if args.dataset:
        return str(args.dataset)
    return "mnist" if args.data is not None or args.images is not None else "digits"


def load_split(args: argparse.Namespace, dataset: str | None = None) -> Split:
    """The train/test split that the data options of ``args`` select.

    ``dataset`` overrides ``args.dataset`` (eval passes the checkpoint's). Without a --train
    option (eval) the training part is empty.
    """
    dataset = dataset or choose_dataset(args)
    images, labels, data = args.images, args.labels, args.data
    n_train = getattr(args, "train", None)
    want_train = hasattr(args, "train")
    n_test = args.test
    if dataset == "digits":
        if data is not None or images is not None or labels is not None:
            raise ValueError("--data, --images and --labels apply to --dataset mnist only")
        from ..model.datasets import load_digits_split

        s = load_digits_split()
        parts = (("--train", n_train, len(s.x_train)), ("--test", n_test, len(s.x_test)))
        for opt, n, have in parts:
            if n is not None and n > have:
                raise DataError(f"{opt} {n}: digits has {have} samples in that part")
        x_tr = s.x_train[:n_train] if want_train else s.x_train[:0]
        y_tr = s.y_train[:n_train] if want_train else s.y_train[:0]
        return Split(x_tr, y_tr, s.x_test[:n_test], s.y_test[:n_test], s.name)
    if dataset != "mnist":
        raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    from ..model.datasets import find_mnist, load_idx_pair, mnist_split

    if (images is None) != (labels is None):
        raise ValueError("--images and --labels go together")
    if data is not None and images is not None:
        raise ValueError("give either --data DIR or --images/--labels, not both")
    if data is None and images is None:
        raise DataError("--dataset mnist needs --data DIR or --images FILE --labels FILE "
                        "(MNIST is not shipped; see README, 'Data')")
    if data is not None:
        images, labels = find_mnist(data)
    x, y = load_idx_pair(images, labels)
    n_train = (n_train or MNIST_TRAIN_DEFAULT) if want_train else 0
    return mnist_split(x, y, n_train, n_test or MNIST_TEST_DEFAULT)


NETWORKS = ("fc", "deep")


def add_network_argument(parser: argparse._ActionsContainer) -> None:
    """--network fc|deep: the one fully connected layer (default) or the deep network
    (``model/deep_network.py``, presets ``model/configs/deep/<dataset>.toml``)."""
    parser.add_argument("--network", choices=NETWORKS, default="fc",
                        help="fc = one fully connected layer (default); deep = convolutional "
                             "layers, pooling and a classifier (model/configs/deep/)")


def add_config_argument(parser: argparse._ActionsContainer) -> None:
    parser.add_argument("--config", metavar="FILE", type=Path,
                        help="TOML configuration that replaces the data set's preset "
                             "(model/configs/<dataset>.toml) entirely")


def load_config_file(path: str | Path) -> Config:
    """``Config.load`` with every complaint about the file turned into one ``ValueError``."""
    try:
        return Config.load(path)
    except (ValueError, TypeError) as err:
        text = str(err)
        raise ValueError(text if text.startswith(str(path)) else f"{path}: {text}") from None


def resolve_config(dataset: str, config_path: str | Path | None) -> Config:
    """The configuration file if one is given, else the data set's preset."""
    return load_config_file(config_path) if config_path is not None else Config.preset(dataset)


def check_images_fit(split: Split, cfg: Config) -> None:
    """A clear error when the data set's image size is not the configuration's."""
    shape = tuple(split.x_test.shape[1:]) if len(split.x_test) else tuple(split.x_train.shape[1:])
    if shape != tuple(cfg.image_shape):
        raise ValueError(f"{split.name} images are {shape[0]}x{shape[1]} but the configuration "
                         f"expects image_shape {tuple(cfg.image_shape)}")


def _jsonable(value: Any) -> Any:
    """NumPy scalars and paths to plain JSON values; NaN/inf (invalid JSON) to null."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str | Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as indented JSON, atomically (temp file + rename), creating the parent."""
    from ..checkpoint import atomic_write

    text = json.dumps(_jsonable(data), indent=2, sort_keys=True) + "\n"
    return atomic_write(path, lambda fh: fh.write(text.encode()))
