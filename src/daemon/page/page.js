// Swaps in the server-rendered fragment every 2 s: no reload, no flash, no scroll jump.
(function () {
  var live = document.getElementById("live"), note = document.getElementById("refresh");
  function tick() {
    fetch("/?fragment=1", { cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
      .then(function (html) {
        live.innerHTML = html;
        // The note is a live region: touch it only when it changes, or it is read out.
        if (note.className) {
          note.textContent = "Refreshes every 2 seconds.";
          note.className = "";
        }
      })
      .catch(function (e) {
        note.textContent = "Not refreshed: the daemon did not answer (" + e.message + "). Retrying.";
        note.className = "stale";
      })
      .then(function () { setTimeout(tick, 2000); });
  }
  setTimeout(tick, 2000);
})();
