"""The ``synaprune`` command line: one subcommand per module of ``synaprune.commands``.

``main(argv)`` parses, dispatches to the subcommand's ``run(args)`` and returns its exit code.
Errors the user caused (``DataError``, ``ValueError``, ``OSError`` such as a missing file) are
printed as one line ``synaprune: error: ...`` on stderr with exit code 2 and no traceback; set
``SYNAPRUNE_DEBUG=1`` to get the traceback instead. Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from . import __version__
from .model.datasets import DataError

# Subcommand modules, in the order ``--help`` lists them (see synaprune/commands/__init__.py).
COMMANDS = ("train", "eval", "crosscheck", "bench", "sim", "bitstream", "report", "board",
            "experiment", "regress", "sweep", "nir_export", "nir_import")
# DataError is a ValueError; OSError covers FileNotFoundError, permissions and full disks.
USER_ERRORS = (DataError, ValueError, OSError)


def _import_commands() -> list[ModuleType]:
    """The subcommand modules, in the order of ``COMMANDS``."""
    return [importlib.import_module(f"{__package__}.commands.{name}") for name in COMMANDS]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synaprune",
        description="Spiking neural networks that learn with STDP and prune their own synapses "
                    "while they learn: golden model, hardware, simulation and boards.",
        epilog="Run 'synaprune COMMAND --help' for the options of a command.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in _import_commands():
        module.register(sub)
    return parser


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text or type(err).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except USER_ERRORS as err:
        if os.environ.get("SYNAPRUNE_DEBUG"):
            raise
        print(f"synaprune: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("synaprune: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover - the console script calls main()
    sys.exit(main())
