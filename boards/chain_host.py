"""``ChainBoard``: the host's side of the deep chain's link (``boards.chain_protocol``).

It loads a ``DeepNetwork`` into the chain (every conv layer's kernels, live masks and knobs; the
classifier's weights, masks, adaptation, labels, LFSR and registers), chooses the learning
layer, runs samples, and reads every layer's state and counters back, all through word accesses
of the chain's map (``boards.chain_map``). ``learn_sample`` and ``infer_sample`` follow the
layer-wise schedule of ``model.deep_network``: the host writes the learning conv layer's
scheduled rates before each of its samples, as ``sim.tb_chain`` does. ``check_state`` compares
a layer's state on the board with the golden model's.

The framing (request, reply, timeouts, stale replies) is ``boards.host.Board``'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..hw import memory_map as mm
from ..hw.conv_map import host_words, input_events, kernels_from_words
from ..hw.deep_chain import DeepChain, conv_knob_values
from ..hw.layouts import HostRegion, regs_value
from ..model.deep_network import ConvLayer, DeepNetwork
from ..sim.chain_model import classifier_host_words
from . import chain_protocol as cp
from .chain_map import ChainMap, Space
from .host import BadReplyError, Board, ConfigMismatchError, Transport
from .protocol import ProtocolError


@dataclass(frozen=True)
class ChainResult:
    """One sample through the chain: the classifier's spikes (time, neuron), its END (last
    step, predicted neuron), that neuron's label register, the cores' error flags (OR)."""

    spikes: list[tuple[int, int]]
    prediction: int
    label: int
    steps: int
    error: int


class ChainBoard:
    """The link to a board (or simulated top) holding ``chain``'s bitstream (a ``DeepChain``:
    the same configuration and conv lanes; ``check`` compares fingerprints)."""

    def __init__(self, transport: Transport, chain: DeepChain, *,
                 timeout: float | None = None) -> None:
        self.link = Board(transport, timeout=timeout)
        self.chain = chain
        self.map = ChainMap(chain)
        self._info: cp.ChainInfo | None = None
        self.clf = len(chain.config.layers) - 1
        self.clf_cfg = chain.classifier_config

    def __enter__(self) -> ChainBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.link.close()

    # --- link -----------------------------------------------------------------------------
    def info(self) -> cp.ChainInfo:
        if self._info is None:
            data = self.link.request(cp.ChainCmd.INFO, reply_bytes=cp.ChainInfo.FORMAT.size)
            try:
                self._info = cp.ChainInfo.unpack(data)
            except ProtocolError as err:
                raise BadReplyError(f"INFO: {err}") from None
        return self._info

    def check(self) -> cp.ChainInfo:
        """``ConfigMismatchError`` unless the bitstream holds this chain."""
        info = self.info()
        if info.version != cp.CHAIN_PROTOCOL_VERSION:
            raise ConfigMismatchError(f"chain protocol version: board {info.version}, host "
                                      f"{cp.CHAIN_PROTOCOL_VERSION}")
        want = cp.fingerprint(self.chain)
        if info.fingerprint != want:
            raise ConfigMismatchError(f"the bitstream holds another deep network or other conv "
                                      f"lanes (fingerprint {info.fingerprint:#010x}, this host's "
                                      f"{want:#010x})")
        return info

    # --- words ----------------------------------------------------------------------------
    def write_words(self, addr: int, words: Sequence[int]) -> None:
        """Write consecutive words from ``addr`` (checked against the map first: ``ValueError``
        before anything is sent), in frames that fit the board's buffer."""
        words = [int(w) for w in words]
        self.map.check(addr, len(words), write=True)
        per_frame = (self.check().max_payload - cp.ADDR.size) // cp.WORD.size
        for start in range(0, len(words), per_frame):
            chunk = words[start:start + per_frame]
            payload = cp.ADDR.pack(addr + start) + b"".join(cp.WORD.pack(w & 0xFFFFFFFF)
                                                            for w in chunk)
            self.link.request(cp.ChainCmd.WRITE_WORDS, payload)

    def read_words(self, addr: int, count: int) -> list[int]:
        self.map.check(addr, count, write=False)
        self.check()
        out: list[int] = []
        per_frame = cp.MAX_READ_WORDS
        for start in range(0, count, per_frame):
            n = min(per_frame, count - start)
            data = self.link.request(cp.ChainCmd.READ_WORDS,
                                     cp.READ_HEADER.pack(addr + start, n), reply_bytes=4 * n)
            if len(data) != 4 * n:
                raise BadReplyError(f"READ_WORDS returned {len(data)} bytes for {n} words")
            out += [w for (w,) in cp.WORD.iter_unpack(data)]
        return out

    def space(self, layer: int | None, name: str) -> Space:
        return self.map.space(layer, name)

    def write_registers(self, layer: int | None, name: str, values: dict[str, int]) -> None:
        """Write named words of a register space (the others keep their values); every word
        of the space at once goes in one frame."""
        s = self.space(layer, name)
        unknown = set(values) - set(s.words)
        if unknown:
            raise KeyError(f"layer {layer} {name} has no words {sorted(unknown)} (it has "
                           f"{list(s.words)})")
        if set(values) == set(s.words):
            self.write_words(s.address(), [values[k] for k in s.words])
            return
        for key, value in values.items():
            self.write_words(s.word(key), [value])

    def read_registers(self, layer: int | None, name: str) -> dict[str, int]:
        s = self.space(layer, name)
        return dict(zip(s.words, self.read_words(s.address(), s.size), strict=True))

    # --- the network ------------------------------------------------------------------------
    def set_learn_layer(self, layer: int | None) -> None:
        """The layer that learns in the next samples (None: every layer infers)."""
        value = len(self.chain.config.layers) if layer is None else layer
        self.write_registers(None, "regs", {"learn_layer": value})

    def write_conv_knobs(self, net: DeepNetwork, n: int) -> None:
        """Conv layer n's knobs for its next learning sample (its scheduled rates)."""
        layer = net.layers[n]
        assert isinstance(layer, ConvLayer)
        s = self.space(n, "knobs")
        values = conv_knob_values(layer.spec, self.chain.geometries[n], layer.learned)
        self.write_words(s.address(), [values[k] for k in s.words])

    def load_network(self, net: DeepNetwork) -> None:
        """Every layer's state and knobs from the golden model ``net`` (its LFSRs too)."""
        if net.cfg != self.chain.config:
            raise ConfigMismatchError("the network's configuration is not the chain's")
        for n, layer in net.conv_layers():
            runs: dict[tuple[str, int], list[tuple[int, int]]] = {}
            for region, lane, addr, word in host_words(self.chain.geometries[n], layer.weights,
                                                       layer.mask):
                runs.setdefault((region.name.lower(), lane), []).append((addr, word))
            for (name, lane), pairs in runs.items():
                pairs.sort()
                self.write_words(self.space(n, name).address(lane), [w for _, w in pairs])
            self.write_conv_knobs(net, n)
            self.write_words(self.space(n, "lfsr_load").address(), [layer.lfsr.peek_state()])
        regs = regs_value(self.clf_cfg, learn=False)
        self.write_registers(self.clf, "regs", {k: regs[k] for k in self.space(self.clf,
                                                                              "regs").words})
        runs = {}
        for region, lane, addr, word in classifier_host_words(net):
            runs.setdefault((region.name.lower(), lane), []).append((addr, word))
        for (name, lane), pairs in runs.items():
            pairs.sort()
            self.write_words(self.space(self.clf, name).address(lane), [w for _, w in pairs])

    def read_kernels(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Conv layer n's kernels (M, C, k, k) and live mask, read from its memories."""
        g = self.chain.geometries[n]
        w, k = self.space(n, "weight"), self.space(n, "mask")
        weights = [self.read_words(w.address(p), w.size) for p in range(g.lanes)]
        live = [self.read_words(k.address(p), k.size) for p in range(g.lanes)]
        return kernels_from_words(g, weights, live)

    def read_conv_lfsr(self, n: int) -> int:
        return self.read_registers(n, "status")["lfsr"]

    def _lanes(self, region: HostRegion) -> np.ndarray:
        s = self.space(self.clf, region.name.lower())
        return np.array([self.read_words(s.address(p), s.size) for p in range(s.lanes)],
                        dtype=np.int64)

    def read_classifier(self) -> dict[str, np.ndarray | int]:
        """The classifier's weights, mask (row bitmaps), column mask, adaptation, LFSR and live
        counter."""
        cfg = self.clf_cfg
        col = self.space(self.clf, "col_mask")
        return {"weights": mm.weights_from_words(cfg, self._lanes(HostRegion.WEIGHT)),
                "mask": mm.mask_from_row_words(cfg, self._lanes(HostRegion.ROW_MASK)),
                "col_mask": mm.mask_from_col_words(
                    cfg, np.array(self.read_words(col.address(), col.size), dtype=np.int64)),
                "adapt": mm.per_neuron_from_lanes(cfg, self._lanes(HostRegion.ADAPT)),
                "lfsr": self.read_words(self.space(self.clf, "lfsr").address(), 1)[0],
                "live": self.read_words(self.space(self.clf, "live").address(), 1)[0]}

    def read_counters(self, n: int) -> list[int]:
        """Layer n's counters (a conv or pool core's ``counters`` space, the classifier's
        COUNTER region), in their enum's order."""
        s = self.space(n, "counter" if n == self.clf else "counters")
        return self.read_words(s.address(), s.size)

    # --- samples ----------------------------------------------------------------------------
    def run_sample(self, times: np.ndarray) -> ChainResult:
        """One sample (input spike times (C, H, W), T = never) through the chain, the layer of
        ``set_learn_layer`` learning."""
        c, h, w = self.chain.config.shapes()[0]
        times = np.asarray(times)
        if times.shape != (c, h, w):
            raise ValueError(f"times must have shape {(c, h, w)}, not {times.shape}")
        g = next(iter(self.chain.geometries.values()))
        payload = cp.pack_events(input_events(g, times))
        self.check()
        data = self.link.request(cp.ChainCmd.RUN, payload,
                                 reply_bytes=8 + 4 * self.clf_cfg.n_neurons)
        try:
            rep = cp.ChainRunReply.unpack(data)
        except ProtocolError as err:
            raise BadReplyError(f"RUN: {err}") from None
        return ChainResult(rep.spikes, rep.prediction, rep.label, rep.last_step + 1, rep.error)

    def learn_sample(self, net: DeepNetwork, n: int, times: np.ndarray) -> ChainResult:
        """A learning sample of layer n: a conv layer gets its scheduled rates first (the
        model's ``layer.learned`` before the sample), then the chain runs it with layer n
        learning."""
        if isinstance(net.layers[n], ConvLayer):
            self.write_conv_knobs(net, n)
        self.set_learn_layer(n)
        return self.run_sample(times)


__all__ = ["ChainBoard", "ChainResult"]
