// Trung tâm điều hành: re-fetch the live part every 60 s and swap it in place (no full-page
// flash). Without this script the page is complete; it just does not refresh itself.
(function () {
  "use strict";
  var box = document.getElementById("ops-live");
  if (!box || !window.fetch) { return; }
  var src = box.getAttribute("data-src");
  function refresh() {
    fetch(src, { credentials: "same-origin", headers: { "accept": "text/html" } })
      // A redirect means the session ended (sign-in page): keep the figures shown.
      .then(function (r) { return r.ok && !r.redirected ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        box.innerHTML = html;
        box.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function () { /* keep the figures shown; try again next minute */ });
  }
  setInterval(refresh, 60000);
  // For the browser test: refresh now.
  window.tinhsoOpsRefresh = refresh;
  var select = document.getElementById("chi_so");
  if (select && select.form) {
    select.addEventListener("change", function () { select.form.submit(); });
  }
})();
