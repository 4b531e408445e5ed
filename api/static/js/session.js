// Signing in: the OAuth2 password flow; tokens kept for this tab only, refreshed when the
// access token is refused.

const store = {
  get access() { return sessionStorage.getItem("cordon.access"); },
  get refresh() { return sessionStorage.getItem("cordon.refresh"); },
  keep(t) {
    sessionStorage.setItem("cordon.access", t.access_token);
    sessionStorage.setItem("cordon.refresh", t.refresh_token);
  },
  clear() {
    sessionStorage.removeItem("cordon.access");
    sessionStorage.removeItem("cordon.refresh");
  },
};

export const accessToken = () => store.access;

async function token(form) {
  const r = await fetch("/api/v1/auth/token", { method: "POST", body: new URLSearchParams(form) });
  if (!r.ok) throw new Error((await r.json()).detail || `HTTP ${r.status}`);
  store.keep(await r.json());
}

// After a refused token: true when a fresh one is at hand, false when the person must sign in.
export async function refreshed() {
  if (!store.refresh) return false;
  try {
    await token({ grant_type: "refresh_token", refresh_token: store.refresh });
    return true;
  } catch (e) {
    store.clear();
    return false;
  }
}

export function forget() { store.clear(); signedIn = null; }

let signedIn = null;  // resolves once a token is at hand
function signIn() {
  const dialog = document.getElementById("login");
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  dialog.hidden = false;
  return new Promise((resolve) => {
    form.onsubmit = async (e) => {
      e.preventDefault();
      const data = new FormData(form);
      try {
        await token({ grant_type: "password", username: data.get("username"),
                      password: data.get("password") });
        dialog.hidden = true;
        error.textContent = "";
        resolve();
      } catch (err) { error.textContent = err.message; }
    };
  });
}

export class ApiError extends Error {
  constructor(path, status, detail) {
    super(typeof detail === "string" ? detail : `${path}: HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

// A call of the REST API, signed in (asking the person to sign in first when need be).
export async function api(path, { method = "GET", body, retry = true } = {}) {
  if (!store.access) await (signedIn ||= signIn());
  const headers = { Authorization: `Bearer ${store.access}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status === 401 && retry) {
    if (!(await refreshed())) forget();
    return api(path, { method, body, retry: false });
  }
  if (!r.ok) {
    let detail = null;
    try { detail = (await r.json()).detail; } catch (e) { /* not JSON */ }
    throw new ApiError(path, r.status, detail);
  }
  return r.json();
}

// Every page of a list endpoint (limit / offset), concatenated.
export async function all(path, key, pageSize = 5000) {
  const out = [];
  for (let offset = 0; ; offset += pageSize) {
    const sep = path.includes("?") ? "&" : "?";
    const page = (await api(`${path}${sep}limit=${pageSize}&offset=${offset}`))[key];
    out.push(...page);
    if (page.length < pageSize) return out;
  }
}
