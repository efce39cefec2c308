// Liquidation map: where the positions open now would be liquidated, stacked by leverage tier,
// and how much notional a move from the current price would liquidate on its way.
(() => {
  const form = document.getElementById("controls");
  const plot = document.getElementById("plot");
  const [title, stats, warnings, errorBox] = ["title", "stats", "warnings", "error"].map((id) => document.getElementById(id));
  // one colour a tier, none of them the longs' red or the shorts' teal of the curves
  const TIER_COLOURS = {2: "#7b61ff", 3: "#5b6ee8", 5: "#4c5fd7", 10: "#3b9be8", 20: "#1fb5a0", 25: "#8fd14f",
                        50: "#fdb827", 75: "#ff8c42", 100: "#e879f9", 125: "#d8dde8"};
  let data;

  // a round bar width giving about 120 bars across the shown range
  const niceStep = (span) => {
    const raw = span / 120, power = 10 ** Math.floor(Math.log10(raw));
    return [1, 2, 2.5, 5, 10].map((m) => m * power).find((step) => step >= raw);
  };

  // the levels inside the range the radio buttons choose, and that range
  function visible() {
    const price = data.current_price, range = +form.range.value / 100;
    const [low, high] = range < 1 ? [price * (1 - range), price * (1 + range)]
      : [Math.min(...data.levels.map((l) => l.price)), Math.max(...data.levels.map((l) => l.price))];
    return {low, high, shown: data.levels.filter((l) => l.price >= low && l.price <= high)};
  }

  function draw() {
    if (!data.levels.length) throw new Error("This model has no levels yet: run calculate for this symbol.");
    const price = data.current_price, {low, high, shown} = visible();
    const step = niceStep(high - low), bin = (p) => Math.floor(p / step) * step + step / 2;
    const tiers = [...new Set(shown.map((l) => l.leverage))].sort((a, b) => a - b);
    const bars = tiers.map((tier) => {
      const sums = new Map(), sides = new Map();
      for (const l of shown) if (l.leverage === tier) {
        sums.set(bin(l.price), (sums.get(bin(l.price)) || 0) + l.volume);
        sides.set(bin(l.price), new Set([...(sides.get(bin(l.price)) || []), `${l.side}s`]));
      }
      return {type: "bar", name: `${tier}x`, x: [...sums.keys()], y: [...sums.values()], width: step * 0.92,
              customdata: [...sums.keys()].map((x) => [...sides.get(x)].join(" and ")),
              marker: {color: TIER_COLOURS[tier] || "#8089a0"}, hovertemplate: `%{x:$,.0f} · ${tier}x %{customdata}<br><b>%{y:$,.3s}</b> liquidated here<extra></extra>`};
    });
    const curve = (side, colour, fill) => {
      const points = [{price, volume: 0}, ...data.cumulative[side].filter((p) => p.price >= low && p.price <= high)];
      return {type: "scatter", mode: "lines", yaxis: "y2", name: `Cumulative ${side}s`, x: points.map((p) => p.price),
              y: points.map((p) => p.volume), line: {color: colour, width: 2}, fill: "tozeroy", fillcolor: fill,
              hovertemplate: `%{x:$,.0f}<br>${side}s liquidated on the way: <b>%{y:$,.3s}</b><extra></extra>`};
    };
    const now = liqmap.priceLine(price, "x");
    const side = (text, x, anchor) => ({text, x, xanchor: anchor, xref: "x", yref: "paper", y: 0.96, showarrow: false, font: {color: "#8089a0"}});
    Plotly.react(plot, [...bars, curve("long", "#ff5c7a", "rgba(255,92,122,0.07)"), curve("short", "#2ee6b0", "rgba(46,230,176,0.07)")],
      liqmap.layout({barmode: "stack", bargap: 0, legend: {...liqmap.legend, traceorder: "normal"}, shapes: [now.shape],
        annotations: [now.annotation, side("← longs liquidated   ", price, "right"), side("   shorts liquidated →", price, "left")],
        xaxis: {...liqmap.axis, range: [low, high], tickprefix: "$", tickformat: ",.0f", showgrid: false},
        yaxis: {...liqmap.axis, title: {text: "liquidation notional", font: {size: 11}}, tickformat: "$~s"},
        yaxis2: {...liqmap.axis, overlaying: "y", side: "right", showgrid: false, tickformat: "$~s", tickmode: "auto",
                 title: {text: "cumulative", font: {size: 11}}, rangemode: "tozero"}}),
      liqmap.config);
  }

  function describe() {
    const total = (side) => data.levels.filter((l) => l.side === side).reduce((sum, l) => sum + l.volume, 0);
    const {shown} = visible(), top = shown.reduce((a, b) => (b.volume > a.volume ? b : a), shown[0] || {});
    title.textContent = `${data.symbol} · ${form.model.selectedOptions[0].text} · liquidation map`;
    liqmap.figures(stats, {"Price": liqmap.usd(data.current_price, 1), "Longs below": liqmap.compact(total("long")),
      "Shorts above": liqmap.compact(total("short")), "Largest level in view": top.price ? `${liqmap.usd(top.price)} (${top.leverage}x ${top.side}s)` : "–",
      "As of": liqmap.asOf(data.timestamp, data.freshness)});
    liqmap.notes(warnings, liqmap.feedNotes(data.freshness));
  }

  async function load(quiet = false) {
    if (!quiet) plot.dataset.state = "loading";
    try {
      data = await liqmap.getJSON("liquidations/levels", {symbol: form.symbol.value, model: form.model.value});
      draw(); describe();
      liqmap.showError(errorBox, null);
      plot.dataset.state = "ready";
    } catch (error) {
      liqmap.showError(errorBox, error);
      plot.dataset.state = "error";
    }
  }

  form.addEventListener("change", (event) => (event.target.name === "range" ? data && (draw(), describe()) : load()));
  load();
  liqmap.everyMinute(() => plot.dataset.state === "ready" && load(true));  // live: the levels now
})();
