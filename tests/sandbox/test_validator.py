"""The first layer: every hostile input is refused by the rule meant for it, and the code
analysts actually write (and the templates generate) passes."""

from __future__ import annotations

import pytest

from engine.sandbox import templates, validator
from engine.sandbox.validator import inspect_source, validate
from tests.sandbox.corpus import CORPUS
from tests.sandbox.test_positive import ANALYST_FUNCTIONS


def test_corpus_is_large_and_varied():
    assert len(CORPUS) >= 60
    categories = {case.category for case in CORPUS}
    assert {
        "introspection",
        "format",
        "builtins",
        "imports",
        "files",
        "network",
        "process",
        "secrets",
        "resources",
        "serialisation",
    } <= categories


@pytest.mark.parametrize("case", CORPUS, ids=lambda case: case.id)
def test_corpus_rejected_with_its_rule(case):
    violation = validate(case.render("/tmp/owned/marker", "/tmp/secret.txt", 9))
    assert violation is not None, f"{case.id} passed validation"
    assert violation.rule == case.rule, violation
    assert violation.message
    assert violation.line >= (0 if case.category == "parser" else 1)
    assert violation.to_json() == {
        "ok": False,
        "rule": violation.rule,
        "line": violation.line,
        "error": violation.message,
    }


@pytest.mark.parametrize("name", sorted(ANALYST_FUNCTIONS))
def test_analyst_functions_pass(name):
    assert validate(ANALYST_FUNCTIONS[name][0]) is None


TEMPLATE_OPTIONS = [
    ("rolling_stat", {}),
    ("rolling_stat", {"stat": "quantile", "q": 0.9, "on": "log_returns"}),
    ("formula", {"formula": "(AAPL - mean(AAPL, 20)) / std(AAPL, 20)"}),
    ("formula", {"formula": "ema(price, 12) - ema(price, 26) + abs(log(price))"}),
    ("formula", {"formula": "log(col('KO') / PEP) ** 2 - sqrt(zscore(KO, 5) ** 2)"}),
    ("pair", {"symbol_a": "KO", "symbol_b": "PEP", "mode": "spread", "zscore_window": 30}),
    ("ensemble", {}),
    ("ensemble", {"signals": [{"signal": "rsi", "weight": 1}, {"signal": "momentum"}]}),
    *[("risk", {"measure": m}) for m in ("volatility", "var", "cvar", "max_drawdown")],
    ("risk", {"measure": "downside_deviation", "annualize": False}),
    ("risk", {"measure": "drawdown"}),
]


@pytest.mark.parametrize("template,options", TEMPLATE_OPTIONS)
def test_templates_generate_valid_source(template, options):
    generated = templates.render(template, options)
    assert validate(generated.source) is None, generated.source


def test_rules_point_at_the_line():
    source = "import numpy as np\n\n\ndef run(data):\n    x = 1\n    return data.to_csv('x')\n"
    violation = validate(source)
    assert (violation.rule, violation.line) == ("forbidden_attribute", 6)


@pytest.mark.parametrize(
    "source,rule",
    [
        ("import numpy as np\ndef run(data):\n    return np.char.upper", "module_attribute"),
        ("import scipy\ndef run(data):\n    return scipy.ndimage.sum", "module_attribute"),
        ("import numpy as np\ndef run(data):\n    return np.no_such_function", "module_attribute"),
        ("import numpy as np\ndef run(data):\n    np.mean = 1\n    return 1", "module_alias"),
        ("import numpy as np\ndef run(data, np=1):\n    return 1", "module_alias"),
        ("import numpy as np\ndef run(data):\n    return [np]", "module_alias"),
        ("def run(data):\n    return data.agg(data.columns.name)", "string_dispatch"),
        ("def run(data):\n    t = type\n    return 1", "type_three_args"),
        ("x = len([1])\ndef run(data):\n    return x", "top_level_code"),
        ("def run(data):\n    return 1\ndef run(data):\n    return 2", "contract"),
        ("def compute(data):\n    return 1", "contract"),
        ("def run(data, window=len('ab')):\n    return 1", "contract"),
        ("def run(data, symbols=1):\n    return 1", "contract"),
        ("def run(*args):\n    return 1", "contract"),
        ("def run(data):\n    return 1 +", "syntax"),
        ("def run(data):\n    return 1\x00", "syntax"),
        ("def run(data):\n    return 12345678901234567890123456789012345", "literal_too_large"),
        ("def run(data):\n    return [" + "1," * 2500 + "]", "literal_too_large"),
        ("def run(data):\n" + "    x = 1\n" * 2000 + "    return x", "too_many_nodes"),
        ("def run(data):\n    return 1" + " + 1" * 5000, "too_deep"),
        ("def run(data):\n    return pow(2, 10**8)", "huge_number"),
        ("def run(data):\n    return 'ab' * 10**8", "huge_number"),
        (
            "import numpy as np\ndef run(data):\n    return np.zeros((10**5, 10**5))",
            "huge_allocation",
        ),
        ("def run(data):\n    while 1:\n        x = 1", "infinite_loop"),
        (
            "def f(x):\n    return g(x)\ndef g(x):\n    return f(x)\ndef run(data):\n    return 1",
            "recursion",
        ),
        ("def run(data, _hidden=1):\n    return 1", "underscore_name"),
        ("def run(data):\n    return data.rolling(3).agg(mean=('x', 'mean'))", None),
    ],
)
def test_specific_rules(source, rule):
    violation = validate(source)
    assert (violation.rule if violation else None) == rule, violation


def test_parameters_are_declared_from_the_signature():
    report = inspect_source(
        "def run(data, window: int = 20, level=0.95, label='x', flag=False, weights=(1, 2),"
        " *, scale: float = 1, required: int):\n    return 1\n"
    )
    schema = report.parameter_schema()
    assert schema["properties"] == {
        "window": {"type": "integer", "default": 20},
        "level": {"type": "number", "default": 0.95},
        "label": {"type": "string", "default": "x"},
        "flag": {"type": "boolean", "default": False},
        "weights": {"type": "array", "items": {"type": "number"}, "default": [1, 2]},
        "scale": {"type": "number", "default": 1},
        "required": {"type": "integer"},
    }
    assert schema["required"] == ["required"]


def test_allowed_modules_are_importable_and_pure():
    risky = {"os", "sys", "io", "subprocess", "socket", "pickle", "importlib", "ctypes"}
    assert not risky & set(validator.ALLOWED_MODULES)
    import importlib

    for path in validator.ALLOWED_MODULES:
        root, *rest = path.split(".")
        value = importlib.import_module(root)
        for name in rest:  # pandas.offsets is an attribute path, not an importable module
            value = getattr(value, name, None) or importlib.import_module(
                f"{value.__name__}.{name}"
            )
        assert value is not None
