"""Quick-start snippets filled with an app's real values: Python (authlib + Flask), Node
(openid-client v6) and Java (Spring Security's application.yml).

Values are written as string literals with json.dumps (valid in Python and JavaScript, and a
double-quoted YAML scalar), so a redirect URI or a name can never break out of the snippet. The
secret is never embedded: it is read from CAMPUS_CLIENT_SECRET.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from idp.db.models import Client


@dataclass(frozen=True)
class Snippet:
    key: str
    title: str
    language: str
    code: str


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _callback_path(redirect_uri: str) -> str:
    return urlsplit(redirect_uri).path or "/"


def python_authlib(issuer: str, client: Client, redirect_uri: str, scope: str) -> str:
    public = client.token_endpoint_auth_method == "none"
    secret = "" if public else '    client_secret=os.environ["CAMPUS_CLIENT_SECRET"],\n'
    method = client.token_endpoint_auth_method
    return f"""# pip install authlib flask requests
import os

from authlib.integrations.flask_client import OAuth
from flask import Flask, redirect, session

app = Flask(__name__)
app.secret_key = os.environ["FLASK_SECRET_KEY"]
oauth = OAuth(app)
oauth.register(
    name="campus",
    server_metadata_url={_q(issuer + "/.well-known/openid-configuration")},
    client_id={_q(client.client_id)},
{secret}    client_kwargs={{
        "scope": {_q(scope)},
        "code_challenge_method": "S256",
        "token_endpoint_auth_method": {_q(method)},
    }},
)


@app.route("/login")
def login():
    return oauth.campus.authorize_redirect({_q(redirect_uri)})


@app.route({_q(_callback_path(redirect_uri))})
def callback():
    token = oauth.campus.authorize_access_token()  # checks state, nonce and the ID token
    session["user"] = token["userinfo"]
    return redirect("/")
"""


def node_openid_client(issuer: str, client: Client, redirect_uri: str, scope: str) -> str:
    public = client.token_endpoint_auth_method == "none"
    auth = {
        "none": "client.None()",
        "client_secret_post": "client.ClientSecretPost(process.env.CAMPUS_CLIENT_SECRET)",
    }.get(client.token_endpoint_auth_method,
          "client.ClientSecretBasic(process.env.CAMPUS_CLIENT_SECRET)")
    insecure = (",\n  { execute: [client.allowInsecureRequests] }, // http issuer: development only"
                if issuer.startswith("http://") else "")
    return f"""// npm install openid-client@6   (ES module)
import * as client from 'openid-client'

const config = await client.discovery(
  new URL({_q(issuer)}),
  {_q(client.client_id)},
  undefined,
  {auth}{insecure}
)

// 1. send the browser to the login page{" (PKCE is required: this is a public client)" if public else ""}
const codeVerifier = client.randomPKCECodeVerifier()  // keep it in the user's session
const state = client.randomState()                    // keep it in the user's session
const loginUrl = client.buildAuthorizationUrl(config, {{
  redirect_uri: {_q(redirect_uri)},
  scope: {_q(scope)},
  code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
  code_challenge_method: 'S256',
  state,
}})

// 2. at {_q(_callback_path(redirect_uri))}: currentUrl is the full URL the browser came back to
const tokens = await client.authorizationCodeGrant(config, currentUrl, {{
  pkceCodeVerifier: codeVerifier,
  expectedState: state,
}})
const claims = tokens.claims()  // the verified ID token's claims
"""


def spring_application_yml(issuer: str, client: Client, redirect_uri: str, scope: str) -> str:
    method = client.token_endpoint_auth_method
    secret = "" if method == "none" else \
        "            client-secret: ${CAMPUS_CLIENT_SECRET}\n"
    scopes = ",".join(scope.split())
    return f"""# spring-boot-starter-oauth2-client; http.oauth2Login() in your SecurityFilterChain
spring:
  security:
    oauth2:
      client:
        registration:
          campus:
            provider: campus
            client-id: {_q(client.client_id)}
{secret}            client-authentication-method: {method}
            authorization-grant-type: authorization_code
            redirect-uri: {_q(redirect_uri)}
            scope: {_q(scopes)}
        provider:
          campus:
            issuer-uri: {_q(issuer)}
            user-name-attribute: preferred_username
"""


def snippets(issuer: str, client: Client) -> list[Snippet]:
    redirect_uri = (client.redirect_uris or ["https://app.example.edu/callback"])[0]
    scope = " ".join(client.scopes or ["openid"])
    return [
        Snippet("python", "Python (authlib + Flask)", "python",
                python_authlib(issuer, client, redirect_uri, scope)),
        Snippet("node", "Node.js (openid-client v6)", "javascript",
                node_openid_client(issuer, client, redirect_uri, scope)),
        Snippet("java", "Java (Spring Security, application.yml)", "yaml",
                spring_application_yml(issuer, client, redirect_uri, scope)),
    ]
