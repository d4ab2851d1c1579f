// Keeps the pass-check page usable without a network: the page, its script and style and the
// published keys are cached; the network is tried first so they stay current.
var CACHE = 'tinhso-border-v1';
var OFFLINE = ['/cua-khau/kiem-tra-the', '/cua-khau/tai-nguyen/check-pass.js',
  '/cua-khau/tai-nguyen/border.css', '/static/app.css', '/api/v1/border/pass-keys'];
self.addEventListener('install', function (e) {
  e.waitUntil(caches.open(CACHE).then(function (c) { return c.addAll(OFFLINE); }));
});
self.addEventListener('fetch', function (e) {
  var url = new URL(e.request.url);
  if (e.request.method !== 'GET' || OFFLINE.indexOf(url.pathname) < 0) return;
  e.respondWith(fetch(e.request).then(function (r) {
    var copy = r.clone();
    caches.open(CACHE).then(function (c) { c.put(url.pathname, copy); });
    return r;
  }).catch(function () { return caches.match(url.pathname); }));
});
