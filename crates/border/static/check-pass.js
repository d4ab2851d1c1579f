// Offline pass check: Ed25519 signature verified with WebCrypto against the published keys,
// which are kept on the phone (localStorage) and refreshed whenever the network answers.
(function () {
  'use strict';
  var KEY_STORE = 'tinhso-border-pass-keys';
  var result = document.getElementById('result');
  var lang = (result && result.getAttribute('data-lang')) || 'vi';
  var T = {
    ok: { vi: 'HỢP LỆ', en: 'VALID', zh: '有效' },
    bad: { vi: 'KHÔNG HỢP LỆ', en: 'NOT VALID', zh: '无效' },
    malformed: { vi: 'Không phải thẻ thông hành của nền tảng', en: 'Not a pass of this platform', zh: '不是本平台的通行证' },
    unknown_key: { vi: 'Thẻ được ký bằng khoá không được công bố', en: 'Signed with a key that is not published', zh: '签名密钥未公布' },
    bad_signature: { vi: 'Chữ ký không khớp: thẻ đã bị sửa hoặc giả mạo', en: 'The signature does not match: altered or forged', zh: '签名不符：通行证被篡改或伪造' },
    revoked_key: { vi: 'Khoá ký đã bị thu hồi', en: 'The signing key was revoked', zh: '签名密钥已撤销' },
    not_yet_valid: { vi: 'Thẻ chưa đến thời gian hiệu lực', en: 'Not valid yet', zh: '尚未生效' },
    expired: { vi: 'Thẻ đã hết hiệu lực', en: 'Expired', zh: '已过期' },
    no_crypto: { vi: 'Trình duyệt không hỗ trợ kiểm tra chữ ký Ed25519', en: 'This browser cannot check Ed25519 signatures', zh: '此浏览器不支持Ed25519签名核验' },
    keys: { vi: 'Khoá công khai đã lưu trên máy: ', en: 'Public keys stored on this device: ', zh: '本机已存公钥：' },
    trip: { vi: 'Chuyến', en: 'Trip', zh: '行程' }, plate: { vi: 'Biển số', en: 'Plate', zh: '车牌' },
    gate: { vi: 'Cửa khẩu', en: 'Gate', zh: '口岸' }, driver: { vi: 'Lái xe', en: 'Driver', zh: '司机' },
    weight: { vi: 'Khối lượng', en: 'Weight', zh: '重量' }, until: { vi: 'Hiệu lực đến', en: 'Valid until', zh: '有效期至' },
    version: { vi: 'Phiên bản tờ khai', en: 'Declaration version', zh: '申报版本' },
    perishable: { vi: 'Hàng tươi sống', en: 'Perishable', zh: '生鲜' },
    online: { vi: 'Đối chiếu trực tuyến: ', en: 'Online check: ', zh: '在线核对：' },
    HN: { vi: 'Hữu Nghị', en: 'Huu Nghi', zh: '友谊' }, TT: { vi: 'Tân Thanh', en: 'Tan Thanh', zh: '新清' },
    CM: { vi: 'Chi Ma', en: 'Chi Ma', zh: '支麻' }, CN: { vi: 'Cốc Nam', en: 'Coc Nam', zh: '谷南' },
    DD: { vi: 'Ga Đồng Đăng', en: 'Dong Dang station', zh: '同登站' },
    export: { vi: 'xuất khẩu', en: 'export', zh: '出口' }, import: { vi: 'nhập khẩu', en: 'import', zh: '进口' },
    transit: { vi: 'quá cảnh', en: 'transit', zh: '过境' }, transshipment: { vi: 'chuyển tải', en: 'transshipment', zh: '转运' }
  };
  function t(k) { return (T[k] && (T[k][lang] || T[k].vi)) || k; }
  function b64url(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function hex(h) {
    var out = new Uint8Array(h.length / 2);
    for (var i = 0; i < out.length; i++) out[i] = parseInt(h.substr(i * 2, 2), 16);
    return out;
  }
  function loadKeys() {
    var embedded = [];
    try { embedded = JSON.parse(document.getElementById('pass-keys').textContent); } catch (e) {}
    var stored = [];
    try { stored = JSON.parse(localStorage.getItem(KEY_STORE) || '[]'); } catch (e) {}
    var byId = {};
    stored.concat(embedded).forEach(function (k) { byId[k.key_id] = k; });
    var keys = Object.keys(byId).map(function (id) { return byId[id]; });
    try { localStorage.setItem(KEY_STORE, JSON.stringify(keys)); } catch (e) {}
    return keys;
  }
  var keys = loadKeys();
  function showKeys() {
    var s = document.getElementById('keys-status');
    if (s) s.textContent = t('keys') + keys.length;
  }
  showKeys();
  fetch('/api/v1/border/pass-keys').then(function (r) { return r.ok ? r.json() : null; }).then(function (ks) {
    if (!ks) return;
    try { localStorage.setItem(KEY_STORE, JSON.stringify(ks)); } catch (e) {}
    keys = loadKeys(); showKeys();
  }).catch(function () {});
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('/cua-khau/tai-nguyen/sw.js', { scope: '/cua-khau/' }).catch(function () {});
  }

  function verify(text) {
    var parts = text.trim().split('.');
    if (parts.length !== 3 || parts[0] !== 'TSB1') return Promise.resolve({ problem: 'malformed' });
    var payload;
    try { payload = JSON.parse(new TextDecoder().decode(b64url(parts[1]))); } catch (e) { return Promise.resolve({ problem: 'malformed' }); }
    var sig;
    try { sig = b64url(parts[2]); } catch (e) { return Promise.resolve({ problem: 'malformed' }); }
    var key = keys.filter(function (k) { return k.key_id === payload.k; })[0];
    if (!key) return Promise.resolve({ problem: 'unknown_key', payload: payload });
    if (!window.crypto || !crypto.subtle) return Promise.resolve({ problem: 'no_crypto' });
    return crypto.subtle.importKey('raw', hex(key.public_key), { name: 'Ed25519' }, false, ['verify'])
      .then(function (k) { return crypto.subtle.verify({ name: 'Ed25519' }, k, sig, new TextEncoder().encode(parts[1])); })
      .then(function (good) {
        if (!good) return { problem: 'bad_signature', payload: payload };
        var now = Math.floor(Date.now() / 1000);
        if (key.revoked_at && key.revoked_at <= payload.f) return { problem: 'revoked_key', payload: payload };
        if (now < payload.f - 300) return { problem: 'not_yet_valid', payload: payload };
        if (now > payload.u) return { problem: 'expired', payload: payload };
        return { payload: payload };
      }, function () { return { problem: 'no_crypto' }; });
  }

  function row(dl, k, v) {
    var dt = document.createElement('dt'); dt.textContent = t(k);
    var dd = document.createElement('dd'); dd.textContent = v;
    dl.appendChild(dt); dl.appendChild(dd);
  }
  function show(r, text) {
    result.textContent = '';
    var v = document.createElement('p');
    v.className = 'verdict ' + (r.problem ? 'bad' : 'ok');
    v.id = 'verdict';
    v.textContent = r.problem ? t('bad') + ' — ' + t(r.problem) : t('ok');
    result.appendChild(v);
    if (r.payload && !r.problem) {
      var p = r.payload, dl = document.createElement('dl');
      dl.className = 'facts';
      row(dl, 'trip', p.c);
      row(dl, 'plate', p.p + (p.r ? ' + ' + p.r : ''));
      row(dl, 'gate', t(p.g) + ' · ' + t(p.d));
      row(dl, 'driver', p.n);
      row(dl, 'weight', p.w + ' kg' + (p.e ? ' · ' + t('perishable') : ''));
      row(dl, 'version', String(p.v));
      row(dl, 'until', new Date(p.u * 1000).toLocaleString(lang === 'zh' ? 'zh-CN' : (lang === 'en' ? 'en-GB' : 'vi-VN')));
      result.appendChild(dl);
      // Online, an officer's session also learns whether the declaration changed since.
      var csrf = document.querySelector('input[name=csrf]');
      fetch('/api/v1/border/passes/check', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'content-type': 'application/json', 'x-csrf-token': csrf ? csrf.value : '' },
        body: JSON.stringify({ text: text })
      }).then(function (res) { return res.ok ? res.json() : null; }).then(function (o) {
        if (!o) return;
        var s = document.createElement('p');
        s.id = 'online';
        s.textContent = t('online') + (lang === 'vi' ? o.message_vi : o.message_en);
        result.appendChild(s);
      }).catch(function () {});
    }
  }
  document.getElementById('check-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var text = document.getElementById('pass-input').value;
    verify(text).then(function (r) { show(r, text); });
  });
  // Camera scanning where the browser has a barcode detector (Chrome on Android).
  var scan = document.getElementById('scan');
  if ('BarcodeDetector' in window && navigator.mediaDevices && scan) {
    scan.hidden = false;
    scan.addEventListener('click', function () {
      var video = document.getElementById('camera');
      var detector = new window.BarcodeDetector({ formats: ['qr_code'] });
      navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } }).then(function (stream) {
        video.srcObject = stream; video.hidden = false; video.play();
        var tick = function () {
          detector.detect(video).then(function (codes) {
            if (codes.length) {
              stream.getTracks().forEach(function (tr) { tr.stop(); });
              video.hidden = true;
              document.getElementById('pass-input').value = codes[0].rawValue;
              verify(codes[0].rawValue).then(function (r) { show(r, codes[0].rawValue); });
            } else { requestAnimationFrame(tick); }
          }).catch(function () { requestAnimationFrame(tick); });
        };
        tick();
      }).catch(function () {});
    });
  }
})();
