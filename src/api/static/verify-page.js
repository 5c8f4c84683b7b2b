/* The hosted verification page: asks for the address when the app did not give one, then for
 * the code; tells the opener (verify.js) when done or cancelled. */
(function () {
  "use strict";
  var root = document.getElementById("gh-verify");
  var app = root.getAttribute("data-app"), id = root.getAttribute("data-id");
  var api = "/auth/v/" + encodeURIComponent(app) + "/" + encodeURIComponent(id);
  var addressForm = document.getElementById("gh-address"), codeForm = document.getElementById("gh-code");
  var error = document.getElementById("gh-error"), done = document.getElementById("gh-done");

  function tell(status) {
    if (window.parent !== window) {
      window.parent.postMessage({ type: "gatehouse:verify", status: status, app: app, id: id }, "*");
    }
  }
  function show(el) {
    [addressForm, codeForm, done].forEach(function (x) { if (x) x.hidden = x !== el; });
    var input = el && el.querySelector("input");
    if (input) input.focus();
  }
  function fail(msg) { error.textContent = msg; error.hidden = false; }
  function post(path, body) {
    return fetch(api + path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }).then(function (r) { return r.json().then(function (j) { return { status: r.status, body: j }; }); });
  }

  if (addressForm) addressForm.addEventListener("submit", function (e) {
    e.preventDefault();
    error.hidden = true;
    post("/address", { to: addressForm.elements.to.value }).then(function (r) {
      if (r.status === 200) {
        document.getElementById("gh-sent-to").textContent = r.body.to;
        show(codeForm);
      } else fail(r.body.message || "That did not work.");
    }, function () { fail("Gatehouse cannot be reached; try again."); });
  });
  if (codeForm) codeForm.addEventListener("submit", function (e) {
    e.preventDefault();
    error.hidden = true;
    post("/check", { otp: codeForm.elements.otp.value }).then(function (r) {
      if (r.status === 200 && r.body.closed) {
        show(done);
        tell("done");
      } else if (r.body.attempts_left !== undefined) {
        fail("Wrong code. " + r.body.attempts_left + " attempt(s) left.");
        codeForm.elements.otp.select();
      } else fail(r.body.message || "That did not work.");
    }, function () { fail("Gatehouse cannot be reached; try again."); });
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-cancel]"), function (b) {
    b.addEventListener("click", function () { tell("cancel"); });
  });
  if (codeForm) show(addressForm && !addressForm.hidden ? addressForm : codeForm);
})();
