"""Rotating codes: a presentation that renews itself before it expires, one :class:`Frame` at a time.

Nothing here reads the clock or sleeps: the app's timer drives :meth:`RotatingCode.current`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ..model import Instant, from_unix, to_unix
from .state import _iso

__all__ = ["DEFAULT_REFRESH_BEFORE", "Frame", "RotatingCode"]

DEFAULT_REFRESH_BEFORE = 10


@dataclass(frozen=True, slots=True, repr=False)
class Frame:
    """One QR code of a :class:`RotatingCode`: its text and when it was made, expires and should be renewed.

    A bearer credential's code is static: ``static`` is true and it "expires" with the credential.
    """

    text: str
    presented_at: datetime
    expires_at: datetime
    refresh_at: datetime
    static: bool = False

    def seconds_left(self, now: Instant) -> int:
        """Whole seconds until the code expires (0 when it has)."""
        return max(0, to_unix(self.expires_at) - to_unix(now))

    def seconds_to_refresh(self, now: Instant) -> int:
        """Whole seconds until the code should be replaced (0 when it should be now)."""
        return max(0, to_unix(self.refresh_at) - to_unix(now))

    def __repr__(self) -> str:
        return (
            f"Frame(presented_at={_iso(self.presented_at)}, expires_at={_iso(self.expires_at)}, "
            f"{len(self.text)} characters)"
        )


class RotatingCode:
    """A presentation that renews itself before it expires. The app drives the timer; nothing sleeps here.

    ``current(now)`` returns the frame to display at ``now``: the same frame until ``refresh_before``
    seconds before it expires, then a new one (also a new one if the clock went back before the
    frame was made, as when the user corrects the phone's time). Iterating calls ``current`` with
    the clock given to :meth:`Wallet.show`, so ``for frame in code:`` works with a sleep in the loop::

        for frame in wallet.show(entry_id, clock=now_utc):
            display(frame.text)
            wait(frame.seconds_to_refresh(now_utc()))

    Not thread-safe: drive one code from one thread.
    """

    __slots__ = ("_clock", "_frame", "_make", "_static_until", "lifetime", "refresh_before")

    def __init__(
        self,
        make: Callable[[int], str],
        *,
        clock: Callable[[], Instant],
        lifetime: int,
        refresh_before: int,
        static_until: datetime | None = None,
    ) -> None:
        self._make = make
        self._clock = clock
        self._frame: Frame | None = None
        self._static_until = static_until
        self.lifetime = lifetime
        self.refresh_before = refresh_before

    @property
    def frame(self) -> Frame | None:
        """The frame made last, if any (without renewing it)."""
        return self._frame

    def current(self, now: Instant) -> Frame:
        """The frame to show at ``now``, renewing it when due."""
        moment = to_unix(now)
        frame = self._frame
        if frame is None or moment >= to_unix(frame.refresh_at) or moment < to_unix(frame.presented_at):
            frame = self._new_frame(moment)
            self._frame = frame
        return frame

    def _new_frame(self, moment: int) -> Frame:
        text = self._make(moment)
        if self._static_until is not None:
            end = max(self._static_until, from_unix(moment))
            return Frame(text, from_unix(moment), end, end, static=True)
        expires = moment + self.lifetime
        return Frame(text, from_unix(moment), from_unix(expires), from_unix(expires - self.refresh_before))

    def __iter__(self) -> RotatingCode:
        return self

    def __next__(self) -> Frame:
        return self.current(self._clock())

    def __repr__(self) -> str:
        return f"RotatingCode(lifetime={self.lifetime}, refresh_before={self.refresh_before})"
