// Compare models: each model's levels in its own row on one price axis, so a trader sees at
// a glance where they agree, and the bands the API names where their mean levels are too far
// apart (its disagreement limit); a card's meter takes the colour of the API's confidence band.
(() => {
  const form = document.getElementById("controls");
  const plot = document.getElementById("plot");
  const [title, stats, cards, zoneList, errorBox] =
    ["title", "stats", "cards", "zones", "error"].map((id) => document.getElementById(id));
  const COLOURS = {ensemble: "#fde725", binance_standard: "#3b9be8", funding_adjusted: "#1fb5a0", trade_clusters: "#c77dff"};
  const {label} = liqmap;

  function drawCards(data) {
    cards.replaceChildren(...data.models.map((model) => {
      const card = Object.assign(document.createElement("article"), {className: "card"});
      card.innerHTML = `<h2><i></i></h2>
        <div class="meter" data-band="${model.confidence_band}" title="confidence ${model.confidence_band}"><b></b></div><dl></dl>`;
      // set through the DOM: the Content-Security-Policy refuses style attributes in markup
      card.querySelector("h2 i").style.background = COLOURS[model.name] || "#8089a0";
      card.querySelector(".meter b").style.width = `${Math.round(model.avg_confidence * 100)}%`;
      card.querySelector("h2").append(label(model.name));
      liqmap.figures(card.querySelector("dl"), {"Avg confidence": `${(model.avg_confidence * 100).toFixed(1)} %`,
        "Mean long level": liqmap.usd(model.mean_level.long), "Mean short level": liqmap.usd(model.mean_level.short),
        "Levels": model.levels.length});
      return card;
    }));
  }

  function draw(data) {
    const all = data.models.flatMap((m) => m.levels.map((l) => l.price));
    if (!all.length) throw new Error("No model has levels yet: run calculate for this symbol.");
    const low = Math.min(...all), high = Math.max(...all), step = 10 ** Math.round(Math.log10((high - low) / 150));
    const rows = data.models.length, traces = [], shapes = [], annotations = [];
    data.models.forEach((model, i) => {
      const yaxis = i ? `y${i + 1}` : "y";
      for (const [side, colour] of [["long", "#ff5c7a"], ["short", "#2ee6b0"]]) {
        const sums = new Map();
        for (const l of model.levels) if (l.side === side) {
          const bin = Math.floor(l.price / step) * step + step / 2;
          sums.set(bin, (sums.get(bin) || 0) + l.volume);
        }
        traces.push({type: "bar", x: [...sums.keys()], y: [...sums.values()], yaxis, width: step, name: `${side}s`,
          legendgroup: side, showlegend: i === 0, marker: {color: colour}, hovertemplate: `${label(model.name)}<br>%{x:$,.0f}: <b>%{y:$,.3s}</b> ${side}s<extra></extra>`});
        const mean = model.mean_level[side];
        if (mean != null) shapes.push({type: "line", xref: "x", yref: `${yaxis} domain`, x0: mean, x1: mean, y0: 0, y1: 1,
          line: {color: COLOURS[model.name] || "#8089a0", width: 1.5, dash: "dot"}});
      }
      annotations.push({text: label(model.name), xref: "paper", yref: `${yaxis} domain`, x: 0.005, y: 0.95, xanchor: "left",
        showarrow: false, font: {color: COLOURS[model.name] || "#b7bdcc", size: 12}});
    });
    for (const zone of data.zones) {
      shapes.push({type: "rect", xref: "x", yref: "paper", x0: zone.low, x1: zone.high, y0: 0, y1: 1, layer: "below",
        fillcolor: "rgba(255,176,32,0.13)", line: {color: "rgba(255,176,32,0.45)", width: 1}, name: "zone"});
      annotations.push({text: `${zone.side}s: ${zone.gap_pct.toFixed(1)} % apart`, xref: "x", yref: "paper",
        x: (zone.low + zone.high) / 2, y: 1, yanchor: "bottom", showarrow: false, font: {color: "#ffb020", size: 11}});
    }
    // legend entries for the lines and bands drawn as shapes
    const key = (name, line, extra = {}) => ({type: "scatter", mode: "lines", x: [null], y: [null], yaxis: "y", name, line, hoverinfo: "skip", ...extra});
    traces.push(key("mean level (dotted)", {color: "#b7bdcc", width: 1.5, dash: "dot"}),
      key(`disagreement over ${data.disagreement_limit_pct} %`, {color: "rgba(255,176,32,0.45)", width: 8}));
    const now = liqmap.priceLine(data.current_price, "x");
    // two ticks a row, small: four rows of labels stay apart
    const yaxes = Object.fromEntries(data.models.map((_, i) =>
      [i ? `yaxis${i + 1}` : "yaxis", {...liqmap.axis, tickformat: "$.2~s", nticks: 2, tickfont: {size: 10}, rangemode: "tozero"}]));
    Plotly.react(plot, traces, liqmap.layout({grid: {rows, columns: 1, pattern: "coupled", ygap: 0.16}, bargap: 0,
      showlegend: true, legend: {...liqmap.legend, y: 1.04},
      shapes: [...shapes, now.shape], annotations: [...annotations, now.annotation], margin: {l: 64, r: 24, t: 34, b: 40},
      xaxis: {...liqmap.axis, tickprefix: "$", tickformat: ",.0f", range: [low, high]}, ...yaxes}), liqmap.config);
  }

  async function load() {
    plot.dataset.state = "loading";
    try {
      const data = await liqmap.getJSON("liquidations/compare-models", {symbol: form.symbol.value});
      title.textContent = `${data.symbol} · ${data.models.length} models`;
      const w = data.weights, shown = w.in_force || w.configured;
      liqmap.figures(stats, {"Price": liqmap.usd(data.current_price, 1), "Zones of disagreement": data.zones.length,
        "Ensemble weights": w.mode === "learned" ? `learned over ${w.learning_days} d` : "fixed",
        ...Object.fromEntries(Object.entries(shown).map(([name, value]) => [label(name), `${Math.round(value * 100)} %`]))});
      liqmap.notes(zoneList, data.zones.length ? data.zones.map((z) =>
        `Models disagree on ${z.side}s between ${liqmap.usd(z.low)} and ${liqmap.usd(z.high)} (${z.gap_pct.toFixed(1)} % of the price)`)
        : [`The models' mean levels agree within ${data.disagreement_limit_pct} % of the price on both sides.`]);
      zoneList.classList.toggle("ok", !data.zones.length);
      drawCards(data); draw(data);
      liqmap.showError(errorBox, null);
      plot.dataset.state = "ready";
    } catch (error) {
      liqmap.showError(errorBox, error);
      plot.dataset.state = "error";
    }
  }

  form.addEventListener("change", load);
  load();
})();
