"""Tokens per query from a fitted usage distribution (the request traces shipped in ``data``).

A scenario may say ``[workload] usage = "azure_conv_2023"`` instead of fixing tokens per query.
Input and output tokens are then lognormal, fitted to that trace of ``data.load("request_traces")``
(Azure LLM inference trace 2023, Patel et al. 2024; Mooncake, Qin et al. 2025): the mean is the
trace's mean and the log-sd the standard deviation of log tokens, so that E[x²] = E[x]² e^{σ²}
(the second moment the attention FLOPs need) follows the fitted lognormal.
"""

from __future__ import annotations

import numpy as np

from llmecon.errors import InputError

__all__ = ["UnknownTraceError", "fit_usage"]


class UnknownTraceError(InputError):
    """An unknown trace name (the message lists the known ones).

    Examples
    --------
    >>> from structural.counterfactual.usage import fit_usage
    >>> fit_usage("no_such_trace")
    Traceback (most recent call last):
    ...
    structural.counterfactual.usage.UnknownTraceError: workload.usage: unknown trace ...
    """


def fit_usage(trace: str) -> dict[str, float]:
    """``tokens_in``, ``tokens_in_logsd``, ``tokens_out``, ``tokens_out_logsd`` and ``requests``
    fitted to one trace of the request-traces dataset.

    Examples
    --------
    >>> from structural.counterfactual.usage import fit_usage
    >>> sorted(fit_usage("mooncake_conv"))
    ['requests', 'tokens_in', 'tokens_in_logsd', 'tokens_out', 'tokens_out_logsd']
    """
    import data

    df = data.load("request_traces")
    names = sorted(df["trace"].unique())
    if trace not in names:
        raise UnknownTraceError(
            f"workload.usage: unknown trace {trace!r}; known: {', '.join(names)}")
    g = df[df["trace"] == trace]
    x = g["input_tokens"].to_numpy(dtype=float)
    y = np.maximum(g["output_tokens"].to_numpy(dtype=float), 1.0)  # a 0-token answer has no log
    return {"tokens_in": float(x.mean()), "tokens_in_logsd": float(np.log(x).std()),
            "tokens_out": float(y.mean()), "tokens_out_logsd": float(np.log(y).std()),
            "requests": float(len(g))}
