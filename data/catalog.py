"""The catalogue of curated datasets: names, schemas, snapshot dates, licences, loaders.

Loaders read only the CSV files committed inside this package (via :mod:`importlib.resources`, so
they work from an installed wheel); the raw sources are read only by :mod:`data.build`.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import pandas as pd

from data import (
    benchmarks,
    capability,
    chinchilla,
    crosswalk,
    hardware,
    models,
    openrouter,
    prices,
    serving,
    traces,
)
from data.errors import UnknownDatasetError
from data.schema import Schema
from data.schema import validate as validate_schema

#: pandas < 3 parses floats with a fast parser that can be off in the last bit; ask for exact
#: (round-trip) parsing there, so files rebuild byte-identically under pandas 2 and 3 (where
#: exact parsing is the default and the option is deprecated).
EXACT_FLOATS: dict[str, str] = (
    {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
)


@dataclass(frozen=True)
class Dataset:
    """One curated table: ``<name>.csv`` and its datasheet ``<name>.md`` in the package."""

    name: str
    schema: Schema
    description: str
    snapshot: str
    licence: str
    #: extra checks beyond the schema (e.g. names against another table), run by :func:`validate`
    check: Callable[[pd.DataFrame, str | None], None] | None = None

    @property
    def csv(self) -> str:
        return f"{self.name}.csv"

    @property
    def datasheet(self) -> str:
        return f"{self.name}.md"


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in [
        Dataset(
            "chinchilla",
            chinchilla.SCHEMA,
            "245 Chinchilla training runs (N, C, D, loss) from Hoffmann et al. 2022 Fig. 4",
            "2024-05-14",
            "unstated; cite Hoffmann et al. 2022, Besiroglu et al. 2024 and the repository",
        ),
        Dataset(
            "api_prices",
            prices.SCHEMA,
            "API prices per provider and model ($/Mtok in/out/cache, long-context tier, context)",
            prices.GENAI_SNAPSHOT,
            "MIT (Pydantic genai-prices; BerriAI LiteLLM); open_weights partly CC-BY 4.0 Epoch AI",
        ),
        Dataset(
            "api_price_history",
            prices.HISTORY_SCHEMA,
            "Epoch AI dated API prices 2021-2025: input/output $/Mtok per model and vendor",
            "2025-02-05",
            "CC-BY 4.0, credit Epoch AI",
        ),
        Dataset(
            "models",
            models.SCHEMA,
            "Epoch AI models database, language models: size, compute, tokens, hardware, access",
            models.SNAPSHOT,
            "CC-BY 4.0, credit Epoch AI, 'Data on AI Models'",
        ),
        Dataset(
            "training_costs",
            models.COSTS_SCHEMA,
            "Epoch AI training-cost estimates (cloud, acquisition, capex+energy) per model",
            "2025-07-04",
            "CC-BY 4.0, credit Epoch AI; cite Cottier et al. 2024",
        ),
        Dataset(
            "capability",
            capability.SCHEMA,
            "Epoch Capabilities Index scores and release dates per model version",
            capability.SNAPSHOT,
            "CC-BY 4.0 data / MIT code, credit Epoch AI, 'AI Benchmarking Hub'",
        ),
        Dataset(
            "eval_tokens",
            capability.EVAL_SCHEMA,
            "Epoch AI evaluation input and output (reasoning) tokens per model and task",
            capability.EVAL_SNAPSHOT,
            "CC-BY 4.0, credit Epoch AI",
        ),
        Dataset(
            "hardware",
            hardware.SCHEMA,
            "ML accelerator specs: peak FLOP/s by precision, memory, bandwidth, power",
            hardware.SNAPSHOT,
            "CC-BY 4.0, credit Epoch AI",
        ),
        Dataset(
            "hardware_prices",
            hardware.PRICES_SCHEMA,
            "Dated accelerator purchase prices and cloud $/chip-hour (on demand, 1y/3y CUD)",
            hardware.SNAPSHOT,
            "CC-BY 4.0, credit Epoch AI",
        ),
        Dataset(
            "ppi",
            hardware.PPI_SCHEMA,
            "US PPI data processing and hosting (FRED PCU518210518210), factor to 2023 USD",
            hardware.PPI_SNAPSHOT,
            "public domain (US BLS, via FRED)",
        ),
        Dataset(
            "request_traces",
            traces.SCHEMA,
            "Azure 2023 and Mooncake request traces: input/output tokens, prefix-cache reuse",
            "2025-02-21",
            "CC-BY 4.0 (Azure; cite Patel et al. 2024) and Apache-2.0 (Mooncake)",
        ),
        Dataset(
            "model_crosswalk",
            crosswalk.SCHEMA,
            "Model ids of the price, capability and eval tables mapped to Epoch model names",
            "2026-08-21",
            "derived from the tables it joins (MIT and CC-BY 4.0; credit Epoch AI)",
        ),
        Dataset(
            "benchmark_runs",
            benchmarks.SCHEMA,
            "Epoch AI benchmark runs: accuracy, stderr, questions, epochs, training compute",
            benchmarks.SNAPSHOT,
            "CC-BY 4.0 data / MIT code, credit Epoch AI, 'AI Benchmarking Hub'",
        ),
        Dataset(
            "api_market",
            openrouter.MARKET_SCHEMA,
            "OpenRouter daily tokens per model (billions) with weighted prices and provider counts",
            openrouter.SNAPSHOT,
            "no licence: facts published by OpenRouter; credit OpenRouter (see datasheet)",
        ),
        Dataset(
            "api_provider_prices",
            openrouter.PROVIDER_PRICES_SCHEMA,
            "OpenRouter price per model, provider and day ($/Mtok in/out), 2026-02-19..04-02",
            openrouter.PRICE_SNAPSHOT,
            "no licence: facts published by OpenRouter; credit OpenRouter (see datasheet)",
        ),
        Dataset(
            "api_models",
            openrouter.MODELS_SCHEMA,
            "OpenRouter models: open weights, release, context, parameters, ECI/AA/LMArena quality",
            openrouter.SNAPSHOT,
            "mixed: OpenRouter facts (no licence), Epoch AI CC-BY 4.0, Artificial Analysis and "
            "LMArena with attribution (see datasheet)",
        ),
        Dataset(
            "openrouter_crosswalk",
            openrouter.CROSSWALK_SCHEMA,
            "OpenRouter slugs mapped to Artificial Analysis, Epoch ECI and LMArena model names",
            openrouter.SNAPSHOT,
            "derived; hand-made matches, credit the sources as in api_models",
            openrouter.check_crosswalk,
        ),
        Dataset(
            "openrouter_list_prices",
            openrouter.LIST_PRICES_SCHEMA,
            "OpenRouter list prices per model, 14 archived snapshots 2025-10-02 … 2025-12-06",
            "2025-12-06",
            "no licence: facts published by OpenRouter (Internet Archive snapshots)",
        ),
        Dataset(
            "demirer2025_figures",
            openrouter.FIGURES_SCHEMA,
            "Demirer et al. (2025) Figs. 5, 11, 15 percentile series as digitised from the paper",
            "2026-01-02",
            "no licence: values read off the paper's figures; cite Demirer et al. (2025)",
        ),
        Dataset(
            "serving_throughput",
            serving.SCHEMA,
            "TensorRT-LLM v0.5.0/v0.6.1 published serving throughput (Llama, A100/H100, TP 1-4)",
            "2023-12-01",
            "Apache-2.0 (NVIDIA TensorRT-LLM documentation); cite NVIDIA/TensorRT-LLM",
        ),
    ]
}


def get(name: str) -> Dataset:
    """The catalogue entry for ``name``; unknown names raise with the list of known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownDatasetError(
            f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}"
        ) from None


def _read_text(filename: str) -> str:
    return resources.files("data").joinpath(filename).read_text(encoding="utf-8")


@functools.cache
def _load_cached(name: str) -> pd.DataFrame:
    ds = get(name)
    with resources.files("data").joinpath(ds.csv).open("r", encoding="utf-8") as fh:
        # Only empty cells are missing: a model called "NA" stays a string.
        raw = pd.read_csv(fh, keep_default_na=False, na_values=[""], **EXACT_FLOATS)
    return validate_schema(raw, ds.schema, source=f"data/{ds.csv}", allow_extra=False)


def load(name: str) -> pd.DataFrame:
    """Load the curated dataset ``name`` as a validated DataFrame (a fresh copy each call).

    Examples
    --------
    >>> import data
    >>> df = data.load("chinchilla")
    >>> len(df), list(df.columns)
    (245, ['params', 'flops', 'tokens', 'loss', 'outlier'])
    """
    return _load_cached(name).copy()


def datasheet(name: str) -> str:
    """The datasheet (Markdown) of dataset ``name``: source, licence, units, transformations.

    Examples
    --------
    >>> import data
    >>> data.datasheet("chinchilla").splitlines()[0]
    '# chinchilla — Chinchilla training runs (Hoffmann et al. 2022, Figure 4 left)'
    """
    return _read_text(get(name).datasheet)


def catalogue() -> pd.DataFrame:
    """One row per dataset: name, rows, snapshot date, licence, description."""
    rows: builtins.list[dict[str, object]] = []
    for name, ds in DATASETS.items():
        rows.append(
            {
                "name": name,
                "rows": len(_load_cached(name)),
                "snapshot": ds.snapshot,
                "licence": ds.licence,
                "description": ds.description,
            }
        )
    return pd.DataFrame(rows)


def validate(df: pd.DataFrame, name: str, source: str | None = None) -> pd.DataFrame:
    """Validate a user table against the schema of dataset ``name`` (extra columns allowed),
    then against the dataset's own checks where it has them (names known to other tables).

    Examples
    --------
    >>> import data
    >>> runs = data.load("chinchilla")
    >>> len(data.validate(runs.head(3), "chinchilla"))
    3
    >>> data.validate(runs.drop(columns="loss"), "chinchilla")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    data.errors.DataValidationError: chinchilla: column 'loss' is missing; ...
    """
    ds = get(name)
    out = validate_schema(df, ds.schema, source=source)
    if ds.check is not None:
        ds.check(out, source)
    return out
