// The data platform's sign-in, with oidc-client-ts: authorization code + PKCE (S256) as a public
// client, then the campus API called with the access token. Everything runs in the browser.
"use strict";

const $ = (id) => document.getElementById(id);

function show(signedIn) {
  $("signed-in").hidden = !signedIn;
  $("signed-out").hidden = signedIn;
}

function fail(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}

// Rows are built with textContent: nothing from a token is ever parsed as HTML.
function fillTable(table, rows) {
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const [name, value] of rows) {
    const tr = body.insertRow();
    const th = document.createElement("th");
    th.textContent = name;
    tr.appendChild(th);
    const td = tr.insertCell();
    td.textContent = typeof value === "string" ? value : JSON.stringify(value);
    td.dataset.claim = name;
  }
}

async function loadTimetable(config, user) {
  // A token for this API: the sign-in named it as the resource (RFC 8707), so `aud` holds it.
  const response = await fetch(`${config.api}/api/timetable`, {
    headers: { Authorization: `Bearer ${user.access_token}` },
  });
  if (!response.ok) {
    fail(`campus API: ${response.status} ${response.headers.get("WWW-Authenticate") || ""}`);
    return;
  }
  const data = await response.json();
  fillTable($("timetable"), data.courses.map((c) => [c.code, `${c.name} · ${c.day} · ${c.room}`]));
}

async function main() {
  const config = await (await fetch("/config.json")).json();
  const links = $("links");
  for (const [label, url] of [["网上服务大厅 Service hall", config.links.hall], ["OA 办公系统", config.links.oa]]) {
    if (!url) continue;
    const a = document.createElement("a");
    a.href = url;
    a.textContent = label;
    links.appendChild(a);
  }

  const manager = new oidc.UserManager({
    authority: config.authority,
    client_id: config.client_id,
    redirect_uri: config.redirect_uri,
    post_logout_redirect_uri: config.post_logout_redirect_uri,
    scope: config.scope,
    response_type: "code", // PKCE is always on in oidc-client-ts
    extraQueryParams: { resource: config.api },
    loadUserInfo: false, // the ID token already carries the claims of the granted scopes
    automaticSilentRenew: false, // silent renew needs an iframe; the IdP forbids framing
    monitorSession: false, // the IdP does not offer the check_session iframe
    userStore: new oidc.WebStorageStateStore({ store: window.sessionStorage }),
  });

  if (location.pathname === "/callback") {
    try {
      await manager.signinRedirectCallback(); // checks state, swaps the code (+ verifier)
    } catch (error) {
      fail(`sign-in failed: ${error.message}`);
    }
    history.replaceState(null, "", "/");
  }

  $("login").addEventListener("click", () => manager.signinRedirect());
  $("logout").addEventListener("click", async () => {
    const user = await manager.getUser();
    await manager.removeUser();
    // RP-initiated logout: the IdP ends the SSO session and tells the other apps (back-channel)
    await manager.signoutRedirect({ id_token_hint: user ? user.id_token : undefined });
  });

  const user = await manager.getUser();
  if (!user || user.expired) {
    $("status").textContent = "您尚未登录。 You are not signed in.";
    show(false);
    return;
  }
  $("status").textContent = "已登录 Signed in";
  $("name").textContent = user.profile.name || "";
  $("username").textContent = user.profile.preferred_username || "";
  fillTable($("claims"), Object.entries(user.profile).sort());
  show(true);
  await loadTimetable(config, user);
}

main().catch((error) => fail(String(error)));
