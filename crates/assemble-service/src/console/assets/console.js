// cargo-assemble console: local times, copy buttons, the package picker's
// keyboard, and the log following a running build. No inline scripts
// anywhere (the pages' CSP forbids them); htmx does the requests.
(function () {
  "use strict";

  var relative = typeof Intl !== "undefined" && Intl.RelativeTimeFormat
    ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }) : null;

  function ago(date) {
    var s = (date.getTime() - Date.now()) / 1000;
    var units = [["year", 31536000], ["month", 2592000], ["day", 86400],
                 ["hour", 3600], ["minute", 60], ["second", 1]];
    for (var i = 0; i < units.length; i++) {
      if (Math.abs(s) >= units[i][1] || units[i][0] === "second") {
        return relative.format(Math.round(s / units[i][1]), units[i][0]);
      }
    }
  }

  // Times arrive as UTC ISO 8601; show them in the reader's locale and zone.
  function localise(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) { return; }
      var full = d.toLocaleString();
      if (t.hasAttribute("data-age") && relative) {
        t.textContent = ago(d);
        t.title = full;
      } else {
        t.textContent = full;
      }
    });
  }

  function announce(text) {
    var live = document.getElementById("announce");
    if (!live) {
      live = document.createElement("div");
      live.id = "announce";
      live.className = "visually-hidden";
      live.setAttribute("role", "status");
      document.body.appendChild(live);
    }
    live.textContent = text;
  }

  function copy(button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    var text = source ? source.textContent : "";
    var done = function () {
      button.textContent = "Copied";
      announce("Copied to the clipboard");
      setTimeout(function () { button.textContent = "Copy"; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallback(source, done); });
    } else {
      fallback(source, done);
    }
  }

  function fallback(source, done) {
    var range = document.createRange();
    range.selectNodeContents(source);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    try { document.execCommand("copy"); done(); } catch (e) { announce("Press Ctrl+C to copy"); }
  }

  // ---- the package picker ----

  function options() {
    return Array.prototype.slice.call(document.querySelectorAll("#package-results [role=option]"));
  }

  function activate(input, index) {
    var all = options();
    all.forEach(function (o, i) {
      o.setAttribute("aria-selected", i === index ? "true" : "false");
      o.classList.toggle("active", i === index);
    });
    if (all[index]) {
      input.setAttribute("aria-activedescendant", all[index].id);
      all[index].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function activeIndex() {
    return options().findIndex(function (o) { return o.getAttribute("aria-selected") === "true"; });
  }

  function closeResults(input) {
    var results = document.getElementById("package-results");
    if (results) { results.innerHTML = ""; }
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function addPackage(option) {
    var name = option.getAttribute("data-name");
    var list = document.getElementById("packages");
    var input = document.getElementById("package-search");
    if (!list || !name) { return; }
    var exists = list.querySelector('input[name="package"][value="' + CSS.escape(name) + '"]');
    if (!exists) {
      var li = document.createElement("li");
      li.setAttribute("data-package", name);
      var hidden = document.createElement("input");
      hidden.type = "hidden";
      hidden.name = "package";
      hidden.value = name;
      var code = document.createElement("code");
      code.textContent = name;
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link remove";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", "Remove " + name);
      li.appendChild(hidden);
      li.appendChild(code);
      li.appendChild(document.createTextNode(" "));
      li.appendChild(remove);
      list.appendChild(li);
      var empty = document.getElementById("no-packages");
      if (empty) { empty.remove(); }
      announce(name + " added; preview the plan or save");
    } else {
      announce(name + " is already in the list");
    }
    input.value = "";
    closeResults(input);
    input.focus();
  }

  document.addEventListener("keydown", function (e) {
    var input = e.target;
    if (!input || input.id !== "package-search") { return; }
    var all = options();
    var i = activeIndex();
    if (e.key === "ArrowDown") {
      e.preventDefault();
      activate(input, all.length ? (i + 1) % all.length : -1);
    } else if (e.key === "ArrowUp") {
      e.preventDefault();
      activate(input, all.length ? (i <= 0 ? all.length - 1 : i - 1) : -1);
    } else if (e.key === "Enter") {
      // Enter in the search never submits the form: it adds.
      e.preventDefault();
      if (all.length) { addPackage(all[i < 0 ? 0 : i]); }
    } else if (e.key === "Escape") {
      closeResults(input);
    }
  });

  document.addEventListener("click", function (e) {
    var t = e.target;
    if (!(t instanceof Element)) { return; }
    var option = t.closest("#package-results [role=option]");
    if (option) { addPackage(option); return; }
    if (t.matches("#packages .remove")) {
      var li = t.closest("li");
      var name = li.getAttribute("data-package");
      li.remove();
      announce(name + " removed");
      document.getElementById("package-search").focus();
      return;
    }
    if (t.matches("[data-copy]")) { copy(t); }
  });

  var followLog = true;
  document.addEventListener("scroll", function () {
    var log = document.getElementById("log");
    if (log) { followLog = log.scrollTop + log.clientHeight >= log.scrollHeight - 8; }
  }, true);

  function onLoad(root) {
    localise(root);
    var input = document.getElementById("package-search");
    if (input && root.querySelector && (root.id === "package-results" || root.closest && root.closest("#package-results"))) {
      input.setAttribute("aria-expanded", options().length ? "true" : "false");
      activate(input, -1);
    }
    var log = document.getElementById("log");
    if (log && followLog) { log.scrollTop = log.scrollHeight; }
  }

  document.addEventListener("DOMContentLoaded", function () { onLoad(document); });
  document.addEventListener("htmx:afterSwap", function (e) { onLoad(e.target); });
  document.addEventListener("htmx:afterSettle", function (e) { onLoad(e.target); });
})();
