/* The help dock on the escort's screens other than the tablet (the patient sheet): a held SOS goes
   over /device at once, or waits in this escort's queue, which the tablet page sends on its return. */
(function () {
  "use strict";

  var dock = document.getElementById("help-dock");
  if (!dock || !window.escortSos) return;
  var userId = Number(dock.dataset.userId);
  var KEY = "escort.panics.v2." + userId;  // the tablet page's own queue of this escort's panics
  var socket = window.io ? io("/device", { transports: ["websocket", "polling"], auth: { user_id: userId } }) : null;

  function queue(payload) {
    var list;
    try { list = JSON.parse(localStorage.getItem(KEY)) || []; } catch (e) { list = []; }
    list.push({ user_id: userId, ts: payload.ts, lat: null, lon: null,
                voucher: localStorage.getItem("escort.voucher." + userId) || "" });
    localStorage.setItem(KEY, JSON.stringify(list));
  }

  window.escortHelp = { socket: socket };
  window.escortSos.hold(document.getElementById("panic"), function () {
    var payload = { ts: new Date().toISOString() };  // the server takes the tablet's last known position
    if (socket && socket.connected) {
      socket.timeout(5000).emit("panic", payload, function (err) { if (err) queue(payload); });
    } else {
      queue(payload);
    }
  });
})();
