"""Command line: `python -m engine <command>`.

migrate                         apply database migrations
create-user USERNAME --role R   create an account (password from stdin or a prompt)
actions                         list the action registry with parameter schemas (JSON)
action NAME --params JSON       run one action and print one JSON object
worker                          run a standalone executor worker
reproduce BUNDLE                re-run a bundle in a fresh data dir, compare every number
                                (exit 0 identical, 1 drift, 2 error)
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from typing import Any

EXIT_ERROR = 2
EXIT_DRIFT = 1


def _print(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, default=str) + "\n")
    sys.stdout.flush()


def _fail(message: str) -> int:
    _print({"ok": False, "error": message})
    return EXIT_ERROR


def cmd_migrate(_args) -> int:
    from storage.migrate import current_revision, upgrade

    upgrade()
    _print({"ok": True, "revision": current_revision()})
    return 0


def _read_password(prompt: str) -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("Repeat: ") != first:
            raise ValueError("The two passwords differ.")
        return first
    return sys.stdin.readline().rstrip("\n")


def cmd_create_user(args) -> int:
    from engine.auth import create_user
    from storage.migrate import upgrade

    upgrade()
    try:
        password = _read_password(f"Password for {args.username}: ")
        record = create_user(
            args.username, args.name or args.username, password, args.role, args.email
        )
    except Exception as error:  # every failure here is the operator's to fix
        return _fail(str(error))
    _print({"ok": True, "id": record.id, "username": record.username, "role": record.role})
    return 0


def cmd_actions(_args) -> int:
    from engine.actions import all_actions

    _print(
        {
            "ok": True,
            "actions": [
                {
                    "name": action.name,
                    "description": action.description,
                    "category": action.category,
                    "long": action.long,
                    "min_role": action.min_role,
                    "needs_confirmation": action.needs_confirmation,
                    "parameters": action.parameter_schema(),
                }
                for action in all_actions()
            ],
        }
    )
    return 0


def _resolve_cli_user(username: str | None):
    from engine.actions import UserRef
    from storage.repositories.users import get_user

    if not username:
        return UserRef.system()
    record = get_user(username.strip().lower())
    if record is None or not record.is_active:
        raise LookupError(f"No active user '{username}'.")
    return UserRef(record.id, record.username, record.role)


def cmd_action(args) -> int:
    from engine.actions import ActionError, call
    from storage.migrate import upgrade

    try:
        params = json.loads(args.params) if args.params else {}
    except json.JSONDecodeError as error:
        return _fail(f"--params is not valid JSON: {error.msg} at position {error.pos}.")
    if not isinstance(params, dict):
        return _fail("--params must be a JSON object.")
    try:
        upgrade()
        user = _resolve_cli_user(args.user)
        from engine.actions.dispatch import resolve_action

        action = resolve_action(args.name)
        if args.estimate:  # what it would cost, from the recorded history; nothing runs
            from engine.usage.estimate import estimate_for

            estimate = estimate_for(args.name, params, user)
            _print({"ok": True, "action": action.name, "estimate": estimate.to_json()})
            return 0
        if action.long:
            from engine import executor

            executor.ensure_started()
        outcome = call(args.name, params, user, confirmed=args.yes, wait=args.wait)
    except (ActionError, LookupError, KeyError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        return _fail(str(message))
    except Exception as error:
        logging.getLogger("mltrainer.cli").exception("action %s crashed", args.name)
        return _fail(f"Internal error ({type(error).__name__}); see the logs.")
    payload = outcome.to_json()
    if outcome.status in ("failed", "cancelled", "interrupted", "budget_exhausted"):
        payload["ok"] = False
        _print(payload)
        return EXIT_ERROR
    _print(payload)
    return 0


def cmd_worker(_args) -> int:
    from engine.executor import exit_worker_process, run_worker_forever

    run_worker_forever()
    exit_worker_process(0)


def cmd_dynamic(args) -> int:
    """``dynamic check FILE`` / ``dynamic run FILE --symbols ...`` / ``dynamic layers``."""
    from engine.sandbox import runner, validator

    if args.dynamic_command == "layers":
        _print({"ok": True, "layers": runner.describe_layers(refresh=True)})
        return 0
    try:
        with open(args.file, encoding="utf-8") as handle:
            source = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        _print({"ok": False, "rule": "syntax", "line": 0, "error": f"cannot read: {error}"})
        return EXIT_ERROR
    if args.dynamic_command == "check":
        violation = validator.validate(source)
        _print({"ok": True} if violation is None else violation.to_json())
        return 0 if violation is None else EXIT_ERROR
    try:
        params = json.loads(args.params) if args.params else {}
    except json.JSONDecodeError as error:
        return _fail(f"--params is not valid JSON: {error.msg} at position {error.pos}.")
    if not isinstance(params, dict):
        return _fail("--params must be a JSON object.")
    from engine.actions import ActionError
    from engine.data.loader import load_prices

    try:
        data = load_prices(args.symbols, args.source, args.start, args.end).close()
    except ActionError as error:
        return _fail(str(error))
    overrides = {
        key: value
        for key, value in (
            ("cpu_seconds", args.cpu_seconds),
            ("wall_seconds", args.wall_seconds),
            ("memory_mb", args.memory_mb),
        )
        if value is not None
    }
    run = runner.run_source(
        source,
        data,
        params,
        limits=runner.SandboxLimits.from_env(**overrides),
        validate=not args.skip_validation,
    )
    _print(run.to_json())
    return 0 if run.ok else EXIT_ERROR


def cmd_reproduce(args) -> int:
    from pathlib import Path

    from engine.actions import ActionError

    if args.replay_report:  # the child process, already in its fresh data directory
        from engine.reproduce.replay import write_report

        try:
            write_report(Path(args.bundle), Path(args.replay_report))
        except ActionError as error:
            return _fail(str(error))
        return 0
    from engine.reproduce.command import reproduce

    try:
        manifest, comparison = reproduce(
            Path(args.bundle),
            tolerance=args.tolerance,
            data_dir=Path(args.data_dir) if args.data_dir else None,
        )
    except ActionError as error:
        return _fail(str(error))
    if args.json:
        _print({"ok": comparison.identical, "title": manifest.title, **comparison.to_json()})
    else:
        from engine.reproduce.compare import render_text

        sys.stdout.write(render_text(comparison, manifest.title))
        sys.stdout.flush()
    return 0 if comparison.identical else EXIT_DRIFT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engine",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)

    create = commands.add_parser("create-user", help="create an account")
    create.add_argument("username")
    create.add_argument("--role", choices=("admin", "analyst", "viewer"), required=True)
    create.add_argument("--name")
    create.add_argument("--email")
    create.set_defaults(func=cmd_create_user)

    commands.add_parser("actions", help="list actions").set_defaults(func=cmd_actions)

    run = commands.add_parser("action", help="run one action, print JSON")
    run.add_argument("name")
    run.add_argument("--params", default="{}", help="parameters as a JSON object")
    run.add_argument(
        "--user",
        help="run as this user (default: the built-in system user); the OS account running "
        "the command is recorded on the jobs and audit events either way",
    )
    run.add_argument(
        "--estimate",
        action="store_true",
        help="print the estimate (wall time, CPU seconds, tokens, dollars, and what it is "
        "based on) without running the action",
    )
    run.add_argument(
        "--wait",
        type=float,
        default=3600.0,
        help="seconds to wait for a long action (default 3600)",
    )
    run.add_argument(
        "--yes",
        action="store_true",
        help="confirm actions that need confirmation (generated code, goals)",
    )
    run.set_defaults(func=cmd_action)

    commands.add_parser("worker", help="run a standalone worker").set_defaults(func=cmd_worker)

    reproduce = commands.add_parser(
        "reproduce",
        help="re-run a bundle (zip or extracted folder) in a fresh data directory and "
        "compare every number; exit 0 identical, 1 drift, 2 error",
    )
    reproduce.add_argument("bundle")
    reproduce.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        help="relative and absolute tolerance (default 0: byte-identical numbers)",
    )
    reproduce.add_argument("--json", action="store_true", help="print the comparison as JSON")
    reproduce.add_argument(
        "--data-dir", help="keep the fresh data directory here (must not exist or be empty)"
    )
    reproduce.add_argument("--replay-report", help=argparse.SUPPRESS)
    reproduce.set_defaults(func=cmd_reproduce)

    dynamic = commands.add_parser(
        "dynamic", help="check or run dynamic-action source in the sandbox, print JSON"
    )
    dynamic_commands = dynamic.add_subparsers(dest="dynamic_command", required=True)
    check = dynamic_commands.add_parser(
        "check", help='validate FILE: {"ok": true} or the rule and line that refuse it'
    )
    check.add_argument("file")
    check.set_defaults(func=cmd_dynamic)
    sandboxed = dynamic_commands.add_parser(
        "run", help="run FILE's run(data, **params) in the sandbox on bundled prices"
    )
    sandboxed.add_argument("file")
    sandboxed.add_argument("--symbols", required=True, help="comma-separated, e.g. AAPL,MSFT")
    sandboxed.add_argument("--params", default="{}", help="parameters as a JSON object")
    sandboxed.add_argument("--source", default="bundled", help="data source (default bundled)")
    sandboxed.add_argument("--start", help="first date, YYYY-MM-DD")
    sandboxed.add_argument("--end", help="last date, YYYY-MM-DD")
    sandboxed.add_argument("--cpu-seconds", type=float, help="CPU time limit")
    sandboxed.add_argument("--wall-seconds", type=float, help="wall-clock limit")
    sandboxed.add_argument("--memory-mb", type=int, help="address-space limit")
    sandboxed.add_argument(
        "--skip-validation",
        action="store_true",
        help="skip the validator and the in-process guard to test the OS sandbox alone",
    )
    sandboxed.set_defaults(func=cmd_dynamic)
    dynamic_commands.add_parser(
        "layers", help="probe and list the sandbox layers active on this machine"
    ).set_defaults(func=cmd_dynamic)
    return parser


def _record_operator(args) -> None:
    """The command line is an operator tool (the built-in system user, or ``--user``
    impersonation): every job and compliance decision this process writes names the real
    OS account, and each run is logged with it."""
    from storage.actor import os_account, set_process_actor

    operator = os_account()
    set_process_actor(operator)
    logging.getLogger("mltrainer.cli").info(
        "command line",
        extra={
            "operator": operator,
            "command": getattr(args, "command", None),
            "as_user": getattr(args, "user", None) or "system",
        },
    )


def main(argv: list[str] | None = None) -> int:
    from engine.observability.logging import configure_logging
    from engine.runtime import install

    args = build_parser().parse_args(argv)
    configure_logging()
    _record_operator(args)
    install()  # the compliance policy and the job runner, before any command runs
    try:
        return args.func(args)
    finally:
        from storage.actor import set_process_actor

        set_process_actor(None)  # main() called in-process (tests) leaves no operator behind


if __name__ == "__main__":
    sys.exit(main())
