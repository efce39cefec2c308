// Heatmap page: pending liquidation notional (time × price) with the candles on top. Zooming
// asks the API for the visible range only, and the API answers with finer buckets (down to the
// hourly snapshots and the stored price step). Every rule (the range shown first, the cluster
// ahead, the resolution) comes from the API: this page only draws and words it.
(() => {
  const form = document.getElementById("controls"), plot = document.getElementById("plot"), tiers = [...form.elements.leverage];
  const [title, stats, warnings, banner, signalLine, errorBox, noTier] =
    ["title", "stats", "warnings", "banner", "signal", "error", "no-tier"].map((id) => document.getElementById(id));
  // dark purple → blue → teal → yellow, as traders know it from Coinglass
  const SCALE = [[0, "#10061f"], [0.1, "#2a0f5c"], [0.3, "#283f94"], [0.5, "#17839a"],
                 [0.7, "#26b58a"], [0.87, "#a8db44"], [1, "#fde725"]];
  const SIDES = {both: "", long: " longs", short: " shorts"};
  let zoom = {}, data, signal, ticket = 0, zoomTimer;  // zoom: start/end, price_min/price_max

  const chosenTiers = () => tiers.filter((box) => box.checked).map((box) => box.value);
  function query() {
    const chosen = chosenTiers();
    return {symbol: form.symbol.value, model: form.model.value, timeframe: form.timeframe.value,
            leverage: chosen.length < tiers.length ? chosen.join(",") : undefined, ...zoom};
  }
  const percentile = (values, pct, sorted = values.filter((v) => v > 0).sort((a, b) => a - b)) =>
    sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * pct) / 100))] || 1;
  // plotly reports ranges like "2024-01-05 12:30:00.123", in UTC as given; whole minutes suffice
  const toISO = (range) => new Date(String(range).trim().replace(" ", "T").padEnd(16, "T00:00") + "Z")
    .toISOString().slice(0, 16) + ":00Z";
  const duration = (s) => (s % 86400 ? (s % 3600 ? `${s / 60} min` : `${s / 3600} h`) : `${s / 86400} d`);
  const day = (iso) => iso.slice(0, 10);

  function draw() {
    if (!data.times.length || !data.prices.length) throw new Error("Nothing pending in this range: pick a longer timeframe, or zoom out.");
    const side = form.side.value, meta = data.metadata;
    // an empty cell is a gap: no colour, no hover label
    const z = data.prices.map((_, i) => data.times.map((_, j) =>
      ((side !== "short" ? data.long[i][j] : 0) + (side !== "long" ? data.short[i][j] : 0)) || null));
    const split = data.prices.map((_, i) => data.times.map((_, j) => [data.long[i][j], data.short[i][j]]));
    const c = data.candles, lines = [liqmap.priceLine(data.current_price)];
    if (signal.cluster_ahead) lines.push(liqmap.priceLine(signal.cluster_price, "y",
      {color: "#ffb020", text: `cluster ${liqmap.usd(signal.cluster_price)}`, inside: true}));
    const view = meta.view_price_min == null ? undefined : [meta.view_price_min, meta.view_price_max];
    Plotly.react(plot, [
      {type: "heatmap", name: "pending", z, zmin: 0, zmax: percentile(z.flat(), +form.clip.value), hoverongaps: false,
       // a column is the pending notional sampled at its time; a row spans its price bucket (edges)
       x: data.times, y: [...data.prices, data.prices.at(-1) + meta.price_step], customdata: split,
       colorscale: SCALE, colorbar: {thickness: 8, len: 0.92, tickformat: "$~s", outlinewidth: 0, x: 1.06,
                                     title: {text: "USDT<br>pending", side: "top", font: {size: 11}}},
       hovertemplate: `%{x|%b %d %H:%M} UTC<br>%{y:$,.0f} ± $${meta.price_step / 2}<br>` +
         "longs <b>%{customdata[0]:$.3~s}</b> · shorts <b>%{customdata[1]:$.3~s}</b><extra></extra>"},
      {type: "candlestick", name: "price", x: c.time, whiskerwidth: 0,
       open: c.open, high: c.high, low: c.low, close: c.close,
       increasing: {line: {color: "#2ee6b0", width: 1}, fillcolor: "#2ee6b0"},
       decreasing: {line: {color: "#ff5c7a", width: 1}, fillcolor: "#ff5c7a"}},
    ], liqmap.layout({showlegend: false, margin: {l: 16, r: 130, t: 12, b: 44}, plot_bgcolor: SCALE[0][1],
      shapes: lines.map((l) => l.shape), annotations: lines.map((l) => l.annotation),
      xaxis: {...liqmap.axis, type: "date", rangeslider: {visible: false}, showgrid: false},
      yaxis: {...liqmap.axis, side: "right", tickprefix: "$", tickformat: ",.0f", showgrid: false,
              ...(view ? {range: view, autorange: false} : {autorange: true})}}),
    // a double-click always zooms back out to the timeframe (the page fetches it again)
    {...liqmap.config, doubleClick: "autosize"});
  }

  function describe() {
    const meta = data.metadata, zoomed = zoom.start || zoom.price_min !== undefined, side = form.side.value;
    const now = side === "both" ? meta : meta.by_side[side];
    title.textContent = `${data.symbol} · ${form.model.selectedOptions[0].text} · ${zoomed ? "zoomed" : data.timeframe}`;
    liqmap.figures(stats, {"Price": liqmap.usd(data.current_price, 1), [`Densest level${SIDES[side]}`]: liqmap.usd(now.highest_density_price),
      [`Pending${SIDES[side]}`]: liqmap.compact(now.total_volume), "Confidence": `${Math.round(meta.confidence * 100)} %`,
      "Resolution": `${duration(meta.time_bucket_seconds)} × $${meta.price_step}`, "As of": liqmap.asOf(meta.as_of, signal.freshness)});
    const notes = [...liqmap.feedNotes(signal.freshness), ...meta.warnings,
                   ...(meta.is_valid ? [] : ["The model marked this run as not valid."])].filter(Boolean);
    if (!meta.covers_window && meta.data_start) {
      const days = Math.round((Date.parse(meta.data_end) - Date.parse(meta.data_start)) / 86_400_000);
      notes.unshift(`data covers ${days} days (${day(meta.data_start)} → ${day(meta.data_end)})`);
    }
    liqmap.notes(warnings, notes);
    banner.hidden = !signal.cluster_ahead;
    const away = signal.distance_pct == null ? "" : `, ${signal.distance_pct.toFixed(2)} % from the price`;
    if (!banner.hidden) banner.replaceChildren(liqmap.element("strong", "Liquidation cluster ahead"),
      ` at ${liqmap.usd(signal.cluster_price)}${away}`);
    signalLine.replaceChildren(liqmap.element("b", signal.action.replaceAll("_", " ")), " " + signal.reason);
    signalLine.dataset.action = signal.action;
  }

  async function load(withSignal) {
    const mine = ++ticket, q = query();
    const shown = {model: q.model, timeframe: q.timeframe};
    if (q.symbol !== form.symbol.options[0].value) shown.symbol = q.symbol;  // the default stays out
    history.replaceState(null, "", "?" + new URLSearchParams(shown));
    // no tier ticked is a choice the page cannot draw: say so rather than show every tier
    noTier.hidden = chosenTiers().length > 0;
    plot.hidden = !noTier.hidden;
    if (!noTier.hidden) {  // nothing drawn, so no figures either
      [stats, warnings].forEach((list) => list.replaceChildren());
      banner.hidden = true;
      plot.dataset.state = "empty";
      return;
    }
    plot.dataset.state = "loading";
    try {
      const [heat, sig] = await Promise.all([liqmap.getJSON("liquidations/heatmap", q),
        withSignal || !signal ? liqmap.getJSON("trading/signals", {symbol: q.symbol, model: q.model}) : signal]);
      if (mine !== ticket) return;  // a newer request was made while this one ran
      [data, signal] = [heat, sig];
      draw(); describe();
      liqmap.showError(errorBox, null);
      plot.dataset.state = "ready";
    } catch (error) {
      if (mine === ticket) { liqmap.showError(errorBox, error); plot.dataset.state = "error"; }
    }
  }

  form.addEventListener("change", (event) => {
    if (["side", "clip"].includes(event.target.name)) return data && (draw(), describe());
    zoom = {};
    load(true);
  });
  // copies: plotly writes its ranges into the axis objects it is given
  Plotly.newPlot(plot, [], liqmap.layout({xaxis: {...liqmap.axis}, yaxis: {...liqmap.axis}}), liqmap.config);
  plot.on("plotly_relayout", (ev) => {
    const x = ev["xaxis.range[0]"], y = ev["yaxis.range[0]"];
    if (ev["xaxis.autorange"] || ev["yaxis.autorange"]) zoom = {};  // double-click: back out
    else if (x === undefined && y === undefined) return;  // a resize, not a zoom
    if (x !== undefined) Object.assign(zoom, {start: toISO(x), end: toISO(ev["xaxis.range[1]"])});
    if (y !== undefined) Object.assign(zoom, {price_min: Math.max(0, Math.floor(y)), price_max: Math.ceil(ev["yaxis.range[1]"])});
    clearTimeout(zoomTimer);
    zoomTimer = setTimeout(() => load(false), 350);
  });
  // Live: every minute, the columns after the last but one shown (the last may have grown)
  // and the signal; a changed price grid (new levels beyond it) draws the page again
  async function refresh() {
    if (!data || plot.dataset.state !== "ready" || zoom.start || zoom.price_min !== undefined) return;
    const q = query(), mine = ticket;
    try {
      const [heat, sig] = await Promise.all([
        liqmap.getJSON("liquidations/heatmap", {...q, since: data.times.at(-2) ?? data.times.at(-1)}),
        liqmap.getJSON("trading/signals", {symbol: q.symbol, model: q.model})]);
      if (mine !== ticket) return;
      const sameGrid = heat.prices.length === data.prices.length && heat.prices[0] === data.prices[0] &&
        heat.metadata.price_step === data.metadata.price_step;
      if (!sameGrid) return load(true);
      signal = sig;
      if (heat.times.length) {
        const first = heat.times[0], start = heat.metadata.window_start;
        const keep = (t) => t >= start && t < first;
        const kept = data.times.map(keep);
        data.long = data.long.map((row, i) => [...row.filter((_, j) => kept[j]), ...heat.long[i]]);
        data.short = data.short.map((row, i) => [...row.filter((_, j) => kept[j]), ...heat.short[i]]);
        data.times = [...data.times.filter(keep), ...heat.times];
        const c = data.candles, old = c.time.map((t) => t >= start && t < (heat.candles.time[0] ?? "~"));
        for (const k of Object.keys(c)) c[k] = [...c[k].filter((_, j) => old[j]), ...heat.candles[k]];
        Object.assign(data, {current_price: heat.current_price, metadata: heat.metadata});
        draw();
      }
      describe();
    } catch (error) {
      liqmap.showError(errorBox, error);  // the page keeps what it shows; the next minute retries
    }
  }
  liqmap.everyMinute(refresh);
  // a symbol or model the selectors do not offer (no longer served) is left at the default
  const offered = (name, value) => !form[name].options || [...form[name].options].some((o) => o.value === value);
  for (const [name, value] of new URLSearchParams(location.search))
    if (["symbol", "model", "timeframe"].includes(name) && offered(name, value)) form[name].value = value;
  load(true);
})();
