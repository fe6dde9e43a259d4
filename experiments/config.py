"""What defines a training run (`TrainConfig`, the CLI's flags) and the choices it offers."""
from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from experiments.keras_compat import DEFAULT_LEARNING_RATE, OPTIMIZERS
from experiments.models import APIS, DTYPES, UPSAMPLING, VARIANTS

LOOPS = ("auto", "python", "scan")
DEFAULT_LOOP = "auto"
# loop="auto" per backend, from benchmarks/RESULTS.md: on the 2-core CPU a Python loop
# over a jitted step beats one lax.scan per epoch for these small conv nets (3x); elsewhere
# a step is a few small kernels, bound by host dispatch, so the whole epoch is one program.
AUTO_LOOP = {"cpu": "python", "gpu": "scan"}  # gpu: H200, scan 1.1-1.7x the python loop
AUTO_LOOP_ELSEWHERE = "scan"
# XLA:CPU (jaxlib 0.10) hands dots, convolutions, reductions and elementwise fusions
# to its YNNPACK library by default. For these small-channel conv nets, keeping only
# the dots there (convolutions and fusions from XLA's own emitters) measured 8-12%
# more training images/s on the 2-core CPU (benchmarks/RESULTS.md). It is set per
# compiled program (`compile(compiler_options=...)`): nothing else in the process,
# Keras included, is affected. "default" leaves XLA's choice.
CPU_FUSIONS = {
    "dots": {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"},
    "default": {},
}
DATA_CHOICES = ("auto", "mnist")
# The CLI gives JAX one CPU device per usable core (`jax_num_cpu_devices`), so that on a
# CPU the mesh shards each batch over every core: a step's ops are too small for XLA:CPU
# to keep two cores busy within one device (2-core Intel Xeon, one device per core:
# +17% upsample, +29% transpose images/s; benchmarks/RESULTS.md). At most this many, and
# always a divisor of the batch size.
MAX_CPU_DEVICES = 8


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a run (the CLI's flags); checked on construction."""

    variant: str = "upsample"
    epochs: int = 50
    batch_size: int = 256
    seed: int = 0
    optimizer: str = "adam"
    learning_rate: float | None = None  # None: 1e-3, the Keras default
    devices: int | None = None  # None: every device
    loop: str = DEFAULT_LOOP
    limit: int | None = None  # first N train and test images
    out: str | None = None  # None: runs/<variant>-<date-time>
    resume: bool = False
    data_dir: str | None = None
    data: str = "auto"  # "mnist": no scikit-learn fallback
    upsampling: str = "nearest"
    api: str = "linen"  # "nnx": the same model built from jaxlayers.nnx
    dtype: str = "float32"  # "bfloat16": convolutions in bfloat16; parameters, optimizer and loss float32
    cpu_fusions: str = "dots"  # see CPU_FUSIONS; ignored on GPU/TPU
    stop_after_epochs: int | None = None  # stop this invocation early, as if killed (testing)
    keep_checkpoints: int = 2

    def __post_init__(self) -> None:
        check_fields(self, {"variant": VARIANTS, "upsampling": UPSAMPLING, "api": APIS, "dtype": DTYPES,
                            "optimizer": OPTIMIZERS, "loop": LOOPS, "cpu_fusions": CPU_FUSIONS,
                            "data": DATA_CHOICES},
                     positive=("batch_size", "keep_checkpoints"),
                     optional=("devices", "limit", "stop_after_epochs"), extra=[
            (isinstance(self.epochs, int) and self.epochs >= 0, f"epochs must be an int >= 0, got {self.epochs!r}"),
            (self.upsampling == "nearest" or self.variant == "upsample",
             f"upsampling={self.upsampling!r} applies only to variant 'upsample', not {self.variant!r}"),
        ])

    @property
    def lr(self) -> float:
        return DEFAULT_LEARNING_RATE if self.learning_rate is None else float(self.learning_rate)

    @property
    def tag(self) -> str:
        """The run's name: the variant, with a non-default upsampling appended."""
        return self.variant if self.upsampling == "nearest" else f"{self.variant}-{self.upsampling}"


def _positive(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_fields(config: Any, choices: Mapping[str, Collection[str]], positive: Sequence[str] = (),
                 optional: Sequence[str] = (), extra: Sequence[tuple[bool, str]] = ()) -> None:
    """ValueError naming the first field of a run's config out of range.

    Args:
        config: the config (a dataclass with `learning_rate`: positive or None).
        choices: field -> its allowed values.
        positive: fields that must be positive ints; `optional`: the same, or None.
        extra: further `(ok, message)` checks.
    """
    def value(name: str) -> Any:
        return getattr(config, name)

    checks = [(value(k) in allowed, f"{k} must be one of {tuple(allowed)}, got {value(k)!r}")
              for k, allowed in choices.items()]
    checks += [(_positive(value(k)), f"{k} must be a positive int, got {value(k)!r}") for k in positive]
    checks += [(value(k) is None or _positive(value(k)), f"{k} must be a positive int or None, got {value(k)!r}")
               for k in optional]
    checks += [(config.learning_rate is None or config.learning_rate > 0,
                f"learning_rate must be positive or None, got {config.learning_rate!r}"), *extra]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


def auto_cpu_devices(batch_size: int, cores: int) -> int:
    """CPU devices for `--cpu-devices auto`: the largest divisor of `batch_size` that is at
    most `cores` and `MAX_CPU_DEVICES` (at least 1)."""
    limit = max(1, min(cores, MAX_CPU_DEVICES))
    return max(n for n in range(1, limit + 1) if batch_size % n == 0)


def resolve_loop(loop: str, platform: str) -> str:
    """"python" or "scan": `loop`, with "auto" decided for `platform` (AUTO_LOOP)."""
    if loop not in LOOPS:
        raise ValueError(f"loop must be one of {LOOPS}, got {loop!r}")
    return AUTO_LOOP.get(platform, AUTO_LOOP_ELSEWHERE) if loop == "auto" else loop
