/* The dispatcher's trip page, live: the track so far and the last position on the map, the trip's
   open and past alerts (acknowledge, resolve), its timeline and notes, and status controls.
   Kept current over /dispatch (positions, alert, trip) by changing what changed in place, so
   keyboard focus survives; new alerts are said in a live region (assertive for panic and duress)
   and heard (alert-sound.js). Everything from the server goes in as text. */
(function () {
  "use strict";

  var page = JSON.parse(document.getElementById("page-data").textContent);
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var T = window.EscortTimes;
  var sound = window.EscortAlertSound || null;
  var trip = page.trip;
  var map = window.tripMap;
  var state = { alerts: {}, cards: {}, lastTs: trip.last_fix ? trip.last_fix.ts : null };

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, content) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (content !== undefined) node.textContent = content;
    return node;
  }
  function setText(node, value) { if (node && node.textContent !== value) node.textContent = value; }
  var kindOf = window.EscortAlertKinds.of;  // alert-kinds.js: one list of kinds for the live map and the trip page
  function words(status) { return page.status_words[status] || status.replace(/_/g, " "); }

  function say(text, urgent) {
    var region = $(urgent ? "announce-urgent" : "announce-polite");
    region.textContent = "";  // the same words twice are said again
    window.setTimeout(function () { region.textContent = text; }, 50);
  }

  // ---- the map: track so far and the last position ------------------------------------------

  var track = L.polyline(page.track || [], { color: "#37474f", weight: 3, dashArray: "6 4", className: "trip-track" }).addTo(map);
  var here = null;
  function place(fix) {
    var latlng = [fix.lat, fix.lon];
    if (!here) {
      here = L.circleMarker(latlng, { radius: 9, weight: 3, color: "#fff", fillColor: "#1f5fbf", fillOpacity: 1,
                                      className: "escort-marker trip-" + trip.id }).addTo(map);
      var tip = el("div", "", (trip.escort || "Escort") + ": last position");
      here.bindTooltip(tip, { permanent: true, direction: "right", offset: [10, 0] });
    } else {
      here.setLatLng(latlng);
    }
    var node = here.getElement && here.getElement();
    if (node) { node.setAttribute("role", "img"); node.setAttribute("aria-label", "Last position of " + (trip.escort || "the escort")); }
    var where = $("last-position");
    where.textContent = "";
    where.appendChild(document.createTextNode(fix.lat.toFixed(5) + ", " + fix.lon.toFixed(5) + " at "));
    var time = el("time", "", T.local(fix.ts));
    time.dateTime = fix.ts;
    where.appendChild(time);
  }
  if (trip.last_fix) place(trip.last_fix);
  if (page.track && page.track.length > 1) map.fitBounds(L.featureGroup([track]).getBounds().extend([trip.pickup.lat, trip.pickup.lon]), { padding: [20, 20] });

  function positions(batch) {
    (batch.fixes || []).forEach(function (fix) {
      if (fix.trip_id !== trip.id) return;
      if (state.lastTs && Date.parse(fix.ts) < Date.parse(state.lastTs)) return;  // a late backlog fix
      state.lastTs = fix.ts;
      track.addLatLng([fix.lat, fix.lon]);
      place(fix);
    });
  }

  // ---- alerts ----------------------------------------------------------------------------

  function where(alert) {
    var d = alert.detail || {}, parts = [];
    if (typeof d.distance_off_route_m === "number") parts.push(Math.round(d.distance_off_route_m) + " m off route");
    if (typeof d.duration_s === "number") parts.push("stopped " + T.duration(d.duration_s));
    if (alert.place) parts.push("near " + alert.place);
    return parts.join(" · ");
  }

  // "Escalated to the supervisor at 2026-12-02 14:02:05 CET": the last step the unanswered alert reached.
  function escalationWords(a) {
    var to = window.EscortAlertLedger.escalatedTo(a, T.local);
    return to ? "Escalated " + to : "";
  }

  function stateWords(a) {
    if (a.state === "resolved") return "Resolved " + T.local(a.resolved_at) + (a.category ? " as " + a.category : "") +
      (a.note ? ": " + a.note : "");
    if (a.cleared && !a.acknowledged_at) return "Cleared on its own — acknowledge to remove";
    if (a.state === "acknowledged") return "Acknowledged" + (a.acknowledged_by ? " by " + a.acknowledged_by : "");
    return "Not acknowledged";
  }

  function button(label, cls, onClick) {
    var b = el("button", cls, label);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  function card(a) {
    var c = state.cards[a.id];
    if (c) return c;
    var k = kindOf(a.kind);
    var li = el("li");
    li.dataset.alertId = a.id;
    li.dataset.kind = a.kind;
    var head = el("div", "kind");
    var icon = el("span", "icon", k.icon);
    icon.setAttribute("aria-hidden", "true");
    head.appendChild(icon);
    head.appendChild(el("span", "label", k.label));
    c = { li: li, what: el("div", "meta"), raised: el("div", "meta"), escalated: el("div", "escalated"),
          state: el("div", "state"), actions: el("div", "actions") };
    c.ack = button("Acknowledge", "ack", function () { post(a.id, "ack", {}); });
    c.resolve = button("Resolve", "resolve", function (ev) { askResolve(a.id, ev.currentTarget); });
    c.actions.appendChild(c.ack);
    c.actions.appendChild(c.resolve);
    [head, c.what, c.raised, c.escalated, c.state].forEach(function (n) { li.appendChild(n); });
    if (page.can_act) li.appendChild(c.actions);
    state.cards[a.id] = c;
    return c;
  }

  function render(a) {
    var c = card(a), k = kindOf(a.kind);
    var cleared = !!(a.cleared && !a.acknowledged_at);
    c.li.className = "alert sev-" + k.sev + " kind-" + a.kind + " " + (cleared ? "cleared" : a.state);
    setText(c.what, where(a));
    setText(c.raised, "Raised " + T.local(a.raised_at));
    var escalated = escalationWords(a);
    setText(c.escalated, escalated);
    c.escalated.hidden = !escalated;
    setText(c.state, stateWords(a));
    c.li.setAttribute("aria-label", k.label + " alert" + (a.state === "resolved" ? ", resolved" : ""));
    var hadFocus = document.activeElement;
    c.ack.hidden = a.state === "acknowledged" || (a.state === "resolved" && !cleared);
    c.resolve.hidden = a.state === "resolved";
    c.ack.setAttribute("aria-label", "Acknowledge " + k.label + " alert");
    c.resolve.setAttribute("aria-label", "Resolve " + k.label + " alert");
    var list = $(a.state === "resolved" && !cleared ? "past-alerts" : "open-alerts");
    if (c.li.parentNode !== list) {
      var inside = c.li.contains(hadFocus);
      list.insertBefore(c.li, list.firstChild);
      if (inside && !c.ack.hidden && hadFocus === c.ack) c.ack.focus();
      else if (inside) $(list.dataset.heading === "past-alerts-heading" ? "open-alerts-heading" : list.dataset.heading).focus();
    }
    // Acknowledged by keyboard: the button goes; focus moves on to Resolve, not to the page.
    if (hadFocus === c.ack && c.ack.hidden) (c.resolve.hidden ? $("open-alerts-heading") : c.resolve).focus();
  }

  function counts() {
    var open = 0, past = 0;
    Object.keys(state.alerts).forEach(function (id) {
      var a = state.alerts[id];
      if (a.state !== "resolved" || (a.cleared && !a.acknowledged_at)) open += 1; else past += 1;
    });
    setText($("open-alert-count"), String(open));
    empty($("open-alerts"), open === 0, "No open alerts");
    empty($("past-alerts"), past === 0, "None");
  }

  function empty(list, isEmpty, text) {
    var node = list.querySelector(".empty");
    if (isEmpty && !node) list.appendChild(el("li", "empty", text));
    if (!isEmpty && node) list.removeChild(node);
  }

  function applyAlert(copy, quiet) {
    if (copy.trip_id !== trip.id) return;
    var a = window.EscortAlertLedger.take(copy);  // never back to an older state
    var isNew = !state.alerts[a.id];
    var before = state.alerts[a.id];
    state.alerts[a.id] = a;
    render(a);
    counts();
    if (sound) sound.observe(a, quiet);
    if (quiet) return;
    var k = kindOf(a.kind);
    if (isNew && a.state === "open") {
      say(k.label + " alert on this trip" + (where(a) ? ", " + where(a) : ""), !!k.urgent);
      addLine({ at: a.raised_at, group: "alert", text: "Alert raised: " + a.kind.replace(/_/g, " ") });
    } else if (before && before.state !== a.state) {
      var what = a.state === "resolved" ? (a.cleared && !a.acknowledged_at ? "cleared on its own" : "resolved")
        : a.state === "acknowledged" ? "acknowledged" : a.state;
      say(k.label + " alert " + what, false);
      addLine({ at: a.resolved_at || a.acknowledged_at || new Date().toISOString(), group: "alert",
                text: "Alert " + what + ": " + a.kind.replace(/_/g, " ") + (a.acknowledged_by && what === "acknowledged" ? " by " + a.acknowledged_by : "") });
    } else if (before && (a.escalation_level || 0) > (before.escalation_level || 0)) {
      // A step up the chain: said politely (ux.md rule 3 keeps assertive for the alert itself).
      say(k.label + " alert on this trip: " + escalationWords(a), false);
      addLine({ at: a.escalated_at, group: "notification",
                text: "Escalation step " + a.escalation_level + " (" + a.escalated_to + ") for " + a.kind.replace(/_/g, " ") });
    }
  }

  function post(alertId, action, body) {
    return fetch("/api/v1/alerts/" + alertId + "/" + action, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf }, body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) { say(j.error || "That did not work", false); return; }
        applyAlert(j, false);
      });
    }).catch(function () { say("No answer from the server: try again", false); });
  }

  // The resolve dialog: no category chosen beforehand; Escape or Cancel returns focus to the button.
  var dlg = $("resolve-dialog"), resolving = null, opener = null;
  function askResolve(alertId, from) {
    resolving = alertId;
    opener = from;
    $("resolve-category").value = "";
    $("resolve-note").value = "";
    setText($("resolve-what"), kindOf(state.alerts[alertId].kind).label + " alert on trip " + trip.id);
    dlg.showModal();
  }
  if (dlg) dlg.addEventListener("close", function () {
    if (dlg.returnValue === "ok" && resolving !== null) {
      post(resolving, "resolve", { category: $("resolve-category").value, note: $("resolve-note").value });
    }
    dlg.returnValue = "";
    resolving = null;
    if (opener && document.body.contains(opener) && !opener.hidden) opener.focus();
    else $("open-alerts-heading").focus();
    opener = null;
  });

  // ---- timeline and notes ----------------------------------------------------------------

  var timeline = $("trip-timeline");
  function addLine(e) {
    var li = el("li", "tl group-" + (e.group || "other"));
    var time = el("time", "", T.local(e.at));
    time.dateTime = e.at || "";
    li.appendChild(time);
    li.appendChild(el("span", "tl-text", e.text));
    if (e.place) li.appendChild(el("span", "tl-where", "near " + e.place));
    var atEnd = timeline.scrollTop + timeline.clientHeight >= timeline.scrollHeight - 4;
    timeline.appendChild(li);
    if (atEnd) timeline.scrollTop = timeline.scrollHeight;  // following the newest, unless scrolled back
  }
  (page.timeline || []).forEach(addLine);
  timeline.scrollTop = timeline.scrollHeight;

  var noteForm = $("note-form");
  noteForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var box = $("note-text"), result = $("note-result");
    result.className = "";
    result.textContent = "Saving…";
    fetch("/api/v1/trips/" + trip.id + "/notes", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf }, body: JSON.stringify({ text: box.value })
    }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) { result.className = "error"; result.textContent = body.error || "Not saved"; return; }
        result.textContent = "Note added.";
        box.value = "";
        addLine(body);
      });
    }).catch(function () { result.className = "error"; result.textContent = "No answer from the server."; });
  });

  // ---- status ------------------------------------------------------------------------------

  function statusButtons(allowed) {
    var box = $("status-buttons");
    if (!box) return;
    var focused = box.contains(document.activeElement) ? document.activeElement.dataset.status : null;
    var have = {};
    Array.prototype.forEach.call(box.querySelectorAll("button"), function (b) { have[b.dataset.status] = b; });
    Object.keys(have).forEach(function (s) { if (allowed.indexOf(s) < 0) box.removeChild(have[s]); });
    allowed.forEach(function (s) {
      var b = have[s] || button("Set status: " + words(s), "status-" + s, function () { setStatus(s, b); });
      b.dataset.status = s;
      box.appendChild(b);  // in the order given
    });
    if (focused && !have[focused] && document.activeElement === document.body) $("status-heading").focus();
    var none = box.querySelector(".none");
    if (!allowed.length && !none) box.appendChild(el("p", "none muted", "This trip has ended: no further status."));
    if (allowed.length && none) box.removeChild(none);
  }

  function setStatus(status, b) {
    var result = $("status-result");
    b.disabled = true;
    result.className = "";
    result.textContent = "Saving…";
    fetch("/api/v1/trips/" + trip.id + "/status", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ status: status, reason: $("status-reason").value.trim() || null })
    }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) { result.className = "error"; result.textContent = body.error || "Not changed"; return; }
        $("status-reason").value = "";
        applyTrip(body);
        result.textContent = "Status now " + words(body.status) + ".";
      });
    }).catch(function () { result.className = "error"; result.textContent = "No answer from the server."; })
      .then(function () { b.disabled = false; });
  }

  function applyTrip(t) {
    if (t.id !== trip.id) return;
    var old = trip.status;
    trip = Object.assign(trip, t);
    setText($("trip-status"), words(t.status));
    setText($("status-now"), words(t.status));
    setText($("trip-escort"), t.escort || "none");
    if (old !== t.status) {
      statusButtons((page.transitions || {})[t.status] || []);
      say("Trip status: " + words(t.status), false);
      addLine({ at: t.updated_at || new Date().toISOString(), group: "status", text: "Status " + words(old) + " → " + words(t.status) });
    }
  }

  // ---- start ----------------------------------------------------------------------------------

  (page.alerts || []).forEach(function (a) { applyAlert(a, true); });
  counts();
  statusButtons(page.allowed_next || []);

  if (!page.can_act || typeof io === "undefined") return;  // coordinators: what was, without the live feed
  var conn = $("conn-status");
  // trip.js opened the page's one connection (for the live ETA); the messages panel (messages.js) rides on it too.
  var socket = (window.dispatchState && window.dispatchState.socket) || io("/dispatch", { transports: ["websocket", "polling"] });
  window.dispatchState = { socket: socket };
  socket.on("connect", function () { conn.textContent = "live"; conn.className = "live"; });
  socket.on("disconnect", function (reason) {
    conn.textContent = "reconnecting…"; conn.className = "offline";
    if (reason === "io server disconnect" && window.EscortSession) {
      window.EscortSession.check().then(function (ok) { if (ok) socket.connect(); });
    }
  });
  socket.on("snapshot", function (snap) {
    // After a reconnect: what happened meanwhile on this trip.
    (snap.alerts || []).forEach(function (a) { if (a.trip_id === trip.id) applyAlert(a, false); });
    (snap.trips || []).forEach(function (t) { if (t.id === trip.id) { applyTrip(t); if (t.last_fix) positions({ fixes: [Object.assign({ trip_id: t.id }, t.last_fix)] }); } });
    document.body.dataset.live = "1";
  });
  socket.on("positions", positions);
  socket.on("alert", function (a) { applyAlert(a, false); });
  socket.on("trip", applyTrip);
})();
