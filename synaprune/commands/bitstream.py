"""``synaprune bitstream``: build a board's bitstream (Yosys, nextpnr, packer) under build/<board>/.

The layer is the board's default (``boards.platforms.default_config``) unless --config gives
one; the clock is the device's target unless --clock-mhz gives one. YoWASP tools are used by
default, native ones with --native (or when YoWASP is missing). The last line printed is the
path of the bitstream (.bit for ECP5, .bin for iCE40). Exit code 0 when the bitstream was
written (also when timing was missed, which is printed), 1 when a tool failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from ..boards.platforms import BOARDS

    boards = ", ".join(f"{b.name}: {'/'.join(b.devices)} (default {b.default_device})"
                       for b in BOARDS.values())
    p = sub.add_parser(
        "bitstream", help="build a board bitstream (synthesis, place and route, packing)",
        description="Build the bitstream of a board: the core with its UART link, a PLL and\n"
                    "status LEDs, through Yosys, nextpnr and ecppack/icepack, into\n"
                    "build/<board>/. Devices: " + boards + ".",
        epilog="examples:\n"
               "  synaprune bitstream --board icebreaker\n"
               "  synaprune bitstream --board ulx3s --device 25F --seed 3\n"
               "  synaprune bitstream --board ulx3s --config my_layer.toml --clock-mhz 80\n"
               "  synaprune bitstream --board ulx3s --network deep --build-dir build/ulx3s-deep",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--board", required=True, choices=sorted(BOARDS), help="target board")
    p.add_argument("--device", metavar="DEV",
                   help="FPGA device of the board (ULX3S: 12F, 25F, 45F, 85F)")
    p.add_argument("--network", choices=("fc", "deep"), default="fc",
                   help="fc: the layer core (default); deep: the deep network's chain of cores "
                        "(conv, pooling, classifier) behind its word-mapped link")
    p.add_argument("--config", metavar="FILE", type=Path,
                   help="TOML layer configuration (default: the board's default layer); with "
                        "--network deep a deep configuration (default: the part's deep preset)")
    p.add_argument("--conv-lanes", metavar="N,N", default=None,
                   help="--network deep: each conv layer's lanes, bottom up (default: the "
                        "part's)")
    p.add_argument("--clock-mhz", metavar="MHZ", type=float,
                   help="core clock made by the PLL (default: the device's target)")
    p.add_argument("--baud", metavar="N", type=int, help="UART baud rate (default: the board's)")
    p.add_argument("--native", action="store_true",
                   help="use yosys/nextpnr/ecppack/icepack from PATH instead of YoWASP")
    p.add_argument("--seed", metavar="N", type=int, help="nextpnr placement seed")
    p.add_argument("--build-dir", metavar="DIR", type=Path,
                   help="output directory (default: build/<board>)")
    p.add_argument("--no-build", action="store_true",
                   help="only write the build files (top.il, scripts, constraints)")
    p.set_defaults(func=run)


def deep_build(args: argparse.Namespace) -> object:
    """The ``DeepBuild`` of --network deep: --config and --conv-lanes, else the part's."""
    from ..boards.build import DeepBuild
    from ..boards.platforms import default_deep
    from ..model.deep_config import DeepConfig

    if args.config is None or args.conv_lanes is None:
        preset, lanes = default_deep(args.board, args.device)
    config = DeepConfig.load(args.config) if args.config is not None else preset
    if args.conv_lanes is not None:
        try:
            lanes = tuple(int(v) for v in args.conv_lanes.split(","))
        except ValueError:
            raise ValueError(f"--conv-lanes takes integers separated by commas, not "
                             f"{args.conv_lanes!r}") from None
    return DeepBuild(config, lanes)


def run(args: argparse.Namespace) -> int:
    from ..boards.build import BuildError, build_bitstream

    cfg, deep = None, None
    if args.network == "deep":
        deep = deep_build(args)
    elif args.conv_lanes is not None:
        raise ValueError("--conv-lanes is for --network deep")
    elif args.config is not None:
        from . import load_config_file

        cfg = load_config_file(args.config)
    try:
        build_bitstream(args.board, device=args.device, cfg=cfg, clk_mhz=args.clock_mhz,
                        baud=args.baud, native=args.native, seed=args.seed,
                        build_dir=args.build_dir, do_build=not args.no_build, deep=deep,
                        say=lambda text: print(text, flush=True))
    except BuildError as err:
        print(f"synaprune: error: {err}", file=sys.stderr)
        return 1
    return 0
