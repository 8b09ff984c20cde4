/* socdesk: the little JavaScript the portal uses. Everything works without it;
 * this only adds the theme toggle and closes the user menu on an outside click
 * or Escape. No inline scripts or styles: the CSP is script-src/style-src 'self'. */
(function () {
  "use strict";

  var STORAGE_KEY = "socdesk-theme";
  var root = document.documentElement;
  var darkQuery = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  function storedTheme() {
    try {
      var value = window.localStorage.getItem(STORAGE_KEY);
      return value === "dark" || value === "light" ? value : null;
    } catch (e) {
      return null; // storage blocked (private mode, policy): follow the OS
    }
  }

  function effectiveTheme() {
    var forced = root.getAttribute("data-theme");
    if (forced === "dark" || forced === "light") return forced;
    return darkQuery && darkQuery.matches ? "dark" : "light";
  }

  function labelToggles() {
    var next = effectiveTheme() === "dark" ? "light" : "dark";
    var label = "Switch to " + next + " theme";
    var toggles = document.querySelectorAll("[data-theme-toggle]");
    for (var i = 0; i < toggles.length; i++) {
      toggles[i].setAttribute("aria-label", label);
      toggles[i].setAttribute("title", label);
      toggles[i].hidden = false; // hidden in the markup so no-JS users never see a dead button
    }
  }

  function setTheme(theme) {
    root.setAttribute("data-theme", theme);
    try {
      window.localStorage.setItem(STORAGE_KEY, theme);
    } catch (e) {
      /* not remembered: fine */
    }
    labelToggles();
  }

  // Apply the remembered theme as early as possible.
  var saved = storedTheme();
  if (saved) root.setAttribute("data-theme", saved);

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) return;

    var toggle = target.closest("[data-theme-toggle]");
    if (toggle) {
      event.preventDefault();
      setTheme(effectiveTheme() === "dark" ? "light" : "dark");
      return;
    }

    // Close any open user menu when clicking outside it.
    var menus = document.querySelectorAll("details.user-menu[open]");
    for (var i = 0; i < menus.length; i++) {
      if (!menus[i].contains(target)) menus[i].removeAttribute("open");
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var menus = document.querySelectorAll("details.user-menu[open]");
    for (var i = 0; i < menus.length; i++) {
      menus[i].removeAttribute("open");
      var summary = menus[i].querySelector("summary");
      if (summary) summary.focus();
    }
  });

  if (darkQuery) {
    var onSchemeChange = function () { labelToggles(); };
    if (darkQuery.addEventListener) darkQuery.addEventListener("change", onSchemeChange);
    else if (darkQuery.addListener) darkQuery.addListener(onSchemeChange);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", labelToggles);
  } else {
    labelToggles();
  }
})();
