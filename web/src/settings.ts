// The account settings page (docs/API.md, Accounts): change the password, delete the account
// (its messages kept or erased), each confirmed by the current password.
import { ApiError, type AuthResponse, describe } from "./api";
import { h } from "./dom";
import { ui } from "./page";
import { app, view } from "./state";

/** What the settings page asks of the session it belongs to. */
export interface SessionActions {
  /** A new token replaces the current one (a password change revokes every earlier one). */
  replaceToken(auth: AuthResponse): void;
  signOut(notice: string): void;
}

/** What a failed request says here. A 401 is a wrong password, unless the session itself
 * was revoked meanwhile: asking who we are then ends it as any 401 does. */
function explain(failure: unknown): string {
  if (failure instanceof ApiError && failure.status === 401) {
    app.api.get("/auth/me").catch(() => undefined);
    return "That password is not right.";
  }
  return describe(failure);
}

function passwordInput(id: string, autocomplete: string, minlength: number): HTMLInputElement {
  return h("input", { type: "password", id, autocomplete, required: true, minlength, maxlength: 128 });
}

function changePasswordForm(session: SessionActions): HTMLFormElement {
  const current = passwordInput("settings-current-password", "current-password", 1);
  const next = passwordInput("settings-new-password", "new-password", 8);
  const again = passwordInput("settings-new-password-again", "new-password", 8);
  const note = h("p", { class: "form-note", role: "status", id: "settings-password-note" });
  const submit = h("button", { type: "submit", class: "primary" }, "Change password");
  const form = h(
    "form",
    { class: "settings-form", "aria-labelledby": "settings-password-heading" },
    h("h3", { id: "settings-password-heading" }, "Change your password"),
    h("label", { class: "field" }, "Current password", current),
    h("label", { class: "field" }, "New password (8 characters or more)", next),
    h("label", { class: "field" }, "New password again", again),
    note,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (next.value !== again.value) {
      note.textContent = "The two new passwords differ.";
      return;
    }
    submit.disabled = true;
    note.textContent = "";
    // Every earlier token stops working, this page's socket's too: it reconnects with the new one.
    app.socket?.stop();
    try {
      const body = { current_password: current.value, new_password: next.value };
      const auth = await app.api.request<AuthResponse>("PUT", "/auth/password", body, false);
      session.replaceToken(auth);
      form.reset();
      note.textContent = "Password changed. Your other sessions were signed out.";
    } catch (failure) {
      note.textContent = explain(failure);
    } finally {
      if (app.session) app.socket?.start();
      submit.disabled = false;
    }
  });
  return form;
}

function deleteAccountForm(session: SessionActions): HTMLFormElement {
  const password = passwordInput("settings-delete-password", "current-password", 1);
  const erase = h("input", { type: "checkbox", id: "settings-erase" });
  const note = h("p", { class: "form-note", role: "status", id: "settings-delete-note" });
  const submit = h("button", { type: "submit", class: "danger" }, "Delete my account");
  const form = h(
    "form",
    { class: "settings-form", "aria-labelledby": "settings-delete-heading" },
    h("h3", { id: "settings-delete-heading" }, "Delete your account"),
    h(
      "p",
      { class: "muted" },
      "You leave every room and your username can never be used again. Your messages stay in " +
        "their rooms under your name unless you erase them.",
    ),
    h("label", { class: "check" }, erase, "Also erase every message I wrote"),
    h("label", { class: "field" }, "Your password, to confirm", password),
    note,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const what = erase.checked ? "Delete your account and erase your messages?" : "Delete your account?";
    if (!window.confirm(`${what} This cannot be undone.`)) return;
    submit.disabled = true;
    note.textContent = "";
    app.socket?.stop(); // the server closes it anyway: no "session expired" notice for that
    try {
      const body = { password: password.value, erase_messages: erase.checked };
      await app.api.request<void>("DELETE", "/auth/me", body, false);
      session.signOut(
        erase.checked
          ? "Your account was deleted; your messages are being erased."
          : "Your account was deleted.",
      );
    } catch (failure) {
      note.textContent = explain(failure);
      if (app.session) app.socket?.start();
      submit.disabled = false;
    }
  });
  return form;
}

/** The settings page, in place of the open room. */
export function showSettings(session: SessionActions): void {
  app.currentRoomId = null;
  app.replyTo = null;
  history.replaceState(null, "", "#settings");
  ui.layout.classList.add("room-open");
  view.rooms();
  const back = h("button", { type: "button", class: "link", id: "settings-back" }, "← Back to the rooms");
  back.addEventListener("click", () => {
    history.replaceState(null, "", location.pathname + location.search);
    ui.layout.classList.remove("room-open");
    ui.roomView.replaceChildren(h("div", { class: "empty" }, h("p", {}, "Choose a room, create one, or join one with its code.")));
  });
  ui.roomView.replaceChildren(
    h(
      "div",
      { class: "settings", id: "settings-page" },
      back,
      h("h2", {}, `Account settings — ${app.session?.user.username ?? ""}`),
      changePasswordForm(session),
      deleteAccountForm(session),
    ),
  );
  document.getElementById("settings-current-password")?.focus();
}
