/* The QR sign-in tab (idp/web/qr_login.py): watch the code with a long poll, redeem it once a
   phone confirmed, fetch a fresh one when it expired. A poll that comes back early (an error, an
   unchanged answer) is not repeated within a second: never more than one request a second. */
(function () {
  "use strict";
  var box = document.getElementById("qr");
  if (!box) { return; }
  var image = document.getElementById("qr-image");
  var status = document.getElementById("qr-status");
  var refresh = document.getElementById("qr-refresh");
  var form = document.getElementById("qr-redeem");
  var seen = "waiting";
  var generation = 0;  // a fresh code ends the watch of the one before
  var PACE = 1000;

  function say(state) {
    var key = "text" + state.charAt(0).toUpperCase() + state.slice(1);
    status.textContent = box.dataset[key] || status.textContent;
    status.dataset.state = state;
  }

  function again(gen, started) {
    var wait = Math.max(0, PACE - (Date.now() - started));
    window.setTimeout(function () { watch(gen); }, wait);
  }

  function watch(gen) {
    if (gen !== generation) { return; }
    var started = Date.now();
    fetch(box.dataset.wait + "?seen=" + encodeURIComponent(seen),
          {credentials: "same-origin", cache: "no-store"})
      .then(function (response) {
        if (response.status >= 400 && response.status < 500) { throw new Error("refused"); }
        if (!response.ok) { throw new Error("retry"); }
        return response.json();
      })
      .then(function (answer) {
        if (gen !== generation) { return; }
        seen = answer.state;
        if (answer.state === "confirmed") { say("confirmed"); form.submit(); return; }
        if (answer.state === "refused") { say("refused"); refresh.hidden = false; return; }
        if (answer.state === "expired") { say("expired"); fresh(); return; }
        say(answer.state);
        again(gen, started);
      })
      .catch(function (error) {
        if (gen !== generation) { return; }
        if (error.message === "refused") { say("failed"); refresh.hidden = false; return; }
        again(gen, started);
      });
  }

  function fresh() {
    generation += 1;
    var gen = generation;
    var body = new URLSearchParams();
    body.set("csrf", form.elements.csrf.value);
    fetch(box.dataset.fresh, {method: "POST", body: body, credentials: "same-origin",
                              cache: "no-store"})
      .then(function (response) {
        if (!response.ok) { throw new Error("failed"); }
        return response.json();
      })
      .then(function (qr) {
        if (gen !== generation) { return; }
        image.src = qr.image;
        box.dataset.url = qr.url;
        box.dataset.wait = qr.wait;
        form.action = qr.redeem;
        seen = "waiting";
        refresh.hidden = true;
        say("waiting");
        watch(gen);
      })
      .catch(function () { say("failed"); refresh.hidden = false; });
  }

  refresh.addEventListener("click", function () { refresh.hidden = true; fresh(); });
  watch(generation);
}());
