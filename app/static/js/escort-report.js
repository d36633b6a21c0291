/* The escort reports a place for dispatch to review, and is told on entering a published flagged place.
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
    }).catch(function () {
      $("report-send").disabled = false;
      $("report-error").textContent = "No connection to dispatch: the report was not sent. Try again, or call dispatch.";
    });
  });
})();
