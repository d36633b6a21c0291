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
