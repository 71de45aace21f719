"""Regenerate every curated CSV from the raw sources, deterministically.

Usage::

    python -m data.build --sources ../shared/sources --out data/

This is the only code that reads the raw sources; the loaders read the committed CSVs. Each builder
returns a validated DataFrame; :func:`write_csv` fixes the float, date and boolean formats and the
line ending, so two runs on the same sources give byte-identical files.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

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
from data.catalog import DATASETS, EXACT_FLOATS
from data.errors import DataValidationError
from data.schema import validate


def _csv(path: Path, **kwargs: object) -> pd.DataFrame:
    return pd.read_csv(path, **EXACT_FLOATS, **kwargs)


def build_chinchilla(sources: Path) -> pd.DataFrame:
    """``chinchilla/svg_extracted_data.csv`` → params, flops, tokens, loss, outlier."""
    raw = _csv(sources / "chinchilla" / "svg_extracted_data.csv")
    return chinchilla.curate(raw)


def _json(path: Path) -> object:
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def build_api_prices(sources: Path) -> pd.DataFrame:
    """genai-prices ``data.json`` + LiteLLM price map → one row per source, provider, model.

    The open-weights flag comes from Epoch's accessibility where the id matches an Epoch model
    (crosswalk rules), else from the model-family rule.
    """
    genai = _json(sources / "genai-prices" / "data.json")
    litellm = _json(sources / "litellm-prices" / "model_prices_and_context_window.json")
    ids = prices.curate_api_prices(genai, litellm)["model"].tolist()
    flags = crosswalk.epoch_open_weights(
        ids,
        validate(build_models(sources), DATASETS["models"].schema, source="models"),
        validate(build_capability(sources), DATASETS["capability"].schema, source="capability"),
    )
    return prices.curate_api_prices(genai, litellm, flags)


def build_api_price_history(sources: Path) -> pd.DataFrame:
    """Epoch ``api_prices.csv`` (UTF-8 with BOM) → dated input/output prices per model, vendor."""
    raw = _csv(sources / "epoch-api-prices" / "api_prices.csv", encoding="utf-8-sig")
    return prices.curate_price_history(raw)


def _systems(sources: Path) -> pd.DataFrame:
    return _csv(sources / "epoch-models" / "all_ml_systems.csv")


def build_models(sources: Path) -> pd.DataFrame:
    """Epoch ``all_ml_systems.csv`` → language models."""
    return models.curate_models(_systems(sources))


def build_training_costs(sources: Path) -> pd.DataFrame:
    """Epoch ``model_costs.csv`` + ``model_costs_updated.csv`` joined to the database."""
    d = sources / "epoch-models"
    return models.curate_training_costs(
        _csv(d / "model_costs.csv"),
        _csv(d / "model_costs_updated.csv"),
        _systems(sources),
    )


def build_capability(sources: Path) -> pd.DataFrame:
    """Epoch Capabilities Index + model version release dates."""
    d = sources / "epoch-benchmarks"
    return capability.curate_capability(
        _csv(d / "epoch_capabilities_index.csv"),
        _csv(d / "model_versions.csv", encoding="utf-8-sig"),
    )


def build_eval_tokens(sources: Path) -> pd.DataFrame:
    """Epoch ``epoch_ai_eval_data.csv`` → tokens per model and task."""
    return capability.curate_eval_tokens(
        _csv(sources / "epoch-api-prices" / "epoch_ai_eval_data.csv")
    )


def _hw_prices(sources: Path) -> pd.DataFrame:
    return _csv(sources / "epoch-hardware" / "hardware_prices.csv", encoding="utf-8-sig")


def build_hardware(sources: Path) -> pd.DataFrame:
    """Epoch chip database → ML accelerators (and every chip that has a price)."""
    chips = _csv(sources / "epoch-hardware" / "chip_dataset.csv")
    return hardware.curate_hardware(chips, _hw_prices(sources))


def build_hardware_prices(sources: Path) -> pd.DataFrame:
    """Epoch hardware prices → dated purchase and $/chip-hour prices."""
    return hardware.curate_hardware_prices(_hw_prices(sources))


def build_ppi(sources: Path) -> pd.DataFrame:
    """FRED PCU518210518210 → monthly index and factor to 2023 USD."""
    return hardware.curate_ppi(_csv(sources / "epoch-hardware" / "PCU518210518210.csv"))


def build_request_traces(sources: Path) -> pd.DataFrame:
    """Azure 2023 code and conversation traces + Mooncake conversation trace, stacked."""
    az = sources / "azure-llm-trace-2023"
    mooncake = pd.read_json(
        sources / "mooncake-trace" / "conversation_trace.jsonl", lines=True, dtype=False
    )
    return pd.concat(
        [
            traces.curate_azure(_csv(az / "AzureLLMInferenceTrace_code.csv"), "azure_code_2023"),
            traces.curate_azure(_csv(az / "AzureLLMInferenceTrace_conv.csv"), "azure_conv_2023"),
            traces.curate_mooncake(mooncake),
        ],
        ignore_index=True,
    )


def build_model_crosswalk(sources: Path) -> pd.DataFrame:
    """Identifiers of api_prices, api_price_history, capability, eval_tokens → Epoch names.

    Built from the validated outputs of those builders (so it always matches the tables shipped).
    """

    def table(name: str) -> pd.DataFrame:
        return validate(BUILDERS[name](sources), DATASETS[name].schema, source=name)

    return crosswalk.curate_crosswalk(
        table("api_prices"),
        table("api_price_history"),
        table("capability"),
        table("eval_tokens"),
        table("models"),
    )


def build_benchmark_runs(sources: Path) -> pd.DataFrame:
    """Epoch ``benchmarks_runs.csv`` (UTF-8 with BOM) joined to the curated capability, models and
    eval_tokens tables (training compute, release date, epochs per run)."""
    d = sources / "epoch-benchmarks"

    def table(name: str) -> pd.DataFrame:
        return validate(BUILDERS[name](sources), DATASETS[name].schema, source=name)

    return benchmarks.curate_benchmark_runs(
        _csv(d / "benchmarks_runs.csv", encoding="utf-8-sig"),
        table("capability"),
        table("models"),
        table("eval_tokens"),
        _csv(d / "model_versions.csv", encoding="utf-8-sig"),
    )


def _openrouter(sources: Path, name: str, **kwargs: object) -> pd.DataFrame:
    return _csv(sources / "openrouter-market" / name, **kwargs)


def build_api_market(sources: Path) -> pd.DataFrame:
    """OpenRouter daily tokens by model + weighted-average prices → model × day."""
    return openrouter.curate_api_market(
        _openrouter(sources, "history_database.csv"),
        _openrouter(sources, "openrouter_pricing_provider_records_deec791.csv"),
    )


def build_api_provider_prices(sources: Path) -> pd.DataFrame:
    """OpenRouter provider price records → model × provider × day."""
    return openrouter.curate_provider_prices(
        _openrouter(sources, "openrouter_pricing_provider_records_deec791.csv")
    )


def _openrouter_scores(sources: Path) -> tuple[pd.DataFrame, pd.Series, pd.Series, pd.DataFrame]:
    history = _openrouter(sources, "history_database.csv")
    aa = openrouter.aa_scores(_openrouter(sources, "openrouter_benchmark_records.csv"))
    arena = openrouter.lmarena_scores(
        _openrouter(sources, "lmarena_leaderboard_records.csv", encoding="utf-8-sig")
    )
    cap = validate(build_capability(sources), DATASETS["capability"].schema, source="capability")
    return history, aa, arena, cap


def build_openrouter_crosswalk(sources: Path) -> pd.DataFrame:
    """OpenRouter slugs → Artificial Analysis, Epoch ECI and LMArena names (or unmatched)."""
    history, aa, arena, cap = _openrouter_scores(sources)
    return openrouter.curate_crosswalk(sorted(set(history["Model"])), aa, cap, arena)


def build_api_models(sources: Path) -> pd.DataFrame:
    """One row per OpenRouter slug: open weights, dates, context, parameters, quality."""
    history, aa, arena, cap = _openrouter_scores(sources)
    xw = openrouter.curate_crosswalk(sorted(set(history["Model"])), aa, cap, arena)
    d = sources / "openrouter-market"
    lists = [_json(d / "openrouter_2025-10-02.json"), _json(d / "openrouter_2025-12-06.json")]
    epoch = validate(build_models(sources), DATASETS["models"].schema, source="models")
    return openrouter.curate_api_models(history, lists, xw, aa, cap, arena, epoch)


def build_openrouter_list_prices(sources: Path) -> pd.DataFrame:
    """14 archived snapshots of OpenRouter's list prices (2025-10-02 … 12-06) → $/Mtok."""
    return openrouter.curate_list_prices(
        _json(sources / "openrouter-market" / "historical_pricing.json")  # type: ignore[arg-type]
    )


def build_demirer2025_figures(sources: Path) -> pd.DataFrame:
    """Demirer et al. (2025) Figs. 5, 11, 15 as digitised → long form."""
    return openrouter.curate_figures(
        {
            (11, "percentiles"): _openrouter(
                sources, "figure11_price_to_intelligence_ratio_percentiles.csv"
            ),
            (15, "percentiles"): _openrouter(sources, "figure15_token_weighted_percentiles.csv"),
            (5, "median"): _openrouter(sources, "figure5_red_median_timeseries.csv"),
            (5, "p90_frontier"): _openrouter(sources, "figure5_p90_frontier_timeseries.csv"),
        }
    )


def build_serving_throughput(sources: Path) -> pd.DataFrame:
    """TensorRT-LLM's published throughput tables, transcribed in :mod:`data.serving` (the
    documents are not among the raw sources, so ``sources`` is not read)."""
    return serving.curate()


BUILDERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "chinchilla": build_chinchilla,
    "api_prices": build_api_prices,
    "api_price_history": build_api_price_history,
    "models": build_models,
    "training_costs": build_training_costs,
    "capability": build_capability,
    "eval_tokens": build_eval_tokens,
    "hardware": build_hardware,
    "hardware_prices": build_hardware_prices,
    "ppi": build_ppi,
    "request_traces": build_request_traces,
    "model_crosswalk": build_model_crosswalk,
    "benchmark_runs": build_benchmark_runs,
    "api_market": build_api_market,
    "api_provider_prices": build_api_provider_prices,
    "api_models": build_api_models,
    "openrouter_crosswalk": build_openrouter_crosswalk,
    "openrouter_list_prices": build_openrouter_list_prices,
    "demirer2025_figures": build_demirer2025_figures,
    "serving_throughput": build_serving_throughput,
}


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` with ISO dates, True/False, shortest round-trip floats, LF line endings."""
    out = df.copy()
    for name in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[name].dtype):
            out[name] = out[name].dt.strftime("%Y-%m-%d")
    out.to_csv(path, index=False, lineterminator="\n")


def build(sources: Path, out: Path, names: list[str] | None = None) -> dict[str, int]:
    """Build the named datasets (all by default) into ``out``; returns rows written per dataset."""
    written: dict[str, int] = {}
    for name in names or list(BUILDERS):
        if name not in BUILDERS:
            raise DataValidationError(f"unknown dataset {name!r}; known: {', '.join(BUILDERS)}")
        df = BUILDERS[name](sources)
        df = validate(df, DATASETS[name].schema, source=name, allow_extra=False)
        write_csv(df, out / f"{name}.csv")
        written[name] = len(df)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m data.build", description="Regenerate the curated CSVs from raw sources."
    )
    parser.add_argument("--sources", type=Path, default=Path("../shared/sources"))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    parser.add_argument("names", nargs="*", help="datasets to build (default: all)")
    args = parser.parse_args(argv)
    if not args.sources.is_dir():
        print(f"data.build: error: sources folder {args.sources} not found", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in build(args.sources, args.out, args.names or None).items():
        print(f"{name}: {rows} rows -> {args.out / (name + '.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
