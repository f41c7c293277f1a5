"""What the chat model is shown of a conversation: a token-budgeted context window.

Context = the most recent turns + a rolling summary of older turns + the older
messages most relevant to the new message (TF-IDF cosine similarity, with results
and pinned messages weighted up), all within a token budget.
"""

from engine.memory.context import ContextWindow, build_context, estimate_tokens

__all__ = ["ContextWindow", "build_context", "estimate_tokens"]
