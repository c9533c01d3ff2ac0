// The signed-in page: the top bar, the room list (with create and join), the connection.
import { ApiError, describe, type Room, type User } from "./api";
import { clear, h, time } from "./dom";
import { features } from "./features";
import { resync } from "./messages";
import { flash, renderStatus, root, ui } from "./page";
import { openRoom } from "./room-view";
import { addRoom } from "./rooms";
import { searchBox } from "./search";
import type { SocketState } from "./socket";
import { app, rooms } from "./state";

export function showMain(onSignOut: () => void, onSettings: () => void): void {
  const user = app.session!.user;
  document.title = "Chat";
  const createName = h("input", { name: "name", required: true, maxlength: 100, placeholder: "Room name", "aria-label": "New room name", id: "create-name" });
  const createGroup = h("input", { type: "checkbox", checked: true, id: "create-group" });
  const createForm = h(
    "form",
    { class: "inline-form", "aria-label": "Create a room" },
    createName,
    h("label", { class: "check", title: "A group room; unticked: at most two people" }, createGroup, "group"),
    h("button", { type: "submit" }, "Create"),
  );
  createForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const room = await app.api.post<Room>("/rooms", { name: createName.value, is_group: createGroup.checked });
      createName.value = "";
      addRoom(room);
      await openRoom(room.room_id);
    } catch (error) {
      flash(describe(error));
    }
  });
  const joinCode = h("input", { name: "code", required: true, placeholder: "Join code", "aria-label": "Join code", id: "join-code", autocomplete: "off" });
  const joinForm = h("form", { class: "inline-form", "aria-label": "Join a room by code" }, joinCode, h("button", { type: "submit" }, "Join"));
  joinForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const room = await app.api.post<Room>("/rooms/join", { code: joinCode.value.trim() });
      joinCode.value = "";
      addRoom(room);
      await openRoom(room.room_id);
    } catch (error) {
      flash(error instanceof ApiError && error.status === 404 ? "No room has that code." : describe(error));
    }
  });
  const sidebar = h(
    "nav",
    { class: "sidebar", "aria-label": "Rooms" },
    h("h2", { class: "visually-hidden" }, "Rooms"),
    ui.roomList,
    createForm,
    joinForm,
  );
  clear(ui.roomView);
  ui.roomView.append(h("div", { class: "empty" }, h("p", {}, "Choose a room, create one, or join one with its code.")));
  ui.layout.replaceChildren(sidebar, ui.roomView);
  ui.layout.classList.remove("room-open");
  const header = h(
    "header",
    { class: "topbar" },
    h("span", { class: "brand" }, "Chat"),
    ui.status,
    searchBox(),
    h("span", { class: "me", id: "me" }, user.username),
    h("button", { type: "button", id: "settings", onclick: onSettings }, "Settings"),
    h("button", { type: "button", id: "sign-out", onclick: onSignOut }, "Sign out"),
  );
  root.replaceChildren(header, ui.flash, ui.layout);
  renderStatus("connecting");
}

export function onSocketState(state: SocketState, opened: boolean): void {
  renderStatus(state);
  if (opened) void resync();
  if (state !== "online" && app.socket && app.socket.failures >= 3 && app.session) {
    // A handshake refused again and again: an expired or revoked token gets 401 here.
    app.api.get<User>("/auth/me").catch(() => undefined);
  }
}

export function renderRooms(): void {
  // The list is rebuilt on every change (a new message, a refresh): the room button that had
  // the keyboard focus gets it back, or a keyboard user would lose their place.
  const focused = (document.activeElement as HTMLElement | null)?.closest?.("#room-list button.room");
  const focusedRoom = focused instanceof HTMLElement ? focused.dataset.room : undefined;
  drawRooms();
  if (focusedRoom) ui.roomList.querySelector<HTMLElement>(`button.room[data-room="${CSS.escape(focusedRoom)}"]`)?.focus();
}

function drawRooms(): void {
  const sorted = [...rooms.values()].sort((a, b) =>
    (b.summary.last_message_at ?? b.summary.created_at).localeCompare(a.summary.last_message_at ?? a.summary.created_at),
  );
  if (!sorted.length) {
    ui.roomList.replaceChildren(h("li", { class: "muted" }, "No rooms yet."));
    return;
  }
  ui.roomList.replaceChildren(
    ...sorted.map((state) => {
      const { summary } = state;
      const unread = features.readState ? summary.unread_count ?? 0 : state.newSinceSeen;
      const badge = unread
        ? h("span", { class: "badge", "aria-label": `${unread >= 100 ? "100 or more" : unread} unread` }, unread >= 100 ? "99+" : String(unread))
        : null;
      const active = summary.room_id === app.currentRoomId;
      return h(
        "li",
        {},
        h(
          "button",
          {
            type: "button",
            class: `room${active ? " active" : ""}`,
            "aria-current": active ? "true" : null,
            "data-room": summary.room_id,
            onclick: () => void openRoom(summary.room_id),
          },
          h("span", { class: "room-name" }, summary.name),
          badge,
          h("time", { class: "room-time", datetime: summary.last_message_at ?? "" }, time(summary.last_message_at)),
        ),
      );
    }),
  );
}
