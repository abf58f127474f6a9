// campus-idp: the browser half of WebAuthn for forms marked data-webauthn="create" or "get".
// The server put the ceremony options (JSON, base64url binary fields) in data-options; this asks
// the authenticator, puts its answer (JSON) in the form's "credential" field and submits it.
(function () {
  "use strict";

  function toBuffer(value) {
    var b64 = value.replace(/-/g, "+").replace(/_/g, "/");
    var binary = atob(b64 + "===".slice((b64.length + 3) % 4));
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeIds(list) {
    (list || []).forEach(function (item) { item.id = toBuffer(item.id); });
  }

  function serialise(credential) {
    var r = credential.response;
    var out = {
      id: credential.id, rawId: toBase64url(credential.rawId), type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toBase64url(r.clientDataJSON) }
    };
    if (credential.authenticatorAttachment) { out.authenticatorAttachment = credential.authenticatorAttachment; }
    if (r.attestationObject) {
      out.response.attestationObject = toBase64url(r.attestationObject);
      if (r.getTransports) { out.response.transports = r.getTransports(); }
    } else {
      out.response.authenticatorData = toBase64url(r.authenticatorData);
      out.response.signature = toBase64url(r.signature);
      if (r.userHandle) { out.response.userHandle = toBase64url(r.userHandle); }
    }
    return JSON.stringify(out);
  }

  function ask(kind, options) {
    options.challenge = toBuffer(options.challenge);
    if (kind === "create") {
      options.user.id = toBuffer(options.user.id);
      decodeIds(options.excludeCredentials);
      return navigator.credentials.create({ publicKey: options });
    }
    decodeIds(options.allowCredentials);
    return navigator.credentials.get({ publicKey: options });
  }

  document.querySelectorAll("form[data-webauthn]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var field = form.querySelector("input[name=credential]");
      if (!field || field.value) { return; }
      event.preventDefault();
      var options = JSON.parse(form.getAttribute("data-options"));
      var answer = window.PublicKeyCredential
        ? ask(form.getAttribute("data-webauthn"), options)
        : Promise.reject(new Error("unsupported"));
      answer.then(function (credential) {
        field.value = serialise(credential);
      }, function (error) {
        // cancelled or unsupported: the server shows the page again with a fresh challenge
        field.value = "error:" + ((error && error.name) || "unknown");
      }).then(function () { form.submit(); });
    });
  });
}());
