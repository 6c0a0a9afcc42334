import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ClusterState } from "./cluster-state.ts";
import { makeContext, Overlay } from "./eval-context.ts";
import type { PlacementRequest } from "./request.ts";
import {
  compileSchedulerOptions,
  DEFAULT_SCHEDULER_OPTIONS,
  type SchedulerOptions,
} from "./scheduler-options.ts";
import { fitScorer, loadScorer, localityScorer, preferredTagsScorer, type Scorer } from "./scorers.ts";
import { scoreNode } from "./stack.ts";
import type { NodeSpec } from "../domain/index.ts";
import { node, request } from "./testing/builders.ts";

// 12.5 GB over the default 1.25 GB/s link is 10 s: exactly the default half-score time.
const TEN_SECONDS = 12.5e9;
const ticks = { id: "ticks", version: "1", bytes: TEN_SECONDS };

interface Case {
  readonly name: string;
  readonly scorer: Scorer;
  readonly node: NodeSpec;
  readonly request: PlacementRequest;
  readonly options?: SchedulerOptions;
  readonly expected: number;
}

const cases: Case[] = [
  {
    name: "locality: cold node costs 10 s ⇒ 1/(1+1)",
    scorer: localityScorer,
    node: node("n", "backtest", { cores: 100 }),
    request: request("backtest", { datasets: [ticks] }),
    expected: 0.5,
  },
  {
    name: "locality: cold node on a half-speed link costs 20 s ⇒ 1/3",
    scorer: localityScorer,
    node: node("n", "backtest", { cores: 100, linkBandwidthBytesPerSec: 0.625e9 }),
    request: request("backtest", { datasets: [ticks] }),
    expected: 1 / 3,
  },
  {
    name: "locality: a hot idle node keeps all its advantage",
    scorer: localityScorer,
    node: node("n", "backtest", { cores: 100, hot: [ticks] }),
    request: request("backtest", { datasets: [ticks] }),
    expected: 1,
  },
  {
    name: "locality: a request that fills a hot idle node keeps all its advantage (its own cores are not load)",
    scorer: localityScorer,
    node: node("n", "backtest", { cores: 16, hot: [ticks] }),
    request: request("backtest", { datasets: [ticks], cores: 16 }),
    expected: 1,
  },
  {
    name: "locality guard: a hot node at 60% CPU keeps 40% of its advantage",
    scorer: localityScorer,
    node: node("n", "backtest", { cores: 100, hot: [ticks], cpu: 0.6 }),
    request: request("backtest", { datasets: [ticks] }),
    expected: 0.5 + 0.5 * 0.4,
  },
  {
    name: "locality guard: a full hot node is worth no more than a cold one",
    scorer: localityScorer,
    node: node("n", "backtest", { cores: 100, hot: [ticks], cpu: 1 }),
    request: request("backtest", { datasets: [ticks] }),
    expected: 0.5,
  },
  {
    name: "locality: a hot dataset of another version does not count",
    scorer: localityScorer,
    node: node("n", "backtest", { cores: 100, hot: [{ ...ticks, version: "2" }] }),
    request: request("backtest", { datasets: [ticks] }),
    expected: 0.5,
  },
  {
    name: "locality: half the bytes hot ⇒ 5 s missing, guarded",
    scorer: localityScorer,
    node: node("n", "backtest", { cores: 100, hot: [{ id: "a", version: "1", bytes: TEN_SECONDS / 2 }] }),
    request: request("backtest", {
      datasets: [
        { id: "a", version: "1", bytes: TEN_SECONDS / 2 },
        { id: "b", version: "1", bytes: TEN_SECONDS / 2 },
      ],
    }),
    expected: 1 / 1.5,
  },
  {
    name: "locality: a longer half-score time makes the same pull cheaper",
    scorer: localityScorer,
    node: node("n", "backtest", { cores: 100 }),
    request: request("backtest", { datasets: [ticks] }),
    options: { localityHalfScoreSeconds: 30 },
    expected: 0.75,
  },
  { name: "load: idle", scorer: loadScorer, node: node("n", "live"), request: request("live"), expected: 1 },
  {
    name: "load: 75% busy",
    scorer: loadScorer,
    node: node("n", "live", { cpu: 0.75 }),
    request: request("live"),
    expected: 0.25,
  },
  {
    name: "fit spread: 4 of 16 cores and 16 of 64 GiB after placing ⇒ 0.75",
    scorer: fitScorer,
    node: node("n", "live", { cores: 16, memoryGiB: 64 }),
    request: request("live", { cores: 4, memoryGiB: 16 }),
    expected: 0.75,
  },
  {
    name: "fit binpack: the same node ⇒ 0.25",
    scorer: fitScorer,
    node: node("n", "backtest", { cores: 16, memoryGiB: 64 }),
    request: request("backtest", { cores: 4, memoryGiB: 16 }),
    options: { fit: { backtest: "binpack" } },
    expected: 0.25,
  },
  {
    name: "preferred: the node has weight 2 of 3",
    scorer: preferredTagsScorer,
    node: node("n", "live", { tags: ["live_node", "region_tokyo"] }),
    request: request("live", {
      preferredTags: [
        { tag: "region_tokyo", weight: 2 },
        { tag: "colo_a", weight: 1 },
      ],
    }),
    expected: 2 / 3,
  },
  {
    name: "preferred: none of the preferred tags",
    scorer: preferredTagsScorer,
    node: node("n", "live"),
    request: request("live", { preferredTags: [{ tag: "region_tokyo", weight: 2 }] }),
    expected: 0,
  },
];

describe("scorers", () => {
  for (const c of cases) {
    test(c.name, () => {
      const ctx = makeContext(
        new ClusterState([c.node]),
        c.request,
        compileSchedulerOptions(c.options),
        new Overlay(),
      );
      assert.ok(
        Math.abs(c.scorer.score(ctx, 0) - c.expected) < 1e-9,
        `${c.scorer.score(ctx, 0)} ≠ ${c.expected}`,
      );
    });
  }

  test("locality and preferred tags apply only when the request has datasets or preferences", () => {
    const ctx = makeContext(
      new ClusterState([node("n", "live")]),
      request("live"),
      DEFAULT_SCHEDULER_OPTIONS,
      new Overlay(),
    );
    assert.equal(localityScorer.applies(ctx), false);
    assert.equal(preferredTagsScorer.applies(ctx), false);
    assert.equal(loadScorer.applies(ctx), true);
    assert.equal(fitScorer.applies(ctx), true);
  });
});

describe("weights", () => {
  test("the defaults are explicit", () => {
    assert.deepEqual(DEFAULT_SCHEDULER_OPTIONS.weights, { locality: 4, load: 1, fit: 1, preferred: 2 });
    assert.deepEqual(DEFAULT_SCHEDULER_OPTIONS.fit, { live: "spread", backtest: "spread" });
  });

  test("the score is the weighted mean of the terms that apply", () => {
    const n = node("n", "backtest", { cores: 16, memoryGiB: 64, cpu: 0.5 });
    const r = request("backtest", { cores: 4, memoryGiB: 16, datasets: [ticks] });
    const ctx = makeContext(new ClusterState([n]), r, DEFAULT_SCHEDULER_OPTIONS, new Overlay());
    // locality 0.5 (cold, 10 s), load 0.5, fit 0.75; preferred does not apply.
    assert.ok(Math.abs(scoreNode(ctx, 0) - (4 * 0.5 + 1 * 0.5 + 1 * 0.75) / 6) < 1e-12);
  });

  test("weights decide between a hot busy node and a cold idle one", () => {
    const nodes = [node("hot", "backtest", { hot: [ticks], cpu: 0.5 }), node("cold", "backtest")];
    const r = request("backtest", { datasets: [ticks] });
    const best = (options: SchedulerOptions) => {
      const compiled = compileSchedulerOptions(options);
      const ctx = makeContext(new ClusterState(nodes), r, compiled, new Overlay());
      return scoreNode(ctx, 0) > scoreNode(ctx, 1) ? "hot" : "cold";
    };
    assert.equal(best({}), "hot");
    assert.equal(best({ weights: { locality: 0 } }), "cold");
  });

  test("bad options are refused with the field named", () => {
    assert.throws(() => compileSchedulerOptions({ weights: { load: -1 } }), /weights\.load: found -1/);
    assert.throws(() => compileSchedulerOptions({ scoreLimit: { live: 0 } }), /scoreLimit\.live/);
    assert.throws(() => compileSchedulerOptions({ localityHalfScoreSeconds: 0 }), /localityHalfScoreSeconds/);
  });
});
