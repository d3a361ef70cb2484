"""DeepChain: the deep network's cores in one event stream (``docs/deep_chain.md``).

For a ``DeepConfig`` the chain holds one core per layer, bottom up: a ``ConvCore`` per conv
layer, a ``PoolCore`` per pool layer and the classifier's ``LayerCore``, each core's
``events_out`` connected to the next one's ``events_in`` (``wiring.connect``). Where two cores'
event words differ (index width; the classifier's re-binned steps) an ``EventAdapt`` sits
between them (``hw.event_adapt``: ``ClassifierLayer.rebin`` and the index width, nothing
else: both sides already number neurons as the model flattens (C, H, W)). One sample's input
events go in at ``events_in``; the classifier's spikes and its END (last step, predicted
neuron) come out at ``events_out``, its neuron's label register at ``pred_label``. ``idle``:
every core waits for a sample's first beat (the chain is drained; its counters hold whole
samples).

Every runtime knob is a port the host's registers drive, held between samples: per conv layer
``layer{n}`` (``conv_control_signature``), for the classifier ``layer{n}``
(``classifier_control_signature``: the layer core's registers but ``learn``), and
``learn_layer``: the index of the one layer that learns (a conv layer or the classifier); any
other value (a pool layer's index, ``len(config.layers)``) and every layer infers. A conv layer
that learns uses its ``inhibit_learn`` knob (``ConvSpec.inhibition``), otherwise
``inhibit_infer`` (``ConvSpec.inhibit_infer``), as the golden model does. A pool layer has no
knob; its ``layer{n}`` (``pool_status_signature``) carries its core's counters out.

For verification every layer's ``layer{n}`` also carries out a copy of its core's output
stream's handshake and payload (``events``: ``monitor_layout``), and a conv layer's and the
classifier's ``probe`` (the leaked membranes of each sweep row, and the classifier's STDP
updates): the chain's cocotb bench (``sim/tb_chain.py``) checks every layer through them. A
board top that leaves them unconnected costs nothing: synthesis removes what drives them.
"""

from __future__ import annotations

from collections.abc import Sequence

from amaranth.hdl import Cat, Module, Mux
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..model.conv import scheduled_rates
from ..model.conv_cycles import ConvGeometry
from ..model.deep_config import ClassifierSpec, ConvSpec, DeepConfig, PoolSpec
from .conv_core import ConvCore
from .conv_pool import PoolCore
from .core import LayerCore
from .event_adapt import EventAdapt
from .layouts import LABEL_BITS

Core = ConvCore | PoolCore | LayerCore


# a conv core's ports that the chain passes through (knobs and host port in, status out); its
# ``learn`` and ``inhibit`` the chain drives itself
CONV_KNOBS = ("threshold", "leak_shift", "k_winners", "radius", "a_plus", "a_minus",
              "prune_enable", "prune_threshold", "lfsr_write", "lfsr_data")
CONV_STATUS = ("winner", "lfsr", "idle", "error", "counters", "probe")


def conv_knob_values(spec: ConvSpec, geom: ConvGeometry, learned: int) -> dict[str, int]:
    """The values of conv layer ``spec``'s knobs (``CONV_KNOBS`` but the LFSR load, and the two
    inhibition levels) for the layer's learning sample number ``learned``: its scheduled rates
    (``model.conv.scheduled_rates``, ``a_minus`` as the port's two's complement); a radius past
    the map acts as the largest the port holds."""
    a_plus, a_minus = scheduled_rates(spec.a_plus, spec.a_minus, spec.a_plus_max,
                                      spec.a_minus_max, spec.rate_double_every, learned)
    mask = (1 << (geom.stdp_frac_bits + 2)) - 1
    return {"threshold": spec.threshold, "leak_shift": spec.leak_shift,
            "inhibit_learn": int(spec.inhibition), "inhibit_infer": int(spec.inhibit_infer),
            "k_winners": spec.k_winners,
            "radius": min(spec.inhibit_radius, max(geom.out_h, geom.out_w) - 1),
            "a_plus": a_plus & mask, "a_minus": a_minus & mask,
            "prune_enable": int(spec.prune_enabled), "prune_threshold": spec.prune_threshold}


def monitor_layout(link: stream.Signature) -> data.StructLayout:
    """A copy of a stream's handshake and payload (``events`` of every ``layer{n}``): a beat
    passes in a cycle with ``valid`` and ``ready`` both set."""
    return data.StructLayout({"valid": 1, "ready": 1,
                              "payload": link.members["payload"].shape})


def conv_control_signature(core: ConvCore) -> wiring.Signature:
    """A conv layer's knobs and status, seen from the host (the chain is ``In`` of this):
    ``core``'s ports of the same names (``CONV_KNOBS``, ``host``, ``CONV_STATUS``), but
    ``learn`` (``learn_layer`` decides) and ``inhibit`` (``inhibit_learn`` while the layer
    learns, else ``inhibit_infer``)."""
    members = core.signature.members
    return wiring.Signature({
        **{name: members[name].flip() for name in (*CONV_KNOBS, "host", *CONV_STATUS)},
        "inhibit_learn": Out(1), "inhibit_infer": Out(1),
        "events": In(monitor_layout(core.events_out.signature))})


def pool_status_signature(core: PoolCore) -> wiring.Signature:
    """A pool layer's status, seen from the host (the chain is ``In`` of this): its core's
    ``counters`` and a copy of its output stream (``events``)."""
    return wiring.Signature({"counters": core.signature.members["counters"].flip(),
                             "events": In(monitor_layout(core.events_out.signature))})


def classifier_regs_layout(core: LayerCore) -> data.StructLayout:
    """The layer core's runtime registers (``layouts.regs_layout``) but ``learn``."""
    return data.StructLayout({name: field.shape for name, field
                              in core.signature.members["regs"].shape if name != "learn"})


def classifier_control_signature(core: LayerCore) -> wiring.Signature:
    """The classifier's registers (but ``learn``), its host port, its error flags, its probe
    and a copy of its output stream (``events``)."""
    members = core.signature.members
    return wiring.Signature({"regs": Out(classifier_regs_layout(core)),
                             "host": members["host"].flip(), "error": members["error"].flip(),
                             "probe": members["probe"].flip(),
                             "events": In(monitor_layout(core.events_out.signature))})


class DeepChain(wiring.Component):
    """The cores of ``config`` (a ``DeepConfig``) chained; ``conv_lanes``: the lanes of each
    conv layer's core, bottom up; ``counter_bits``: the conv and pool cores' counters.
    ``cores``: the cores in layer order (tests watch their streams), ``geometries``: each conv
    layer's ``ConvGeometry`` by layer index."""

    def __init__(self, *, config: DeepConfig, conv_lanes: Sequence[int],
                 counter_bits: int = 32) -> None:
        if not isinstance(config, DeepConfig):
            raise TypeError(f"DeepChain: config must be a DeepConfig, not "
                            f"{type(config).__name__}")
        if isinstance(conv_lanes, (str, bytes)) or not isinstance(conv_lanes, Sequence):
            raise TypeError(f"DeepChain: conv_lanes must be a sequence of ints, not "
                            f"{type(conv_lanes).__name__}")
        if not isinstance(counter_bits, int) or isinstance(counter_bits, bool):
            raise TypeError(f"DeepChain: counter_bits must be an int, not "
                            f"{type(counter_bits).__name__}")
        try:
            config.validate()
        except (TypeError, ValueError) as err:
            raise type(err)(f"DeepChain: {err}") from None
        convs = [n for n, s in enumerate(config.layers) if isinstance(s, ConvSpec)]
        if len(conv_lanes) != len(convs):
            raise ValueError(f"DeepChain: conv_lanes has {len(conv_lanes)} entries; the "
                             f"configuration has {len(convs)} conv layers")
        self.config, self.counter_bits = config, counter_bits
        shapes = config.shapes()
        self.geometries: dict[int, ConvGeometry] = {}
        for n, lanes in zip(convs, conv_lanes, strict=True):
            spec = config.layers[n]
            try:
                self.geometries[n] = ConvGeometry.from_spec(spec, shapes[n], config, lanes=lanes)
            except (TypeError, ValueError) as err:
                raise type(err)(f"DeepChain: conv_lanes for layers[{n}]: {err}") from None
        for n, spec in enumerate(config.layers):
            if isinstance(spec, PoolSpec) and spec.size and spec.stride not in (0, spec.size):
                raise ValueError(f"DeepChain: layers[{n}] (pool): stride = {spec.stride} "
                                 f"differs from size = {spec.size}; PoolCore pools "
                                 f"non-overlapping windows only")
        self.classifier_config = config.classifier_config()
        self.cores = self._make_cores(shapes)
        first, last = self.cores[0], self.cores[-1]
        members: dict[str, object] = {
            "events_in": In(first.events_in.signature.flip()),
            "events_out": Out(last.events_out.signature),
            "learn_layer": In(range(len(config.layers) + 1)),
            "pred_label": Out(LABEL_BITS),
            "idle": Out(1),
        }
        for n, core in enumerate(self.cores):
            if isinstance(core, ConvCore):
                members[f"layer{n}"] = In(conv_control_signature(core))
            elif isinstance(core, PoolCore):
                members[f"layer{n}"] = In(pool_status_signature(core))
        members[f"layer{len(config.layers) - 1}"] = In(classifier_control_signature(last))
        super().__init__(members)

    def _make_cores(self, shapes: list[tuple[int, int, int]]) -> list[Core]:
        """One core per layer; a pooling core takes the index width of the stream it is on."""
        cfg = self.config
        cores: list[Core] = []
        index_bits = max(1, (shapes[0][0] * shapes[0][1] * shapes[0][2] - 1).bit_length())
        for n, spec in enumerate(cfg.layers):
            if isinstance(spec, ConvSpec):
                g = self.geometries[n]
                core: Core = ConvCore(
                    channels=g.channels, height=g.height, width=g.width, maps=g.maps,
                    kernel=g.kernel, lanes=g.lanes, time_steps=g.time_steps,
                    weight_bits=g.weight_bits, membrane_bits=g.membrane_bits,
                    stdp_frac_bits=g.stdp_frac_bits, max_winners=g.max_winners,
                    lfsr_seed=spec.lfsr_seed, counter_bits=self.counter_bits)
                index_bits = g.index_bits
            elif isinstance(spec, PoolSpec):
                c, h, w = shapes[n]
                core = PoolCore(channels=c, height=h, width=w, size=spec.size,
                                time_steps=cfg.time_steps, index_bits=index_bits,
                                counter_bits=self.counter_bits)
            else:
                assert isinstance(spec, ClassifierSpec)
                core = LayerCore.from_config(self.classifier_config)
            cores.append(core)
        return cores

    def elaborate(self, platform: object) -> Module:
        m = Module()
        layers = self.config.layers
        for n, core in enumerate(self.cores):
            m.submodules[f"layer{n}"] = core
        wiring.connect(m, wiring.flipped(self.events_in), self.cores[0].events_in)
        for n in range(1, len(self.cores)):
            self._link(m, n, self.cores[n - 1].events_out, self.cores[n].events_in)
        wiring.connect(m, self.cores[-1].events_out, wiring.flipped(self.events_out))
        for n, core in enumerate(self.cores):
            if isinstance(core, ConvCore):
                self._conv_knobs(m, n, core)
            elif isinstance(core, PoolCore):
                m.d.comb += getattr(self, f"layer{n}").counters.eq(core.counters)
            out, monitor = core.events_out, getattr(self, f"layer{n}").events
            m.d.comb += [monitor.valid.eq(out.valid), monitor.ready.eq(out.ready),
                         monitor.payload.eq(out.payload)]
        clf, ctl = self.cores[-1], getattr(self, f"layer{len(layers) - 1}")
        wiring.connect(m, wiring.flipped(ctl.host), clf.host)
        # every core waits for a sample's first beat: a pooling core clears after its END,
        # so the top's END does not mean the cores below have finished
        m.d.comb += self.idle.eq(Cat(*(core.idle for core in self.cores[:-1]),
                                     clf.host.ready).all())
        m.d.comb += [clf.regs.learn.eq(self.learn_layer == len(layers) - 1),
                     ctl.error.eq(clf.error), ctl.probe.eq(clf.probe),
                     self.pred_label.eq(clf.pred_label)]
        m.d.comb += [getattr(clf.regs, name).eq(getattr(ctl.regs, name))
                     for name, _ in classifier_regs_layout(clf)]
        return m

    def _link(self, m: Module, n: int, source: stream.Interface, sink: stream.Interface
              ) -> None:
        """Layer n - 1's output stream into layer n's input, through an ``EventAdapt`` where
        the two event words differ."""
        if source.signature == sink.signature.flip():
            wiring.connect(m, source, sink)
            return
        c, h, w = self.config.shapes()[n]
        adapt = EventAdapt(n_indices=c * h * w, index_in=len(source.payload.index),
                           index_out=len(sink.payload.index), steps_in=self.config.time_steps,
                           steps_out=(self.classifier_config.time_steps
                                      if isinstance(self.cores[n], LayerCore)
                                      else self.config.time_steps))
        m.submodules[f"adapt{n}"] = adapt
        wiring.connect(m, source, adapt.events_in)
        wiring.connect(m, adapt.events_out, sink)

    def _conv_knobs(self, m: Module, n: int, core: ConvCore) -> None:
        """Conv layer n's knobs from its control port; it learns when ``learn_layer`` is n."""
        ctl = getattr(self, f"layer{n}")
        learn = self.learn_layer == n
        wiring.connect(m, wiring.flipped(ctl.host), core.host)
        m.d.comb += [core.learn.eq(learn),
                     core.inhibit.eq(Mux(learn, ctl.inhibit_learn, ctl.inhibit_infer))]
        m.d.comb += [getattr(core, name).eq(getattr(ctl, name)) for name in CONV_KNOBS]
        m.d.comb += [getattr(ctl, name).eq(getattr(core, name)) for name in CONV_STATUS]
