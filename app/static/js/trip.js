/* A trip's page: its planned route on a map, asking the router for it, and replacing it with a GPX file. */
(function () {
  "use strict";

  var page = JSON.parse(document.getElementById("page-data").textContent);
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var trip = page.trip;
  // A view first: circles need one before they can report their bounds.
  var map = L.map("trip-map").setView([trip.pickup.lat, trip.pickup.lon], 13);
  if (page.tile_url) L.tileLayer(page.tile_url, { attribution: page.tile_attribution, maxZoom: 19 }).addTo(map);
  var layers = L.featureGroup().addTo(map);

  function draw(t) {
    layers.clearLayers();
    L.circle([t.pickup.lat, t.pickup.lon], { radius: t.pickup.radius_m, color: "#2e7d32" }).addTo(layers);
    L.circle([t.dropoff.lat, t.dropoff.lon], { radius: t.dropoff.radius_m, color: "#6a1b9a" }).addTo(layers);
    if (t.route && t.route.length > 1) {
      L.polyline(t.route, { color: "#1f5fbf", weight: 4, className: "planned-route" }).addTo(layers);
    }
    map.fitBounds(layers.getBounds(), { padding: [20, 20] });
    document.getElementById("route-points").textContent = String((t.route || []).length);
    document.getElementById("route-summary").textContent = summary(t);
  }

  // " · 2.5 km, about 4 min by road (embedded router)", or "" for a drawn or uploaded route.
  function summary(t) {
    if (t.route_duration_s == null) return t.route_source === "upload" ? " (uploaded)" : "";
    var km = (t.route_distance_m / 1000).toFixed(1);
    var min = Math.max(1, Math.round(t.route_duration_s / 60));
    var engine = (t.route_source || "").replace(/^router:/, "");
    return " · " + km + " km, about " + min + " min by road (" + engine + " router)";
  }

  window.EscortTimes.fillPage(document, { seconds: false });  // the service's zone (ESCORT_TIMEZONE)
  // The live ETA: from the page's trip, then from each position pushed over /dispatch (no polling).
  var ETA_SOURCE = { road: "by road", "straight line": "straight line, no road route" };
  function etaWords(t) {
    var at = t.eta_at ? new Date(t.eta_at) : null;
    if (!at || isNaN(at)) return "none (not under way)";
    var km = (t.left_m || 0) / 1000;
    return at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", timeZoneName: "short" }) +
      (t.eta_to === "pickup" ? " at pickup, " : " at drop-off, ") + km.toFixed(km < 10 ? 1 : 0) + " km left" +
      (ETA_SOURCE[t.eta_source] ? " (" + ETA_SOURCE[t.eta_source] + ")" : "");
  }
  var etaEl = document.getElementById("trip-eta");
  etaEl.textContent = etaWords(trip);
  if (window.io) {
    // One /dispatch connection for the page: trip-watch.js and the messages panel (messages.js) take it too.
    var socket = io("/dispatch", { transports: ["websocket", "polling"] });
    window.dispatchState = window.dispatchState || { socket: socket };
    var newest = trip.last_fix ? trip.last_fix.ts : "";
    socket.on("positions", function (batch) {
      (batch.fixes || []).forEach(function (f) {
        if (f.trip_id !== trip.id || !("eta_at" in f) || f.ts < newest) return;
        newest = f.ts;
        trip.eta_at = f.eta_at; trip.left_m = f.left_m; trip.eta_to = f.eta_to; trip.eta_source = f.eta_source;
        etaEl.textContent = etaWords(trip);
      });
    });
    socket.on("trip", function (t) {
      if (t.id !== trip.id) return;
      if ("eta_at" in t) { trip.eta_at = t.eta_at; trip.left_m = t.left_m; trip.eta_to = t.eta_to; trip.eta_source = t.eta_source; }
      etaEl.textContent = etaWords(trip);
    });
  }

  draw(trip);
  window.tripMap = map;  // trip-watch.js draws the track and the live position on it

  var compute = document.getElementById("route-compute");
  if (compute) {
    compute.addEventListener("click", function () {
      var result = document.getElementById("route-compute-result");
      result.className = "";
      result.textContent = "Asking the router…";
      compute.disabled = true;
      fetch("/api/v1/trips/" + trip.id + "/route", {
        method: "POST", credentials: "same-origin",
        headers: { "X-CSRFToken": csrf, "Content-Type": "application/json" }, body: JSON.stringify({ compute: true })
      }).then(function (resp) {
        return resp.json().then(function (body) {
          if (!resp.ok) { result.className = "error"; result.textContent = body.error || "the router failed"; return; }
          result.textContent = "Road route computed:" + summary(body).replace(/^ ·/, "") + ".";
          draw(body);
        });
      }).catch(function () { result.className = "error"; result.textContent = "No answer from the server."; })
        .then(function () { compute.disabled = false; });
    });
  }

  var form = document.getElementById("route-form");
  if (!form) return;
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var result = document.getElementById("route-result");
    result.className = "";
    result.textContent = "Uploading…";
    fetch("/api/v1/trips/" + trip.id + "/route", {
      method: "PUT", credentials: "same-origin", headers: { "X-CSRFToken": csrf }, body: new FormData(form)
    }).then(function (resp) {
      return resp.json().then(function (body) {
        if (!resp.ok) { result.className = "error"; result.textContent = body.error || "upload failed"; return; }
        result.textContent = "Route replaced: " + (body.route_note ? body.route_note + "." : body.route.length + " points.");
        draw(body);
      });
    }).catch(function () { result.className = "error"; result.textContent = "No answer from the server."; });
  });
})();
