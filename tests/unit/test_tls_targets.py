"""TLS scan targets (parsing, expansion, limits) and the RFC 9525 / 6125 hostname rules."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tessera.core.errors import InvalidRequest
from tessera.discovery.tls_checks import Trust, load_trust, matches_hostname
from tessera.discovery.tls_targets import (
    Endpoint,
    expand_targets,
    parse_ports,
    read_targets,
)

E = Endpoint


@pytest.mark.parametrize(
    ("target", "endpoints"),
    [
        ("example.com:8443", [E("example.com", 8443, "example.com")]),
        (
            "Example.COM.",
            [E("example.com", 443, "example.com"), E("example.com", 8443, "example.com")],
        ),
        ("10.1.2.3:443", [E("10.1.2.3", 443)]),
        ("10.1.2.3", [E("10.1.2.3", 443), E("10.1.2.3", 8443)]),
        ("[2001:db8::1]:443", [E("2001:db8::1", 443)]),
        ("[2001:db8::1]", [E("2001:db8::1", 443), E("2001:db8::1", 8443)]),
        ("2001:db8::1", [E("2001:db8::1", 443), E("2001:db8::1", 8443)]),
        ("api.test@10.0.0.1:443", [E("10.0.0.1", 443, "api.test")]),
        ("api.test@[::1]:5", [E("::1", 5, "api.test")]),
        ("10.0.0.0/30:443", [E("10.0.0.1", 443), E("10.0.0.2", 443)]),
        ("10.0.0.7/31:443", [E("10.0.0.6", 443), E("10.0.0.7", 443)]),
        ("10.0.0.9/32:443", [E("10.0.0.9", 443)]),
        ("[2001:db8::/127]:443", [E("2001:db8::", 443), E("2001:db8::1", 443)]),
        ("[2001:db8::/126]:443", [E(f"2001:db8::{i}", 443) for i in (1, 2, 3)]),
    ],
)
def test_targets_expand(target: str, endpoints: list[Endpoint]) -> None:
    assert expand_targets([target], ports=(443, 8443)) == endpoints


def test_cidr_uses_the_port_list_and_sni_names_multiply() -> None:
    got = expand_targets(["192.0.2.0/30", "web.test"], ports=(1, 2), sni_names=["a.test", "b.test"])
    hosts_ports = [(e.host, e.port) for e in got]
    assert hosts_ports == [(h, p) for h in ("192.0.2.1", "192.0.2.2", "web.test") for p in (1, 2)
                           for _ in range(2)]  # fmt: skip
    assert {e.sni for e in got} == {"a.test", "b.test"}
    assert len(got) == len(set(got)) == 12


def test_duplicates_keep_first_order_and_labels_show_a_differing_sni() -> None:
    got = expand_targets(["10.0.0.2:1", "10.0.0.0/30:1", "x.test@10.0.0.2:1", "h.test:1"])
    assert [e.label for e in got] == ["10.0.0.2:1", "10.0.0.1:1", "10.0.0.2:1#x.test", "h.test:1"]
    assert E("::1", 443, "::1").label == "[::1]:443"
    assert E("::1", 443, "n.test").address == "[::1]:443"


@pytest.mark.parametrize(
    ("targets", "fragment"),
    [
        (["ok.test", "bad host!", "[::1"], "bad targets: 'bad host!' (not a host name"),
        (["[::1"], "'[::1' (missing ']')"),
        (["host:0"], "bad port '0'"),
        (["host:http"], "bad port 'http'"),
        (["[10.0.0.1]:443"], "brackets are for IPv6"),
        (["[::1]443"], "expected ':port' after ']'"),
        (["300.1.1.1"], "not an IP address or CIDR range"),
        (["10.0.0.0/33"], "not an IP address or CIDR range"),
        (["bad_sni!@10.0.0.1:1"], "bad server name 'bad_sni!'"),
        (["a" * 64 + ".test"], "not a host name"),
        ([""], "'' (empty)"),
        ([], "no targets given"),
    ],
)
def test_bad_targets_are_listed(targets: list[str], fragment: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        expand_targets(targets)
    assert fragment in info.value.detail


def test_many_bad_targets_are_summarised() -> None:
    with pytest.raises(InvalidRequest) as info:
        expand_targets([f"bad{i}!" for i in range(15)])
    assert "'bad9!'" in info.value.detail and "'bad10!'" not in info.value.detail
    assert info.value.detail.endswith("and 5 more")


def test_range_limit_counts_addresses_ports_and_names() -> None:
    assert len(expand_targets(["10.0.0.0/24"], ports=(1, 2), limit=512)) == 508
    with pytest.raises(InvalidRequest, match="514 endpoints, more than the limit of 512"):
        expand_targets(["10.0.0.0/24", "one.test"], ports=(1, 2), limit=512)
    with pytest.raises(InvalidRequest, match="more than the limit of 65,536"):
        expand_targets(["[2001:db8::/64]:443"])
    with pytest.raises(InvalidRequest, match="1,024 endpoints"):
        expand_targets(["10.0.0.0/24"], ports=(1, 2), sni_names=["a.t", "b.t"], limit=1000)


def test_bad_sni_option() -> None:
    with pytest.raises(InvalidRequest, match=r"bad server name '10\.0\.0\.1!'"):
        expand_targets(["h.test"], sni_names=["10.0.0.1!"])


@pytest.mark.parametrize(
    ("text", "ports"),
    [("443", (443,)), ("8443, 443,443", (443, 8443)), ("8000-8002,1", (1, 8000, 8001, 8002))],
)
def test_parse_ports(text: str, ports: tuple[int, ...]) -> None:
    assert parse_ports(text) == ports


@pytest.mark.parametrize("text", ["", "0", "65536", "a", "9-3", "1,,2", "-5"])
def test_parse_ports_refuses(text: str) -> None:
    with pytest.raises(InvalidRequest, match="bad port list"):
        parse_ports(text)


def test_read_targets_skips_comments_and_blanks() -> None:
    lines = ["# header", "", "  a.test:1  ", "b.test # trailing", "   # indented"]
    assert read_targets(lines) == ["a.test:1", "b.test"]


# -- hostname matching ---------------------------------------------------------------------------
_KEY = ec.generate_private_key(ec.SECP256R1())


def cert(*sans: x509.GeneralName, cn: str = "cn.test", ca: bool = False) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.now(UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(_KEY.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return b.sign(_KEY, hashes.SHA256())


D = x509.DNSName


@pytest.mark.parametrize(
    ("name", "san", "match"),
    [
        ("www.example.test", "www.example.test", True),
        ("WWW.Example.Test.", "www.example.test", True),
        ("www.example.test", "*.example.test", True),
        ("a.b.example.test", "*.example.test", False),  # one label only
        ("example.test", "*.example.test", False),
        ("www.test", "*.test", False),  # never over a single label
        ("foo.example.test", "f*.example.test", False),  # no partial wildcards
        ("www.example.test", "www.*.test", False),
        ("www.example.test", "*.*.test", False),
        ("www.example.test", "other.test", False),
        ("10.0.0.1", "*.0.0.1", False),
    ],
)
def test_dns_names(name: str, san: str, match: bool) -> None:
    assert matches_hostname(name, cert(D(san))) is match


def test_ip_names_match_ip_sans_only_and_cn_is_never_used() -> None:
    ip_cert = cert(x509.IPAddress(ipaddress.ip_address("10.0.0.1")), D("10.0.0.2"))
    assert matches_hostname("10.0.0.1", ip_cert)
    assert not matches_hostname("10.0.0.2", ip_cert)  # a DNS SAN is no IP SAN
    assert matches_hostname("::1", cert(x509.IPAddress(ipaddress.ip_address("::1"))))
    assert not matches_hostname("cn.test", cert(cn="cn.test"))
    assert not matches_hostname("cn.test", cert(D("other.test"), cn="cn.test"))


def test_load_trust_splits_roots_from_intermediates(tmp_path: Path) -> None:
    root = cert(cn="root", ca=True)
    other_key = ec.generate_private_key(ec.SECP256R1())
    inter = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "inter")]))
        .issuer_name(root.subject)
        .public_key(other_key.public_key())
        .serial_number(2)
        .not_valid_before(root.not_valid_before_utc)
        .not_valid_after(root.not_valid_after_utc)
        .sign(_KEY, hashes.SHA256())
    )
    bundle = tmp_path / "ca.pem"
    pems = [c.public_bytes(serialization.Encoding.PEM) for c in (root, inter, root)]
    bundle.write_bytes(b"".join(pems))
    trust = load_trust([bundle], use_system=False)
    assert trust == Trust((root,), (inter,))
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(InvalidRequest, match="holds no readable PEM certificate"):
        load_trust([tmp_path / "junk.pem"], use_system=False)
    with pytest.raises(InvalidRequest, match="cannot read CA file"):
        load_trust([tmp_path / "missing.pem"], use_system=False)
