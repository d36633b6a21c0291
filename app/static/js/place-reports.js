/* The review page of reported places: a small map with one numbered marker per report (text only). */
(function () {
  "use strict";

  var page = JSON.parse(document.getElementById("page-data").textContent);
  var el = document.getElementById("reports-map");
  if (!el || !window.L || !page.reports.length) return;
  var map = L.map(el);
  if (page.tile_url) L.tileLayer(page.tile_url, { attribution: page.tile_attribution, maxZoom: 19 }).addTo(map);
  var bounds = [];
  page.reports.forEach(function (r, i) {
    var marker = L.circleMarker([r.lat, r.lon], { radius: 9, weight: 3, color: "#8a1c1c", fillOpacity: 0.5 }).addTo(map);
    var tip = document.createElement("span");
    tip.textContent = (i + 1) + ". " + r.title + ": " + r.label;  // data as text, never HTML
    marker.bindTooltip(tip, { permanent: page.reports.length <= 10, direction: "top" });
    bounds.push([r.lat, r.lon]);
  });
  if (bounds.length === 1) map.setView(bounds[0], 16);
  else map.fitBounds(bounds, { padding: [30, 30], maxZoom: 16 });
})();
