"""Key and certificate hygiene rules: weak keys and signatures, self-signed leaves, wildcard
names, private keys stored unencrypted, and one key used in several credentials or places."""

from __future__ import annotations

from collections.abc import Mapping

from tessera.inventory.models import CredentialKind, CredentialSource
from tessera.posture.findings import Severity
from tessera.posture.models import RuleId, RuleInfo
from tessera.posture.rules import Context, Hit, Rule, Subject

WEAK_HASHES = ("md2", "md4", "md5", "sha1")
_X509 = frozenset({CredentialKind.X509_CERTIFICATE.value, CredentialKind.SPIFFE_SVID.value})
_PRIVATE_KEY = CredentialKind.PRIVATE_KEY.value
_DISCOVERED = CredentialSource.DISCOVERED.value
MAX_LISTED = 20  # places named in a finding's details; the count says how many in all


def _weak_key(c: Subject, ctx: Context) -> Hit | None:
    t = ctx.settings.thresholds
    bits = c.key_bits
    if c.key_type == "dsa":
        reason = "DSA keys are deprecated (FIPS 186-5)"
    elif c.key_type == "rsa" and bits is not None and bits < t.min_rsa_bits:
        reason = f"RSA {bits} bits is below {t.min_rsa_bits}"
    elif c.key_type == "ec" and bits is not None and bits < t.min_ec_bits:
        reason = f"EC {bits} bits is below {t.min_ec_bits}"
    else:
        return None
    return Hit(f"{c.name}: weak key ({reason})",
               {"key_type": c.key_type, "key_bits": bits, "reason": reason})  # fmt: skip


def _weak_signature(c: Subject, _ctx: Context) -> Hit | None:
    sig = (c.signature_algorithm or "").lower()
    weak = next((h for h in WEAK_HASHES if h in sig.replace("-", "").replace("_", "")), None)
    if weak is None:
        return None
    if c.is_ca and c.attributes.get("self_signed") is True:
        return None  # a trust anchor's own signature is never verified
    return Hit(f"{c.name}: signed with {weak.upper()}", {"signature_algorithm": sig})


def _self_signed(c: Subject, _ctx: Context) -> Hit | None:
    if not c.is_certificate or c.is_ca:
        return None
    if c.attributes.get("self_signed") is not True and "self_signed" not in c.endpoint_flags():
        return None
    return Hit(f"{c.name} is a self-signed leaf certificate",
               {"environment": c.environment})  # fmt: skip


def _wildcards(c: Subject) -> list[str]:
    names: list[str] = []
    sans = c.attributes.get("sans")
    if isinstance(sans, list):
        names += [s.removeprefix("DNS:") for s in sans if isinstance(s, str)]
    cn = c.attributes.get("subject_cn")
    if isinstance(cn, str):
        names.append(cn)
    if c.is_certificate:
        names.append(c.name)
    return sorted({n for n in names if n.startswith("*.")})


def _wildcard(c: Subject, _ctx: Context) -> Hit | None:
    if c.kind not in _X509:
        return None
    found = _wildcards(c)
    if not found:
        return None
    return Hit(f"{c.name} is a wildcard certificate", {"names": found[:MAX_LISTED]})


def _places(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _unencrypted(c: Subject, _ctx: Context) -> Hit | None:
    if c.kind != _PRIVATE_KEY or c.attributes.get("unencrypted") is not True:
        return None
    places = _places(c.attributes.get("unencrypted_locations"))
    return Hit(f"Private key {c.name} is stored unencrypted",
               {"locations": places[:MAX_LISTED], "location_count": len(places)})  # fmt: skip


def _duplicate(c: Subject, ctx: Context) -> Hit | None:
    attrs: Mapping[str, object] = c.attributes
    if c.kind == _PRIVATE_KEY:
        certs = _places(attrs.get("certificates"))
        if attrs.get("duplicate_locations") is True:
            return Hit(f"Private key {c.name} is copied in several places",
                       {"reason": "duplicate_locations", "certificates": len(certs)})  # fmt: skip
        if len(certs) > 1:
            return Hit(f"Private key {c.name} backs {len(certs)} certificates",
                       {"reason": "several_certificates", "certificates": len(certs)})  # fmt: skip
        return None
    if not c.is_certificate or c.source != _DISCOVERED:
        return None
    key = attrs.get("public_key_fingerprint")
    shared = ctx.shared_public_keys.get(key, 0) if isinstance(key, str) else 0
    if shared < 2:
        return None
    return Hit(f"{c.name}: its key is in {shared} certificates",
               {"reason": "shared_public_key", "public_key_fingerprint": key,
                "certificates": shared})  # fmt: skip


RULES = (
    Rule(RuleInfo(
        RuleId.WEAK_KEY, Severity.HIGH, "Weak key",
        "RSA below `min_rsa_bits` (default 2048), EC below `min_ec_bits` (default 256), or "
        "any DSA key: within reach of factoring or discrete-log attacks, refused by clients.",
        "Generate a new key (RSA 3072+, EC P-256+ or Ed25519), reissue, and revoke the old.",
    ), _weak_key),
    Rule(RuleInfo(
        RuleId.WEAK_SIGNATURE, Severity.HIGH, "Weak signature algorithm",
        "Signed with SHA-1 or MD5, for which collisions are practical: a forged certificate "
        "with the same signature can be made.",
        "Reissue with a SHA-256 (or stronger) signature.",
    ), _weak_signature),
    Rule(RuleInfo(
        RuleId.SELF_SIGNED, Severity.MEDIUM, "Self-signed leaf certificate",
        "A leaf certificate that signs itself outside an environment where that is allowed "
        "(by default `dev`): clients either fail or were told to skip verification.",
        "Issue it from a Tessera CA (or another trusted CA) and deploy the chain.",
    ), _self_signed),
    Rule(RuleInfo(
        RuleId.WILDCARD, Severity.LOW, "Wildcard certificate",
        "A `*.` name covers every host of a domain: one stolen key impersonates them all.",
        "Prefer certificates naming each host; keep wildcard keys on few, hardened hosts.",
    ), _wildcard),
    Rule(RuleInfo(
        RuleId.UNENCRYPTED_KEY, Severity.HIGH, "Unencrypted private key on disk",
        "A private key file readable without a passphrase: anyone with the file has the key.",
        "Encrypt the file (PKCS#8 with a passphrase), move the key to an HSM or agent, or "
        "restrict and monitor it; rotate the key if the file was exposed.",
    ), _unencrypted),
    Rule(RuleInfo(
        RuleId.DUPLICATE_KEY, Severity.MEDIUM, "Key reused in several places",
        "One private key copied to several places, or one public key behind several "
        "certificates: a compromise anywhere compromises every use.",
        "Give each host and certificate its own key; remove the extra copies.",
    ), _duplicate),
)  # fmt: skip
