// The open room: its header, the messages, who is online and typing, the composer.
import { renderComposer, renderComposerTools } from "./composer";
import { append, clear, h } from "./dom";
import { leaveRoom, showBots, showBotSettings, showMembers, showUsage, summarize } from "./dialogs";
import { probeAttachments } from "./features";
import { renderMessage } from "./message-view";
import { domId, loadLatest, loadOlder, markRead } from "./messages";
import { levelControl } from "./notify";
import { flash, ui } from "./page";
import { loadMembers, refreshRooms } from "./rooms";
import { app, isOwner, rooms, type RoomState, view } from "./state";

export async function openRoom(roomId: string): Promise<void> {
  const state = rooms.get(roomId);
  if (!state) return;
  app.currentRoomId = roomId;
  app.replyTo = null;
  app.pendingAttachments = [];
  state.newSinceSeen = 0;
  state.summary.mention_count = 0; // they are on the screen now (the server agrees once read)
  history.replaceState(null, "", `#room=${encodeURIComponent(roomId)}`);
  ui.layout.classList.add("room-open");
  view.rooms();
  renderRoomView(state);
  document.getElementById("composer-input")?.focus();
  if (!state.loaded) await loadLatest(state);
  void probeAttachments(state);
  if (!state.members) void loadMembers(state);
  markRead(state);
}

/** Open a room scrolled to one of its messages (a search result), loading older pages until
 * it is there. */
export async function openRoomAt(roomId: string, messageId: string): Promise<void> {
  if (!rooms.has(roomId)) await refreshRooms();
  const state = rooms.get(roomId);
  if (!state) {
    flash("That room is no longer one of yours.");
    return;
  }
  await openRoom(roomId);
  for (let pages = 0; !state.messages.has(messageId) && state.nextBefore && pages < 40; pages++) {
    await loadOlder(state);
  }
  await new Promise((done) => requestAnimationFrame(done)); // rendered on the next frame
  const element = document.getElementById(domId(messageId));
  if (!element) {
    flash("That message is no longer in the room.");
    return;
  }
  element.scrollIntoView({ block: "center" });
  element.classList.add("found");
  element.tabIndex = -1;
  element.focus({ preventScroll: true });
  window.setTimeout(() => element.classList.remove("found"), 4000);
}

function renderRoomView(state: RoomState): void {
  const form = renderComposer(state);
  const log = h("div", {
    class: "messages",
    id: "messages",
    role: "log",
    "aria-live": "polite",
    "aria-relevant": "additions",
    "aria-label": `Messages in ${state.summary.name}`,
    tabindex: 0,
  });
  log.addEventListener("scroll", () => {
    if (log.scrollTop < 150) void loadOlder(state);
    if (log.scrollHeight - log.scrollTop - log.clientHeight < 40) markRead(state);
  });
  ui.roomView.replaceChildren(
    h("header", { class: "room-head", id: "room-head" }),
    log,
    h("div", { class: "typing", id: "typing", "aria-live": "polite" }),
    form,
  );
  renderRoomHeader(state);
  log.append(h("div", { id: "older" }));
  for (const id of state.order) log.append(renderMessage(state, id));
  renderOlderButton(state);
  renderPresence(state);
  renderTyping(state);
  renderComposerTools(state);
  view.scrollToBottom(true);
}

export function renderRoomHeader(state: RoomState): void {
  const head = document.getElementById("room-head");
  if (!head) return;
  const { summary } = state;
  clear(head);
  append(
    head,
    h(
      "button",
      { type: "button", class: "back", "aria-label": "Back to rooms", onclick: () => {
        ui.layout.classList.remove("room-open");
        app.currentRoomId = null;
        view.rooms();
        (document.querySelector(".room") as HTMLElement | null)?.focus();
      } },
      "←",
    ),
    h(
      "div",
      { class: "room-title" },
      h("h1", { id: "room-name" }, summary.name),
      h("span", { class: "presence", id: "presence" }),
    ),
    h("span", { class: "code", title: "Share this code to let people join" }, "Code ", h("code", { id: "room-code" }, summary.code)),
    levelControl(state),
    h("button", { type: "button", id: "members-button", onclick: () => void showMembers(state) }, "Members"),
    isOwner(state) ? h("button", { type: "button", id: "bot-button", onclick: () => void showBotSettings(state) }, "Bot") : null,
    h("button", { type: "button", id: "bots-button", onclick: () => void showBots(state) }, "Bots"),
    h("button", { type: "button", id: "summary-button", title: "The bot summarizes what you have not read yet, for you only", onclick: () => void summarize(state) }, "Summarize what I missed"),
    h("button", { type: "button", id: "usage-button", onclick: () => void showUsage(state) }, "Usage"),
    h("button", { type: "button", id: "leave-button", class: "danger", onclick: () => void leaveRoom(state) }, "Leave"),
  );
  renderPresence(state);
}

export function renderPresence(state: RoomState): void {
  const element = document.getElementById("presence");
  if (!element) return;
  const me = app.session?.user.username;
  const bots = new Set((state.members ?? []).filter((m) => m.role === "bot").map((m) => m.username));
  const others = [...state.online].filter((name) => name !== me && name !== "bot" && !bots.has(name)).sort();
  element.textContent = others.length ? `Online: ${others.join(", ")}` : "Nobody else online";
}

export function renderTyping(state: RoomState): void {
  const element = document.getElementById("typing");
  if (!element) return;
  const names = [...state.typing.keys()].sort();
  element.textContent = !names.length
    ? ""
    : names.length === 1
      ? `${names[0]} is typing…`
      : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]} are typing…`;
}

export function renderOlderButton(state: RoomState): void {
  const holder = document.getElementById("older");
  if (!holder) return;
  if (state.nextBefore) {
    holder.replaceChildren(
      h(
        "button",
        { type: "button", class: "older", disabled: state.loadingOlder, onclick: () => void loadOlder(state) },
        state.loadingOlder ? "Loading…" : "Load older messages",
      ),
    );
  } else {
    holder.replaceChildren(state.loaded ? h("p", { class: "muted start" }, "This is the start of the room.") : h("p", { class: "muted start" }, "Loading…"));
  }
}
