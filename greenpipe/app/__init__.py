"""The composition root: the ``greenpipe`` CLI, the demo and the embedded broker launcher.

This is the one place that wires the packages together, so it may import all of them
(lazily, so that a command loads only what it needs). Nothing imports it: the core
(``greenpipe`` outside this package) sits below every feature package, and
``tests/test_architecture.py`` walks the imports to keep it that way.
"""
