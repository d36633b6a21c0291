/* The tablet's "Dark screen" switch for a car at night. Loaded in <head>, before the page is drawn:
   the chosen theme is put on <html> at once, so a dark screen never flashes white on a reload.
   The choice is kept on this tablet (localStorage), like the silent-reminders switch. */
(function () {
  "use strict";

  var KEY = "escort.dark-screen.v1";
  var root = document.documentElement;

  function stored() { try { return localStorage.getItem(KEY) === "1"; } catch (e) { return false; } }

  function apply(dark) {
    root.classList.toggle("theme-dark", dark);
    var meta = document.querySelector("meta[name=theme-color]");
    if (meta) meta.content = dark ? "#000000" : "#13202f";
  }

  apply(stored());  // before first paint

  function setup() {
    var button = document.getElementById("dark-screen");
    if (!button) return;
    function show() { button.setAttribute("aria-pressed", root.classList.contains("theme-dark") ? "true" : "false"); }
    show();
    button.addEventListener("click", function () {
      var dark = !root.classList.contains("theme-dark");
      try { localStorage.setItem(KEY, dark ? "1" : "0"); } catch (e) { /* full or private: this page only */ }
      apply(dark);
      show();
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
  window.escortTheme = { KEY: KEY, apply: apply };
})();
