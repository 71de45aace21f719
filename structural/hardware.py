"""Accelerators: peak FLOP/s by precision, memory, memory bandwidth and price per chip-hour.

Dollars for a stage are

    seconds = FLOPs / (peak FLOP/s × utilisation),  dollars = seconds × price per chip-hour / 3600,

with the utilisation chosen per stage (training, fine-tuning, prefill, decode). Decode is usually
bound by memory bandwidth instead (see :mod:`structural.inference`).

Tensor parallelism splits a replica's weights over chips joined by a chip-to-chip interconnect
(NVLink); :mod:`structural.inference` charges its all-reduces at ``interconnect_bandwidth``.

Presets. The FLOP/s, memory and bandwidth figures are the dense (no sparsity) tensor-core numbers of
the Epoch AI chip dataset (``shared/sources/epoch-hardware/chip_dataset.csv``, snapshot
2025-06-20, CC-BY 4.0), which transcribes the NVIDIA datasheets; FP8 for the Hopper parts is taken
equal to their INT8 dense rate (1,979 TFLOP/s), as on the NVIDIA H100/H200 datasheets. The prices
are the median on-demand $/chip-hour of the Epoch AI hardware-price table
(``hardware_prices.csv``; rows for that exact model, 2017–2025), rounded to the cent. The H200
memory (141 GB) is from the NVIDIA H200 datasheet (the Epoch row leaves it blank) and its price is
the single Epoch observation. The interconnect bandwidth is the datasheet's total NVLink
bandwidth per chip, both directions together (Epoch's ``intranode_bandwidth``: V100 SXM2 300 GB/s,
NVLink 2; A100 SXM4 600 GB/s, NVLink 3; H100 SXM5 900 GB/s, NVLink 4); H200 900 GB/s (NVIDIA
H200 datasheet, NVLink 4) and B200 1.8 TB/s (NVIDIA DGX B200 datasheet, NVLink 5), for which the
Epoch rows leave it blank. Prices move fast: pipelines may override ``price_per_hour``.

Examples
--------
>>> from structural.hardware import PRESETS
>>> sorted(PRESETS)
['A100', 'B200', 'H100', 'H200', 'V100']
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from structural.errors import PipelineError, UnknownHardwareError

__all__ = ["PRESETS", "Hardware", "get_hardware"]


@dataclass(frozen=True)
class Hardware:
    """One accelerator chip.

    Attributes
    ----------
    name : str
        Preset name or a user label.
    peak_flops : dict[str, float]
        Dense peak FLOP/s by precision (``"bf16"``, ``"fp8"``, ``"fp32"``…).
    memory_bytes : float
        High-bandwidth memory per chip, bytes.
    memory_bandwidth : float
        Bytes per second.
    price_per_hour : float
        Dollars per chip-hour.
    interconnect_bandwidth : float
        Chip-to-chip (NVLink) bandwidth per chip, bytes per second, both directions together
        (the datasheet figure; each direction carries half).
    source : str
        Where the figures come from.

    Examples
    --------
    >>> from structural.hardware import Hardware
    >>> chip = Hardware("my-chip", {"bf16": 500e12}, memory_bytes=64e9, memory_bandwidth=2e12,
    ...                 price_per_hour=1.5, interconnect_bandwidth=400e9, source="vendor sheet")
    >>> chip.peak_flops["bf16"]
    500000000000000.0
    """

    name: str
    peak_flops: dict[str, float]
    memory_bytes: float
    memory_bandwidth: float
    price_per_hour: float
    interconnect_bandwidth: float
    source: str = ""

    def __post_init__(self) -> None:
        if not self.peak_flops:
            raise PipelineError("hardware.peak_flops", "at least one precision is required")
        for prec, value in self.peak_flops.items():
            _positive(f"hardware.peak_flops.{prec}", value)
        _positive("hardware.memory_bytes", self.memory_bytes)
        _positive("hardware.memory_bandwidth", self.memory_bandwidth)
        _positive("hardware.price_per_hour", self.price_per_hour)
        _positive("hardware.interconnect_bandwidth", self.interconnect_bandwidth)

    def flops(self, precision: str) -> float:
        """Peak FLOP/s at ``precision``; a :class:`PipelineError` names unknown precisions."""
        if precision not in self.peak_flops:
            raise PipelineError(
                "hardware.precision",
                f"{precision!r} not available on {self.name}; known: "
                f"{', '.join(sorted(self.peak_flops))}",
            )
        return self.peak_flops[precision]

    def replace(self, **changes: object) -> Hardware:
        """A copy with some fields changed (e.g. a negotiated ``price_per_hour``)."""
        return dataclasses.replace(self, **changes)


def _positive(field: str, value: object) -> None:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise PipelineError(field, f"expected a positive number, got {value!r}") from None
    if not v > 0 or v != v or v == float("inf"):
        raise PipelineError(field, f"expected a positive finite number, got {value!r}")


_EPOCH = "Epoch AI chip dataset (2025-06-20) and hardware prices (median on-demand $/chip-hour)"

PRESETS: dict[str, Hardware] = {
    "V100": Hardware(
        "V100", {"fp16": 125e12, "bf16": 125e12, "fp32": 15.67e12}, 32e9, 898e9, 3.06, 300e9,
        _EPOCH + "; V100 SXM2 32 GB (no bf16: the fp16 tensor rate stands in); "
        "price: rows \"NVIDIA V100\"",
    ),
    "A100": Hardware(
        "A100", {"bf16": 312e12, "fp16": 312e12, "tf32": 156e12, "fp32": 19.49e12,
                 "int8": 624e12},
        80e9, 2.039e12, 2.93, 600e9, _EPOCH + "; A100 SXM4 80 GB",
    ),
    "H100": Hardware(
        "H100", {"bf16": 989.4e12, "fp16": 989.4e12, "fp8": 1979e12, "fp32": 66.91e12,
                 "int8": 1979e12},
        80e9, 3.35e12, 4.40, 900e9, _EPOCH + "; H100 SXM5 80 GB",
    ),
    "H200": Hardware(
        "H200", {"bf16": 989.5e12, "fp16": 989.5e12, "fp8": 1979e12, "fp32": 66.91e12,
                 "int8": 1979e12},
        141e9, 4.8e12, 10.60, 900e9,
        _EPOCH + "; H200 SXM (memory and NVLink: NVIDIA datasheet; one price row)",
    ),
    "B200": Hardware(
        "B200", {"bf16": 2.25e15, "fp16": 2.25e15, "fp8": 4.5e15, "fp32": 62.08e12},
        192e9, 8e12, 6.00, 1.8e12,
        "Epoch AI chip dataset (2025-06-20); NVLink 5: NVIDIA DGX B200 datasheet; "
        "price: assumption (no Epoch rental row), override it",
    ),
}


def get_hardware(name: str) -> Hardware:
    """The preset called ``name`` (case-insensitive); :class:`UnknownHardwareError` otherwise.

    Examples
    --------
    >>> from structural.hardware import get_hardware
    >>> h100 = get_hardware("h100")
    >>> h100.name, f"{h100.peak_flops['bf16']:.3g}", h100.price_per_hour
    ('H100', '9.89e+14', 4.4)
    >>> get_hardware("TPU9")
    Traceback (most recent call last):
    ...
    structural.errors.UnknownHardwareError: hardware.name: unknown hardware 'TPU9'; known: V100, ...
    """
    key = {k.lower(): k for k in PRESETS}.get(str(name).lower())
    if key is None:
        raise UnknownHardwareError(
            "hardware.name", f"unknown hardware {name!r}; known: {', '.join(PRESETS)}"
        )
    return PRESETS[key]
