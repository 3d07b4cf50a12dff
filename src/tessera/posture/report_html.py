"""HTML rendering of the posture report: one document with inline CSS and SVG. Everything
interpolated goes through `_e` (html.escape with quotes), numbers through int/float formats."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from tessera.posture.report import Report, ScoredItem, severity_counts

COLORS = {"critical": "#8b0000", "high": "#d9480f", "medium": "#e6a700", "low": "#3b7dd8",
          "info": "#868e96"}  # fmt: skip
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#212529}
h1{margin-bottom:0}h2{margin-top:2rem;border-bottom:1px solid #dee2e6}
.meta{color:#6c757d}.charts{display:flex;flex-wrap:wrap;gap:2rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #e9ecef;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f8f9fa}.sev{font-weight:600}.num{text-align:right}
.critical{color:#8b0000}.high{color:#d9480f}.medium{color:#a07400}.low{color:#3b7dd8}
.info{color:#868e96}svg text{font-size:11px;fill:#343a40}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _when(value: datetime | None) -> str:
    return _e(value.strftime("%Y-%m-%d %H:%M UTC")) if value is not None else "never"


def bar_chart(title: str, bars: Sequence[tuple[str, int, str]], width: int = 560) -> str:
    """A labelled vertical bar chart as inline SVG: (label, value, colour) per bar."""
    height, top, bottom, left = 220, 20, 40, 10
    plot = height - top - bottom
    slot = (width - 2 * left) / max(len(bars), 1)
    peak = max((v for _, v, _ in bars), default=0) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">',
             f"<title>{_e(title)}</title>",
             f'<line x1="{left}" y1="{top + plot}" x2="{width - left}" y2="{top + plot}" '
             'stroke="#adb5bd"/>']  # fmt: skip
    for i, (label, value, colour) in enumerate(bars):
        h = plot * value / peak
        x = left + i * slot + slot * 0.15
        w = slot * 0.7
        y = top + plot - h
        centre = x + w / 2
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
            f'fill="{_e(colour)}"><title>{_e(label)}: {int(value)}</title></rect>'
        )
        parts.append(
            f'<text x="{centre:.1f}" y="{y - 4:.1f}" text-anchor="middle">{int(value)}</text>'
        )
        parts.append(f'<text x="{centre:.1f}" y="{top + plot + 16}" text-anchor="middle">'
                     f"{_e(label)}</text>")  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def _scored_table(items: Sequence[ScoredItem], what: str) -> str:
    if not items:
        return f"<p>No {_e(what)} with open findings.</p>"
    rows = "".join(
        f'<tr><td>{_e(x.name)}</td><td class="num">{x.risk:g}</td>'
        f'<td class="num">{int(x.findings)}</td></tr>'
        for x in items
    )
    return (f"<table><thead><tr><th>{_e(what.capitalize())}</th><th>Risk</th>"
            f"<th>Open findings</th></tr></thead><tbody>{rows}</tbody></table>")  # fmt: skip


def render_html(r: Report) -> str:
    """A complete HTML document; parseable, self-contained, script-free."""
    expiries = [("overdue", r.overdue, "#8b0000")]
    expiries += [(month, n, "#3b7dd8") for month, n in r.expiries]
    severities = [(s, n, COLORS[s]) for s, n in severity_counts(r)]
    rules = "".join(
        f'<tr><td>{_e(x.id)}</td><td class="sev {_e(x.severity)}">{_e(x.severity)}</td>'
        f"<td>{_e(x.title)}<br><small>{_e(x.remediation)}</small></td>"
        f"<td>{_e(', '.join(x.pci_dss))}</td><td>{_e(', '.join(x.nist_800_53))}</td>"
        f'<td class="num">{int(x.open)}</td><td class="num">{int(x.acknowledged)}</td></tr>'
        for x in r.rules
    )
    findings = "".join(
        f'<tr><td class="sev {_e(f.severity)}">{_e(f.severity)}</td>'
        f'<td class="num">{f.risk:g}</td><td>{_e(f.status)}</td><td>{_e(f.rule_id)}</td>'
        f"<td>{_e(f.credential_name or f.credential_id or '-')}</td><td>{_e(f.title)}</td>"
        f"<td>{_when(f.opened_at)}</td></tr>"
        for f in r.findings
    )
    more = ("<p>Only the riskiest findings are listed; use the API or "
            "<code>tessera posture findings list</code> for all.</p>"
            if r.findings_truncated else "")  # fmt: skip
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        "<title>Tessera posture report</title>"
        f"<style>{CSS}</style></head><body>"
        "<h1>Tessera posture report</h1>"
        f'<p class="meta">Generated {_when(r.generated_at)}; last evaluation '
        f"{_when(r.last_evaluated_at)}. Open findings: {int(r.open)}; acknowledged: "
        f"{int(r.acknowledged)}.</p>"
        '<div class="charts"><section><h2>Expiries</h2>'
        f"{bar_chart('Credentials expiring per month (next 12 months) and overdue', expiries)}"
        "</section><section><h2>Open findings by severity</h2>"
        f"{bar_chart('Open findings by severity', severities, 360)}</section></div>"
        "<h2>Riskiest credentials</h2>"
        f"{_scored_table(r.top_credentials, 'credentials')}"
        "<h2>Riskiest identities</h2>"
        f"{_scored_table(r.top_identities, 'identities')}"
        "<h2>Rules and compliance mapping</h2>"
        "<p><small>The PCI DSS v4.0 and NIST SP 800-53 rev. 5 mapping is indicative, not an "
        "assessment.</small></p>"
        "<table><thead><tr><th>Rule</th><th>Severity</th><th>What to do</th><th>PCI DSS</th>"
        "<th>NIST 800-53</th><th>Open</th><th>Ack.</th></tr></thead>"
        f"<tbody>{rules}</tbody></table>"
        "<h2>Findings</h2>"
        "<table><thead><tr><th>Severity</th><th>Risk</th><th>Status</th><th>Rule</th>"
        "<th>Credential</th><th>Finding</th><th>Opened</th></tr></thead>"
        f"<tbody>{findings}</tbody></table>{more}"
        "</body></html>\n"
    )
