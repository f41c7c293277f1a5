"""The Dynamic actions page through Streamlit's AppTest: browse, read the source, test-run
in the sandbox, create from a template, and (admins) approve."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from engine import executor
from engine.sandbox import service
from storage.repositories import dynamic_actions as repo
from tests.foundation.apptest_helpers import ROOT, log_in, new_app

PAGE = "pages/dynamic_actions.py"
ZSCORE = (
    "import pandas as pd\n\n\n"
    "def run(data, window: int = 20):\n"
    "    returns = data.pct_change()\n"
    "    rolling = returns.rolling(window, min_periods=window)\n"
    "    return (returns - rolling.mean()) / rolling.std()\n"
)


@pytest.fixture
def seeded(fresh_db, make_user):
    alice = make_user("alice", "analyst")
    make_user("root", "admin")
    make_user("vic", "viewer")
    record, _ = service.save_draft(alice, "zscore_returns", "Rolling z-score of returns", ZSCORE)
    yield record
    service.sync_registry()


def open_page(username: str):
    at = log_in(new_app(), username)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def finish(at, state_key: str):
    job_id = at.session_state[state_key]
    job = executor.wait(job_id, timeout=180)
    assert job.status == "succeeded", job.error
    at.run()
    assert not at.exception, at.exception
    return job


def test_viewers_and_strangers_are_turned_away(seeded):
    at = log_in(new_app(), "vic")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(PAGE)  # not in a viewer's navigation
    direct = AppTest.from_file(str(ROOT / PAGE), default_timeout=60).run()
    assert not direct.exception and [w.value for w in direct.warning] == ["Please log in."]
    assert not direct.code  # nothing drawn without a session


def test_analyst_reads_the_source_and_test_runs_a_draft(seeded):
    at = open_page("alice")
    assert [title.value for title in at.title] == ["Dynamic actions"]
    assert ZSCORE.strip() in [code.value.strip() for code in at.code]
    assert not [b for b in at.button if b.key and b.key.startswith("dyn-approve")]
    at.button(key=f"FormSubmitter:dyn-test-{seeded.id}-Run in the sandbox").click().run()
    assert not at.exception, at.exception
    job = finish(at, "dyn-test-job")
    assert job.params["version"] == 1
    metrics = {metric.label: metric.value for metric in at.metric}
    assert {"last AAPL", "last MSFT"} <= set(metrics)
    assert any(not frame.value.empty for frame in at.dataframe)


def test_admin_approves_and_the_template_form_saves_a_draft(seeded):
    at = open_page("root")
    at.button(key=f"dyn-approve-{seeded.id}").click().run()
    assert not at.exception, at.exception
    assert repo.get_version("zscore_returns", 1).status == "approved"
    assert "zscore_returns" in service.registered_names()

    at.text_input(key="dyn-template-name").input("spx_zscore_page").run()
    generated = [code.value for code in at.code if "generated from a template" in code.value]
    assert generated, "the generated source is shown before saving"
    at.button(key="dyn-template-save").click().run()
    assert not at.exception, at.exception
    finish(at, "dyn-create-job")
    saved = repo.get_version("spx_zscore_page", 1)
    assert saved.status == "draft" and saved.source.strip() == generated[0].strip()


def test_the_page_reports_the_sandbox_layers_and_a_refusal(seeded, monkeypatch):
    """Fail closed, visibly: with a layer missing (the child told not to apply it) the page
    says runs are refused and how to grant the layer; with the waiver it warns instead."""
    from engine.sandbox import runner

    at = open_page("alice")
    assert not [e for e in at.error if "cannot run" in e.value]
    layers = next(frame.value for frame in at.dataframe if "how to grant" in frame.value)
    assert list(layers["layer"]) == list(runner.REQUIRED_LAYERS)
    monkeypatch.setenv(runner.DISABLE_VARIABLE, "landlock")
    monkeypatch.delenv(runner.ALLOW_MISSING_VARIABLE, raising=False)
    try:
        runner.active_layers(refresh=True)
        at = open_page("alice")
        refusal = [e.value for e in at.error if "cannot run" in e.value]
        assert refusal and "landlock" in refusal[0] and runner.ALLOW_MISSING_VARIABLE in refusal[0]
        layers = next(frame.value for frame in at.dataframe if "how to grant" in frame.value)
        row = layers.set_index("layer").loc["landlock"]
        assert row["state"] == "missing" and "CONFIG_SECURITY_LANDLOCK" in row["how to grant"]
        monkeypatch.setenv(runner.ALLOW_MISSING_VARIABLE, "landlock")
        at = open_page("alice")
        assert not [e for e in at.error if "cannot run" in e.value]
        assert any("WITHOUT landlock" in w.value for w in at.warning)
    finally:
        monkeypatch.delenv(runner.DISABLE_VARIABLE)
        runner.active_layers(refresh=True)


def test_code_editor_highlights_and_validates_as_you_edit(seeded):
    at = open_page("alice")
    editor = at.text_area(key="dyn-code-source")
    shown = [block.value.strip() for block in at.code]
    assert editor.value.strip() in shown  # the numbered, highlighted copy of what will run
    # messages are Markdown-escaped (ui.text.md_escape): compare them unescaped
    assert any(s.value.replace("\\", "").startswith("Valid: run(data, window") for s in at.success)
    editor.input("import os\n\n\ndef run(data):\n    return os.listdir('/')\n").run()
    assert not at.exception, at.exception
    problems = [e.value.replace("\\", "") for e in at.error]
    assert any(p.startswith("line 1:") and "os" in p for p in problems), problems
    assert "import os" in "".join(block.value for block in at.code)
    editor = at.text_area(key="dyn-code-source")
    editor.input(ZSCORE).run()
    valid = [s.value.replace("\\", "") for s in at.success]
    assert any("Valid: run(data, window: integer = 20)" in v for v in valid), valid
