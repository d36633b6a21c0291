/* A responder's live page: the escort's last position on a map, moved every 10 s from position.json. */
(function () {
  "use strict";

  var POLL_MS = 10000;
  var page = JSON.parse(document.getElementById("page-data").textContent);
  var status = document.getElementById("live-status");
  var atCell = document.getElementById("live-position-at");
  var feed = window.location.pathname.replace(/\/$/, "") + "/position.json";
  var here = page.position || {};
  var map = L.map("live-map");
  if (page.tile_url) {
    // The page sends no Referer (its URL is the credential); tiles get the site's origin only.
    L.tileLayer(page.tile_url, { attribution: page.tile_attribution, maxZoom: 19, referrerPolicy: "strict-origin" })
      .addTo(map);
  }
  var marker = null;
  var timer = null;

  function label(p) {
    return (page.escort ? page.escort + ": " : "") + "last position " + (p.at ? p.at.slice(0, 16).replace("T", " ") + " UTC" : "");
  }

  function show(p) {
    if (p.lat == null || p.lon == null) {
      map.setView([0, 0], 1);
      return;
    }
    var where = [p.lat, p.lon];
    if (marker === null) {
      marker = L.marker(where, { title: "Escort's last position", alt: "Escort's last position", keyboard: false })
        .addTo(map);
      marker.bindTooltip(document.createTextNode(label(p)));
      map.setView(where, 16);
    } else {
      marker.setLatLng(where);
      marker.setTooltipContent(document.createTextNode(label(p)));
      if (!map.getBounds().contains(where)) map.panTo(where);
    }
    marker.getElement().setAttribute("data-lat", String(p.lat));
    marker.getElement().setAttribute("data-lon", String(p.lon));
  }

  function setAt(p) {
    if (!p.at) return;
    var time = document.createElement("time");
    time.setAttribute("datetime", p.at);
    time.textContent = p.at.slice(0, 16).replace("T", " ") + " UTC";
    atCell.replaceChildren(time);
  }

  function ended() {
    window.clearInterval(timer);
    status.textContent = "This link has ended: the alert is over or the link expired. The map no longer updates.";
  }

  function poll() {
    fetch(feed, { credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" })
      .then(function (resp) {
        if (resp.status === 404) { ended(); return null; }
        if (!resp.ok) throw new Error("HTTP " + resp.status);
        return resp.json();
      })
      .then(function (p) {
        if (p === null) return;
        var moved = p.lat !== here.lat || p.lon !== here.lon;
        here = p;
        show(p);
        setAt(p);
        if (moved) status.textContent = "Position updated: " + (p.at ? p.at.slice(11, 16) + " UTC" : "time not known") + ".";
      })
      .catch(function () {
        status.textContent = "Could not reach the server; trying again in 10 seconds.";
      });
  }

  show(here);
  timer = window.setInterval(poll, POLL_MS);
})();
