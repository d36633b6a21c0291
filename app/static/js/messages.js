/* The line between an escort and dispatch: one trip's messages, kept in place (never rebuilt),
   sent over Socket.IO, marked read once shown to the reader. Used by the escort's tablet
   (escort-line.js), the dispatcher's live map and the trip page (below). Text goes in as text. */
(function () {
  "use strict";

  function el(tag, cls, content) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (content !== undefined) node.textContent = content;
    return node;
  }

  function clock(iso) {
    var when = iso ? new Date(iso) : null;
    return when && !isNaN(when) ? when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
  }

  // opts: list, empty, status, side ("escort" | "dispatch"), socket (or null: read only), announce(text)
  function TripLine(opts) {
    this.opts = opts;
    this.tripId = null;
    this.items = {};   // message id -> {li, message}
    this.readUpTo = 0; // the newest message of the other side this page has told the server it showed
    var self = this;
    if (opts.socket) opts.socket.on("message", function (m) { self.receive(m, true); });
    document.addEventListener("visibilitychange", function () { self.markRead(); });
  }

  TripLine.prototype.show = function (tripId) {
    var self = this;
    this.tripId = tripId;
    this.items = {};
    this.readUpTo = 0;
    this.opts.list.textContent = "";
    this.opts.empty.hidden = false;
    if (!tripId) return Promise.resolve();
    return fetch("/api/v1/trips/" + tripId + "/messages", { credentials: "same-origin" })
      .then(function (resp) { return resp.ok ? resp.json() : []; })
      .then(function (messages) {
        if (self.tripId !== tripId) return;
        messages.forEach(function (m) { self.receive(m, false); });
      })
      .catch(function () { self.say("Messages could not be loaded; they will appear as they arrive."); });
  };

  TripLine.prototype.mine = function (m) { return m.from === this.opts.side; };

  TripLine.prototype.receive = function (m, live) {
    if (!m || m.trip_id !== this.tripId) return;
    var item = this.items[m.id];
    if (!item) {
      item = this.items[m.id] = this.render(m);
      this.insert(item.li, m.id);
      this.opts.empty.hidden = true;
      if (live && !this.mine(m)) this.opts.announce("New message from " + this.who(m) + ": " + m.text);
    }
    item.message = m;
    this.update(item);
    this.markRead();
  };

  TripLine.prototype.who = function (m) {
    if (this.mine(m)) return "You";
    return m.from === "escort" ? "Escort " + (m.by || "") : "Dispatch" + (m.by ? " (" + m.by + ")" : "");
  };

  TripLine.prototype.render = function (m) {
    var li = el("li", "msg from-" + m.from + (this.mine(m) ? " mine" : ""));
    li.dataset.id = String(m.id);
    var head = el("p", "msg-head");
    head.appendChild(el("strong", "msg-who", this.who(m)));
    head.appendChild(document.createTextNode(" "));
    var time = el("time", "msg-at", clock(m.at));
    time.setAttribute("datetime", m.at);
    head.appendChild(time);
    li.appendChild(head);
    li.appendChild(el("p", "msg-text", m.text));
    var state = el("p", "msg-state");
    li.appendChild(state);
    return { li: li, state: state, message: m };
  };

  // In id order: a late echo of an older message goes before the newer ones.
  TripLine.prototype.insert = function (li, id) {
    var list = this.opts.list, next = null;
    Array.prototype.some.call(list.children, function (child) {
      if (Number(child.dataset.id) > id) { next = child; return true; }
      return false;
    });
    list.insertBefore(li, next);
  };

  TripLine.prototype.update = function (item) {
    var m = item.message;
    if (!this.mine(m)) { item.state.textContent = ""; item.state.hidden = true; return; }
    item.state.hidden = false;
    var words = m.read_at ? "Read " + clock(m.read_at) : "Sent, not read yet";
    if (item.state.textContent !== words) item.state.textContent = words;
    item.li.classList.toggle("read", !!m.read_at);
  };

  // Read means shown: only while the page is visible, and only the other side's messages.
  TripLine.prototype.markRead = function () {
    if (!this.opts.socket || document.visibilityState !== "visible" || !this.tripId) return;
    var self = this, newest = 0;
    Object.keys(this.items).forEach(function (id) {
      var m = self.items[id].message;
      if (!self.mine(m) && !m.read_at && m.id > newest) newest = m.id;
    });
    if (newest <= this.readUpTo || !this.opts.socket.connected) return;
    this.readUpTo = newest;
    this.opts.socket.timeout(5000).emit("messages_read", { trip_id: this.tripId, up_to: newest }, function (err, ack) {
      if (err || !ack.ok) self.readUpTo = 0;  // told nobody: try again with the next message or view
    });
  };

  TripLine.prototype.send = function (text, done) {
    var self = this;
    if (!this.tripId) { this.say("Choose a trip first."); return; }
    if (!this.opts.socket || !this.opts.socket.connected) { this.say("Offline: the message was not sent. Try again when online."); return; }
    this.say("Sending…");
    this.opts.socket.timeout(5000).emit("message", { trip_id: this.tripId, text: text }, function (err, ack) {
      if (err) { self.say("No answer from the server; the message may not have been sent."); return; }
      if (!ack.ok) { self.say(ack.error); return; }
      self.say("Message sent.");
      self.receive(ack.message, false);
      if (done) done();
    });
  };

  TripLine.prototype.say = function (words) { if (this.opts.status) this.opts.status.textContent = words; };

  window.TripLine = TripLine;

  // ---- the dispatcher's pages: the live map (a trip to choose) and a trip's page ----------

  var root = document.getElementById("line");
  if (!root || root.dataset.side !== "dispatch") return;
  var canWrite = root.dataset.canWrite === "1";
  var socket = null;
  if (canWrite) socket = (window.dispatchState && window.dispatchState.socket) || io("/dispatch", { transports: ["websocket", "polling"] });
  var polite = document.getElementById("announce-polite");
  var line = new TripLine({
    list: document.getElementById("line-list"), empty: document.getElementById("line-empty"),
    status: document.getElementById("line-status"), side: "dispatch", socket: socket,
    announce: function (words) { (polite || document.getElementById("line-status")).textContent = words; }
  });
  var choose = document.getElementById("line-trip");

  // The map's trips, as options updated in place (a selected one stays selected).
  function tripOptions() {
    var trips = (window.dispatchState && window.dispatchState.trips) || {};
    var have = {};
    Array.prototype.forEach.call(choose.options, function (o) { if (o.value) have[o.value] = o; });
    Object.keys(trips).forEach(function (id) {
      var t = trips[id];
      var label = "Trip " + id + ": " + (t.patient_name || "patient") + " · " + (t.escort || "no escort");
      if (!have[id]) { have[id] = el("option", "", label); have[id].value = id; choose.appendChild(have[id]); }
      else if (have[id].textContent !== label) have[id].textContent = label;
    });
  }

  if (choose) {
    tripOptions();
    choose.addEventListener("focus", tripOptions);
    choose.addEventListener("change", function () { line.show(choose.value ? Number(choose.value) : null); });
    if (socket) socket.on("message", function (m) {
      // A message on another trip: said aloud, and its trip offered, without switching away from the one open.
      if (m.trip_id !== line.tripId && m.from === "escort" && !m.read_at) {
        tripOptions();
        (polite || line.opts.status).textContent = "New message from escort " + (m.by || "") + " on trip " + m.trip_id +
          ": " + m.text + ". Choose the trip under Messages to answer.";
      }
    });
  } else {
    line.show(Number(root.dataset.tripId));
  }

  var form = document.getElementById("line-form");
  if (form) form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var box = document.getElementById("line-text");
    var text = box.value.trim();
    if (!text) { line.say("Write the message first."); box.focus(); return; }
    line.send(text, function () { box.value = ""; });
  });
})();
