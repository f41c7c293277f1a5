"""Conversations: who may read or write them, and one chat turn end to end."""
