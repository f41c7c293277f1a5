"""Prometheus configuration, alert rules and the Grafana dashboard.

- every metric (and label) used by the rules and the dashboard is one the code exports
  (names collected from engine.observability.metrics' collectors);
- `promtool check config`, `promtool check rules` and the promtool unit tests pass.

promtool comes with Debian's `prometheus` package (apt-get install prometheus). Without
it the promtool tests skip, unless MLTRAINER_REQUIRE_SERVICES=1 (CI), where they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules" / "mltrainer.yml"
RULE_TESTS = PROMETHEUS / "tests" / "mltrainer_test.yml"
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
OPERATIONS = ROOT / "docs" / "operations.md"

# Series Prometheus makes itself, and labels it attaches to every scraped sample
# (job/instance, plus the relabelling in prometheus.yml and prometheus-k8s.yml).
BUILTIN_SERIES = {"up": set()}
TARGET_LABELS = {"job", "instance", "component", "pod", "namespace", "deployment"}

REQUIRED_ALERTS = {
    "MlTrainerAppDown",
    "MlTrainerActionErrorRate",
    "MlTrainerJobFailureRate",
    "MlTrainerQueueBacklog",
    "MlTrainerJobLatencyHigh",
    "MlTrainerLLMErrorRate",
    "MlTrainerDatabaseSlow",
    "MlTrainerLoginFailureBurst",
    "MlTrainerComplianceBlocksSpike",
}


# ----------------------------------------------------------------------- the code's metrics


def exported_series() -> dict[str, set[str]]:
    """Every sample name the code's metrics produce, with the labels each one carries."""
    from prometheus_client.metrics import MetricWrapperBase

    import engine.observability.metrics as metrics

    series: dict[str, set[str]] = {}
    for collector in vars(metrics).values():
        if not isinstance(collector, MetricWrapperBase):
            continue
        labels = set(collector._labelnames)
        for family in collector.describe():
            if family.type == "counter":
                series[f"{family.name}_total"] = labels
            elif family.type == "histogram":
                series[f"{family.name}_bucket"] = labels | {"le"}
                series[f"{family.name}_sum"] = labels
                series[f"{family.name}_count"] = labels
            elif family.type == "summary":
                series[family.name] = labels | {"quantile"}
                series[f"{family.name}_sum"] = labels
                series[f"{family.name}_count"] = labels
            else:
                series[family.name] = labels
    return series


def test_the_code_exports_the_metrics_the_alerts_are_about():
    series = exported_series()
    assert "mltrainer_action_calls_total" in series
    assert "mltrainer_job_duration_seconds_bucket" in series
    assert series["mltrainer_action_calls_total"] == {"action", "outcome"}


# ----------------------------------------------------------------------- PromQL parsing

_KEYWORDS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "inf",
    "nan",
    "atan2",
}
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^{}]*)\}")
_MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")


def parse_promql(expr: str) -> tuple[list[tuple[str, set[str]]], set[str]]:
    """(selectors as (metric name, matcher labels), grouping labels) of an expression.

    Good enough for the expressions of this project: strings only occur in label
    matchers, and Grafana variables ($__rate_interval, ${x}) are removed first.
    """
    text = re.sub(r"\$\{[^}]*\}|\$[a-zA-Z_]\w*", "1m", expr)
    selectors: list[tuple[str, set[str]]] = []
    grouping: set[str] = set()

    def _selector(match: re.Match) -> str:
        labels = set(_MATCHER.findall(match.group(2)))
        name = match.group(1)
        if name and name not in _KEYWORDS:
            selectors.append((name, labels))
            return " "
        return f"{name or ''} "

    text = _SELECTOR.sub(_selector, text)
    for _, labels in _GROUPING.findall(text):
        grouping |= {label.strip() for label in labels.split(",") if label.strip()}
    text = _GROUPING.sub(" ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery durations
    text = re.sub(r'"[^"]*"', " ", text)
    text = re.sub(r"\b\d+(\.\d+)?(e[+-]?\d+)?([smhdwy]|ms)?\b", " ", text)
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        name = match.group(0)
        following = text[match.end() :].lstrip()
        if name.lower() in _KEYWORDS or following.startswith("("):
            continue
        selectors.append((name, set()))
    return selectors, grouping


def test_the_promql_parser_finds_names_labels_and_grouping():
    selectors, grouping = parse_promql(
        'sum by (le, action) (rate(foo_bucket{action=~"$action", le!="1"}[$__rate_interval]))'
        ' / ignoring(x) bar > 3 * (baz offset 10m or vector(0)) and up{job="a"} == 0'
    )
    assert selectors == [
        ("foo_bucket", {"action", "le"}),
        ("up", {"job"}),
        ("bar", set()),
        ("baz", set()),
    ]
    assert grouping == {"le", "action", "x"}


def _check_expression(expr: str, where: str, series: dict[str, set[str]]) -> list[str]:
    problems = []
    selectors, grouping = parse_promql(expr)
    known_labels = set(TARGET_LABELS)
    for name, labels in selectors:
        if name in BUILTIN_SERIES:
            available = BUILTIN_SERIES[name] | TARGET_LABELS
        elif name in series:
            available = series[name] | TARGET_LABELS
        else:
            problems.append(f"{where}: metric {name} is not exported by the code")
            continue
        known_labels |= available
        for label in labels - available:
            problems.append(f"{where}: {name} has no label {label!r}")
    for label in grouping - known_labels:
        problems.append(f"{where}: grouping by unknown label {label!r}")
    if not selectors:
        problems.append(f"{where}: no metric in {expr!r}")
    return problems


def _rules() -> list[dict]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def _dashboard_expressions(path: Path) -> list[tuple[str, str]]:
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((f"{path.name} panel {panel['title']!r}", target["expr"]))
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if variable.get("type") == "query":
            text = query["query"] if isinstance(query, dict) else query
            match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", text)
            assert match, f"unsupported template query {text!r}"
            found.append(
                (f"{path.name} variable {variable['name']}", f'{match[1]}{{{match[2]}=~"x"}}')
            )
    return found


def test_alert_rules_use_only_exported_metrics_and_labels():
    series = exported_series()
    problems = []
    for rule in _rules():
        problems += _check_expression(rule["expr"], f"rule {rule.get('alert')}", series)
    assert not problems, "\n".join(problems)


def test_dashboard_uses_only_exported_metrics_and_labels():
    assert DASHBOARDS, "no Grafana dashboard in deploy/grafana/dashboards"
    series = exported_series()
    problems = []
    for path in DASHBOARDS:
        for where, expr in _dashboard_expressions(path):
            problems += _check_expression(expr, where, series)
    assert not problems, "\n".join(problems)


def test_dashboard_covers_every_exported_metric():
    used = set()
    for path in DASHBOARDS:
        for _, expr in _dashboard_expressions(path):
            used |= {name for name, _ in parse_promql(expr)[0]}
    families = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in exported_series()}
    missing = {
        family
        for family in families
        if not any(re.sub(r"_(total|bucket|sum|count)$", "", name) == family for name in used)
    }
    assert not missing, f"metrics without a dashboard panel: {sorted(missing)}"


def test_dashboard_is_well_formed():
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        assert dashboard["uid"] and dashboard["title"]
        for panel in dashboard["panels"]:
            if panel["type"] != "row":
                assert panel["targets"], panel["title"]
                assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_required_alerts_exist_with_severity_and_runbook():
    rules = _rules()
    alerts = {rule["alert"]: rule for rule in rules if "alert" in rule}
    assert REQUIRED_ALERTS <= set(alerts), f"missing alerts: {REQUIRED_ALERTS - set(alerts)}"
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in OPERATIONS.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    }
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        document, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert document == "docs/operations.md" and anchor in headings, (
            f"{name}: runbook {rule['annotations']['runbook_url']} has no heading in operations.md"
        )


def test_every_alert_has_a_firing_unit_test():
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
    firing = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    quiet = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if not case.get("exp_alerts")
    }
    alerts = {rule["alert"] for rule in _rules() if "alert" in rule}
    assert alerts <= firing, f"alerts never tested firing: {sorted(alerts - firing)}"
    assert len(alerts & quiet) >= 3, "test that alerts stay quiet too"


def test_scrape_jobs_match_the_rules_and_the_metrics_port(monkeypatch):
    rules_text = RULES.read_text(encoding="utf-8")
    for path in (PROMETHEUS / "prometheus.yml", PROMETHEUS / "prometheus-k8s.yml"):
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        jobs = {job["job_name"]: job for job in config["scrape_configs"]}
        assert {"mltrainer-app", "mltrainer-workers"} <= set(jobs), path.name
        assert config["rule_files"] == ["rules/*.yml"]
        for job in re.findall(r'job="([^"]+)"', rules_text):
            assert job in jobs, f"{path.name} has no scrape job {job}"
    compose = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    app = next(j for j in compose["scrape_configs"] if j["job_name"] == "mltrainer-app")
    assert app["static_configs"][0]["targets"] == ["app:9464"]
    from engine.config import get_settings, reset_settings

    monkeypatch.delenv("MLTRAINER_METRICS_PORT", raising=False)
    reset_settings()
    try:
        assert get_settings().metrics_port == 9464, "the scrape configs assume port 9464"
    finally:
        monkeypatch.undo()
        reset_settings()


# ----------------------------------------------------------------------- promtool


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        reason = "promtool is not installed (Debian: apt-get install prometheus)"
        if os.environ.get("MLTRAINER_REQUIRE_SERVICES") == "1":
            pytest.fail(reason + " and MLTRAINER_REQUIRE_SERVICES=1")
        pytest.skip(reason)
    return path


def _run(promtool: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120
    )


def test_promtool_check_config_compose(promtool):
    result = _run(promtool, "check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_config_kubernetes(promtool, tmp_path):
    result = _run(promtool, "check", "config", "prometheus-k8s.yml")
    output = result.stdout + result.stderr
    if result.returncode != 0 and "field kubernetes_sd_configs not found" in output:
        # Debian builds Prometheus without Kubernetes discovery. Check everything else:
        # the same file with static targets in place of the discovery blocks.
        config = yaml.safe_load((PROMETHEUS / "prometheus-k8s.yml").read_text(encoding="utf-8"))
        for job in config["scrape_configs"]:
            assert job.pop("kubernetes_sd_configs")[0]["role"] == "pod"
            job["static_configs"] = [{"targets": ["pod.invalid:9464"]}]
        config["rule_files"] = [str(PROMETHEUS / "rules" / "*.yml")]
        copy = tmp_path / "prometheus-k8s.yml"
        copy.write_text(yaml.safe_dump(config), encoding="utf-8")
        result = _run(promtool, "check", "config", str(copy))
        output = result.stdout + result.stderr
    assert result.returncode == 0, output


def test_promtool_check_rules(promtool):
    result = _run(promtool, "check", "rules", "rules/mltrainer.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_rule_unit_tests(promtool):
    result = _run(promtool, "test", "rules", "tests/mltrainer_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
