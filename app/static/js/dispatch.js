/* Live map for dispatchers: a snapshot on every (re)connect, then batched positions,
   alerts and trip changes over the /dispatch Socket.IO namespace. */
(function () {
  "use strict";

  var page = JSON.parse(document.getElementById("page-data").textContent);
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var SEVERITY = ["panic", "duress", "missed_checkin", "signal_lost", "deviation", "stop",
                  "hazard_zone", "late", "medication_due"];
  var ENDED = { completed: true, cancelled: true, no_show: true };
  var TRAIL = 50;
  var MOCKED = "Mocked location — not to be trusted";

  var map = L.map("map", { zoomControl: true }).setView([51.5, -0.12], 12);
  if (page.tile_url) {
    L.tileLayer(page.tile_url, { attribution: page.tile_attribution, maxZoom: 19 }).addTo(map);
  }

  // Everything the page knows, replaced by each snapshot (the server is the record).
  var state = { trips: {}, devices: {}, alerts: {}, markers: {}, deviceMarkers: {}, layers: {}, lastFix: {} };
  window.dispatchState = state;

  function text(tag, cls, content) {
    var el = document.createElement(tag);
    if (cls) el.className = cls;
    if (content !== undefined) el.textContent = content;
    return el;
  }

  // Leaflet puts a string tooltip in as HTML: tooltips get an element with text lines instead.
  function tooltipNode(lines, cls) {
    var box = text("div", cls);
    lines.filter(Boolean).forEach(function (line) { box.appendChild(text("div", "", line)); });
    return box;
  }

  // The phone said the position came from a mock-location app: show it, never trust it quietly.
  function isMocked(fix) { return !!(fix && fix.mock === true); }

  function styleMocked(marker, mocked) {
    marker.setStyle(mocked ? { color: "#e65100", weight: 4, dashArray: "3 3" } : { color: "#fff", weight: 3, dashArray: null });
    var el = marker.getElement && marker.getElement();
    if (el) el.classList.toggle("mocked", mocked);
  }

  function ago(iso) {
    if (!iso) return "never";
    var s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 90) return s + " s ago";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    return Math.round(s / 3600) + " h ago";
  }

  function openAlertsOf(tripId) {
    return Object.keys(state.alerts).some(function (id) {
      var a = state.alerts[id];
      return a.trip_id === tripId && a.state !== "resolved";
    });
  }

  // ---- trips on the map ----------------------------------------------------------------

  function clearTrip(id) {
    (state.layers[id] || []).forEach(function (layer) { map.removeLayer(layer); });
    delete state.layers[id];
    if (state.markers[id]) { map.removeLayer(state.markers[id]); delete state.markers[id]; }
    if (state.markers["trail-" + id]) { map.removeLayer(state.markers["trail-" + id]); delete state.markers["trail-" + id]; }
  }

  function drawTrip(trip) {
    clearTrip(trip.id);
    var layers = [];
    if (trip.route && trip.route.length > 1) {
      layers.push(L.polyline(trip.route, { color: "#1f5fbf", weight: 4, opacity: 0.6, className: "route trip-route-" + trip.id }));
    }
    layers.push(L.circle([trip.pickup.lat, trip.pickup.lon], { radius: trip.pickup.radius_m, color: "#2e7d32", weight: 2, fillOpacity: 0.1 }));
    layers.push(L.circle([trip.dropoff.lat, trip.dropoff.lon], { radius: trip.dropoff.radius_m, color: "#6a1b9a", weight: 2, fillOpacity: 0.1 }));
    layers.forEach(function (layer) { layer.addTo(map); });
    state.layers[trip.id] = layers;
    if (trip.last_fix) placeTripMarker(trip, trip.last_fix);
  }

  function tripLabel(trip, fix) {
    return tooltipNode([(trip.patient_name || "Trip " + trip.id) + " — " + (trip.escort || "no escort") + " — " +
                        trip.status.replace(/_/g, " "), isMocked(fix) ? MOCKED : ""], isMocked(fix) ? "mocked" : "");
  }

  function placeTripMarker(trip, fix) {
    var latlng = [fix.lat, fix.lon];
    var marker = state.markers[trip.id];
    if (!marker) {
      marker = L.circleMarker(latlng, { radius: 9, weight: 3, color: "#fff", fillColor: "#1f5fbf", fillOpacity: 1,
                                        className: "escort-marker trip-" + trip.id }).addTo(map);
      marker.bindTooltip(tripLabel(trip, fix));
      state.markers[trip.id] = marker;
      state.markers["trail-" + trip.id] = L.polyline([], { color: "#1f5fbf", weight: 2, dashArray: "4 4" }).addTo(map);
    } else {
      marker.setLatLng(latlng);
      marker.setTooltipContent(tripLabel(trip, fix));
    }
    var trail = state.markers["trail-" + trip.id];
    trail.addLatLng(latlng);
    var pts = trail.getLatLngs();
    if (pts.length > TRAIL) trail.setLatLngs(pts.slice(pts.length - TRAIL));
    markOffRoute(trip.id, latlng);
    marker.setStyle({ fillColor: openAlertsOf(trip.id) ? "#c62828" : "#1f5fbf" });
    styleMocked(marker, isMocked(fix));
  }

  // While a deviation is open, the driven stretch is drawn in red over the planned route.
  function markOffRoute(tripId, latlng) {
    var key = "offroute-" + tripId;
    var deviating = Object.keys(state.alerts).some(function (id) {
      var a = state.alerts[id];
      return a.trip_id === tripId && a.kind === "deviation" && a.state !== "resolved";
    });
    var line = state.markers[key];
    if (!deviating) { if (line) line.closed = true; return; }
    if (!line || line.closed) {
      line = L.polyline([], { color: "#c62828", weight: 5, opacity: 0.85, className: "off-route trip-offroute-" + tripId }).addTo(map);
      state.markers[key] = line;
      (state.layers[tripId] = state.layers[tripId] || []).push(line);
    }
    line.addLatLng(latlng);
  }

  function placeDeviceMarker(deviceId, fix) {
    var marker = state.deviceMarkers[deviceId];
    var dev = state.devices[deviceId] || { label: "device " + deviceId };
    var label = tooltipNode([dev.label || "device " + deviceId, isMocked(fix) ? MOCKED : ""], isMocked(fix) ? "mocked" : "");
    if (!marker) {
      marker = L.circleMarker([fix.lat, fix.lon], { radius: 7, color: "#fff", weight: 2, fillColor: "#78909c", fillOpacity: 1,
                                                    className: "escort-marker device-" + deviceId }).addTo(map);
      marker.bindTooltip(label);
      state.deviceMarkers[deviceId] = marker;
    } else {
      marker.setLatLng([fix.lat, fix.lon]);
      marker.setTooltipContent(label);
    }
    styleMocked(marker, isMocked(fix));
  }

  // ---- side lists -------------------------------------------------------------------------

  function renderTrips() {
    var list = document.getElementById("trip-list");
    list.textContent = "";
    Object.keys(state.trips).map(Number).sort(function (a, b) { return a - b; }).forEach(function (id) {
      var trip = state.trips[id];
      var li = text("li");
      li.dataset.tripId = id;
      if (openAlertsOf(id)) li.classList.add("has-alert");
      li.appendChild(text("div", "name", (trip.patient_name || "Trip " + id) + " · " + (trip.escort || "—")));
      var fix = state.lastFix[id] || trip.last_fix;
      li.appendChild(text("div", "meta", trip.status.replace(/_/g, " ") + " · last seen " + ago(fix && fix.ts)));
      if (isMocked(fix)) { li.classList.add("mocked"); li.appendChild(text("div", "mocked-note", MOCKED)); }
      var open = text("a", "details", "Trip page");
      open.href = "/dispatch/trips/" + id;
      li.appendChild(open);
      if (trip.patient_id) {  // the patient's sheet (the live map is for staff, who may read every sheet)
        var sheet = text("a", "details sheet-link", "Patient sheet");
        sheet.href = "/patients/" + trip.patient_id;
        li.appendChild(sheet);
      }
      li.addEventListener("click", function () { focusTrip(id); });
      list.appendChild(li);
    });
  }

  function severity(kind) {
    var i = SEVERITY.indexOf(kind);
    return i < 0 ? 99 : i;
  }

  function describe(alert) {
    var d = alert.detail || {};
    if (d.distance_off_route_m !== undefined) return Math.round(d.distance_off_route_m) + " m off route";
    if (d.duration_s !== undefined) return "stopped " + Math.round(d.duration_s / 60) + " min";
    if (d.lat !== undefined) return "at " + d.lat.toFixed(5) + ", " + d.lon.toFixed(5);
    return "";
  }

  function renderAlerts() {
    var list = document.getElementById("alert-list");
    list.textContent = "";
    var open = Object.keys(state.alerts).map(function (k) { return state.alerts[k]; })
      .filter(function (a) { return a.state !== "resolved"; })
      .sort(function (a, b) { return severity(a.kind) - severity(b.kind) || Date.parse(a.raised_at) - Date.parse(b.raised_at); });
    if (!open.length) { list.appendChild(text("li", "empty", "No open alerts")); return; }
    open.forEach(function (alert) {
      var li = text("li", (severity(alert.kind) < 2 ? "sev-high " : "") + alert.state);
      li.dataset.alertId = alert.id;
      li.dataset.kind = alert.kind;
      var trip = state.trips[alert.trip_id];
      li.appendChild(text("div", "kind", alert.kind.replace(/_/g, " ")));
      li.appendChild(text("div", "", (trip ? (trip.patient_name || "Trip " + trip.id) + " · " + (trip.escort || "") : "Trip " + alert.trip_id)));
      li.appendChild(text("div", "meta", [describe(alert), "raised " + ago(alert.raised_at),
        alert.acknowledged_by ? "ack by " + alert.acknowledged_by : ""].filter(Boolean).join(" · ")));
      var actions = text("div", "actions");
      if (alert.state === "open") actions.appendChild(button("Acknowledge", "ack", function () { post(alert.id, "ack", {}); }));
      actions.appendChild(button("Resolve", "resolve", function () { askResolve(alert.id); }));
      li.appendChild(actions);
      li.addEventListener("click", function (ev) { if (ev.target.tagName !== "BUTTON") focusTrip(alert.trip_id); });
      list.appendChild(li);
    });
  }

  function button(label, cls, onClick) {
    var b = text("button", cls, label);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  function focusTrip(id) {
    var m = state.markers[id];
    if (m) { map.setView(m.getLatLng(), Math.max(map.getZoom(), 15)); m.openTooltip(); }
    else if (state.layers[id] && state.layers[id].length) { map.fitBounds(L.featureGroup(state.layers[id]).getBounds()); }
  }

  function post(alertId, action, body) {
    return fetch("/api/v1/alerts/" + alertId + "/" + action, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body)
    }).then(function (r) { return r.json().then(function (j) { if (!r.ok) alert(j.error || "failed"); }); });
  }

  var resolving = null;
  function askResolve(alertId) {
    resolving = alertId;
    var dlg = document.getElementById("resolve-dialog");
    document.getElementById("resolve-note").value = "";
    if (dlg.showModal) dlg.showModal(); else dlg.setAttribute("open", "");
  }
  document.getElementById("resolve-dialog").addEventListener("close", function () {
    var dlg = document.getElementById("resolve-dialog");
    if (dlg.returnValue === "ok" && resolving !== null) {
      post(resolving, "resolve", { category: document.getElementById("resolve-category").value,
                                   note: document.getElementById("resolve-note").value });
    }
    resolving = null;
  });

  // Panic and duress must be heard; browsers may refuse audio until the page was touched.
  function beep() {
    try {
      var ctx = new (window.AudioContext || window.webkitAudioContext)();
      var osc = ctx.createOscillator();
      osc.frequency.value = 880;
      osc.connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + 0.6);
    } catch (e) { /* no audio available: the list still shows it first */ }
  }

  // ---- socket ---------------------------------------------------------------------------

  function drawZones(zones) {
    (state.zoneLayers || []).forEach(function (layer) { map.removeLayer(layer); });
    state.zoneLayers = (zones || []).map(function (z) {
      return L.polygon(z.polygon, { color: "#c62828", weight: 2, dashArray: "6 4", fillOpacity: 0.08,
                                    className: "hazard-zone zone-" + z.id })
        .bindTooltip(tooltipNode(["Hazard: " + z.name, z.reason || ""], "zone-label")).addTo(map);
    });
  }

  function applySnapshot(snap) {
    drawZones(snap.zones);
    Object.keys(state.trips).forEach(clearTrip);
    Object.keys(state.deviceMarkers).forEach(function (id) { map.removeLayer(state.deviceMarkers[id]); });
    state.trips = {}; state.devices = {}; state.alerts = {}; state.deviceMarkers = {}; state.lastFix = {};
    snap.alerts.forEach(function (a) { state.alerts[a.id] = a; });
    snap.trips.forEach(function (t) { state.trips[t.id] = t; drawTrip(t); });
    snap.devices.forEach(function (d) {
      state.devices[d.device_id] = d;
      if (d.last_fix && d.last_fix.lat !== null) placeDeviceMarker(d.device_id, d.last_fix);
    });
    var groups = [];
    Object.keys(state.layers).forEach(function (id) { groups = groups.concat(state.layers[id]); });
    if (groups.length) map.fitBounds(L.featureGroup(groups).getBounds(), { padding: [30, 30] });
    renderTrips();
    renderAlerts();
  }

  function applyPositions(batch) {
    var latestByKey = {};
    batch.fixes.forEach(function (fix) {
      var key = fix.trip_id !== null && state.trips[fix.trip_id] ? "t" + fix.trip_id : "d" + fix.device_id;
      var cur = latestByKey[key];
      if (!cur || Date.parse(fix.ts) >= Date.parse(cur.ts)) latestByKey[key] = fix;
    });
    Object.keys(latestByKey).forEach(function (key) {
      var fix = latestByKey[key];
      if (key[0] === "t") {
        var prev = state.lastFix[fix.trip_id];
        if (prev && Date.parse(prev.ts) > Date.parse(fix.ts)) return; // a late backlog fix: not the current position
        state.lastFix[fix.trip_id] = fix;
        placeTripMarker(state.trips[fix.trip_id], fix);
      } else {
        placeDeviceMarker(fix.device_id, fix);
      }
    });
    renderTrips();
  }

  function applyAlert(alert) {
    var isNew = !state.alerts[alert.id];
    state.alerts[alert.id] = alert;
    if (alert.state === "resolved") delete state.alerts[alert.id];
    if (isNew && (alert.kind === "panic" || alert.kind === "duress")) beep();
    var trip = state.trips[alert.trip_id];
    if (trip && state.markers[trip.id]) state.markers[trip.id].setStyle({ fillColor: openAlertsOf(trip.id) ? "#c62828" : "#1f5fbf" });
    renderAlerts();
    renderTrips();
  }

  function applyTrip(trip) {
    if (ENDED[trip.status]) { clearTrip(trip.id); delete state.trips[trip.id]; }
    else { state.trips[trip.id] = trip; drawTrip(trip); if (state.lastFix[trip.id]) placeTripMarker(trip, state.lastFix[trip.id]); }
    renderTrips();
  }

  var conn = document.getElementById("conn-status");
  var socket = io("/dispatch", { transports: ["websocket", "polling"] });
  socket.on("connect", function () { conn.textContent = "live"; conn.className = "live"; });
  socket.on("disconnect", function (reason) {
    conn.textContent = "reconnecting…"; conn.className = "offline";
    // The server dropped us (a logout, an idle logout, a revoked token): log in again if the
    // session has ended, otherwise connect again (the client does not retry such a drop itself).
    if (reason === "io server disconnect") {
      window.EscortSession.check().then(function (ok) { if (ok) { socket.connect(); } });
    }
  });
  socket.on("connect_error", function () { conn.textContent = "reconnecting…"; conn.className = "offline"; });
  socket.on("snapshot", applySnapshot);
  socket.on("positions", applyPositions);
  socket.on("alert", applyAlert);
  socket.on("trip", applyTrip);
  setInterval(renderTrips, 1000);
})();
