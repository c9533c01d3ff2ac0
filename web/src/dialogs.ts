// The dialogs of a room: its members (invite, and the owner's moderation), the bot's
// settings (owner), its bots (the owner adds and removes named ones), leaving it.
import { ApiError, type Bot, type BotSettings, describe, enc, notOffered, type Room, type Tool, type UsageReport } from "./api";
import { h } from "./dom";
import { features, probeModeration } from "./features";
import { botHue } from "./message-view";
import { flash } from "./page";
import { addRoom, dropRoom, loadMembers } from "./rooms";
import { app, isOwner, type RoomState, view } from "./state";

function dialog(title: string, ...content: Node[]): HTMLDialogElement {
  const heading = h("h2", { id: "dialog-title" }, title);
  const element = h(
    "dialog",
    { class: "card", "aria-labelledby": "dialog-title" },
    heading,
    ...content,
    h("form", { method: "dialog", class: "dialog-close" }, h("button", { type: "submit" }, "Close")),
  );
  element.addEventListener("close", () => element.remove());
  document.body.append(element);
  element.showModal();
  return element;
}

export async function showMembers(state: RoomState): Promise<void> {
  const list = h("ul", { class: "members", id: "members" });
  const render = () => {
    const me = app.session?.user.username;
    list.replaceChildren(
      ...(state.members ?? []).map((member) => {
        const online = member.role === "bot" || state.online.has(member.username) || (member.online && member.username === me);
        const remove =
          features.moderation && isOwner(state) && member.role === "member"
            ? h("button", { type: "button", class: "link danger", onclick: () => void removeMember(state, member.username, render) }, "Remove")
            : null;
        return h(
          "li",
          {},
          h("span", { class: `dot ${online ? "on" : "off"}`, "aria-hidden": "true" }),
          h("span", { class: "member-name" }, member.username),
          h("span", { class: "muted" }, ` ${member.role}${online ? " · online" : ""}`),
          remove,
        );
      }),
    );
  };
  const invite = h("input", { name: "username", required: true, placeholder: "Username", "aria-label": "Username to invite", id: "invite-name" });
  const result = h("p", { class: "form-note", role: "status" });
  const inviteForm = h("form", { class: "inline-form" }, invite, h("button", { type: "submit" }, "Invite"));
  inviteForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const room = await app.api.post<Room>(`/rooms/${enc(state.summary.room_id)}/invite`, { username: invite.value.trim() });
      state.members = room.members;
      result.textContent = `${invite.value.trim()} is in the room.`;
      invite.value = "";
      render();
    } catch (error) {
      result.textContent = error instanceof ApiError && error.status === 404 ? "No user has that name." : describe(error);
    }
  });
  const owner = h("div", { class: "owner-tools" });
  dialog(`Members of ${state.summary.name}`, list, h("h3", {}, "Invite someone"), inviteForm, result, owner);
  if (!state.members) await loadMembers(state);
  render();
  if (isOwner(state)) {
    if (features.moderation === null) await probeModeration(state);
    if (features.moderation) {
      render();
      owner.append(...moderationTools(state, result));
    }
  }
}

function moderationTools(state: RoomState, result: HTMLElement): Node[] {
  const name = h("input", { name: "name", required: true, maxlength: 100, "aria-label": "Room name" });
  name.value = state.summary.name;
  const rename = h("form", { class: "inline-form" }, name, h("button", { type: "submit" }, "Rename"));
  rename.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const room = await app.api.request<Room>("PATCH", `/rooms/${enc(state.summary.room_id)}`, { name: name.value });
      addRoom(room);
      view.roomHeader(state);
      result.textContent = "Renamed.";
    } catch (error) {
      result.textContent = describe(error);
    }
  });
  const newCode = h("button", { type: "button" }, "New join code");
  newCode.addEventListener("click", async () => {
    try {
      const room = await app.api.post<Room>(`/rooms/${enc(state.summary.room_id)}/code`);
      addRoom(room);
      view.roomHeader(state);
      result.textContent = `The new code is ${room.code}; the old one no longer works.`;
    } catch (error) {
      result.textContent = describe(error);
    }
  });
  return [h("h3", {}, "Moderation"), rename, newCode];
}

async function removeMember(state: RoomState, username: string, render: () => void): Promise<void> {
  if (!confirm(`Remove ${username} from the room?`)) return;
  try {
    await app.api.request("DELETE", `/rooms/${enc(state.summary.room_id)}/members/${enc(username)}`);
    state.members = (state.members ?? []).filter((m) => m.username !== username);
    state.online.delete(username);
    render();
    view.presence(state);
  } catch (error) {
    flash(describe(error));
  }
}

export async function showBotSettings(state: RoomState): Promise<void> {
  let settings: BotSettings;
  try {
    settings = await app.api.get<BotSettings>(`/rooms/${enc(state.summary.room_id)}/bot`);
  } catch (error) {
    flash(describe(error));
    return;
  }
  const model = h("input", { name: "model", required: true, id: "bot-model" });
  model.value = settings.model;
  const prompt = h("textarea", { name: "system_prompt", rows: 4, id: "bot-prompt" });
  prompt.value = settings.system_prompt ?? "";
  const key = h("input", {
    type: "password",
    name: "gemini_api_key",
    id: "bot-key",
    autocomplete: "off",
    placeholder: settings.has_api_key ? "A key is set — type to replace it" : "No key — the stack's shared key is used if any",
  });
  const removeKey = h("input", { type: "checkbox", id: "bot-remove-key" });
  const note = h("p", { class: "form-note", role: "status", id: "bot-note" });
  const toolBoxes = (["room_search", "web_search"] as Tool[]).map((tool) => {
    const box = h("input", { type: "checkbox", id: `bot-tool-${tool}`, value: tool });
    box.checked = settings.tools?.includes(tool) ?? false;
    return box;
  });
  const budget = h("input", { type: "number", min: 0, step: 1, id: "bot-budget", placeholder: "No budget" });
  budget.value = settings.monthly_token_budget == null ? "" : String(settings.monthly_token_budget);
  const toolFields =
    settings.tools === undefined
      ? []
      : [
          h(
            "fieldset",
            { class: "field" },
            h("legend", {}, "Tools"),
            h("label", { class: "check" }, toolBoxes[0], "Search this room's history (room_search)"),
            h("label", { class: "check" }, toolBoxes[1], "Search the web and cite sources (web_search)"),
          ),
          h("label", { class: "field" }, "Monthly token budget (empty: none)", budget),
        ];
  const form = h(
    "form",
    { class: "stack-form" },
    h("label", { class: "field" }, "Model", model),
    h("label", { class: "field" }, "System prompt", prompt),
    h("label", { class: "field" }, "Gemini API key (write-only: never shown again)", key),
    settings.has_api_key ? h("label", { class: "check" }, removeKey, "Remove the room's key") : null,
    ...toolFields,
    note,
    h("button", { type: "submit", class: "primary" }, "Save"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body: Record<string, unknown> = {};
    if (model.value.trim() !== settings.model) body.model = model.value.trim();
    if (prompt.value !== (settings.system_prompt ?? "")) body.system_prompt = prompt.value;
    if (key.value) body.gemini_api_key = key.value;
    else if (removeKey.checked) body.gemini_api_key = null;
    if (toolFields.length) {
      const tools = toolBoxes.filter((box) => box.checked).map((box) => box.value as Tool);
      if (tools.join() !== (settings.tools ?? []).join()) body.tools = tools;
      const wanted = budget.value.trim() === "" ? null : Number(budget.value);
      if (wanted !== (settings.monthly_token_budget ?? null)) body.monthly_token_budget = wanted;
    }
    try {
      settings = await app.api.request<BotSettings>("PUT", `/rooms/${enc(state.summary.room_id)}/bot`, body);
      key.value = "";
      key.placeholder = settings.has_api_key ? "A key is set — type to replace it" : "No key";
      state.summary.has_api_key = settings.has_api_key;
      note.textContent = `Saved. ${settings.has_api_key ? "The room has its own key." : "The room has no key of its own."}`;
    } catch (error) {
      note.textContent = describe(error);
    }
  });
  dialog(`Bot in ${state.summary.name}`, form);
  model.focus();
}

/** The room's bots; the owner adds named ones (each answers to @name) and removes them. */
export async function showBots(state: RoomState): Promise<void> {
  const path = `/rooms/${enc(state.summary.room_id)}/bots`;
  const list = h("ul", { class: "members", id: "bots" });
  const note = h("p", { class: "form-note", role: "status", id: "bots-note" });
  const owner = isOwner(state);
  let bots: Bot[] = [];
  const render = () =>
    list.replaceChildren(
      ...bots.map((bot) =>
        h(
          "li",
          { "data-bot": bot.name },
          h("span", { class: `avatar bot-hue-${botHue(bot.name)}`, "aria-hidden": "true" }, bot.name.slice(0, 1).toUpperCase()),
          h("span", { class: "member-name" }, bot.name === "bot" ? "bot (default)" : `@${bot.name}`),
          h("span", { class: "muted" }, ` ${bot.model}${bot.answers_replies ? " · answers replies" : ""}`),
          owner && bot.name !== "bot"
            ? h("button", { type: "button", class: "link danger", onclick: () => void removeBot(bot.name) }, "Remove")
            : null,
        ),
      ),
    );
  const load = async () => {
    bots = (await app.api.get<{ bots: Bot[] }>(path)).bots;
    render();
  };
  const removeBot = async (name: string) => {
    if (!confirm(`Remove the bot ${name}? Its answers stay in the history.`)) return;
    try {
      await app.api.request("DELETE", `${path}/${enc(name)}`);
      note.textContent = `${name} was removed.`;
      state.members = null;
      await load();
    } catch (error) {
      note.textContent = describe(error);
    }
  };
  try {
    await load();
  } catch (error) {
    flash(notOffered(error) ? "This server has one bot per room." : describe(error));
    return;
  }
  const content: Node[] = [list, note];
  if (owner) content.push(h("h3", {}, "Add a bot"), addBotForm(path, note, load, state));
  dialog(`Bots in ${state.summary.name}`, ...content);
}

function addBotForm(path: string, note: HTMLElement, reload: () => Promise<void>, state: RoomState): HTMLFormElement {
  const name = h("input", { name: "name", required: true, minlength: 3, maxlength: 32, pattern: "[A-Za-z0-9_.\\-]+", id: "new-bot-name", placeholder: "Name (@name asks it)", "aria-label": "Bot name" });
  const model = h("input", { name: "model", id: "new-bot-model", placeholder: "Model (default if empty)", "aria-label": "Model" });
  const prompt = h("textarea", { name: "system_prompt", rows: 2, id: "new-bot-prompt", placeholder: "Instructions (optional)", "aria-label": "Instructions" });
  const replies = h("input", { type: "checkbox", id: "new-bot-replies" });
  const form = h(
    "form",
    { class: "stack-form", id: "add-bot" },
    name,
    model,
    prompt,
    h("label", { class: "check" }, replies, "Answers replies to its messages"),
    h("button", { type: "submit", class: "primary" }, "Add bot"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body: Record<string, unknown> = { name: name.value.trim(), answers_replies: replies.checked };
    if (model.value.trim()) body.model = model.value.trim();
    if (prompt.value.trim()) body.system_prompt = prompt.value;
    try {
      const bot = await app.api.post<Bot>(path, body);
      note.textContent = `Added ${bot.name}: ask it with @${bot.name}.`;
      name.value = model.value = prompt.value = "";
      state.members = null;
      await reload();
    } catch (error) {
      note.textContent = error instanceof ApiError && error.status === 409 ? `${describe(error)} (names are shared with users; five bots per room)` : describe(error);
    }
  });
  return form;
}

/** Asks the default bot to summarize what the caller has not read (an answer for them only). */
export async function summarize(state: RoomState): Promise<void> {
  try {
    await app.api.post(`/rooms/${enc(state.summary.room_id)}/summary`, { private: true });
    flash("The bot is summarizing what you missed; only you will see it.");
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) flash("Nothing new to summarize.");
    else flash(notOffered(error) ? "This server cannot summarize." : describe(error));
  }
}

/** What the room's bots used this month (any member). */
export async function showUsage(state: RoomState): Promise<void> {
  let report: UsageReport;
  try {
    report = await app.api.get<UsageReport>(`/rooms/${enc(state.summary.room_id)}/usage`);
  } catch (error) {
    flash(notOffered(error) ? "This server does not report usage." : describe(error));
    return;
  }
  const table = h(
    "table",
    { class: "usage", id: "usage" },
    h("thead", {}, h("tr", {}, h("th", {}, "Bot"), h("th", {}, "Answers"), h("th", {}, "Input tokens"), h("th", {}, "Output tokens"))),
    h(
      "tbody",
      {},
      ...report.bots.map((bot) =>
        h(
          "tr",
          {},
          h("td", {}, bot.name),
          h("td", {}, String(bot.answers)),
          h("td", {}, bot.input_tokens.toLocaleString()),
          h("td", {}, bot.output_tokens.toLocaleString()),
        ),
      ),
    ),
  );
  dialog(`Bot usage in ${state.summary.name}, ${report.month} (UTC)`, table);
}

export async function leaveRoom(state: RoomState): Promise<void> {
  if (!confirm(`Leave “${state.summary.name}”?`)) return;
  try {
    await app.api.request("DELETE", `/rooms/${enc(state.summary.room_id)}/members/me`);
    app.socket?.send({ type: "leave", room_id: state.summary.room_id });
    dropRoom(state.summary.room_id);
    history.replaceState(null, "", location.pathname + location.search);
  } catch (error) {
    flash(describe(error));
  }
}
