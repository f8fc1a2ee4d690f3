"""What a scan tells its listeners: :class:`ScanEvent`, and the bus that delivers them.

Knows nothing of ``Scan``: an event carries the scan as an opaque object, so the
dashboard imports this module (and the scan's public view), never the engine's insides.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any

from .trial import Trial

__all__ = ["EVENT_KINDS", "EventBus", "ScanEvent"]

log = logging.getLogger("hpo_widgets")

#: Every kind of event a scan emits.
EVENT_KINDS = ("trial_started", "trial_reported", "trial_finished", "status", "space")


@dataclasses.dataclass(frozen=True)
class ScanEvent:
    """What listeners receive.

    ``kind`` is one of ``"trial_started"``, ``"trial_reported"`` (``step``, ``value``
    set), ``"trial_finished"`` (the trial ended: finished, failed or pruned; already
    committed to the store), ``"status"`` (status, message, settings or the runner's
    note changed) and ``"space"``.
    """

    kind: str
    scan: Any
    trial: Trial | None = None
    step: float | None = None
    value: float | None = None


class EventBus:
    """Listeners and the delivery of events to them.

    Listeners run on the scan's threads: keep them quick. One that raises is logged and
    detached; it never stops the scan.
    """

    def __init__(self, label: str = "") -> None:
        self.label = label
        self._listeners: list[Callable[[ScanEvent], Any]] = []
        self._lock = threading.RLock()

    def subscribe(self, listener: Callable[[ScanEvent], Any]) -> Callable[[ScanEvent], Any]:
        with self._lock:
            self._listeners.append(listener)
        return listener

    def unsubscribe(self, listener: Callable[[ScanEvent], Any]) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def listeners(self) -> list[Callable[[ScanEvent], Any]]:
        """The listeners now subscribed (a copy)."""
        with self._lock:
            return list(self._listeners)

    def emit(self, event: ScanEvent) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for fn in listeners:
            try:
                fn(event)
            except Exception:
                log.exception("scan %r: listener %r raised on %s; detached", self.label, fn,
                              event.kind)
                self.unsubscribe(fn)
