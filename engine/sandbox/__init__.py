"""Dynamic actions: analyst- or Claude-written functions over prices, checked by an
``ast`` allow-list (:mod:`engine.sandbox.validator`) and run in an isolated subprocess
(:mod:`engine.sandbox.runner`). See docs/sandbox.md for the security model."""
