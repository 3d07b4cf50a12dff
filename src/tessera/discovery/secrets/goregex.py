"""Translate Go (RE2) regular expressions, as gitleaks configs hold them, into Python `re`.

RE2 and `re` mostly agree. Where they do not: Go lets `(?flags)` appear mid-pattern (it applies
to the rest of the enclosing group), spells end-of-text `\\z`, quotes literals with `\\Q…\\E`,
allows POSIX classes `[[:alpha:]]`, `\\x{HHHH}` and `(?<name>…)`. Those are rewritten. Unicode
classes `\\p{…}`, ungreedy mode `(?U)` and `\\C` have no `re` equivalent: refused."""

from __future__ import annotations

import re
import warnings

_POSIX = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_FLAGS_RE = re.compile(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])")
_NAMED_RE = re.compile(r"\(\?<([A-Za-z_][A-Za-z0-9_]*)>")


class RegexError(ValueError):
    """The pattern cannot be used: `unsupported` when valid Go has no Python equivalent."""

    def __init__(self, message: str, *, unsupported: bool = False) -> None:
        super().__init__(message)
        self.unsupported = unsupported


def compile_go(pattern: str) -> re.Pattern[str]:
    """Compile a Go regex as Python `re`, ASCII classes (RE2's `\\w`, `\\d`, `\\b` are ASCII)."""
    translated = translate(pattern)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FutureWarning on `[[`-like sets we left alone
            return re.compile(translated, re.ASCII)
    except re.error as exc:
        raise RegexError(f"invalid regex: {exc.msg} at position {exc.pos}") from None
    except (OverflowError, RecursionError):
        raise RegexError("regex too large") from None


def translate(pattern: str) -> str:
    """The Python spelling of a Go regex; raises RegexError for constructs `re` cannot express."""
    out: list[str] = []
    frames: list[list[str]] = [[]]  # per open group: scoped flag groups opened by `(?flags)`
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            piece, i = _escape(pattern, i, in_class=False)
            out.append(piece)
        elif c == "[":
            piece, i = _char_class(pattern, i)
            out.append(piece)
        elif c == "(":
            flags = _FLAGS_RE.match(pattern, i)
            named = _NAMED_RE.match(pattern, i)
            if flags:
                on, off, end = flags.group(1), flags.group(2) or "", flags.group(3)
                if set(on + off) - set("imsU"):
                    raise RegexError(f"unknown flag in {flags.group(0)!r}")
                if "U" in on + off:
                    raise RegexError("ungreedy flag (?U) is not supported", unsupported=True)
                spec = on + (f"-{off}" if off else "")
                if end == ":":
                    out.append(f"(?{spec}:" if spec else "(?:")
                    frames.append([])
                elif spec:
                    # Go scopes bare flags to the rest of the group; Python needs a scoped group
                    out.append(f"(?{spec}:")
                    frames[-1].append(spec)
                i = flags.end()
            elif named:
                out.append(f"(?P<{named.group(1)}>")
                frames.append([])
                i = named.end()
            else:
                out.append("(")
                frames.append([])
                i += 1
        elif c == ")":
            out.append(")" * len(frames[-1]) + ")")
            if len(frames) > 1:
                frames.pop()
            i += 1
        elif c == "|":
            pending = frames[-1]
            out.append(")" * len(pending) + "|" + "".join(f"(?{f}:" for f in pending))
            i += 1
        elif c == "{" and pattern.startswith("{,", i):
            out.append("\\{")  # literal in Go; Python would read {,n} as {0,n}
            i += 1
        else:
            out.append(c)
            i += 1
    out.append(")" * len(frames[0]))
    return "".join(out)


def _escape(pattern: str, i: int, *, in_class: bool) -> tuple[str, int]:
    if i + 1 >= len(pattern):
        raise RegexError("trailing backslash")
    c = pattern[i + 1]
    if c == "Q":
        end = pattern.find("\\E", i + 2)
        literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
        quoted = re.escape(literal)
        return quoted, len(pattern) if end < 0 else end + 2
    if c == "E":
        return "", i + 2  # a stray \E is ignored by RE2
    if c == "z":
        return "\\Z", i + 2
    if c == "Z":
        raise RegexError("\\Z is not valid Go regex syntax (use \\z)")
    if c in "pP":
        raise RegexError("Unicode classes \\p{…} are not supported", unsupported=True)
    if c == "C":
        raise RegexError("\\C (any byte) is not supported", unsupported=True)
    if c == "x" and pattern.startswith("{", i + 2):
        end = pattern.find("}", i + 3)
        digits = pattern[i + 3 : end] if end > 0 else ""
        if not re.fullmatch(r"[0-9A-Fa-f]{1,6}", digits) or int(digits, 16) > 0x10FFFF:
            raise RegexError(f"bad \\x{{…}} escape at position {i}")
        return f"\\U{int(digits, 16):08x}", end + 1
    if c.isdigit():
        octal = re.match(r"[0-7]{1,3}", pattern[i + 1 :])
        if c in "89" or (octal and len(octal.group(0)) == 1 and c != "0"):
            raise RegexError("backreferences are not valid Go regex syntax")
        assert octal is not None
        return f"\\x{int(octal.group(0), 8):02x}", i + 1 + len(octal.group(0))
    return pattern[i : i + 2], i + 2


def _char_class(pattern: str, i: int) -> tuple[str, int]:
    out = ["["]
    j = i + 1
    if pattern.startswith("^", j):
        out.append("^")
        j += 1
    if pattern.startswith("]", j):
        out.append("\\]")
        j += 1
    while j < len(pattern):
        c = pattern[j]
        if c == "]":
            out.append("]")
            return "".join(out), j + 1
        if c == "[":
            posix = re.match(r"\[:(\^?)([a-z]+):\]", pattern[j:])
            if posix:
                name = posix.group(2)
                if name not in _POSIX:
                    raise RegexError(f"unknown POSIX class [:{name}:]")
                if posix.group(1):
                    raise RegexError("negated POSIX classes are not supported", unsupported=True)
                out.append(_POSIX[name])
                j += posix.end()
                continue
            out.append("\\[")
            j += 1
        elif c == "\\":
            piece, j = _escape(pattern, j, in_class=True)
            out.append("\\Z" if piece == "\\Z" else piece)
        elif c in "&~|" and pattern.startswith(c * 2, j):
            out.append(f"\\{c}\\{c}")  # Python reserves doubled set operators
            j += 2
        else:
            out.append(c)
            j += 1
    raise RegexError(f"missing closing ] for character class at position {i}")
