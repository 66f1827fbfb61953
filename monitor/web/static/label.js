// Keyboard shortcuts of the labeling page. No framework, no build step: the page
// works without this file (every action is a plain form); this only presses the
// buttons. The domain keys come from the page (data-key on each checkbox).
(function () {
  "use strict";
  var form = document.getElementById("label-form");
  if (!form) { return; }

  function press(id) {
    var button = document.getElementById(id);
    if (!button) { return false; }
    if (form.requestSubmit && button.form === form) { form.requestSubmit(button); }
    else { button.click(); }
    return true;
  }

  function submitForm(id) {
    var other = document.getElementById(id);
    if (!other) { return false; }
    if (other.requestSubmit) { other.requestSubmit(); } else { other.submit(); }
    return true;
  }

  var domainKeys = {};
  var boxes = form.querySelectorAll("input[name=domain][data-key]");
  for (var i = 0; i < boxes.length; i++) {
    var key = boxes[i].getAttribute("data-key");
    if (key) { domainKeys[key] = boxes[i]; }
  }

  function toggle(box) {
    box.checked = !box.checked;
    box.dispatchEvent(new Event("change", { bubbles: true }));
  }

  var busy = false;
  document.addEventListener("keydown", function (ev) {
    if (busy || ev.ctrlKey || ev.metaKey || ev.altKey || ev.isComposing) { return; }
    var t = ev.target;
    var tag = t && t.tagName ? t.tagName.toUpperCase() : "";
    var typing = tag === "TEXTAREA" || tag === "SELECT" ||
      (tag === "INPUT" && ["text", "search", "password", "email", "number"].indexOf(t.type) >= 0);
    if (typing) {
      if (ev.key === "Escape") { t.blur(); ev.preventDefault(); }
      return;  // Enter in the countries box submits the form as usual (Save)
    }
    if (ev.key === "Enter" && (tag === "BUTTON" || tag === "A" || tag === "SUMMARY")) { return; }
    var k = ev.key;
    var done = true;
    if (k === "a") { done = press("btn-accept"); }
    else if (k === "r") { done = press("btn-reject"); }
    else if (k === "s" || k === "Enter") { done = press("btn-save"); }
    else if (k === "t") { toggle(document.getElementById("relevant")); }
    else if (k === "c") { document.getElementById("countries").focus(); }
    else if (k === "n" || k === "j") {
      done = submitForm("skip-form");
      if (!done) {
        var back = document.getElementById("back-link");
        if (back) { window.location.assign(back.getAttribute("href")); done = true; }
      }
    }
    else if (k === "u") { done = submitForm("undo-form"); }
    else if (k === "?") { var keys = document.getElementById("keys"); keys.open = !keys.open; }
    else if (Object.prototype.hasOwnProperty.call(domainKeys, k)) {
      var box = domainKeys[k];
      toggle(box);
      if (box.checked) {
        var relevant = document.getElementById("relevant");
        if (!relevant.checked) { relevant.checked = true; }  // a domain implies relevant
      }
    }
    else { done = false; }
    if (done) {
      ev.preventDefault();
      if (["a", "r", "s", "Enter", "n", "j", "u"].indexOf(k) >= 0) { busy = true; }
    }
  });

  // A submitted form leaves the page; if the browser comes back to it from its cache,
  // accept keys again.
  window.addEventListener("pageshow", function () { busy = false; });
})();
