-- Print wrk's exact totals as one JSON line (read by bench/load/workloads.py).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"duration_us": %d, "requests": %d, "bytes": %d, "p50_us": %d, ' ..
    '"p99_us": %d, "status_errors": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "timeouts": %d}\n', summary.duration, summary.requests, summary.bytes,
    latency:percentile(50), latency:percentile(99), e.status, e.connect, e.read, e.write, e.timeout))
end
