/* The trip form: a click on the map sets the pickup, the drop-off or an allowed stop (as the
   radio buttons say) and fills the latitude and longitude fields; typing in the fields moves
   the markers; a new pickup time asks which escorts are free then. */
(function () {
  "use strict";

  var page = JSON.parse(document.getElementById("page-data").textContent);
  function $(id) { return document.getElementById(id); }
  var said = $("map-said");
  var NAMES = { pickup: "Pickup", dropoff: "Drop-off" };

  var map = L.map("plan-map").setView([51.5, -0.12], 12);
  if (page.tile_url) L.tileLayer(page.tile_url, { attribution: page.tile_attribution, maxZoom: 19 }).addTo(map);
  var markers = {};

  function fieldValue(end, axis) { return parseFloat($("f-" + end + "_" + axis).value); }

  function place(end) {
    var lat = fieldValue(end, "lat"), lon = fieldValue(end, "lon");
    if (isNaN(lat) || isNaN(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) {
      if (markers[end]) { map.removeLayer(markers[end]); delete markers[end]; }
      return null;
    }
    if (!markers[end]) {
      markers[end] = L.circleMarker([lat, lon], { radius: 9, weight: 3, color: end === "pickup" ? "#1b5e20" : "#8e0000",
                                                  className: "plan-" + end }).addTo(map);
      markers[end].bindTooltip(NAMES[end], { permanent: true, direction: "top" });
    } else {
      markers[end].setLatLng([lat, lon]);
    }
    return [lat, lon];
  }

  var stopLayer = L.layerGroup().addTo(map);
  function drawStops() {
    stopLayer.clearLayers();
    $("f-allowed_stops").value.split("\n").forEach(function (line) {
      var m = line.match(/^\s*(-?\d+(?:\.\d+)?)\s*[,; ]\s*(-?\d+(?:\.\d+)?)\s*$/);
      if (m) L.circleMarker([+m[1], +m[2]], { radius: 6, color: "#5b3a8c", className: "plan-stop" })
        .bindTooltip("Allowed stop").addTo(stopLayer);
    });
  }

  // Coordinates typed or clicked by hand are no longer the address found: its words are dropped.
  function forgetAddress(end) {
    $("f-" + end + "_address").value = "";
    var chosen = document.querySelector("[data-address-search][data-end=" + end + "] [data-chosen]");
    if (chosen) chosen.textContent = "";
  }

  ["pickup", "dropoff"].forEach(function (end) {
    ["lat", "lon"].forEach(function (axis) {
      $("f-" + end + "_" + axis).addEventListener("input", function () { forgetAddress(end); place(end); });
    });
  });
  // A place chosen in an address search (address-search.js) fills that end's fields: show it.
  document.addEventListener("address-picked", function (ev) {
    var end = ev.target.dataset && ev.target.dataset.end;
    if (!NAMES[end]) return;
    $("f-" + end + "_address").value = ev.detail.label;
    var at = place(end);
    if (at) map.setView(at, Math.max(map.getZoom(), 15));
    said.textContent = NAMES[end] + " set to " + ev.detail.label + ".";
  });
  $("f-allowed_stops").addEventListener("input", drawStops);

  function mode() { return document.querySelector("input[name=click_mode]:checked").value; }

  map.on("click", function (ev) {
    var lat = ev.latlng.lat.toFixed(6), lon = ev.latlng.lng.toFixed(6), m = mode();
    if (m === "stop") {
      var box = $("f-allowed_stops");
      box.value = (box.value.trim() ? box.value.trim() + "\n" : "") + lat + ", " + lon;
      drawStops();
      said.textContent = "Allowed stop added at " + lat + ", " + lon + ".";
      return;
    }
    $("f-" + m + "_lat").value = lat;
    $("f-" + m + "_lon").value = lon;
    forgetAddress(m);
    place(m);
    said.textContent = NAMES[m] + " set to " + lat + ", " + lon + ".";
    // The next click sets the drop-off: the usual order of planning.
    if (m === "pickup") document.querySelector("input[name=click_mode][value=dropoff]").checked = true;
  });

  var shown = [place("pickup"), place("dropoff")].filter(Boolean);
  drawStops();
  if (shown.length) map.fitBounds(L.latLngBounds(shown).pad(0.5), { maxZoom: 15 });

  // Escorts free at the pickup time: the option texts change, the choice stays.
  var escort = $("f-escort");
  function refreshEscorts() {
    var raw = $("f-pickup_time").value;
    var start = raw ? new Date(raw) : null;
    if (!start || isNaN(start)) return;
    var url = "/api/v1/escorts?start=" + encodeURIComponent(start.toISOString());
    if (page.trip_id) url += "&except_trip=" + page.trip_id;
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; }).then(function (list) {
      if (!list) return;
      var chosen = escort.value;
      while (escort.options.length > 1) escort.remove(1);
      list.forEach(function (e) {
        var o = document.createElement("option");
        o.value = e.username;
        o.textContent = e.username + " (" + (e.free ? "free" : e.busy_with ? "busy: trip " + e.busy_with : "busy") + ")";
        escort.appendChild(o);
      });
      escort.value = chosen;
    });
  }
  $("f-pickup_time").addEventListener("change", refreshEscorts);

  var summary = $("error-summary");
  if (summary) summary.focus();
})();
