"""The digest as plain text (SNS email) and as HTML with an inline SVG trend chart (SES, archive).

A day without backfill reads as it always did; backfill lines, tags and columns appear only where there was some.
"""

from __future__ import annotations

from datetime import UTC, date
from html import escape

from functions.send_digest.model import CategoryCount, Digest, DigestTotals, TrendDay

CHART_WIDTH = 420
CHART_HEIGHT = 150
CHART_PLOT_TOP = 18
CHART_PLOT_BOTTOM = 120  # bars stand on this line; day labels sit below it
MODERATED_COLOUR = "#9aa5b1"
FLAGGED_COLOUR = "#d64545"
BACKFILL_TAG = "backfill"


def _hours(duration_ms: int) -> str:
    return f"{duration_ms / 3_600_000:.1f} h"


def _outcomes(t: DigestTotals) -> str:
    return (
        f"{t.videos} videos reached an outcome: {t.moderated} moderated ({t.flagged} flagged), "
        f"{t.failed} failed, {t.skipped} skipped; {_hours(t.moderated_duration_ms)} of video moderated."
    )


def _summary_lines(digest: Digest) -> list[str]:
    """The day's outcomes: one line, or one for the uploads and one for the backfill when there was backfill."""
    if not digest.has_backfill:
        return [_outcomes(digest.totals)]
    return [f"Uploads: {_outcomes(digest.totals)}", f"Backfill: {_outcomes(digest.backfill)}"]


def review_text(digest: Digest) -> str | None:
    """'Review: N awaiting a verdict (oldest X h); V verdicts that day, O overturned (P %).' (None: nothing to say)."""
    review = digest.review
    if review.is_empty:
        return None
    parts = []
    if review.awaiting:
        waited = ""
        if review.oldest_awaiting_since is not None and digest.period_end is not None:
            # measured to the day's end, or to now for a day not over yet (today's digest)
            now = digest.generated_at.astimezone(UTC).replace(tzinfo=None)
            hours = max((min(digest.period_end, now) - review.oldest_awaiting_since).total_seconds() / 3600, 0)
            waited = f" (oldest {hours:.0f} h)"
        parts.append(f"{review.awaiting} awaiting a verdict{waited}")
    else:
        parts.append("nothing awaiting a verdict")
    if review.overturn_rate is not None:
        verdicts = f"{review.reviewed} verdict{'' if review.reviewed == 1 else 's'} that day"
        parts.append(f"{verdicts}, {review.overturned} overturned ({review.overturn_rate:.0%})")
    return "Review: " + "; ".join(parts) + "."


def _counted(n: int, what: str) -> str:
    return f"{n} more {what}{'' if n == 1 else 's'}"


def _more_flagged(digest: Digest) -> str | None:
    """'… and N more' for the flagged videos the list leaves out (per source on a day with backfill); None if none."""
    shown_backfill = sum(video.backfill for video in digest.top_flagged)
    more_uploads = max(digest.totals.flagged - (len(digest.top_flagged) - shown_backfill), 0)
    if not digest.has_backfill:
        return f"… and {more_uploads} more" if more_uploads else None
    more_backfill = max(digest.backfill.flagged - shown_backfill, 0)
    parts = [_counted(more_uploads, "upload")] if more_uploads else []
    parts += [_counted(more_backfill, "backfill video")] if more_backfill else []
    return "… and " + " and ".join(parts) if parts else None


def _trend_counts(day: TrendDay) -> str:
    return f"{day.moderated} / {day.flagged} / {day.failed} / {day.skipped}"


def _backfill_days(digest: Digest) -> dict[date, TrendDay]:
    """The trend days on which the backfill reached an outcome for some video."""
    return {d.day: d for d in digest.backfill_trend if d.moderated or d.failed or d.skipped}


def _flagged_categories(categories: tuple[CategoryCount, ...]) -> list[CategoryCount]:
    return [c for c in categories if c.flagged_videos]


def _title(digest: Digest) -> str:
    return f"modlake {digest.stage}: daily digest for {digest.day.isoformat()} ({digest.timezone})"


def render_text(digest: Digest) -> str:
    """The plain-text digest: what an SNS email subscriber reads."""
    review = review_text(digest)
    lines = [_title(digest), "", *_summary_lines(digest), *([review] if review else []), ""]
    if digest.nothing_flagged:
        lines += ["Nothing was flagged.", ""]
    else:
        if digest.totals.flagged:
            what = "Uploads flagged" if digest.has_backfill else "Flagged"
            lines += [f"{what} by top-level category (flagged videos / videos detected in):"]
            lines += _category_lines(digest.categories)
        else:
            lines.append("No upload was flagged.")
        if digest.backfill.flagged:
            lines += ["", "Backfill flagged by top-level category (flagged videos / videos detected in):"]
            lines += _category_lines(digest.backfill_categories)
        lines += ["", "Most severe flagged videos:"]
        for rank, video in enumerate(digest.top_flagged, start=1):
            tag = f"  [{BACKFILL_TAG}]" if video.backfill else ""
            lines += [
                f"  {rank}. {video.max_confidence:.1f}%  first flagged at {video.first_flagged_at}  "
                f"{video.flagged_categories}{tag}",
                f"     {video.s3_uri}",
                f"     {video.console_url(digest.region)}",
            ]
        if more := _more_flagged(digest):
            lines.append(f"  {more}: run the flagged_videos_for_day named query in Athena.")
        lines.append("")
    lines.append("Last 7 days (moderated / flagged / failed / skipped):")
    backfill = _backfill_days(digest)
    for d in digest.trend:
        tail = f"  + {BACKFILL_TAG} {_trend_counts(backfill[d.day])}" if d.day in backfill else ""
        lines.append(f"  {d.day.isoformat()} {d.day.strftime('%a')}  {_trend_counts(d)}{tail}")
    return "\n".join(lines) + "\n"


def _category_lines(categories: tuple[CategoryCount, ...]) -> list[str]:
    width = max(len(c.category) for c in categories) if categories else 0
    return [
        f"  {c.category:<{width}}  {c.flagged_videos} / {c.detected_videos}" for c in _flagged_categories(categories)
    ]


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
_TAG = 'style="background:#fce8c3;color:#8d2b0b;border-radius:3px;padding:0 4px;font-size:11px"'


def _row(cells: list[str], header: bool = False, css_class: str = "") -> str:
    tag = "th" if header else "td"
    opening = f'<tr class="{css_class}">' if css_class else "<tr>"
    return opening + "".join(f"<{tag} {_CELL}>{cell}</{tag}>" for cell in cells) + "</tr>"


def _totals_cells(t: DigestTotals) -> list[str]:
    return [
        str(t.videos),
        str(t.moderated),
        str(t.flagged),
        str(t.failed),
        str(t.skipped),
        _hours(t.moderated_duration_ms),
    ]


def _category_table(css_class: str, categories: tuple[CategoryCount, ...]) -> list[str]:
    return [
        f'<table class="{css_class}" style="border-collapse:collapse">',
        _row(["Category", "Flagged videos", "Videos detected in"], header=True),
        *(
            _row([escape(c.category), str(c.flagged_videos), str(c.detected_videos)])
            for c in _flagged_categories(categories)
        ),
        "</table>",
    ]


def render_html(digest: Digest) -> str:
    """The HTML digest (well-formed XHTML, inline styles only) with the 7-day chart as inline SVG."""
    headers = ["Videos", "Moderated", "Flagged", "Failed", "Skipped", "Video moderated"]
    body = [
        f'<h1 style="font-size:20px">{escape(_title(digest))}</h1>',
        '<table class="totals" style="border-collapse:collapse">',
    ]
    if digest.has_backfill:  # a row per source, named
        body += [
            _row(["Source", *headers], header=True),
            _row(["Uploads", *_totals_cells(digest.totals)]),
            _row(["Backfill", *_totals_cells(digest.backfill)], css_class=BACKFILL_TAG),
        ]
    else:
        body += [_row(headers, header=True), _row(_totals_cells(digest.totals))]
    body.append("</table>")
    if review := review_text(digest):
        body.append(f'<p class="review">{escape(review)}</p>')
    if digest.nothing_flagged:
        body.append('<p class="nothing-flagged">Nothing was flagged.</p>')
    else:
        if digest.totals.flagged:
            what = "Uploads flagged" if digest.has_backfill else "Flagged"
            body.append(f'<h2 style="font-size:16px">{what} by top-level category</h2>')
            body += _category_table("categories", digest.categories)
        else:
            body.append('<p class="nothing-flagged">No upload was flagged.</p>')
        if digest.backfill.flagged:
            body.append('<h2 style="font-size:16px">Backfill flagged by top-level category</h2>')
            body += _category_table("backfill-categories", digest.backfill_categories)
        body += [
            '<h2 style="font-size:16px">Most severe flagged videos</h2>',
            '<table class="top-flagged" style="border-collapse:collapse">',
            _row(["Max confidence", "First flagged", "Categories", "Video"], header=True),
        ]
        for video in digest.top_flagged:
            link = escape(video.console_url(digest.region), quote=True)
            tag = f'<span class="source" {_TAG}>{BACKFILL_TAG}</span> ' if video.backfill else ""
            body.append(
                _row(
                    [
                        f"{video.max_confidence:.1f}%",
                        video.first_flagged_at,
                        escape(video.flagged_categories),
                        f'{tag}<a href="{link}">{escape(video.s3_uri)}</a>',
                    ],
                    css_class=BACKFILL_TAG if video.backfill else "",
                )
            )
        body.append("</table>")
        if more := _more_flagged(digest):
            body.append(f"<p>{more}: run the <code>flagged_videos_for_day</code> named query in Athena.</p>")
    body += _trend_html(digest)
    return (
        '<!DOCTYPE html>\n<html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head><meta charset="utf-8"/>'
        f"<title>{escape(digest.subject)}</title></head>"
        '<body style="font-family:Helvetica,Arial,sans-serif;color:#1f2933">'
        + "".join(body)
        + f'<p style="color:#7b8794;font-size:12px">{escape(" ".join(_summary_lines(digest)))} '
        f"Generated {digest.generated_at.strftime('%Y-%m-%d %H:%M UTC')}.</p></body></html>\n"
    )


def _trend_html(digest: Digest) -> list[str]:
    """The uploads' 7-day chart (a backfill's day would flatten it) and the numbers as a table, backfill in a column."""
    backfill = _backfill_days(digest)
    title = "Last 7 days: moderated (grey) and flagged (red)"
    headers = ["Day", "Moderated", "Flagged", "Failed", "Skipped"]
    if backfill:
        title = "Last 7 days: uploads moderated (grey) and flagged (red); backfill in the table"
        headers.append("Backfill (moderated / flagged / failed / skipped)")
    rows = []
    for day in digest.trend:
        cells = [
            day.day.strftime("%a %Y-%m-%d"),
            str(day.moderated),
            str(day.flagged),
            str(day.failed),
            str(day.skipped),
        ]
        if backfill:
            cells.append(_trend_counts(backfill[day.day]) if day.day in backfill else "–")
        rows.append(_row(cells))
    return [
        f'<h2 style="font-size:16px">{title}</h2>',
        trend_svg(digest.trend),
        # The same numbers as a table: some clients (Gmail among them) do not render inline SVG.
        '<table class="trend" style="border-collapse:collapse;font-size:12px">',
        _row(headers, header=True),
        *rows,
        "</table>",
    ]
