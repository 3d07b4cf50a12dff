"""What the benchmark sends: endpoints, request modes, the bench policy, and the record types
shared by the load generators.

Contract: constants and plain dataclasses only, no I/O. `MODES` maps a mode name ("read",
"read-db", "write") to the (method, path) of one request; `POLICY` is what the bench token
holds (written over HTTP by `server.make_bench_token` and in-process by `inproc`). A load run
is described by a `LoadSpec`; each generator (`wrk.run_wrk`, `http_load.run_python`) returns
a `LoadResultInput`, which `http_load` turns into a `LoadResult` by adding CPU accounting.
"""

from __future__ import annotations

from dataclasses import dataclass

READ_PATH = "/v1/auth/token/lookup-self"
WRITE_PATH = "/v1/identities"
SEED_IDENTITY = "bench-seed"
READ_DB_PATH = f"{WRITE_PATH}/{SEED_IDENTITY}"
# mode -> (method, path) of what one request sends
MODES = {
    "read": ("GET", READ_PATH),
    "read-db": ("GET", READ_DB_PATH),
    "write": ("POST", WRITE_PATH),
}
POLICY_NAME = "bench"
POLICY = {
    "description": "benchmark token: look itself up and register bench-* identities",
    "rules": [
        {"path": "auth/token/lookup-self", "capabilities": ["read"]},
        {"path": "identities/bench-*", "capabilities": ["create", "read"]},
        {"path": "identities", "capabilities": ["list"]},
    ],
}


@dataclass
class LoadSpec:
    name: str
    mode: str  # a key of MODES
    requests: int
    concurrency: int
    duration: float
    tag: str


@dataclass
class LoadResultInput:
    """What a generator measured, before server CPU accounting is added."""

    name: str
    mode: str
    generator: str
    concurrency: int
    requests: int
    errors: int
    duration_s: float
    p50_us: float
    p99_us: float
    mean_us: float
    max_us: float
    error_samples: list[str]
