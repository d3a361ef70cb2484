"""The layer core's memories and their ports (``LayerCore`` owns them; the datapaths get ports).

Every read is synchronous, so every memory can be block RAM where the part has it (iCE40 has no
distributed RAM) and no RAM read shares a cycle with arithmetic:

* block RAM, in ``BankedRam`` banks with registers after the read (latency ``ram_latency``): the
  weights and row-mask words per lane (``w``, ``row``: W words of R bits per input,
  ``hw.memory_map``; with ``Config.single_port`` each a ``SinglePortRam``, the iCE40's SPRAM,
  same latency), the column-mask words (``col``);
* block RAM read into a register (latency 2, ECP5 DP16KD clock-to-out, ECP5 family data sheet,
  FPGA-DS-02012): the event list (``ev_mem``) and the input times (``t_in``);
* small (``SynthesisHints.small_ram_attrs``): membranes and adaptations per lane (``v``, ``a``),
  the spike list in two banks (``spk``: entry e at e // 2 of bank e % 2, so EMIT's two reads, of
  spikes e and e + 1, are one per bank), the labels.

The small memories and the event list take write requests through ``registered_write``; the
banked RAMs register their inputs themselves. The memory map the host sees: ``hw.memory_map``.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data
from amaranth.lib.memory import Memory

from ..model.config import Config
from . import layouts
from .banked_ram import BankedRam
from .single_port_ram import SinglePortRam
from .synthesis import COLLISION_FREE, SynthesisHints


def spike_layout(cfg: Config) -> data.StructLayout:
    """An entry of the spike list."""
    return data.StructLayout({"time": unsigned(cfg.time_bits), "neuron": unsigned(cfg.neuron_bits)})


def registered_write(m: Module, memory: Memory, name: str) -> SimpleNamespace:
    """A write port whose address, data and enable are registered: the multiplexers that choose
    what to write and the fan-out to every cell of a distributed RAM (or to a block RAM's
    inputs) sit in different cycles. A write requested in cycle c is done at the end of c + 1.
    Returns the request (``addr``, ``data``, ``en``)."""
    port = memory.write_port()
    req = SimpleNamespace(addr=Signal.like(port.addr, name=f"{name}_wa"),
                          data=Signal(port.data.shape(), name=f"{name}_wd"),
                          en=Signal(name=f"{name}_we"))
    m.d.sync += [port.addr.eq(req.addr), port.data.eq(req.data), port.en.eq(req.en)]
    return req


def make_rams(m: Module, cfg: Config, hints: SynthesisHints) -> SimpleNamespace:
    """Add the core's memories to ``m``; return their ports: ``*_rd`` read ports (``*_q`` the
    registered read data of the event list and input times), ``*_wr`` write requests (or the
    banked RAMs' write ports), one per lane where the memory is per lane."""
    P, K, T, N = cfg.lanes, cfg.rows, cfg.time_steps, cfg.n_neurons
    n_in, small = cfg.n_inputs, hints.small_ram_attrs

    def mem(name: str, **kw: object) -> Memory:
        memory = Memory(**kw)
        m.submodules[name] = memory
        return memory

    def banked(name: str, width: int, depth: int) -> BankedRam:
        # the lanes' BankedRams see the same addresses, so their registers are kept apart (one
        # register would drive logic all over the die: the 85F's critical path before)
        ram = BankedRam(width=width, depth=depth, latency=cfg.ram_latency,
                        reg_attrs=hints.keep_register_attrs)
        m.submodules[name] = ram
        return ram

    def synapses(name: str, width: int, depth: int) -> BankedRam | SinglePortRam:
        """A lane's weights or row masks: banked, or single-port (``Config.single_port``)."""
        if not cfg.single_port:
            return banked(name, width, depth)
        ram = SinglePortRam(width=width, depth=depth, latency=cfg.ram_latency,
                            ram_attrs=hints.single_port_attrs)
        m.submodules[name] = ram
        return ram

    # No read of the event list or the input times meets a write of the same word in a cycle
    # whose read is used (written in LOAD and CLEAR, read in INTEG, CLEAR and LEARN; a write a
    # cycle late is done before any read of its word): Yosys may drop their collision logic.
    ev_mem = mem("ev_mem", shape=unsigned(cfg.input_bits), depth=n_in, init=[],
                 attrs={COLLISION_FREE: 1})
    t_in = mem("t_in", shape=unsigned(cfg.time_bits), depth=n_in, init=[T] * n_in,
               attrs={COLLISION_FREE: 1})
    w_mem = [synapses(f"w{p}", cfg.weight_bits, n_in * K) for p in range(P)]
    row_mem = [synapses(f"row{p}", cfg.row_word_width, n_in * cfg.row_words) for p in range(P)]
    col_mem = banked("col", cfg.col_word_bits, N * cfg.col_words)
    v_mem = [mem(f"v{p}", shape=unsigned(cfg.membrane_bits), depth=K, init=[]) for p in range(P)]
    # (with Config.fired_in_adapt, each neuron's fired flag one bit above its adaptation)
    a_mem = [mem(f"a{p}", shape=unsigned(cfg.adapt_bits + cfg.fired_in_adapt), depth=K, init=[])
             for p in range(P)]
    spk_mem = [mem(f"spk{b}", shape=spike_layout(cfg), depth=(N + 1) // 2, init=[], attrs=small)
               for b in range(2)]
    lab_mem = mem("labels", shape=unsigned(layouts.LABEL_BITS), depth=N, init=[], attrs=small)

    r = SimpleNamespace()
    r.ev_rd, r.tin_rd = ev_mem.read_port(), t_in.read_port()
    r.ev_q, r.tin_q = Signal.like(r.ev_rd.data), Signal.like(r.tin_rd.data)
    m.d.sync += [r.ev_q.eq(r.ev_rd.data), r.tin_q.eq(r.tin_rd.data)]
    r.w_rd, r.w_wr = [x.read for x in w_mem], [x.write for x in w_mem]
    r.row_rd, r.row_wr = [x.read for x in row_mem], [x.write for x in row_mem]
    r.col_rd, r.col_wr = col_mem.read, col_mem.write
    r.w_q, r.row_q, r.col_q = [x.data for x in r.w_rd], [x.data for x in r.row_rd], r.col_rd.data
    r.v_rd = [x.read_port() for x in v_mem]
    # the accumulate's membrane read: the same port as the sweep's (the address chosen by the
    # sweeping flag), or die-wide a port of its own, so that neither address has a multiplexer
    # in front of the RAM's cells; as the adaptation's read outside the sweep (a_oth)
    r.v_acc = [x.read_port() for x in v_mem] if cfg.die_wide else r.v_rd
    r.a_rd = [x.read_port() for x in a_mem]
    r.a_oth = [x.read_port() for x in a_mem] if cfg.die_wide else r.a_rd
    r.spk_rd = [x.read_port() for x in spk_mem]
    r.lab_rd = lab_mem.read_port()
    r.v_wr = [registered_write(m, x, f"v{p}") for p, x in enumerate(v_mem)]
    r.a_wr = [registered_write(m, x, f"a{p}") for p, x in enumerate(a_mem)]
    r.spk_wr = [registered_write(m, x, f"spk{b}") for b, x in enumerate(spk_mem)]
    r.lab_wr = registered_write(m, lab_mem, "labels")
    r.ev_wr, r.tin_wr = registered_write(m, ev_mem, "ev"), registered_write(m, t_in, "tin")
    return r
