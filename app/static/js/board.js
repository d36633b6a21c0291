/* The day's board: rows grouped by state, filtered as the filters change, and kept current
   over /dispatch. Rows change in place (a row moves to its new group as a node, and keeps
   focus); data goes into the page as text only. */
(function () {
  "use strict";

  var page = JSON.parse(document.getElementById("page-data").textContent);
  var dayStart = new Date(page.day_start), dayEnd = new Date(page.day_end);
  var NOT_STARTED = { scheduled: true, assigned: true };
  var state = { rows: {}, connected: false };
  window.boardState = state;  // read by the browser tests (its socket, to drop and resume the connection)

  function $(id) { return document.getElementById(id); }
  function when(iso) { return iso ? new Date(iso) : null; }
  function clock(iso) {
    var d = when(iso);
    return d ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", timeZoneName: "short" }) : "";
  }
  function announce(text) { $("announce-polite").textContent = text; }

  // How late, in words: from the ETA when the trip JSON carries one, else from the planned times.
  function etaText(t, now) {
    var eta = when(t.eta_at), pickup = when(t.scheduled_pickup_at), appointment = when(t.appointment_at);
    if (eta) {
      var target = t.status === "en_route_pickup" ? pickup : appointment;
      var late = target ? Math.round((eta - target) / 60000) : 0;
      return "ETA " + clock(t.eta_at) + (late >= 1 ? ", late by " + late + " min" : ", on time") +
        (t.eta_source === "straight line" ? " (straight line, no road route)" : t.eta_source === "road" ? " (by road)" : "");
    }
    if (NOT_STARTED[t.status] && now - pickup >= 60000) {
      return "Late by " + Math.round((now - pickup) / 60000) + " min (not started)";
    }
    if (appointment && !{ completed: 1, cancelled: 1, no_show: 1 }[t.status]) return "Appointment " + clock(t.appointment_at);
    return "On plan";
  }

  // A row's open alerts: {id: {kind, escalation_level, escalated_to, escalated_at}} from the rows and the live alerts.
  function brief(a) {
    return { kind: a.kind, escalation_level: a.escalation_level || 0, escalated_to: a.escalated_to || null,
             escalated_at: a.escalated_at || null };
  }
  // "escalated to the supervisor at 14:02 CET": the last step of the chain an unanswered alert reached.
  function escalationWords(a) {
    var to = window.EscortAlertLedger.escalatedTo(a, clock);
    return to ? "escalated " + to : "";
  }

  function alertText(t) {
    var kinds = Object.keys(t.alerts).map(function (id) {
      var a = t.alerts[id], up = escalationWords(a);
      return a.kind.replace(/_/g, " ") + (up ? " (" + up + ")" : "");
    });
    return kinds.length ? kinds.length + " open: " + kinds.join(", ") : "None";
  }

  function cell(tr, cls) { return tr.querySelector("." + cls); }
  function setText(node, text) { if (node.textContent !== text) node.textContent = text; }

  function link(href, text) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  }

  function newRow(t) {
    var tr = document.createElement("tr");
    tr.id = "board-trip-" + t.id;
    tr.dataset.tripId = t.id;
    ["c-pickup", "c-patient", "c-places", "c-escort", "c-status", "c-eta", "c-alerts", "c-last", "c-trip"].forEach(function (cls) {
      var td = document.createElement("td");
      td.className = cls;
      tr.appendChild(td);
    });
    var time = document.createElement("time");
    cell(tr, "c-pickup").appendChild(time);
    cell(tr, "c-patient").appendChild(link("/patients/" + t.patient_id, ""));
    var badge = document.createElement("span");
    cell(tr, "c-status").appendChild(badge);
    cell(tr, "c-trip").appendChild(link("/dispatch/trips/" + t.id, "Trip " + t.id));
    cell(tr, "c-last").textContent = "–";
    return tr;
  }

  // Fill a row's cells from the trip (text only) and put it in its group, in pickup order.
  function render(t) {
    var tr = $("board-trip-" + t.id) || newRow(t);
    var focused = tr.contains(document.activeElement) ? document.activeElement : null;
    var time = cell(tr, "c-pickup").querySelector("time");
    time.setAttribute("datetime", t.scheduled_pickup_at);
    setText(time, clock(t.scheduled_pickup_at));
    var patient = cell(tr, "c-patient").querySelector("a");
    patient.href = "/patients/" + t.patient_id;
    setText(patient, t.patient_name || "Patient " + t.patient_id);
    setText(cell(tr, "c-places"), t.places || "");
    setText(cell(tr, "c-escort"), t.escort || "none");
    var badge = cell(tr, "c-status").querySelector("span");
    badge.className = "status-badge st-" + t.status;
    setText(badge, page.status_words[t.status] || t.status);
    setText(cell(tr, "c-eta"), etaText(t, new Date()));
    setText(cell(tr, "c-alerts"), alertText(t));
    tr.classList.toggle("has-alert", Object.keys(t.alerts).length > 0);
    if (t.last_ts) setText(cell(tr, "c-last"), clock(t.last_ts) + " (" + t.last_lat.toFixed(4) + ", " + t.last_lon.toFixed(4) + ")");
    tr.dataset.status = t.status;
    tr.dataset.escort = t.escort || "-";
    var body = document.querySelector("tbody[data-group='" + page.group_of[t.status] + "']");
    if (tr.parentNode !== body || !inOrder(tr)) {
      var before = null;
      Array.prototype.some.call(body.rows, function (other) {
        var o = state.rows[other.dataset.tripId];
        if (other !== tr && o && (o.scheduled_pickup_at > t.scheduled_pickup_at ||
            (o.scheduled_pickup_at === t.scheduled_pickup_at && o.id > t.id))) { before = other; return true; }
        return false;
      });
      if (before !== tr) body.insertBefore(tr, before);
    }
    if (!state.batching) applyFilters();
    // A moved node loses focus; give it back once its group's table is shown again.
    if (focused && document.activeElement !== focused) focused.focus();
  }

  function inOrder(tr) {
    var prev = tr.previousElementSibling, next = tr.nextElementSibling, t = state.rows[tr.dataset.tripId];
    var key = function (x) { return x ? x.scheduled_pickup_at + "#" + String(x.id).padStart(12, "0") : ""; };
    return (!prev || key(state.rows[prev.dataset.tripId]) <= key(t)) &&
           (!next || !state.rows[next.dataset.tripId] || key(t) <= key(state.rows[next.dataset.tripId]));
  }

  function remove(id) {
    var tr = $("board-trip-" + id);
    if (tr) tr.parentNode.removeChild(tr);
    delete state.rows[id];
    applyFilters();
  }

  function onDay(t) {
    var at = when(t.scheduled_pickup_at);
    return at >= dayStart && at < dayEnd;
  }

  // Merge a trip as the server sends it (REST shape or board row) into the board.
  function upsert(trip) {
    if (!onDay(trip)) { if (state.rows[trip.id]) remove(trip.id); return; }
    var old = state.rows[trip.id];
    var t = old || { alerts: {} };
    ["id", "status", "patient_id", "patient_name", "places", "escort", "scheduled_pickup_at", "appointment_at", "eta_at",
     "left_m", "eta_source"]
      .forEach(function (k) { if (k in trip) t[k] = trip[k]; });
    if (trip.last_fix) { t.last_ts = trip.last_fix.ts; t.last_lat = trip.last_fix.lat; t.last_lon = trip.last_fix.lon; }
    state.rows[t.id] = t;
    if (old && old.status !== undefined && old._shown !== t.status && old._shown) {
      announce("Trip " + t.id + ": " + (page.status_words[t.status] || t.status));
    }
    t._shown = t.status;
    render(t);
  }

  function setAlert(copy) {
    var a = window.EscortAlertLedger.take(copy);  // never back to an older state
    if (window.EscortAlertSound) window.EscortAlertSound.observe(a);  // heard on the board too
    var t = state.rows[a.trip_id];
    if (!t) return;
    var before = t.alerts[a.id];
    if (a.state === "resolved") delete t.alerts[a.id]; else t.alerts[a.id] = brief(a);
    if (before) sayStep(t, a, before);
    render(t);
  }

  // A step up the chain is said politely, as the board says every change.
  function sayStep(t, a, before) {
    if (window.EscortAlertLedger.steppedUp(before, a)) {
      announce("Trip " + t.id + ": " + a.kind.replace(/_/g, " ") + " alert " + escalationWords(a));
    }
  }

  // ---- filters ------------------------------------------------------------------------------

  function applyFilters() {
    var escort = $("filter-escort").value, group = $("filter-status").value;
    var text = $("filter-text").value.trim().toLowerCase(), shown = 0, total = 0;
    Object.keys(state.rows).forEach(function (id) {
      var t = state.rows[id], tr = $("board-trip-" + id);
      if (!tr) return;
      var hay = [t.patient_name || "", t.escort || "", "trip " + t.id, String(t.id), page.status_words[t.status] || ""]
        .join(" ").toLowerCase();
      var ok = (!escort || (t.escort || "-") === escort) && (!group || page.group_of[t.status] === group) &&
               (!text || hay.indexOf(text) >= 0);
      tr.hidden = !ok;
      total += 1;
      if (ok) shown += 1;
    });
    Array.prototype.forEach.call(document.querySelectorAll(".board-group"), function (section) {
      var rows = section.querySelectorAll("tbody tr"), visible = section.querySelectorAll("tbody tr:not([hidden])");
      setText(section.querySelector(".group-count"), String(rows.length));
      section.querySelector(".group-empty").hidden = visible.length > 0;
      section.querySelector("table").hidden = visible.length === 0;
    });
    setText($("filter-count"), shown === total ? total + " trips" : shown + " of " + total + " trips shown");
  }

  ["filter-escort", "filter-status"].forEach(function (id) { $(id).addEventListener("change", applyFilters); });
  $("filter-text").addEventListener("input", applyFilters);
  $("board-filters").addEventListener("submit", function (ev) { ev.preventDefault(); });
  // A new escort in a trip sent live gets a filter option too.
  function escortOption(name) {
    if (!name) return;
    var select = $("filter-escort");
    if (Array.prototype.some.call(select.options, function (o) { return o.value === name; })) return;
    var o = document.createElement("option");
    o.value = name;
    o.textContent = name;
    select.appendChild(o);
  }

  // Many rows at once (the first paint, a snapshot): filters and counts once at the end, not per row.
  function batch(work) {
    var focused = document.activeElement;
    state.batching = true;
    try { work(); } finally { state.batching = false; }
    applyFilters();
    if (focused && focused !== document.activeElement && document.contains(focused)) focused.focus();
  }

  // ---- start: the rows the server rendered, then live ----------------------------------------

  // Every row known first: rendering one compares it with its neighbours, already in the page.
  page.rows.forEach(function (r) {
    var alerts = {};
    r.alerts.forEach(function (a) { alerts[a.id] = brief(a); });
    r.alerts = alerts;
    r._shown = r.status;
    state.rows[r.id] = r;
  });
  batch(function () { page.rows.forEach(render); });
  setInterval(function () {
    var now = new Date();
    Object.keys(state.rows).forEach(function (id) {
      var tr = $("board-trip-" + id);
      if (tr) setText(cell(tr, "c-eta"), etaText(state.rows[id], now));
    });
  }, 15000);

  var conn = $("conn-status");
  var socket = io("/dispatch", { transports: ["websocket", "polling"] });
  state.socket = socket;
  socket.on("connect", function () { conn.textContent = "live"; conn.className = "live"; });
  socket.on("disconnect", function () { conn.textContent = "offline, reconnecting…"; conn.className = "offline"; });
  socket.on("snapshot", function (snap) {
    if (window.EscortAlertSound) window.EscortAlertSound.snapshot(snap.alerts);
    batch(function () {
      var was = {};  // what the rows showed of each open alert before this snapshot
      Object.keys(state.rows).forEach(function (id) { Object.assign(was, state.rows[id].alerts); state.rows[id].alerts = {}; });
      (snap.alerts || []).forEach(function (copy) {
        var t = state.rows[copy.trip_id], a = window.EscortAlertLedger.take(copy);
        if (!t || a.state === "resolved") return;
        t.alerts[a.id] = brief(a);
        if (was[a.id]) sayStep(t, a, was[a.id]);  // after a reconnect: a step taken meanwhile
      });
      (snap.trips || []).forEach(function (t) { if (state.rows[t.id] || onDay(t)) { escortOption(t.escort); upsert(t); } });
      Object.keys(state.rows).forEach(function (id) { render(state.rows[id]); });
    });
    document.body.dataset.live = "1";
  });
  socket.on("trip", function (t) { escortOption(t.escort); upsert(t); });
  socket.on("alert", setAlert);
  socket.on("positions", function (batch) {
    (batch.fixes || []).forEach(function (f) {
      var t = f.trip_id && state.rows[f.trip_id];
      if (!t || (t.last_ts && t.last_ts > f.ts)) return;
      t.last_ts = f.ts; t.last_lat = f.lat; t.last_lon = f.lon;
      // The live ETA rides on the position: the row's ETA changes with it, no polling.
      if ("eta_at" in f) { t.eta_at = f.eta_at; t.left_m = f.left_m; t.eta_source = f.eta_source; }
      var tr = $("board-trip-" + t.id);
      if (tr) setText(cell(tr, "c-last"), clock(f.ts) + " (" + f.lat.toFixed(4) + ", " + f.lon.toFixed(4) + ")");
      if (tr && "eta_at" in f) setText(cell(tr, "c-eta"), etaText(t, new Date()));
    });
  });
})();
