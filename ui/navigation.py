"""Which pages exist and which role may see each. The first visible page is the home."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.auth.permissions import role_at_least

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class PageSpec:
    path: str
    title: str
    icon: str
    min_role: str
    section: str


PAGES = (
    PageSpec("pages/chat.py", "Chat", ":material/chat:", "viewer", "Work"),
    PageSpec("pages/home.py", "Overview", ":material/dashboard:", "viewer", "Work"),
    PageSpec("pages/data.py", "Data", ":material/database:", "viewer", "Work"),
    PageSpec("pages/finance.py", "Finance", ":material/show_chart:", "viewer", "Work"),
    PageSpec("pages/models.py", "Models", ":material/model_training:", "viewer", "Work"),
    PageSpec("pages/trials.py", "Trials", ":material/analytics:", "viewer", "Results"),
    PageSpec("pages/jobs.py", "Jobs", ":material/pending_actions:", "viewer", "Results"),
    PageSpec("pages/goals.py", "Goals", ":material/flag:", "viewer", "Results"),
    PageSpec("pages/dynamic_actions.py", "Dynamic actions", ":material/code:", "analyst", "Admin"),
    PageSpec("pages/audit.py", "Audit", ":material/policy:", "admin", "Admin"),
    PageSpec("pages/admin.py", "Users", ":material/group:", "admin", "Admin"),
)


def visible_pages(role: str) -> list[PageSpec]:
    return [
        page for page in PAGES if role_at_least(role, page.min_role) and (ROOT / page.path).exists()
    ]
