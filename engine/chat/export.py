"""Export a conversation as a runnable Python script of the action calls it made.

The script calls the same registry (`engine.actions.call`) with the same
parameters, so an analyst can re-run the analysis outside the app and get the
same numbers. Run it from the project root with the project's virtualenv.
"""

from __future__ import annotations

import json
import pprint

from engine.actions.context import UserRef
from engine.chat import conversations

HEADER = '''"""Re-run of mlTrainer conversation {conversation_id}: {title}

Generated from the conversation's recorded action calls. Run from the mlTrainer
project root:  .venv/bin/python {filename}
Each call goes through the action registry exactly as in the app; results print
as JSON (one object per call).
"""

import json
import sys

sys.path.insert(0, ".")

from engine.actions import UserRef, call  # noqa: E402
from engine.runtime import install  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

install()  # the compliance policy applies here as in the app
upgrade()
USER = UserRef.system()
results = []


def run(action, params):
    outcome = call(action, params, USER, confirmed=True, wait=3600)
    payload = outcome.to_json()
    payload.pop("tables", None)
    results.append(payload)
    print(json.dumps(payload, default=str))
    return outcome

'''


def recorded_calls(user: UserRef, conversation_id: int) -> list[tuple[str, dict]]:
    """The action calls that ran (not refused, declined or still awaiting confirmation)."""
    calls = []
    for message in conversations.messages(user, conversation_id):
        payload = message.payload or {}
        if (
            message.role == "tool"
            and payload.get("job_id")
            and payload.get("status") not in ("refused",)
        ):
            calls.append((payload["action"], payload.get("params", {})))
    return calls


def export_script(user: UserRef, conversation_id: int) -> str:
    conversation = conversations.get(user, conversation_id)
    filename = f"conversation_{conversation_id}.py"
    lines = [
        HEADER.format(
            conversation_id=conversation_id,
            title=json.dumps(conversation.title)[1:-1],
            filename=filename,
        )
    ]
    for index, (action, params) in enumerate(recorded_calls(user, conversation_id), start=1):
        lines.append(f"# Step {index}: {action}")
        lines.append(f"run({action!r}, {pprint.pformat(params, width=88, sort_dicts=False)})\n")
    return "\n".join(lines)
