// Signing in and out: the sign-in form, the session kept per tab, its expiry.
import { ApiError, type AuthResponse, describe } from "./api";
import { h } from "./dom";
import { onFrame } from "./frames";
import { onSocketState, showMain } from "./layout";
import { flash, root } from "./page";
import { openRoom } from "./room-view";
import { refreshRooms } from "./rooms";
import { ChatSocket } from "./socket";
import { showSettings, type SessionActions } from "./settings";
import { app, rooms, type Session } from "./state";

const SESSION_KEY = "chat.session";
const ROOMS_REFRESH_MS = 30_000; // no frame announces an invitation: look for new rooms now and then

let expiryTimer: number | undefined;
let roomsTimer: number | undefined;

export function loadSession(): Session | null {
  try {
    const value = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? "null") as Session | null;
    if (value?.token && value.expires_at > Date.now() + 5000) return value;
  } catch {
    /* a damaged entry is no session */
  }
  sessionStorage.removeItem(SESSION_KEY);
  return null;
}

export function showLogin(notice = ""): void {
  document.title = "Chat — sign in";
  let mode: "login" | "register" = "login";
  const error = h("p", { class: "form-error", role: "alert", id: "login-error" }, notice);
  const email = h("input", { type: "email", name: "email", autocomplete: "email", id: "login-email" });
  const emailRow = h("label", { class: "field", hidden: true }, "Email (optional)", email);
  const username = h("input", {
    name: "username", autocomplete: "username", required: true, minlength: 3, maxlength: 32,
    pattern: "[A-Za-z0-9_.\\-]+", id: "login-username", autofocus: true,
  });
  const password = h("input", {
    type: "password", name: "password", autocomplete: "current-password", required: true,
    minlength: 8, maxlength: 128, id: "login-password",
  });
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const heading = h("h1", {}, "Sign in");
  const toggle = h("button", { type: "button", class: "link" }, "New here? Create an account");
  toggle.addEventListener("click", () => {
    mode = mode === "login" ? "register" : "login";
    heading.textContent = mode === "login" ? "Sign in" : "Create an account";
    submit.textContent = mode === "login" ? "Sign in" : "Create account";
    toggle.textContent = mode === "login" ? "New here? Create an account" : "Have an account? Sign in";
    emailRow.hidden = mode === "login";
    password.autocomplete = mode === "login" ? "current-password" : "new-password";
    error.textContent = "";
  });
  const form = h(
    "form",
    { class: "login card", "aria-labelledby": "login-heading" },
    heading,
    h("label", { class: "field" }, "Username", username),
    h("label", { class: "field" }, "Password", password),
    emailRow,
    error,
    submit,
    toggle,
  );
  heading.id = "login-heading";
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.textContent = "";
    try {
      const body: Record<string, string> = { username: username.value.trim(), password: password.value };
      if (mode === "register" && email.value.trim()) body.email = email.value.trim();
      const auth = await app.api.post<AuthResponse>(mode === "login" ? "/auth/login" : "/auth/register", body);
      const next: Session = {
        token: auth.access_token,
        expires_at: Date.now() + auth.expires_in * 1000,
        user: auth.user,
      };
      sessionStorage.setItem(SESSION_KEY, JSON.stringify(next));
      await startSession(next);
    } catch (failure) {
      error.textContent = describe(failure);
      submit.disabled = false;
    }
  });
  root.replaceChildren(h("main", { class: "login-screen" }, form));
  username.focus();
}

export async function startSession(next: Session): Promise<void> {
  app.session = next;
  app.api.token = next.token;
  window.clearTimeout(expiryTimer);
  expiryTimer = window.setTimeout(
    () => signOut("Your session has expired. Please sign in again."),
    Math.min(next.expires_at - Date.now(), 2 ** 31 - 1),
  );
  showMain(() => void logOut(), () => showSettings(accountActions));
  app.socket = new ChatSocket(app.config.ws_url, () => app.session?.token ?? null);
  app.socket.onFrame = onFrame;
  app.socket.onState = onSocketState;
  try {
    await refreshRooms();
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) flash(describe(error));
    if (!app.session) return;
  }
  app.socket.start();
  window.clearInterval(roomsTimer);
  roomsTimer = window.setInterval(() => {
    if (app.session && document.visibilityState === "visible" && app.socket?.state === "online") {
      refreshRooms().catch(() => undefined);
    }
  }, ROOMS_REFRESH_MS);
  const wanted = location.hash.startsWith("#room=") ? decodeURIComponent(location.hash.slice(6)) : null;
  if (wanted && rooms.has(wanted)) void openRoom(wanted);
}

const accountActions: SessionActions = {
  replaceToken(auth: AuthResponse): void {
    if (!app.session) return;
    const next: Session = {
      token: auth.access_token,
      expires_at: Date.now() + auth.expires_in * 1000,
      user: auth.user,
    };
    app.session = next;
    app.api.token = next.token;
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(next));
    window.clearTimeout(expiryTimer);
    expiryTimer = window.setTimeout(
      () => signOut("Your session has expired. Please sign in again."),
      Math.min(next.expires_at - Date.now(), 2 ** 31 - 1),
    );
  },
  signOut: (notice: string) => signOut(notice),
};

/** Sign out: the server revokes this session's token (its sockets close), then the page
 * forgets it. Signed out here even when the server cannot be reached. */
export async function logOut(): Promise<void> {
  if (!app.session) return;
  app.socket?.stop();
  try {
    await app.api.request<void>("POST", "/auth/logout", undefined, false);
  } catch {
    /* revoked or expired already, or offline: the page forgets the token all the same */
  }
  signOut();
}

export function signOut(notice = ""): void {
  if (!app.session) return;
  app.session = null;
  app.api.token = null;
  window.clearTimeout(expiryTimer);
  window.clearInterval(roomsTimer);
  sessionStorage.removeItem(SESSION_KEY);
  app.socket?.stop();
  app.socket = null;
  rooms.clear();
  app.currentRoomId = null;
  app.replyTo = null;
  history.replaceState(null, "", location.pathname + location.search);
  showLogin(notice);
}
