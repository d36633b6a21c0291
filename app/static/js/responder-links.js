/* The trip page's "Responder links" panel: for each open alert, make a live link (shown once, to copy),
   list the links and revoke them. Everything from the server goes in as text. */
(function () {
  "use strict";

  var panel = document.getElementById("responder-links");
  if (!panel) return;
  var tripId = panel.getAttribute("data-trip-id");
  var hasPublicUrl = panel.getAttribute("data-public-url") === "1";
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var list = document.getElementById("responder-alerts");
  var empty = document.getElementById("responder-links-empty");
  var status = document.getElementById("responder-links-status");
  var KIND = { panic: "Panic", duress: "Duress", missed_checkin: "Missed check-in", signal_lost: "Signal lost",
               deviation: "Off route", stop: "Unexpected stop", pin_attempts: "Wrong PINs", late: "Late",
               hazard_zone: "Hazard zone", medication_due: "Medication due", low_battery: "Low battery" };

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text != null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function hhmm(iso) {
    if (!iso) return "";
    var when = new Date(iso);
    return isNaN(when) ? iso : when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
  }

  function api(method, path) {
    var opts = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (method !== "GET") opts.headers["X-CSRFToken"] = csrf;
    return fetch(path, opts).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (body) {
        if (!resp.ok) throw new Error(body.error || ("HTTP " + resp.status));
        return body;
      });
    });
  }

  function linkRow(alertId, link, links) {
    var li = el("li", null, "responder-link");
    li.setAttribute("data-link-id", String(link.id));
    var words = "Link " + link.id + " · " + link.state + " · made " + hhmm(link.created_at) + " by " + link.created_by;
    if (link.state === "open") words += " · open until " + hhmm(link.ends_at);
    li.appendChild(el("span", words, "responder-link-state"));
    if (link.state === "open") {
      var revoke = el("button", "Revoke link " + link.id);
      revoke.type = "button";
      revoke.addEventListener("click", function () {
        revoke.disabled = true;
        api("POST", "/api/v1/alerts/" + alertId + "/live-links/" + link.id + "/revoke").then(function () {
          status.textContent = "Link " + link.id + " revoked: it no longer opens.";
          return loadLinks(alertId, links);
        }).catch(function (err) {
          revoke.disabled = false;
          status.textContent = "Could not revoke the link: " + err.message;
        });
      });
      li.appendChild(revoke);
    }
    return li;
  }

  function loadLinks(alertId, links) {
    return api("GET", "/api/v1/alerts/" + alertId + "/live-links").then(function (rows) {
      links.replaceChildren.apply(links, rows.map(function (link) { return linkRow(alertId, link, links); }));
      if (!rows.length) links.appendChild(el("li", "No links yet.", "muted"));
    });
  }

  function alertItem(alert) {
    var li = el("li", null, "responder-alert");
    li.setAttribute("data-alert-id", String(alert.id));
    var headingId = "responder-alert-" + alert.id;
    var h3 = el("h3", (KIND[alert.kind] || alert.kind) + " alert, raised " + hhmm(alert.raised_at) +
                      (alert.place ? " at " + alert.place : ""));
    h3.id = headingId;
    li.appendChild(h3);
    var make = el("button", "Create responder link", "primary");
    make.type = "button";
    make.setAttribute("aria-describedby", headingId);
    li.appendChild(make);
    var made = el("div", null, "responder-made");
    made.hidden = true;
    var fieldId = "responder-url-" + alert.id;
    var label = el("label", "Link to send (shown once: copy it now)");
    label.htmlFor = fieldId;
    var field = el("input");
    field.id = fieldId;
    field.type = "text";
    field.readOnly = true;
    field.size = 60;
    var copy = el("button", "Copy link");
    copy.type = "button";
    var until = el("p", null, "muted");
    made.append(label, field, copy, until);
    li.appendChild(made);
    var links = el("ul", null, "responder-link-list");
    links.setAttribute("aria-label", "Links of this alert");
    li.appendChild(links);
    make.addEventListener("click", function () {
      make.disabled = true;
      api("POST", "/api/v1/alerts/" + alert.id + "/live-links").then(function (link) {
        field.value = link.live_url || (window.location.origin + link.live_path);
        until.textContent = "Open until " + hhmm(link.expires_at) + ", or until the alert is resolved." +
          (hasPublicUrl ? "" : " This link uses the address this page was opened by.");
        made.hidden = false;
        field.focus();
        field.select();
        status.textContent = "Responder link made; it is in the field \"Link to send\".";
        return loadLinks(alert.id, links);
      }).catch(function (err) {
        status.textContent = "Could not make the link: " + err.message;
      }).then(function () { make.disabled = false; });
    });
    copy.addEventListener("click", function () {
      field.select();
      var done = function () { status.textContent = "Link copied."; };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(field.value).then(done, function () {
          status.textContent = "Copying was refused: select the link and copy it by hand.";
        });
      } else {
        status.textContent = "Select the link and copy it by hand.";
      }
    });
    loadLinks(alert.id, links).catch(function (err) { status.textContent = "Could not list the links: " + err.message; });
    return li;
  }

  api("GET", "/api/v1/alerts?open=1&trip_id=" + encodeURIComponent(tripId)).then(function (alerts) {
    empty.hidden = alerts.length > 0;
    list.replaceChildren.apply(list, alerts.map(alertItem));
  }).catch(function (err) {
    status.textContent = "Could not load the alerts: " + err.message;
  });
})();
