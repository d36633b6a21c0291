/* Times as people read them, the browser's twin of app/times.py: the service's local zone
   (ESCORT_TIMEZONE, from <meta name="escort-timezone">) to the second, and lateness in words. */
(function () {
  "use strict";

  var meta = document.querySelector("meta[name=escort-timezone]");
  var zone = (meta && meta.content) || "UTC";

  function parts(date, withDate, withSeconds) {
    var opts = { timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" };
    if (withSeconds !== false) opts.second = "2-digit";
    if (withDate) { opts.year = "numeric"; opts.month = "2-digit"; opts.day = "2-digit"; }
    var out = {};
    new Intl.DateTimeFormat("en-GB", opts).formatToParts(date).forEach(function (p) { out[p.type] = p.value; });
    return out;
  }

  function asDate(value) {
    if (value === null || value === undefined || value === "") return null;
    var d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
    return isNaN(d) ? null : d;
  }

  // "2026-12-02 09:14:05 CET" (or without the date: "09:14:05 CET"); "–" for nothing.
  // ``value``: an ISO-8601 string, a Date, or epoch seconds.
  function local(value, options) {
    var d = asDate(value);
    if (!d) return "–";
    var o = options || {};
    var p = parts(d, o.date !== false, o.seconds);
    var time = p.hour + ":" + p.minute + (o.seconds === false ? "" : ":" + p.second) + " " + p.timeZoneName;
    return o.date === false ? time : p.year + "-" + p.month + "-" + p.day + " " + time;
  }

  // "4 min 22 s" or "35 s", sign ignored; "–" for nothing.
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    var whole = Math.round(Math.abs(seconds)), m = Math.floor(whole / 60), s = whole % 60;
    return m ? m + " min " + (s < 10 ? "0" : "") + s + " s" : s + " s";
  }

  // "4 min 22 s late", "35 s early" or "on time".
  function lateness(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (Math.round(seconds) === 0) return "on time";
    return duration(seconds) + (seconds > 0 ? " late" : " early");
  }

  // Every <time class="local-time" datetime="…"> on the page, in the service's zone.
  function fillPage(root, options) {
    Array.prototype.forEach.call((root || document).querySelectorAll("time.local-time"), function (el) {
      var d = asDate(el.getAttribute("datetime"));
      if (d) el.textContent = local(d, options);
    });
  }

  window.EscortTimes = { zone: zone, local: local, duration: duration, lateness: lateness, fillPage: fillPage };
})();
