// Shared by the pages: fetch the API with the session cookie, turn its error answers
// into sentences a trader can act on, format USDT, and the dark chart defaults.
const liqmap = (() => {
  async function getJSON(path, params = {}) {
    const query = new URLSearchParams(
      Object.entries(params).filter(([, value]) => value !== undefined && value !== ""));
    let response;
    try {
      response = await fetch(`/api/v1/${path}?${query}`, {headers: {Accept: "application/json"}});
    } catch (networkError) {
      throw new Error("The server cannot be reached. Check the connection and reload the page.");
    }
    if (response.ok) return response.json();
    const body = await response.json().catch(() => ({}));
    if (response.status === 401 || response.status === 403) {
      throw Object.assign(new Error("Your session has ended."), {relogin: true});
    }
    if (response.status === 503) {
      const wait = response.headers.get("Retry-After");
      throw new Error(`The data warehouse is unavailable right now${wait ? `; retry in ${wait} s` : ""}.`);
    }
    if (response.status === 400) {
      const reasons = Object.entries(body).map(([name, messages]) => `${name}: ${[].concat(messages).join(" ")}`);
      throw new Error(`The request was refused (${reasons.join("; ")}).`);
    }
    throw new Error(body.detail || `The server answered ${response.status}.`);
  }

  function showError(box, error) {
    box.hidden = !error;
    if (!error) return;
    box.textContent = error.message + " ";
    if (error.relogin) {
      const link = Object.assign(document.createElement("a"), {textContent: "Log in again"});
      link.href = `/accounts/login/?next=${encodeURIComponent(location.pathname + location.search)}`;
      box.append(link);
    }
  }

  const usd = (value, digits = 0) =>
    value == null ? "–" : "$" + value.toLocaleString("en-US", {maximumFractionDigits: digits});
  const when = (iso) => iso.replace("T", " ").slice(0, 16) + " UTC";
  const compact = (value) =>
    value == null ? "–" : "$" + Intl.NumberFormat("en-US", {notation: "compact", maximumFractionDigits: 1}).format(value);

  const legend = {orientation: "h", x: 0, y: 1.02, yanchor: "bottom", bgcolor: "rgba(0,0,0,0)"};
  const axis = {gridcolor: "#1b2131", linecolor: "#2a3146", zeroline: false, tickfont: {size: 11}};
  const layout = (extra) => ({
    paper_bgcolor: "#0d111c", plot_bgcolor: "#0d111c", hovermode: "closest",
    font: {color: "#b7bdcc", size: 12, family: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"},
    hoverlabel: {bgcolor: "#1a2033", bordercolor: "#39415a", font: {color: "#e8eaf0"}},
    legend,
    margin: {l: 64, r: 72, t: 28, b: 40},
    ...extra,
  });
  const config = {displaylogo: false, responsive: true, showTips: false, modeBarButtonsToRemove: ["select2d", "lasso2d"]};

  // A price as a horizontal (along "y") or vertical (along "x") line with its value: the current
  // price labelled at the axis, another level (a cluster) labelled inside the plot.
  function priceLine(price, along = "y", {color = "#f5f7fa", text = usd(price, 1), inside = false} = {}) {
    const line = {type: "line", line: {color, width: 1, dash: inside ? "dot" : "dash"}, layer: "above"};
    const label = {text, showarrow: false, font: {color: "#0d111c", size: 11}, bgcolor: color, borderpad: 2};
    return along === "y"
      ? {shape: {...line, xref: "paper", x0: 0, x1: 1, y0: price, y1: price},
         annotation: {...label, xref: "paper", x: inside ? 0 : 1, xanchor: "left", y: price}}
      : {shape: {...line, yref: "paper", y0: 0, y1: 1, x0: price, x1: price},
         annotation: {...label, yref: "paper", y: inside ? 0.9 : 1, yanchor: "bottom", x: price}};
  }

  // a model's name as the pages show it: "binance_standard" -> "Binance standard"
  const label = (name) => name.replace("_", " ").replace(/^./, (c) => c.toUpperCase());
  const element = (tag, text) => Object.assign(document.createElement(tag), {textContent: text});
  // {name: value} as the <dt>/<dd> pairs of a <dl>
  const figures = (list, pairs) => list.replaceChildren(...Object.entries(pairs).map(([name, value]) => {
    const item = document.createElement("div");
    item.append(element("dt", name), element("dd", value));
    return item;
  }));
  const notes = (list, texts) => list.replaceChildren(...texts.map((text) => element("li", text)));

  // "3 min", "5 h", "2 d": how long ago an ISO time was
  function ago(iso) {
    const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    return s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${Math.round(s / 60)} min`
      : s < 129600 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86400)} d`;
  }
  // "As of" with the data's age; the API's freshness says whether the feed is behind
  const asOf = (iso, fresh) => iso ? `${when(iso)}${fresh && fresh.live && fresh.data_end ? ` (data ${ago(fresh.data_end)} old)` : ""}` : "–";
  const staleNote = (fresh) => fresh && fresh.stale
    ? (fresh.lagging_feeds && fresh.lagging_feeds.length
      ? `The market feed is behind (${fresh.lagging_feeds.join(", ")}): is manage.py follow running?`
      : `No new market data for ${ago(fresh.data_end)}: the feed is behind or stopped (is manage.py follow running?)`)
    : null;
  // what else a trader must know about the feeds: a stopped recorder
  const feedNotes = (fresh) => [staleNote(fresh),
    fresh && fresh.recorder_down ? "The liquidation recorder is down (manage.py record_liquidations): realized liquidations are missing since it stopped." : null,
  ].filter(Boolean);
  // live pages: run ``refresh`` every minute while the tab is visible
  const everyMinute = (refresh) => setInterval(() => document.hidden || refresh(), 60_000);

  return {getJSON, showError, usd, compact, when, legend, axis, layout, config, priceLine, label, element, figures, notes,
          ago, asOf, staleNote, feedNotes, everyMinute};
})();
