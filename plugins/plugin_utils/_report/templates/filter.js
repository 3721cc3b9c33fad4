// Filter what report.html lists by what is typed: the per-host evidence (host name, runtime, verdict or any
// text shown) and the audit findings, row by row.
(function () {
  function filter(boxId, selector) {
    var box = document.getElementById(boxId);
    if (!box) { return; }
    box.hidden = false;
    var items = document.querySelectorAll(selector);
    box.addEventListener("input", function () {
      var needle = box.value.toLowerCase();
      for (var i = 0; i < items.length; i++) {
        items[i].classList.toggle("hidden", needle !== "" && items[i].textContent.toLowerCase().indexOf(needle) < 0);
      }
    });
  }
  filter("filter", "#evidence details");
  filter("audit-filter", "#audit-findings tbody tr");
}());
