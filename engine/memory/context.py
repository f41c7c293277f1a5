"""Build the context window for one new chat message."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from storage.repositories import conversations as repo

RECENT_MESSAGES = 12
RETRIEVED_MESSAGES = 5
IMPORTANT_BOOST = 1.5
MIN_SIMILARITY = 0.05
SUMMARY_LINE_CHARS = 220
MAX_SUMMARY_LINES = 200


def estimate_tokens(text: str) -> int:
    """About four characters a token for English and numbers; errs on the high side."""
    return len(text) // 4 + 1


def message_text(message: repo.MessageRecord) -> str:
    if message.role == "tool" and message.payload:
        action = message.payload.get("action", "action")
        params = message.payload.get("params", {})
        shown = ", ".join(f"{k}={v}" for k, v in list(params.items())[:8])
        return f"[{action}({shown})] {message.content}"
    return message.content


@dataclass
class ContextWindow:
    summary: str = ""
    retrieved: list[repo.MessageRecord] = field(default_factory=list)
    recent: list[repo.MessageRecord] = field(default_factory=list)

    def tokens(self) -> int:
        parts = [self.summary] + [message_text(m) for m in self.retrieved + self.recent]
        return sum(estimate_tokens(part) for part in parts)

    def as_messages(self) -> list[dict[str, str]]:
        """Alternating user/assistant messages (tool runs folded into assistant text)."""
        preface = []
        if self.summary:
            preface.append("Summary of the earlier conversation:\n" + self.summary)
        if self.retrieved:
            preface.append(
                "Earlier messages relevant to the new request:\n"
                + "\n".join(f"- ({m.role}) {message_text(m)}" for m in self.retrieved)
            )
        messages: list[dict[str, str]] = []
        if preface:
            messages.append({"role": "user", "content": "\n\n".join(preface)})
            messages.append({"role": "assistant", "content": "Noted."})
        for message in self.recent:
            role = "user" if message.role == "user" else "assistant"
            text = message_text(message)
            if messages and messages[-1]["role"] == role:
                messages[-1]["content"] += "\n" + text
            else:
                messages.append({"role": role, "content": text})
        if messages and messages[0]["role"] == "assistant":
            messages.insert(0, {"role": "user", "content": "(conversation continues)"})
        return messages


def summarise(messages: list[repo.MessageRecord]) -> str:
    """A rolling extractive summary: what was asked and what each action returned."""
    lines = []
    for message in messages:
        if message.role == "user":
            lines.append("User asked: " + message.content[:SUMMARY_LINE_CHARS])
        elif message.role == "tool":
            lines.append("Result: " + message_text(message)[:SUMMARY_LINE_CHARS])
        elif message.pinned:
            lines.append("Pinned: " + message.content[:SUMMARY_LINE_CHARS])
    return "\n".join(lines)


def rolling_summary(conversation_id: int, older: list[repo.MessageRecord]) -> str:
    """Extend the stored summary with the messages that left the recent window since."""
    conversation = repo.get_conversation(conversation_id)
    if conversation is None or not older:
        return ""
    upto = conversation.summary_upto_id or 0
    fresh = [m for m in older if m.id > upto]
    summary = conversation.summary or ""
    if fresh:
        addition = summarise(fresh)
        summary = "\n".join(part for part in (summary, addition) if part)
        summary = "\n".join(summary.split("\n")[-MAX_SUMMARY_LINES:])
        repo.save_summary(conversation_id, summary, fresh[-1].id)
    return summary


def retrieve(
    older: list[repo.MessageRecord], query: str, k: int = RETRIEVED_MESSAGES
) -> list[repo.MessageRecord]:
    candidates = [m for m in older if m.content.strip()]
    if not candidates or not query.strip():
        return []
    texts = [message_text(m) for m in candidates]
    # sklearn loads here, on the first retrieval, not in every process importing the chat
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(
        ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b"
    )
    try:
        matrix = vectorizer.fit_transform(texts + [query])
    except ValueError:  # nothing but stop words
        return []
    scores = (matrix[:-1] @ matrix[-1].T).toarray().ravel()
    boost = np.array(
        [IMPORTANT_BOOST if (m.pinned or m.role == "tool") else 1.0 for m in candidates]
    )
    scores = scores * boost
    order = [i for i in np.argsort(-scores, kind="stable") if scores[i] >= MIN_SIMILARITY][:k]
    return [candidates[i] for i in sorted(order, key=lambda i: candidates[i].id)]


def build_context(
    conversation_id: int, new_message: str, budget_tokens: int = 6000
) -> ContextWindow:
    messages = repo.list_messages(conversation_id)
    recent = messages[-RECENT_MESSAGES:]
    older = messages[:-RECENT_MESSAGES] if len(messages) > RECENT_MESSAGES else []
    window = ContextWindow(
        summary=rolling_summary(conversation_id, older),
        retrieved=retrieve(older, new_message),
        recent=recent,
    )
    # Trim to the budget: the summary's oldest lines first, then the oldest recent turns.
    while window.tokens() > budget_tokens and window.summary:
        lines = window.summary.split("\n")
        window.summary = "\n".join(lines[1:])
    while window.tokens() > budget_tokens and len(window.recent) > 2:
        window.recent = window.recent[1:]
    while window.tokens() > budget_tokens and window.retrieved:
        window.retrieved = window.retrieved[:-1]
    return window
