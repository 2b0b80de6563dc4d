"""CQL for the emulator: a parser and evaluator of the subset that a sync (and a person) uses.

`parse_cql(text)` checks the whole query once and returns a `CqlQuery`. `query.bind(ws, tz=...,
now=..., user=...)` resolves what depends on the site and the caller (space keys, label names,
dates in the caller's time zone, `currentUser()`) and returns a predicate over `Content`; the
search handler binds once and filters many items, visiting only the types in `query.types`.

Fields: type, space (= space.key), space.id, space.type, id (= content), ancestor, parent,
container, title, text, label, creator, created, lastmodified. Operators: = != < <= > >= ~ !~
in, not in; and/or/not in any case, parentheses, `order by <field> [asc|desc], ...`.

Choices made where Confluence leaves room (tests pin each one):
- A date literal ("yyyy-MM-dd HH:mm", "yyyy/MM/dd HH:mm", "yyyy-MM-dd", "yyyy/MM/dd") is read
  in the caller's time zone and denotes a span: its minute, or its whole local day. `=` means
  "inside the span"; `<`, `<=`, `>`, `>=` compare instants with the span's start, so
  `lastmodified > "2024-05-01 13:00"` includes 13:00:30. A nonexistent local time (DST gap)
  moves forward by the gap, an ambiguous one takes the earlier instant, as Java does.
- Date functions compute an instant in the caller's zone from `now`; `=` on them means the
  minute that instant falls in. Weeks start on Sunday (Atlassian's en-US default).
  `startOfX("inc")` shifts the period's start; `endOfX("inc")` shifts the next period's start
  and ends one microsecond before it, so `endOfMonth("-1M")` is the last instant of last month.
- `ancestor` matches pages and folders below the given page or folder. `parent` is a page's
  or folder's parent, and a comment's or attachment's container.
- `~` matches whole words, case-insensitively, all words of the value (`*` and `?` are
  wildcards inside a word); a value wrapped in escaped quotes is a phrase. No stemming.
  `text` searches the title, the body's text (markup stripped) and an attachment's comment.
- Negation is logical (`label != x` is "has no label x"), and a query may not start with a
  negative clause (Confluence rejects it).
- Without `order by`, results come newest first (lastmodified desc); ties always break on
  ascending numeric id, so paging is deterministic.

Status is not a CQL field here: which statuses and spaces a search sees (current content by
default, archived spaces on request) is the caller's job.
"""

from .parser import parse_cql
from .query import CqlQuery
from .syntax import CqlError, Predicate

__all__ = ["CqlError", "CqlQuery", "Predicate", "parse_cql"]
