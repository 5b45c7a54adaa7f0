"""The digest as plain text (SNS email) and as HTML with an inline SVG trend chart (SES, archive)."""

from __future__ import annotations

from html import escape

from functions.send_digest.model import Digest, TrendDay

CHART_WIDTH = 420
CHART_HEIGHT = 150
CHART_PLOT_TOP = 18
CHART_PLOT_BOTTOM = 120  # bars stand on this line; day labels sit below it
MODERATED_COLOUR = "#9aa5b1"
FLAGGED_COLOUR = "#d64545"


def _hours(duration_ms: int) -> str:
    return f"{duration_ms / 3_600_000:.1f} h"


def _summary_line(digest: Digest) -> str:
    t = digest.totals
    return (
        f"{t.videos} videos reached an outcome: {t.moderated} moderated ({t.flagged} flagged), "
        f"{t.failed} failed, {t.skipped} skipped; {_hours(t.moderated_duration_ms)} of video moderated."
    )


def _more_flagged(digest: Digest) -> int:
    return max(digest.totals.flagged - len(digest.top_flagged), 0)


def _title(digest: Digest) -> str:
    return f"modlake {digest.stage}: daily digest for {digest.day.isoformat()} ({digest.timezone})"


def render_text(digest: Digest) -> str:
    """The plain-text digest: what an SNS email subscriber reads."""
    lines = [_title(digest), "", _summary_line(digest), ""]
    if digest.nothing_flagged:
        lines += ["Nothing was flagged.", ""]
    else:
        lines.append("Flagged by top-level category (flagged videos / videos detected in):")
        width = max(len(c.category) for c in digest.categories) if digest.categories else 0
        lines += [
            f"  {c.category:<{width}}  {c.flagged_videos} / {c.detected_videos}"
            for c in digest.categories
            if c.flagged_videos
        ]
        lines += ["", "Most severe flagged videos:"]
        for rank, video in enumerate(digest.top_flagged, start=1):
            lines += [
                f"  {rank}. {video.max_confidence:.1f}%  first flagged at {video.first_flagged_at}  "
                f"{video.flagged_categories}",
                f"     {video.s3_uri}",
                f"     {video.console_url(digest.region)}",
            ]
        if more := _more_flagged(digest):
            lines.append(f"  … and {more} more: run the flagged_videos_for_day named query in Athena.")
        lines.append("")
    lines.append("Last 7 days (moderated / flagged / failed / skipped):")
    lines += [
        f"  {d.day.isoformat()} {d.day.strftime('%a')}  {d.moderated} / {d.flagged} / {d.failed} / {d.skipped}"
        for d in digest.trend
    ]
    return "\n".join(lines) + "\n"


def trend_svg(trend: tuple[TrendDay, ...]) -> str:
    """A small bar chart: moderated (grey) and flagged (red) videos per day; XML that email clients inline."""
    peak = max((day.moderated for day in trend), default=0) or 1
    plot_height = CHART_PLOT_BOTTOM - CHART_PLOT_TOP
    slot = CHART_WIDTH / max(len(trend), 1)
    bar = slot * 0.35
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" height="{CHART_HEIGHT}" '
        f'viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" role="img" '
        f'aria-label="Moderated and flagged videos over the last {len(trend)} days">',
        f'<line x1="0" y1="{CHART_PLOT_BOTTOM}" x2="{CHART_WIDTH}" y2="{CHART_PLOT_BOTTOM}" stroke="#52606d"/>',
    ]
    for index, day in enumerate(trend):
        left = index * slot + slot * 0.12
        for offset, kind, value, colour in (
            (0.0, "moderated", day.moderated, MODERATED_COLOUR),
            (bar, "flagged", day.flagged, FLAGGED_COLOUR),
        ):
            height = round(plot_height * value / peak, 1)
            parts.append(
                f'<rect class="bar {kind}" data-day="{day.day.isoformat()}" data-value="{value}" '
                f'x="{left + offset:.1f}" y="{CHART_PLOT_BOTTOM - height:.1f}" width="{bar:.1f}" '
                f'height="{height}" fill="{colour}"><title>{day.day.isoformat()}: {value} {kind}</title></rect>'
            )
        parts.append(
            f'<text x="{left + bar:.1f}" y="{CHART_PLOT_BOTTOM + 14}" font-size="11" text-anchor="middle" '
            f'fill="#323f4b">{day.day.strftime("%a %d")}</text>'
        )
        parts.append(
            f'<text x="{left + bar:.1f}" y="{CHART_PLOT_BOTTOM + 28}" font-size="10" text-anchor="middle" '
            f'fill="{FLAGGED_COLOUR}">{day.flagged}/{day.moderated}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


_CELL = 'style="padding:4px 8px;border-bottom:1px solid #e4e7eb;text-align:left"'


def _row(cells: list[str], header: bool = False) -> str:
    tag = "th" if header else "td"
    return "<tr>" + "".join(f"<{tag} {_CELL}>{cell}</{tag}>" for cell in cells) + "</tr>"


def render_html(digest: Digest) -> str:
    """The HTML digest (well-formed XHTML, inline styles only) with the 7-day chart as inline SVG."""
    t = digest.totals
    body = [
        f'<h1 style="font-size:20px">{escape(_title(digest))}</h1>',
        '<table class="totals" style="border-collapse:collapse">',
        _row(["Videos", "Moderated", "Flagged", "Failed", "Skipped", "Video moderated"], header=True),
        _row(
            [
                str(t.videos),
                str(t.moderated),
                str(t.flagged),
                str(t.failed),
                str(t.skipped),
                _hours(t.moderated_duration_ms),
            ]
        ),
        "</table>",
    ]
    if digest.nothing_flagged:
        body.append('<p class="nothing-flagged">Nothing was flagged.</p>')
    else:
        body += [
            '<h2 style="font-size:16px">Flagged by top-level category</h2>',
            '<table class="categories" style="border-collapse:collapse">',
            _row(["Category", "Flagged videos", "Videos detected in"], header=True),
            *(
                _row([escape(c.category), str(c.flagged_videos), str(c.detected_videos)])
                for c in digest.categories
                if c.flagged_videos
            ),
            "</table>",
            '<h2 style="font-size:16px">Most severe flagged videos</h2>',
            '<table class="top-flagged" style="border-collapse:collapse">',
            _row(["Max confidence", "First flagged", "Categories", "Video"], header=True),
        ]
        for video in digest.top_flagged:
            link = escape(video.console_url(digest.region), quote=True)
            body.append(
                _row(
                    [
                        f"{video.max_confidence:.1f}%",
                        video.first_flagged_at,
                        escape(video.flagged_categories),
                        f'<a href="{link}">{escape(video.s3_uri)}</a>',
                    ]
                )
            )
        body.append("</table>")
        if more := _more_flagged(digest):
            body.append(f"<p>… and {more} more: run the <code>flagged_videos_for_day</code> named query in Athena.</p>")
    body += [
        '<h2 style="font-size:16px">Last 7 days: moderated (grey) and flagged (red)</h2>',
        trend_svg(digest.trend),
        # The same numbers as a table: some clients (Gmail among them) do not render inline SVG.
        '<table class="trend" style="border-collapse:collapse;font-size:12px">',
        _row(["Day", "Moderated", "Flagged", "Failed", "Skipped"], header=True),
        *(
            _row([d.day.strftime("%a %Y-%m-%d"), str(d.moderated), str(d.flagged), str(d.failed), str(d.skipped)])
            for d in digest.trend
        ),
        "</table>",
    ]
    return (
        '<!DOCTYPE html>\n<html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head><meta charset="utf-8"/>'
        f"<title>{escape(digest.subject)}</title></head>"
        '<body style="font-family:Helvetica,Arial,sans-serif;color:#1f2933">'
        + "".join(body)
        + f'<p style="color:#7b8794;font-size:12px">{escape(_summary_line(digest))} '
        f"Generated {digest.generated_at.strftime('%Y-%m-%d %H:%M UTC')}.</p></body></html>\n"
    )
