// The part of autocannon's API the benchmarks use (the package ships no types).
declare module 'autocannon' {
  namespace autocannon {
    interface Options {
      url: string;
      method?: string;
      headers?: Record<string, string>;
      body?: string;
      connections?: number;
      duration?: number;
      pipelining?: number;
      /** Requests per second over all connections (open loop); unset: each connection sends as soon as it has its answer. */
      overallRate?: number;
      /** Stop after this many requests (instead of after `duration`). */
      amount?: number;
      /** Seconds before a request counts as timed out (default 10). */
      timeout?: number;
    }
    interface Histogram {
      p50: number;
      p90: number;
      p99: number;
      max: number;
      average: number;
    }
    interface Result {
      requests: Histogram & { total: number };
      latency: Histogram;
      errors: number;
      timeouts: number;
      non2xx: number;
      '2xx': number;
    }
  }
  interface Instance {
    stop(): void;
    /** Every answer, with its response time in fractional ms (measured with process.hrtime). */
    on(event: 'response', listener: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void): void;
  }
  function autocannon(options: autocannon.Options, callback: (err: Error | null, result: autocannon.Result) => void): autocannon.Instance;
  export default autocannon;
}
