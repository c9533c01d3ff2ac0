// The composer: the draft, what it replies to, the files uploaded for it, typing, sending.
import { describe, enc, notOffered, type UploadTicket } from "./api";
import { h } from "./dom";
import { features } from "./features";
import { snippet } from "./message-view";
import { send } from "./messages";
import { attachCompletion } from "./notify";
import { flash } from "./page";
import { app, type RoomState } from "./state";
import { sendTyping, stopTyping } from "./typing";

export function renderComposer(state: RoomState): HTMLFormElement {
  const input = h("textarea", {
    id: "composer-input",
    rows: 1,
    maxlength: 4000,
    placeholder: "Message (@bot or @name asks a bot, @name mentions someone)",
    title: "Enter sends, Shift+Enter starts a new line, @bot, /bot or @name asks a bot",
    "aria-label": "Message",
  });
  const sendButton = h("button", { type: "submit", class: "primary", id: "send" }, "Send");
  const completions = attachCompletion(input, state); // `@` completes members' names
  const form = h(
    "form",
    { class: "composer", id: "composer", "aria-label": "Send a message" },
    h("div", { class: "composer-tools", id: "composer-tools" }),
    completions,
    h("div", { class: "composer-row" }, input, sendButton),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const content = input.value;
    if (!content.trim() && !app.pendingAttachments.length) return;
    input.value = "";
    sendButton.disabled = true;
    stopTyping(state);
    const sent = await send(state, content);
    if (!sent && !input.value) input.value = content; // nothing typed is lost
    sendButton.disabled = false;
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    } else if (event.key === "Escape" && app.replyTo) {
      app.replyTo = null;
      renderComposerTools(state);
    }
  });
  input.addEventListener("input", () => {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
    if (input.value.trim()) sendTyping(state);
    else stopTyping(state);
  });
  input.addEventListener("blur", () => stopTyping(state));
  return form;
}

export function renderComposerTools(state: RoomState): void {
  const tools = document.getElementById("composer-tools");
  if (!tools) return;
  const parts: (Node | null)[] = [];
  if (app.replyTo) {
    parts.push(
      h(
        "div",
        { class: "replying" },
        `Replying to ${app.replyTo.username}: `,
        h("span", { class: "snippet" }, snippet(app.replyTo.content)),
        h("button", { type: "button", class: "link", onclick: () => { app.replyTo = null; renderComposerTools(state); } }, "Cancel"),
      ),
    );
  }
  const privately = h("input", { type: "checkbox", id: "private-toggle" });
  privately.checked = app.privateDraft;
  privately.addEventListener("change", () => (app.privateDraft = privately.checked));
  parts.push(
    h(
      "label",
      { class: "check private-toggle", title: "Only you will see this bot command and the bot's answer" },
      privately,
      "Private",
    ),
  );
  for (const attachment of app.pendingAttachments) {
    parts.push(h("span", { class: "chip" }, `Attached: ${attachment.filename}`));
  }
  if (features.attachments) {
    const file = h("input", { type: "file", id: "attach-input", class: "visually-hidden", multiple: true });
    file.addEventListener("change", () => void uploadFiles(state, [...(file.files ?? [])]));
    parts.push(h("label", { class: "button attach", for: "attach-input" }, "Attach files"), file);
  }
  tools.replaceChildren(...parts.filter((p): p is Node => p !== null));
}

async function uploadFiles(state: RoomState, files: File[]): Promise<void> {
  const tools = document.getElementById("composer-tools");
  for (const file of files.slice(0, 4 - app.pendingAttachments.length)) {
    const progress = h("progress", { max: 100, value: 0, "aria-label": `Uploading ${file.name}` });
    const row = h("span", { class: "chip" }, `${file.name} `, progress);
    tools?.append(row);
    try {
      const ticket = await app.api.post<UploadTicket>(`/rooms/${enc(state.summary.room_id)}/attachments`, {
        filename: file.name,
        content_type: file.type || "application/octet-stream",
        size: file.size,
      });
      await postFile(ticket, file, (fraction) => (progress.value = Math.round(fraction * 100)));
      app.pendingAttachments.push({ attachment_id: ticket.attachment_id, filename: file.name });
    } catch (error) {
      if (notOffered(error)) features.attachments = false;
      flash(`${file.name}: ${describe(error)}`);
    } finally {
      row.remove();
    }
  }
  renderComposerTools(state);
}

function postFile(ticket: UploadTicket, file: File, onProgress: (fraction: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(ticket.upload.fields)) form.append(name, value);
    form.append("file", file);
    const request = new XMLHttpRequest();
    request.open("POST", ticket.upload.url);
    request.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
    request.onload = () => (request.status < 300 ? resolve() : reject(new Error(`upload refused (HTTP ${request.status})`)));
    request.onerror = () => reject(new Error("upload failed"));
    request.send(form);
  });
}
