/* A trip's page: its planned route on a map, and replacing the route with a GPX file. */
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
  }

  Array.prototype.forEach.call(document.querySelectorAll("time.local-time"), function (el) {
    var when = new Date(el.getAttribute("datetime"));
    if (!isNaN(when)) el.textContent = when.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  });
  draw(trip);

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
