"""A translation-like task: dates written the ways people write them -> ISO 8601.

The source side is characters of English text ("tuesday, march 17, 2026", "17.03.26",
"2026 mar 17"); the target side is the ISO form "2026-03-17" over a different, 11-token
vocabulary. The output's order differs from the input's (the day comes first in some
formats, last in the ISO form), month names must be translated into numbers, and weekday
names are noise to ignore, so a decoder has to look at the right input positions for every
output character: what cross-attention is for.

Example:
    >>> pairs = make_date_pairs(3, seed=0)
    >>> [len(t) for _, t in pairs]
    [10, 10, 10]
    >>> src, tgt = Vocab.for_dates()
    >>> tgt.decode(tgt.encode("2026-03-17"))
    '2026-03-17'
"""

from __future__ import annotations

import datetime as _dt

import numpy as np

__all__ = ["Vocab", "DATE_FORMATS", "make_date_pairs", "encode_pairs"]

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _fmt(d: _dt.date, k: int) -> str:
    m, mon = _MONTHS[d.month - 1], _MONTHS[d.month - 1][:3]
    wd = _DAYS[d.weekday()]
    return [
        f"{d.day} {m} {d.year}",
        f"{m} {d.day}, {d.year}",
        f"{mon} {d.day} {d.year}",
        f"{d.day:02d}.{d.month:02d}.{d.year}",
        f"{d.day:02d}/{d.month:02d}/{d.year % 100:02d}",
        f"{wd}, {m} {d.day}, {d.year}",
        f"{d.year} {mon} {d.day:02d}",
        f"{wd[:3]} {d.day} {mon} {d.year}",
    ][k]


#: The input formats, shown on 2026-03-17.
DATE_FORMATS = tuple(_fmt(_dt.date(2026, 3, 17), k) for k in range(8))


def make_date_pairs(n: int, first_year: int = 1950, last_year: int = 2049, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (human-written date, ISO date) pairs, dates uniform in the year range, formats uniform.

    Two-digit years ("17/03/26") are read in the 100 years from ``first_year``, so the mapping
    stays a function: keep ``last_year - first_year < 100``.
    """
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    if not 0 <= last_year - first_year < 100:
        raise ValueError(f"the year range must span fewer than 100 years, got {first_year}..{last_year}")
    rng = np.random.default_rng(seed)
    start = _dt.date(first_year, 1, 1).toordinal()
    days = _dt.date(last_year, 12, 31).toordinal() - start + 1
    out = []
    for o, k in zip(rng.integers(0, days, n), rng.integers(0, len(DATE_FORMATS), n)):
        d = _dt.date.fromordinal(start + int(o))
        out.append((_fmt(d, int(k)), d.isoformat()))
    return out


class Vocab:
    """Tokens <-> ids with three reserved ids: ``pad`` 0, ``bos`` 1 (start), ``eos`` 2 (end).

    Args:
        tokens: the ordinary tokens (characters here), in id order after the reserved ones.
    """

    PAD, BOS, EOS = 0, 1, 2
    SPECIALS = ("<pad>", "<bos>", "<eos>")

    def __init__(self, tokens):
        tokens = list(tokens)
        if len(set(tokens)) != len(tokens) or set(tokens) & set(self.SPECIALS):
            raise ValueError("tokens must be unique and must not repeat the special tokens")
        self.itos = [*self.SPECIALS, *tokens]
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        unknown = sorted(set(text) - set(self.stoi))
        if unknown:
            raise ValueError(f"characters {unknown} are not in the vocabulary")
        ids = [self.stoi[c] for c in text]
        return [self.BOS] * bos + ids + [self.EOS] * eos

    def decode(self, ids) -> str:
        """Characters of ``ids`` up to the first ``eos``; ``pad`` and ``bos`` are skipped."""
        out = []
        for i in np.asarray(ids).ravel().tolist():
            if i == self.EOS:
                break
            if i >= len(self.itos) or i < 0:
                raise ValueError(f"id {i} is outside the vocabulary of {len(self.itos)}")
            if i > self.EOS:
                out.append(self.itos[i])
        return "".join(out)

    @classmethod
    def for_dates(cls) -> tuple[Vocab, Vocab]:
        """The source vocabulary (lowercase letters, digits, space , . /) and the target one (digits, -)."""
        return cls("abcdefghijklmnopqrstuvwxyz0123456789 ,./"), cls("0123456789-")


def encode_pairs(pairs, src_vocab: Vocab, tgt_vocab: Vocab) -> tuple[np.ndarray, np.ndarray]:
    """Pad-encode ``(source, target)`` string pairs.

    Returns:
        ``(src, tgt)`` int64: src (n, S) source ids (``eos`` appended), tgt (n, T) target ids
        between ``bos`` and ``eos``; both padded with ``pad`` to their longest row.
    """
    s = [src_vocab.encode(a, eos=True) for a, _ in pairs]
    t = [tgt_vocab.encode(b, bos=True, eos=True) for _, b in pairs]
    S, T = max(map(len, s)), max(map(len, t))
    src = np.full((len(s), S), Vocab.PAD, dtype=np.int64)
    tgt = np.full((len(t), T), Vocab.PAD, dtype=np.int64)
    for i, (a, b) in enumerate(zip(s, t)):
        src[i, :len(a)] = a
        tgt[i, :len(b)] = b
    return src, tgt
