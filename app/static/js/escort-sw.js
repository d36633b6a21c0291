/* Service worker for the escort's tablet: the page and its scripts load even with no network,
   so a reload in a lift or a tunnel still shows the trip and keeps queueing positions.
   The page is fetched from the network first; the cached copy is only a fallback. */
"use strict";

var CACHE = "escort-tablet-v5";  // bumped with every change to the files below: installed tablets fetch them anew
var SHELL = ["/escort", "/static/css/app.css", "/static/css/tablet.css", "/static/js/escort.js", "/static/js/escort-map.js",
             "/static/js/escort-alive.js", "/static/js/escort-sos.js", "/static/js/escort-theme.js",
             "/static/js/escort-line.js", "/static/js/messages.js", "/static/css/line.css", "/static/vendor/socket.io/socket.io.min.js", "/static/vendor/leaflet/leaflet.js",
             "/static/vendor/leaflet/leaflet.css", "/escort/manifest.webmanifest"];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) { return cache.addAll(SHELL); }).then(function () {
    return self.skipWaiting();
  }));
});

self.addEventListener("activate", function (event) {
  // An older version's copy goes: it would keep serving the old page's scripts.
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) { return n.indexOf("escort-tablet-") === 0 && n !== CACHE; })
      .map(function (n) { return caches.delete(n); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (event) {
  var url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname === "/escort" || SHELL.indexOf(url.pathname) >= 0) {
    event.respondWith(fetch(event.request).then(function (response) {
      // Only a real page is kept: a redirect to the login page is not the escort's trip.
      if (response.ok && !response.redirected) {
        var copy = response.clone();
        caches.open(CACHE).then(function (cache) { cache.put(url.pathname, copy); });
      }
      return response;
    }).catch(function () {
      return caches.match(url.pathname).then(function (hit) { return hit || Response.error(); });
    }));
  }
});

// Logging out removes the cached page: it names the patient.
self.addEventListener("message", function (event) {
  if (event.data === "logout") event.waitUntil(caches.delete(CACHE));
});
