import { describe, expect, test } from "vitest";
import { ServingMetrics } from "./metrics.js";

const line = (text: string, prefix: string) => text.split("\n").filter((l) => l.startsWith(prefix));

describe("ServingMetrics", () => {
  test("counts requests per label set and times them into the latency buckets", async () => {
    const m = new ServingMetrics({ processMetrics: false });
    m.observeRequest({ model: "iris", version: "2", protocol: "v2", status: 200, seconds: 0.0007 });
    m.observeRequest({ model: "iris", version: "2", protocol: "v2", status: 200, seconds: 0.003 });
    m.observeRequest({ model: "unknown", version: "", protocol: "v1", status: 404, seconds: 0.0001 });
    m.observeRuntime("iris", 0.0002);
    const text = await m.exposition();
    expect(line(text, "flywheel_inference_requests_total{")).toEqual([
      'flywheel_inference_requests_total{model="iris",version="2",protocol="v2",status="200"} 2',
      'flywheel_inference_requests_total{model="unknown",version="",protocol="v1",status="404"} 1',
    ]);
    const buckets = line(text, 'flywheel_inference_request_duration_seconds_bucket{le="0.00').filter((l) => l.includes('model="iris"'));
    expect(buckets).toEqual([
      'flywheel_inference_request_duration_seconds_bucket{le="0.0005",model="iris",protocol="v2"} 0',
      'flywheel_inference_request_duration_seconds_bucket{le="0.001",model="iris",protocol="v2"} 1',
      'flywheel_inference_request_duration_seconds_bucket{le="0.0025",model="iris",protocol="v2"} 1',
      'flywheel_inference_request_duration_seconds_bucket{le="0.005",model="iris",protocol="v2"} 2',
    ]);
    expect(line(text, "flywheel_inference_runtime_duration_seconds_count")).toEqual(['flywheel_inference_runtime_duration_seconds_count{model="iris"} 1']);
    expect(text).not.toMatch(/^flywheel_process_/m);
  });

  test("each instance has its own registry; sessions are summed until untracked", async () => {
    const a = new ServingMetrics();
    const b = new ServingMetrics();
    a.observeRequest({ model: "m", version: "1", protocol: "v1", status: 200, seconds: 0.01 });
    const untrack = a.trackSessions(() => 2);
    a.trackSessions(() => 1);
    expect(line(await a.exposition(), "flywheel_models_loaded ")).toEqual(["flywheel_models_loaded 3"]);
    untrack();
    expect(line(await a.exposition(), "flywheel_models_loaded ")).toEqual(["flywheel_models_loaded 1"]);
    const other = await b.exposition();
    expect(line(other, "flywheel_inference_requests_total{")).toEqual([]);
    expect(line(other, "flywheel_models_loaded ")).toEqual(["flywheel_models_loaded 0"]);
    expect(line(other, "flywheel_process_cpu_user_seconds_total ")).toHaveLength(1);
    expect(a.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  test("batch sizes: the requests and rows of every batcher run, per model", async () => {
    const m = new ServingMetrics({ processMetrics: false });
    m.observeBatch("iris", 1, 1);
    m.observeBatch("iris", 3, 5);
    m.observeBatch("cancer", 32, 40);
    const text = await m.exposition();
    expect(line(text, 'flywheel_batch_size_requests_bucket{le="').filter((l) => l.includes('model="iris"')).slice(0, 3)).toEqual([
      'flywheel_batch_size_requests_bucket{le="1",model="iris"} 1',
      'flywheel_batch_size_requests_bucket{le="2",model="iris"} 1',
      'flywheel_batch_size_requests_bucket{le="4",model="iris"} 2',
    ]);
    expect(line(text, "flywheel_batch_size_requests_sum")).toEqual(['flywheel_batch_size_requests_sum{model="iris"} 4', 'flywheel_batch_size_requests_sum{model="cancer"} 32']);
    expect(line(text, "flywheel_batch_size_rows_sum")).toEqual(['flywheel_batch_size_rows_sum{model="iris"} 6', 'flywheel_batch_size_rows_sum{model="cancer"} 40']);
    expect(line(text, "flywheel_batch_size_rows_count")).toEqual(['flywheel_batch_size_rows_count{model="iris"} 2', 'flywheel_batch_size_rows_count{model="cancer"} 1']);
  });

  test("an inference log's writes, drops, labels, publishes and failed rolls are counted until untracked", async () => {
    const m = new ServingMetrics({ processMetrics: false });
    let events: Parameters<Parameters<ServingMetrics["trackInferenceLog"]>[0]["subscribe"]>[0] | undefined;
    const untrack = m.trackInferenceLog({ backlog: 7, waiting: 2, waited: 9, subscribe: (e) => ((events = e), () => (events = undefined)) });
    events?.written(5);
    events?.dropped(2, "queue_full");
    events?.labelsWritten(3);
    events?.published(4);
    events?.rollFailed?.(1);
    events?.rollFailed?.(2);
    const text = await m.exposition();
    expect(line(text, "flywheel_inference_log_records_written_total ")).toEqual(["flywheel_inference_log_records_written_total 5"]);
    expect(line(text, "flywheel_inference_log_records_dropped_total{")).toEqual(['flywheel_inference_log_records_dropped_total{reason="queue_full"} 2']);
    expect(line(text, "flywheel_labels_written_total ")).toEqual(["flywheel_labels_written_total 3"]);
    expect(line(text, "flywheel_inference_log_records_published_total ")).toEqual(["flywheel_inference_log_records_published_total 4"]);
    expect(line(text, "flywheel_inference_log_roll_failures_total ")).toEqual(["flywheel_inference_log_roll_failures_total 3"]);
    expect(line(text, "flywheel_inference_log_backlog_records ")).toEqual(["flywheel_inference_log_backlog_records 7"]);
    expect(line(text, "flywheel_inference_log_waiting_requests ")).toEqual(["flywheel_inference_log_waiting_requests 2"]);
    expect(line(text, "flywheel_inference_log_backpressure_waits_total ")).toEqual(["flywheel_inference_log_backpressure_waits_total 9"]);
    untrack();
    expect(events).toBeUndefined();
    expect(line(await m.exposition(), "flywheel_inference_log_backlog_records ")).toEqual(["flywheel_inference_log_backlog_records 0"]);
  });
});
