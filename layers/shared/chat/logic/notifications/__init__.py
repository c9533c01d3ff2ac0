"""Mentions and notifications: people are reached when they are named or written to, even
with the app closed (docs/notifications.md).

- `mentions`: `@username` in a message (the contract's syntax), resolved to the room's
  human members; the mention inbox entries a message stores with it; what an edit or a
  deletion changes there;
- `inbox`: `GET /mentions`, and the unread mention counts of the room list;
- `levels`: a member's notification level in a room (`all`, `mentions`, `none`);
- `outbox`: the jobs that hand a stored message, an edit or a bot answer to the notifier;
- `audience`: who hears of a message, and how (pure);
- `notifier`: one job: the `mention` frame to the online, Web Push to the offline;
- `delivery`: Web Push to a user's subscriptions (removed on 404/410, retried with backoff);
- `subscriptions`: `POST`/`DELETE /push/subscriptions`, `GET /push/key`.
"""
