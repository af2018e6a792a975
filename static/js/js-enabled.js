// NHS.UK frontend: mark the page as having JavaScript (and ES modules) before it is
// painted. Loaded as a plain blocking script straight after <body> opens.
document.body.className +=
  " js-enabled" + ("noModule" in HTMLScriptElement.prototype ? " nhsuk-frontend-supported" : "");
