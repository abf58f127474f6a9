/* The console dashboard's charts (idp/admin/console_chart.py): reads them from the page's
   <script type="application/json" id="console-charts"> element and draws each into its
   <div class="echart" data-chart="ID"> with Apache ECharts (served from /admin/static, never a
   CDN). The SVG renderer: crisp at any zoom, printable, and its text is in the DOM. Tooltips are
   drawn inside the chart (richText) rather than as HTML with inline styles, which the pages'
   Content-Security-Policy (style-src 'self') would refuse. */
(function () {
  "use strict";
  var source = document.getElementById("console-charts");
  if (!source || typeof window.echarts === "undefined") { return; }
  var charts = JSON.parse(source.textContent);
  var drawn = [];

  function option(chart) {
    var perHour = chart.kind === "line" || chart.x.length > 12;
    return {
      animation: false,
      color: chart.series.map(function (s) { return s.color; }),
      grid: { left: 48, right: 16, top: 16, bottom: 72, containLabel: true },
      tooltip: { trigger: "axis", renderMode: "richText" },
      legend: { bottom: 0, left: "center", type: "scroll", icon: "roundRect",
                itemWidth: 14, itemHeight: 14, itemGap: 20,
                textStyle: { fontSize: 13, color: "#1c2430" } },
      xAxis: { type: "category", data: chart.x, boundaryGap: chart.kind === "bar",
               axisLabel: { color: "#52606d", hideOverlap: true,
                            rotate: 0, interval: perHour ? "auto" : 0 } },
      // whole numbers only: a maximum of 1 gives the ticks 0 and 1, not 0, 0, 0, 1
      yAxis: { type: "value", minInterval: 1, axisLabel: { color: "#52606d" },
               splitLine: { lineStyle: { color: "#e2e7ee" } } },
      series: chart.series.map(function (s) {
        return { name: s.name, type: chart.kind, data: s.data,
                 stack: chart.stack ? "total" : undefined,
                 showSymbol: chart.x.length <= 48, symbolSize: 5,
                 lineStyle: { width: 2.5 }, barMaxWidth: 36,
                 emphasis: { focus: "series" } };
      })
    };
  }

  charts.forEach(function (chart) {
    var box = document.querySelector('.echart[data-chart="' + chart.id + '"]');
    if (!box) { return; }
    var instance = window.echarts.init(box, null, { renderer: "svg" });
    instance.setOption(option(chart));
    box.setAttribute("data-rendered", "true");
    drawn.push(instance);
  });
  window.addEventListener("resize", function () {
    drawn.forEach(function (instance) { instance.resize(); });
  });
}());
