"""Daily budgets per user and per goal: CPU-minutes, Claude tokens and dollars.

Limits live in the ``budgets`` table: a default for every user, a per-user override
(each limit it leaves empty is the default's) and per-goal limits. A day is a UTC day.
Usage is what :mod:`engine.usage.meter` recorded (server-side measurements).

- Before a long run (:func:`engine.usage.admission.check_before_start`, called by
  ``engine.actions.call``): a
  spent budget refuses the call; a run whose estimate would cross a line asks for
  confirmation (:class:`BudgetConfirmation`).
- During a run (:class:`BudgetGuard`, polled by the executor with the cancel check): the
  job stops at its next safe point once its CPU so far plus the day's usage crosses a
  line; it ends ``budget_exhausted`` with what it finished kept.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.actions.base import ActionError, NeedsConfirmation

if TYPE_CHECKING:
    from storage.repositories.usage import UsageTotals

log = logging.getLogger("mltrainer.usage")

RESOURCES = ("cpu", "tokens", "dollars")
# How often a running job re-reads the day's usage (other jobs finish meanwhile).
REFRESH_SECONDS = 5.0


class BudgetExhausted(ActionError):
    """The user's or goal's budget for today is already spent: the run does not start."""


class BudgetConfirmation(NeedsConfirmation):
    """The run's estimate would cross a budget: it starts only when the user confirms
    (and then stops cleanly at the line)."""

    def __init__(
        self, message: str, estimate: dict[str, Any] | None = None, over: str | None = None
    ):
        super().__init__(message)
        self.estimate = estimate
        self.over = over  # which budgets it would reach, and how far


@dataclass(frozen=True)
class Limits:
    cpu_minutes: float | None = None
    tokens: int | None = None
    dollars: float | None = None

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.cpu_minutes, self.tokens, self.dollars))

    def to_json(self) -> dict[str, Any]:
        return {
            "max_cpu_minutes": self.cpu_minutes,
            "max_tokens": self.tokens,
            "max_dollars": self.dollars,
        }


@dataclass(frozen=True)
class Scope:
    """One budget that applies to a run: a user's (``user_id``) or a goal's."""

    label: str
    limits: Limits
    user_id: int | None = None
    goal_id: int | None = None

    def spent(self, since=None) -> UsageTotals:
        from storage.repositories import usage

        return usage.totals(
            user_id=self.user_id, goal_id=self.goal_id, since=since or usage.day_start()
        )

    def crossed(
        self,
        spent: UsageTotals,
        cpu: float = 0.0,
        tokens: int = 0,
        dollars: float = 0.0,
        resources: tuple[str, ...] = RESOURCES,
    ) -> tuple[str, str] | None:
        """(resource, reason) of the first limit among ``resources`` that ``spent`` plus
        the extra reaches."""
        limits = self.limits
        if limits.cpu_minutes is not None and "cpu" in resources:
            used = (spent.cpu_seconds + cpu) / 60
            if used >= limits.cpu_minutes:
                return "cpu", (
                    f"{self.label}'s daily CPU budget of {limits.cpu_minutes:g} min is spent "
                    f"({used:.2f} min)"
                )
        if limits.tokens is not None and "tokens" in resources:
            used_tokens = spent.tokens + tokens
            if used_tokens >= limits.tokens:
                return "tokens", (
                    f"{self.label}'s daily token budget of {limits.tokens:,} is spent "
                    f"({used_tokens:,} tokens)"
                )
        if limits.dollars is not None and "dollars" in resources:
            used_dollars = spent.dollars + dollars
            if used_dollars >= limits.dollars:
                return "dollars", (
                    f"{self.label}'s daily budget of ${limits.dollars:,.2f} is spent "
                    f"(${used_dollars:,.4f})"
                )
        return None

    def would_cross(self, spent: UsageTotals, estimate: Any) -> str | None:
        """Why ``estimate`` (an engine.usage.estimate.Estimate) on top of ``spent`` would go
        over (strictly), else None."""
        limits = self.limits
        problems = []
        if limits.cpu_minutes is not None:
            after = (spent.cpu_seconds + estimate.cpu_seconds) / 60
            if after > limits.cpu_minutes:
                problems.append(
                    f"{after:.3g} of {self.label}'s {limits.cpu_minutes:g} CPU-minutes "
                    f"({spent.cpu_seconds / 60:.3g} used today)"
                )
        if limits.tokens is not None and estimate.tokens:
            after_tokens = spent.tokens + estimate.tokens
            if after_tokens > limits.tokens:
                problems.append(f"{after_tokens:,} of {self.label}'s {limits.tokens:,} tokens")
        if limits.dollars is not None and estimate.dollars:
            after_dollars = spent.dollars + estimate.dollars
            if after_dollars > limits.dollars:
                problems.append(f"${after_dollars:,.2f} of {self.label}'s ${limits.dollars:,.2f}")
        return "; ".join(problems) or None


def _limits(record, fallback: Limits | None = None) -> Limits:
    fallback = fallback or Limits()
    if record is None:
        return fallback

    def pick(value, default):
        return value if value is not None else default

    return Limits(
        pick(record.max_cpu_minutes, fallback.cpu_minutes),
        pick(record.max_tokens, fallback.tokens),
        pick(record.max_dollars, fallback.dollars),
    )


def user_limits(user_id: int) -> Limits:
    """The default limits with the user's override on top (field by field)."""
    from storage.repositories import usage

    rows = usage.get_budgets(["default", usage.scope_key(user_id=user_id)])
    return _limits(rows.get(usage.scope_key(user_id=user_id)), _limits(rows.get("default")))


# A worker reads the limits of each job it starts through this cache (one query saved
# per job; the limits a running job holds were read when it started anyway).
LIMITS_CACHE_SECONDS = 2.0
_limits_cache: dict[tuple[str, ...], tuple[float, dict[str, Any]]] = {}


def _budget_rows(keys: list[str], cached: bool) -> dict[str, Any]:
    from storage.repositories import usage

    if not cached:
        return usage.get_budgets(keys)
    now = time.monotonic()
    hit = _limits_cache.get(tuple(keys))
    if hit is not None and now - hit[0] < LIMITS_CACHE_SECONDS:
        return hit[1]
    rows = usage.get_budgets(keys)
    if len(_limits_cache) > 4096:
        _limits_cache.clear()
    _limits_cache[tuple(keys)] = (now, rows)
    return rows


def forget_cached_limits() -> None:
    """Drop this process's cached limits (a budget was changed here)."""
    _limits_cache.clear()


def scopes_for(
    user_id: int | None,
    goal_id: int | None,
    username: str | None = None,
    *,
    cached: bool = False,
) -> list[Scope]:
    """The budgets a run of ``user_id`` (for ``goal_id``) counts against: the user's
    (default plus override) and the goal's; only those that set a limit. ``cached``:
    limits up to LIMITS_CACHE_SECONDS old will do (a worker starting a job)."""
    from storage.repositories import usage

    keys = ["default"]
    if user_id is not None:
        keys.append(usage.scope_key(user_id=user_id))
    if goal_id is not None:
        keys.append(usage.scope_key(goal_id=goal_id))
    rows = _budget_rows(keys, cached)
    scopes = []
    if user_id is not None:
        limits = _limits(rows.get(usage.scope_key(user_id=user_id)), _limits(rows.get("default")))
        if limits.any:
            scopes.append(Scope(username or f"user {user_id}", limits, user_id=user_id))
    if goal_id is not None:
        limits = _limits(rows.get(usage.scope_key(goal_id=goal_id)))
        if limits.any:
            scopes.append(Scope(f"goal {goal_id}", limits, goal_id=goal_id))
    return scopes


def spent_line(scopes: list[Scope], resources: tuple[str, ...] = RESOURCES) -> str | None:
    """The reason of the first budget (of ``resources``) already spent today, else None."""
    for scope in scopes:
        crossed = scope.crossed(scope.spent(), resources=resources)
        if crossed is not None:
            return crossed[1]
    return None


def count_exhausted(scope: str, resource: str) -> None:
    try:
        from engine.observability.metrics import BUDGET_EXHAUSTED

        BUDGET_EXHAUSTED.labels(scope, resource).inc()
    except Exception:  # noqa: BLE001
        log.debug("metrics unavailable", exc_info=True)


class BudgetGuard:
    """The running job's budget check: today's usage (re-read every REFRESH_SECONDS)
    plus the job's own CPU so far, against every budget that applies."""

    def __init__(self, scopes: list[Scope], resources: tuple[str, ...] = ("cpu",)):
        self.scopes = scopes
        # A job is held to the CPU it spends; Claude's tokens are checked where they are
        # spent (the chat turn, the goal loop before each proposal).
        self.resources = resources
        self.reason: str | None = None
        self._spent: list[UsageTotals] = []
        self._read_at = -1e18

    @classmethod
    def for_job(cls, user_id: int | None, goal_id: int | None) -> BudgetGuard:
        try:
            return cls(scopes_for(user_id, goal_id, cached=True))
        except Exception:  # noqa: BLE001 - the database blinked: no guard this time
            log.warning("could not read the budgets of a job; it runs unguarded", exc_info=True)
            return cls([])

    @property
    def active(self) -> bool:
        return bool(self.scopes)

    def check(self, cpu_seconds: float, tokens: int = 0, dollars: float = 0.0) -> str | None:
        """The reason the job must stop, once a line is crossed (then it stays)."""
        if self.reason is not None or not self.scopes:
            return self.reason
        now = time.monotonic()
        if now - self._read_at >= REFRESH_SECONDS:
            try:
                self._spent = [scope.spent() for scope in self.scopes]
                self._read_at = now
            except Exception:  # noqa: BLE001 - keep the last totals through a blip
                log.warning("could not re-read today's usage", exc_info=True)
                if not self._spent:
                    return None
        for scope, spent in zip(self.scopes, self._spent, strict=True):
            crossed = scope.crossed(spent, cpu_seconds, tokens, dollars, self.resources)
            if crossed is not None:
                self.reason = crossed[1]
                count_exhausted("goal" if scope.goal_id is not None else "user", crossed[0])
                break
        return self.reason


def usage_report(user_id: int, goal_id: int | None = None) -> dict[str, Any]:
    """Today's and this month's usage of a user, with the limits that apply."""
    from storage.repositories import usage

    today = usage.totals(user_id=user_id, since=usage.day_start())
    month = usage.totals(user_id=user_id, since=usage.month_start())

    def totals_json(t: UsageTotals) -> dict[str, Any]:
        return {
            "cpu_minutes": t.cpu_seconds / 60,
            "tokens": t.tokens,
            "input_tokens": t.input_tokens,
            "output_tokens": t.output_tokens,
            "dollars": t.dollars,
        }

    out: dict[str, Any] = {
        "user_id": user_id,
        "today": totals_json(today),
        "month": totals_json(month),
        "limits": user_limits(user_id).to_json(),
    }
    if goal_id is not None:
        out["goal"] = {
            "goal_id": goal_id,
            "today": totals_json(usage.totals(goal_id=goal_id, since=usage.day_start())),
            "limits": _limits(usage.get_budget(usage.scope_key(goal_id=goal_id))).to_json(),
        }
    return out


def admin_overview(user: Any) -> tuple[list[Any], list[dict[str, Any]]]:
    """Every stored budget and today's usage by user, for the Users page: administrators
    only, checked here (the page is not the check)."""
    from engine.auth import permissions
    from engine.auth.permissions import Resource
    from storage.repositories import usage as usage_repo

    permissions.require(user, "administer", Resource.area("usage"))
    return usage_repo.list_budgets(), usage_repo.usage_by_user(usage_repo.day_start())
