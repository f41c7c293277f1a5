"""Check every number of a reply against the numbers the turn's tools returned.

No second model and no guessing: a number in the reply is *verified* when some number
of a tool result of the same turn (or of its call's parameters) rounds to it, allowing
for the forms people write numbers in — rounding to the digits shown, percentages and
basis points for decimals (6.49 % for 0.0649, 12 bps for 0.0012), thousands separators
(1,234.5 for 1234.49), k / M / bn suffixes, and the sign (a loss of 5 % for -0.05).
A number the user wrote in the request, or one the platform itself states (the system
prompt, mlTrainer's own notices), is not a claim of the reply. Dates, years, times,
ranges (2010-2015), list numbering and digits inside names (R7, Q3, log_vol_next5,
S&P 500) are not numbers a reply claims, and code spans are skipped. Whatever is left and matches
nothing is *unverified*: the page marks it and a metric counts it.

Matching is a binary search over the sorted reference values, so a 2,000-character
reply costs well under a millisecond per hundred numbers (``bench/bench_chat_verify.py``).
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

VERIFIED, FROM_REQUEST, UNVERIFIED = "verified", "request", "unverified"

_NUMBER = re.compile(
    r"(?<![\w.,/:\-])"  # not inside a word, a date, a time or another number
    r"(?P<sign>[-+\u2212])?"
    r"(?P<currency>[$\u20ac\u00a3])?"
    r"(?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?P<exponent>[eE][-+]?\d+)?"
    r"(?P<unit>\s?(?:%|percent\b|per cent\b|bps\b|bp\b|basis points?\b|"
    r"x\b|\u00d7|k\b|K\b|thousand\b|M\b|mn\b|million\b|bn\b|B\b|billion\b))?"
    # nor followed by letters (5d, 3rd), more digits, or a date's, time's or range's rest
    r"(?![\w]|\.\d|,\d{3}|[-/:]\d)",
)
_UNIT_SCALE = {
    "%": 0.01,
    "percent": 0.01,
    "per cent": 0.01,
    "bps": 1e-4,
    "bp": 1e-4,
    "basis point": 1e-4,
    "basis points": 1e-4,
    "k": 1e3,
    "K": 1e3,
    "thousand": 1e3,
    "M": 1e6,
    "mn": 1e6,
    "million": 1e6,
    "bn": 1e9,
    "B": 1e9,
    "billion": 1e9,
}
# What else is not a claim, judged around each number (one scan of the text finds the
# numbers; dates, times and ranges are already left out by the number pattern).
_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.DOTALL)
_MONTHS = (
    "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april|"
    "june|july|august|september|october|november|december"
)
_MONTH_BEFORE = re.compile(rf"\b(?:{_MONTHS})\.?\s+$", re.IGNORECASE)
_MONTH_AFTER = re.compile(rf"(?:st|nd|rd|th)?\s+(?:{_MONTHS})\b", re.IGNORECASE)
_LIST_MARK = re.compile(r"[.)]\s")
_NAME_BEFORE = re.compile(r"S&P\s?$")
CITATION = re.compile(r"\[(R\d+)\]")
_RELATIVE_SLACK = 1e-9


@dataclass(frozen=True)
class Claim:
    """A number of the reply: where it is, what it says, and what backs it."""

    start: int
    end: int
    text: str
    status: str  # verified | request | unverified
    source: str | None = None  # the result id (R7) that holds it, when verified

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "status": self.status,
        }
        if self.source:
            out["source"] = self.source
        return out


@dataclass
class Verification:
    claims: list[Claim] = field(default_factory=list)

    @property
    def unverified(self) -> int:
        return sum(c.status == UNVERIFIED for c in self.claims)

    @property
    def verified(self) -> int:
        return sum(c.status == VERIFIED for c in self.claims)

    def to_json(self) -> dict[str, Any]:
        return {
            "verified": self.verified,
            "unverified": self.unverified,
            "claims": [c.to_json() for c in self.claims],
        }

    @classmethod
    def from_json(cls, payload: Mapping[str, Any] | None) -> Verification:
        claims = [
            Claim(int(c["start"]), int(c["end"]), str(c["text"]), str(c["status"]), c.get("source"))
            for c in (payload or {}).get("claims", [])
        ]
        return cls(claims)


@dataclass(frozen=True)
class _Number:
    start: int
    end: int
    value: float  # absolute value as written (before the unit's scale)
    scale: float  # what the unit multiplies by (0.01 for %)
    ulp: float  # one unit of the last digit written
    unit: str


def _not_a_claim(text: str, start: int, end: int) -> bool:
    """List numbering, a day of a month, or part of a name such as S&P 500."""
    line_start = text.rfind("\n", 0, start) + 1
    if not text[line_start:start].strip(" \t#>") and _LIST_MARK.match(text, end):
        return True
    before = text[max(0, start - 12) : start]
    if _NAME_BEFORE.search(before) or _MONTH_BEFORE.search(before):
        return True
    return _MONTH_AFTER.match(text, end, end + 14) is not None


def _numbers(text: str, *, skip_non_claims: bool) -> Iterable[_Number]:
    code: list[tuple[int, int]] = []
    if skip_non_claims and "`" in text:
        code = [m.span() for m in _CODE.finditer(text)]
    starts = [s for s, _ in code]
    for match in _NUMBER.finditer(text):
        if code:
            where = bisect.bisect_right(starts, match.start()) - 1
            if where >= 0 and match.start() < code[where][1]:
                continue
        digits = match.group("digits").replace(",", "")
        exponent = match.group("exponent") or ""
        try:
            value = abs(float(digits + exponent))
        except ValueError:
            continue
        unit = (match.group("unit") or "").strip()
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        if skip_non_claims:
            if not unit and not decimals and "," not in match.group("digits"):
                if 1800 <= value <= 2100:
                    continue  # a year
            if _not_a_claim(text, match.start(), match.end()):
                continue
        ulp = 10.0 ** (-decimals)
        if exponent:
            ulp *= 10.0 ** int(exponent[1:])
        yield _Number(match.start(), match.end(), value, _UNIT_SCALE.get(unit, 1.0), ulp, unit)


def _readings(number: _Number) -> list[tuple[float, float, float]]:
    """(low, high, exact) intervals of reference values the written number stands for:
    rounded (half a unit of the last digit either way) or truncated (up to one unit
    away from zero), in its unit's scale and, for %, bps and plain decimals, the
    neighbouring scales a result may be stored in (a plain fraction may stand for a
    result in percent)."""
    scales = [number.scale]
    if number.unit in ("%", "percent", "per cent"):
        scales.append(1.0)  # a result already in percent
    elif number.unit in ("bps", "bp", "basis point", "basis points"):
        scales += [1.0, 0.01]
    elif not number.unit and number.value < 1 and number.ulp < 1:
        scales.append(100.0)  # 0.0649 written for a result of 6.49 (percent)
    out = []
    for scale in scales:
        centre = number.value * scale
        half = 0.5 * number.ulp * scale
        slack = abs(centre) * _RELATIVE_SLACK + 1e-12
        out.append((centre - half - slack, centre + 2 * half + slack, centre))
    return out


class References:
    """The numbers a reply may quote, each with where it came from (a result id)."""

    def __init__(self) -> None:
        self._values: list[float] = []
        self._sources: list[str | None] = []
        self._sorted = True

    def add(self, value: float, source: str | None) -> None:
        if math.isfinite(value):
            self._values.append(abs(value))
            self._sources.append(source)
            self._sorted = False

    def add_text(self, text: str, source: str | None) -> None:
        for number in _numbers(text, skip_non_claims=False):
            self.add(number.value * number.scale, source)
            if number.scale != 1.0:
                self.add(number.value, source)

    def add_payload(self, payload: Any, source: str | None) -> None:
        """Every number of a JSON-like payload (a tool result or a call's parameters),
        also those written in its strings (summaries, labels)."""
        stack = [payload]
        texts: list[str] = []
        while stack:
            node = stack.pop()
            if isinstance(node, bool) or node is None:
                continue
            if isinstance(node, int | float):
                self.add(float(node), source)
            elif isinstance(node, str):
                texts.append(node)
            elif isinstance(node, Mapping):
                stack.extend(node.values())
            elif isinstance(node, list | tuple):
                stack.extend(node)
        if texts:
            self.add_text(" \n".join(texts), source)

    def _prepare(self) -> None:
        if not self._sorted:
            order = sorted(range(len(self._values)), key=self._values.__getitem__)
            self._values = [self._values[i] for i in order]
            self._sources = [self._sources[i] for i in order]
            self._sorted = True

    def find(self, number: _Number, prefer: set[str]) -> tuple[bool, str | None]:
        """Whether a reference backs the number, and which result (a cited one first)."""
        self._prepare()
        found: list[str | None] = []
        for low, high, _ in _readings(number):
            left = bisect.bisect_left(self._values, low)
            right = bisect.bisect_right(self._values, high)
            found.extend(self._sources[left:right])
        if not found:
            return False, None
        for source in found:
            if source in prefer:
                return True, source
        return True, next((s for s in found if s), None)


@lru_cache(maxsize=1)
def _platform_numbers() -> References:
    """Numbers the platform states to the model itself (the system prompt)."""
    from engine.llm.prompts import SYSTEM_PROMPT

    refs = References()
    refs.add_text(SYSTEM_PROMPT, None)
    return refs


def verify(
    reply: str,
    results: References,
    *,
    request: str = "",
    platform_text: str = "",
) -> Verification:
    """The verdict on each number of ``reply`` (offsets into ``reply``)."""
    asked = References()
    asked.add_text(request, None)
    if platform_text:
        asked.add_text(platform_text, None)
    platform = _platform_numbers()
    cited = set(CITATION.findall(reply))
    claims = []
    for number in _numbers(reply, skip_non_claims=True):
        text = reply[number.start : number.end]
        backed, source = results.find(number, cited)
        if backed:
            claims.append(Claim(number.start, number.end, text, VERIFIED, source))
        elif asked.find(number, set())[0] or platform.find(number, set())[0]:
            claims.append(Claim(number.start, number.end, text, FROM_REQUEST))
        else:
            claims.append(Claim(number.start, number.end, text, UNVERIFIED))
    return Verification(claims)
