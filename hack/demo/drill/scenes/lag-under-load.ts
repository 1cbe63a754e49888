import { controllerMetrics, metricValue, missing } from "../../../lib/observe.ts";
import { startWriteLoad } from "../../lib/load.ts";
import { WEST, expect, until, type Scene } from "../context.ts";

export const lagUnderLoad: Scene = {
  name: "Writes under load: replication lag",
  detail:
    "The application writes continuously for 4 s; we sample the DR leader's lag against redis-east's own offset.",
  async run(ctx) {
    const { say, west, password, samples, figures } = ctx;
    const eastLeader = ctx.need("eastLeader");
    const load = startWriteLoad({ host: eastLeader, password, prefix: "load", batch: 50, pauseMs: 5 });
    ctx.loads.push(load);
    const loadStarted = say.elapsedMs();
    await new Promise((resolve) => setTimeout(resolve, 4000));
    let metricLag: number | undefined;
    let statusLag: number | undefined;
    try {
      metricLag = metricValue(await controllerMetrics(ctx.sb), "redis_replication_lag_bytes", {
        namespace: WEST,
        cluster: "redis-west",
        pod: "redis-west-0",
      });
      statusLag = (await west.cluster("redis-west")).status?.replication?.lagBytes;
    } catch {
      // Shown as "not reported" below.
    }
    await load.stop();
    ctx.loads.splice(ctx.loads.indexOf(load), 1);
    figures.lagSamples = samples
      .filter((s) => s.atMs >= loadStarted && s.lagBytes !== undefined)
      .map((s) => s.lagBytes ?? 0);
    expect(load.failures === 0, `${load.failures} writes failed under load`);
    say.observe(
      `${load.acknowledged.length} writes acknowledged; lag samples (bytes): ${figures.lagSamples.slice(0, 16).join(", ")}${figures.lagSamples.length > 16 ? ", …" : ""}`,
    );
    say.observe(
      `while loaded the controller reported status.replication.lagBytes=${statusLag ?? "not reported"}, redis_replication_lag_bytes{pod="redis-west-0"}=${metricLag ?? "not reported"}`,
    );
    await until("the lag back to 0 once the load stops", async () => {
      const lag = samples.at(-1)?.lagBytes;
      return lag === 0;
    });
    const acknowledgedOnEast = [...ctx.need("seedKeys"), ...load.acknowledged];
    await until(
      "every acknowledged key on redis-west-0",
      async () => missing(acknowledgedOnEast, await west.keys("redis-west-0", password)).length === 0,
    );
    say.observe(`lag back to 0; all ${acknowledgedOnEast.length} acknowledged keys are on redis-west-0`);
    ctx.state.acknowledgedOnEast = acknowledgedOnEast;
  },
};
