// Prometheus metrics (prom-client), one registry per server so that several servers in one process (tests)
// do not share figures. Gauges that describe the actor system are computed when scraped, from the admin
// port's listing: nothing is counted on the hot paths except what is cheap (wake-ups are plain counters
// in the user-stream registry).
//
// The appservice and federation transaction metrics are defined here for the senders (issues 7 and 8) to
// increment: `transactions.inc({ service, outcome: 'sent' | 'failed' | 'retried' })` and
// `transactionSeconds.observe({ service }, seconds)`.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ActorListing, ActorsPort } from '../admin/actorsPort.ts';

/** What a pooled database reports (PostgreSQL through `pg`; PGlite has one connection and no pool). */
export interface PoolUsage {
  total: number;
  idle: number;
  waiting: number;
}

export interface MetricsSources {
  actors?: ActorsPort;
  /** Pool usage, when the database has a pool. */
  poolUsage?: () => PoolUsage | undefined;
  /** Off in tests that create many registries (the event-loop monitor is per registry). Default true. */
  defaultMetrics?: boolean;
}

export type TransactionOutcome = 'sent' | 'failed' | 'retried';

export interface TroupeMetrics {
  readonly registry: Registry;
  readonly contentType: string;
  /** HTTP request duration by method, route pattern (never the raw URL) and status. */
  observeHttp(method: string, route: string, status: number, seconds: number): void;
  readonly appservice: {
    transactions: Counter<'service' | 'outcome'>;
    transactionSeconds: Histogram<'service'>;
  };
  readonly federation: {
    transactions: Counter<'destination' | 'outcome'>;
    transactionSeconds: Histogram<'destination'>;
  };
  /** From the room writer's batch start to commit. */
  readonly eventPersistSeconds: Histogram;
  /** The text exposition of every metric. */
  render(): Promise<string>;
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Figures of the listing that are queue depths, exported as `troupe_actor_queue_depth{kind,queue}`. */
const QUEUE_FIGURES: Record<string, string[]> = {
  destination: ['queuedPdus', 'queuedEdus'],
  supervisor: ['waitingRequests'],
};

export function createMetrics(sources: MetricsSources = {}): TroupeMetrics {
  const registry = new Registry();
  if (sources.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'troupe_' });

  const actors = sources.actors;
  // One listing per scrape, shared by the gauges that need it.
  let scraped: ActorListing[] | null = null;
  const listing = (): ActorListing[] => (scraped ??= actors?.list({ userStreams: false }) ?? []);
  if (actors) {
    new Gauge({
      name: 'troupe_actors',
      help: 'Live actors by kind and state (user streams by their record state: waiting, lingering, idle).',
      labelNames: ['kind', 'state'] as const,
      registers: [registry],
      collect() {
        this.reset();
        const counts = new Map<string, { kind: string; state: string; n: number }>();
        // User streams from their counts: listing 100,000 of them per scrape would be wasteful.
        const streams = actors.userStreamCounts();
        for (const state of ['waiting', 'lingering', 'idle'] as const) {
          counts.set(`userStream\u0000${state}`, { kind: 'userStream', state, n: streams[state] });
        }
        for (const row of listing()) {
          const key = `${row.kind}\u0000${row.state}`;
          const entry = counts.get(key);
          if (entry) entry.n++;
          else counts.set(key, { kind: row.kind, state: row.state, n: 1 });
        }
        for (const { kind, state, n } of counts.values()) this.set({ kind, state }, n);
      },
    });
    new Gauge({
      name: 'troupe_actor_queue_depth',
      help: 'Queued items summed over the live actors of a kind (destination PDUs/EDUs, waiting sync requests).',
      labelNames: ['kind', 'queue'] as const,
      registers: [registry],
      collect() {
        this.reset();
        const sums = new Map<string, number>();
        for (const row of listing()) {
          for (const figure of QUEUE_FIGURES[row.kind] ?? []) {
            const value = row.figures[figure];
            if (typeof value !== 'number') continue;
            const key = `${row.kind}\u0000${figure}`;
            sums.set(key, (sums.get(key) ?? 0) + value);
          }
        }
        for (const [key, value] of sums) {
          const [kind = '', queue = ''] = key.split('\u0000');
          this.set({ kind, queue }, value);
        }
      },
    });
    // A counter whose value lives in the registry of user streams: read when scraped.
    new Counter({
      name: 'troupe_wakeups_total',
      help: 'Waiting sync requests woken because their stream advanced, by stream.',
      labelNames: ['stream'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [stream, n] of Object.entries(actors.wakeUps())) this.inc({ stream }, n);
      },
    });
  }

  const poolUsage = sources.poolUsage;
  if (poolUsage) {
    new Gauge({
      name: 'troupe_db_pool_connections',
      help: 'Database pool connections: total open, idle, and requests waiting for one.',
      labelNames: ['state'] as const,
      registers: [registry],
      collect() {
        this.reset();
        const usage = poolUsage();
        if (!usage) return;
        this.set({ state: 'total' }, usage.total);
        this.set({ state: 'idle' }, usage.idle);
        this.set({ state: 'waiting' }, usage.waiting);
      },
    });
  }

  const http = new Histogram({
    name: 'troupe_http_request_duration_seconds',
    help: 'HTTP request duration by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });

  const appservice = {
    transactions: new Counter({
      name: 'troupe_appservice_transactions_total',
      help: 'Appservice transactions by outcome: sent (2xx), failed, retried (resent by the recoverer).',
      labelNames: ['service', 'outcome'] as const,
      registers: [registry],
    }),
    transactionSeconds: new Histogram({
      name: 'troupe_appservice_transaction_duration_seconds',
      help: 'Time from PUT to answer of appservice transactions.',
      labelNames: ['service'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
  };
  const federation = {
    transactions: new Counter({
      name: 'troupe_federation_transactions_total',
      help: 'Federation transactions by destination and outcome: sent (2xx), failed, retried.',
      labelNames: ['destination', 'outcome'] as const,
      registers: [registry],
    }),
    transactionSeconds: new Histogram({
      name: 'troupe_federation_transaction_duration_seconds',
      help: 'Time from PUT to answer of federation transactions.',
      labelNames: ['destination'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
  };
  const eventPersistSeconds = new Histogram({
    name: 'troupe_event_persist_duration_seconds',
    help: 'Time to persist a batch of events (room writer).',
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });

  return {
    registry,
    contentType: registry.contentType,
    observeHttp(method, route, status, seconds) {
      http.observe({ method, route, status: String(status) }, seconds);
    },
    appservice,
    federation,
    eventPersistSeconds,
    render: async () => {
      scraped = null;
      try {
        return await registry.metrics();
      } finally {
        scraped = null;
      }
    },
  };
}
