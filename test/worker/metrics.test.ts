import { expect } from "chai";
import { Counter, Gauge, Histogram, Registry } from "../../offchain/worker/metrics";

describe("Prometheus metrics", () => {
  it("renders counters, gauges and histograms in the text format", () => {
    const r = new Registry();
    const c = r.add(new Counter("ph_rpc_errors_total", "RPC errors"));
    const g = r.add(new Gauge("ph_jobs", "jobs by state", (self) => self.set(2, { state: "running" })));
    const h = r.add(new Histogram("ph_job_seconds", "job duration", [1, 10]));
    c.inc({ method: "eth_getLogs" });
    c.inc({ method: "eth_getLogs" });
    h.observe(0.5, { kind: "infer" });
    h.observe(5, { kind: "infer" });
    expect(g).to.be.instanceOf(Gauge);
    expect(r.render()).to.equal(
      [
        "# HELP ph_rpc_errors_total RPC errors",
        "# TYPE ph_rpc_errors_total counter",
        'ph_rpc_errors_total{method="eth_getLogs"} 2',
        "# HELP ph_jobs jobs by state",
        "# TYPE ph_jobs gauge",
        'ph_jobs{state="running"} 2',
        "# HELP ph_job_seconds job duration",
        "# TYPE ph_job_seconds histogram",
        'ph_job_seconds_bucket{kind="infer",le="1"} 1',
        'ph_job_seconds_bucket{kind="infer",le="10"} 2',
        'ph_job_seconds_bucket{kind="infer",le="+Inf"} 2',
        'ph_job_seconds_sum{kind="infer"} 5.5',
        'ph_job_seconds_count{kind="infer"} 2',
        "",
      ].join("\n"),
    );
  });

  it("escapes label values", () => {
    const c = new Counter("x", "y");
    c.inc({ reason: 'a "quoted"\nline' });
    expect(c.render()[2]).to.equal('x{reason="a \\"quoted\\"\\nline"} 1');
  });
});
