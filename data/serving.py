"""Published serving throughput: NVIDIA TensorRT-LLM's benchmark tables, transcribed.

Each row is one benchmark of a Llama model served with a static batch on tensor-parallel GPUs:
the batch, the tensor-parallel degree, the input and output lengths and the measured output
tokens per second per GPU. The tables are those of TensorRT-LLM's ``docs/source/performance.md``
(Apache-2.0, NVIDIA): release v0.5.0 ("High Throughput", H100 FP8, LLaMA 7B, TP 1) and v0.6.1
("Peak Throughput", A100 FP16 and H100 FP8, Llama 2 7B and 70B, TP 1-4). The architecture
columns (parameters, layers, width, KV heads / heads) are Llama 2's (Touvron et al. 2023,
arXiv:2307.09288, Table 1 and Appendix A.2.1; LLaMA 7B has the shape of Llama 2 7B).

The transcription lives here as a literal table (the documents are not among the raw sources);
:func:`curate` validates it and :mod:`data.build` writes ``serving_throughput.csv``.
"""

from __future__ import annotations

import pandas as pd

from data.schema import Column, Schema, validate

SCHEMA = Schema(
    name="serving_throughput",
    columns=(
        Column("release", "str", description="TensorRT-LLM release whose performance.md has it"),
        Column("table", "str", description="section of performance.md"),
        Column("hardware", "str", description="GPU (structural.hardware preset name)"),
        Column("precision", "str", description="weight precision of the benchmark (fp16, fp8)"),
        Column("kv_precision", "str",
               description="KV-cache precision assumed (not stated in the tables; datasheet)"),
        Column("model", "str", description="model as named in the table"),
        Column("params", "float", "parameters", min=1e8, max=1e13, positive=True,
               description="parameters N (Touvron et al. 2023)"),
        Column("n_layer", "int", "layers", min=1, max=1000, positive=True,
               description="transformer layers"),
        Column("d_model", "int", "elements", min=64, max=1e6, positive=True,
               description="hidden width"),
        Column("kv_fraction", "float", "share", min=0.001, max=1.0, positive=True,
               description="KV heads / attention heads (grouped-query attention)"),
        Column("batch", "int", "sequences", min=1, max=1e5, positive=True,
               description="static batch size"),
        Column("tensor_parallel", "int", "GPUs", min=1, max=64, positive=True,
               description="GPUs per replica (tensor parallelism)"),
        Column("input_len", "int", "tokens", min=1, max=1e7, positive=True,
               description="input (prompt) tokens per sequence"),
        Column("output_len", "int", "tokens", min=1, max=1e7, positive=True,
               description="output tokens per sequence"),
        Column("tokens_per_s_per_gpu", "float", "tokens/s/GPU", min=1.0, max=1e6, positive=True,
               description="measured output tokens per second per GPU"),
    ),
)

_LLAMA = {"7B": (6.7e9, 32, 4096, 1.0), "70B": (69e9, 80, 8192, 0.125)}
_V050 = ("v0.5.0", "High Throughput")
_V061 = ("v0.6.1", "Peak Throughput")

#: (release, table, hardware, precision, model, batch, TP, input, output, tokens/s per GPU).
#: v0.5.0's table gives output tokens/s of one GPU (TP 1); v0.6.1's gives tokens/s per GPU.
ROWS: tuple[tuple, ...] = (
    (*_V050, "H100", "fp8", "7B", 64, 1, 128, 128, 9193.0),
    (*_V050, "H100", "fp8", "7B", 64, 1, 128, 2048, 5367.0),
    (*_V050, "H100", "fp8", "7B", 32, 1, 2048, 2048, 2230.0),
    (*_V061, "A100", "fp16", "7B", 384, 1, 128, 128, 5586.0),
    (*_V061, "A100", "fp16", "7B", 60, 1, 128, 2048, 1928.0),
    (*_V061, "A100", "fp16", "7B", 52, 1, 2048, 128, 591.0),
    (*_V061, "A100", "fp16", "7B", 64, 2, 2048, 2048, 782.0),
    (*_V061, "A100", "fp16", "70B", 1280, 4, 128, 128, 670.0),
    (*_V061, "A100", "fp16", "70B", 240, 4, 128, 2048, 525.0),
    (*_V061, "A100", "fp16", "70B", 120, 4, 2048, 128, 79.0),
    (*_V061, "H100", "fp8", "7B", 768, 1, 128, 128, 19694.0),
    (*_V061, "H100", "fp8", "7B", 112, 1, 128, 2048, 6818.0),
    (*_V061, "H100", "fp8", "7B", 80, 1, 2048, 128, 2244.0),
    (*_V061, "H100", "fp8", "7B", 48, 1, 2048, 2048, 2740.0),
    (*_V061, "H100", "fp8", "70B", 1024, 2, 128, 128, 2657.0),
    (*_V061, "H100", "fp8", "70B", 480, 4, 128, 2048, 1486.0),
    (*_V061, "H100", "fp8", "70B", 96, 2, 2048, 128, 306.0),
    (*_V061, "H100", "fp8", "70B", 64, 2, 2048, 2048, 547.0),
)


def curate() -> pd.DataFrame:
    """The transcribed rows with the model architecture, validated against :data:`SCHEMA`.

    Examples
    --------
    >>> from data.serving import curate
    >>> t = curate()
    >>> len(t), sorted(t["release"].unique())
    (18, ['v0.5.0', 'v0.6.1'])
    """
    rows = []
    for release, table, hw, prec, model, batch, tp, x, y, tps in ROWS:
        n, layers, width, kvf = _LLAMA[model]
        # v0.6.1's FP8 engines quantise the KV cache too; v0.5.0's FP8 kept it in FP16
        kv = "fp8" if (release, prec) == ("v0.6.1", "fp8") else "fp16"
        rows.append({"release": release, "table": table, "hardware": hw, "precision": prec,
                     "kv_precision": kv, "model": model, "params": n, "n_layer": layers,
                     "d_model": width,
                     "kv_fraction": kvf, "batch": batch, "tensor_parallel": tp, "input_len": x,
                     "output_len": y, "tokens_per_s_per_gpu": tps})
    return validate(pd.DataFrame(rows), SCHEMA, source="serving_throughput", allow_extra=False)
