"""Request-level inference traces: how many context and output tokens real requests use.

Two public traces are stacked in one table with a ``trace`` column:

- Azure LLM inference trace 2023 (Patel et al., "Splitwise", ISCA 2024): one hour of a coding
  service (``azure_code_2023``) and of a conversation service (``azure_conv_2023``).
- Mooncake FAST'25 conversation trace (Qin et al., USENIX FAST 2025; Kimi, ``mooncake_conv``),
  whose 512-token prefix-block hashes measure how much of each prompt a prefix cache could reuse.

The prefix-cache measure (cached_blocks) is the length of the longest *leading* run of a request's
block hashes that all occurred in some earlier request of the trace: a KV cache keyed by prefix can
only skip the prefill of a block whose whole prefix matches, and Mooncake's ids are hashes of the
prefix up to each block, so an id seen before means that prefix was computed before (an unbounded
cache, i.e. an upper bound on what a real, evicting cache reuses).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.schema import Column, Schema

#: The traces of the table, by the value of its ``trace`` column.
TRACE_NAMES = ("azure_code_2023", "azure_conv_2023", "mooncake_conv")

#: Tokens per Mooncake prefix block.
BLOCK_TOKENS = 512

SCHEMA = Schema(
    name="request_traces",
    columns=(
        Column(
            "trace",
            "str",
            description="azure_code_2023, azure_conv_2023 (Azure 2023) or mooncake_conv (Kimi)",
        ),
        Column("request", "int", "", min=0, description="0-based request number within its trace"),
        Column(
            "arrival_s",
            "float",
            "s",
            min=0,
            max=4000,
            description="arrival time in seconds since the trace's first request",
        ),
        Column(
            "input_tokens", "int", "tokens", min=1, max=1e6, description="prompt/context tokens"
        ),
        Column("output_tokens", "int", "tokens", min=0, max=1e5, description="generated tokens"),
        Column(
            "blocks",
            "int",
            "512-token blocks",
            min=1,
            nullable=True,
            description="prefix blocks of the prompt (Mooncake only)",
        ),
        Column(
            "cached_blocks",
            "int",
            "512-token blocks",
            min=0,
            nullable=True,
            description="leading blocks already seen in an earlier request (Mooncake only)",
        ),
        Column(
            "cached_tokens",
            "int",
            "tokens",
            min=0,
            nullable=True,
            description="min(512 * cached_blocks, input_tokens): prompt tokens a prefix cache "
            "could reuse (Mooncake only)",
        ),
    ),
    unique=("trace", "request"),
)


def curate_azure(raw: pd.DataFrame, trace: str) -> pd.DataFrame:
    """Azure ``TIMESTAMP, ContextTokens, GeneratedTokens`` → the common trace columns."""
    t = pd.to_datetime(raw["TIMESTAMP"], format="%Y-%m-%d %H:%M:%S.%f")
    arrival = (t - t.iloc[0]).dt.total_seconds().round(6)
    n = len(raw)
    return pd.DataFrame(
        {
            "trace": trace,
            "request": np.arange(n),
            "arrival_s": arrival.to_numpy(),
            "input_tokens": raw["ContextTokens"].astype("int64").to_numpy(),
            "output_tokens": raw["GeneratedTokens"].astype("int64").to_numpy(),
            "blocks": pd.array([pd.NA] * n, dtype="Int64"),
            "cached_blocks": pd.array([pd.NA] * n, dtype="Int64"),
            "cached_tokens": pd.array([pd.NA] * n, dtype="Int64"),
        }
    )


def prefix_reuse(hash_ids: list[list[int]]) -> np.ndarray:
    """Leading blocks of each request whose hash occurred in an earlier request (file order)."""
    seen: set[int] = set()
    out = np.zeros(len(hash_ids), dtype=np.int64)
    for i, ids in enumerate(hash_ids):
        k = 0
        while k < len(ids) and ids[k] in seen:
            k += 1
        out[i] = k
        seen.update(ids)
    return out


def curate_mooncake(raw: pd.DataFrame, trace: str = "mooncake_conv") -> pd.DataFrame:
    """Mooncake ``timestamp (ms), input_length, output_length, hash_ids`` → trace columns."""
    ids = [list(map(int, h)) for h in raw["hash_ids"]]
    cached = prefix_reuse(ids)
    inp = raw["input_length"].astype("int64").to_numpy()
    ms = raw["timestamp"].astype("int64").to_numpy()
    return pd.DataFrame(
        {
            "trace": trace,
            "request": np.arange(len(raw)),
            "arrival_s": (ms - ms[0]) / 1000.0,
            "input_tokens": inp,
            "output_tokens": raw["output_length"].astype("int64").to_numpy(),
            "blocks": pd.array([len(h) for h in ids], dtype="Int64"),
            "cached_blocks": pd.array(cached, dtype="Int64"),
            "cached_tokens": pd.array(np.minimum(cached * BLOCK_TOKENS, inp), dtype="Int64"),
        }
    )
