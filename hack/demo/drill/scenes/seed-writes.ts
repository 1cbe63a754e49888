import { redisClient } from "../../../lib/observe.ts";
import { EAST, SEED_KEYS, serviceAddress, until, type Scene } from "../context.ts";

export const seedWrites: Scene = {
  name: `The application writes ${SEED_KEYS} keys to redis-east`,
  detail: "Through the redis-east-leader Service, as an application in us-east-1 would.",
  async run(ctx) {
    const eastLeader = serviceAddress(ctx.sb, "redis-east-leader", EAST);
    let retries = 0;
    const seedKeys = Array.from({ length: SEED_KEYS }, (_, k) => `seed:${k}`);
    // minSyncReplicas: 1 — until a replica is attached the primary answers NOREPLICAS, and the application retries.
    const refusals = await until("redis-east accepting the writes", async () => {
      const app = redisClient(eastLeader, 6379, ctx.password);
      try {
        const pipeline = app.pipeline();
        for (const key of seedKeys) pipeline.set(key, `value-of-${key}`);
        const results = (await pipeline.exec()) ?? [];
        return results.every(([error]) => error === null) ? String(retries) : (retries++, false);
      } finally {
        app.disconnect();
      }
    });
    ctx.say.observe(
      `${SEED_KEYS} keys acknowledged by redis-east (${eastLeader}) after ${refusals} refused attempt(s)`,
    );
    ctx.state.eastLeader = eastLeader;
    ctx.state.seedKeys = seedKeys;
  },
};
