"""A per-run lease in Redis, so that one evaluate task works on a run at a time.

Redis hands a task whose worker went quiet past the visibility timeout to another worker; if the first one was only
cut off from Redis for a while, it may still be finishing its slice when the redelivered copy starts, and both
would ask the same questions. Each evaluate task takes the lease (`SET key token NX PX ttl`, the ttl being the
task's own deadline) before it asks anything and gives it back when its slice ends; a copy that finds the lease
taken hands over and comes back later. A worker that dies holding it loses it when the ttl runs out, before its task
comes back from the broker.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import redis

from shared.store import run_key

# Delete the key only if it still holds our token: a lease that expired and was taken by another task stays theirs.
RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


def lease_key(exp_id: str, run_id: str) -> str:
    return f"{run_key(exp_id, run_id)}:lease"


@dataclass
class RunLease:
    """The lease on one run's evaluation for `ttl_s` seconds, held under a random token."""

    client: redis.Redis
    exp_id: str
    run_id: str
    ttl_s: float
    token: str = field(default_factory=lambda: secrets.token_hex(16))

    @property
    def key(self) -> str:
        return lease_key(self.exp_id, self.run_id)

    def acquire(self) -> bool:
        """Take the lease if nobody holds it."""
        return bool(self.client.set(self.key, self.token, nx=True, px=max(1, int(self.ttl_s * 1000))))

    def remaining_s(self) -> float:
        """How long the current holder keeps the lease at most (0 when nobody holds it)."""
        milliseconds = int(self.client.pttl(self.key))
        return max(0.0, milliseconds / 1000)

    def release(self) -> None:
        """Give the lease back, if it is still ours."""
        self.client.eval(RELEASE_SCRIPT, 1, self.key, self.token)
