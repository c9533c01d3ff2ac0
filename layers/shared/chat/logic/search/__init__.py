"""Search: every word people wrote, across their rooms, never beyond what they may see.

- `terms`: what a searchable word is (the tokenizer of messages and queries);
- `postings`: what a message puts in the index, and what a change of it writes;
- `indexing`: a change of the messages table applied to the index (the stream's indexer);
- `heads`: each bucket's newest postings in one item, and the rooms' marks, kept by the
  indexer so that a search reads many rooms at once;
- `plan` and `join`: which buckets of a room a query reads, and their leapfrog join;
- `service`: `search` (GET /search) and `search_room` (the bot's `room_search` tool), with
  authorization at query time.

docs/search.md describes the design, its limits and its costs.
"""
