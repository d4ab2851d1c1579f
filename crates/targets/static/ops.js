// Trung tâm điều hành: re-fetch the live part every 60 s and swap it in place (no full-page
// flash). Without this script the page is complete; it just does not refresh itself.
(function () {
  "use strict";
  var box = document.getElementById("ops-live");
  if (!box || !window.fetch) { return; }
  var src = box.getAttribute("data-src");
  function refresh() {
    fetch(src, { credentials: "same-origin", headers: { "accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) { box.innerHTML = html; })
      .catch(function () { /* keep the figures shown; try again next minute */ });
  }
  setInterval(refresh, 60000);
  var select = document.getElementById("chi_so");
  if (select && select.form) {
    select.addEventListener("change", function () { select.form.submit(); });
  }
})();
