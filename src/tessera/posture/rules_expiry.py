"""Expiry rules: expired, expiring (within the thresholds, scaled down for short-lived
credentials), TLS server certificates valid too long, and CAs expiring before what they issued."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tessera.core.clock import as_utc
from tessera.inventory.models import CredentialKind
from tessera.pki.models import CAStatus, CertStatus
from tessera.posture.findings import NewFinding, Severity
from tessera.posture.models import RuleId, RuleInfo
from tessera.posture.rules import EXPIRY_KINDS, Context, Hit, Rule, Subject
from tessera.storage.models import CredentialRow, PkiCaRow, PkiCertificateRow

_EXPIRY = frozenset(k.value for k in EXPIRY_KINDS)
# A short-lived credential counts as expiring once this share of its lifetime is left, when
# that comes later than the configured threshold (a 1-day certificate is not "expiring" for
# all of its life under a 30-day threshold).
SHORT_LIVED_SHARE = 1 / 3


def _expired(c: Subject, ctx: Context) -> Hit | None:
    if c.kind not in _EXPIRY or c.not_after is None or c.not_after > ctx.now:
        return None
    # titles name dates, not "N days ago", so an unchanged cause writes nothing on later runs
    return Hit(f"{c.name} expired on {c.not_after.date().isoformat()}",
               {"not_after": c.not_after.isoformat(), "kind": c.kind})  # fmt: skip


def _expiring(c: Subject, ctx: Context) -> Hit | None:
    if c.kind not in _EXPIRY or c.not_after is None or c.not_after <= ctx.now:
        return None
    t = ctx.settings.thresholds
    left = c.not_after - ctx.now
    medium, high = timedelta(days=t.expiring_days), timedelta(days=t.expiring_high_days)
    if c.issued_at is not None and c.not_after > c.issued_at:
        share = (c.not_after - c.issued_at) * SHORT_LIVED_SHARE
        medium, high = min(medium, share), min(high, share * t.expiring_high_days
                                                / t.expiring_days)  # fmt: skip
    if left > medium:
        return None
    severity = Severity.HIGH if left <= high else Severity.MEDIUM
    return Hit(
        f"{c.name} expires on {c.not_after.date().isoformat()}",
        {"not_after": c.not_after.isoformat(), "kind": c.kind,
         "threshold_days": t.expiring_high_days if severity is Severity.HIGH
         else t.expiring_days},
        severity,
    )  # fmt: skip


def _not_before(c: Subject) -> datetime | None:
    raw = c.attributes.get("not_before")
    if isinstance(raw, str):
        try:
            return as_utc(datetime.fromisoformat(raw))
        except ValueError:
            return c.issued_at
    return c.issued_at


def is_tls_server(c: Subject) -> bool:
    """A leaf seen on a TLS endpoint, or one naming DNS hosts (what TLS servers present)."""
    if not c.is_certificate or c.is_ca:
        return False
    if c.attributes.get("endpoints"):
        return True
    sans = c.attributes.get("sans")
    return isinstance(sans, list) and any(isinstance(s, str) and s.startswith("DNS:") for s in sans)


def _long_validity(c: Subject, ctx: Context) -> Hit | None:
    if not is_tls_server(c) or c.not_after is None:
        return None
    start = _not_before(c)
    if start is None:
        return None
    lifetime = (c.not_after - start).total_seconds() / 86400
    limit = ctx.settings.thresholds.max_tls_validity_days
    if lifetime <= limit:
        return None
    return Hit(f"{c.name} is valid for {int(lifetime)} days (limit {limit})",
               {"validity_days": int(lifetime), "limit_days": limit})  # fmt: skip


RULES = (
    Rule(RuleInfo(
        RuleId.EXPIRED, Severity.CRITICAL, "Expired credential",
        "An active certificate, API key, OAuth client or static secret is past its expiry: "
        "whatever relies on it fails, or it is no longer in use and should be retired.",
        "Renew or replace it and deploy the successor; if it is no longer used, revoke it so "
        "the inventory shows it gone.",
    ), _expired),
    Rule(RuleInfo(
        RuleId.EXPIRING, Severity.MEDIUM, "Credential expiring soon",
        "Expires within the `expiring_days` threshold (default 30 days; high within "
        "`expiring_high_days`, default 7). Short-lived credentials count once a third of "
        "their lifetime is left.",
        "Renew it now (or enable automatic renewal on its profile) and deploy the successor.",
    ), _expiring),
    Rule(RuleInfo(
        RuleId.LONG_VALIDITY, Severity.MEDIUM, "TLS certificate valid too long",
        "A TLS server certificate whose validity exceeds `max_tls_validity_days` (default "
        "398, the CA/Browser Forum limit): browsers reject it and key compromise lasts longer.",
        "Reissue with a validity of at most 398 days, ideally far shorter with automatic "
        "renewal.",
    ), _long_validity),
)  # fmt: skip

CA_RULE = RuleInfo(
    RuleId.CA_EXPIRES_FIRST, Severity.HIGH, "CA expires before certificates it issued",
    "A Tessera CA's certificate ends before an active certificate it signed: from that day the "
    "chain no longer validates although the leaf has not expired.",
    "Roll the CA over (new CA certificate) well before its expiry, or reissue the affected "
    "certificates from a CA that outlives them.",
)  # fmt: skip


def ca_findings(session: Session, now: datetime) -> list[NewFinding]:
    """CAs (active or retired) whose not_after precedes that of a live leaf they issued; one
    grouped query over the PKI tables, so its cost does not grow with the inventory pass."""
    latest = (
        select(PkiCertificateRow.ca_id, func.max(PkiCertificateRow.not_after).label("last"),
               func.count().label("n"))
        .where(PkiCertificateRow.status == CertStatus.ISSUED.value,
               PkiCertificateRow.not_after > now)
        .group_by(PkiCertificateRow.ca_id)
        .subquery()
    )  # fmt: skip
    rows = session.execute(
        select(PkiCaRow.id, PkiCaRow.name, PkiCaRow.not_after, PkiCaRow.cert_fingerprint,
               latest.c.last)
        .join(latest, latest.c.ca_id == PkiCaRow.id)
        .where(PkiCaRow.status.in_([CAStatus.ACTIVE.value, CAStatus.RETIRED.value]),
               PkiCaRow.not_after.is_not(None))
    ).all()  # fmt: skip
    out = []
    for ca_id, name, ca_end, fingerprint, last in rows:
        if ca_end is None or last is None or as_utc(ca_end) >= as_utc(last):
            continue
        credential_id = session.scalar(
            select(CredentialRow.id).where(
                CredentialRow.kind == CredentialKind.X509_CERTIFICATE.value,
                CredentialRow.fingerprint == fingerprint,
            )
        ) if fingerprint else None  # fmt: skip
        out.append(NewFinding(
            CA_RULE.id.value, f"ca:{ca_id}", CA_RULE.severity,
            f"CA {name} expires before certificates it issued",
            {"ca": name, "ca_not_after": as_utc(ca_end).isoformat(),
             "latest_issued_not_after": as_utc(last).isoformat()},
            credential_id=credential_id,
        ))  # fmt: skip
    return out
