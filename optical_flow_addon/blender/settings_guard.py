"""The guard through which the bake changes the user's scene, and which puts every change back."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


class SettingsGuard:
    """Changes settings through ``set`` and restores all of them, newest first."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def set(self, owner: Any, attribute: str, value: Any) -> None:
        old = getattr(owner, attribute)
        self._undo.append(lambda: setattr(owner, attribute, old))
        setattr(owner, attribute, value)

    def on_restore(self, undo: Callable[[], None]) -> None:
        self._undo.append(undo)

    def restore(self) -> None:
        """Run every undo step even if one fails, then re-raise the first failure."""
        failures = []
        while self._undo:
            try:
                self._undo.pop()()
            except Exception as error:  # keep restoring the rest of the user's settings
                failures.append(error)
        if failures:
            raise failures[0]

    def __enter__(self) -> "SettingsGuard":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.restore()
