// Heatmap page: pending liquidation notional (time × price) with the candles on top. Zooming
// asks the API for the visible range only, so the server can answer with finer buckets.
(() => {
  const form = document.getElementById("controls");
  const plot = document.getElementById("plot");
  const [title, stats, warnings, banner, errorBox] =
    ["title", "stats", "warnings", "banner", "error"].map((id) => document.getElementById(id));
  // dark purple → blue → teal → yellow, as traders know it from Coinglass
  const SCALE = [[0, "#10061f"], [0.1, "#2a0f5c"], [0.3, "#283f94"], [0.5, "#17839a"],
                 [0.7, "#26b58a"], [0.87, "#a8db44"], [1, "#fde725"]];
  const tiers = [...form.elements.leverage];
  let zoom = {};        // start/end and price_min/price_max while zoomed in
  let data, signal, ticket = 0, zoomTimer;

  function query() {
    const chosen = tiers.filter((box) => box.checked).map((box) => box.value);
    return {symbol: form.symbol.value, model: form.model.value, timeframe: form.timeframe.value,
            leverage: chosen.length && chosen.length < tiers.length ? chosen.join(",") : undefined, ...zoom};
  }

  const percentile = (values, pct) => {
    const sorted = values.filter((v) => v > 0).sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * pct) / 100))] || 1;
  };
  const shift = (iso, ms) => new Date(Date.parse(iso) + ms).toISOString();
  const toISO = (range) => {
    const text = String(range).trim().replace(" ", "T");
    return new Date((text.includes("T") ? text : text + "T00:00") + "Z").toISOString();
  };

  function draw() {
    const side = form.side.value, meta = data.metadata, bucket = meta.time_bucket_seconds * 1000;
    const z = data.prices.map((_, i) => data.times.map((_, j) =>
      (side !== "short" ? data.long[i][j] : 0) + (side !== "long" ? data.short[i][j] : 0)));
    const c = data.candles, now = liqmap.priceLine(data.current_price);
    const shapes = [now.shape], annotations = [now.annotation];
    if (!banner.hidden) shapes.push({type: "line", xref: "paper", x0: 0, x1: 1, y0: signal.cluster_price,
      y1: signal.cluster_price, line: {color: "#ffb020", width: 1, dash: "dot"}});
    Plotly.react(plot, [
      {type: "heatmap", name: "pending", z, zmin: 0, zmax: percentile(z.flat(), +form.clip.value),
       // cell edges, not centres: a bucket is drawn from its start to the next one
       x: [...data.times, shift(data.times.at(-1), bucket)], y: [...data.prices, data.prices.at(-1) + meta.price_step],
       colorscale: SCALE, colorbar: {thickness: 8, len: 0.92, tickformat: "$.2s", outlinewidth: 0, x: 1.075},
       hovertemplate: "%{x|%b %d %H:%M} UTC<br>%{y:$,.0f}<br><b>%{z:$,.3s}</b> pending<extra></extra>"},
      {type: "candlestick", name: "BTC", x: c.time.map((t) => shift(t, bucket / 2)),
       open: c.open, high: c.high, low: c.low, close: c.close, whiskerwidth: 0,
       increasing: {line: {color: "#2ee6b0", width: 1}, fillcolor: "#2ee6b0"},
       decreasing: {line: {color: "#ff5c7a", width: 1}, fillcolor: "#ff5c7a"}},
    ], liqmap.layout({showlegend: false, shapes, annotations,
      xaxis: {...liqmap.axis, type: "date", rangeslider: {visible: false}, showgrid: false},
      yaxis: {...liqmap.axis, side: "right", tickprefix: "$", tickformat: ",.0f", showgrid: false}}),
    liqmap.config);
  }

  function describe() {
    const meta = data.metadata, label = form.model.selectedOptions[0].text;
    title.textContent = `${data.symbol} · ${label} · ${zoom.start || zoom.price_min ? "zoomed" : data.timeframe}`;
    const figures = {"Price": liqmap.usd(data.current_price, 1), "Densest level": liqmap.usd(meta.highest_density_price),
      "Pending": liqmap.compact(meta.total_volume), "Confidence": `${Math.round(meta.confidence * 100)} %`,
      "Resolution": `${meta.time_bucket_seconds / 60} min × $${meta.price_step}`, "As of": meta.as_of.replace("T", " ").slice(0, 16) + " UTC"};
    liqmap.figures(stats, figures);
    liqmap.notes(warnings, [...meta.warnings, ...(meta.is_valid ? [] : ["The model marked this run as not valid."])]);
  }

  function showBanner() {
    const near = signal.action === "AVOID" || (signal.distance_pct != null && signal.distance_pct <= 2);
    banner.hidden = !near || signal.cluster_price == null;
    if (banner.hidden) return;
    banner.replaceChildren(liqmap.element("strong", "Liquidation cluster ahead"),
      ` at ${liqmap.usd(signal.cluster_price)}, ${signal.distance_pct.toFixed(2)} % from the price. ${signal.reason}`);
  }

  async function load(withSignal) {
    const mine = ++ticket, q = query();
    plot.dataset.state = "loading";
    history.replaceState(null, "", "?" + new URLSearchParams({model: q.model, timeframe: q.timeframe}));
    try {
      const [heat, sig] = await Promise.all([liqmap.getJSON("liquidations/heatmap", q),
        withSignal ? liqmap.getJSON("trading/signals", {symbol: q.symbol, model: q.model}) : signal]);
      if (mine !== ticket) return;  // a newer request was made while this one ran
      [data, signal] = [heat, sig];
      showBanner(); draw(); describe();
      liqmap.showError(errorBox, null);
      plot.dataset.state = "ready";
    } catch (error) {
      if (mine === ticket) { liqmap.showError(errorBox, error); plot.dataset.state = "error"; }
    }
  }

  form.addEventListener("change", (event) => {
    if (["side", "clip"].includes(event.target.name)) return data && draw();
    zoom = {};
    load(true);
  });
  Plotly.newPlot(plot, [], liqmap.layout({xaxis: liqmap.axis, yaxis: liqmap.axis}), liqmap.config);
  plot.on("plotly_relayout", (ev) => {
    const x = ev["xaxis.range[0]"], y = ev["yaxis.range[0]"];
    if (ev["xaxis.autorange"] || ev["yaxis.autorange"]) zoom = {};  // double-click: back out
    else if (x === undefined && y === undefined) return;  // a resize, not a zoom
    if (x !== undefined) Object.assign(zoom, {start: toISO(x), end: toISO(ev["xaxis.range[1]"])});
    if (y !== undefined) Object.assign(zoom, {price_min: Math.max(0, Math.floor(y)), price_max: Math.ceil(ev["yaxis.range[1]"])});
    clearTimeout(zoomTimer);
    zoomTimer = setTimeout(() => load(false), 350);
  });
  const saved = new URLSearchParams(location.search);
  for (const name of ["model", "timeframe"]) if (saved.get(name)) form[name].value = saved.get(name);
  load(true);
})();
