/* The escort's line to dispatch on the tablet: on/off duty (streaming stops off duty), messages
   with quick replies, the doses due recorded as given or skipped, and the code phrase.
   Runs after escort.js, on its /device connection (window.escortState.socket). */
(function () {
  "use strict";

  var state = window.escortState;
  var socket = state && state.socket;
  if (!socket) return;
  var data = JSON.parse(document.getElementById("line-data").textContent);
  var LIVE = { assigned: true, en_route_pickup: true, arrived_pickup: true, on_board: true, arrived_dropoff: true, incident: true };
  var ACK_MS = 5000;
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  function $(id) { return document.getElementById(id); }

  // ---- duty: the position is shared on duty, or with a trip assigned or under way -----------

  var duty = { on: !!data.on_duty };

  function tripLive() { return !!(state.trip && LIVE[state.trip.status]); }

  function showDuty() {
    state.sharing = duty.on || tripLive();  // escort.js stops sending positions when false
    var toggle = $("duty-toggle");
    toggle.setAttribute("aria-checked", duty.on ? "true" : "false");
    var words = state.sharing ? "Your position is shared with dispatch." : "Off duty: your position is not shared.";
    if (duty.on && !tripLive()) words = "On duty: your position is shared with dispatch.";
    if (!duty.on && tripLive()) words = "Your position is shared with dispatch while your trip is on.";
    if ($("duty-state").textContent !== words) $("duty-state").textContent = words;
    if (!state.sharing) $("gps-status").textContent = "not shared (off duty)";
  }

  $("duty-toggle").addEventListener("click", function () {
    var want = !duty.on;
    if (!socket.connected) { $("duty-state").textContent = "Offline: duty can be changed once the connection returns."; return; }
    socket.timeout(ACK_MS).emit("duty", { on: want }, function (err, ack) {
      if (err) { $("duty-state").textContent = "No answer from dispatch; try again."; return; }
      if (!ack.ok) { $("duty-state").textContent = ack.error; return; }
      duty.on = ack.on;
      showDuty();
    });
  });
  socket.on("trip", function (trip) { if (state.trip && trip.id === state.trip.id) showDuty(); });
  showDuty();

  // ---- messages -----------------------------------------------------------------------------

  var line = null;
  if (data.trip_id && $("line-list")) {
    line = new window.TripLine({
      list: $("line-list"), empty: $("line-empty"), status: $("line-status"), side: "escort", socket: socket,
      announce: function (words) { $("line-status").textContent = words; }
    });
    line.show(data.trip_id);
    socket.on("connect", function () { line.show(data.trip_id); });  // what came while offline
    Array.prototype.forEach.call(document.querySelectorAll(".quick-reply"), function (button) {
      button.addEventListener("click", function () { line.send(button.textContent); });
    });
    $("line-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var box = $("line-text");
      var text = box.value.trim();
      if (!text) { line.say("Write the message first."); box.focus(); return; }
      line.send(text, function () { box.value = ""; });
    });
  }

  // ---- medication -------------------------------------------------------------------------

  function doseItem(dose) {
    var li = document.createElement("li");
    li.className = "dose";
    var what = document.createElement("p");
    what.className = "dose-what";
    var due = new Date(dose.due_at);
    what.textContent = dose.medication + " " + (dose.dose || "") + " · due " +
      (isNaN(due) ? "" : due.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
    li.appendChild(what);
    var row = document.createElement("div");
    row.className = "row";
    var given = document.createElement("button");
    given.type = "button";
    given.className = "primary";
    given.textContent = "Given: " + dose.medication;
    var skip = document.createElement("button");
    skip.type = "button";
    skip.textContent = "Skipped: " + dose.medication;
    row.appendChild(given);
    row.appendChild(skip);
    li.appendChild(row);
    var reasonBox = document.createElement("form");
    reasonBox.hidden = true;
    var id = "skip-" + dose.medication.replace(/\W+/g, "-") + "-" + due.getTime();
    var label = document.createElement("label");
    label.setAttribute("for", id);
    label.textContent = "Why was " + dose.medication + " skipped?";
    var input = document.createElement("input");
    input.id = id;
    input.maxLength = 500;
    input.required = true;
    var save = document.createElement("button");
    save.type = "submit";
    save.textContent = "Record as skipped";
    reasonBox.appendChild(label);
    reasonBox.appendChild(input);
    reasonBox.appendChild(save);
    li.appendChild(reasonBox);
    given.addEventListener("click", function () { recordDose(dose, "given", null); });
    skip.addEventListener("click", function () { reasonBox.hidden = false; input.focus(); });
    reasonBox.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (!input.value.trim()) { $("dose-status").textContent = "Say why the dose was skipped."; input.focus(); return; }
      recordDose(dose, "skipped", input.value.trim());
    });
    return li;
  }

  function loadDoses() {
    if (!data.trip_id || !$("dose-list")) return;
    fetch("/api/v1/trips/" + data.trip_id + "/medications", { credentials: "same-origin" })
      .then(function (resp) { return resp.ok ? resp.json() : null; })
      .then(function (body) {
        if (!body) return;
        var list = $("dose-list");
        var had = list.contains(document.activeElement);
        list.textContent = "";
        body.due.forEach(function (dose) { list.appendChild(doseItem(dose)); });
        $("dose-empty").hidden = body.due.length > 0;
        if (had) $("doses-heading").focus();
      })
      .catch(function () { /* offline: the list stays as it was */ });
  }

  function recordDose(dose, outcome, reason) {
    var body = { medication: dose.medication, outcome: outcome, due_at: dose.due_at };
    if (reason) body.reason = reason;
    fetch("/api/v1/trips/" + data.trip_id + "/medications", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf }, body: JSON.stringify(body)
    }).then(function (resp) {
      return resp.json().then(function (answer) {
        if (!resp.ok) { $("dose-status").textContent = answer.error || "Not recorded; try again."; return; }
        $("dose-status").textContent = dose.medication + " recorded as " + outcome + ".";
        loadDoses();
      });
    }).catch(function () { $("dose-status").textContent = "Offline: not recorded. Try again when online."; });
  }

  $("doses-heading") && $("doses-heading").setAttribute("tabindex", "-1");
  socket.on("medication_due", function (m) { if (m.trip_id === data.trip_id) loadDoses(); });
  loadDoses();

  // ---- the code phrase (set like the PINs, with the current PIN) ---------------------------

  var phraseForm = $("phrase-form");
  if (phraseForm) phraseForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var current = $("phrase-current");
    var payload = { code_phrase: $("phrase-new").value };
    if (current) payload.current = current.value;
    [current, $("phrase-new")].forEach(function (input) { if (input) input.value = ""; });
    socket.timeout(ACK_MS).emit("set_pins", payload, function (err, ack) {
      $("phrase-result").textContent = err ? "No answer from dispatch; try again." : (ack.ok ? "Code phrase saved." : ack.error);
    });
  });
})();
