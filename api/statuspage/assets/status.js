// The page's only script: "5 min ago" / "in 3 h" for every time (the UTC time stays in the
// tooltip), and a mark that it ran.
(function () {
  var units = [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]];
  document.querySelectorAll("time[datetime]").forEach(function (el) {
    var s = Math.round((Date.parse(el.getAttribute("datetime")) - Date.now()) / 1000), a = Math.abs(s), u = units[3];
    for (var i = 0; i < units.length; i++) { if (a >= units[i][1]) { u = units[i]; break; } }
    var n = Math.floor(a / u[1]) + " " + u[0];
    el.title = el.textContent;
    el.textContent = s <= 0 ? n + " ago" : "in " + n;
  });
  document.documentElement.dataset.js = "on";
})();
