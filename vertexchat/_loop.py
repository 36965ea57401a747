"""Which event loop is running: the one place vertexchat tells event loops apart.

Sockets, locks and events belong to the event loop that made them. Scripts and test suites
often call ``asyncio.run()`` several times with one ``Client``, or mix asyncio and trio; what a
finished loop made must then be made again. The modules that hold such things ask this one:
``LoopWatch`` says when another loop is running than last time (the HTTP client and the
connection pool start afresh), ``PerLoop`` keeps one value per loop and owner (auth's lock).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

import anyio.lowlevel

__all__ = ["LoopWatch", "PerLoop"]

_K = TypeVar("_K")
_V = TypeVar("_V")


class LoopWatch:
    """Remembers the event loop it last saw running."""

    __slots__ = ("_loop",)

    def __init__(self) -> None:
        self._loop: object = None

    def moved(self) -> bool:
        """Whether the running loop differs from the one seen last (which it now remembers)."""
        loop = anyio.lowlevel.current_token()
        if loop == self._loop:
            return False
        self._loop = loop
        return True

    def on_current(self) -> bool:
        """Whether the loop seen last is the one running now (so its sockets can be closed)."""
        try:
            return anyio.lowlevel.current_token() == self._loop
        except RuntimeError:  # no event loop is running at all
            return False


class PerLoop(Generic[_K, _V]):
    """One value per running event loop and owner, made by ``factory`` on first use.

    Owners are held weakly, and a loop's values go with the loop.
    """

    def __init__(self, name: str, factory: Callable[[], _V]) -> None:
        self._factory = factory
        self._values: anyio.lowlevel.RunVar[weakref.WeakKeyDictionary[_K, _V]] = (
            anyio.lowlevel.RunVar(name)
        )

    def get(self, owner: _K) -> _V:
        """The value for ``owner`` in the running loop."""
        try:
            values = self._values.get()
        except LookupError:
            values = weakref.WeakKeyDictionary()
            self._values.set(values)
        value = values.get(owner)
        if value is None:
            value = values[owner] = self._factory()
        return value
