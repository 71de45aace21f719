"""Accelerators: specifications, dated purchase and rental prices, and a price deflator.

``hardware``: Epoch AI's chip database reduced to machine-learning hardware — peak FLOP/s by
number format, memory and bandwidth, power. ``hardware_prices``: Epoch AI's dated purchase prices
and cloud $/chip-hour rental prices (on demand, 1- and 3-year committed use). ``ppi``: the US BLS
producer price index for data processing, hosting and related services (FRED PCU518210518210),
used by Epoch to deflate compute prices.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.errors import DataValidationError
from data.schema import Column, Schema

SNAPSHOT = "2025-06-20"
PPI_SNAPSHOT = "2025-06-01"
#: Base year of the ``to_2023_usd`` factor (the year Epoch's cost estimates are expressed in).
BASE_YEAR = 2023


def _flops(name: str, what: str) -> Column:
    return Column(
        name, "float", "FLOP/s", min=1e9, max=1e18, nullable=True, description=f"peak {what}"
    )


SCHEMA = Schema(
    name="hardware",
    columns=(
        Column("hardware", "str", description="Epoch chip name (joins models.hardware)"),
        Column("manufacturer", "str", nullable=True, description="manufacturer"),
        Column("type", "str", nullable=True, description="GPU, TPU, CPU, ..."),
        Column(
            "release_date",
            "date",
            min="1990-01-01",
            max="2030-12-31",
            nullable=True,
            description="release date",
        ),
        Column(
            "release_price_usd",
            "float",
            "USD",
            min=1,
            max=1e7,
            nullable=True,
            description="launch price per chip",
        ),
        _flops("fp64_flops", "FP64 FLOP/s"),
        _flops("fp32_flops", "FP32 FLOP/s"),
        _flops("fp16_flops", "FP16 (non-tensor) FLOP/s"),
        _flops("tf32_flops", "TF32 tensor FLOP/s"),
        _flops("bf16_flops", "tensor FP16/BF16 FLOP/s (dense)"),
        _flops("fp8_flops", "FP8 FLOP/s"),
        _flops("fp4_flops", "FP4 FLOP/s"),
        _flops("int8_ops", "INT8 OP/s"),
        Column(
            "memory_bytes",
            "float",
            "bytes",
            min=1e6,
            max=1e13,
            nullable=True,
            description="memory per board",
        ),
        Column(
            "memory_bandwidth",
            "float",
            "bytes/s",
            min=1e8,
            max=1e17,
            nullable=True,
            description="memory bandwidth",
        ),
        Column(
            "intranode_bandwidth",
            "float",
            "bytes/s",
            min=1e6,
            max=1e15,
            nullable=True,
            description="chip-to-chip bandwidth within a node",
        ),
        Column(
            "internode_bandwidth",
            "float",
            "bits/s",
            min=1e6,
            max=1e18,
            nullable=True,
            description="network bandwidth between nodes",
        ),
        Column("tdp_w", "float", "W", min=1, max=1e5, nullable=True, description="thermal power"),
        Column("process_nm", "float", "nm", min=1, max=1000, nullable=True, description="process"),
        Column("ml_hardware", "bool", description="Epoch marks it as ML hardware"),
    ),
    unique=("hardware",),
)

_SPEC = {
    "fp64_flops": "FP64 (double precision) performance (FLOP/s)",
    "fp32_flops": "FP32 (single precision) performance (FLOP/s)",
    "fp16_flops": "FP16 (half precision) performance (FLOP/s)",
    "tf32_flops": "TF32 (TensorFloat-32) performance (FLOP/s)",
    "bf16_flops": "Tensor-FP16/BF16 performance (FLOP/s)",
    "fp8_flops": "FP8 performance (FLOP/s)",
    "fp4_flops": "FP4 performance (FLOP/s)",
    "int8_ops": "INT8 performance (OP/s)",
    "memory_bytes": "Memory size per board (Byte)",
    "memory_bandwidth": "Memory bandwidth (byte/s)",
    "intranode_bandwidth": "Intranode bandwidth (byte/s)",
    "internode_bandwidth": "Internode bandwidth (bit/s)",
    "tdp_w": "TDP (W)",
    "process_nm": "Process size (nm)",
}


def _text(s: pd.Series) -> pd.Series:
    out = s.astype("string").str.strip()
    return out.where(out != "", pd.NA)


def _usd(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.astype("string").str.replace(r"[$,\s]", "", regex=True), errors="raise")


def curate_hardware(chips: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    """Chip database → ML hardware: rows marked ``ML hardware``, or with tensor FP16/BF16 or FP8
    FLOP/s, or named in the price table (so every priced chip has its specifications)."""
    ml = chips["ML hardware"].astype("string").str.strip().str.lower().eq("checked").fillna(False)
    keep = (
        ml
        | chips[_SPEC["bf16_flops"]].notna()
        | chips[_SPEC["fp8_flops"]].notna()
        | chips["Hardware name"].isin(set(prices["Hardware model"].dropna()))
    )
    c = chips[keep.to_numpy()]
    out = pd.DataFrame(
        {
            "hardware": _text(c["Hardware name"]),
            "manufacturer": _text(c["Manufacturer"]),
            "type": _text(c["Type"]),
            "release_date": pd.to_datetime(c["Release date"], format="ISO8601"),
            "release_price_usd": _usd(c["Release price (USD)"]),
            **{k: pd.to_numeric(c[v], errors="raise") for k, v in _SPEC.items()},
            "ml_hardware": ml[keep.to_numpy()].to_numpy(dtype=bool),
        }
    )
    out = out.sort_values(["release_date", "hardware"], kind="stable", na_position="first")
    return out.reset_index(drop=True)


def _price(name: str, what: str) -> Column:
    return Column(name, "float", "$/chip-hour", min=0.005, max=200, nullable=True, description=what)


PRICES_SCHEMA = Schema(
    name="hardware_prices",
    columns=(
        Column("date", "date", min="2005-01-01", max="2030-12-31", description="price date"),
        Column("hardware", "str", description="Epoch chip name (joins hardware.hardware)"),
        Column("manufacturer", "str", nullable=True, description="chip manufacturer"),
        Column("vendor", "str", nullable=True, description="cloud vendor (empty for purchases)"),
        Column("location", "str", nullable=True, description="cloud region"),
        _price("on_demand_usd_per_chip_hour", "on-demand rental price per chip-hour"),
        _price("cud_1y_usd_per_chip_hour", "1-year committed-use price per chip-hour"),
        _price("cud_3y_usd_per_chip_hour", "3-year committed-use price per chip-hour"),
        Column(
            "purchase_usd",
            "float",
            "USD",
            min=10,
            max=1e8,
            nullable=True,
            description="purchase price (per chip unless n_gpus says a system)",
        ),
        Column("n_gpus", "float", "chips", min=1, max=1e5, nullable=True, description="GPUs"),
        Column("description", "str", nullable=True, description="cloud instance description"),
        Column("notes", "str", nullable=True, description="Epoch's notes"),
        Column("source_url", "str", nullable=True, description="where the price was read"),
    ),
)


def curate_hardware_prices(raw: pd.DataFrame) -> pd.DataFrame:
    """``Hardware prices.csv`` → dated prices; rows without a date or any price are dropped."""
    cols = [
        "Price per chip-hour (on-demand)",
        "Price per chip-hour (1-year CUD)",
        "Price per chip-hour (3-year CUD)",
        "Price (hardware purchase)",
    ]
    has_price = raw[cols].notna().any(axis=1)
    r = raw[(has_price & raw["Price date"].notna()).to_numpy()]
    out = pd.DataFrame(
        {
            "date": pd.to_datetime(r["Price date"], format="ISO8601"),
            "hardware": _text(r["Hardware model"]),
            "manufacturer": _text(r["Manufacturer"]),
            "vendor": _text(r["Vendor"]),
            "location": _text(r["Location"]),
            "on_demand_usd_per_chip_hour": pd.to_numeric(r[cols[0]]),
            "cud_1y_usd_per_chip_hour": pd.to_numeric(r[cols[1]]),
            "cud_3y_usd_per_chip_hour": pd.to_numeric(r[cols[2]]),
            "purchase_usd": pd.to_numeric(r[cols[3]]),
            "n_gpus": pd.to_numeric(r["Number of GPUs"]),
            "description": _text(r["Cloud GPU description"]),
            "notes": _text(r["Notes"].astype("string").str.replace(r"\s+", " ", regex=True)),
            "source_url": _text(r["Price source"]),
        }
    )
    out = out.sort_values(["date", "hardware", "vendor"], kind="stable", na_position="first")
    return out.reset_index(drop=True)


PPI_SCHEMA = Schema(
    name="ppi",
    columns=(
        Column("date", "date", min="2000-01-01", max="2030-12-31", description="first of month"),
        Column(
            "ppi",
            "float",
            "index, Dec 2000 = 100",
            min=10,
            max=1000,
            description="PPI data processing, hosting and related services (PCU518210518210)",
        ),
        Column(
            "to_2023_usd",
            "float",
            "",
            min=0.1,
            max=10,
            description="multiply a nominal USD amount of this month by this to get 2023 USD "
            "(mean 2023 index / this month's index)",
        ),
    ),
    unique=("date",),
)


def curate_ppi(raw: pd.DataFrame) -> pd.DataFrame:
    """FRED ``PCU518210518210.csv`` → monthly index and the factor to 2023 dollars."""
    date = pd.to_datetime(raw["observation_date"], format="ISO8601")
    index = pd.to_numeric(raw["PCU518210518210"], errors="raise").astype(float)
    base = index[(date.dt.year == BASE_YEAR).to_numpy()]
    if len(base) != 12:
        raise DataValidationError(
            f"ppi: column 'date': expected 12 months of {BASE_YEAR}, got {len(base)}"
        )
    factor = np.round(base.mean() / index, 12)
    return pd.DataFrame({"date": date, "ppi": index, "to_2023_usd": factor})
