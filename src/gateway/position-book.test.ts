import assert from "node:assert/strict";
import { test } from "node:test";
import { PositionBook } from "./position-book.ts";

test("a position book adds signed fills, reports each changed position once, and loads from rows", () => {
  const book = PositionBook.of([["A", "ESZ6", 2]]);
  assert.deepEqual(book.takeChanged(), [], "loaded positions are not changes");
  book.add("A", "ESZ6", -3);
  book.add("A", "NQZ6", 1);
  book.add("A", "NQZ6", 1);
  book.add("B", "ESZ6", 5);
  assert.deepEqual(book.takeChanged(), [
    ["A", "ESZ6", -1],
    ["A", "NQZ6", 2],
    ["B", "ESZ6", 5],
  ]);
  assert.deepEqual(book.takeChanged(), []);
  assert.deepEqual(book.account("A"), { ESZ6: -1, NQZ6: 2 });
  assert.deepEqual(book.snapshot("B"), { B: { ESZ6: 5 } });
  assert.deepEqual([...book.accounts()], ["A", "B"]);
});
