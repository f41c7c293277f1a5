"""Write docs/actions.md, the actions reference, from the action registry.

    .venv/bin/python tools/gen_actions_doc.py            # rewrite docs/actions.md
    .venv/bin/python tools/gen_actions_doc.py --check    # exit 1 when it is out of date

The reference lists every action the project ships (``engine.<package>.actions``
modules): its description (what Claude reads), who may call it, whether it runs as a
background job or needs the user's confirmation, and its parameters from the pydantic
schema. Actions registered outside ``engine`` (tests, plug-ins named by
MLTRAINER_EXTRA_ACTION_MODULES) and approved dynamic actions are not part of it.
tests/deploy/test_docs.py fails when the file differs from what this script writes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "actions.md"
COMMAND = ".venv/bin/python tools/gen_actions_doc.py"

ROLE_NOTE = {
    "viewer": "everyone (viewer and up)",
    "analyst": "analysts and admins",
    "admin": "admins only",
}


def shipped_actions() -> list:
    """The registry's actions defined in the project's own ``engine`` package."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from engine.actions import all_actions

    actions = [
        action
        for action in all_actions()
        if getattr(action.run, "__module__", "").startswith("engine.")
        and action.category != "dynamic"
    ]
    return sorted(actions, key=lambda action: (action.category, action.name))


def _cell(text: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _literal(value: Any) -> str:
    return "`" + json.dumps(value, ensure_ascii=False) + "`"


_SENTENCE_END = re.compile(r"(?<!\bSt)(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)(?<!\betc)\.\s+(?=[A-Z(])")


def first_sentence(text: str, limit: int = 200) -> str:
    """The description's first sentence (abbreviations such as "St." do not end it)."""
    sentence = _SENTENCE_END.split(" ".join(text.split()), maxsplit=1)[0].rstrip(".")
    if len(sentence) > limit:
        sentence = sentence[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " …"
    return sentence + ("" if sentence.endswith("…") else ".")


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        resolved = dict(defs.get(ref.split("/")[-1], {}))
        resolved.update({key: value for key, value in schema.items() if key != "$ref"})
        return resolved
    return schema


def describe_type(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    """A short human type: ``number``, ``list of string``, ``"a" | "b"``, ``... or null``."""
    schema = _resolve(schema, defs)
    if "const" in schema:
        return _literal(schema["const"])
    if "enum" in schema:
        return " | ".join(_literal(value) for value in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            parts = []
            for option in schema[key]:
                text = describe_type(option, defs)
                if text not in parts:
                    parts.append(text)
            return " or ".join(parts)
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(str(item) for item in kind)
    if kind == "array":
        items = schema.get("items")
        return f"list of {describe_type(items, defs)}" if isinstance(items, dict) else "list"
    if "properties" in schema:
        return str(schema.get("title") or "object")
    if kind == "object":
        return "object"
    if kind == "string" and schema.get("format"):
        return f"string ({schema['format']})"
    return str(kind or "any")


CONSTRAINTS = (
    ("minimum", ">= {}"),
    ("exclusiveMinimum", "> {}"),
    ("maximum", "<= {}"),
    ("exclusiveMaximum", "< {}"),
    ("minLength", "at least {} character{}"),
    ("maxLength", "at most {} character{}"),
    ("minItems", "at least {} item{}"),
    ("maxItems", "at most {} item{}"),
    ("pattern", "matches `{}`"),
)


def _constraint(template: str, value: Any) -> str:
    plural = "" if value == 1 else "s"
    return template.format(value, plural) if template.count("{}") == 2 else template.format(value)


def describe_constraints(schema: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    schema = _resolve(schema, defs)
    found = [_constraint(template, schema[key]) for key, template in CONSTRAINTS if key in schema]
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key, []):
            for text in describe_constraints(option, defs):
                if text not in found:
                    found.append(text)
    return found


def parameter_rows(schema: dict[str, Any]) -> list[str]:
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    rows = []
    for name, raw in schema.get("properties", {}).items():
        prop = _resolve(raw, defs)
        if name in required:
            default = "**required**"
        elif "default" in prop:
            default = _cell(_literal(prop["default"]))
        else:
            default = ""
        notes = []
        if prop.get("description"):
            notes.append(_cell(prop["description"]))
        constraints = describe_constraints(prop, defs)
        if constraints:
            notes.append("(" + ", ".join(constraints) + ")")
        rows.append(
            f"| `{name}` | {_cell(describe_type(prop, defs))} | {default} | {' '.join(notes)} |"
        )
    return rows


def _anchor(name: str) -> str:
    return name.lower()


def render(actions: list | None = None) -> str:
    actions = shipped_actions() if actions is None else actions
    lines = [
        "# Actions reference",
        "",
        "<!-- Generated from the action registry by tools/gen_actions_doc.py: do not edit by",
        f"     hand. After adding or changing an action run: {COMMAND} -->",
        "",
        "Everything mlTrainer can do is an **action** in the registry (`engine.actions`). The",
        "chat (Claude or the offline planner), the page forms, the autonomous loop and the",
        "command line all call the same actions, so the checks below apply to every caller.",
        "",
        "- **min role**: the lowest role allowed to call it (`viewer` < `analyst` < `admin`).",
        "- **runs**: `inline` (answers at once) or `job` (queued on the executor; live progress).",
        "- **confirm**: the chat asks the user before it runs (goal changes, generated code).",
        "",
        "Run one from the command line:",
        "",
        "```bash",
        ".venv/bin/python -m engine action NAME --params '{...}'   # prints one JSON object",
        "```",
        "",
        f"{len(actions)} actions.",
        "",
        "| action | category | min role | runs | confirm | summary |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for action in actions:
        summary = first_sentence(action.description)
        lines.append(
            f"| [`{action.name}`](#{_anchor(action.name)}) | {action.category} | "
            f"{action.min_role} | {'job' if action.long else 'inline'} | "
            f"{'yes' if action.needs_confirmation else 'no'} | {_cell(summary)} |"
        )
    category = None
    for action in actions:
        if action.category != category:
            category = action.category
            lines += ["", f"## {category.capitalize()}"]
        lines += [
            "",
            f"### {action.name}",
            "",
            action.description,
            "",
            f"- min role: `{action.min_role}` ({ROLE_NOTE.get(action.min_role, action.min_role)})",
            "- runs: "
            + (
                "as a background job (queued, live progress, cancellable)"
                if action.long
                else "inline (the caller waits for the result)"
            ),
            f"- needs confirmation: {'yes' if action.needs_confirmation else 'no'}",
            f"- retried after a worker crash: {'yes' if action.idempotent else 'no'}",
            "",
        ]
        rows = parameter_rows(action.parameter_schema())
        if rows:
            lines += [
                "| parameter | type | default | notes |",
                "| --- | --- | --- | --- |",
                *rows,
            ]
        else:
            lines.append("No parameters.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if docs/actions.md is out of date"
    )
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date; run: {COMMAND}", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
