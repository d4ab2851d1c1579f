// Declaration form: HS code suggestions from the goods catalogue, and more goods lines.
(function () {
  'use strict';
  var list = document.getElementById('hs-list');
  var timer = null;
  function suggest(q) {
    if (!list || q.trim().length < 2) return;
    fetch('/api/v1/border/hs?limit=8&q=' + encodeURIComponent(q), { credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (rows) {
        list.textContent = '';
        rows.forEach(function (e) {
          var o = document.createElement('option');
          o.value = e.code;
          o.label = e.dotted + ' — ' + e.name_vi + ' / ' + e.name_zh;
          o.textContent = o.label;
          list.appendChild(o);
        });
      })
      .catch(function () {});
  }
  document.addEventListener('input', function (ev) {
    var t = ev.target;
    if (!t.classList || !t.classList.contains('hs-code')) return;
    clearTimeout(timer);
    timer = setTimeout(function () { suggest(t.value); }, 200);
  });
  var add = document.getElementById('add-line');
  var box = document.getElementById('goods');
  if (add && box) {
    add.hidden = false;
    add.addEventListener('click', function () {
      var lines = box.querySelectorAll('.goods-line');
      var last = lines[lines.length - 1];
      var n = lines.length;
      if (n >= 30) return;
      var copy = last.cloneNode(true);
      copy.setAttribute('data-line', String(n));
      copy.querySelectorAll('.field-error').forEach(function (e) { e.remove(); });
      copy.querySelectorAll('.invalid').forEach(function (e) { e.classList.remove('invalid'); });
      copy.querySelector('.line-no').textContent = copy.querySelector('.line-no').textContent.replace(/\d+/, String(n + 1));
      copy.querySelectorAll('input, select, label, p.hint').forEach(function (el) {
        ['name', 'id', 'for', 'aria-describedby'].forEach(function (a) {
          var v = el.getAttribute(a);
          if (v) el.setAttribute(a, v.replace(/goods\[\d+\]/, 'goods[' + n + ']').replace(/goods-\d+-/, 'goods-' + n + '-'));
        });
        if (el.tagName === 'INPUT') { el.value = ''; el.removeAttribute('aria-invalid'); }
      });
      box.insertBefore(copy, add);
      copy.querySelector('input').focus();
    });
  }
})();
