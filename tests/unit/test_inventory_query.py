"""Inventory queries through the service (no HTTP): every filter alone and combined, search by
name/subject/SAN/fingerprint, keyset paging by id and by expiry, cursors, locations, owners,
export summaries, policy filtering, bad input and the query plans (an index for each filter).
Storage-dependent tests run on SQLite and PostgreSQL (`db_url`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from tessera.app import Container
from tessera.auth.models import CreateTokenRequest, Principal
from tessera.core.clock import FakeClock
from tessera.core.errors import InvalidRequest, NotFound, PermissionDenied
from tessera.core.paging import encode_cursor
from tessera.inventory import repository as repo
from tessera.inventory.models import (
    CreateIdentityRequest,
    CredentialKind,
    CredentialQuery,
    CredentialSort,
    CredentialSource,
    CredentialStatus,
    LocationKind,
    RecordCredential,
    SearchMatch,
    UpdateIdentityRequest,
    key_facts,
    search_names,
)
from tessera.storage.models import CredentialRow
from tests.helpers import make_container, root_principal

Env = tuple[Container, Principal, FakeClock]
X509 = CredentialKind.X509_CERTIFICATE
KEY = CredentialKind.PRIVATE_KEY
DISCOVERED = CredentialSource.DISCOVERED


def _env(tmp_path: Path, url: str | None = None) -> Env:
    clock = FakeClock()
    c, _, token = make_container(tmp_path, url, clock=clock)
    return c, root_principal(c, token), clock


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = _env(tmp_path)
    yield e
    e[0].db.engine.dispose()


@pytest.fixture
def both(tmp_path: Path, db_url: str) -> Iterator[Env]:
    e = _env(tmp_path, db_url)
    yield e
    e[0].db.engine.dispose()


def record(c: Container, fp: str, **kw: Any) -> str:
    fields: dict[str, Any] = {"kind": X509, "fingerprint": fp, "name": fp, "source": DISCOVERED}
    fields.update(kw)
    with c.db.session(write=True) as s:
        return c.inventory.record(s, RecordCredential(**fields))


def ids(e: Env, **kw: Any) -> set[str]:
    """Every id the query finds, following cursors to the end."""
    c, root, _ = e
    query, found = CredentialQuery(limit=7, **kw), set()
    while True:
        page = c.inventory.list_credentials(root, query)
        assert not found & {x.id for x in page.items}, "a page repeated an item"
        found |= {x.id for x in page.items}
        if page.next_cursor is None:
            return found
        query = replace(query, cursor=page.next_cursor)


def cert(cn: str, sans: list[str], key: str = "rsa", bits: int = 2048, sig: str = "") -> Any:
    return {
        "subject": f"CN={cn},O=Acme\\, Inc.",
        "sans": sans,
        "key_type": key,
        "key_bits": bits,
        "signature_algorithm": sig or "rsa-with-sha256",
    }


def seed(e: Env) -> dict[str, str]:
    """A small estate: two identities in two environments, certificates and keys of several
    families, expired, expiring, revoked and long-lived ones."""
    c, root, clock = e
    now = clock.now()
    inv = c.inventory
    inv.create_identity(root, CreateIdentityRequest("web", "team-web", environment="prod"))
    inv.create_identity(
        root, CreateIdentityRequest("batch", "team-data", environment="dev", labels={"tier": "1"})
    )
    web_id = inv.get_identity(root, "web").id
    batch_id = inv.get_identity(root, "batch").id
    days = timedelta(days=1)
    out = {
        "web": record(
            c, "aa01", name="web.example.com", source=CredentialSource.MANAGED,
            identity_id=web_id, owner="team-web", not_after=now + 10 * days,
            attributes=cert("web.example.com", ["web.example.com", "www.example.com"]),
        ),
        "api": record(
            c, "aa02", name="api.example.com", identity_id=web_id, owner="team-web",
            not_after=now + 200 * days,
            attributes=cert("API.Example.COM", ["DNS:api.example.com"], "EC secp256r1", 256,
                            "sha256WithRSAEncryption"),
        ),
        "old": record(
            c, "bb03", name="legacy", identity_id=batch_id, owner="team-data",
            not_after=now - 5 * days,
            attributes=cert("legacy.internal", [], "RSA", 1024, "sha1WithRSAEncryption"),
        ),
        "ed": record(
            c, "bb04", name="edge", identity_id=batch_id, owner="team-data",
            not_after=now + 20 * days,
            attributes=cert("edge.example.org", [], "ed25519", 256, "ed25519"),
        ),
        "key": record(
            c, "cc05", kind=KEY, name="id_rsa", owner="team-data",
            attributes={"key_type": "rsa", "key_size": 4096, "unencrypted": True},
        ),
        "ssh": record(
            c, "cc06", kind=CredentialKind.SSH_KEY, name="deploy",
            attributes={"ssh_key_type": "ssh-ed25519"},
        ),
    }  # fmt: skip
    with c.db.session(write=True) as s:
        inv.set_status(s, [(X509.value, "bb04")], CredentialStatus.REVOKED, now)
    return out


# -- filters ---------------------------------------------------------------------------------
def test_every_filter_alone_and_combined(both: Env) -> None:
    c, root, _ = both
    s = seed(both)
    everything = ids(both)
    assert set(s.values()) < everything  # and the root token's own row
    assert ids(both, kind=X509) == {s["web"], s["api"], s["old"], s["ed"]}
    assert ids(both, source=CredentialSource.MANAGED) == everything - set(s.values()) | {s["web"]}
    assert ids(both, owner="team-data") == {s["old"], s["ed"], s["key"]}
    assert ids(both, identity="web") == {s["web"], s["api"]}
    assert ids(both, identity="nobody") == set()
    assert ids(both, status=CredentialStatus.REVOKED) == {s["ed"]}
    assert ids(both, status=CredentialStatus.EXPIRED) == {s["old"]}
    assert ids(both, expiring_within=timedelta(days=30)) == {s["web"]}  # revoked one is not
    assert ids(both, environment="prod") == {s["web"], s["api"]}
    assert ids(both, environment="dev") == {s["old"], s["ed"]}
    assert ids(both, label=("tier", "1")) == {s["old"], s["ed"]}
    assert ids(both, label=("tier", "2")) == set()
    assert ids(both, key_type="rsa") == {s["web"], s["old"], s["key"]}
    assert ids(both, key_type="EC") == {s["api"]}
    assert ids(both, key_type="ed25519") == {s["ed"], s["ssh"]}
    assert ids(both, key_type="rsa", key_bits=1024) == {s["old"]}
    assert ids(both, key_bits=4096) == {s["key"]}
    # one algorithm, however a scanner spelled it
    assert ids(both, signature_algorithm="rsa-with-sha256") == {s["web"], s["api"]}
    assert ids(both, signature_algorithm="RSA_WITH_SHA1") == {s["old"]}
    assert ids(both, kind=X509, owner="team-web", key_type="ec", environment="prod") == {s["api"]}
    assert ids(both, kind=KEY, environment="prod") == set()
    assert ids(both, q="aa", kind=X509, status=CredentialStatus.ACTIVE) == {s["web"], s["api"]}
    # the indexed columns hold the normalised facts; the attributes stay as recorded
    got = c.inventory.get_credential(root, s["api"])
    assert (got.key_type, got.key_bits, got.signature_algorithm) == ("ec", 256, "rsa-with-sha256")
    assert got.attributes["key_type"] == "EC secp256r1"


def test_search_by_name_subject_san_fingerprint_and_principal(both: Env) -> None:
    s = seed(both)
    assert ids(both, q="WEB.EXAMPLE.COM", match=SearchMatch.EXACT) == {s["web"]}
    assert ids(both, q="www.") == {s["web"]}  # a SAN only
    assert ids(both, q="api.example.com", match=SearchMatch.EXACT) == {s["api"]}  # "DNS:" gone
    assert ids(both, q="legacy.internal", match=SearchMatch.EXACT) == {s["old"]}  # subject CN
    assert ids(both, q="cn=edge.example.org,o=acme") == {s["ed"]}  # the whole subject
    assert ids(both, q="aa0") == {s["web"], s["api"]}  # fingerprint prefix
    assert ids(both, q="aa0", match=SearchMatch.EXACT) == set()
    assert ids(both, q="example.") == set()  # a prefix, not a substring
    c, _, _ = both
    ssh = record(c, "dd07", kind=CredentialKind.SSH_CERTIFICATE, attributes={"principals": ["Ops"]})
    assert ids(both, q="ops", match=SearchMatch.EXACT) == {ssh}
    # a prefix ending in punctuation is a range in byte order, on PostgreSQL as on SQLite
    dash = record(c, "dd08", name="web-a.example.net")
    assert ids(both, q="web-") == {dash}


def test_search_names_and_key_facts_of_each_domain() -> None:
    rec = RecordCredential(
        X509, "ABCD", "Name", DISCOVERED,
        attributes={
            "subject": "CN=a\\,b,CN=Second", "subject_cn": "X",
            "sans": ["DNS:Y", "IP:10.0.0.1", "email:m@x"],
        },
    )  # fmt: skip
    assert search_names(rec) == {
        "name", "abcd", "cn=a\\,b,cn=second", "a,b", "second", "x", "y", "10.0.0.1", "m@x",
    }  # fmt: skip
    many = RecordCredential(
        X509, "f", "n", DISCOVERED, attributes={"sans": [f"h{i}" for i in range(500)]}
    )
    assert len(search_names(many)) == 100
    scanned = {
        "key_type": "RSA",
        "key_size": 2048,
        "signature_algorithm": "sha256WithRSAEncryption",
    }
    assert key_facts(scanned).__dict__ == {
        "key_type": "rsa", "key_bits": 2048, "signature_algorithm": "rsa-with-sha256",
    }  # fmt: skip
    assert key_facts({"ssh_key_type": "ecdsa-sha2-nistp256", "key_bits": True}).key_type == "ec"
    assert key_facts({"key_bits": True, "key_type": 5}).__dict__ == {
        "key_type": None, "key_bits": None, "signature_algorithm": None,
    }  # fmt: skip


def test_identity_labels_follow_updates(env: Env) -> None:
    c, root, _ = env
    s = seed(env)
    c.inventory.update_identity(root, "batch", UpdateIdentityRequest(labels={"tier": "2"}))
    assert ids(env, label=("tier", "1")) == set()
    assert ids(env, label=("tier", "2")) == {s["old"], s["ed"]}


# -- paging -------------------------------------------------------------------------------------
def test_keyset_paging_by_id_and_by_expiry(both: Env) -> None:
    c, root, clock = both
    now = clock.now()
    made = [
        record(c, f"p{i:02d}", not_after=None if i % 5 == 0 else now + timedelta(hours=i * 7 % 11))
        for i in range(23)
    ]  # fmt: skip
    base = CredentialQuery(source=DISCOVERED, limit=4)
    for sort in CredentialSort:
        seen, query = [], replace(base, sort=sort)
        while True:
            page = c.inventory.list_credentials(root, query)
            seen += page.items
            if page.next_cursor is None:
                break
            query = replace(query, cursor=page.next_cursor)
        assert sorted(x.id for x in seen) == sorted(made) and len(seen) == 23
        if sort is CredentialSort.ID:
            assert [x.id for x in seen] == sorted(made)
        else:  # soonest first, ties by id, then the ones that never expire, by id
            dated = [x for x in seen if x.not_after is not None]
            assert [(x.not_after, x.id) for x in dated] == sorted(
                (x.not_after, x.id) for x in dated
            )
            rest = seen[len(dated) :]
            assert [x.not_after for x in rest] == [None] * 5
            assert [x.id for x in rest] == sorted(x.id for x in rest)
    # a cursor belongs to its sort order and is refused, not misread, in the other
    first = c.inventory.list_credentials(root, replace(base, sort=CredentialSort.EXPIRY))
    assert first.next_cursor is not None
    with pytest.raises(InvalidRequest, match="cursor"):
        c.inventory.list_credentials(root, replace(base, cursor=first.next_cursor))
    for bad in ("%%%", "x" * 300, encode_cursor("e12z"), encode_cursor("lower"), "AAAA"):
        for sort in CredentialSort:
            with pytest.raises(InvalidRequest, match="cursor"):
                c.inventory.list_credentials(root, replace(base, cursor=bad, sort=sort))


def test_expiry_cursor_survives_dates_before_1970(env: Env) -> None:
    c, root, _ = env
    early = record(c, "e1", not_after=datetime(1960, 1, 1, tzinfo=FakeClock().now().tzinfo))
    late = record(c, "e2", not_after=datetime(1961, 1, 1, tzinfo=FakeClock().now().tzinfo))
    q = CredentialQuery(source=DISCOVERED, sort=CredentialSort.EXPIRY, limit=1)
    page = c.inventory.list_credentials(root, q)
    assert [x.id for x in page.items] == [early] and page.next_cursor
    page = c.inventory.list_credentials(root, replace(q, cursor=page.next_cursor))
    assert [x.id for x in page.items] == [late]


# -- locations, owner, export, policy ---------------------------------------------------------
def test_one_credential_in_three_places_is_one_row_with_three_locations(env: Env) -> None:
    c, root, clock = env
    places = ["/etc/a.pem:1", "/srv/b.pem:3", "/home/c.pem:9"]
    first = {record(c, "f0", location=(LocationKind.FILE, p)) for p in places}
    clock.advance(3600)
    again = record(c, "f0", location=(LocationKind.FILE, places[1]))  # seen again later
    assert first == {again}
    got = c.inventory.get_credential(root, again)
    assert [loc.location for loc in got.locations] == places
    later = clock.now()
    assert [loc.last_seen_at == later for loc in got.locations] == [False, True, False]
    assert all(loc.first_seen_at == later - timedelta(hours=1) for loc in got.locations)
    (summary,) = list(c.inventory.export(root, CredentialQuery(q="f0")))
    assert (summary.location_count, summary.last_seen_at) == (3, later)
    assert summary.first_seen_at == later - timedelta(hours=1)
    with c.db.session(write=True) as s:  # a failed create's row goes with its names
        c.inventory.delete_credential(s, X509.value, "f0")
    assert ids(env, q="f0") == set()


def test_set_owner_validates_and_needs_update_on_the_credential(env: Env) -> None:
    c, root, _ = env
    s = seed(env)
    changed = c.inventory.set_credential_owner(root, s["ssh"], "  team-ops ")
    assert changed.owner == "team-ops"
    assert ids(env, owner="team-ops") == {s["ssh"]}
    for bad in ("", "   ", "a\x00b", "x" * 256, "\u202eevil"):
        with pytest.raises(InvalidRequest, match="owner"):
            c.inventory.set_credential_owner(root, s["ssh"], bad)
    for missing in ("01ZZZZZZZZZZZZZZZZZZZZZZZZ", "../x", "a" * 40):
        with pytest.raises(NotFound):
            c.inventory.set_credential_owner(root, missing, "team-ops")
    reader = _token(c, root, [{"path": "inventory/credentials/*", "capabilities": ["read"]}])
    with pytest.raises(PermissionDenied):
        c.inventory.set_credential_owner(reader, s["ssh"], "team-x")
    assert c.inventory.get_credential(root, s["ssh"]).owner == "team-ops"


def test_listing_and_export_leave_out_what_the_caller_may_not_read(env: Env) -> None:
    c, root, _ = env
    s = seed(env)
    rules = [
        {"path": "inventory/credentials", "capabilities": ["list"]},
        {"path": f"inventory/credentials/{s['web']}", "capabilities": ["read"]},
        {"path": f"inventory/credentials/{s['old']}", "capabilities": ["read"]},
    ]
    p = _token(c, root, rules)
    listed = c.inventory.list_credentials(p, CredentialQuery(kind=X509))
    assert {x.id for x in listed.items} == {s["web"], s["old"]}
    exported = {x.credential.id: x for x in c.inventory.export(p, CredentialQuery())}
    assert set(exported) == {s["web"], s["old"]}
    assert (exported[s["web"]].identity_name, exported[s["web"]].environment) == ("web", "prod")
    nothing = _token(c, root, [{"path": "inventory/credentials/*", "capabilities": ["read"]}])
    with pytest.raises(PermissionDenied):
        c.inventory.list_credentials(nothing, CredentialQuery())
    with pytest.raises(PermissionDenied):
        c.inventory.export(nothing, CredentialQuery())


def test_export_reads_in_batches_past_the_batch_size(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    c, root, clock = env
    monkeypatch.setattr("tessera.inventory.service.EXPORT_BATCH", 3)
    made = {record(c, f"b{i}", not_after=None if i % 2 else clock.now()) for i in range(10)}
    for sort in CredentialSort:
        got = [
            x.credential.id
            for x in c.inventory.export(root, CredentialQuery(source=DISCOVERED, sort=sort))
        ]
        assert sorted(got) == sorted(made)


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"key_type": "rsa-ish"}, "key_type"),
        ({"key_bits": 0}, "key_bits"),
        ({"key_bits": 70000}, "key_bits"),
        ({"signature_algorithm": "md6-with-magic"}, "signature_algorithm"),
        ({"q": "x" * 256}, "q"),
        ({"q": "  "}, "q"),
        ({"q": "a\x00"}, "q"),
        ({"label": ("bad key!", "v")}, "label"),
        ({"environment": "pro d"}, "environment"),
        ({"identity": "a/b"}, "identity"),
        ({"owner": "x" * 300}, "owner"),
        ({"expiring_within": timedelta(0)}, "expiring_within"),
    ],
)
def test_bad_filter_values_name_the_field(fields: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidRequest, match=named):
        CredentialQuery(**fields)


def test_limit_bounds(env: Env) -> None:
    c, root, _ = env
    for limit in (0, -1, 1001):
        with pytest.raises(InvalidRequest, match="limit"):
            c.inventory.list_credentials(root, CredentialQuery(limit=limit))


# -- plans ---------------------------------------------------------------------------------
PLANNED = [
    {},
    {"kind": X509},
    {"kind": X509, "expiring_within": timedelta(days=30)},
    {"kind": X509, "sort": CredentialSort.EXPIRY},
    {"status": CredentialStatus.EXPIRED},
    {"owner": "team-data"},
    {"identity": "web", "kind": X509},
    {"source": DISCOVERED, "status": CredentialStatus.ACTIVE},
    {"environment": "prod"},
    {"label": ("tier", "1")},
    {"key_type": "rsa", "key_bits": 1024},
    {"signature_algorithm": "rsa-with-sha1"},
    {"q": "web"},
    {"q": "web", "kind": X509},
]


def test_each_common_filter_is_served_by_an_index(both: Env) -> None:
    """No plan reads the credentials table in full (PostgreSQL: with sequential scans priced
    out, which fails only when no index can serve the query)."""
    c, _, clock = both
    seed(both)
    for fields in PLANNED:
        query = CredentialQuery(**fields)
        stmt = select(CredentialRow).where(*repo.credential_filters(query, clock.now()))
        order = (
            (CredentialRow.not_after, CredentialRow.id)
            if query.sort is CredentialSort.EXPIRY
            else (CredentialRow.id,)
        )
        sql = (
            stmt.order_by(*order)
            .limit(101)
            .compile(c.db.engine, compile_kwargs={"literal_binds": True})
        )
        with c.db.engine.connect() as conn:
            if c.db.is_sqlite:
                plan = " | ".join(r[-1] for r in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
                scans = [p for p in plan.split(" | ") if p.startswith("SCAN ") and "USING" not in p]
                assert not scans, (fields, plan)
            else:
                conn.execute(text("SET enable_seqscan = off"))
                plan = " | ".join(r[0] for r in conn.execute(text(f"EXPLAIN {sql}")))
                assert "Seq Scan" not in plan, (fields, plan)


def _token(c: Container, root: Principal, rules: list[dict[str, Any]]) -> Principal:
    name = f"p{len(rules)}-{abs(hash(str(rules))) % 10**6}"
    c.policies.write(root, name, {"rules": rules})
    return c.tokens.authenticate(c.tokens.create(root, CreateTokenRequest(policies=(name,))).token)
