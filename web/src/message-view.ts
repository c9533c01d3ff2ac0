// One message as the page shows it (Markdown, the bot's status, files, reactions), and what
// can be done to it (stop, regenerate, reply, edit, delete, react).
import { ApiError, describe, enc, type Message, notOffered, type Reaction } from "./api";
import { bytes, h, time } from "./dom";
import { features, saveFeatures } from "./features";
import { renderMarkdown } from "./markdown";
import { domId, upsert } from "./messages";
import { mentionsMe } from "./notify";
import { flash } from "./page";
import { app, currentRoom, isOwner, type RoomState, view } from "./state";

const QUICK_REACTIONS = ["👍", "❤️", "😂", "🎉", "😮", "🙏"];

const renderQueue = new Set<string>();

export function snippet(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 80 ? `${flat.slice(0, 80)}…` : flat;
}

export function scheduleRender(messageId: string): void {
  if (!renderQueue.size) {
    requestAnimationFrame(() => {
      const state = currentRoom();
      for (const id of renderQueue) if (state) renderMessageNow(state, id);
      renderQueue.clear();
    });
  }
  renderQueue.add(messageId);
}

export function renderMessageNow(state: RoomState, messageId: string): void {
  const log = document.getElementById("messages");
  if (!log) return;
  const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  const element = renderMessage(state, messageId);
  const old = document.getElementById(element.id);
  if (old) {
    old.replaceWith(element);
  } else {
    const index = state.order.indexOf(messageId);
    const after = state.order.slice(index + 1).map((id) => document.getElementById(domId(id))).find(Boolean);
    if (after) log.insertBefore(element, after);
    else log.append(element);
  }
  if (nearBottom) scrollToBottom(false);
}

export function scrollToBottom(force: boolean): void {
  const log = document.getElementById("messages");
  if (!log) return;
  if (force || log.scrollHeight - log.scrollTop - log.clientHeight < 160) log.scrollTop = log.scrollHeight;
}

/** Each bot its own avatar colour (one of six), the same for its name everywhere. */
export function botHue(name: string): number {
  if (name.toLowerCase() === "bot") return 0;
  let sum = 0;
  for (const char of name.toLowerCase()) sum = (sum * 31 + char.charCodeAt(0)) % 997;
  return 1 + (sum % 5);
}

export function renderMessage(state: RoomState, messageId: string): HTMLElement {
  const message = state.messages.get(messageId)!;
  const me = app.session?.user.username;
  const mine = message.username === me && !message.is_bot;
  const status = message.status ?? "complete";
  const classes = ["msg", `type-${message.message_type}`, `status-${status}`];
  if (mine) classes.push("mine");
  if (message.is_bot) classes.push("bot", `bot-hue-${botHue(message.username)}`);
  if (message.visible_to) classes.push("private");
  if (messageId.startsWith("pending:")) classes.push("pending");
  if (message.deleted) classes.push("deleted");
  if (!message.deleted && mentionsMe(message)) classes.push("mentions-me");

  const body = h("div", { class: "body" });
  if (message.deleted) {
    body.textContent = "This message was deleted.";
  } else if (message.is_bot && !message.content && status === "streaming") {
    body.append(h("span", { class: "thinking" }, "Thinking…"));
  } else {
    body.classList.add("markdown");
    body.innerHTML = renderMarkdown(message.content); // sanitized: see markdown.ts
  }

  const article = h(
    "article",
    {
      class: classes.join(" "),
      id: domId(messageId),
      "data-id": messageId,
      "aria-busy": status === "streaming" ? "true" : null,
      "aria-label": `${message.is_bot ? `Bot ${message.username}` : message.username}, ${time(message.created_at, true)}`,
    },
    h(
      "header",
      {},
      message.is_bot ? h("span", { class: "avatar", "aria-hidden": "true" }, message.username.slice(0, 1).toUpperCase()) : null,
      h("span", { class: "author" }, message.username),
      message.is_bot
        ? h("span", { class: "tag", title: message.usage ? `${message.usage.input_tokens} input + ${message.usage.output_tokens} output tokens` : null }, "AI")
        : null,
      h("time", { datetime: message.created_at, title: new Date(message.created_at).toLocaleString() }, time(message.created_at)),
      message.edited_at && !message.deleted ? h("span", { class: "edited" }, "(edited)") : null,
      status === "stopped" ? h("span", { class: "edited" }, "(stopped)") : null,
      message.visible_to ? h("span", { class: "tag private-tag", title: "A private command and its answer: nobody else sees them" }, "Only you") : null,
    ),
  );
  if (message.reply_to && !message.is_bot) {
    const target = state.messages.get(message.reply_to);
    article.append(
      h("div", { class: "quote" }, "↪ ", target ? `${target.username}: ${snippet(target.deleted ? "(deleted)" : target.content)}` : "an earlier message"),
    );
  }
  article.append(body);
  const error = state.errors.get(messageId) ?? (status === "error" ? "The bot could not finish this answer." : null);
  if (error) article.append(h("p", { class: "bot-error", role: "alert" }, `⚠ ${error}`));
  if (message.is_bot && !message.deleted) article.append(...renderTools(message));
  if (message.attachments?.length && !message.deleted) article.append(renderAttachments(message));
  if (message.reactions?.length && !message.deleted) article.append(renderReactions(state, message));
  const actions = renderActions(state, message, mine);
  if (actions.childElementCount) article.append(actions);
  return article;
}

const TOOL_LABELS: Record<string, string> = { room_search: "searched the room", web_search: "searched the web" };

/** A bot answer's tool calls as one small line, and the web pages it cites. */
function renderTools(message: Message): HTMLElement[] {
  const parts: HTMLElement[] = [];
  const calls = message.tool_calls ?? [];
  if (calls.length) {
    const text = calls.map((call) => `${TOOL_LABELS[call.tool] ?? call.tool} for “${call.query}”`).join(" · ");
    parts.push(h("p", { class: "tool-calls", title: `${calls.length} tool call${calls.length === 1 ? "" : "s"}` }, `🔎 ${text}`));
  }
  const sources = (message.sources ?? []).filter((source) => /^https?:\/\//i.test(source.url));
  if (sources.length) {
    parts.push(
      h(
        "ol",
        { class: "sources", "aria-label": "Sources" },
        ...sources.map((source) =>
          h("li", {}, h("a", { href: source.url, target: "_blank", rel: "noopener noreferrer nofollow", title: source.url }, source.title || source.url)),
        ),
      ),
    );
  }
  return parts;
}

function renderAttachments(message: Message): HTMLElement {
  return h(
    "div",
    { class: "attachments" },
    ...(message.attachments ?? []).map((file) => {
      const safe = /^https?:\/\//i.test(file.url) ? file.url : null;
      const label = `${file.filename} (${bytes(file.size)})`;
      if (safe && file.content_type.startsWith("image/")) {
        return h("a", { href: safe, target: "_blank", rel: "noopener noreferrer", class: "image" }, h("img", { src: safe, alt: file.filename, loading: "lazy" }));
      }
      return safe ? h("a", { href: safe, target: "_blank", rel: "noopener noreferrer", class: "file" }, label) : h("span", { class: "file" }, label);
    }),
  );
}

function renderReactions(state: RoomState, message: Message): HTMLElement {
  const me = app.session?.user.username ?? "";
  return h(
    "div",
    { class: "reactions", role: "group", "aria-label": "Reactions" },
    ...(message.reactions ?? []).map((reaction) => {
      const mine = reaction.usernames.includes(me);
      return h(
        "button",
        {
          type: "button",
          class: "reaction",
          "aria-pressed": mine ? "true" : "false",
          title: reaction.usernames.join(", "),
          onclick: () => void react(state, message, reaction.emoji, !mine),
        },
        `${reaction.emoji} ${reaction.count}`,
      );
    }),
  );
}

function renderActions(state: RoomState, message: Message, mine: boolean): HTMLElement {
  const actions = h("div", { class: "actions" });
  const id = message.message_id;
  if (id.startsWith("pending:") || message.deleted) return actions;
  const status = message.status ?? "complete";
  const add = (label: string, handler: () => void, extra: Record<string, string> = {}) =>
    actions.append(h("button", { type: "button", class: "link", onclick: handler, ...extra }, label));
  if (features.botControl && message.is_bot && status === "streaming") {
    add("Stop", () => void botAction(state, message, "stop"), { "data-action": "stop" });
  }
  if (features.botControl && message.is_bot && status !== "streaming") {
    add("Regenerate", () => void botAction(state, message, "regenerate"), { "data-action": "regenerate" });
  }
  if (features.replies && !message.is_bot) {
    add("Reply", () => {
      app.replyTo = message;
      view.composer(state);
      document.getElementById("composer-input")?.focus();
    });
  }
  if (features.editDelete && mine && message.message_type === "text") add("Edit", () => editMessage(state, message));
  if (features.editDelete && (mine || isOwner(state))) add("Delete", () => void deleteMessage(state, message));
  if (features.reactions) {
    const picker = h("span", { class: "picker", hidden: true, role: "group", "aria-label": "Add a reaction" });
    for (const emoji of QUICK_REACTIONS) {
      picker.append(h("button", { type: "button", class: "link", "aria-label": `React ${emoji}`, onclick: () => void react(state, message, emoji, true) }, emoji));
    }
    add("React", () => {
      picker.hidden = !picker.hidden;
      (picker.firstElementChild as HTMLElement | null)?.focus();
    });
    actions.append(picker);
  }
  return actions;
}

async function botAction(state: RoomState, message: Message, action: "stop" | "regenerate"): Promise<void> {
  try {
    await app.api.post(`/rooms/${enc(state.summary.room_id)}/messages/${enc(message.message_id)}/${action}`);
  } catch (error) {
    if (notOffered(error)) {
      features.botControl = false;
      saveFeatures();
      renderMessageNow(state, message.message_id);
    } else if (!(error instanceof ApiError && error.code === "conflict")) {
      flash(describe(error));
    }
  }
}

async function react(state: RoomState, message: Message, emoji: string, add: boolean): Promise<void> {
  try {
    const result = await app.api.request<{ reactions: Reaction[] }>(
      add ? "PUT" : "DELETE",
      `/rooms/${enc(state.summary.room_id)}/messages/${enc(message.message_id)}/reactions/${enc(emoji)}`,
    );
    const current = state.messages.get(message.message_id);
    if (current) upsert(state, { ...current, reactions: result.reactions });
  } catch (error) {
    flash(describe(error));
  }
}

function editMessage(state: RoomState, message: Message): void {
  const element = document.getElementById(domId(message.message_id));
  const body = element?.querySelector(".body");
  if (!element || !body) return;
  const input = h("textarea", { class: "edit", "aria-label": "Edit message", maxlength: 4000 });
  input.value = message.content;
  const save = async () => {
    try {
      const updated = await app.api.request<Message>(
        "PATCH",
        `/rooms/${enc(state.summary.room_id)}/messages/${enc(message.message_id)}`,
        { content: input.value },
      );
      upsert(state, updated);
    } catch (error) {
      flash(describe(error));
    }
  };
  const cancel = () => renderMessageNow(state, message.message_id);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      void save();
    } else if (event.key === "Escape") cancel();
  });
  body.replaceWith(
    h(
      "div",
      { class: "body editing" },
      input,
      h("button", { type: "button", class: "primary", onclick: () => void save() }, "Save"),
      h("button", { type: "button", onclick: cancel }, "Cancel"),
    ),
  );
  input.focus();
}

async function deleteMessage(state: RoomState, message: Message): Promise<void> {
  if (!confirm("Delete this message?")) return;
  try {
    await app.api.request("DELETE", `/rooms/${enc(state.summary.room_id)}/messages/${enc(message.message_id)}`);
    const current = state.messages.get(message.message_id);
    if (current) upsert(state, { ...current, deleted: true, content: "", reactions: [], attachments: [] });
  } catch (error) {
    flash(describe(error));
  }
}
