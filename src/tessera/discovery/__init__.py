"""Discovery: scanners that find credentials in code, git history, file systems and TLS endpoints.

The scanners are a library that works with no server at all; `tessera scan …` drives them and
can send what they find to the inventory."""
