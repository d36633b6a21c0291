/* Live map for dispatchers: a snapshot on every (re)connect, then batched positions,
   alerts and trip changes over the /dispatch Socket.IO namespace.
   The lists are updated in place (never rebuilt on a timer: that throws focus away), new
   alerts are said aloud (a live region), heard (Web Audio) and counted in the tab title. */
(function () {
  "use strict";

  var page = JSON.parse(document.getElementById("page-data").textContent);
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var SEVERITY = ["panic", "duress", "pin_attempts", "missed_checkin", "signal_lost", "deviation", "stop",
                  "hazard_zone", "flagged_place", "late", "medication_due", "low_battery"];
  var ENDED = { completed: true, cancelled: true, no_show: true };
  var TRAIL = 50;
  var MOCKED = "Mocked location — not to be trusted";
  var TITLE = document.title;

  var map = L.map("map", { zoomControl: true }).setView([51.5, -0.12], 12);
  if (page.tile_url) {
    L.tileLayer(page.tile_url, { attribution: page.tile_attribution, maxZoom: 19 }).addTo(map);
  }

  // Everything the page knows, replaced by each snapshot (the server is the record).
  // ``names`` outlives trips: an alert of an ended trip still names its patient and escort.
  var state = { trips: {}, devices: {}, alerts: {}, markers: {}, deviceMarkers: {}, layers: {}, lastFix: {},
                names: {}, cards: {}, rows: {}, alarming: false,
                places: null, placesVersion: null, placeKeys: {}, placeNames: {}, zoneLayers: [], placeEntries: {} };
  window.dispatchState = state;
  // Read-only: where the map looks now (the browser tests check that "Show … on the map" moved it).
  state.mapCenter = function () { var c = map.getCenter(); return { lat: c.lat, lon: c.lng, zoom: map.getZoom() }; };

  function text(tag, cls, content) {
    var el = document.createElement(tag);
    if (cls) el.className = cls;
    if (content !== undefined) el.textContent = content;
    return el;
  }

  function setText(el, value) { if (el.textContent !== value) el.textContent = value; }

  var kindOf = window.EscortAlertKinds.of;  // alert-kinds.js: one list of kinds for the live map and the trip page

  // Leaflet puts a string tooltip in as HTML: tooltips get an element with text lines instead.
  function tooltipNode(lines, cls) {
    var box = text("div", cls);
    lines.filter(Boolean).forEach(function (line) { box.appendChild(text("div", "", line)); });
    return box;
  }

  // The phone said the position came from a mock-location app: show it, never trust it quietly.
  function isMocked(fix) { return !!(fix && fix.mock === true); }

  // The escort's battery as the device last told it ("" when it never did).
  function batteryWords(fix) {
    return fix && typeof fix.battery_pct === "number" ? "Battery " + Math.round(fix.battery_pct) + " %" : "";
  }

  function styleMocked(marker, mocked) {
    marker.setStyle(mocked ? { color: "#e65100", weight: 4, dashArray: "3 3" } : { color: "#fff", weight: 3, dashArray: null });
    var el = marker.getElement && marker.getElement();
    if (el) el.classList.toggle("mocked", mocked);
  }

  // A marker is an SVG path: give it a role and a name, so it is not a nameless shape.
  function nameMarker(marker, name) {
    var el = marker.getElement && marker.getElement();
    if (!el) return;
    el.setAttribute("role", "img");
    el.setAttribute("aria-label", name);
  }

  function ago(iso) {
    if (!iso) return "never";
    var s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 90) return s + " s ago";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    return Math.round(s / 3600) + " h ago";
  }

  function isListed(a) { return a.state !== "resolved" || (a.cleared && !a.acknowledged_at); }
  function isClearedUnseen(a) { return !!(a.cleared && !a.acknowledged_at); }

  function openAlertsOf(tripId) {
    return Object.keys(state.alerts).some(function (id) {
      var a = state.alerts[id];
      return a.trip_id === tripId && a.state !== "resolved";
    });
  }

  function tripName(tripId) {
    var t = state.trips[tripId] || state.names[tripId];
    if (!t) return "Trip " + tripId;
    return (t.patient_name || "Trip " + tripId) + " · " + (t.escort || "no escort");
  }

  function remember(trip) { state.names[trip.id] = { patient_name: trip.patient_name, escort: trip.escort }; }

  // An alert of a trip this page never saw (it ended before the page opened): ask for its names once.
  var asked = {};
  function learnNames(tripId) {
    if (tripId === null || tripId === undefined || state.names[tripId] || asked[tripId]) return;
    asked[tripId] = true;
    fetch("/api/v1/trips/" + tripId, { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (trip) {
      if (!trip) return;
      remember(trip);
      Object.keys(state.alerts).forEach(function (id) { if (state.alerts[id].trip_id === tripId) renderAlert(state.alerts[id]); });
    }).catch(function () { /* the card keeps "Trip N" */ });
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

  function tripLines(trip, fix) {
    var open = Object.keys(state.alerts).map(function (k) { return state.alerts[k]; }).filter(function (a) {
      return a.trip_id === trip.id && a.state !== "resolved";
    }).map(function (a) { return kindOf(a.kind).label; });
    return [(trip.patient_name || "Trip " + trip.id) + " — " + (trip.escort || "no escort") + " — " +
            trip.status.replace(/_/g, " "), open.length ? "Alert: " + open.join(", ") : "", batteryWords(fix),
            isMocked(fix) ? MOCKED : ""];
  }

  function labelTripMarker(trip, fix) {
    var marker = state.markers[trip.id];
    if (!marker) return;
    var lines = tripLines(trip, fix);
    marker.setTooltipContent(tooltipNode(lines, isMocked(fix) ? "mocked" : ""));
    nameMarker(marker, lines.filter(Boolean).join(". "));
    marker.setStyle({ fillColor: openAlertsOf(trip.id) ? "#c62828" : "#1f5fbf" });
  }

  function placeTripMarker(trip, fix) {
    var latlng = [fix.lat, fix.lon];
    var marker = state.markers[trip.id];
    if (!marker) {
      marker = L.circleMarker(latlng, { radius: 9, weight: 3, color: "#fff", fillColor: "#1f5fbf", fillOpacity: 1,
                                        className: "escort-marker trip-" + trip.id }).addTo(map);
      // A permanent label: the dispatcher reads who is where without hovering.
      marker.bindTooltip(tooltipNode(tripLines(trip, fix)), { permanent: true, direction: "right", offset: [10, 0] });
      state.markers[trip.id] = marker;
      state.markers["trail-" + trip.id] = L.polyline([], { color: "#1f5fbf", weight: 2, dashArray: "4 4" }).addTo(map);
    } else {
      marker.setLatLng(latlng);
    }
    labelTripMarker(trip, fix);
    var trail = state.markers["trail-" + trip.id];
    trail.addLatLng(latlng);
    var pts = trail.getLatLngs();
    if (pts.length > TRAIL) trail.setLatLngs(pts.slice(pts.length - TRAIL));
    markOffRoute(trip.id, latlng);
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
    var lines = ["Device " + (dev.label || deviceId) + " (no trip)", isMocked(fix) ? MOCKED : ""];
    var label = tooltipNode(lines, isMocked(fix) ? "mocked" : "");
    if (!marker) {
      marker = L.circleMarker([fix.lat, fix.lon], { radius: 7, color: "#fff", weight: 2, fillColor: "#78909c", fillOpacity: 1,
                                                    className: "escort-marker device-" + deviceId }).addTo(map);
      marker.bindTooltip(label);
      state.deviceMarkers[deviceId] = marker;
    } else {
      marker.setLatLng([fix.lat, fix.lon]);
      marker.setTooltipContent(label);
    }
    nameMarker(marker, lines.filter(Boolean).join(". "));
    styleMocked(marker, isMocked(fix));
  }

  // ---- focus that survives updates ----------------------------------------------------------

  // Moving or removing a node that holds focus drops focus to the body: put it back, or on ``fallback``
  // (by default a neighbour, else the list's heading).
  function keepFocus(list, change, fallback) {
    var active = document.activeElement;
    var inside = active && list.contains(active) && active !== list ? active : null;
    change();
    if (inside && !document.body.contains(inside)) {
      var next = fallback || list.querySelector("button, a") || document.getElementById(list.dataset.heading);
      if (next) next.focus();
    } else if (inside && document.activeElement !== inside) {
      inside.focus();
    }
  }

  // Entries are moved into place one by one, each before the one now in its slot: an entry that is
  // already where it belongs (often the focused one, when another is added before it) is never moved.
  function reorder(list, wanted, fallback) {
    var current = Array.prototype.filter.call(list.children, function (el) { return !el.classList.contains("empty"); });
    var same = current.length === wanted.length && current.every(function (el, i) { return el === wanted[i]; });
    if (same) return;
    keepFocus(list, function () {
      wanted.forEach(function (el, i) { if (list.children[i] !== el) list.insertBefore(el, list.children[i] || null); });
    }, fallback);
  }

  function showEmpty(list, empty, words) {
    var node = list.querySelector(".empty");
    if (empty && !node) list.appendChild(text("li", "empty", words));
    if (!empty && node) list.removeChild(node);
  }

  // ---- the trip list --------------------------------------------------------------------------

  function tripRow(id) {
    var row = state.rows[id];
    if (row) return row;
    var li = text("li");
    li.dataset.tripId = id;
    row = { li: li, name: text("div", "name"), meta: text("div", "meta"), status: text("span", "status"),
            seen: text("span", "seen"), eta: text("div", "eta"), alert: text("div", "trip-alert"),
            mocked: text("div", "mocked-note") };
    row.meta.appendChild(row.status);
    row.meta.appendChild(document.createTextNode(" · last seen "));
    row.meta.appendChild(row.seen);
    row.battery = text("span", "battery");
    row.meta.appendChild(row.battery);
    var actions = text("div", "actions");
    row.show = button("Show on map", "show", function () { focusTrip(id); });
    var open = text("a", "details", "Trip page");
    open.href = "/dispatch/trips/" + id;
    actions.appendChild(row.show);
    actions.appendChild(open);
    var trip = state.trips[id];
    if (trip && trip.patient_id) {  // the patient's sheet (the live map is for staff, who may read every sheet)
      var sheet = text("a", "details sheet-link", "Patient sheet");
      sheet.href = "/patients/" + trip.patient_id;
      actions.appendChild(sheet);
    }
    [row.name, row.meta, row.eta, row.alert, row.mocked, actions].forEach(function (el) { li.appendChild(el); });
    li.addEventListener("click", function (ev) { if (!ev.target.closest("button, a")) focusTrip(id); });
    state.rows[id] = row;
    return row;
  }

  function updateTripRow(id) {
    var trip = state.trips[id];
    var row = tripRow(id);
    var fix = state.lastFix[id] || trip.last_fix;
    var name = (trip.patient_name || "Trip " + id) + " · " + (trip.escort || "—");
    setText(row.name, name);
    setText(row.status, trip.status.replace(/_/g, " "));
    setText(row.seen, ago(fix && fix.ts));
    setText(row.eta, etaWords(trip));
    setText(row.battery, batteryWords(fix) ? " · " + batteryWords(fix).toLowerCase() : "");
    row.seen.dataset.ts = (fix && fix.ts) || "";
    row.show.setAttribute("aria-label", "Show on map: " + name);
    var alerting = openAlertsOf(Number(id));
    row.li.classList.toggle("has-alert", alerting);
    setText(row.alert, alerting ? "\u26A0 Open alert" : "");
    row.mocked.hidden = !isMocked(fix);
    setText(row.mocked, isMocked(fix) ? MOCKED : "");
    row.li.classList.toggle("mocked", isMocked(fix));
  }

  // How the ETA was reckoned, in the tablet's words (escort.js): along a road, or the straight line.
  var ETA_SOURCE = { road: "by road", "straight line": "straight line, no road route" };
  // "ETA 10:42 at drop-off, 3.2 km left (by road)": the server's live estimate, in words.
  function etaWords(trip) {
    var at = trip.eta_at ? new Date(trip.eta_at) : null;
    if (!at || isNaN(at)) return "";
    var km = (trip.left_m || 0) / 1000;
    return "ETA " + at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) +
      (trip.eta_to === "pickup" ? " at pickup, " : " at drop-off, ") + km.toFixed(km < 10 ? 1 : 0) + " km left" +
      (ETA_SOURCE[trip.eta_source] ? " (" + ETA_SOURCE[trip.eta_source] + ")" : "");
  }

  // A pushed position carries the trip's live ETA: take it (positions are the ETA's news).
  function takeEta(trip, fix) {
    if (!trip || !("eta_at" in fix)) return;
    trip.eta_at = fix.eta_at; trip.left_m = fix.left_m; trip.eta_to = fix.eta_to; trip.eta_source = fix.eta_source;
  }

  // The pushed positions keep the estimate current; this slow refresh is only a safety net
  // (a trip with no fixes for a while, whose ETA still moves with the clock).
  var ETA_REFRESH_MS = 300000;
  function refreshEtas() {
    Object.keys(state.trips).forEach(function (id) {
      fetch("/api/v1/trips/" + id, { credentials: "same-origin" }).then(function (r) {
        return r.ok ? r.json() : null;
      }).then(function (fresh) {
        var trip = state.trips[id];
        if (!fresh || !trip) return;
        trip.eta_at = fresh.eta_at; trip.left_m = fresh.left_m; trip.eta_to = fresh.eta_to;
        trip.eta_source = fresh.eta_source;
        updateTripRow(id);
      }).catch(function () { /* the row keeps its last estimate */ });
    });
  }

  function renderTrips() {
    var list = document.getElementById("trip-list");
    var ids = Object.keys(state.trips).map(Number).sort(function (a, b) { return a - b; });
    keepFocus(list, function () {
      Object.keys(state.rows).forEach(function (id) {
        if (!state.trips[id]) { var li = state.rows[id].li; if (li.parentNode) li.parentNode.removeChild(li); delete state.rows[id]; }
      });
    });
    ids.forEach(updateTripRow);
    reorder(list, ids.map(function (id) { return state.rows[id].li; }));
    showEmpty(list, !ids.length, "No trips under way");
  }

  // Once a second: only the "… ago" words change (rule 2: "3 min ago" counts on its own).
  function tick() {
    dropExpired();
    Array.prototype.forEach.call(document.querySelectorAll("#trip-list .seen, #alert-list .raised"), function (el) {
      setText(el, (el.classList.contains("raised") ? "raised " : "") + ago(el.dataset.ts || null));
    });
  }

  // ---- the alert list ---------------------------------------------------------------------

  function severity(kind) {
    var i = SEVERITY.indexOf(kind);
    return i < 0 ? 99 : i;
  }

  function where(alert) {
    var d = alert.detail || {};
    var place = alert.place || d.place || d.address;
    if (place) return "near " + place;
    if (typeof d.lat === "number" && typeof d.lon === "number") return "at " + d.lat.toFixed(5) + ", " + d.lon.toFixed(5);
    return "";
  }

  function describe(alert) {
    var d = alert.detail || {};
    var parts = [];
    if (typeof d.distance_off_route_m === "number") parts.push(Math.round(d.distance_off_route_m) + " m off route");
    if (typeof d.duration_s === "number") parts.push("stopped " + Math.round(d.duration_s / 60) + " min");
    if (alert.kind === "flagged_place" && typeof d.reason === "string") parts.push(d.reason);  // what the place warns of
    parts.push(where(alert));
    return parts.filter(Boolean).join(" · ");
  }

  // "Escalated to the supervisor at 14:02 CET": the last step of the chain the unanswered alert reached,
  // in the dispatcher's local time with its zone (as the ETA and the board write times).
  function clock(iso) {
    var d = iso ? new Date(iso) : null;
    return d && !isNaN(d) ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", timeZoneName: "short" }) : "";
  }
  function escalationWords(alert) {
    var to = window.EscortAlertLedger.escalatedTo(alert, clock);
    return to ? "Escalated " + to : "";
  }

  function stateWords(alert) {
    if (isClearedUnseen(alert)) return "Cleared " + ago(alert.cleared_at) + " — acknowledge to remove";
    if (alert.state === "acknowledged") return "Acknowledged" + (alert.acknowledged_by ? " by " + alert.acknowledged_by : "");
    return "Not acknowledged";
  }

  function alertCard(alert) {
    var card = state.cards[alert.id];
    if (card) return card;
    var li = text("li");
    li.dataset.alertId = alert.id;
    li.dataset.kind = alert.kind;
    var k = kindOf(alert.kind);
    var head = text("div", "kind");
    var icon = text("span", "icon", k.icon);
    icon.setAttribute("aria-hidden", "true");
    head.appendChild(icon);
    head.appendChild(text("span", "label", k.label));
    card = { li: li, head: head, cleared: text("span", "cleared-tag", "Cleared"), trip: text("div", "trip"),
             what: text("div", "meta"), raised: text("span", "raised"), escalated: text("div", "escalated"),
             state: text("div", "state"), actions: text("div", "actions") };
    head.appendChild(card.cleared);
    var when = text("div", "meta");
    when.appendChild(card.raised);
    card.ack = button("Acknowledge", "ack", function () { post(alert.id, "ack", {}); });
    card.resolve = button("Resolve", "resolve", function (ev) { askResolve(alert.id, ev.currentTarget); });
    card.show = button("Show on map", "show", function () { focusTrip(state.alerts[alert.id].trip_id); });
    [card.ack, card.resolve, card.show].forEach(function (b) { card.actions.appendChild(b); });
    [head, card.trip, card.what, when, card.escalated, card.state, card.actions].forEach(function (el) { li.appendChild(el); });
    li.addEventListener("click", function (ev) { if (!ev.target.closest("button")) focusTrip(state.alerts[alert.id].trip_id); });
    state.cards[alert.id] = card;
    return card;
  }

  function renderAlert(alert) {
    var card = alertCard(alert);
    var k = kindOf(alert.kind);
    var cleared = isClearedUnseen(alert);
    card.li.className = "alert sev-" + k.sev + " kind-" + alert.kind + " " + (cleared ? "cleared" : alert.state);
    card.cleared.hidden = !cleared;
    setText(card.trip, tripName(alert.trip_id));
    setText(card.what, describe(alert));
    card.raised.dataset.ts = alert.raised_at || "";
    setText(card.raised, "raised " + ago(alert.raised_at));
    var escalated = escalationWords(alert);
    setText(card.escalated, escalated);
    card.escalated.hidden = !escalated;
    setText(card.state, stateWords(alert));
    var who = k.label + ", " + tripName(alert.trip_id);
    card.li.setAttribute("aria-label", who + (cleared ? ", cleared" : ""));
    var ackFocused = document.activeElement === card.ack;
    card.ack.hidden = alert.state === "acknowledged" || (alert.state === "resolved" && !cleared);
    card.ack.setAttribute("aria-label", "Acknowledge " + who);
    card.resolve.hidden = alert.state === "resolved";
    card.resolve.setAttribute("aria-label", "Resolve " + who);
    card.show.setAttribute("aria-label", "Show on map: " + who);
    card.show.hidden = !state.markers[alert.trip_id] && !state.layers[alert.trip_id];
    // Acknowledged by keyboard: the button goes, focus moves to the card's next action, not to the page.
    if (ackFocused && card.ack.hidden) {
      var next = [card.resolve, card.show].filter(function (b) { return !b.hidden; })[0];
      if (next) next.focus();
    }
  }

  function renderAlerts() {
    var list = document.getElementById("alert-list");
    var listed = Object.keys(state.alerts).map(function (k) { return state.alerts[k]; })
      .sort(function (a, b) {
        return isClearedUnseen(a) - isClearedUnseen(b) || severity(a.kind) - severity(b.kind) ||
          Date.parse(a.raised_at) - Date.parse(b.raised_at);
      });
    keepFocus(list, function () {
      Object.keys(state.cards).forEach(function (id) {
        if (!state.alerts[id]) { var li = state.cards[id].li; if (li.parentNode) li.parentNode.removeChild(li); delete state.cards[id]; }
      });
    });
    listed.forEach(renderAlert);
    reorder(list, listed.map(function (a) { return state.cards[a.id].li; }));
    showEmpty(list, !listed.length, "No open alerts");
    var count = listed.length;
    document.title = count ? "(" + count + ") " + TITLE : TITLE;
    setText(document.getElementById("alert-count"), count ? String(count) : "none");
    updateAlarm();
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
    }).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) { say(j.error || "That did not work", false); return; }
        applyAlert(j);
      });
    }).catch(function () { say("No answer from the server: try again", false); });
  }

  // ---- the resolve dialog: no category chosen for the dispatcher; Escape returns focus ---------

  var resolving = null, opener = null;
  var dlg = document.getElementById("resolve-dialog");
  function askResolve(alertId, from) {
    resolving = alertId;
    opener = from || document.activeElement;
    document.getElementById("resolve-category").value = "";
    document.getElementById("resolve-note").value = "";
    setText(document.getElementById("resolve-what"), kindOf(state.alerts[alertId].kind).label + ", " +
            tripName(state.alerts[alertId].trip_id));
    dlg.showModal();
  }
  dlg.addEventListener("close", function () {
    if (dlg.returnValue === "ok" && resolving !== null) {
      post(resolving, "resolve", { category: document.getElementById("resolve-category").value,
                                   note: document.getElementById("resolve-note").value });
    }
    dlg.returnValue = "";
    resolving = null;
    if (opener && document.body.contains(opener)) opener.focus();
    opener = null;
  });

  // ---- said aloud, heard, and shown on the desktop -------------------------------------------

  function say(words, urgent) {
    var region = document.getElementById(urgent ? "announce-urgent" : "announce-polite");
    // Cleared first: the same words twice in a row are announced again.
    region.textContent = "";
    window.setTimeout(function () { region.textContent = words; }, 50);
  }

  // Sounds (and unlocking them, and asking for desktop notices) are alert-sound.js's, shared with the board and trip page.
  var sound = window.EscortAlertSound;
  function chime(kind) { sound.chime(kind); }

  // Panic, duress and wrong PINs sound again every few seconds until someone acknowledges them.
  function updateAlarm() {
    state.alarming = Object.keys(state.alerts).some(function (id) {
      var a = state.alerts[id];
      return kindOf(a.kind).urgent && a.state === "open";
    });
    sound.alarm(state.alarming);
  }

  function notifyDesktop(alert, words) {
    if (!window.Notification || Notification.permission !== "granted" || !document.hidden) return;
    try { new Notification(words, { tag: "alert-" + alert.id, requireInteraction: !!kindOf(alert.kind).urgent }); }
    catch (e) { /* some browsers allow notifications from service workers only */ }
  }

  function announce(alert) {
    var k = kindOf(alert.kind);
    var words = k.label + " alert: " + tripName(alert.trip_id) + (where(alert) ? ", " + where(alert) : "");
    say(words, !!k.urgent);
    chime(alert.kind);
    notifyDesktop(alert, words);
  }

  // ---- socket ---------------------------------------------------------------------------

  // Hazard zones and published flagged places in force: drawn from the snapshot, and again from each
  // ``places`` event (another dispatcher drew, edited or retired one), so the map never keeps old shapes.
  // The list under "Places on the map" says the same in words; a change is said in the polite region.
  // Each entry is a button that shows its place on the map; entries are updated in place, keyed by the
  // place, so an update keeps keyboard focus on the entry it was on.
  function placeWords(kind, p) {
    return kind === "zone" ? ["Hazard zone: " + p.name, p.reason || ""]
      : ["Flagged place: " + p.title + " — " + p.label, p.reason || ""];
  }

  function flagLatLngs(f) {
    return f.polygon.coordinates[0].map(function (pt) { return [pt[1], pt[0]]; });
  }

  function placeLayer(kind, p) {
    var words = placeWords(kind, p);
    var layer = kind === "zone"
      ? L.polygon(p.polygon, { color: "#c62828", weight: 2, dashArray: "6 4", fillOpacity: 0.08,
                               className: "hazard-zone zone-" + p.id })
      : p.polygon
        ? L.polygon(flagLatLngs(p), { color: "#8a5a00", weight: 2, dashArray: "2 4", fillOpacity: 0.08,
                                      className: "flagged-place flag-" + p.id })
        : L.circle([p.point.lat, p.point.lon], { radius: p.point.radius_m, color: "#8a5a00", weight: 2,
                                                 dashArray: "2 4", fillOpacity: 0.08,
                                                 className: "flagged-place flag-" + p.id });
    layer.bindTooltip(tooltipNode(words, kind === "zone" ? "zone-label" : "flag-label")).addTo(map);
    nameMarker(layer, words[0]);
    return layer;
  }

  // What a place looks like, to tell a change of it from none.
  function placeKey(kind, p) {
    return JSON.stringify(kind === "zone" ? [p.name, p.reason, p.polygon, p.expires_at]
      : [p.label, p.category, p.reason, p.point, p.polygon, p.expires_at]);
  }

  function inForce(p) { return !p.expires_at || Date.parse(p.expires_at) > Date.now(); }

  // The list's entry of one place (made once, then changed in place): its name as a button, then its reason.
  function placeEntry(id) {
    var entry = state.placeEntries[id];
    if (entry) return entry;
    entry = { li: text("li"), show: button("", "place-show", function () { showPlace(id); }),
              reason: text("span", "place-reason"), layer: null, key: null };
    entry.li.id = "place-" + id;
    entry.li.appendChild(entry.show);
    entry.li.appendChild(entry.reason);
    state.placeEntries[id] = entry;
    return entry;
  }

  // Fit the map on the place and open its label (text lines, never HTML); focus stays on the button.
  function showPlace(id) {
    var entry = state.placeEntries[id];
    if (!entry || !entry.layer) return;
    Object.keys(state.placeEntries).forEach(function (other) {
      var layer = state.placeEntries[other].layer;
      if (other !== id && layer && layer.isTooltipOpen()) layer.closeTooltip();
    });
    map.fitBounds(entry.layer.getBounds(), { padding: [30, 30], maxZoom: 17 });
    entry.layer.openTooltip();
  }

  function drawPlaces(places, tell) {
    var shown = [];
    (places.zones || []).filter(inForce).forEach(function (z) { shown.push({ kind: "zone", p: z }); });
    (places.flagged_places || []).filter(inForce).forEach(function (f) { shown.push({ kind: "flag", p: f }); });
    state.places = places;
    var keys = {}, names = {}, said = [], order = [];
    var list = document.getElementById("place-list");
    var summary = document.getElementById("places-summary");
    shown.forEach(function (item) {
      var id = item.kind + "-" + item.p.id, words = placeWords(item.kind, item.p);
      keys[id] = placeKey(item.kind, item.p);
      names[id] = words[0];
      order.push(id);
      var entry = placeEntry(id);
      if (entry.key !== keys[id]) {  // new or changed: its shape is drawn again, its label kept open if it was
        var open = entry.layer && entry.layer.isTooltipOpen();
        if (entry.layer) map.removeLayer(entry.layer);
        entry.layer = placeLayer(item.kind, item.p);
        entry.key = keys[id];
        if (open) entry.layer.openTooltip();
      }
      entry.li.className = item.kind === "zone" ? "hazard-zone" : "flagged-place";
      setText(entry.show, words[0]);
      entry.show.setAttribute("aria-label", "Show " + words[0] + " on the map");
      setText(entry.reason, words[1] ? " — " + words[1] : "");
      if (!(id in state.placeKeys)) said.push(words[0] + " added");
      else if (state.placeKeys[id] !== keys[id]) said.push(words[0] + " changed");
    });
    // A place that went: its entry leaves the list; focus on it goes to the list's summary, not to the page.
    keepFocus(list, function () {
      Object.keys(state.placeEntries).forEach(function (id) {
        if (id in keys) return;
        var gone = state.placeEntries[id];
        if (gone.layer) map.removeLayer(gone.layer);
        if (gone.li.parentNode) gone.li.parentNode.removeChild(gone.li);
        delete state.placeEntries[id];
      });
    }, summary);
    reorder(list, order.map(function (id) { return state.placeEntries[id].li; }), summary);
    state.zoneLayers = order.map(function (id) { return state.placeEntries[id].layer; });
    Object.keys(state.placeKeys).forEach(function (id) { if (!(id in keys)) said.push(state.placeNames[id] + " removed"); });
    state.placeKeys = keys;
    state.placeNames = names;
    showEmpty(list, !shown.length, "No hazard zones or flagged places in force");
    setText(document.getElementById("place-count"), String(shown.length));
    if (tell && said.length) say(said.join("; ") + " (on the map).", false);
  }

  // A zone or flag whose expiry has passed leaves the map (no event comes for it).
  function dropExpired() {
    if (!state.places) return;
    var all = (state.places.zones || []).concat(state.places.flagged_places || []);
    if (all.some(function (p) { return !inForce(p); })) {
      drawPlaces({ zones: (state.places.zones || []).filter(inForce),
                   flagged_places: (state.places.flagged_places || []).filter(inForce) }, true);
    }
  }

  // Each server process sends the places it read after its own change, so with several processes an
  // older set can arrive after a newer one: ``places_version`` (the newest change, fixed-width ISO
  // text, so it compares as a string) keeps the map on the newest set; an equal one is drawn again.
  function newestPlaces(places) {
    var version = places.places_version || "";
    if (state.placesVersion && version < state.placesVersion) return false;
    state.placesVersion = version;
    return true;
  }

  function applySnapshot(snap) {
    // After a reconnect, what changed meanwhile is said.
    if (newestPlaces(snap)) drawPlaces({ zones: snap.zones, flagged_places: snap.flagged_places }, snapshots > 0);
    Object.keys(state.trips).forEach(clearTrip);
    Object.keys(state.deviceMarkers).forEach(function (id) { map.removeLayer(state.deviceMarkers[id]); });
    var known = state.alerts;
    state.trips = {}; state.devices = {}; state.alerts = {}; state.deviceMarkers = {}; state.lastFix = {};
    snap.alerts.forEach(function (copy) {
      var a = window.EscortAlertLedger.take(copy);
      if (isListed(a)) state.alerts[a.id] = a;
      learnNames(a.trip_id);
    });
    snap.trips.forEach(function (t) { state.trips[t.id] = t; remember(t); drawTrip(t); });
    snap.devices.forEach(function (d) {
      state.devices[d.device_id] = d;
      if (d.last_fix && d.last_fix.lat !== null) placeDeviceMarker(d.device_id, d.last_fix);
    });
    var groups = [];
    Object.keys(state.layers).forEach(function (id) { groups = groups.concat(state.layers[id]); });
    if (groups.length) map.fitBounds(L.featureGroup(groups).getBounds(), { padding: [30, 30] });
    renderTrips();
    renderAlerts();
    // After a reconnect: what was raised meanwhile is new to this dispatcher, and a step up the chain
    // taken meanwhile is said as the live step is (politely).
    if (snapshots++ > 0) snap.alerts.forEach(function (a) {
      var now = state.alerts[a.id], was = known[a.id];
      if (!was && now && now.state === "open") announce(now);
      else if (was && now) sayStep(now, was);
    });
  }
  var snapshots = 0;

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
        // A fix without a battery level keeps the last one known (not every tracker sends it every time).
        if (typeof fix.battery_pct !== "number" && prev && typeof prev.battery_pct === "number") {
          fix = Object.assign({}, fix, { battery_pct: prev.battery_pct });
        }
        state.lastFix[fix.trip_id] = fix;
        takeEta(state.trips[fix.trip_id], fix);
        placeTripMarker(state.trips[fix.trip_id], fix);
        updateTripRow(fix.trip_id);
      } else {
        placeDeviceMarker(fix.device_id, fix);
      }
    });
  }

  function applyAlert(copy) {
    var alert = window.EscortAlertLedger.take(copy);  // never back to an older state
    var before = state.alerts[alert.id];
    var isNew = !before;
    if (isListed(alert)) state.alerts[alert.id] = alert;
    else delete state.alerts[alert.id];
    learnNames(alert.trip_id);
    if (isNew && isListed(alert) && alert.state === "open") announce(alert);
    else if (isNew === false && isClearedUnseen(alert)) say(kindOf(alert.kind).label + " on " + tripName(alert.trip_id) + " cleared", false);
    else if (before && isListed(alert)) sayStep(alert, before);
    var trip = state.trips[alert.trip_id];
    if (trip) labelTripMarker(trip, state.lastFix[trip.id] || trip.last_fix);
    renderAlerts();
    renderTrips();
  }

  // A step up the chain is news, not an emergency of its own: said politely, whatever the kind.
  function sayStep(alert, before) {
    if (window.EscortAlertLedger.steppedUp(before, alert)) {
      say(kindOf(alert.kind).label + " alert on " + tripName(alert.trip_id) + ": " + escalationWords(alert), false);
    }
  }

  function applyTrip(trip) {
    remember(trip);
    if (ENDED[trip.status]) { clearTrip(trip.id); delete state.trips[trip.id]; }
    else { state.trips[trip.id] = trip; drawTrip(trip); if (state.lastFix[trip.id]) placeTripMarker(trip, state.lastFix[trip.id]); }
    renderTrips();
    renderAlerts();
  }

  var conn = document.getElementById("conn-status");
  var socket = io("/dispatch", { transports: ["websocket", "polling"] });
  state.socket = socket;  // the messages panel (messages.js) listens on this connection
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
  socket.on("places", function (places) { if (newestPlaces(places)) drawPlaces(places, true); });
  // An escort went off duty with no trip: their position is no longer shared, so it leaves the map.
  socket.on("duty", function (d) {
    if (d.sharing) return;
    (d.device_ids || []).forEach(function (id) {
      if (state.deviceMarkers[id]) { map.removeLayer(state.deviceMarkers[id]); delete state.deviceMarkers[id]; }
      delete state.devices[id];
    });
  });
  setInterval(tick, 1000);
  setInterval(refreshEtas, ETA_REFRESH_MS);
})();
