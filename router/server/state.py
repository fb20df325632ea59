"""What the connections of one listener share: who is connected and bound, the
connection gate, the reading switch the outbound queue pulls (no globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from router.server.gate import ConnectionGate
from router.server.memory import HeapTrimmer

if TYPE_CHECKING:
    from router.server.esme import EsmeConnection


@dataclass(slots=True)
class ServerState:
    """Runtime state shared by the connections of one listener (no globals)."""

    connections: set[EsmeConnection] = field(default_factory=set)
    bound: dict[str, set[EsmeConnection]] = field(default_factory=dict)
    gate: ConnectionGate = field(default_factory=ConnectionGate)
    heap: HeapTrimmer = field(default_factory=HeapTrimmer)
    paused: bool = False
    refused_connections: int = 0
    failed_decisions: int = 0
    unmatched_responses: int = 0

    def live_binds(self, system_id: str) -> int:
        return len(self.bound.get(system_id, ()))

    def set_paused(self, paused: bool) -> None:
        """The outbound queue is over its limit (or back under half): stop or resume
        reading from every ESME, so pressure reaches their TCP windows."""
        self.paused = paused
        for conn in self.connections:
            conn.update_reading()
