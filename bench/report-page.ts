/**
 * The scripts the report page runs, as text: the page is one file, so they
 * are inlined beside uPlot rather than loaded. Plain ES2020 for any browser.
 */

/**
 * First script on the page: every error, unhandled rejection and
 * console.error lands in `data-errors` on <html> (a JSON array), so a
 * headless browser's DOM dump shows whether the page ran cleanly.
 */
export const ERROR_CAPTURE = String.raw`
(function () {
  var errors = [];
  var root = document.documentElement;
  function note(what) {
    errors.push(String(what));
    root.setAttribute('data-errors', JSON.stringify(errors));
  }
  root.setAttribute('data-errors', '[]');
  window.addEventListener('error', function (e) {
    note('error: ' + (e.message || (e.target && e.target.outerHTML) || e.type));
  }, true);
  window.addEventListener('unhandledrejection', function (e) { note('unhandled rejection: ' + e.reason); });
  var consoleError = console.error;
  console.error = function () {
    note('console.error: ' + Array.prototype.map.call(arguments, String).join(' '));
    return consoleError.apply(console, arguments);
  };
})();
`;

/**
 * Draws every chart spec (bench/report-charts.ts) with uPlot. After each
 * chart draws, its <figure> records what uPlot plotted: `data-series` (series
 * with at least one point), `data-points` (points, all series together) and
 * `data-painted` (canvas pixels inside the plot area in a series' colour, so
 * a blank canvas reads 0). <body> gets `data-charts-rendered` at the end.
 */
export const DRAW_SCRIPT = String.raw`
(function () {
  var specs = JSON.parse(document.getElementById('chart-data').textContent);
  var host = document.getElementById('charts');

  function si(v) {
    if (v == null || !isFinite(v)) return '—';
    var a = Math.abs(v);
    if (a >= 1e9) return +(v / 1e9).toPrecision(3) + 'G';
    if (a >= 1e6) return +(v / 1e6).toPrecision(3) + 'M';
    if (a >= 1e3) return +(v / 1e3).toPrecision(3) + 'k';
    if (a >= 1 || a === 0) return String(+v.toPrecision(3));
    return String(+v.toPrecision(2));
  }
  function bytes(v) {
    if (v >= 1024 * 1024) return +(v / 1048576).toPrecision(3) + ' MiB';
    if (v >= 1024) return +(v / 1024).toPrecision(3) + ' KiB';
    return +v.toPrecision(3) + ' B';
  }
  function formatter(axis) {
    var format = pick(axis);
    return function (v) { return v == null ? '' : format(v); };
  }
  function pick(axis) {
    switch (axis.format) {
      case 'bytes': return bytes;
      case 'count': return function (v) { return String(Math.round(v)); };
      case 'nines': return function (v) { return 'p' + +(100 - 100 / v).toPrecision(5); };
      case 'fraction': return function (v) { return v.toFixed(2); };
      case 'categories': return function (v) { var c = axis.categories[Math.round(v)]; return c === undefined ? '' : c; };
      default: return si;
    }
  }
  function scale(axis) {
    var s = { time: false };
    if (axis.log) { s.distr = 3; s.log = axis.log; }
    if (axis.range) s.range = function () { return axis.range.slice(); };
    return s;
  }
  function hexToRgb(hex) {
    var n = parseInt(hex.slice(1), 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }
  /** Pixels of the plot area (canvas pixels) within a few levels of one of the series' colours. */
  function paintedPixels(u, hexColours) {
    var b = u.bbox;
    if (b.width < 1 || b.height < 1) return 0;
    var img = u.ctx.getImageData(Math.round(b.left), Math.round(b.top), Math.round(b.width), Math.round(b.height)).data;
    var colours = hexColours.map(hexToRgb);
    var count = 0;
    for (var i = 0; i < img.length; i += 4) {
      if (img[i + 3] < 200) continue;
      for (var k = 0; k < colours.length; k++) {
        var c = colours[k];
        if (Math.abs(img[i] - c[0]) + Math.abs(img[i + 1] - c[1]) + Math.abs(img[i + 2] - c[2]) < 24) { count++; break; }
      }
    }
    return count;
  }
  function record(fig, u, hexColours) {
    var series = 0, points = 0;
    for (var s = 1; s < u.data.length; s++) {
      var n = 0;
      for (var i = 0; i < u.data[s].length; i++) if (u.data[s][i] != null && isFinite(u.data[s][i])) n++;
      if (n > 0) series++;
      points += n;
    }
    fig.setAttribute('data-series', String(series));
    fig.setAttribute('data-points', String(points));
    fig.setAttribute('data-painted', String(paintedPixels(u, hexColours)));
  }
  function seriesOptions(s, yFormat) {
    var o = { label: s.label, stroke: s.color, width: 2, spanGaps: true,
      value: function (u, v) { return v == null ? '—' : yFormat(v); } };
    if (s.dash) o.dash = s.dash;
    if (s.style === 'bars') {
      o.fill = s.color;
      o.paths = uPlot.paths.bars({ size: [0.6, 80] });
      o.points = { show: false };
    } else if (s.style === 'points') {
      o.paths = function () { return null; };
      o.points = { show: true, size: 12, width: 2, stroke: s.color, fill: s.color };
    } else {
      o.points = { show: true, size: 7, width: 1, stroke: s.color, fill: s.color };
    }
    return o;
  }
  function axisOptions(axis, isX) {
    var fmt = formatter(axis);
    var a = { label: axis.label, stroke: '#333', grid: { stroke: '#eee', width: 1 }, ticks: { stroke: '#ccc', width: 1 },
      values: function (u, splits) { return splits.map(function (v) { return fmt(v); }); } };
    if (!isX) a.size = 64;
    if (axis.ticks) {
      a.splits = function (u) {
        var sc = u.scales[isX ? 'x' : 'y'];
        return axis.ticks.filter(function (t) { return t >= sc.min && t <= sc.max; });
      };
      // uPlot's own filter keeps only powers of the base on a log axis; these ticks are chosen.
      a.filter = function (u, splits) { return splits; };
    }
    if (axis.format === 'categories') { a.size = 90; a.rotate = 30; a.align = 2; a.font = '11px system-ui, sans-serif'; }
    return a;
  }

  var drawn = 0;
  specs.forEach(function (spec) {
    var fig = document.createElement('figure');
    fig.setAttribute('data-chart', spec.id);
    var title = document.createElement('h3');
    title.textContent = spec.title;
    fig.appendChild(title);
    var plot = document.createElement('div');
    fig.appendChild(plot);
    var caption = document.createElement('figcaption');
    caption.textContent = spec.caption;
    fig.appendChild(caption);
    host.appendChild(fig);
    var yFormat = formatter(spec.y);
    var xFormat = formatter(spec.x);
    var opts = {
      width: 560,
      height: 320,
      scales: { x: scale(spec.x), y: scale(spec.y) },
      axes: [axisOptions(spec.x, true), axisOptions(spec.y, false)],
      series: [{ label: spec.x.label || 'x', value: function (u, v) { return v == null ? '—' : xFormat(v); } }]
        .concat(spec.series.map(function (s) { return seriesOptions(s, yFormat); })),
      legend: { live: true },
      cursor: { points: { size: 8 } },
      hooks: { draw: [function (u) { record(fig, u, spec.series.map(function (s) { return s.color; })); }] },
    };
    new uPlot(opts, [spec.xs].concat(spec.series.map(function (s) { return s.values; })), plot);
    drawn++;
  });
  document.body.setAttribute('data-charts-rendered', String(drawn));
})();
`;
