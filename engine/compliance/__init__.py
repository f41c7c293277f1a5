"""The policy engine: named rules evaluated before and after every action call, each
decision written to a hash-chained log whose integrity can be verified."""

from engine.compliance.chain import ChainReport, verify_chain
from engine.compliance.policy import install

__all__ = ["ChainReport", "install", "verify_chain"]
