"""What the ``dynamodb://`` and ``s3://`` stores declare, once (no boto3 here).

Each store class uses these sets and :class:`omnisession.plugins.Backend`
publishes them, so ``omnisession backends`` and an opened store always agree.

S3 does not declare ``ttl``: S3 lifecycle rules expire objects by age since
creation, not by idle time, and would cut sessions mid-history.

S3 declares ``lifecycle`` (fork, purge with a conditional delete per
session, erase, list_apps, scope updates, import). S3 has no multi-object
transaction, so a write's ``app:`` / ``user:`` scope objects are updated
right after its session head commits; an erase racing it is ordered by the
write reading its head again and taking its scope values back when the
session is gone (``S3Store._apply_scopes``), so no orphan scope is left.
"""

from __future__ import annotations

from collections.abc import Mapping

from omnisession.store import Capability

__all__ = [
    "DYNAMODB_CAPABILITIES",
    "DYNAMODB_OPTIONAL_CAPABILITIES",
    "S3_CAPABILITIES",
    "S3_OPTIONAL_CAPABILITIES",
]

DYNAMODB_CAPABILITIES = frozenset(
    {
        Capability.BASE,
        Capability.PERSISTENT,
        Capability.CROSS_PROCESS,
        Capability.LARGE_ENTRIES,
        Capability.REPLACE,
        Capability.LIFECYCLE,
    }
)
DYNAMODB_OPTIONAL_CAPABILITIES: Mapping[Capability, str] = {
    Capability.TTL: "dynamodb://TABLE?ttl=SECONDS (sessions expire SECONDS after their last write)"
}

S3_CAPABILITIES = frozenset(
    {
        Capability.BASE,
        Capability.PERSISTENT,
        Capability.CROSS_PROCESS,
        Capability.LARGE_ENTRIES,
        Capability.REPLACE,
        Capability.LIFECYCLE,
    }
)
S3_OPTIONAL_CAPABILITIES: Mapping[Capability, str] = {}
