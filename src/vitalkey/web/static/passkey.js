// Passkeys (WebAuthn), loaded as a static file (the pages' policy allows no inline script).
//
// A form marked data-passkey="register" or "authenticate" carries the server's options JSON in
// data-options (or, with data-options-from="ID", in <script type="application/json" id="ID">).
// Submitting it runs the ceremony, puts credential.toJSON() in its hidden "credential" field and
// submits it again, so CSRF and the page flow stay the usual ones. If the form has buttons marked
// data-passkey-start, only those start a ceremony (its other buttons submit as usual).
// In an "authenticate" form, an input with autocomplete="username webauthn" also offers the
// passkeys in the browser's autofill (conditional mediation) where the browser can.
// Failures show the form's translated messages (data-msg-cancelled, -timeout, -unsupported,
// -exists, -failed) in its role="alert" element.
(() => {
  "use strict";

  const decode = (text) => {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0)).buffer;
  };
  const encode = (buffer) => {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    bytes.forEach((b) => { binary += String.fromCharCode(b); });
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const supported = () =>
    typeof window.PublicKeyCredential === "function" && !!navigator.credentials && window.isSecureContext;

  const withIds = (list) => (list || []).map((c) => ({ ...c, id: decode(c.id) }));
  const creationOptions = (json) => {
    if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function") {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    return {
      ...json,
      challenge: decode(json.challenge),
      user: { ...json.user, id: decode(json.user.id) },
      excludeCredentials: withIds(json.excludeCredentials),
    };
  };
  const requestOptions = (json) => {
    if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function") {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    return { ...json, challenge: decode(json.challenge), allowCredentials: withIds(json.allowCredentials) };
  };

  // What the server reads: credential.toJSON() where the browser has it, else the same by hand.
  const credentialJSON = (credential) => {
    if (typeof credential.toJSON === "function") return credential.toJSON();
    const answer = credential.response;
    const response = { clientDataJSON: encode(answer.clientDataJSON) };
    if (answer.attestationObject) {
      response.attestationObject = encode(answer.attestationObject);
      response.transports = typeof answer.getTransports === "function" ? answer.getTransports() : [];
    } else {
      response.authenticatorData = encode(answer.authenticatorData);
      response.signature = encode(answer.signature);
      response.userHandle = answer.userHandle ? encode(answer.userHandle) : null;
    }
    return {
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults(),
      response,
    };
  };

  const optionsOf = (form) => {
    const source = form.dataset.optionsFrom ? document.getElementById(form.dataset.optionsFrom) : null;
    return JSON.parse(source ? source.textContent : form.dataset.options);
  };

  const alertOf = (form) => {
    let box = form.querySelector("[role=alert]");
    if (!box) {
      box = document.createElement("p");
      box.setAttribute("role", "alert");
      box.className = "error";
      form.prepend(box);
    }
    return box;
  };
  const say = (form, key) => {
    const box = alertOf(form);
    box.textContent = form.dataset["msg" + key] || form.dataset.msgFailed || "";
    box.hidden = !box.textContent;
  };

  // NotAllowedError means "cancelled" and "timed out" alike; the time taken tells them apart.
  const reasonOf = (error, started, timeout, kind) => {
    const name = error && error.name;
    if (name === "NotAllowedError") {
      return Date.now() - started >= timeout * 0.95 ? "Timeout" : "Cancelled";
    }
    if (name === "InvalidStateError" && kind === "register") return "Exists";
    if (name === "NotSupportedError") return "Unsupported";
    if (name === "AbortError") return "Cancelled";
    return "Failed";
  };

  const finish = (form, credential, submitter) => {
    let field = form.querySelector("input[name=credential]");
    if (!field) {
      field = document.createElement("input");
      field.type = "hidden";
      field.name = "credential";
      form.append(field);
    }
    field.value = JSON.stringify(credentialJSON(credential));
    form.dataset.passkeyDone = "1";
    if (typeof form.requestSubmit === "function") form.requestSubmit(submitter || undefined);
    else form.submit();
  };

  const setUp = (form) => {
    const kind = form.dataset.passkey;
    const starters = form.querySelectorAll("[data-passkey-start]");
    let running = false;
    let autofill = null; // the AbortController of a waiting conditional request

    const startAutofill = async () => {
      const field = form.querySelector("input[autocomplete~=webauthn]");
      if (kind !== "authenticate" || !field || !supported()) return;
      const check = PublicKeyCredential.isConditionalMediationAvailable;
      if (typeof check !== "function" || !(await check.call(PublicKeyCredential))) return;
      const controller = new AbortController();
      autofill = controller;
      try {
        const credential = await navigator.credentials.get({
          mediation: "conditional",
          publicKey: requestOptions(optionsOf(form)),
          signal: controller.signal,
        });
        if (credential) finish(form, credential, starters[0]);
      } catch (error) {
        // Aborted for a button's ceremony, or the user went on typing: nothing to say.
      } finally {
        if (autofill === controller) autofill = null;
      }
    };

    // Back to a page from the history cache: its answer was used, so a new ceremony is needed.
    window.addEventListener("pageshow", (event) => {
      if (!event.persisted) return;
      delete form.dataset.passkeyDone;
      const field = form.querySelector("input[name=credential]");
      if (field) field.value = "";
    });

    form.addEventListener("submit", async (event) => {
      if (form.dataset.passkeyDone) return;
      if (starters.length && !(event.submitter && event.submitter.hasAttribute("data-passkey-start"))) return;
      event.preventDefault();
      if (running) return;
      const submitter = event.submitter;
      if (!supported()) { say(form, "Unsupported"); return; }
      let options;
      try { options = optionsOf(form); } catch (error) { say(form, "Failed"); return; }
      running = true;
      form.setAttribute("aria-busy", "true");
      alertOf(form).hidden = true;
      if (autofill) { autofill.abort(); autofill = null; }
      const started = Date.now();
      try {
        const credential = kind === "register"
          ? await navigator.credentials.create({ publicKey: creationOptions(options) })
          : await navigator.credentials.get({ publicKey: requestOptions(options) });
        if (!credential) throw new DOMException("no credential", "NotAllowedError");
        finish(form, credential, submitter);
      } catch (error) {
        say(form, reasonOf(error, started, options.timeout || 300000, kind));
        startAutofill();
      } finally {
        running = false;
        form.removeAttribute("aria-busy");
      }
    });
    startAutofill();
  };

  const start = () => document.querySelectorAll("form[data-passkey]").forEach(setUp);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
