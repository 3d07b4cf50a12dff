"""Built-in rules: key material, JWTs, credentials in URLs, generic assignments and Tessera's
own tokens. These run after the provider rules (Tessera's first, generic patterns last): the
earlier rule wins when two report one secret."""

from __future__ import annotations

import base64

from tessera.apikeys import format as apikey_format
from tessera.auth import tokens
from tessera.discovery.secrets.models import Allowlist, Rule, Severity
from tessera.discovery.secrets.ruledef import PLACEHOLDERS, define

CRIT = Severity.CRITICAL
MED = Severity.MEDIUM
LOW = Severity.LOW
EX = "EXAMPLE0"
_BODY = "\n" + "EXAMPLEKEY" * 6 + "\n"
_ASSIGN = r"[\"'`]?\s*(?::=|=>|=|:)\s*[\"'`]?"
_VALUE_END = r"(?=[\"'`\s;,]|\Z)"


class _Zeros:
    """All-zero randomness: yields obviously fake, yet well-formed, Tessera tokens."""

    def token_bytes(self, n: int) -> bytes:
        return bytes(n)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _pem(rule_id: str, label: str, description: str) -> Rule:
    head, foot = f"-----BEGIN {label}-----", f"-----END {label}-----"
    return define(
        rule_id,
        description,
        rf"({head}[\s\S]{{32,16384}}?{foot})",
        (f"begin {label}",),
        head + _BODY + foot,
        head + "\n...\n" + foot,
        severity=CRIT,
    )


def _uri(rule_id: str, schemes: str, keywords: tuple[str, ...], example: str) -> Rule:
    return define(
        rule_id,
        f"Password in a {keywords[0]} connection URL",
        rf"\b(?:{schemes})://[^\s:@/\"'`]*:([^\s@/\"'`]{{3,}})@[A-Za-z0-9._-]+",
        keywords,
        example.replace("PW", "EXAMPLE-s3cret-pw"),
        example.replace("PW", "${DB_PASSWORD}"),
        allowlists=(PLACEHOLDERS,),
    )


_TOKEN = tokens.generate_token(_Zeros())
_API_KEY = apikey_format.generate(_Zeros()).key
_BAD_API_KEY = _API_KEY[:-1] + ("1" if _API_KEY[-1] != "1" else "2")
_BAD_TOKEN = _TOKEN[:-1] + ("1" if _TOKEN[-1] != "1" else "2")

# fmt: off
RULES = (
    define(
        "tessera-token", "Tessera token", r"\b(tsr_[0-9A-Za-z]{49})\b", ("tsr_",),
        "TESSERA_TOKEN=" + _TOKEN, "TESSERA_TOKEN=" + _BAD_TOKEN, severity=CRIT,
        validate=tokens.well_formed,
    ),
    define(
        "tessera-accessor", "Tessera token accessor", r"\b(tacc_[0-9A-Za-z]{22})\b", ("tacc_",),
        "ta" "cc_" + "0" * 22, "tacc_short", severity=LOW,
    ),
    define(
        "tessera-api-key", "Tessera API key", r"\b(tsk_[0-9A-Za-z]{50})\b", ("tsk_",),
        "TESSERA_API_KEY=" + _API_KEY, "TESSERA_API_KEY=" + _BAD_API_KEY, severity=CRIT,
        validate=apikey_format.well_formed,
    ),
    _pem("private-key-rsa", "RSA PRIVATE KEY", "RSA private key (PEM)"),
    _pem("private-key-ec", "EC PRIVATE KEY", "EC private key (PEM)"),
    _pem("private-key-dsa", "DSA PRIVATE KEY", "DSA private key (PEM)"),
    _pem("private-key-pkcs8", "PRIVATE KEY", "PKCS#8 private key (PEM)"),
    _pem("private-key-encrypted", "ENCRYPTED PRIVATE KEY", "Encrypted PKCS#8 private key"),
    _pem("private-key-openssh", "OPENSSH PRIVATE KEY", "OpenSSH private key"),
    _pem("private-key-pgp", "PGP PRIVATE KEY BLOCK", "PGP private key block"),
    define(
        "age-secret-key", "age secret key",
        r"\b(AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})\b", ("age-secret-key-1",),
        "AGE-" "SECRET-KEY-1" + "EXAMPLE" * 8 + "QQ", "AGE-SECRET-KEY-1EXAMPLE", severity=CRIT,
    ),
    define(
        "jwt", "JSON Web Token",
        r"\b(eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})(?![A-Za-z0-9_-])",
        ("eyj",),
        _b64('{"alg":"HS256","typ":"JWT"}') + "." + _b64('{"sub":"example"}') + "." + EX * 2,
        _b64('{"alg":"none"}') + ".short", severity=MED,
    ),
    _uri("postgres-uri-credentials", r"postgres(?:ql)?(?:\+\w+)?", ("postgres",),
         "postgres" "://app:PW@db.example.com:5432/app"),
    _uri("mysql-uri-credentials", r"mysql(?:\+\w+)?|mariadb", ("mysql", "mariadb"),
         "mysql" "://app:PW@db.example.com:3306/app"),
    _uri("mongodb-uri-credentials", r"mongodb(?:\+srv)?", ("mongodb",),
         "mongodb" "+srv://app:PW@cluster0.example.net/app"),
    _uri("redis-uri-credentials", r"rediss?", ("redis",),
         "redis" "://:PW@cache.example.com:6379/0"),
    _uri("amqp-uri-credentials", r"amqps?", ("amqp",),
         "amqp" "://app:PW@mq.example.com:5672/vhost"),
    _uri("generic-uri-credentials", r"[A-Za-z][A-Za-z0-9+.-]{1,30}", ("://",),
         "ftp" "://app:PW@files.example.com/"),
    define(
        "generic-password", "Password assigned in code or configuration",
        r"(?i)(?:password|passwd|pwd|passphrase)"
        r"[A-Za-z0-9_.-]{0,20}" + _ASSIGN + r"(?![:=])([^\s\"'`;,(){}\[\]]{8,128})" + _VALUE_END,
        ("password", "passwd", "pwd", "passphrase"),
        'db_pass' 'word = "FAKE-Xk9vQ2mZ7pL4wR8"', 'password = "changeme"',
        entropy=3.5, severity=MED, allowlists=(PLACEHOLDERS,),
    ),
    define(
        "generic-api-key", "API key, token or secret assigned in code or configuration",
        r"(?i)(?:api[_-]?key|apikey|secret|token|"
        r"private[_-]?key|access[_-]?key|credential)s?[A-Za-z0-9_.-]{0,20}" + _ASSIGN
        + r"(?![:=])([^\s\"'`;,(){}\[\]]{16,256})" + _VALUE_END,
        ("key", "secret", "token", "credential"),
        'api' '_key = "FAKE-Xk9vQ2mZ7pL4wR8tY6"', 'api_key = "your-api-key-goes-here"',
        entropy=3.7, severity=MED,
        allowlists=(PLACEHOLDERS, Allowlist(stopwords=("example.com", "http://", "https://"))),
    ),
)
# fmt: on
