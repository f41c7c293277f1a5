"""Documentation that must follow the code: the generated actions reference, the README's
configuration table, links and screenshots."""

from __future__ import annotations

import difflib
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
ACTIONS_DOC = ROOT / "docs" / "actions.md"
REGENERATE = ".venv/bin/python tools/gen_actions_doc.py"
GUIDES = ["deployment.md", "security.md", "operations.md", "contributing.md"]
CODE_DIRS = ("engine", "storage", "ui", "pages")

# A variable read from the environment: os.environ.get("X"), os.environ["X"], getenv("X"),
# or one of the project's helpers (read, read_optional, _read, _read_optional,
# _env_number, _float, _int), or any quoted MLTRAINER_* name (some are kept in constants
# before being read).
_READER = re.compile(
    r"(?:environ\.get|environ\[|getenv|\b_?read(?:_optional)?|_env_number|_float|_int)"
    r"\(?\s*\"([A-Z][A-Z0-9_]+)\""
)
_PROJECT_NAME = re.compile(r"\"(MLTRAINER_[A-Z0-9_]*[A-Z0-9])\"")


def _generator():
    spec = importlib.util.spec_from_file_location(
        "gen_actions_doc", ROOT / "tools" / "gen_actions_doc.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_actions_reference_is_up_to_date():
    expected = _generator().render()
    current = ACTIONS_DOC.read_text(encoding="utf-8") if ACTIONS_DOC.exists() else ""
    if current != expected:
        diff = "".join(
            list(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    expected.splitlines(keepends=True),
                    "docs/actions.md (committed)",
                    "docs/actions.md (from the registry)",
                    n=1,
                )
            )[:60]
        )
        raise AssertionError(
            f"docs/actions.md is out of date with the action registry.\n"
            f"Regenerate it with:\n\n    {REGENERATE}\n\nand commit docs/actions.md.\n\n{diff}"
        )


def test_actions_reference_lists_every_shipped_action():
    generator = _generator()
    names = [action.name for action in generator.shipped_actions()]
    assert names, "the registry is empty"
    text = generator.render()
    for name in names:
        assert f"### {name}\n" in text
    assert len(names) == len(set(names))


def test_readme_starts_with_the_two_commands():
    text = README.read_text(encoding="utf-8")
    first_block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert first_block and text.index("```bash") < text.index("\n## ")
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands[:2] == ["make run", "make test"]


def code_environment_variables() -> set[str]:
    names: set[str] = set()
    paths = [ROOT / "app.py"] + [p for d in CODE_DIRS for p in (ROOT / d).rglob("*.py")]
    for path in paths:
        text = path.read_text(encoding="utf-8")
        names |= set(_READER.findall(text)) | set(_PROJECT_NAME.findall(text))
    return names


def test_readme_documents_every_environment_variable():
    variables = code_environment_variables()
    assert {"DATABASE_URL", "MLTRAINER_DATA_DIR", "MLTRAINER_METRICS_PORT"} <= variables
    table = "\n".join(
        line for line in README.read_text(encoding="utf-8").splitlines() if line.startswith("| `")
    )
    missing = sorted(name for name in variables if f"`{name}`" not in table)
    assert not missing, (
        "README.md's configuration table lacks variables the code reads: "
        + ", ".join(missing)
        + " (add a row: variable, default, meaning)"
    )


def _anchors(path: Path) -> set[str]:
    anchors = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^a-z0-9 _-]", "", title).replace(" ", "-"))
    return anchors


def test_links_in_readme_and_guides_resolve():
    problems = []
    for document in [README] + [ROOT / "docs" / name for name in GUIDES]:
        assert document.exists(), f"{document.relative_to(ROOT)} is missing"
        text = document.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+://", target):
                continue
            path_part, _, anchor = target.partition("#")
            path = (document.parent / path_part).resolve() if path_part else document
            if not path.exists():
                problems.append(f"{document.name}: {target} does not exist")
            elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
                problems.append(f"{document.name}: {target} has no such heading")
    assert not problems, "\n".join(problems)


def test_readme_has_an_architecture_diagram_and_screenshots():
    text = README.read_text(encoding="utf-8")
    assert "```mermaid" in text
    shots = re.findall(r"docs/screenshots/[a-z_]+\.png", text)
    assert len(set(shots)) >= 6, "a screenshot of each main page"
    for shot in shots:
        assert (ROOT / shot).exists(), shot


def test_guides_cover_their_subjects():
    expectations = {
        "deployment.md": ["Single machine", "Docker Compose", "Kubernetes", "Sticky sessions"],
        "security.md": [
            "Authentication",
            "Dynamic actions",
            "Secrets",
            "Out of scope",
            "SYS_ADMIN",
        ],
        "operations.md": ["Backups", "Migrations", "Metrics", "Alerts"],
        "contributing.md": ["make test", "gen_actions_doc.py"],
    }
    for name, phrases in expectations.items():
        text = (ROOT / "docs" / name).read_text(encoding="utf-8")
        for phrase in phrases:
            assert phrase in text, f"docs/{name} does not mention {phrase!r}"


EXECUTOR_DOC = ROOT / "docs" / "executor.md"
GUARANTEES = "## Guarantees: what survives what"
# The faults of issue 22, numbered in the table's first column ("**1. Database outage**").
FAULTS = range(1, 8)
_TEST_PATH = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?`")


def _guarantee_rows() -> list[list[str]]:
    text = EXECUTOR_DOC.read_text(encoding="utf-8")
    assert GUARANTEES in text, f"docs/executor.md has no {GUARANTEES!r} section"
    section = text.split(GUARANTEES, 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    # header and separator first
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[2:]]


def _named_tests(cell: str) -> list[tuple[str, str | None]]:
    return _TEST_PATH.findall(cell)


def test_every_guarantee_names_a_test_that_exists():
    rows = _guarantee_rows()
    numbered = [int(match.group(1)) for row in rows if (match := re.match(r"\*\*(\d+)\.", row[0]))]
    assert numbered == list(FAULTS), f"the table should list faults 1–7 in order: {numbered}"
    problems = []
    for row in rows:
        fault = row[0][:60]
        named = _named_tests(row[-1])
        with_tests = 0
        for path, function in named:
            source = ROOT / path
            if not source.is_file():
                problems.append(f"{fault}: {path} does not exist")
                continue
            code = source.read_text(encoding="utf-8")
            with_tests += bool(re.search(r"^def test_", code, re.M))
            if function and not re.search(rf"^(?:async )?def {function}\(", code, re.M):
                problems.append(f"{fault}: {path} has no {function}")
        if not with_tests:  # helpers it names (a proxy, a fake) do not count
            problems.append(f"{fault}: names no test file (`tests/...py` with tests)")
    assert not problems, "docs/executor.md guarantees table:\n" + "\n".join(problems)


def test_the_guarantees_check_sees_a_row_without_a_test():
    assert _named_tests("SIGTERM to a standalone worker in the middle of a job") == []
    assert _named_tests("`tests/executor/test_shutdown.py` (SIGTERM)") == [
        ("tests/executor/test_shutdown.py", "")
    ]
