"""Each posture rule mapped to PCI DSS v4.0 requirements and NIST SP 800-53 rev. 5 controls.

The mapping is indicative: it names the requirements a finding is evidence against, to help
an assessor find related controls. It is not an assessment, and a clean report does not mean
a requirement is met."""

from __future__ import annotations

from dataclasses import dataclass

from tessera.posture.models import RuleId


@dataclass(frozen=True)
class Controls:
    """Requirement ids of PCI DSS v4.0 and control ids of NIST SP 800-53 rev. 5."""

    pci_dss: tuple[str, ...]
    nist_800_53: tuple[str, ...]


MAPPING: dict[RuleId, Controls] = {
    RuleId.EXPIRED: Controls(("4.2.1", "4.2.1.1"), ("SC-12", "SC-17", "IA-5")),
    RuleId.EXPIRING: Controls(("4.2.1", "4.2.1.1"), ("SC-12", "SC-17", "IA-5")),
    RuleId.WEAK_KEY: Controls(("3.6.1", "4.2.1", "12.3.3"), ("SC-12", "SC-13", "IA-5(2)", "RA-5")),
    RuleId.WEAK_SIGNATURE: Controls(("4.2.1", "12.3.3"), ("SC-13", "IA-5(2)", "RA-5")),
    RuleId.LONG_VALIDITY: Controls(("4.2.1",), ("SC-17", "IA-5(2)")),
    RuleId.SELF_SIGNED: Controls(("4.2.1", "4.2.1.1"), ("SC-17", "IA-5(2)")),
    RuleId.WILDCARD: Controls(("4.2.1.1", "12.3.3"), ("SC-17", "CM-8")),
    RuleId.ORPHANED: Controls(("8.6.1", "12.5.1"), ("AC-2", "CM-8")),
    RuleId.ZOMBIE: Controls(("8.2.5", "8.6.1"), ("AC-2", "AC-2(3)", "IA-5")),
    RuleId.STALE: Controls(("8.2.6", "8.6.1"), ("AC-2(3)", "IA-5")),
    RuleId.NOT_ROTATED: Controls(("3.7.4", "8.6.3"), ("IA-5", "SC-12")),
    RuleId.LEAKED_SECRET: Controls(("8.6.2", "3.6.1"), ("IA-5(7)", "IA-5", "RA-5", "SI-4")),
    RuleId.UNENCRYPTED_KEY: Controls(("3.6.1", "3.6.1.2"), ("SC-12", "SC-28", "IA-5(2)")),
    RuleId.DUPLICATE_KEY: Controls(("3.6.1", "3.7.2"), ("SC-12", "IA-5(2)")),
    RuleId.CA_EXPIRES_FIRST: Controls(("3.7.4", "4.2.1"), ("SC-12", "SC-17")),
    RuleId.IRREVOCABLE_LEASE: Controls(("8.2.5", "8.6.1"), ("AC-2", "AC-2(3)", "IA-5")),
    RuleId.RENEWAL_FAILING: Controls(("4.2.1",), ("SC-12", "SC-17", "SI-4")),
}


def controls_for(rule_id: str) -> Controls:
    """The mapping of a rule id; unknown ids (a rule added elsewhere) map to nothing."""
    try:
        return MAPPING[RuleId(rule_id)]
    except ValueError:
        return Controls((), ())
