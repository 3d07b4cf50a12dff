"""Ownership and use rules: orphaned and zombie credentials, stale and never-rotated
secrets, secrets found in code, and leases whose revocation gave up."""

from __future__ import annotations

from datetime import datetime, timedelta

from tessera.inventory.models import CredentialKind, CredentialStatus, IdentityStatus
from tessera.posture.findings import Severity
from tessera.posture.models import RuleId, RuleInfo
from tessera.posture.rules import ROTATION_KINDS, USE_KINDS, Context, Hit, Rule, Subject

_USE = frozenset(k.value for k in USE_KINDS)
_ROTATION = frozenset(k.value for k in ROTATION_KINDS)
_LEAKED = CredentialKind.LEAKED_SECRET.value
_LEASE = CredentialKind.DYNAMIC_LEASE.value
_DECOMMISSIONED = IdentityStatus.DECOMMISSIONED.value
_REVOKED = CredentialStatus.REVOKED.value
# A leaked secret has its own rule; tokens answer for the principal that holds them.
_OWNER_EXEMPT = frozenset({
    CredentialKind.LEAKED_SECRET.value, CredentialKind.TESSERA_TOKEN.value,
    CredentialKind.OAUTH_TOKEN.value,
})  # fmt: skip


def _orphaned(c: Subject, _ctx: Context) -> Hit | None:
    if c.kind in _OWNER_EXEMPT:
        return None
    if (c.owner or "").strip() or (c.identity_owner or "").strip():
        return None
    return Hit(f"{c.name} has no owner", {"identity_id": c.identity_id})


def _zombie(c: Subject, _ctx: Context) -> Hit | None:
    if c.identity_status != _DECOMMISSIONED:
        return None
    return Hit(f"{c.name} is active but its identity is decommissioned",
               {"identity_id": c.identity_id})  # fmt: skip


def _since(c: Subject, last: datetime | None) -> datetime:
    return last or c.issued_at or c.created_at


def _stale(c: Subject, ctx: Context) -> Hit | None:
    if c.kind not in _USE:
        return None
    limit = ctx.settings.thresholds.stale_days
    since = _since(c, c.last_used_at)
    if ctx.now - since < timedelta(days=limit):
        return None
    what = "unused since" if c.last_used_at else "never used since"
    return Hit(f"{c.name} {what} {since.date().isoformat()}",
               {"last_used_at": c.last_used_at.isoformat() if c.last_used_at else None,
                "threshold_days": limit})  # fmt: skip


def _not_rotated(c: Subject, ctx: Context) -> Hit | None:
    if c.kind not in _ROTATION:
        return None
    limit = ctx.settings.thresholds.rotation_days
    since = _since(c, c.last_rotated_at)
    if ctx.now - since < timedelta(days=limit):
        return None
    return Hit(f"{c.name} not rotated since {since.date().isoformat()}",
               {"last_rotated_at": since.isoformat(), "threshold_days": limit})  # fmt: skip


def _leaked(c: Subject, _ctx: Context) -> Hit | None:
    if c.kind != _LEAKED:
        return None
    rules = c.attributes.get("rules")
    # never the preview: a finding must not carry any part of the secret
    return Hit(f"Secret found in code ({c.name})",
               {"detectors": [r for r in rules if isinstance(r, str)][:20]
                if isinstance(rules, list) else []})  # fmt: skip


def _irrevocable(c: Subject, _ctx: Context) -> Hit | None:
    if c.kind != _LEASE or c.attributes.get("irrevocable") is not True:
        return None
    if c.status == _REVOKED:
        return None
    return Hit(f"Lease {c.name} could not be revoked", {"kind": c.kind})


RULES = (
    Rule(RuleInfo(
        RuleId.ORPHANED, Severity.MEDIUM, "Credential without an owner",
        "Neither the credential nor its identity names an accountable owner: nobody renews, "
        "rotates or retires it.",
        "Set an owner (`tessera inventory set-owner`) or attach it to an owned identity.",
    ), _orphaned),
    Rule(RuleInfo(
        RuleId.ZOMBIE, Severity.HIGH, "Active credential of a decommissioned identity",
        "The workload is gone but its credential still works: an unmonitored way in.",
        "Revoke it (`tessera identity decommission` revokes every credential of an identity).",
    ), _zombie),
    Rule(RuleInfo(
        RuleId.STALE, Severity.MEDIUM, "Unused credential",
        "Not used for `stale_days` (default 90) by the record Tessera keeps of its use: "
        "access nobody needs, still open to abuse.",
        "Confirm with the owner and revoke it.",
    ), _stale),
    Rule(RuleInfo(
        RuleId.NOT_ROTATED, Severity.MEDIUM, "Secret not rotated",
        "A static secret or API key unchanged for `rotation_days` (default 90): every copy "
        "ever made of it still works.",
        "Rotate it (with an overlap window for its users) and set a rotation policy.",
    ), _not_rotated),
    Rule(RuleInfo(
        RuleId.LEAKED_SECRET, Severity.CRITICAL, "Secret found in code",
        "A secret committed to a repository or file: anyone with read access to the code, "
        "its history or its copies has it.",
        "Revoke or rotate the secret at its issuer first, then remove it from the code and "
        "history and load it from a secret store.",
    ), _leaked),
    Rule(RuleInfo(
        RuleId.IRREVOCABLE_LEASE, Severity.HIGH, "Lease could not be revoked",
        "Tessera gave up revoking a dynamic credential (the database user may still exist).",
        "Remove the account by hand on the target system, then revoke the lease again.",
    ), _irrevocable, active_only=False),
)  # fmt: skip
