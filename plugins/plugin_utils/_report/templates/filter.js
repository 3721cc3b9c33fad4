// Filter the per-host evidence by what is typed: host name, runtime, verdict or any text shown.
(function () {
  var box = document.getElementById("filter");
  if (!box) { return; }
  box.hidden = false;
  var hosts = document.querySelectorAll("#evidence details");
  box.addEventListener("input", function () {
    var needle = box.value.toLowerCase();
    for (var i = 0; i < hosts.length; i++) {
      hosts[i].classList.toggle("hidden", needle !== "" && hosts[i].textContent.toLowerCase().indexOf(needle) < 0);
    }
  });
}());
// The same for the audit findings (report.html's Audit section), row by row.
(function () {
  var box = document.getElementById("audit-filter");
  if (!box) { return; }
  box.hidden = false;
  var rows = document.querySelectorAll("#audit-findings tbody tr");
  box.addEventListener("input", function () {
    var needle = box.value.toLowerCase();
    for (var i = 0; i < rows.length; i++) {
      rows[i].classList.toggle("hidden", needle !== "" && rows[i].textContent.toLowerCase().indexOf(needle) < 0);
    }
  });
}());
