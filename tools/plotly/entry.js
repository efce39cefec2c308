// The plotly.js the pages need and nothing else: the core (scatter, shapes, annotations),
// heatmap, bar and candlestick. A fifth of the full bundle, so the first draw is quick.
var Plotly = require("plotly.js/lib/core");

Plotly.register([
  require("plotly.js/lib/bar"),
  require("plotly.js/lib/candlestick"),
  require("plotly.js/lib/heatmap"),
]);

module.exports = Plotly;
