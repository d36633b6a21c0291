/* The escort reports a place for dispatch to review, reads where their own reports stand (updated in
   place when dispatch reviews one), and is told on entering a published flagged place.
   Runs after escort.js, on its /device connection (window.escortState.socket). */
(function () {
  "use strict";

  var state = window.escortState || {};
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  function $(id) { return document.getElementById(id); }
  function announce(text) { var el = $("checkin-announce"); if (el) el.textContent = text; }
  var WHERE = { here: "here", pickup: "at the pickup", dropoff: "at the drop-off" };

  // ---- entering a published flagged place: a notice on the tablet, said aloud --------------
  if (state.socket) {
    state.socket.on("flagged_place", function (n) {
      if (state.trip && n.trip_id !== state.trip.id) return;
      var el = $("place-notice");
      el.hidden = false;
      el.textContent = n.text;  // data as text
      announce(n.text);
    });
  }

  // ---- the escort's own reports and where each stands --------------------------------------
  var mine = $("my-reports"), empty = $("my-reports-empty");
  var times = window.EscortTimes;

  function when(iso) { return times ? times.local(iso, { seconds: false }) : iso; }

  // One row per report, its parts filled as text; a row already shown is changed in place.
  function showReport(r, first) {
    if (!mine) return null;
    var li = mine.querySelector("li[data-report='" + Number(r.id) + "']"), isNew = !li;
    if (isNew) {
      li = document.createElement("li");
      li.setAttribute("data-report", String(Number(r.id)));
      ["report-what", "report-when", "report-review"].forEach(function (cls) {
        var p = document.createElement("p");
        p.className = cls;
        li.appendChild(p);
      });
      var what = li.querySelector(".report-what");
      what.appendChild(document.createElement("strong"));
      what.appendChild(document.createElement("span"));
      var at = li.querySelector(".report-when");
      var st = document.createElement("span");
      st.className = "report-state";
      at.appendChild(st);
      at.appendChild(document.createTextNode(" · reported "));
      at.appendChild(document.createElement("time"));
      if (first && mine.firstChild) mine.insertBefore(li, mine.firstChild); else mine.appendChild(li);
    }
    li.setAttribute("data-status", r.status);
    li.querySelector(".report-what strong").textContent = r.title;
    li.querySelector(".report-what span").textContent = r.label ? " — " + r.label : "";
    li.querySelector(".report-state").textContent = r.state;
    var t = li.querySelector(".report-when time");
    t.setAttribute("datetime", r.reported_at);
    t.textContent = when(r.reported_at);
    var review = li.querySelector(".report-review");
    review.textContent = r.status === "declined" && r.decline_reason ? "Dispatch's reason: " + r.decline_reason : "";
    review.hidden = !review.textContent;
    if (empty) empty.hidden = true;
    return li;
  }

  function loadMine() {
    if (!mine) return;
    fetch("/api/v1/flagged-places/reports/mine", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (resp) { if (!resp.ok) throw new Error(String(resp.status)); return resp.json(); })
      .then(function (rows) {
        rows.forEach(function (r) { showReport(r, false); });
        if (!rows.length) { empty.hidden = false; empty.textContent = "You have not reported a place on this trip."; }
      })
      .catch(function () { empty.textContent = "Your reports could not be loaded: no connection to dispatch."; });
  }
  loadMine();

  // Dispatch reviewed one of this escort's reports: its row changes, and the tablet says so.
  if (state.socket) {
    // A review made while the tablet was offline is not sent again: read the list afresh on reconnect.
    var connects = 0;
    state.socket.on("connect", function () { if (connects++ > 0) loadMine(); });
    state.socket.on("place_report", function (r) {
      showReport(r, true);
      announce("Your report of " + r.title + (r.label ? " at " + r.label : "") + ": " + r.state.toLowerCase() + ".");
    });
  }

  // ---- the report dialog ---------------------------------------------------------------------
  var dialog = $("report-dialog"), opener = $("report-open");
  if (!dialog || !opener || !state.trip) return;

  function close() {
    if (dialog.open) dialog.close();
    opener.focus();  // Escape or Cancel: back to what opened it
  }
  opener.addEventListener("click", function () {
    $("report-error").textContent = "";
    dialog.showModal();
    $("report-category").focus();
  });
  $("report-cancel").addEventListener("click", close);
  dialog.addEventListener("close", function () { opener.focus(); });

  $("report-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var where = (dialog.querySelector("input[name=where]:checked") || {}).value || "here";
    var category = $("report-category");
    var reason = $("report-reason").value.trim();
    if (!reason) {
      $("report-error").textContent = "Say what the risk is.";
      $("report-reason").setAttribute("aria-invalid", "true");
      $("report-reason").focus();
      return;
    }
    $("report-reason").removeAttribute("aria-invalid");
    $("report-send").disabled = true;
    fetch("/api/v1/flagged-places/reports", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ trip_id: state.trip.id, where: where, category: category.value, reason: reason })
    }).then(function (resp) {
      return resp.json().then(function (body) { return { ok: resp.ok, body: body }; });
    }).then(function (r) {
      $("report-send").disabled = false;
      if (!r.ok) { $("report-error").textContent = r.body.error || "The report was not sent; try again."; return; }
      var label = category.options[category.selectedIndex].textContent;
      $("report-reason").value = "";
      close();
      $("report-result").textContent = "Report sent: " + label + " " + WHERE[where] + ". Dispatch will review it.";
      showReport(r.body, true);
    }).catch(function () {
      $("report-send").disabled = false;
      $("report-error").textContent = "No connection to dispatch: the report was not sent. Try again, or call dispatch.";
    });
  });
})();
