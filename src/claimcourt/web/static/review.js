// The review screen's keys: the buttons the page draws from the review policy's key table (the
// terminal's keys, those the web offers now). A key clicks the button that
// carries it in data-key, so a key and a click do one thing; htmx (hx-boost) sends the form and swaps
// the page. While a decision is on its way, further keys wait, so a double press decides once.
(function () {
  "use strict";
  var busy = false;

  function act(button) {
    if (button.dataset.focus) {
      var target = document.getElementById(button.dataset.focus);
      if (target) { target.focus(); }
      return;
    }
    if (button.dataset.toggle) {
      var panel = document.getElementById(button.dataset.toggle);
      if (panel) { panel.hidden = !panel.hidden; }
      return;
    }
    if (busy) { return; }
    busy = true;
    button.click();
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var target = event.target;
    var typing = target && (target.tagName === "TEXTAREA" || target.tagName === "INPUT" ||
      target.tagName === "SELECT" || target.isContentEditable);
    if (typing) {
      if (event.key === "Escape") { target.blur(); }
      return;
    }
    var key = (event.key || "").toLowerCase();
    if (!key || key.length !== 1) { return; }
    var button = document.querySelector('[data-key="' + CSS.escape(key) + '"]');
    if (!button) { return; }
    event.preventDefault();
    act(button);
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-focus],[data-toggle]");
    if (button && event.isTrusted) {
      event.preventDefault();
      act(button);
    }
  });

  function ready() { busy = false; }
  document.addEventListener("htmx:afterSettle", ready);
  document.addEventListener("htmx:responseError", ready);
  document.addEventListener("htmx:sendError", ready);
  window.addEventListener("pageshow", ready);
})();
