"""Fine-tuning as effective data transferred (Hernandez et al. 2021, "Scaling Laws for Transfer",
arXiv:2102.01293, eq. 1.1 and Fig. 1).

A pretrained model fine-tuned on D_F tokens performs like a model of the same size trained from
scratch on D_F + D_T tokens, where in the low-data regime

    D_T = k · D_F^{α_T} · N^{β_T}.

Published fits (in characters, for Python as the target): text → Python k = 1.9e4, α_T = 0.18,
β_T = 0.38; text+code → Python k = 2.1e5, α_T = 0.096, β_T = 0.38. The functional form is confirmed
by secondary accounts of the paper; the constants are as transcribed in the project design and
could not be re-checked against the paper itself here, so a scenario using them should say so.

In the pipeline the fine-tuning tokens and the transfer count as extra effective data in the loss,
weighted by ``ft_weight`` (how relevant the fine-tuning distribution is to the task: a scenario
assumption, default 1):  L = E + A/N^α + B/(D' + w (D_F + D_T))^β.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from structural import published

__all__ = ["effective_data_transferred", "effective_data_transferred_tokens",
           "fraction_effective_data_from_transfer"]

Array = Any

#: Hernandez et al. (2021) transfer fits (units: characters), see :mod:`structural.published`.
HERNANDEZ_2021 = published.HERNANDEZ_2021


def effective_data_transferred(D_F: Array, N: Array, k: Array, alpha_T: Array,
                               beta_T: Array) -> Array:
    """D_T = k D_F^{α_T} N^{β_T} (Hernandez et al. 2021, eq. 1.1).

    Examples
    --------
    Characters of Python that 1e6 characters of fine-tuning are worth to a 1e8-parameter model
    pretrained on text (Hernandez et al. 2021):

    >>> from structural.finetuning import effective_data_transferred
    >>> from structural.published import HERNANDEZ_2021
    >>> c = HERNANDEZ_2021["text->python"]
    >>> f"{float(effective_data_transferred(1e6, 1e8, c['ft_k'], c['ft_alpha'], c['ft_beta'])):.3g}"
    '2.5e+08'
    """
    D_F = jnp.asarray(D_F, jnp.float64)
    # D_F^α_T is 0 at D_F = 0, but its derivative is infinite there: take the power only where
    # D_F > 0 so that derivatives at "no fine-tuning" are finite (zero), never NaN.
    positive = D_F > 0
    safe = jnp.where(positive, D_F, 1.0)
    power = jnp.where(positive, jnp.exp(alpha_T * jnp.log(safe)), 0.0)
    return k * power * jnp.asarray(N, jnp.float64) ** beta_T


def fraction_effective_data_from_transfer(D_F: Array, N: Array, k: Array, alpha_T: Array,
                                          beta_T: Array) -> Array:
    """f_T = D_T / (D_F + D_T): the share of the fine-tuned model's effective data owed to
    pretraining (Hernandez et al. 2021, §2).

    Examples
    --------
    >>> from structural.finetuning import fraction_effective_data_from_transfer
    >>> from structural.published import HERNANDEZ_2021
    >>> c = HERNANDEZ_2021["text->python"]
    >>> f = fraction_effective_data_from_transfer(1e6, 1e8, c["ft_k"], c["ft_alpha"], c["ft_beta"])
    >>> round(float(f), 3)
    0.996
    """
    D_T = effective_data_transferred(D_F, N, k, alpha_T, beta_T)
    return D_T / (D_F + D_T)


def effective_data_transferred_tokens(D_F: Array, N: Array, k: Array, alpha_T: Array,
                                      beta_T: Array, chars_per_token: Array) -> Array:
    """D_T in tokens for D_F fine-tuning tokens, with the transfer law fitted in characters
    (Hernandez et al. 2021 measure data in characters): D_T = k (χ D_F)^{α_T} N^{β_T} / χ,
    χ characters per token. Feeding tokens straight into the character law would overstate D_T
    by about χ^{1−α_T} (≈ 3× at χ = 4, α_T = 0.18).

    Examples
    --------
    >>> from structural.finetuning import effective_data_transferred_tokens
    >>> from structural.published import HERNANDEZ_2021
    >>> c = HERNANDEZ_2021["text->python"]
    >>> D_T = effective_data_transferred_tokens(1e6, 1e8, c["ft_k"], c["ft_alpha"], c["ft_beta"],
    ...                                         chars_per_token=4.0)
    >>> f"{float(D_T):.3g}"
    '8.04e+07'
    """
    chi = chars_per_token
    return effective_data_transferred(chi * jnp.asarray(D_F, jnp.float64), N, k, alpha_T,
                                      beta_T) / chi
