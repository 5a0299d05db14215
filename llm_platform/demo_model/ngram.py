"""Interpolated Kneser-Ney character n-gram estimation, as flat numpy tables.

The model of order ``N`` predicts a character from the ``N - 1`` characters before it:

    P(w | h) = max(c(h, w) - D_k, 0) / c(h) + D_k * T(h) / c(h) * P(w | h')

where ``h'`` drops the oldest character of ``h``, ``k = len(h)``, ``T(h)`` is the number of
distinct characters seen after ``h`` and ``D_k`` is the absolute discount of that context
length. The longest contexts use raw counts; shorter ones use continuation counts (how many
distinct characters precede ``h w``), and the recursion ends in a continuation unigram that is
interpolated with the uniform distribution, so every character keeps a non-zero probability.

Tables (``k`` = context length, ``1 <= k < N``; a context ``c_1 .. c_k`` with ``c_k`` the
most recent character has the key ``sum(c_i * V ** (k - i))``):

- ``unigram.prob``     float32 [V]      the interpolated unigram distribution
- ``order{k}.context`` int64   [C_k]    sorted context keys
- ``order{k}.offset``  int32   [C_k+1]  entries of context ``j`` are ``offset[j]:offset[j+1]``
- ``order{k}.next``    uint8   [E_k]    next character id of each entry
- ``order{k}.prob``    float32 [E_k]    discounted mass ``max(c - D_k, 0) / c(h)``
- ``order{k}.backoff`` float32 [C_k]    interpolation weight ``D_k * T(h) / c(h)``

Only integer counting and element-wise IEEE arithmetic are used, so the tables are
bit-identical on every machine.
"""

from __future__ import annotations

import numpy as np

MAX_ORDER = 8
MAX_VOCAB = 256
_MIN_DISCOUNT = 0.05
_MAX_DISCOUNT = 0.95
_DTYPES = {
    "context": np.int64,
    "offset": np.int32,
    "next": np.uint8,
    "prob": np.float32,
    "backoff": np.float32,
}


def tensor_names(order: int) -> list[str]:
    """Names of the tensors a model of ``order`` consists of."""
    names = ["unigram.prob"]
    for k in range(1, order):
        names += [f"order{k}.{part}" for part in ("context", "offset", "next", "prob", "backoff")]
    return names


def check_tensors(tensors: dict[str, np.ndarray], order: int, vocab_size: int) -> None:
    """Check names, dtypes, shapes and internal consistency of a model's tensors.

    Raises:
        ValueError: Describing the first problem found (tensor name and what is wrong).
    """
    expected = tensor_names(order)
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise ValueError(
            f"tensor names do not match order {order}: missing {missing}, unexpected {extra}"
        )
    uni = tensors["unigram.prob"]
    if uni.dtype != np.float32 or uni.shape != (vocab_size,):
        raise ValueError(
            f"'unigram.prob' must be float32 [{vocab_size}], got {uni.dtype} {list(uni.shape)}"
        )
    if not np.all(np.isfinite(uni)) or np.any(uni <= 0):
        raise ValueError("'unigram.prob' must be finite and positive")
    for k in range(1, order):
        t = {part: tensors[f"order{k}.{part}"] for part in _DTYPES}
        for part, dtype in _DTYPES.items():
            if t[part].dtype != dtype or t[part].ndim != 1:
                raise ValueError(
                    f"'order{k}.{part}' must be a 1-d {np.dtype(dtype).name} "
                    f"tensor, got {t[part].dtype} {list(t[part].shape)}"
                )
        n_ctx, n_ent = t["context"].shape[0], t["next"].shape[0]
        if t["offset"].shape[0] != n_ctx + 1 or t["backoff"].shape[0] != n_ctx:
            raise ValueError(f"'order{k}': offset/backoff lengths do not match {n_ctx} contexts")
        if t["prob"].shape[0] != n_ent:
            raise ValueError(f"'order{k}': prob and next lengths differ")
        off = t["offset"]
        if n_ctx and (off[0] != 0 or off[-1] != n_ent or np.any(np.diff(off) <= 0)):
            raise ValueError(f"'order{k}.offset' is not a strictly increasing 0..{n_ent} index")
        if np.any(np.diff(t["context"]) <= 0):
            raise ValueError(f"'order{k}.context' keys are not strictly increasing")
        if n_ent and int(t["next"].max()) >= vocab_size:
            raise ValueError(f"'order{k}.next' holds ids outside the vocabulary")
        for part in ("prob", "backoff"):
            values = t[part]
            if not np.all(np.isfinite(values)) or np.any(values < 0) or np.any(values > 1):
                raise ValueError(f"'order{k}.{part}' values must lie in [0, 1]")


def _discount(counts: np.ndarray) -> float:
    """Absolute discount ``n1 / (n1 + 2 n2)`` from the count-of-counts, clamped."""
    n1 = int(np.count_nonzero(counts == 1))
    n2 = int(np.count_nonzero(counts == 2))
    if n1 + 2 * n2 == 0:
        return _MIN_DISCOUNT
    return min(max(n1 / (n1 + 2 * n2), _MIN_DISCOUNT), _MAX_DISCOUNT)


def _gram_keys(ids: np.ndarray, vocab_size: int, order: int) -> list[np.ndarray]:
    """Sorted distinct keys of every ``k + 1``-gram (context of length ``k`` + next char).

    Returns one array per context length ``k = 0 .. order - 1``; a key is the context key
    times ``V`` plus the next character id.
    """
    n = ids.shape[0]
    ctx = np.zeros(n, dtype=np.int64)
    keys = [np.unique(ids)]
    for k in range(1, order):
        ctx[k:] += ids[: n - k] * (vocab_size ** (k - 1))
        keys.append(np.unique(ctx[k:] * vocab_size + ids[k:]))
    return keys


def _table(
    keys: np.ndarray, counts: np.ndarray, vocab_size: int, discount: float
) -> dict[str, np.ndarray]:
    """Discounted entries and back-off weights of one context length from (key, count)."""
    contexts, first, types = np.unique(keys // vocab_size, return_index=True, return_counts=True)
    totals = np.add.reduceat(counts, first)
    offset = np.append(first, counts.shape[0]).astype(np.int32)
    per_entry_total = np.repeat(totals, types)
    prob = np.maximum(counts - discount, 0.0) / per_entry_total
    backoff = discount * types / totals
    return {
        "context": contexts.astype(np.int64),
        "offset": offset,
        "next": (keys % vocab_size).astype(np.uint8),
        "prob": prob.astype(np.float32),
        "backoff": backoff.astype(np.float32),
    }


def fit(ids: np.ndarray, vocab_size: int, order: int) -> tuple[dict[str, np.ndarray], list[float]]:
    """Estimate an interpolated Kneser-Ney model from a token id sequence.

    Args:
        ids: The training text as token ids (any integer dtype), at least ``order`` long.
        vocab_size: Size of the vocabulary; every id must be below it.
        order: N-gram order (context length + 1), 2 to ``MAX_ORDER``.

    Returns:
        The tensors (see the module docstring) and the discount of each context length
        ``0 .. order - 1``.

    Raises:
        ValueError: On an order, vocabulary or input outside the supported range.
    """
    if not 2 <= order <= MAX_ORDER:
        raise ValueError(f"order must be between 2 and {MAX_ORDER}, got {order}")
    if not 1 <= vocab_size <= MAX_VOCAB:
        raise ValueError(f"vocab_size must be between 1 and {MAX_VOCAB}, got {vocab_size}")
    if vocab_size**order >= 2**62:
        raise ValueError("vocab_size ** order must stay below 2**62 for int64 context keys")
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 1 or ids.shape[0] < order:
        raise ValueError(f"need a 1-d id sequence of at least {order} tokens")
    if int(ids.min()) < 0 or int(ids.max()) >= vocab_size:
        raise ValueError("token ids must lie in [0, vocab_size)")

    distinct = _gram_keys(ids, vocab_size, order)
    # Raw counts for the longest context length.
    top_keys, top_counts = np.unique(_all_keys(ids, vocab_size, order - 1), return_counts=True)
    tensors: dict[str, np.ndarray] = {}
    discounts = [0.0] * order
    for k in range(order - 1, -1, -1):
        if k == order - 1:
            keys, counts = top_keys, top_counts
        else:
            # Continuation count: distinct characters seen before (h, w).
            keys, counts = np.unique(distinct[k + 1] % (vocab_size ** (k + 1)), return_counts=True)
        discounts[k] = _discount(counts)
        if k == 0:
            unigram = np.zeros(vocab_size, dtype=np.float64)
            unigram[keys] = np.maximum(counts - discounts[0], 0.0)
            total = int(counts.sum())
            floor = discounts[0] * keys.shape[0] / total / vocab_size
            tensors["unigram.prob"] = (unigram / total + floor).astype(np.float32)
        else:
            for part, array in _table(keys, counts, vocab_size, discounts[k]).items():
                tensors[f"order{k}.{part}"] = array
    return {name: tensors[name] for name in tensor_names(order)}, discounts


def _all_keys(ids: np.ndarray, vocab_size: int, k: int) -> np.ndarray:
    """Key of every (context of length ``k``, next char) occurrence, in text order."""
    n = ids.shape[0]
    ctx = np.zeros(n - k, dtype=np.int64)
    for j in range(1, k + 1):
        ctx += ids[k - j : n - j] * (vocab_size ** (j - 1))
    return ctx * vocab_size + ids[k:]
