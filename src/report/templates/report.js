(function () {
  'use strict';
  // The report's only script: filters, sorting, search and detail toggles for the findings
  // table. It reads data-* attributes and text, never writes markup, and makes no request.
  var doc = document;
  doc.documentElement.classList.add('js');
  var table = doc.getElementById('findings-table');
  if (!table) { return; }
  var rows = Array.prototype.slice.call(table.querySelectorAll('tbody.f'));
  var byId = function (id) { return doc.getElementById(id); };
  var sev = byId('f-severity'), rule = byId('f-rule'), host = byId('f-host'),
    tag = byId('f-tag'), status = byId('f-status'), search = byId('f-search'),
    count = byId('f-count'), reset = byId('f-reset');
  function matches(b) {
    var text = search.value.trim().toLowerCase();
    var tags = ' ' + b.getAttribute('data-tags') + ' ';
    return (!sev.value || Number(b.getAttribute('data-rank')) <= Number(sev.value)) &&
      (!rule.value || b.getAttribute('data-rule') === rule.value) &&
      (!host.value || b.getAttribute('data-host') === host.value) &&
      (!tag.value || tags.indexOf(' ' + tag.value + ' ') >= 0) &&
      (!status.value || b.getAttribute('data-status') === status.value) &&
      (!text || b.textContent.toLowerCase().indexOf(text) >= 0);
  }
  function apply() {
    var shown = 0;
    rows.forEach(function (b) {
      var ok = matches(b);
      b.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = shown + ' of ' + rows.length + ' findings shown';
  }
  [sev, rule, host, tag, status].forEach(function (el) { el.addEventListener('change', apply); });
  search.addEventListener('input', apply);
  reset.addEventListener('click', function () {
    [sev, rule, host, tag, status, search].forEach(function (el) { el.value = ''; });
    apply();
  });
  var heads = Array.prototype.slice.call(table.querySelectorAll('th[data-sort]'));
  heads.forEach(function (th) {
    th.querySelector('button').addEventListener('click', function () {
      var key = th.getAttribute('data-sort');
      var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
      heads.forEach(function (o) { o.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
      rows.sort(function (a, b) {
        var x = a.getAttribute('data-' + key), y = b.getAttribute('data-' + key);
        var c = key === 'rank' || key === 'order' ? Number(x) - Number(y) : x.localeCompare(y);
        if (c === 0) { c = Number(a.getAttribute('data-order')) - Number(b.getAttribute('data-order')); }
        return c * dir;
      });
      rows.forEach(function (b) { table.appendChild(b); });
    });
  });
  rows.forEach(function (b) {
    var btn = b.querySelector('button.toggle');
    btn.addEventListener('click', function () {
      var open = b.classList.toggle('open');
      btn.setAttribute('aria-expanded', open ? 'true' : 'false');
      btn.textContent = open ? 'Hide' : 'Details';
    });
  });
  // Printing is the audit copy: every finding, every detail, whatever the filters say.
  window.addEventListener('beforeprint', function () { rows.forEach(function (b) { b.hidden = false; }); });
  window.addEventListener('afterprint', apply);
  apply();
}());
