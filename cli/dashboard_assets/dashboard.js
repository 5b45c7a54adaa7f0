/*
 * The modlake dashboard renderer: draws the spec of queries/dashboard.py (embedded as #dashboard-spec) from the
 * views' rows (#dashboard-views, columns and rows as arrays) with plain DOM and SVG; no library, no network.
 *
 * Every data mark has class="mark" and data-visual, data-series, data-x, data-value (boxes: data-q1, data-median,
 * data-q3, data-min, data-max, data-count; table rows: data-row), and every visual's card has data-visual-id, so
 * tests can count and read what is drawn. A mark is drawn per group (dimension value x series) that has a value;
 * bar segments of exactly 0 are not drawn (they have no height).
 */
"use strict";

(function () {
  const SVG_NS = "http://www.w3.org/2000/svg";
  // Okabe & Ito's colour-blind-safe palette (its yellow left out: too faint on white), then Tol's indigo, olive
  // and wine for the tenth and later series, then a dark grey.
  const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#332288", "#999933", "#882255", "#555555"];
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const DASHES = ["6 4", "2 3", "10 3 2 3"]; // the second, third… measure of a split line
  const DAY = /^\d{4}-\d{2}-\d{2}$/;
  const CHART_WIDTH = 600;
  const CHART_HEIGHT = 300;
  const CHAR_WIDTH = 6.4; // average width of a 12px label character, to fit category labels
  const MAX_LABEL = 40; // characters of a category label before it is shortened (the full text is its tooltip)

  const spec = readJson("dashboard-spec");
  const meta = readJson("dashboard-meta");
  const views = readViews(readJson("dashboard-views"));
  const state = initialState();

  function readJson(id) {
    return JSON.parse(document.getElementById(id).textContent);
  }

  /** Each view's rows as objects keyed by column name. */
  function readViews(raw) {
    const result = {};
    for (const [name, view] of Object.entries(raw)) {
      result[name] = view.rows.map((row) => {
        const record = {};
        view.columns.forEach((column, i) => (record[column] = row[i]));
        return record;
      });
    }
    return result;
  }

  function initialState() {
    const chosen = {};
    for (const filter of spec.filters) {
      if (filter.kind === "date_range") chosen[filter.id] = { from: meta.day_from, to: meta.day_to };
      else if (filter.kind === "values") chosen[filter.id] = new Set();
      else chosen[filter.id] = "";
    }
    return { sheet: 0, chosen };
  }

  // ---------------------------------------------------------------- DOM helpers

  function h(tag, attributes, ...children) {
    const node = document.createElement(tag);
    setAttributes(node, attributes);
    node.append(...children.filter((child) => child !== null && child !== undefined));
    return node;
  }

  function s(tag, attributes, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttributes(node, attributes);
    node.append(...children.filter((child) => child !== null && child !== undefined));
    return node;
  }

  function setAttributes(node, attributes) {
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(name, String(value));
    }
  }

  function tooltip(text) {
    return s("title", {}, text);
  }

  // ---------------------------------------------------------------- numbers and dates

  const integerFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  const decimalFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });
  const compactFormat = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

  function formatNumber(value) {
    if (value === null || value === undefined) return "–";
    if (typeof value !== "number") return String(value);
    return Number.isInteger(value) ? integerFormat.format(value) : decimalFormat.format(value);
  }

  /** A tick label with as many decimals as the step between ticks needs (0.002 stays 0.002, not 0). */
  function formatTick(value, step) {
    if (Math.abs(value) >= 10000) return compactFormat.format(value);
    const decimals = step > 0 ? Math.max(0, -Math.floor(Math.log10(step) + 1e-9)) + (/5$/.test(String(step)) ? 1 : 0) : 0;
    return new Intl.NumberFormat("en-US", { maximumFractionDigits: Math.min(decimals, 10) }).format(value);
  }

  function dayNumber(text) {
    const [year, month, day] = text.split("-").map(Number);
    return Date.UTC(year, month - 1, day) / 86400000;
  }

  function dayText(number) {
    return new Date(number * 86400000).toISOString().slice(0, 10);
  }

  function shortDay(text) {
    const [, month, day] = text.split("-").map(Number);
    return `${MONTHS[month - 1]} ${day}`;
  }

  function daysBetween(from, to) {
    const days = [];
    for (let n = dayNumber(from); n <= dayNumber(to); n += 1) days.push(dayText(n));
    return days;
  }

  function shorten(text) {
    return text.length > MAX_LABEL ? text.slice(0, MAX_LABEL - 1) + "…" : text;
  }

  // ---------------------------------------------------------------- filters, groups, aggregations

  function filtersOf(visual) {
    return spec.filters.filter((filter) => filter.visuals.includes(visual.id));
  }

  function passes(filter, row) {
    const value = row[filter.column];
    const chosen = state.chosen[filter.id];
    if (filter.kind === "date_range") {
      if (value === null || value === undefined) return false;
      const day = String(value).slice(0, 10);
      return (!chosen.from || day >= chosen.from) && (!chosen.to || day <= chosen.to);
    }
    if (filter.kind === "values") return chosen.size === 0 || chosen.has(String(value));
    return chosen === "" || String(value ?? "").startsWith(chosen);
  }

  function rowsOf(visual) {
    const filters = filtersOf(visual);
    return (views[visual.view] || []).filter((row) => filters.every((filter) => passes(filter, row)));
  }

  function aggregate(rows, measure) {
    const values = rows.map((row) => row[measure.column]).filter((v) => v !== null && v !== undefined);
    switch (measure.aggregation) {
      case "sum":
        return values.length ? values.reduce((a, b) => a + b, 0) : null;
      case "max":
        return values.length ? values.reduce((a, b) => (b > a ? b : a)) : null;
      case "avg":
        return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
      case "count":
        return values.length;
      case "count_distinct":
        return new Set(values.map(String)).size;
      case "none":
        return values;
      default:
        throw new Error(`unknown aggregation ${measure.aggregation}`);
    }
  }

  function groupRows(rows, key) {
    const groups = new Map();
    for (const row of rows) {
      const value = key(row);
      if (!groups.has(value)) groups.set(value, []);
      groups.get(value).push(row);
    }
    return groups;
  }

  /** A column's values ordered by how many unfiltered rows of every view with that column have them (then by
   * name): a value keeps its colour across visuals, and colours and legends stay put when filters change. */
  function valueOrder(column) {
    const counts = new Map();
    for (const rows of Object.values(views)) {
      for (const row of rows) {
        if (!(column in row)) break;
        const value = String(row[column]);
        counts.set(value, (counts.get(value) || 0) + 1);
      }
    }
    return [...counts.keys()].sort((a, b) => counts.get(b) - counts.get(a) || (a < b ? -1 : 1));
  }

  /** The visual's series: one per measure, or per group_by value (times each measure when there are several: the
   * value gives the colour, the measure the dash). */
  function seriesOf(visual) {
    if (!visual.group_by) {
      return visual.measures.map((measure, i) => ({ key: measure.label, measure, group: null, colour: PALETTE[i % PALETTE.length], dash: 0 }));
    }
    const series = [];
    valueOrder(visual.group_by).forEach((group, i) => {
      visual.measures.forEach((measure, dash) => {
        const key = visual.measures.length > 1 ? `${measure.label} · ${group}` : group;
        series.push({ key, measure, group, colour: PALETTE[i % PALETTE.length], dash });
      });
    });
    return series;
  }

  /** Per dimension value, per series: the aggregated value (null when the group has no value). */
  function cells(visual, rows, series) {
    const dimension = visual.dimensions[0];
    const byX = groupRows(rows, (row) => String(row[dimension]));
    const result = [];
    for (const [x, xRows] of byX) {
      const byGroup = visual.group_by ? groupRows(xRows, (row) => String(row[visual.group_by])) : null;
      for (const item of series) {
        const groupRowsOfX = byGroup ? byGroup.get(item.group) : xRows;
        if (!groupRowsOfX) continue;
        const value = aggregate(groupRowsOfX, item.measure);
        if (value !== null) result.push({ x, series: item, value });
      }
    }
    return result;
  }

  /** The x values to lay out: every day of the date filter's range for a date dimension, else those present. */
  function xDomain(visual, rows) {
    const dimension = visual.dimensions[0];
    const present = [...new Set(rows.map((row) => String(row[dimension])))];
    if (present.length && present.every((x) => DAY.test(x))) {
      const range = filtersOf(visual).find((f) => f.kind === "date_range" && f.column === dimension);
      const chosen = range ? state.chosen[range.id] : {};
      const sorted = present.sort();
      const from = chosen.from && chosen.from < sorted[0] ? chosen.from : sorted[0];
      const to = chosen.to && chosen.to > sorted[sorted.length - 1] ? chosen.to : sorted[sorted.length - 1];
      return { dates: true, values: daysBetween(from, to) };
    }
    return { dates: false, values: present.sort() };
  }

  // ---------------------------------------------------------------- scales and axes

  function niceStep(span, count) {
    const raw = span / Math.max(count, 1);
    const power = Math.pow(10, Math.floor(Math.log10(raw || 1)));
    const fraction = raw / power;
    return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 2.5 ? 2.5 : fraction <= 5 ? 5 : 10) * power;
  }

  /** A linear scale over [lo, hi] widened to round ticks, or a log scale when the values span many decades. */
  function valueScale(lo, hi, r0, r1, allowLog) {
    if (allowLog && lo > 0 && hi / lo >= 1000) {
      const d0 = Math.floor(Math.log10(lo));
      const d1 = Math.ceil(Math.log10(hi));
      const ticks = [];
      for (let d = d0; d <= d1; d += 1) ticks.push(Math.pow(10, d));
      const at = (v) => r0 + ((Math.log10(v) - d0) / (d1 - d0 || 1)) * (r1 - r0);
      return { at, ticks, log: true, step: 0 };
    }
    if (lo === hi) {
      lo = Math.min(0, lo);
      hi = hi === 0 ? 1 : Math.max(0, hi);
    }
    const step = niceStep(hi - lo, 5);
    const niceLo = Math.floor(lo / step) * step;
    const niceHi = Math.ceil(hi / step) * step;
    const ticks = [];
    for (let v = niceLo; v <= niceHi + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
    const at = (v) => r0 + ((v - niceLo) / (niceHi - niceLo || 1)) * (r1 - r0);
    return { at, ticks, log: false, step };
  }

  function tickEvery(count, room, labelWidth) {
    return Math.max(1, Math.ceil(count / Math.max(1, Math.floor(room / labelWidth))));
  }

  /** Grid lines and tick labels of the value axis (vertical: y; horizontal: x). */
  function valueAxis(svg, scale, box, vertical) {
    const axis = s("g", { class: "axis value-axis" });
    for (const tick of scale.ticks) {
      const p = scale.at(tick);
      if (vertical) {
        axis.append(s("line", { class: "grid", x1: box.left, x2: box.right, y1: p, y2: p }));
        axis.append(s("text", { x: box.left - 8, y: p, dy: "0.32em", "text-anchor": "end" }, formatTick(tick, scale.step)));
      } else {
        axis.append(s("line", { class: "grid", x1: p, x2: p, y1: box.top, y2: box.bottom }));
        axis.append(s("text", { x: p, y: box.bottom + 18, "text-anchor": "middle" }, formatTick(tick, scale.step)));
      }
    }
    if (scale.log) {
      const label = vertical ? { x: box.left, y: box.top - 6 } : { x: box.right, y: box.bottom + 32 };
      axis.append(s("text", { class: "axis-note", ...label, "text-anchor": vertical ? "start" : "end" }, "log scale"));
    }
    svg.append(axis);
  }

  /** Tick labels of a category or day axis along the bottom (vertical charts) or the left (horizontal ones). */
  function categoryAxis(svg, domain, position, box, vertical) {
    const axis = s("g", { class: "axis category-axis" });
    const room = vertical ? box.right - box.left : box.bottom - box.top;
    const every = domain.dates ? tickEvery(domain.values.length, room, 52) : 1;
    domain.values.forEach((value, i) => {
      if (i % every !== 0) return;
      const text = domain.dates ? shortDay(value) : shorten(value);
      const label = vertical
        ? s("text", { x: position(value), y: box.bottom + 18, "text-anchor": "middle" }, text)
        : s("text", { x: box.left - 8, y: position(value), dy: "0.32em", "text-anchor": "end" }, text);
      if (text !== value) label.append(tooltip(value));
      axis.append(label);
    });
    const baseline = vertical
      ? s("line", { class: "baseline", x1: box.left, x2: box.right, y1: box.bottom, y2: box.bottom })
      : s("line", { class: "baseline", x1: box.left, x2: box.left, y1: box.top, y2: box.bottom });
    axis.append(baseline);
    svg.append(axis);
  }

  function chartSvg(width, height, label) {
    return s("svg", {
      class: "chart",
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": label,
      preserveAspectRatio: "xMidYMid meet",
    });
  }

  function categoryMargin(values) {
    const longest = Math.max(0, ...values.map((v) => shorten(v).length));
    return Math.min(270, 16 + longest * CHAR_WIDTH);
  }

  function legend(series, lines) {
    if (!series.length || (series.length < 2 && series[0].group === null)) return null; // a split shows its one value
    const swatch = (item) =>
      lines
        ? h("span", { class: `swatch line${item.dash ? " dashed" : ""}`, style: `border-color:${item.colour}` })
        : h("span", { class: "swatch", style: `background:${item.colour}` });
    return h("ul", { class: "legend" }, ...series.map((item) => h("li", { "data-series": item.key }, swatch(item), item.key)));
  }

  function markAttributes(visual, cell) {
    return {
      class: "mark",
      "data-visual": visual.id,
      "data-series": cell.series.key,
      "data-x": cell.x,
      "data-value": cell.value,
    };
  }

  // ---------------------------------------------------------------- line

  function drawLine(visual, rows, card) {
    const series = seriesOf(visual);
    const points = cells(visual, rows, series);
    const domain = xDomain(visual, rows);
    const box = { left: 60, right: CHART_WIDTH - 16, top: 16, bottom: CHART_HEIGHT - 32 };
    const values = points.map((p) => p.value);
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    let y = valueScale(lo, hi, box.bottom, box.top, true); // log when the values span three decades or more
    if (!y.log) y = valueScale(Math.min(0, lo), hi, box.bottom, box.top, false);
    const index = new Map(domain.values.map((value, i) => [value, i]));
    const span = Math.max(domain.values.length - 1, 1);
    const inset = domain.values.length === 1 ? (box.right - box.left) / 2 : 0;
    const x = (value) => box.left + inset + (index.get(value) / span) * (box.right - box.left);
    const svg = chartSvg(CHART_WIDTH, CHART_HEIGHT, visual.title);
    valueAxis(svg, y, box, true);
    categoryAxis(svg, domain, x, box, true);
    for (const item of series) {
      const own = points.filter((p) => p.series === item).sort((a, b) => index.get(a.x) - index.get(b.x));
      if (!own.length) continue;
      const d = own.map((p, i) => `${i ? "L" : "M"}${x(p.x).toFixed(1)},${y.at(p.value).toFixed(1)}`).join("");
      const dash = item.dash ? DASHES[(item.dash - 1) % DASHES.length] : null;
      svg.append(s("path", { class: "series-line", d, stroke: item.colour, "stroke-dasharray": dash, "data-series": item.key }));
      for (const p of own) {
        const label = `${item.key} · ${p.x}: ${formatNumber(p.value)}`;
        const dot = s("circle", { ...markAttributes(visual, p), cx: x(p.x), cy: y.at(p.value), r: 3.2, fill: item.colour });
        dot.append(tooltip(label));
        svg.append(dot);
      }
    }
    card.append(legend(series, true) || "", svg);
  }

  // ---------------------------------------------------------------- bar and stacked bar

  function drawBars(visual, rows, card, stacked) {
    const series = seriesOf(visual);
    const bars = cells(visual, rows, series).filter((c) => c.value !== 0);
    const domain = xDomain(visual, rows);
    const vertical = domain.dates;
    if (!vertical) {
      const total = new Map();
      for (const bar of bars) total.set(bar.x, (total.get(bar.x) || 0) + bar.value);
      domain.values.sort((a, b) => (total.get(b) || 0) - (total.get(a) || 0) || (a < b ? -1 : 1));
    }
    const order = new Map(series.map((item, i) => [item, i]));
    bars.sort((a, b) => order.get(a.series) - order.get(b.series));
    const totals = new Map();
    for (const bar of bars) {
      const key = stacked ? bar.x : `${bar.x}\u0000${bar.series.key}`;
      bar.base = stacked ? totals.get(key) || 0 : 0;
      totals.set(key, bar.base + bar.value);
    }
    const highest = Math.max(0, ...[...totals.values()]);
    const lowest = Math.min(0, ...bars.map((bar) => bar.value));
    const lanes = stacked ? 1 : series.length;
    let width = CHART_WIDTH;
    let height = CHART_HEIGHT;
    let box;
    if (vertical) {
      box = { left: 60, right: width - 16, top: 16, bottom: height - 32 };
    } else {
      const band = stacked ? 30 : Math.max(30, 12 * lanes + 10);
      height = Math.max(160, domain.values.length * band + 56);
      box = { left: categoryMargin(domain.values), right: width - 24, top: 12, bottom: height - 40 };
    }
    const along = vertical ? [box.left, box.right] : [box.top, box.bottom];
    const bandSize = (along[1] - along[0]) / Math.max(domain.values.length, 1);
    const index = new Map(domain.values.map((value, i) => [value, i]));
    const centre = (value) => along[0] + (index.get(value) + 0.5) * bandSize;
    const scale = vertical
      ? valueScale(lowest, highest, box.bottom, box.top, false)
      : valueScale(lowest, highest, box.left, box.right, false);
    const thickness = Math.max(1, Math.min(bandSize * 0.72, 40));
    const svg = chartSvg(width, height, visual.title);
    valueAxis(svg, scale, box, vertical);
    categoryAxis(svg, domain, centre, box, vertical);
    for (const bar of bars) {
      const lane = stacked ? 0 : order.get(bar.series);
      const laneSize = thickness / lanes;
      const start = centre(bar.x) - thickness / 2 + lane * laneSize;
      const a = scale.at(bar.base);
      const b = scale.at(bar.base + bar.value);
      const geometry = vertical
        ? { x: start, width: Math.max(laneSize - (lanes > 1 ? 1 : 0), 0.5), y: Math.min(a, b), height: Math.abs(a - b) }
        : { y: start, height: Math.max(laneSize - (lanes > 1 ? 1 : 0), 0.5), x: Math.min(a, b), width: Math.abs(a - b) };
      const rect = s("rect", { ...markAttributes(visual, bar), ...geometry, fill: bar.series.colour });
      rect.append(tooltip(`${bar.series.key} · ${bar.x}: ${formatNumber(bar.value)}`));
      svg.append(rect);
    }
    card.append(legend(series) || "", svg);
  }

  // ---------------------------------------------------------------- box plot

  /** The p-quantile of sorted values by linear interpolation between closest ranks (Hyndman & Fan type 7, what
   * numpy and spreadsheets' PERCENTILE.INC compute). Athena's approx_percentile is a sketch, not reproducible here. */
  function quantile(sorted, p) {
    const position = (sorted.length - 1) * p;
    const lower = Math.floor(position);
    const upper = Math.min(lower + 1, sorted.length - 1);
    return sorted[lower] + (position - lower) * (sorted[upper] - sorted[lower]);
  }

  function drawBox(visual, rows, card) {
    const measure = visual.measures[0];
    const dimension = visual.dimensions[0];
    const stats = [];
    for (const [x, xRows] of groupRows(rows, (row) => String(row[dimension]))) {
      const values = aggregate(xRows, { ...measure, aggregation: "none" }).slice().sort((a, b) => a - b);
      if (!values.length) continue;
      stats.push({
        x,
        count: values.length,
        min: values[0],
        q1: quantile(values, 0.25),
        median: quantile(values, 0.5),
        q3: quantile(values, 0.75),
        max: values[values.length - 1],
      });
    }
    stats.sort((a, b) => b.median - a.median || (a.x < b.x ? -1 : 1));
    const domain = { dates: false, values: stats.map((stat) => stat.x) };
    const height = Math.max(160, stats.length * 32 + 56);
    const box = { left: categoryMargin(domain.values), right: CHART_WIDTH - 24, top: 12, bottom: height - 40 };
    const bandSize = (box.bottom - box.top) / Math.max(stats.length, 1);
    const centre = (value) => box.top + (domain.values.indexOf(value) + 0.5) * bandSize;
    const scale = valueScale(Math.min(...stats.map((st) => st.min)), Math.max(...stats.map((st) => st.max)), box.left, box.right, false);
    const svg = chartSvg(CHART_WIDTH, height, visual.title);
    valueAxis(svg, scale, box, false);
    categoryAxis(svg, domain, centre, box, false);
    const thickness = Math.min(bandSize * 0.6, 22);
    for (const stat of stats) {
      const c = centre(stat.x);
      const group = s("g", {
        class: "mark box",
        "data-visual": visual.id,
        "data-series": measure.label,
        "data-x": stat.x,
        "data-value": stat.median,
        "data-count": stat.count,
        "data-min": stat.min,
        "data-q1": stat.q1,
        "data-median": stat.median,
        "data-q3": stat.q3,
        "data-max": stat.max,
      });
      group.append(
        tooltip(
          `${stat.x}: median ${formatNumber(stat.median)}, quartiles ${formatNumber(stat.q1)}–${formatNumber(stat.q3)}, ` +
            `range ${formatNumber(stat.min)}–${formatNumber(stat.max)} (${formatNumber(stat.count)} values)`,
        ),
        s("line", { class: "whisker", x1: scale.at(stat.min), x2: scale.at(stat.q1), y1: c, y2: c }),
        s("line", { class: "whisker", x1: scale.at(stat.q3), x2: scale.at(stat.max), y1: c, y2: c }),
        s("line", { class: "whisker-cap", x1: scale.at(stat.min), x2: scale.at(stat.min), y1: c - thickness / 4, y2: c + thickness / 4 }),
        s("line", { class: "whisker-cap", x1: scale.at(stat.max), x2: scale.at(stat.max), y1: c - thickness / 4, y2: c + thickness / 4 }),
        s("rect", {
          class: "quartiles",
          x: scale.at(stat.q1),
          width: Math.max(scale.at(stat.q3) - scale.at(stat.q1), 1),
          y: c - thickness / 2,
          height: thickness,
          fill: PALETTE[0],
        }),
        s("line", { class: "median", x1: scale.at(stat.median), x2: scale.at(stat.median), y1: c - thickness / 2, y2: c + thickness / 2 }),
      );
      svg.append(group);
    }
    card.append(
      h("p", { class: "chart-note" }, "Box: quartiles (linear interpolation), line: median, whiskers: lowest to highest value."),
      svg,
    );
  }

  // ---------------------------------------------------------------- table and KPI

  function compare(a, b) {
    if (a === b) return 0;
    if (a === null || a === undefined) return 1;
    if (b === null || b === undefined) return -1;
    return a < b ? -1 : 1;
  }

  function drawTable(visual, rows, card) {
    const columns = [...visual.dimensions.map((column) => ({ column, label: column })), ...visual.measures];
    let sorted = rows.slice();
    if (visual.sort) {
      const { column, descending } = visual.sort;
      sorted.sort((a, b) => {
        const nulls = (a[column] == null) - (b[column] == null);
        return nulls || (descending ? -1 : 1) * compare(a[column], b[column]);
      });
    }
    const shown = visual.limit ? sorted.slice(0, visual.limit) : sorted;
    // prose columns (long text other than S3 locations) get room to wrap in a few lines, not a narrow tower
    const wide = (c) => !/_uri$/.test(c.column) && shown.some((row) => typeof row[c.column] === "string" && row[c.column].length > 40);
    const numeric = (c) => shown.some((row) => typeof row[c.column] === "number");
    const headerClass = (c) => (wide(c) ? "wide" : numeric(c) ? "number" : null);
    const header = h("tr", {}, ...columns.map((c) => h("th", { scope: "col", "data-column": c.column, class: headerClass(c) }, c.label)));
    const body = shown.map((row, i) =>
      h(
        "tr",
        {
          class: "mark",
          "data-visual": visual.id,
          "data-row": i,
          "data-x": row[columns[0].column],
          "data-value": visual.sort ? row[visual.sort.column] : null,
        },
        ...columns.map((c) => cell(row[c.column], c.column)),
      ),
    );
    // a time column reads newest/oldest first, anything else highest/lowest first
    const timeLike = visual.sort && /(_at|_date|^dt)$/.test(visual.sort.column);
    const order = visual.sort && visual.sort.descending ? (timeLike ? "newest" : "highest") : timeLike ? "oldest" : "lowest";
    const sortedBy = visual.sort ? ` by ${labelOf(visual, visual.sort.column)}, ${order} first` : "";
    card.append(
      h("p", { class: "chart-note" }, `${formatNumber(shown.length)} of ${formatNumber(rows.length)} rows${sortedBy}.`),
      h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, header), h("tbody", {}, ...body))),
    );
  }

  function labelOf(visual, column) {
    const measure = visual.measures.find((m) => m.column === column);
    return measure ? measure.label.toLowerCase() : column;
  }

  function cell(value, column) {
    const text = typeof value === "number" ? formatNumber(value) : value === null || value === undefined ? "–" : String(value);
    const numeric = typeof value === "number";
    const content = /_uri$/.test(column) ? h("code", { title: text }, text) : text;
    return h("td", { "data-column": column, "data-value": value, class: numeric ? "number" : null }, content);
  }

  function drawKpi(visual, rows, card) {
    const measure = visual.measures[0];
    const value = aggregate(rows, measure);
    card.append(
      h(
        "p",
        { class: "mark kpi", "data-visual": visual.id, "data-series": measure.label, "data-x": "", "data-value": value },
        formatNumber(value),
      ),
      h("p", { class: "kpi-label" }, measure.label),
    );
  }

  // ---------------------------------------------------------------- visuals and sheets

  const DRAW = {
    line: drawLine,
    bar: (visual, rows, card) => drawBars(visual, rows, card, false),
    stacked_bar: (visual, rows, card) => drawBars(visual, rows, card, true),
    box: drawBox,
    table: drawTable,
    kpi: drawKpi,
  };

  function drawVisual(visual) {
    const draw = DRAW[visual.kind];
    if (!draw) throw new Error(`unknown visual kind ${visual.kind} (${visual.id})`);
    const rows = rowsOf(visual);
    const applied = filtersOf(visual).map((filter) => filter.title);
    const card = h("section", { class: `visual kind-${visual.kind}`, "data-visual-id": visual.id, "data-rows": rows.length });
    card.append(h("h2", {}, visual.title));
    if (!rows.length) {
      const why = (views[visual.view] || []).length ? "No rows match the filters." : "No data in these days.";
      card.append(h("p", { class: "no-data" }, why));
    } else {
      draw(visual, rows, card);
    }
    card.append(h("p", { class: "applied" }, `${visual.view} · filtered by ${applied.join(", ") || "nothing"}`));
    return card;
  }

  function drawSheets() {
    const main = document.querySelector("main.sheets");
    main.replaceChildren(
      ...spec.sheets.map((sheet, i) =>
        h(
          "div",
          { class: "sheet", role: "tabpanel", id: `sheet-${i}`, "data-sheet": sheet.title, hidden: i !== state.sheet },
          ...sheet.visuals.map(drawVisual),
        ),
      ),
    );
    markFilters();
  }

  function drawTabs() {
    const nav = document.querySelector("nav.tabs");
    nav.replaceChildren(
      ...spec.sheets.map((sheet, i) => {
        const tab = h(
          "button",
          { type: "button", role: "tab", "aria-selected": i === state.sheet ? "true" : "false", "aria-controls": `sheet-${i}`, "data-sheet": sheet.title },
          sheet.title,
        );
        tab.addEventListener("click", () => {
          state.sheet = i;
          nav.querySelectorAll("button").forEach((b, j) => b.setAttribute("aria-selected", j === i ? "true" : "false"));
          document.querySelectorAll(".sheet").forEach((panel, j) => (panel.hidden = j !== i));
          markFilters();
        });
        return tab;
      }),
    );
  }

  /** Filters that filter nothing on the current sheet are dimmed (they still apply on the other sheets). */
  function markFilters() {
    const here = new Set(spec.sheets[state.sheet].visuals.map((visual) => visual.id));
    document.querySelectorAll(".filter").forEach((control) => {
      const filter = spec.filters.find((f) => f.id === control.dataset.filter);
      const applies = filter.visuals.some((id) => here.has(id));
      control.classList.toggle("inactive", !applies);
      control.title = applies ? "" : "Filters visuals on other sheets only";
    });
  }

  function filterValues(filter) {
    const values = new Set();
    for (const id of filter.visuals) {
      const visual = spec.sheets.flatMap((sheet) => sheet.visuals).find((v) => v.id === id);
      for (const row of views[visual.view] || []) {
        if (row[filter.column] !== null && row[filter.column] !== undefined) values.add(String(row[filter.column]));
      }
    }
    return [...values].sort();
  }

  function changed() {
    drawSheets();
  }

  function dateControl(filter) {
    const chosen = state.chosen[filter.id];
    const input = (bound) => {
      const field = h("input", { type: "date", min: meta.day_from, max: meta.day_to, value: chosen[bound], "data-bound": bound, "aria-label": `${filter.title} ${bound}` });
      field.addEventListener("change", () => {
        chosen[bound] = field.value;
        changed();
      });
      return field;
    };
    return h("div", { class: "filter", "data-filter": filter.id }, h("span", { class: "filter-title" }, filter.title), input("from"), h("span", { class: "to" }, "to"), input("to"));
  }

  function valuesControl(filter) {
    const chosen = state.chosen[filter.id];
    const summary = h("summary", {}, "All");
    const caption = () => (summary.textContent = chosen.size === 0 ? "All" : chosen.size === 1 ? [...chosen][0] : `${chosen.size} selected`);
    const options = filterValues(filter).map((value) => {
      const box = h("input", { type: "checkbox", value });
      box.addEventListener("change", () => {
        if (box.checked) chosen.add(value);
        else chosen.delete(value);
        caption();
        changed();
      });
      return h("label", {}, box, value);
    });
    const clear = h("button", { type: "button", class: "clear" }, "All");
    clear.addEventListener("click", () => {
      chosen.clear();
      options.forEach((label) => (label.querySelector("input").checked = false));
      caption();
      changed();
    });
    const menu = h("details", { class: "multi" }, summary, h("div", { class: "options" }, ...options, clear));
    return h("div", { class: "filter", "data-filter": filter.id }, h("span", { class: "filter-title" }, filter.title), menu);
  }

  function prefixControl(filter) {
    const field = h("input", { type: "search", placeholder: "e.g. uploads/2026/11/", spellcheck: "false", "aria-label": filter.title });
    field.addEventListener("input", () => {
      state.chosen[filter.id] = field.value;
      changed();
    });
    return h("div", { class: "filter", "data-filter": filter.id }, h("span", { class: "filter-title" }, filter.title), field);
  }

  function drawFilters() {
    const section = document.querySelector("section.filters");
    const controls = spec.filters.map((filter) => {
      if (filter.kind === "date_range") return dateControl(filter);
      if (filter.kind === "values") return valuesControl(filter);
      if (filter.kind === "prefix") return prefixControl(filter);
      throw new Error(`unknown filter kind ${filter.kind} (${filter.id})`);
    });
    section.replaceChildren(...controls);
    // one open multi-select at a time: a click elsewhere or Escape closes it
    document.addEventListener("click", (event) => {
      section.querySelectorAll("details[open]").forEach((menu) => {
        if (!menu.contains(event.target)) menu.open = false;
      });
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") section.querySelectorAll("details[open]").forEach((menu) => (menu.open = false));
    });
  }

  drawTabs();
  drawFilters();
  drawSheets();
  document.body.dataset.rendered = "true";
})();
