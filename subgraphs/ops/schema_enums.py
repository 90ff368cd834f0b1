"""Enums the ops hub's schema modules share."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="How a service is doing, as its probes say.")
class HealthStatus(Enum):
    GREEN = strawberry.enum_value("GREEN", description="Its probes succeed.")
    AMBER = strawberry.enum_value("AMBER", description="A probe failed; not yet RED.")
    RED = strawberry.enum_value("RED", description="Its probes failed several times in a row.")
    UNKNOWN = strawberry.enum_value("UNKNOWN", description="Not probed yet.")
