// Sign-in page: posts the login to /api/login, which sets the HttpOnly session cookie, then goes back to
// the page that asked for it (only a path on this site, never another origin).
(() => {
  "use strict";
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  const next = new URLSearchParams(location.search).get("next") || "/";
  const target = next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const body = { login: form.login.value, password: form.password.value };
    try {
      const response = await fetch("/api/login", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      if (response.ok) { location.assign(target); return; }
      const retry = response.headers.get("Retry-After");
      error.textContent = response.status === 429
        ? `Too many failed sign-ins: try again in ${retry} s.`
        : "Unknown login or wrong password.";
    } catch (err) {
      error.textContent = "The dashboard cannot be reached.";
    }
  });
})();
