"""Shared kernel: typed errors, clock, randomness and ids used by every domain."""

from tessera.core.clock import Clock, FakeClock, SystemClock
from tessera.core.errors import TesseraError
from tessera.core.randomness import Randomness, SystemRandomness

__all__ = ["Clock", "FakeClock", "Randomness", "SystemClock", "SystemRandomness", "TesseraError"]
