"""The CQL parser: tokens to a checked `CqlQuery`."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from .query import CqlQuery
from .syntax import (CONTAINS, CURRENT_USER, DATE_FUNCTION_NAMES, DATE_FUNCTIONS, DATE_LITERAL, FIELDS,
                     INCREMENT_PART, KNOWN_TYPES, NEGATIVE_FIRST, NEGATIVE_OPS, ORDER_FIELDS, RESERVED, WORD,
                     And, Clause, CqlError, DateFunction, DateLiteral, Increment, Node, Not, Or, Token,
                     contains_patterns, describe, tokenize)


def parse_cql(text: str) -> CqlQuery:
    """Parse and check a whole query; raises CqlError naming what is wrong."""
    return _Parser(text).parse()


_RawValue = Token | tuple[str, str | None]  # a literal, or a function call as (name, argument)


class _Parser:
    def __init__(self, cql: str) -> None:
        self.cql = cql
        self.tokens = tokenize(cql)
        self.i = 0
        self.before_first_clause = True

    # -- token helpers -------------------------------------------------------------------
    def error(self, detail: str) -> CqlError:
        return CqlError(self.cql, detail)

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        if token.kind != "end":
            self.i += 1
        return token

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "word" and token.text.lower() in words

    def expect(self, kind: str, what: str) -> Token:
        token = self.take()
        if token.kind != kind:
            raise self.error(f"expected {what} at position {token.pos}, found {describe(token)}")
        return token

    # -- grammar: or_expr := and_expr (OR and_expr)*; and_expr := unary (AND unary)* -----------
    def parse(self) -> CqlQuery:
        if self.peek().kind == "end" or self.at_word("order"):
            raise self.error("the query has no clause; start with one such as type = page")
        where = self.parse_or()
        order: tuple[tuple[str, bool], ...] = ()
        if self.at_word("order"):
            order = self.parse_order()
        token = self.peek()
        if token.kind != "end":
            raise self.error(f"unexpected {describe(token)} at position {token.pos}; "
                             "join clauses with and / or")
        return CqlQuery(self.cql, where, order)

    def parse_or(self) -> Node:
        return self.parse_joined("or", self.parse_and, Or)

    def parse_and(self) -> Node:
        return self.parse_joined("and", self.parse_unary, And)

    def parse_joined(self, word: str, parse_operand: Callable[[], Node], join: type[And] | type[Or]) -> Node:
        """Operands separated by `word`: one operand alone, or all of them joined."""
        children = [parse_operand()]
        while self.at_word(word):
            self.take()
            children.append(parse_operand())
        return children[0] if len(children) == 1 else join(tuple(children))

    def parse_unary(self) -> Node:
        if self.at_word("not"):
            if self.before_first_clause:
                raise self.error(NEGATIVE_FIRST)
            self.take()
            return Not(self.parse_unary())
        if self.peek().kind == "(":
            self.take()
            node = self.parse_or()
            self.expect(")", "')' to close the '('")
            return node
        return self.parse_clause()

    def parse_clause(self) -> Clause:
        token = self.take()
        if token.kind != "word" or token.text.lower() in RESERVED:
            raise self.error(f"expected a field at position {token.pos}, found {describe(token)}")
        spec = FIELDS.get(token.text.lower())
        if spec is None:
            raise self.error(f"unknown field {token.text!r}; supported fields are {', '.join(FIELDS)}")
        op = self.parse_operator()
        if op not in spec.ops:
            raise self.error(f"the field {token.text!r} does not support the operator {op!r}; "
                             f"use one of {', '.join(sorted(spec.ops))}")
        if op in NEGATIVE_OPS and self.before_first_clause:
            raise self.error(NEGATIVE_FIRST)
        self.before_first_clause = False
        if op in ("in", "not in"):
            raw = self.parse_list()
        else:
            raw = [self.parse_value()]
        values = tuple(self.convert(spec.name, op, token.text, value) for value in raw)
        if spec.name in ("title", "text") and op in CONTAINS:
            values = (contains_patterns(values[0]),)
        return Clause(spec.name, op, values)

    def parse_operator(self) -> str:
        token = self.take()
        if token.kind == "op":
            return token.text
        if token.kind == "word" and token.text.lower() == "in":
            return "in"
        if token.kind == "word" and token.text.lower() == "not" and self.at_word("in"):
            self.take()
            return "not in"
        raise self.error(f"expected an operator (= != < <= > >= ~ !~ in, not in) at position "
                         f"{token.pos}, found {describe(token)}")

    def parse_list(self) -> list[_RawValue]:
        self.expect("(", "'(' to start the list of values")
        values = [self.parse_value()]
        while self.peek().kind == ",":
            self.take()
            values.append(self.parse_value())
        self.expect(")", "')' to close the list of values")
        return values

    def parse_value(self) -> _RawValue:
        token = self.take()
        if token.kind == "string":
            return token
        if token.kind != "word":
            raise self.error(f"expected a value at position {token.pos}, found {describe(token)}")
        if self.peek().kind == "(":
            self.take()
            argument = None
            if self.peek().kind in ("string", "word"):
                argument = self.take().text
            self.expect(")", f"')' to close {token.text}(")
            return token.text, argument
        if token.text.lower() in RESERVED:
            raise self.error(f"{token.text!r} at position {token.pos} is a reserved word; "
                             "quote it to use it as a value")
        return token

    def convert(self, field: str, op: str, field_text: str, value: _RawValue) -> object:
        """A value checked and converted for `field`; functions only where Confluence allows them."""
        if isinstance(value, tuple):
            name, argument = value
            return self.convert_function(field, op, field_text, name, argument)
        text = value.text
        if field == "type":
            if text.lower() not in KNOWN_TYPES:
                raise self.error(f"{text!r} is not a content type; "
                                 f"use one of {', '.join(sorted(KNOWN_TYPES))}")
            return text.lower()
        if field in ("id", "ancestor", "parent", "container", "space.id"):
            digits = text[3:] if field == "id" and text.startswith("att") else text
            if not digits.isdigit():
                raise self.error(f"{text!r} is not a content id; {field_text} takes numeric ids")
            return int(digits)
        if field in ("created", "lastmodified"):
            return self.parse_date(text)
        if field in ("title", "text") and op in CONTAINS and not WORD.search(text):
            raise self.error(f"{text!r} has no word to search for")
        return text

    def convert_function(self, field: str, op: str, field_text: str, name: str,
                         argument: str | None) -> object:
        lowered = name.lower()
        if field == "creator" and lowered == "currentuser":
            if argument is not None or op not in ("=", "!="):
                raise self.error("currentUser() takes no argument and works with = and != only")
            return CURRENT_USER
        if field in ("created", "lastmodified") and lowered in DATE_FUNCTIONS:
            edge, period = DATE_FUNCTIONS[lowered]
            return DateFunction(edge, period, self.parse_increment(name, argument))
        if field in ("created", "lastmodified"):
            raise self.error(f"unknown function {name}() for {field_text}; use one of {DATE_FUNCTION_NAMES}")
        if field == "creator":
            raise self.error(f"unknown function {name}() for {field_text}; use currentUser()")
        raise self.error(f"the field {field_text!r} takes no function; give a value instead of {name}()")

    def parse_date(self, text: str) -> DateLiteral:
        m = DATE_LITERAL.fullmatch(text.strip())
        if m is None:
            raise self.error(f"{text!r} is not a date; use \"yyyy-MM-dd HH:mm\", \"yyyy/MM/dd HH:mm\", "
                             "\"yyyy-MM-dd\" or \"yyyy/MM/dd\" (minutes, no seconds, no offset; "
                             "read in your time zone)")
        year, month, day, hour, minute = (int(g) if g else 0 for g in m.group("y", "mo", "d", "h", "mi"))
        try:
            local = datetime(year, month, day, hour, minute)
        except ValueError as exc:
            raise self.error(f"{text!r} is not a date: {exc}") from None
        return DateLiteral(local, whole_day=m.group("h") is None)

    def parse_increment(self, name: str, argument: str | None) -> Increment:
        if argument is None or not argument.strip():
            return Increment()
        parts = INCREMENT_PART.findall(argument)
        if not parts or INCREMENT_PART.sub("", argument).strip():
            raise self.error(f"{name}({argument!r}) has a bad increment; use (+/-)nn(y|M|w|d|h|m), "
                             "for example \"-4w\"")
        months = days = minutes = 0
        for sign, number, unit in parts:
            n = -int(number) if sign == "-" else int(number)
            if unit in "yM":
                months += n * (12 if unit == "y" else 1)
            elif unit in "wd":
                days += n * (7 if unit == "w" else 1)
            else:
                minutes += n * (60 if unit == "h" else 1)
        return Increment(months, days, minutes)

    def parse_order(self) -> tuple[tuple[str, bool], ...]:
        self.take()
        if not self.at_word("by"):
            raise self.error("'order' must be followed by 'by'")
        self.take()
        keys = [self.parse_order_key()]
        while self.peek().kind == ",":
            self.take()
            keys.append(self.parse_order_key())
        return tuple(keys)

    def parse_order_key(self) -> tuple[str, bool]:
        token = self.take()
        field = ORDER_FIELDS.get(token.text.lower()) if token.kind == "word" else None
        if field is None:
            raise self.error(f"cannot order by {describe(token)}; use one of {', '.join(ORDER_FIELDS)}")
        descending = False
        if self.at_word("asc", "desc"):
            descending = self.take().text.lower() == "desc"
        return field, descending
