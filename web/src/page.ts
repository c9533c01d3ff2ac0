// The signed-in page's fixed parts, and the notices shown across it.
import { h } from "./dom";
import type { SocketState } from "./socket";

export const ui = {
  status: h("span", { class: "conn", role: "status", id: "connection" }),
  roomList: h("ul", { class: "rooms", id: "room-list" }),
  flash: h("div", { class: "flash", role: "alert", id: "flash" }),
  roomView: h("section", { class: "room-view", id: "room-view", "aria-label": "Conversation" }),
  layout: h("div", { class: "layout" }),
};

let flashTimer: number | undefined;

/** A notice across the top of the page for a few seconds (an error, mostly). */
export function flash(text: string): void {
  ui.flash.textContent = text;
  ui.flash.classList.toggle("visible", Boolean(text));
  window.clearTimeout(flashTimer);
  if (text) flashTimer = window.setTimeout(() => flash(""), 6000);
}

export function renderStatus(state: SocketState): void {
  const labels: Record<SocketState, string> = {
    online: "Online",
    connecting: "Connecting…",
    offline: "Offline — reconnecting",
  };
  ui.status.textContent = labels[state];
  ui.status.dataset.state = state;
  document.body.classList.toggle("offline", state !== "online");
}

/** Where the page is drawn (index.html's one element). */
export const root = document.getElementById("app") as HTMLElement;
