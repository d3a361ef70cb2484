"""The description of a deep network: input coding, shared widths and a list of layers (TOML).

One ``DeepConfig`` is read by the deep golden model, its Brian2 reference, the command line and
(later) the hardware. The layers run in order: ``conv`` (a convolutional TTFS layer that learns
with STDP and prunes its kernel entries), ``pool`` (first-spike max pooling) and, last, one
``classifier`` (the project's fully connected layer, ``model.network.Network``, learning with
reward-modulated STDP or with plain WTA STDP and labels assigned after learning).

Elaboration-time fields (sizes, widths) fix a hardware core; the rest (thresholds, rates, the
rate schedule, pruning) are runtime registers the host writes. ``validate`` names the offending
field, e.g. ``layers[2].kernel = 9: larger than its input (8x8)``. A TOML file looks like::

    image_shape = [28, 28]
    time_steps = 15
    [[layers]]
    type = "conv"
    maps = 30
    kernel = 5
    threshold = 3825
    [[layers]]
    type = "pool"
    size = 2
    [[layers]]
    type = "classifier"
    neurons_per_class = 20
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w

from .config import Config, known_fields
from .widths import FixedPointWidths

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

CONFIG_DIR = Path(__file__).parent / "configs" / "deep"
RULES = ("margin", "rstdp", "wta")
FILTERS = ("centre-surround", "dog")


@dataclass(frozen=True)
class ConvSpec:
    """A convolutional layer: ``maps`` kernels of ``kernel`` x ``kernel`` x C_in, stride 1, valid.

    Learning (this layer's turn, the layers below frozen): up to ``k_winners`` winners per sample
    (earliest spike, larger potential, lower map, row, column), each excluding its own map and
    every map within ``inhibit_radius`` (Chebyshev) of it; each winner's kernel gets one STDP
    update. The LTP rate is ``a_plus`` doubled every ``rate_double_every`` learning samples up to
    ``a_plus_max`` (``a_minus`` likewise, down to ``a_minus_max``); 0 = constant rates.
    """

    maps: int = 8
    kernel: int = 3
    threshold: int = 600  # firing threshold, in weight units (w_max = 1.0)
    leak_shift: int = 0  # v -= v >> leak_shift each step; 0 = non-leaky integrate-and-fire
    inhibition: bool = True  # while learning: per position only the earliest spike survives
    inhibit_infer: bool = False  # the same when frozen (feeding higher layers) and in inference
    k_winners: int = 1
    inhibit_radius: int = 0
    a_plus: int = 16  # fixed point, stdp_frac_bits fraction bits (16 / 4096 = 0.004)
    a_minus: int = -12
    a_plus_max: int = 614  # cap of the doubling schedule (0.15)
    a_minus_max: int = -460  # cap (most negative) of the doubling schedule (-0.75 * 0.15)
    rate_double_every: int = 500  # learning samples between doublings; 0 = constant rates
    prune_enabled: bool = True
    prune_threshold: int = 16  # a learned entry below this is removed for every position
    epochs: int = 1
    init_mean: float = 0.8
    init_std: float = 0.05
    lfsr_seed: int = 0xACE1
    type: str = "conv"


@dataclass(frozen=True)
class PoolSpec:
    """First-spike max pooling: each output spikes at the earliest spike of its window (valid).

    ``size`` 0 pools globally (one output per channel).
    """

    size: int = 2
    stride: int = 0  # 0 = size (non-overlapping windows)
    type: str = "pool"

    @property
    def step(self) -> int:
        return self.stride or self.size


@dataclass(frozen=True)
class ClassifierSpec:
    """The last layer: ``model.network.Network`` on the flattened pooled features.

    Neuron j stands for class j // neurons_per_class (rules "margin" and "rstdp"). Its input
    spike times are re-binned to ``time_steps`` steps: t -> t * time_steps // T (0 = keep the
    network's T; 1 = every feature spike arrives in one step, so the first winner is the neuron
    with the largest sum of the weights of the features that spiked).

    * ``rule = "rstdp"`` (Mozafari et al. 2019): the first winner of a learning sample learns
      with STDP (``a_plus``, ``a_minus``) when its class is the label (reward), else with
      anti-STDP (``punish_a_minus`` for a causal input, ``punish_a_plus`` for a late one: the
      signs of STDP reversed);
    * ``rule = "margin"`` (reward-modulated STDP with a teacher): after an inference pass, if the
      best neuron of the label's class does not lead the best neuron of the other classes by
      ``margin`` (membrane units, at the last step), the latter learns with anti-STDP and then
      the former with STDP, each in a pass where only it may fire;
    * ``rule = "wta"``: the unsupervised layer rule, each neuron labelled after learning with the
      class it wins most often.
    """

    neurons_per_class: int = 10
    n_classes: int = 10
    lanes: int = 10
    rule: str = "margin"
    time_steps: int = 0
    margin: int = 0
    threshold: int = 1000
    leak_shift: int = 0
    a_plus: int = 16
    a_minus: int = -12
    punish_a_plus: int = 2  # anti-STDP: applied to late inputs (t_pre > t_post); < 0 shrinks
    punish_a_minus: int = -16  # anti-STDP: applied to causal inputs (t_pre <= t_post)
    prune_enabled: bool = True
    prune_threshold: int = 16
    # prune-threshold schedule: from epoch prune_ramp_start on (0-based), each epoch adds
    # prune_ramp_step, up to prune_threshold_max; step 0 keeps prune_threshold
    prune_ramp_start: int = 0
    prune_ramp_step: int = 0
    prune_threshold_max: int = 255
    homeo_inc: int = 0
    homeo_decay_shift: int = 0
    adapt_bits: int = 12
    epochs: int = 1
    init_mean: float = 0.5
    init_std: float = 0.05
    lfsr_seed: int = 0x1D872B41
    type: str = "classifier"

    @property
    def n_neurons(self) -> int:
        return self.neurons_per_class * self.n_classes


LayerSpec = ConvSpec | PoolSpec | ClassifierSpec
KINDS: dict[str, type] = {"conv": ConvSpec, "pool": PoolSpec, "classifier": ClassifierSpec}


@dataclass(frozen=True)
class DeepConfig(FixedPointWidths):
    """Input coding, widths shared by every layer, seeds, and the layers in order."""

    image_shape: tuple[int, int] = (8, 8)
    on_off: bool = True  # ON/OFF channels, else 1 channel (the intensities)
    # ON/OFF filter: "centre-surround" (``model.encoding``, 3x3) or "dog" (``model.dog``)
    input_filter: str = "centre-surround"
    dog_size: int = 7
    dog_sigma_center: float = 1.0
    dog_sigma_surround: float = 2.0
    dog_shift: int = 7  # ON/OFF = DoG response >> dog_shift, clipped to 0..255
    input_min: int = 1
    time_steps: int = 15  # T: time bins; a spike time of T means "never"
    weight_bits: int = 8
    membrane_bits: int = 16
    stdp_frac_bits: int = 12
    seed: int = 1  # initial weights and sample order
    layers: tuple[LayerSpec, ...] = field(default_factory=tuple)

    @property
    def in_channels(self) -> int:
        return 2 if self.on_off else 1

    def input_config(self) -> Config:
        """The fully connected layer's ``Config`` whose encoding fields are this input's, so the
        deep network codes its input with ``model.encoding.encode`` unchanged (with the DoG
        filter: one channel at a time, ``on_off`` false)."""
        h, w = self.image_shape
        on_off = self.on_off and self.input_filter == "centre-surround"
        return Config(n_inputs=h * w * (2 if on_off else 1), n_neurons=8, lanes=8,
                      time_steps=self.time_steps, image_shape=(h, w), on_off=on_off,
                      input_min=self.input_min).validate()

    def shapes(self) -> list[tuple[int, int, int]]:
        """(channels, height, width) of the input and of every layer's output, in order; the
        classifier's output is (neurons, 1, 1). Raises ``ValueError`` when a layer does not fit."""
        c, (h, w) = self.in_channels, self.image_shape
        out = [(c, h, w)]
        for n, layer in enumerate(self.layers):
            if isinstance(layer, ConvSpec):
                if layer.kernel > min(h, w):
                    raise ValueError(f"config.layers[{n}].kernel = {layer.kernel}: larger than "
                                     f"its input ({h}x{w})")
                c, h, w = layer.maps, h - layer.kernel + 1, w - layer.kernel + 1
            elif isinstance(layer, PoolSpec):
                size = layer.size or max(h, w)
                step = layer.stride or size
                if size > min(h, w) and layer.size:
                    raise ValueError(f"config.layers[{n}].size = {layer.size}: larger than its "
                                     f"input ({h}x{w})")
                h, w = (1, 1) if not layer.size else ((h - size) // step + 1,
                                                      (w - size) // step + 1)
            else:
                c, h, w = layer.n_neurons, 1, 1
            out.append((c, h, w))
        return out

    def classifier_config(self) -> Config:
        """The ``Config`` of the classifier layer (the existing fully connected layer)."""
        spec = self.layers[-1]
        assert isinstance(spec, ClassifierSpec)
        c, h, w = self.shapes()[-2]
        return Config(
            n_inputs=c * h * w, n_neurons=spec.n_neurons, lanes=spec.lanes,
            time_steps=spec.time_steps or self.time_steps, k_max=1, weight_bits=self.weight_bits,
            membrane_bits=self.membrane_bits, adapt_bits=spec.adapt_bits,
            stdp_frac_bits=self.stdp_frac_bits, image_shape=(c, h * w), on_off=False,
            threshold=spec.threshold, leak_shift=spec.leak_shift, k_winners=1,
            a_plus=spec.a_plus, a_minus=spec.a_minus, prune_enabled=spec.prune_enabled,
            prune_threshold=spec.prune_threshold, homeo_inc=spec.homeo_inc,
            homeo_decay_shift=spec.homeo_decay_shift, lfsr_seed=spec.lfsr_seed,
            init_mean=spec.init_mean, init_std=spec.init_std, seed=self.seed + len(self.layers),
            epochs=max(spec.epochs, 1))

    # --- checks ------------------------------------------------------------------------------
    def replace(self, **changes: Any) -> DeepConfig:
        return dataclasses.replace(self, **changes).validate()

    def replace_layers(self, kind: type, **changes: Any) -> DeepConfig:
        """A copy with ``changes`` applied to every layer of type ``kind`` (e.g. ConvSpec)."""
        layers = tuple(dataclasses.replace(s, **changes) if isinstance(s, kind) else s
                       for s in self.layers)
        return self.replace(layers=layers)

    def validate(self) -> DeepConfig:
        """Raise ``ValueError`` (or ``TypeError``) naming the field of any illegal value."""
        _check_types(self, "config")
        need = _needer(self, "config")
        need(len(self.image_shape) == 2 and all(s >= 1 for s in self.image_shape), "image_shape",
             "must be two positive ints")
        need(0 <= self.input_min <= 255, "input_min", "must be in 0..255")
        need(self.input_filter in FILTERS, "input_filter", f"must be one of {', '.join(FILTERS)}")
        need(self.dog_size >= 3 and self.dog_size % 2 == 1, "dog_size", "must be odd and >= 3")
        need(0 < self.dog_sigma_center < self.dog_sigma_surround, "dog_sigma_center",
             "must be > 0 and below dog_sigma_surround")
        need(0 <= self.dog_shift <= 16, "dog_shift", "must be in 0..16")
        need(1 <= self.time_steps <= 255, "time_steps", "must be in 1..255")
        need(2 <= self.weight_bits <= 12, "weight_bits", "must be in 2..12")
        need(self.weight_bits < self.membrane_bits <= 24, "membrane_bits",
             "must be in weight_bits+1..24")
        need(4 <= self.stdp_frac_bits <= 16, "stdp_frac_bits", "must be in 4..16")
        need(self.stdp_shift <= 31, "stdp_frac_bits", "stdp_frac_bits + weight_bits must be <= 31")
        need(len(self.layers) >= 1, "layers", "must hold at least the classifier")
        for n, layer in enumerate(self.layers):
            _check_layer(self, n, layer)
        kinds = [type(s) for s in self.layers]
        need(kinds[-1] is ClassifierSpec, "layers", "the last layer must be the classifier")
        need(kinds.count(ClassifierSpec) == 1, "layers", "must hold exactly one classifier")
        self.shapes()
        self.classifier_config()  # the existing layer's own checks (sizes, widths, ranges)
        return self

    # --- TOML --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "layers"}
        d["image_shape"] = list(self.image_shape)
        d["layers"] = [{"type": s.type, **{f.name: getattr(s, f.name) for f in fields(s)
                                          if f.name != "type"}} for s in self.layers]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeepConfig:
        data = known_fields(cls, data)
        layers = []
        for n, raw in enumerate(data.get("layers", [])):
            if not isinstance(raw, dict):
                raise ValueError(f"config.layers[{n}] must be a table")
            kind = raw.get("type")
            if kind not in KINDS:
                raise ValueError(f"config.layers[{n}].type = {kind!r}: must be one of "
                                 f"{', '.join(KINDS)}")
            spec_cls = KINDS[kind]
            names = {f.name for f in fields(spec_cls)}
            bad = sorted(set(raw) - names)
            if bad:
                raise ValueError(f"config.layers[{n}] ({kind}): unknown key(s): {', '.join(bad)}")
            layers.append(spec_cls(**raw))
        data["layers"] = tuple(layers)
        return cls(**data).validate()

    def dumps(self) -> str:
        return tomli_w.dumps(self.to_dict())

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.dumps())

    @classmethod
    def loads(cls, text: str) -> DeepConfig:
        return cls.from_dict(tomllib.loads(text))

    @classmethod
    def load(cls, path: str | Path) -> DeepConfig:
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: config file not found") from None
        try:
            return cls.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"{path}: not valid TOML: {err}") from None
        except (ValueError, TypeError) as err:
            raise ValueError(f"{path}: {err}") from None

    @classmethod
    def preset(cls, dataset: str) -> DeepConfig:
        """The deep preset ``model/configs/deep/<dataset>.toml`` (digits, mnist)."""
        path = CONFIG_DIR / f"{dataset}.toml"
        if not path.exists():
            names = sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))
            raise ValueError(f"no deep preset for {dataset!r}; presets: {', '.join(names)}")
        return cls.load(path)

    def learning_layers(self) -> list[int]:
        """Indices of the layers that learn (conv layers and the classifier), bottom up."""
        return [n for n, s in enumerate(self.layers) if not isinstance(s, PoolSpec)]


def _needer(obj: object, prefix: str) -> Any:
    def need(ok: bool, name: str, why: str) -> None:
        if not ok:
            raise ValueError(f"{prefix}.{name} = {getattr(obj, name)!r}: {why}")
    return need


def _check_types(obj: object, prefix: str) -> None:
    for f in fields(obj):
        value = getattr(obj, f.name)
        if f.type in ("int", int) and (not isinstance(value, int) or isinstance(value, bool)):
            raise TypeError(f"{prefix}.{f.name} must be an int, not {type(value).__name__}")
        if f.type in ("bool", bool) and not isinstance(value, bool):
            raise TypeError(f"{prefix}.{f.name} must be true or false, not {value!r}")
        if f.type in ("float", float) and (not isinstance(value, (int, float))
                                           or isinstance(value, bool)):
            raise TypeError(f"{prefix}.{f.name} must be a number, not {type(value).__name__}")


def _check_layer(cfg: DeepConfig, n: int, s: LayerSpec) -> None:
    prefix = f"config.layers[{n}]"
    _check_types(s, prefix)
    need = _needer(s, prefix)
    lim = 1 << (cfg.stdp_frac_bits + 1)
    if isinstance(s, PoolSpec):
        need(s.size >= 0, "size", "must be >= 0 (0 = global)")
        need(s.stride >= 0, "stride", "must be >= 0 (0 = size)")
        return
    need(0 <= s.threshold <= cfg.v_max, "threshold", f"must be in 0..{cfg.v_max}")
    need(0 <= s.leak_shift < cfg.membrane_bits, "leak_shift", "must be in 0..membrane_bits-1")
    need(0 <= s.a_plus < lim, "a_plus", f"must be in 0..{lim - 1}")
    need(-lim < s.a_minus <= 0, "a_minus", f"must be in {-lim + 1}..0")
    need(0 <= s.prune_threshold <= cfg.w_max, "prune_threshold", f"must be in 0..{cfg.w_max}")
    need(s.epochs >= 0, "epochs", "must be >= 0 (0 = this layer does not learn)")
    need(0.0 <= s.init_mean <= 1.0, "init_mean", "must be in [0, 1]")
    need(s.init_std >= 0.0, "init_std", "must be >= 0")
    need(0 < s.lfsr_seed < (1 << 32), "lfsr_seed", "must be a nonzero 32-bit value")
    if isinstance(s, ConvSpec):
        need(s.maps >= 1, "maps", "must be >= 1")
        need(s.kernel >= 1, "kernel", "must be >= 1")
        need(s.k_winners >= 1, "k_winners", "must be >= 1")
        need(s.inhibit_radius >= 0, "inhibit_radius", "must be >= 0")
        need(s.a_plus <= s.a_plus_max < lim, "a_plus_max", f"must be in a_plus..{lim - 1}")
        need(-lim < s.a_minus_max <= s.a_minus, "a_minus_max", f"must be in {-lim + 1}..a_minus")
        need(s.rate_double_every >= 0, "rate_double_every", "must be >= 0 (0 = constant)")
        return
    need(s.neurons_per_class >= 1, "neurons_per_class", "must be >= 1")
    need(2 <= s.n_classes <= 16, "n_classes", "must be in 2..16")
    need(s.rule in RULES, "rule", f"must be one of {', '.join(RULES)}")
    need(0 <= s.time_steps <= cfg.time_steps, "time_steps",
         f"must be in 0..{cfg.time_steps} (0 = the network's time_steps)")
    need(s.margin >= 0, "margin", "must be >= 0")
    need(s.prune_ramp_start >= 0, "prune_ramp_start", "must be >= 0")
    need(s.prune_ramp_step >= 0, "prune_ramp_step", "must be >= 0")
    need(s.prune_threshold <= s.prune_threshold_max <= cfg.w_max, "prune_threshold_max",
         f"must be in prune_threshold..{cfg.w_max}")
    need(-lim < s.punish_a_minus <= 0, "punish_a_minus", f"must be in {-lim + 1}..0")
    need(-lim < s.punish_a_plus < lim, "punish_a_plus", f"must be in {-lim + 1}..{lim - 1}")
