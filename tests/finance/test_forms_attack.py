"""Hostile text in the weights field of the finance forms (attack regressions, session
G): a long run of spaces, a number too large for a float, a symbol named twice."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

from ui.forms import parse_weights

ROOT = Path(__file__).resolve().parents[2]


def test_a_long_run_of_spaces_is_parsed_in_linear_work():
    """20,000 spaces cost 6 s of CPU in the old pattern (polynomial backtracking); this
    input would take minutes. Run with a CPU limit of 20 s, a margin of 1000x over what
    the linear pattern needs: a bound on work, not a timing measurement."""
    script = (
        "from ui.forms import parse_weights\n"
        "text = 'AAPL' + ' ' * 200_000 + 'x'\n"
        "assert parse_weights(text) == text\n"
        "assert parse_weights('AAPL' + ' ' * 200_000 + '40%') == {'AAPL': 0.4}\n"
        "assert parse_weights('AAPL 1' + ' ' * 200_000 + 'x, MSFT 1') is not None\n"
    )

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (20, 20))

    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        preexec_fn=limit,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_weight_too_large_for_a_float_is_not_read_as_infinity():
    text = "AAPL:" + "1" * 400
    assert parse_weights(text) == text


def test_a_symbol_named_twice_is_not_silently_its_last_weight():
    text = "AAPL 50%, MSFT 50%, AAPL 50%"
    assert parse_weights(text) == text
    assert parse_weights("AAPL 40%,  MSFT   60% ") == {"AAPL": 0.4, "MSFT": 0.6}
