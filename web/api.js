// api.js -- the console's one door to the server: fetch with the session
// cookie, the CSRF header on every request that changes something, the
// interface language in Accept-Language, problem+json turned into ApiError.
// A 401 anywhere means the session is gone: onUnauthorized() is called once
// per sign-in and the console returns to the sign-in page.

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || 'HTTP ' + status);
    this.status = status;
    this.problem = problem || {};
  }
}

export function createApi() {
  const api = {
    csrf: null,
    lang: 'en',
    serverOffsetMs: 0,          // server clock - browser clock (from Date headers)
    onUnauthorized: () => {},

    now() { return Date.now() + api.serverOffsetMs; },

    async request(method, path, body, opts = {}) {
      const headers = { 'Accept-Language': api.lang, Accept: 'application/json' };
      if (method !== 'GET' && api.csrf) headers['X-CSRF-Token'] = api.csrf;
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      if (opts.ifMatch) headers['If-Match'] = opts.ifMatch;
      const r = await fetch(path, {
        method, headers, credentials: 'same-origin',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const date = r.headers.get('Date');
      if (date) {
        const off = Date.parse(date) - Date.now();
        if (Math.abs(off) > 2000) api.serverOffsetMs = off; // Date has 1 s grain
        else api.serverOffsetMs = 0;
      }
      const text = await r.text();
      let data = null;
      if (text) { try { data = JSON.parse(text); } catch { data = text; } }
      if (r.status === 401 && !opts.noAuthRedirect) api.onUnauthorized();
      if (!r.ok) throw new ApiError(r.status, data);
      return { status: r.status, data, etag: r.headers.get('ETag') };
    },
    get(path, opts) { return api.request('GET', path, undefined, opts).then((r) => r.data); },
    post(path, body = {}, opts) { return api.request('POST', path, body, opts).then((r) => r.data); },
    put(path, body, opts) { return api.request('PUT', path, body, opts); },
    del(path, opts) { return api.request('DELETE', path, undefined, opts); },
  };
  return api;
}

// The text of an error for the user: the problem's detail and each field's
// pointer and rule.
export function problemText(e) {
  if (!(e instanceof ApiError)) return String(e && e.message ? e.message : e);
  const p = e.problem || {};
  const errs = (p.errors || []).map((x) => `${x.pointer}: ${x.rule}`).join('; ');
  return [p.title || ('HTTP ' + e.status), p.detail, errs].filter(Boolean).join(' — ');
}
