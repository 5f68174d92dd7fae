"""What the ``dynamodb://`` and ``s3://`` stores declare, once (no boto3 here).

Each store class uses these sets and :class:`omnisession.plugins.Backend`
publishes them, so ``omnisession backends`` and an opened store always agree.

S3 does not declare ``ttl``: S3 lifecycle rules expire objects by age since
creation, not by idle time, and would cut sessions mid-history.

S3 declares ``lifecycle`` (every operation works: fork, purge with a
conditional delete per session, erase, list_apps, scope updates, import) with
one race it cannot win, which its conformance binding lists as a known
failure: ``erase_user`` / ``erase_app`` cannot be ordered against a create
that writes ``app:`` / ``user:`` state at the same moment. S3 has no
multi-object transaction, so those scope objects are written right after the
session head commits; a create racing an erase can leave its scope keys
behind after its session was erased.
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
